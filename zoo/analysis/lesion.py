"""Lesion studies of the ensemble view (Veit, Wilber, Belongie, NeurIPS 2016).

Zoo models are chains: input -> stem layers -> residual units -> head layers. A lesioned
model re-wires the *same* layer objects (no copy, no retraining) with some units deleted or
reordered:

- deleting a unit keeps its skip: ``x -> x`` for identity units, ``x -> shortcut(x)`` (the
  projection) for transitions -- the branch is what is removed;
- deleting a unit of a plain network (no skip) replaces it by the identity, which is only
  possible where it keeps the shape;
- reordering permutes units of the same shape (never across a transition).
"""

from __future__ import annotations

import logging

import keras
import numpy as np

from zoo import validation as check
from zoo.layers import ResidualUnit
from zoo.models.units import residual_units


class _ExpectedRetracing(logging.Filter):
    # Lesion and truncation studies build dozens of re-wired models on purpose; TensorFlow
    # warns about "retracing" from the fifth on. Here that warning is noise.
    def filter(self, record):
        return "triggered tf.function retracing" not in record.getMessage()


logging.getLogger("tensorflow").addFilter(_ExpectedRetracing())


class UnitPath(keras.layers.Layer):
    """One path of a trained unit (``"shortcut"`` or ``"residual"``) as a layer of its own,
    so that re-wired analysis models see one op per path, not the unit's inner layers
    (whose names repeat from unit to unit). Analysis-only: not meant to be saved."""

    def __init__(self, unit, path, **kwargs):
        super().__init__(name=f"{unit.name}_{path}_{keras.backend.get_uid(unit.name + path)}",
                         **kwargs)
        self.unit = unit
        self.which = path
        self.built = True

    def call(self, x, training=None):
        return getattr(self.unit, self.which)(x, training=training)

    def compute_output_shape(self, input_shape):
        return self.unit.compute_output_shape(input_shape)


def _chain(model):
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    for layer in layers:
        if isinstance(layer.input, (list, tuple)):  # (node 0: the model's own graph)
            raise ValueError(
                f"lesion needs a chain of single-input layers; {layer.name!r} is not one "
                "(merge-and-run models are not supported)"
            )
    return layers


def lesion(model, delete=(), order=None, name=None) -> keras.Model:
    """A model sharing ``model``'s weights with residual units deleted and/or reordered.

    Args:
        delete: indices into ``residual_units(model)`` to delete.
        order: a permutation of ``range(len(residual_units(model)))`` giving the order in
            which the units run; only same-shape units may change places.
    """
    units = residual_units(model)
    n = len(units)
    delete = sorted(set(int(i) for i in delete))
    if any(not 0 <= i < n for i in delete):
        raise ValueError(f"delete must hold unit indices in [0, {n}), got {delete}")
    order = list(range(n)) if order is None else [int(i) for i in order]
    if sorted(order) != list(range(n)):
        raise ValueError(f"order must be a permutation of range({n}), got {order}")
    for pos, i in enumerate(order):
        if i != pos and (units[i].is_transition or units[pos].is_transition):
            raise ValueError(
                f"order moves unit {i} ({units[i].name}) to position {pos}: transitions "
                "cannot be reordered"
            )
        if i != pos and units[i].input.shape != units[pos].input.shape:
            raise ValueError(f"order swaps units {i} and {pos} of different shapes")
    for i in delete:
        u = units[i]
        if isinstance(u, ResidualUnit) and not u.skip and u.is_transition:
            raise ValueError(f"unit {i} ({u.name}) of a plain network changes the shape and "
                             "cannot be deleted")
    position = {id(u): k for k, u in enumerate(units)}
    inputs = keras.Input(model.input_shape[1:])
    x = inputs
    for layer in _chain(model):
        k = position.get(id(layer))
        if k is None:
            x = layer(x)
            continue
        i = order[k]
        unit = units[i]
        if i not in delete:
            x = unit(x)
        elif unit.is_transition:
            x = UnitPath(unit, "shortcut")(x)  # the branch is removed, the projection stays
        # else: the identity
    return keras.Model(inputs, x, name=name or f"{model.name}_lesion")


def accuracy(model, x, y, batch_size=256) -> float:
    """Top-1 accuracy of ``model`` on ``(x, y)``, by eager calls in batches.

    Not ``predict()``: a lesion study makes a new model per lesion and passes over the data
    once, and ``predict()`` would trace each one first (on TensorFlow, ResNet-20 on 500
    MNIST images: 1.0 s per lesion with ``predict()``, 0.56 s eager; same predictions).
    """
    y = np.asarray(y)
    if len(x) != len(y):
        raise ValueError(f"x and y must have the same length, got {len(x)} and {len(y)}")
    correct = 0
    for start in range(0, len(y), batch_size):
        batch = keras.ops.convert_to_tensor(np.asarray(x[start:start + batch_size]), "float32")
        probs = keras.ops.convert_to_numpy(model(batch, training=False))
        correct += int(np.sum(np.argmax(probs, axis=-1) == y[start:start + batch_size]))
    return correct / len(y)


