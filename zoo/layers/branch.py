"""The residual branch ``f(x)`` as a list of steps, and the Keras layers that run it.

A branch is described once, as data, so that the sequential unit, the per-branch parallel
reference and the fused parallel stage all run exactly the same arithmetic, and so that the
fused stage can map the weights of n separate branches onto its wide layers step by step.

Kinds:
- ``basic``: two k x k convolutions (He et al. 2016, CIFAR ResNets);
- ``bottleneck``: 1x1 -> k x k -> 1x1 with 4x expansion (ResNet-164, ProcResNet);
- ``single``: one convolution, ``act(BN?(conv(x)))`` -- the unit of the seed-000 grid (§1).
"""

from __future__ import annotations

from dataclasses import dataclass

import keras

KINDS = ("basic", "bottleneck", "single")
EXPANSION = 4  # bottleneck output channels = EXPANSION x filters

# ResNet-style batch norm: torch-like momentum/epsilon, the values the papers' code used.
BN_MOMENTUM = 0.9
BN_EPSILON = 1e-5


@dataclass(frozen=True)
class Step:
    op: str  # "conv" | "bn" | "act"
    filters: int = 0
    kernel_size: int = 1
    strides: int = 1


def output_channels(kind: str, filters: int) -> int:
    return filters * EXPANSION if kind == "bottleneck" else filters


def branch_steps(
    kind: str,
    filters: int,
    *,
    strides: int = 1,
    kernel_size: int = 3,
    preactivation: bool = False,
    batch_norm: bool = True,
) -> list[Step]:
    """The steps of one residual branch.

    Pre-activation branches start with BN-act and end on a convolution (He et al. 2016b);
    post-activation branches end on BN, and the unit applies the activation after the add.
    The ``single`` kind is the grid's ``act(BN?(conv(x)))`` and is never pre-activated.
    """
    if kind == "single" and preactivation:
        raise ValueError("preactivation must be False for kind='single' (act(BN(conv(x))))")
    conv = lambda f, k, s=1: Step("conv", f, k, s)  # noqa: E731
    bn, act = Step("bn"), Step("act")
    if kind == "single":
        steps = [conv(filters, kernel_size, strides), bn, act]
    elif kind == "basic":
        body = [conv(filters, kernel_size, strides), bn, act, conv(filters, kernel_size)]
        steps = [bn, act, *body] if preactivation else [*body, bn]
    elif kind == "bottleneck":
        body = [
            conv(filters, 1),
            bn,
            act,
            conv(filters, kernel_size, strides),
            bn,
            act,
            conv(filters * EXPANSION, 1),
        ]
        steps = [bn, act, *body] if preactivation else [*body, bn]
    else:
        raise ValueError(f"kind must be one of {', '.join(map(repr, KINDS))}, got {kind!r}")
    if not batch_norm:
        steps = [s for s in steps if s.op != "bn"]
    return steps


def strided_shape(input_shape, strides, channels):
    """Output shape of a 'same'-padded step with this stride and number of channels."""
    h, w = input_shape[1], input_shape[2]
    if strides == 2:
        h = None if h is None else (h + 1) // 2
        w = None if w is None else (w + 1) // 2
    return (input_shape[0], h, w, channels)


# Every sublayer a zoo layer builds takes that layer's dtype policy (``dtype=``): a
# mixed-precision block computes in its compute dtype throughout, and a saved one comes back
# with the same policy in every sublayer.

def conv_layer(filters, kernel_size, strides=1, use_bias=False, name=None, dtype=None):
    return keras.layers.Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding="same",
        use_bias=use_bias,
        kernel_initializer="he_normal",
        name=name,
        dtype=dtype,
    )


def bn_layer(name=None, dtype=None):
    return keras.layers.BatchNormalization(momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name=name,
                                           dtype=dtype)


def make_branch_layers(steps, activation, batch_norm, prefix, dtype=None):
    """One Keras layer per step, named ``{prefix}{i}_{op}``, with the dtype policy ``dtype``."""
    layers = []
    for i, step in enumerate(steps):
        name = f"{prefix}{i}_{step.op}"
        if step.op == "conv":
            # Without BN a convolution needs its own bias; with BN the bias is redundant.
            layers.append(conv_layer(step.filters, step.kernel_size, step.strides,
                                     not batch_norm, name, dtype))
        elif step.op == "bn":
            layers.append(bn_layer(name, dtype))
        else:
            layers.append(keras.layers.Activation(activation, name=name, dtype=dtype))
    return layers


def build_chain(layers, input_shape):
    """Build each layer of a chain on the shape its predecessor produces."""
    shape = tuple(input_shape)
    for layer in layers:
        if not layer.built:
            layer.build(shape)
        shape = tuple(layer.compute_output_shape(shape))
    return shape


def run_chain(layers, x, training=None):
    for layer in layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            x = layer(x, training=training)
        else:
            x = layer(x)
    return x
