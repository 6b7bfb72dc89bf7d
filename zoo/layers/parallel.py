"""The parallel residual stage ``y = post_act(x + sum_i f_i(x))`` -- one broad layer.

This is the first-order truncation of a sequential stack (Bermeitinger et al., KDIR 2023).
Implemented *fused*: because every branch reads the same ``x``,

- the branches' first convolutions are one convolution with ``n * C`` filters;
- per-branch BN over those channels is one BN over ``n * C`` channels (BN is per channel,
  so training-mode batch statistics are the same as computed branch by branch); a leading
  BN (pre-activation) reads ``x`` tiled n times, which also has the same statistics;
- a final bias-free convolution summed over branches, ``sum_i W_i * h_i``, is one
  convolution of the concatenated ``h_i`` with the kernels stacked along the input axis;
- what remains per branch (convolutions of branch-specific inputs) is a grouped
  convolution, :class:`BranchConv2D`.

The parameters are exactly those of n separate branches, so a parallel model has its
sequential twin's parameter count. ``fused=False`` keeps the plain per-branch reference;
:meth:`ParallelResidualStage.set_branch_weights` maps n branches' weights onto the fused
layout, which is what the equivalence test and order-1 truncation use.
"""

from __future__ import annotations

import keras
from keras import ops

from zoo import validation as check
from zoo.environment import has_gpu
from zoo.layers.branch import (
    KINDS,
    bn_layer,
    branch_steps,
    build_chain,
    conv_layer,
    make_branch_layers,
    output_channels,
    run_chain,
    strided_shape,
)
from zoo.layers.residual import ResidualBlock

GROUPED_IMPLEMENTATIONS = ("auto", "grouped", "split")


def resolve_grouped_implementation(implementation: str) -> str:
    """``auto`` picks per device: native grouped convolutions on GPU; on CPU, n dense
    per-branch convolutions, measured 1.1-2.1x faster than grouped ones under TensorFlow and
    3.3-5.4x under JAX (benchmarks/grouped_conv.py; benchmarks/results/)."""
    check.choice("grouped_implementation", implementation, GROUPED_IMPLEMENTATIONS)
    if implementation == "auto":
        return "grouped" if has_gpu() else "split"
    return implementation


@keras.saving.register_keras_serializable(package="zoo")
class BranchConv2D(keras.layers.Layer):
    """n independent convolutions, branch i reading input channels block i.

    The kernel is stored in grouped layout ``(k, k, C_in / n, n * filters)``; the
    computation is either one grouped convolution or n dense ones (``implementation``).
    """

    def __init__(
        self,
        branches,
        filters,
        kernel_size,
        strides=1,
        use_bias=False,
        implementation="auto",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.branches = check.positive_int("branches", branches)
        self.filters = check.positive_int("filters", filters)
        self.kernel_size = check.odd_kernel("kernel_size", kernel_size)
        self.strides = check.choice("strides", strides, (1, 2))
        self.use_bias = bool(use_bias)
        self.implementation = check.choice(
            "implementation", implementation, GROUPED_IMPLEMENTATIONS
        )
        self._impl = resolve_grouped_implementation(implementation)

    def build(self, input_shape):
        channels = int(input_shape[-1])
        if channels % self.branches:
            raise ValueError(
                f"{self.name}: input channels ({channels}) must be divisible by "
                f"branches ({self.branches})"
            )
        k = self.kernel_size
        self.kernel = self.add_weight(
            name="kernel",
            shape=(k, k, channels // self.branches, self.branches * self.filters),
            initializer="he_normal",
        )
        self.bias = (
            self.add_weight(name="bias", shape=(self.branches * self.filters,), initializer="zeros")
            if self.use_bias
            else None
        )

    def call(self, x):
        strides = (self.strides, self.strides)
        if self._impl == "grouped" and self.branches > 1:
            y = ops.conv(x, self.kernel, strides=strides, padding="same")
        else:
            xs = ops.split(x, self.branches, axis=-1)
            ks = ops.split(self.kernel, self.branches, axis=-1)
            y = ops.concatenate(
                [ops.conv(a, b, strides=strides, padding="same") for a, b in zip(xs, ks)],
                axis=-1,
            )
        return y if self.bias is None else ops.add(y, self.bias)

    def compute_output_shape(self, input_shape):
        return strided_shape(input_shape, self.strides, self.branches * self.filters)

    def get_config(self):
        config = super().get_config()
        config.update(
            branches=self.branches,
            filters=self.filters,
            kernel_size=self.kernel_size,
            strides=self.strides,
            use_bias=self.use_bias,
            implementation=self.implementation,
        )
        return config


@keras.saving.register_keras_serializable(package="zoo")
class TiledBatchNormalization(keras.layers.Layer):
    """BN of ``x`` tiled n times: n per-branch BNs that all read the same input."""

    def __init__(self, branches, **kwargs):
        super().__init__(**kwargs)
        self.branches = check.positive_int("branches", branches)
        self.bn = bn_layer("bn", self.dtype_policy)

    def build(self, input_shape):
        self.bn.build((*input_shape[:-1], input_shape[-1] * self.branches))

    def call(self, x, training=None):
        return self.bn(ops.concatenate([x] * self.branches, axis=-1), training=training)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] * self.branches)

    def get_config(self):
        return {**super().get_config(), "branches": self.branches}


