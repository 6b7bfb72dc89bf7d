"""Norm preservation (Zaeemzadeh et al., TPAMI 2021) compared across families and depths.

For every block between the first and the last residual unit -- each residual unit, and
each layer with weights that sits between units (ProcResNet's transition convolutions) --
the ratio ||dE/dx_in|| / ||dE/dx_out|| of the loss gradient's norm at its input and output,
averaged over examples. A norm-preserving block has ratio 1; |log ratio| measures how far
a block is from it.
"""

from __future__ import annotations

import keras
import numpy as np
import pandas as pd

from zoo import quiet
from zoo import validation as check
from zoo.analysis.gradients import _loss_grad, _norms, vjp
from zoo.analysis.lesion import _chain
from zoo.models.units import residual_units
from zoo.registry import get_builder

FAMILIES = ("resnet", "plain", "procresnet", "procresnet_noproj")


def block_norm_ratios(model, x, y, *, batch_statistics=True) -> list[dict]:
    """Gradient norm ratio of every block from the first to the last residual unit.

    ``batch_statistics`` (default): batch normalization uses the statistics of ``x``, as in
    a training step, which is where the paper measures the gradient; the model's moving
    averages are left as they were. With ``False`` it uses the moving averages (inference).
    That is wrong for an untrained net: its averages are still mean 0, variance 1, so batch
    normalization does nothing, a pre-activation ResNet's activations double with every unit
    (2^27 in a 164-layer net), the softmax saturates and every gradient is exactly 0.
    """
    check.paired_examples(x, y)
    layers = _chain(model)
    units = {id(u) for u in residual_units(model)}
    positions = [i for i, layer in enumerate(layers) if id(layer) in units]
    if not positions:
        raise ValueError(f"{model.name} has no residual units")
    first, last = positions[0], positions[-1]
    pullbacks = []
    h = keras.ops.convert_to_tensor(x)
    training = bool(batch_statistics)
    # a training-mode call updates the moving averages: a stateless scope collects those
    # updates and drops them, on every backend
    with keras.StatelessScope():
        for layer in layers:
            h, pb = vjp(lambda a, layer=layer: layer(a, training=training), h)
            pullbacks.append(pb)
    g = _loss_grad(h, np.asarray(y))
    rows = []
    for i in range(len(layers) - 1, first - 1, -1):
        out_norm = _norms(keras.ops.convert_to_numpy(g))
        (g,) = pullbacks[i](g)
        layer = layers[i]
        is_unit = id(layer) in units
        if i > last or not (is_unit or layer.weights):
            continue
        ratio = _norms(keras.ops.convert_to_numpy(g)) / np.maximum(out_norm, 1e-30)
        rows.append({
            "block": layer.name,
            "kind": "unit" if is_unit else "between units",
            "transition": bool(layer.is_transition) if is_unit else True,
            "ratio": float(np.mean(ratio)),
        })
    return rows[::-1]


def _build(family, n, input_shape, num_classes, normalization):
    """(depth, model) of ``family`` with n units per stage, from the registry's builders:
    resnet is the pre-activation net with basic units (6n+2), plain 6n+2, procresnet 9n+4."""
    common = dict(input_shape=input_shape, num_classes=num_classes,
                  input_normalization=normalization)
    if family in ("resnet", "plain"):
        depth = 6 * n + 2
        extra = {"preactivation": True} if family == "resnet" else {}
        return depth, get_builder(family)(depth, **extra, **common)
    if family in ("procresnet", "procresnet_noproj"):
        depth = 9 * n + 4
        return depth, get_builder("procresnet")(depth, projection=family == "procresnet",
                                                **common)
    raise ValueError(f"family must be one of {', '.join(FAMILIES)}, got {family!r}")


def compare_norm_preservation(units_per_stage=(1, 2, 4), families=FAMILIES, *,
                              dataset="digits", epochs=2, examples=256, seed=0,
                              verbose=0) -> pd.DataFrame:
    """Train each family at each depth briefly (``epochs``; 0: at initialization) and
    measure every block's gradient norm ratio on ``examples`` test images.

    Depths follow the families' rules from the units per stage n: resnet (pre-activation)
    and plain 6n+2, procresnet 9n+4. Returns one row per block; see
    :func:`norm_summary` for the per-model comparison.
    """
    from zoo.data import dataset_info, load
    from zoo.train import fit

    info = dataset_info(dataset)
    x, y = load(dataset, "test", normalize=None, subset=examples, seed=seed)
    rows = []
    for family in families:
        for n in units_per_stage:
            quiet.set_random_seed(seed)
            depth, model = _build(family, n, info.shape, info.num_classes, dataset)
            if epochs:
                fit(model, dataset, recipe="quick", epochs=epochs, seed=seed, verbose=verbose,
                    validate=False)
            for row in block_norm_ratios(model, x, y):
                rows.append({"family": family, "n": n, "depth": depth, **row})
    return pd.DataFrame(rows)


def norm_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Per family and depth: the mean |log ratio| of identity blocks and of transitions
    (0 = perfectly norm-preserving), and the mean ratios themselves."""
    frame = frame.assign(log_dev=np.abs(np.log(frame["ratio"])))
    out = (frame.groupby(["family", "depth", "transition"])
           .agg(blocks=("ratio", "size"), mean_ratio=("ratio", "mean"),
                mean_abs_log_ratio=("log_dev", "mean"))
           .reset_index())
    out["transition"] = out["transition"].map({True: "transition", False: "identity"})
    return out
