"""Merge-and-run blocks (DMRNet; Zhao, Wang et al., IJCAI 2018) and their two ablations.

With K streams x_1..x_K and residual branches H_i (conv-BN-ReLU-conv-BN):

    merge_and_run:   m = mean_i s_i(x_i);   x_i' = ReLU(m + H_i(x_i))
    identity:        x_i' = ReLU(s_i(x_i) + H_i(x_i))          (K independent ResNets)
    inception_like:  one stream, x' = ReLU(s(x) + sum_i H_i(x))

where s_i is the identity, or at a transition the stream's own 1x1 stride-2 conv + BN
(applied before averaging). The shortcut part of merge-and-run is the linear map
``M = (1/K) 11^T (x) I``, which is idempotent (M @ M = M): see :func:`merge_matrix`.

The last block of a network merges the streams into one tensor:
``ReLU(m + sum_i H_i(x_i))`` (the paper's layout). For the identity ablation, which has no merge, the
last block averages the K streams' outputs -- an ensemble of K ResNets feeding one classifier
(residual-zoo's choice; the paper does not say how its ablation's streams were combined).
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from zoo import validation as check
from zoo.layers.branch import (
    bn_layer,
    branch_steps,
    build_chain,
    conv_layer,
    make_branch_layers,
    run_chain,
    strided_shape,
)
from zoo.layers.residual import ResidualBlock

MODES = ("merge_and_run", "identity", "inception_like")


def merge_matrix(streams: int, channels: int = 1) -> np.ndarray:
    """The merge map ``M = (1/K) 1 1^T (x) I_channels`` acting on the stacked streams."""
    k = check.positive_int("streams", streams)
    return np.kron(np.full((k, k), 1.0 / k), np.eye(check.positive_int("channels", channels)))


@keras.saving.register_keras_serializable(package="zoo")
class MergeAndRunBlock(ResidualBlock):
    """A block over K streams.

    Input: a list of K tensors, or one tensor (the stem's output, which every stream starts
    from; inception-like blocks always take one tensor). Output: a list of K tensors, or one
    tensor for inception-like blocks and for the network's last block (``final=True``).
    """

    def __init__(
        self,
        filters,
        streams=2,
        strides=1,
        mode="merge_and_run",
        final=False,
        kernel_size=3,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = check.positive_int("filters", filters)
        self.streams = check.streams("streams", streams)
        self.strides = check.choice("strides", strides, (1, 2))
        self.mode = check.choice("mode", mode, MODES)
        self.final = bool(final)
        self.kernel_size = check.odd_kernel("kernel_size", kernel_size)
        steps = branch_steps("basic", filters, strides=strides, kernel_size=kernel_size)
        self.branch_layers = [
            make_branch_layers(steps, "relu", True, prefix=f"h{i}_", dtype=self.dtype_policy)
            for i in range(self.streams)
        ]
        self.projections = []

    @property
    def is_transition(self) -> bool:
        in_channels = getattr(self, "_in_channels", None)
        return self.strides != 1 or (in_channels is not None and in_channels != self.filters)

    @property
    def _n_inputs(self):
        return 1 if self.mode == "inception_like" else self.streams

    def build(self, input_shape):
        shapes = self._input_shapes(input_shape)
        self._in_channels = int(shapes[0][-1])
        for layers in self.branch_layers:
            build_chain(layers, shapes[0])
        if self.is_transition:
            for i in range(self._n_inputs):
                proj = [conv_layer(self.filters, 1, self.strides, name=f"proj{i}",
                                   dtype=self.dtype_policy),
                        bn_layer(f"proj{i}_bn", self.dtype_policy)]
                build_chain(proj, shapes[i])
                self.projections.append(proj)

    def _input_shapes(self, input_shape):
        # a single shape is a tuple of ints/None; a list of shapes is a list/tuple of tuples
        if input_shape and isinstance(input_shape[0], (list, tuple)):
            if self.mode == "inception_like" or len(input_shape) != self.streams:
                raise ValueError(
                    f"{self.name}: expected {self._n_inputs} input tensor(s), got {len(input_shape)}"
                )
            return [tuple(s) for s in input_shape]
        return [tuple(input_shape)] * self._n_inputs

    def _as_streams(self, inputs):
        if isinstance(inputs, (list, tuple)):
            return list(inputs)
        return [inputs] * self._n_inputs

    def shortcut(self, inputs, training=None):
        """The skip paths ``s_i(x_i)`` of each input stream (before merging)."""
        xs = self._as_streams(inputs)
        if not self.projections:
            return xs
        return [run_chain(p, x, training) for p, x in zip(self.projections, xs)]

    def residual(self, inputs, training=None):
        """The residual branches ``H_i(x_i)`` (inception-like: ``H_i(x)``)."""
        xs = self._as_streams(inputs)
        if self.mode == "inception_like":
            xs = xs * self.streams
        return [run_chain(b, x, training) for b, x in zip(self.branch_layers, xs)]

    def merge(self, shortcuts, residuals):
        relu = keras.activations.relu
        if self.mode == "inception_like":
            return relu(ops.add(shortcuts[0], ops.sum(ops.stack(residuals), axis=0)))
        if self.mode == "identity":
            outs = [relu(ops.add(s, h)) for s, h in zip(shortcuts, residuals)]
            return ops.mean(ops.stack(outs), axis=0) if self.final else outs
        m = ops.mean(ops.stack(shortcuts), axis=0)
        if self.final:
            return relu(ops.add(m, ops.sum(ops.stack(residuals), axis=0)))
        return [relu(ops.add(m, h)) for h in residuals]

    def call(self, inputs, training=None):
        return self.merge(self.shortcut(inputs, training), self.residual(inputs, training))

    def compute_output_shape(self, input_shape):
        shape = strided_shape(self._input_shapes(input_shape)[0], self.strides, self.filters)
        if self.final or self.mode == "inception_like":
            return shape
        return [shape] * self.streams

    def get_config(self):
        config = super().get_config()
        config.update(
            filters=self.filters,
            streams=self.streams,
            strides=self.strides,
            mode=self.mode,
            final=self.final,
            kernel_size=self.kernel_size,
        )
        return config
