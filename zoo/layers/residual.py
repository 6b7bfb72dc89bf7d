"""The residual unit ``y = post_act(shortcut(x) + f(x))`` and the base class of all blocks.

Every zoo block subclasses :class:`ResidualBlock`, so analysis code finds the units of any
model (``zoo.models.residual_units``) and knows which of them are transitions. A unit exposes
its two paths separately -- :meth:`ResidualUnit.shortcut`, :meth:`ResidualUnit.residual` and
:meth:`ResidualUnit.merge` -- because the ensemble view (Veit et al.) needs to delete a branch
or route the gradient through one path only without touching the weights.
"""

from __future__ import annotations

import keras
from keras import ops

from zoo import validation as check
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


@keras.saving.register_keras_serializable(package="zoo")
class ResidualBlock(keras.layers.Layer):
    """Base class of the zoo's residual blocks.

    ``is_transition`` is True for blocks that change the shape of what they carry (stride 2
    or more channels) and therefore cannot be deleted or reordered freely.
    """

    @property
    def is_transition(self) -> bool:
        raise NotImplementedError


@keras.saving.register_keras_serializable(package="zoo")
class ResidualUnit(ResidualBlock):
    """One residual unit.

    Args:
        filters: width of the branch (bottleneck: the inner width; the unit outputs
            ``4 * filters`` channels).
        kind: ``"basic"``, ``"bottleneck"`` or ``"single"`` (see ``zoo.layers.branch``).
        strides: 1, or 2 at a transition.
        kernel_size: odd spatial size of the branch's main convolution(s).
        preactivation: BN-act before each convolution, no activation after the add.
        activation: name of a Keras activation.
        batch_norm: use BN in the branch (and in a projection shortcut).
        skip: False builds the plain (no-shortcut) counterpart ``y = act(f(x))``.

    A projection shortcut (1x1 conv with the unit's stride, then BN) is used whenever the
    unit changes the number of channels or the resolution; otherwise the shortcut is identity.
    """

    def __init__(
        self,
        filters,
        kind="basic",
        strides=1,
        kernel_size=3,
        preactivation=False,
        activation="relu",
        batch_norm=True,
        skip=True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = check.positive_int("filters", filters)
        self.kind = check.choice("kind", kind, KINDS)
        self.strides = check.choice("strides", strides, (1, 2))
        self.kernel_size = check.odd_kernel("kernel_size", kernel_size)
        self.preactivation = bool(preactivation)
        self.activation = check.activation("activation", activation)
        self.batch_norm = bool(batch_norm)
        self.skip = bool(skip)
        self.out_channels = output_channels(kind, filters)
        steps = branch_steps(
            kind,
            filters,
            strides=strides,
            kernel_size=kernel_size,
            preactivation=preactivation,
            batch_norm=batch_norm,
        )
        self.branch_layers = make_branch_layers(steps, activation, batch_norm, prefix="branch",
                                                dtype=self.dtype_policy)
        self.projection = None  # created in build once the input width is known
        # Only post-activation basic/bottleneck units activate after the add.
        self._post_activation = kind != "single" and not preactivation
        self._act = keras.activations.get(activation)

    @property
    def is_transition(self) -> bool:
        in_channels = getattr(self, "_in_channels", None)
        return self.strides != 1 or (in_channels is not None and in_channels != self.out_channels)

    def build(self, input_shape):
        self._in_channels = int(input_shape[-1])
        build_chain(self.branch_layers, input_shape)
        if self.skip and self.is_transition:
            layers = [conv_layer(self.out_channels, 1, self.strides, not self.batch_norm, "proj",
                                 self.dtype_policy)]
            if self.batch_norm:
                layers.append(bn_layer("proj_bn", self.dtype_policy))
            self.projection = layers
            build_chain(layers, input_shape)

    def shortcut(self, x, training=None):
        """The skip path: identity, or the projection at a transition."""
        if not self.skip:
            raise ValueError(f"{self.name} has no shortcut (skip=False, a plain unit)")
        return x if self.projection is None else run_chain(self.projection, x, training)

    def residual(self, x, training=None):
        """The residual branch f(x)."""
        return run_chain(self.branch_layers, x, training)

    def merge(self, shortcut, residual):
        """Combine the two paths: ``post_act(shortcut + residual)``."""
        y = residual if shortcut is None else ops.add(shortcut, residual)
        return self._act(y) if self._post_activation else y

    def call(self, x, training=None):
        s = self.shortcut(x, training) if self.skip else None
        return self.merge(s, self.residual(x, training))

    def compute_output_shape(self, input_shape):
        return strided_shape(input_shape, self.strides, self.out_channels)

    def get_config(self):
        config = super().get_config()
        config.update(
            filters=self.filters,
            kind=self.kind,
            strides=self.strides,
            kernel_size=self.kernel_size,
            preactivation=self.preactivation,
            activation=self.activation,
            batch_norm=self.batch_norm,
            skip=self.skip,
        )
        return config