def single_unit_lesions(model, x, y) -> list[dict]:
    """Accuracy after deleting each unit on its own (Veit et al., Fig. 3)."""
    check.paired_examples(x, y)
    rows = []
    for i, unit in enumerate(residual_units(model)):
        try:
            acc = accuracy(lesion(model, delete=[i]), x, y)
        except ValueError:  # a plain transition: cannot be deleted
            acc = float("nan")
        rows.append({"unit": i, "name": unit.name, "transition": unit.is_transition,
                     "accuracy": acc})
    return rows


def random_lesions(model, x, y, ks, samples=5, seed=0) -> list[dict]:
    """Mean accuracy after deleting k random non-transition units (Veit et al., Fig. 5a)."""
    rng = np.random.default_rng(seed)
    candidates = [i for i, u in enumerate(residual_units(model)) if not u.is_transition]
    rows = []
    for k in ks:
        if k > len(candidates):
            raise ValueError(f"cannot delete {k} of {len(candidates)} non-transition units")
        accs = [accuracy(lesion(model, delete=rng.choice(candidates, k, replace=False)), x, y)
                for _ in range(samples)]
        rows.append({"k": k, "mean_accuracy": float(np.mean(accs)),
                     "std_accuracy": float(np.std(accs))})
    return rows


def branch_ratios(model, x, batch_size=250) -> list[dict]:
    """How much each unit adds to what it is given: per image, ``|f(x_i)| / |s(x_i)|`` (the
    residual branch's output norm over the skip's, at the unit's input ``x_i`` in the intact
    network), summarized over ``x`` by the median and quartiles.

    A deleted unit removes exactly ``f(x_i)``; where that is small beside the skip, the rest
    of the network sees almost the same input, so the ratio predicts which lesions hurt."""
    units = residual_units(model)
    for u in units:
        if isinstance(u, ResidualUnit) and not u.skip:
            raise ValueError(f"{u.name} has no skip connection (a plain network): branch "
                             "ratios compare a branch with its skip")
    position = {id(u): k for k, u in enumerate(units)}
    ratios = [[] for _ in units]
    chain = _chain(model)
    for start in range(0, len(x), batch_size):
        h = keras.ops.convert_to_tensor(np.asarray(x[start:start + batch_size]), "float32")
        for layer in chain:
            k = position.get(id(layer))
            if k is None:
                h = layer(h, training=False)
                continue
            s = layer.shortcut(h, training=False)
            r = layer.residual(h, training=False)
            ratios[k].append(_norms(r) / _norms(s))
            h = layer.merge(s, r)
    rows = []
    for k, u in enumerate(units):
        q25, median, q75 = np.percentile(np.concatenate(ratios[k]), [25, 50, 75])
        rows.append({"unit": k, "name": u.name, "transition": bool(u.is_transition),
                     "median": float(median), "q25": float(q25), "q75": float(q75)})
    return rows


def _norms(t) -> np.ndarray:
    """Per-example L2 norm of a batch (activations or gradients).

    In float64: the gradient along a long path has float32 entries near 1e-22, whose squares
    (below float32's 1e-45) would vanish and give a norm of exactly 0."""
    a = keras.ops.convert_to_numpy(t).astype(np.float64)
    return np.linalg.norm(a.reshape(len(a), -1), axis=1)


def kendall_tau(order) -> float:
    """Kendall's rank correlation between ``order`` and the identity order."""
    order = list(order)
    n = len(order)
    concordant = sum(1 for a in range(n) for b in range(a + 1, n) if order[a] < order[b])
    pairs = n * (n - 1) // 2
    return (2 * concordant - pairs) / pairs if pairs else 1.0


def random_order(units, swaps, rng) -> list[int]:
    """The unit order after ``swaps`` random swaps, each of two units of one stage (same
    input shape, transitions excluded), drawn from ``rng``."""
    groups = {}
    for i, u in enumerate(units):
        if not u.is_transition:
            groups.setdefault(tuple(u.input.shape[1:]), []).append(i)
    swappable = [g for g in groups.values() if len(g) >= 2]
    order = list(range(len(units)))
    for _ in range(swaps):
        group = swappable[rng.integers(len(swappable))]
        a, b = rng.choice(group, 2, replace=False)
        order[a], order[b] = order[b], order[a]
    return order


def reorder_lesions(model, x, y, swaps, seed=0) -> list[dict]:
    """Accuracy after ``s`` random swaps of same-stage units, for each s in ``swaps``
    (Veit et al., Fig. 5b), with the Kendall tau of the resulting order."""
    rng = np.random.default_rng(seed)
    units = residual_units(model)
    rows = []
    for s in swaps:
        order = random_order(units, s, rng)
        rows.append({"swaps": s, "kendall_tau": kendall_tau(order),
                     "accuracy": accuracy(lesion(model, order=order), x, y)})
    return rows
