"""Finding the residual units of a zoo model, in order, for analysis."""

from __future__ import annotations

from zoo.layers import ResidualBlock


def residual_units(model):
    """The model's residual blocks in forward order (each has ``is_transition``)."""
    return [layer for layer in model.layers if isinstance(layer, ResidualBlock)]
