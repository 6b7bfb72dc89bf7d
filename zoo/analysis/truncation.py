"""Order-k truncations of a trained sequential residual network (Bermeitinger et al., KDIR 2023).

Within a stage of n identity units the sequential stack solves the recursion
``x_u = x + sum_{v<u} f_v(x_v)`` (x: the stage input, x_u: the input of unit u). Starting from
``x_u = x`` and sweeping the recursion k-1 times, the stage output
``x + sum_u f_u(x_u^{(k-1)})`` keeps exactly the paths through at most k branches:

- order 1 is the parallel layer ``x + sum_u f_u(x)`` -- the model's parallel twin;
- order >= n is the sequential stack itself;
- for linear branches, order k is the Taylor truncation of ``prod (I + F_u)``.

(For nonlinear branches a "sum of compositions" would not give the stack back at full order;
this fixed-point form does. The definition is residual-zoo's.) The truncated model shares the
trained model's layers; transitions run unchanged.
"""

from __future__ import annotations

import keras
import numpy as np

from zoo.analysis.lesion import UnitPath, _chain, accuracy
from zoo.layers import ResidualUnit
from zoo.models.units import residual_units


def _check_units(model):
    for u in residual_units(model):
        skip = getattr(u, "skip", True)
        if not isinstance(u, ResidualUnit) or not skip:
            raise ValueError(f"truncate needs sequential residual units; {u.name!r} is a "
                             f"{type(u).__name__}{'' if skip else ' without skip'}")
        if u._post_activation and not u.is_transition:
            raise ValueError(
                f"truncate needs units of the form x + f(x); {u.name!r} applies an activation "
                "after the add (use preactivation=True, or shallow_stack)"
            )


def _stage(units, x, order):
    inputs = [x] * len(units)
    for _ in range(order - 1):
        outs = [UnitPath(u, "residual")(h) for u, h in zip(units, inputs)]
        inputs = [x if u == 0 else keras.layers.Add()([x, *outs[:u]]) for u in range(len(units))]
    outs = [UnitPath(u, "residual")(h) for u, h in zip(units, inputs)]
    return keras.layers.Add()([x, *outs])


def truncate(model, order, name=None) -> keras.Model:
    """The order-``order`` truncation of ``model`` (see the module docstring)."""
    if isinstance(order, bool) or not isinstance(order, int) or order < 1:
        raise ValueError(f"order must be a positive integer, got {order!r}")
    _check_units(model)
    identity = {id(u) for u in residual_units(model) if not u.is_transition}
    inputs = keras.Input(model.input_shape[1:])
    x, run = inputs, []
    for layer in _chain(model) + [None]:
        if layer is not None and id(layer) in identity:
            run.append(layer)
            continue
        if run:  # close a stage of identity units
            x = _stage(run, x, order)
            run = []
        if layer is not None:
            x = layer(x)
    return keras.Model(inputs, x, name=name or f"{model.name}_order{order}")


def truncation_accuracy(model, x, y, orders=None) -> list[dict]:
    """Test accuracy kept by each order of truncation."""
    longest = max_stage_units(model)
    orders = list(range(1, longest + 1)) if orders is None else list(orders)
    full = accuracy(model, x, y)
    rows = []
    for k in orders:
        acc = accuracy(truncate(model, k), x, y)
        rows.append({"order": k, "accuracy": acc, "kept": acc / full if full else np.nan})
    return rows


def max_stage_units(model) -> int:
    """The longest run of identity units: beyond this order a truncation is exact."""
    longest = current = 0
    for u in residual_units(model):
        current = 0 if u.is_transition else current + 1
        longest = max(longest, current)
    return longest
