"""CIFAR ResNets (He et al. 2016): sequential, parallel (first-order truncation), plain.

Three stages of widths w, 2w, 4w (w = 16) at resolutions 32, 16, 8; n units per stage;
depth 6n+2 with basic units, 9n+2 with bottleneck units. Transitions (the first unit of
stages 2 and 3, and with bottlenecks also the first unit of stage 1, which widens 16 -> 64)
use a 1x1 projection shortcut -- He et al.'s option B; their CIFAR table used zero-padded
identity shortcuts (option A), which costs ~1% of the parameters less.
"""

from __future__ import annotations

import keras

from zoo import validation as check
from zoo.layers import ParallelResidualStage, ResidualUnit
from zoo.layers.branch import output_channels
from zoo.models.stem_head import classifier_head, conv_stem, model_input
from zoo.registry import register_model

STAGES = 3
BLOCKS = ("basic", "bottleneck")


def stage_units(depth, bottleneck, *, name="depth"):
    """Units per stage for a CIFAR ResNet of this depth."""
    if bottleneck:
        return check.depth(name, depth, multiple=9, offset=2, examples=(29, 56, 110, 164))
    return check.depth(name, depth, multiple=6, offset=2, examples=(20, 32, 44, 56, 110))


def _cifar_resnet(
    depth,
    *,
    layout,
    skip,
    preactivation,
    bottleneck,
    input_shape,
    num_classes,
    width,
    kernel_size,
    activation,
    classifier_activation,
    fused,
    grouped_implementation,
    input_normalization,
    name,
):
    n = stage_units(depth, bottleneck)
    width = check.positive_int("width", width)
    check.odd_kernel("kernel_size", kernel_size)
    check.activation("activation", activation)
    kind = "bottleneck" if bottleneck else "basic"
    inputs, x = model_input(input_shape, STAGES - 1, input_normalization)
    x = conv_stem(x, width, kernel_size, activate=not preactivation, activation=activation)
    channels = width
    unit = dict(kind=kind, kernel_size=kernel_size, preactivation=preactivation,
                activation=activation)
    for s in range(STAGES):
        filters = width * 2**s
        strides = 1 if s == 0 else 2
        out = output_channels(kind, filters)
        transition = strides != 1 or channels != out
        parallel = layout == "parallel" and skip
        # A parallel stage keeps its shape, so a transition stays a sequential unit in front.
        sequential_units = (1 if transition else 0) if parallel else n
        for u in range(sequential_units):
            x = ResidualUnit(filters, strides=strides if u == 0 else 1, skip=skip, **unit,
                             name=f"stage{s + 1}_unit{u + 1}")(x)
        if parallel and n - sequential_units > 0:
            x = ParallelResidualStage(
                n - sequential_units, filters, fused=fused,
                grouped_implementation=grouped_implementation, **unit,
                name=f"stage{s + 1}_parallel",
            )(x)
        channels = out
    outputs = classifier_head(x, num_classes, preactivation=preactivation,
                              classifier_activation=classifier_activation)
    return keras.Model(inputs, outputs, name=name)


def resnet(
    depth=20,
    *,
    preactivation=False,
    bottleneck=False,
    input_shape=(32, 32, 3),
    num_classes=10,
    width=16,
    kernel_size=3,
    activation="relu",
    classifier_activation="softmax",
    input_normalization=None,
    name=None,
):
    """Sequential CIFAR ResNet: depth 6n+2 (basic) or 9n+2 (bottleneck)."""
    return _cifar_resnet(
        depth, layout="sequential", skip=True, preactivation=preactivation,
        bottleneck=bottleneck, input_shape=input_shape, num_classes=num_classes, width=width,
        kernel_size=kernel_size, activation=activation,
        classifier_activation=classifier_activation, fused=True,
        grouped_implementation="auto", input_normalization=input_normalization,
        name=name or f"resnet{depth}",
    )


def parallel_resnet(
    depth=20,
    *,
    preactivation=False,
    bottleneck=False,
    input_shape=(32, 32, 3),
    num_classes=10,
    width=16,
    kernel_size=3,
    activation="relu",
    classifier_activation="softmax",
    fused=True,
    grouped_implementation="auto",
    input_normalization=None,
    name=None,
):
    """The parallel twin of :func:`resnet`: in each stage the units that keep the shape
    run in parallel, ``x + sum_i f_i(x)``; transitions stay sequential. Same parameters."""
    return _cifar_resnet(
        depth, layout="parallel", skip=True, preactivation=preactivation,
        bottleneck=bottleneck, input_shape=input_shape, num_classes=num_classes, width=width,
        kernel_size=kernel_size, activation=activation,
        classifier_activation=classifier_activation, fused=fused,
        grouped_implementation=grouped_implementation, input_normalization=input_normalization,
        name=name or f"parallel_resnet{depth}",
    )