def _fused_layers(steps, n, activation, batch_norm, grouped_implementation, dtype=None):
    """One wide layer per step (with the dtype policy ``dtype``), plus for each step the axis
    along which the n branches' weights of that step are concatenated (None for weightless
    steps)."""
    layers, axes = [], []
    shared = True  # the tensor is still the common input x (not n branch blocks)
    last_conv = max(i for i, s in enumerate(steps) if s.op == "conv")
    for i, step in enumerate(steps):
        name = f"fused{i}_{step.op}"
        if step.op == "conv":
            use_bias = not batch_norm
            if shared:  # every branch reads x: one convolution with n * F filters
                layer = conv_layer(n * step.filters, step.kernel_size, step.strides, use_bias,
                                   name, dtype)
                axis = -1
            elif i == last_conv and i == len(steps) - 1 and not use_bias:
                # sum_i W_i * h_i: one convolution over the concatenated h_i
                layer = conv_layer(step.filters, step.kernel_size, step.strides, False, name,
                                   dtype)
                axis = -2
            else:
                layer = BranchConv2D(
                    n,
                    step.filters,
                    step.kernel_size,
                    step.strides,
                    use_bias,
                    grouped_implementation,
                    name=name,
                    dtype=dtype,
                )
                axis = -1
            shared = False
        elif step.op == "bn":
            layer = (TiledBatchNormalization(n, name=name, dtype=dtype) if shared
                     else bn_layer(name, dtype))
            axis, shared = -1, False
        else:
            layer, axis = keras.layers.Activation(activation, name=name, dtype=dtype), None
        layers.append(layer)
        axes.append(axis)
    return layers, axes


