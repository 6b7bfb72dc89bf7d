"""The same-dimension residual network of the seed-000 grid (Bermeitinger et al., KDIR 2023).

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
    downsample="maxpool",
    head="flatten",
    input_shape=(32, 32, 3),
    num_classes=10,
    classifier_activation="softmax",
    fused=True,
    input_normalization=None,
    name=None,
):
    """``layers`` single-convolution residual units of ``filters`` channels, sequential or
    parallel. ``filters`` is the network's (only) width.

    The defaults (max-pool after the stem, flatten head) are the grid's better half: in the
    sequential_vs_parallel study's trials (results/sequential_vs_parallel/cpu/trials.csv)
    flatten-head networks reach a higher median validation accuracy than those with global
    average pooling, which throws away where a stroke is (the README gives the numbers)."""
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
                   description=f"Seed-000 grid network, {_layout} layout (4 units, 32 filters, "
                               "max-pool, flatten head).")


def _stack_shapes(layers, filters, kernel_size, downsample, head, input_shape):
    h, w, c = input_shape
    if downsample == "maxpool":
        h, w = h // 2, w // 2
    features = filters if head == "gap" else h * w * filters
    return h, w, c, features


def shallow_stack_params(*, layers, filters, kernel_size, batch_norm, downsample, head,
                         input_shape, num_classes=10, **_) -> int:
    """Trainable parameters of :func:`shallow_stack`, without building it.

    Planning a study over the 1,728 settings of a dataset needs every count up front;
    building the models takes minutes, this takes microseconds. Both layouts have the same
    count. ``tests/test_models.py`` checks it against built models.
    """
    _, _, c, features = _stack_shapes(layers, filters, kernel_size, downsample, head,
                                      input_shape)
    bias_or_bn = 2 * filters if batch_norm else filters  # BN's gamma+beta replace the bias
    stem = kernel_size * kernel_size * c * filters + bias_or_bn
    unit = kernel_size * kernel_size * filters * filters + bias_or_bn
    return stem + layers * unit + features * num_classes + num_classes


def shallow_stack_flops(*, layers, filters, kernel_size, downsample, head, input_shape,
                        num_classes=10, **_) -> int:
    """Forward FLOPs per image of :func:`shallow_stack` (2 x multiply-adds of convolutions
    and the dense layer, as :func:`zoo.models.complexity.flops` measures them)."""
    h, w, c, features = _stack_shapes(layers, filters, kernel_size, downsample, head,
                                      input_shape)
    k2 = kernel_size * kernel_size
    stem = k2 * c * filters * input_shape[0] * input_shape[1]
    return 2 * (stem + layers * k2 * filters * filters * h * w + features * num_classes)