def plain(
    depth=20,
    *,
    input_shape=(32, 32, 3),
    num_classes=10,
    width=16,
    kernel_size=3,
    activation="relu",
    classifier_activation="softmax",
    input_normalization=None,
    name=None,
):
    """:func:`resnet` without skip connections (the lesion-study baseline)."""
    return _cifar_resnet(
        depth, layout="sequential", skip=False, preactivation=False, bottleneck=False,
        input_shape=input_shape, num_classes=num_classes, width=width,
        kernel_size=kernel_size, activation=activation,
        classifier_activation=classifier_activation, fused=True,
        grouped_implementation="auto", input_normalization=input_normalization,
        name=name or f"plain{depth}",
    )


def preresnet(depth, *, block, skip=True, input_shape=(32, 32, 3), num_classes=10, width=16,
              classifier_activation="softmax", input_normalization=None, name=None):
    """Pre-activation ResNet (He et al. 2016b, "Identity Mappings in Deep Residual Networks"):
    :func:`resnet` with ``preactivation=True`` and the units ``block`` names.

    ``block`` is required: ``"basic"`` (two 3x3 convolutions, depth 6n+2: the paper's
    ResNet-110, the registered ``preresnet110``) or ``"bottleneck"`` (1x1-3x3-1x1, depth 9n+2:
    ResNet-164 and ResNet-1001, the registered ``preresnet164``). It is never guessed from the
    depth, since many depths fit both rules: 110 is 6*18+2 (54 basic units) and 9*12+2 (36
    bottleneck units), 164 is 6*27+2 and 9*18+2. A depth that does not fit the block is a
    ValueError naming the rule.

    ``skip=False`` removes every shortcut, transitions' included, and keeps everything else:
    the same units, widths and head without skips, the control for what the skips do (the
    basic-unit :func:`plain` differs from a bottleneck PreResNet in more than its skips)."""
    bottleneck = check.choice("block", block, BLOCKS) == "bottleneck"
    stage_units(depth, bottleneck, name=f"depth of a {block} pre-activation ResNet")
    skip = check.boolean("skip", skip)
    return _cifar_resnet(
        depth, layout="sequential", skip=skip, preactivation=True, bottleneck=bottleneck,
        input_shape=input_shape, num_classes=num_classes, width=width, kernel_size=3,
        activation="relu", classifier_activation=classifier_activation, fused=True,
        grouped_implementation="auto", input_normalization=input_normalization,
        name=name or f"preresnet{depth}" + ("" if skip else "_noskip"))


_HE = "He et al., Deep Residual Learning for Image Recognition, CVPR 2016"
_HE_PRE = "He et al., Identity Mappings in Deep Residual Networks, ECCV 2016"
_BERM = "Bermeitinger et al., Make Deep Networks Shallow Again, KDIR 2023"
_REFERENCE = {20: 270_000, 56: 850_000, 110: 1_700_000}

for _d in (20, 32, 38, 44, 56, 110):
    register_model(f"resnet{_d}", resnet, family="resnet", paper=_HE,
                   reference_params=_REFERENCE.get(_d), depth=_d,
                   description=f"Sequential CIFAR ResNet-{_d}, basic post-activation units."
                   + (" DMRNet-20's parameter match (merge_and_run study)." if _d == 38 else ""))
for _d in (20, 56, 110):
    register_model(f"parallel_resnet{_d}", parallel_resnet, family="parallel_resnet",
                   paper=_BERM, depth=_d,
                   description=f"Parallel (first-order) twin of ResNet-{_d}, same parameters.")
for _d in (20, 56):
    register_model(f"plain{_d}", plain, family="plain", paper=_HE, depth=_d,
                   description=f"ResNet-{_d} without skip connections (lesion baseline).")
# He et al. 2016b: ResNet-110 has basic units, ResNet-164 bottleneck units (see preresnet).
# preresnet110 is written as resnet(preactivation=True), the builder its published cards and
# the ensemble_view study's runs name; it is the same net as preresnet(110, block="basic").
register_model("preresnet110", resnet, family="preresnet", paper=_HE_PRE,
               reference_params=1_700_000, depth=110, preactivation=True,
               description="Pre-activation ResNet-110, basic units (Veit et al.'s 54-unit net).")
register_model("preresnet164", preresnet, family="preresnet", paper=_HE_PRE,
               reference_params=1_700_000, depth=164, block="bottleneck",
               description="Pre-activation bottleneck ResNet-164.")