@keras.saving.register_keras_serializable(package="zoo")
class ParallelResidualStage(ResidualBlock):
    """``y = post_act(x + sum_{i<n} f_i(x))`` with n identity-shaped branches.

    Args:
        branches: number n of parallel branches (the units of the sequential stage).
        filters, kind, kernel_size, preactivation, activation, batch_norm: as
            :class:`~zoo.layers.ResidualUnit`; the input must already have the branch's
            output width (a parallel stage holds no transition).
        fused: compute as one broad layer (default) or branch by branch (reference).
        grouped_implementation: ``"auto"`` (per device), ``"grouped"`` or ``"split"``.
    """

    def __init__(
        self,
        branches,
        filters,
        kind="basic",
        kernel_size=3,
        preactivation=False,
        activation="relu",
        batch_norm=True,
        fused=True,
        grouped_implementation="auto",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.branches = check.positive_int("branches", branches)
        self.filters = check.positive_int("filters", filters)
        self.kind = check.choice("kind", kind, KINDS)
        self.kernel_size = check.odd_kernel("kernel_size", kernel_size)
        self.preactivation = bool(preactivation)
        self.activation = check.activation("activation", activation)
        self.batch_norm = bool(batch_norm)
        self.fused = bool(fused)
        self.grouped_implementation = check.choice(
            "grouped_implementation", grouped_implementation, GROUPED_IMPLEMENTATIONS
        )
        self.out_channels = output_channels(kind, filters)
        self._steps = branch_steps(
            kind,
            filters,
            kernel_size=kernel_size,
            preactivation=preactivation,
            batch_norm=batch_norm,
        )
        if self.fused:
            self.fused_layers, self._axes = _fused_layers(
                self._steps, self.branches, activation, batch_norm, grouped_implementation,
                self.dtype_policy,
            )
        else:
            self.branch_layers = [
                make_branch_layers(self._steps, activation, batch_norm, prefix=f"b{i}_",
                                   dtype=self.dtype_policy)
                for i in range(self.branches)
            ]
        self._post_activation = kind != "single" and not preactivation
        self._act = keras.activations.get(activation)

    @property
    def is_transition(self) -> bool:
        return False

    def build(self, input_shape):
        if int(input_shape[-1]) != self.out_channels:
            raise ValueError(
                f"{self.name}: a parallel stage keeps its width, so its input must have "
                f"{self.out_channels} channels, got {input_shape[-1]}; put a transition unit "
                "before it"
            )
        if self.fused:
            build_chain(self.fused_layers, input_shape)
        else:
            for layers in self.branch_layers:
                build_chain(layers, input_shape)

    def residual(self, x, training=None):
        """``sum_i f_i(x)``."""
        if not self.fused:
            return ops.sum(
                ops.stack([run_chain(b, x, training) for b in self.branch_layers]), axis=0
            )
        y = run_chain(self.fused_layers, x, training)
        if -2 not in self._axes:  # no summing convolution: y still holds n blocks
            y = ops.sum(ops.reshape(y, (*ops.shape(y)[:-1], self.branches, self.out_channels)), -2)
        return y

    def shortcut(self, x, training=None):
        return x

    def merge(self, shortcut, residual):
        y = ops.add(shortcut, residual)
        return self._act(y) if self._post_activation else y

    def call(self, x, training=None):
        return self.merge(x, self.residual(x, training))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def branch_weight_lists(self):
        """The weights of each branch, as ``ResidualUnit.branch_layers`` would hold them."""
        if not self.fused:
            return [[w for layer in b for w in layer.get_weights()] for b in self.branch_layers]
        per_branch = [[] for _ in range(self.branches)]
        for layer, axis in zip(self.fused_layers, self._axes):
            for w in layer.get_weights():
                for i, part in enumerate(ops.split(w, self.branches, axis=axis)):
                    per_branch[i].append(ops.convert_to_numpy(part))
        return per_branch

    def set_branch_weights(self, branch_weights):
        """Load n branches' weights (each a list in ``ResidualUnit.branch_layers`` order,
        e.g. from the units of a sequential stage)."""
        if len(branch_weights) != self.branches:
            raise ValueError(
                f"expected weights for {self.branches} branches, got {len(branch_weights)}"
            )
        if not self.fused:
            for layers, weights in zip(self.branch_layers, branch_weights):
                weights = list(weights)
                for layer in layers:
                    k = len(layer.weights)
                    layer.set_weights(weights[:k])
                    weights = weights[k:]
            return
        cursors = [list(w) for w in branch_weights]
        for layer, axis in zip(self.fused_layers, self._axes):
            k = len(layer.weights)
            if not k:
                continue
            parts = [c[:k] for c in cursors]
            cursors = [c[k:] for c in cursors]
            layer.set_weights(
                [ops.convert_to_numpy(ops.concatenate([p[j] for p in parts], axis=axis))
                 for j in range(k)]
            )

    def get_config(self):
        config = super().get_config()
        config.update(
            branches=self.branches,
            filters=self.filters,
            kind=self.kind,
            kernel_size=self.kernel_size,
            preactivation=self.preactivation,
            activation=self.activation,
            batch_norm=self.batch_norm,
            fused=self.fused,
            grouped_implementation=self.grouped_implementation,
        )
        return config
