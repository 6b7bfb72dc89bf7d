"""The same-dimension residual network of the seed-000 grid (Bermeitinger et al.; PAPERS §1).

stem conv (filters, kernel) -> [max-pool 2x2] -> L residual units ``x + act(BN?(conv(x)))``
of equal shape, in sequence or all in parallel (one broad layer ``x + sum_i f_i(x)``) ->
head (global average pool or flatten) -> dense softmax. Both layouts have the same
parameters by construction. The stem's activation and BN follow the units' settings
(residual-zoo's choice; the paper did not publish its stem).
"""

from __future__ import annotations

import keras

from zoo import validation as check
from zoo.layers import ParallelResidualStage, ResidualUnit
from zoo.models.stem_head import classifier_head, conv_stem, model_input
from zoo.registry import register_model

LAYOUTS = ("sequential", "parallel")
DOWNSAMPLE = ("none", "maxpool")
HEADS = ("gap", "flatten")


def shallow_stack(
    layout="sequential",
    *,
    layers=4,
    filters=32,
    kernel_size=3,
    activation="relu",
    batch_norm=True,
    downsample="none",
    head="gap",
    input_shape=(32, 32, 3),
    num_classes=10,
    classifier_activation="softmax",
    fused=True,
    input_normalization=None,
    name=None,
):
    """``layers`` single-convolution residual units of ``filters`` channels, sequential or
    parallel. ``filters`` is the network's (only) width."""
    check.choice("layout", layout, LAYOUTS)
    layers = check.positive_int("layers", layers)
    filters = check.positive_int("filters", filters)
    check.odd_kernel("kernel_size", kernel_size)
    check.activation("activation", activation)
    check.choice("downsample", downsample, DOWNSAMPLE)
    check.choice("head", head, HEADS)
    inputs, x = model_input(input_shape, 1 if downsample == "maxpool" else 0,
                            input_normalization)
    x = conv_stem(x, filters, kernel_size, activation=activation, batch_norm=batch_norm)
    if downsample == "maxpool":
        x = keras.layers.MaxPooling2D(2, name="downsample")(x)
    unit = dict(kind="single", kernel_size=kernel_size, activation=activation,
                batch_norm=batch_norm)
    if layout == "sequential":
        for i in range(layers):
            x = ResidualUnit(filters, **unit, name=f"unit{i + 1}")(x)
    else:
        x = ParallelResidualStage(layers, filters, fused=fused, **unit, name="parallel")(x)
    outputs = classifier_head(x, num_classes, pooling=head,
                              classifier_activation=classifier_activation)
    return keras.Model(inputs, outputs, name=name or f"shallow_{layout}")


_PAPER = "Bermeitinger, Hrycej, Handschuh, Make Deep Networks Shallow Again, KDIR 2023"
for _layout in LAYOUTS:
    register_model(f"shallow_{_layout}", shallow_stack, family="shallow", paper=_PAPER,
                   layout=_layout,
                   description=f"Seed-000 grid network, {_layout} layout (4 units, 32 filters).")
