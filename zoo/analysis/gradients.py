"""Gradients through a zoo model, unit by unit (Veit et al., NeurIPS 2016; Zaeemzadeh et al., TPAMI 2021).

The backward pass is run by hand, one layer at a time, with a vector-Jacobian product per
layer. That lets the ensemble view route the gradient of each residual unit through its
skip only or its branch only (Veit et al.'s path sampling) and lets the norm-preservation
analysis read ``||dE/dx_l||`` at every unit, on every backend. Autodiff is the one place
where the backends differ, so :func:`vjp` dispatches on ``keras.backend.backend()``; the
layers themselves stay backend-agnostic.
"""

from __future__ import annotations

import keras
import numpy as np

from zoo import validation as check
from zoo.analysis.lesion import _chain, _norms
from zoo.models.units import residual_units


def vjp(fn, x, reusable=False):
    """``(fn(x), pullback)`` with ``pullback(g) = g^T d fn / d x``; a ``reusable`` pullback
    may be called more than once (path sampling backpropagates one forward pass many times)."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return jax.vjp(fn, x)  # always reusable
    if backend == "tensorflow":
        import tensorflow as tf

        x = tuple(map(tf.convert_to_tensor, x)) if isinstance(x, tuple) else tf.convert_to_tensor(x)
        if reusable:
            # Not a persistent tape: calling gradient() on one over and over leaks host memory
            # in TensorFlow 2.21 (~6 MB per backward pass of a ResNet-20 on 32 images, never
            # given back; the ensemble_view study reached 22 GB). A compiled pullback that re-runs
            # the segment's forward pass holds nothing per call and is as fast.
            y = fn(x)

            @tf.function
            def pullback(g):
                with tf.GradientTape() as tape:
                    tape.watch(x)
                    out = fn(x)
                return tape.gradient(out, x, output_gradients=g)

            return y, lambda g: (pullback(g),)
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = fn(x)
        return y, lambda g: (tape.gradient(y, x, output_gradients=g),)
    if backend == "torch":
        import torch

        def leaf(t):
            return torch.as_tensor(t).detach().requires_grad_(True)

        x = tuple(map(leaf, x)) if isinstance(x, tuple) else leaf(x)
        y = fn(x)

        def pullback(g):
            grads = torch.autograd.grad(y, x if isinstance(x, tuple) else (x,), g,
                                        retain_graph=reusable)
            return (tuple(grads),) if isinstance(x, tuple) else (grads[0],)

        return y, pullback
    raise ValueError(f"unsupported backend {backend!r}")


def _loss_grad(probs, y):
    """d(mean cross-entropy)/d(probabilities) for a softmax output. The probability is
    floored at 1e-12 so that this gradient times PathGradients' 2**64 stays finite in float32;
    an example given less than 1e-12 has its gradient scaled by p / 1e-12 (the training loss,
    zoo/train/losses.py, goes down to 1.2e-38). In the committed ensemble_view batches the lowest
    true-class probability is 0.0047 (Fashion-MNIST) and 0.44 (MNIST): no example is under."""
    p = keras.ops.convert_to_numpy(probs).astype(np.float64)
    g = np.zeros_like(p)
    g[np.arange(len(y)), y] = -1.0 / np.maximum(p[np.arange(len(y)), y], 1e-12)
    return keras.ops.convert_to_tensor((g / len(y)).astype("float32"))


def backward_through_units(model, x, y, route=None):
    """Forward ``x`` through ``model`` (inference mode), then backpropagate the loss layer by
    layer. ``route`` maps unit index -> ``"skip"`` or ``"branch"`` to let the gradient of
    that unit flow through one path only (forward values are unchanged).

    Returns ``(grad_at_input, unit_input_grads, unit_output_grads)``: per-unit lists of
    gradient arrays at the input and output of each residual unit.
    """
    route = route or {}
    layers = _chain(model)
    unit_index = {id(u): i for i, u in enumerate(residual_units(model))}
    pullbacks = []  # (kind, payload) in forward order
    h = keras.ops.convert_to_tensor(x)
    for layer in layers:
        i = unit_index.get(id(layer))
        if i is None or i not in route:
            h, pb = vjp(lambda a, layer=layer: layer(a, training=False), h)
            pullbacks.append((i, "whole", pb))
            continue
        s, pb_s = vjp(lambda a, u=layer: u.shortcut(a, training=False), h)
        r, pb_r = vjp(lambda a, u=layer: u.residual(a, training=False), h)
        merged, pb_m = vjp(lambda sr, u=layer: u.merge(sr[0], sr[1]), (s, r))
        pullbacks.append((i, route[i], (pb_s, pb_r, pb_m)))
        h = merged
    g = _loss_grad(h, np.asarray(y))
    n_units = len(unit_index)
    grads_in, grads_out = [None] * n_units, [None] * n_units
    for i, kind, pb in reversed(pullbacks):
        if i is not None:
            grads_out[i] = g
        if kind == "whole":
            (g,) = pb(g)
        else:
            pb_s, pb_r, pb_m = pb
            ((g_s, g_r),) = pb_m(g)
            (g,) = pb_s(g_s) if kind == "skip" else pb_r(g_r)
        if i is not None:
            grads_in[i] = g
    return g, grads_in, grads_out


def norm_ratios(model, x, y) -> list[dict]:
    """Per unit, the mean over examples of ``||dE/dx_l|| / ||dE/dx_{l+1}||`` (Zaeemzadeh et
    al.): near 1 for identity units of a norm-preserving network. Inference mode (the moving
    averages): meant for trained networks; for an untrained one use
    :func:`zoo.analysis.norms.block_norm_ratios`, which uses the batch's statistics."""
    check.paired_examples(x, y)
    _, grads_in, grads_out = backward_through_units(model, x, y)
    rows = []
    for i, unit in enumerate(residual_units(model)):
        ratio = _norms(grads_in[i]) / np.maximum(_norms(grads_out[i]), 1e-30)
        rows.append({"unit": i, "name": unit.name, "transition": unit.is_transition,
                     "ratio": float(np.mean(ratio))})
    return rows


class PathGradients:
    """One forward pass of ``(x, y)`` through ``model``, backpropagated along any number of
    routes (Veit et al.'s path sampling) without running the forward pass again.

    Every residual unit is split into shortcut, branch and merge, each with a reusable
    pullback. :meth:`input_gradient` takes a route, unit index -> ``"skip"`` or ``"branch"``;
    units left out pass the gradient through both paths, as the network itself does. Since
    the backward pass is linear, the gradients of all ``2^n`` routes sum to the full gradient.

    Routes are backpropagated from the loss gradient times ``2**64`` and the norms divided by
    it in float64 (linearity again; a power of two, so no rounding): a path through 45 of a
    trained ResNet-110's 54 branches has entries near 1e-36, and longer ones would fall below
    float32's smallest number (1.4e-45) and read exactly 0. The whole-network gradient of a
    badly classified batch stays below 1e31 times the scale, far from float32's 3.4e38.
    """

    SCALE = 2.0**64

    def __init__(self, model, x, y):
        check.paired_examples(x, y)
        self.units = residual_units(model)
        unit_index = {id(u): i for i, u in enumerate(self.units)}
        self._pullbacks = []  # (unit index or None, pullback(s)) in forward order
        h = keras.ops.convert_to_tensor(x)
        for layer in _chain(model):
            i = unit_index.get(id(layer))
            if i is None or not getattr(layer, "skip", True):  # not a unit, or a plain one
                h, pb = vjp(lambda a, layer=layer: layer(a, training=False), h, reusable=True)
                self._pullbacks.append((None, pb))
                continue
            s, pb_s = vjp(lambda a, u=layer: u.shortcut(a, training=False), h, reusable=True)
            r, pb_r = vjp(lambda a, u=layer: u.residual(a, training=False), h, reusable=True)
            h, pb_m = vjp(lambda sr, u=layer: u.merge(sr[0], sr[1]), (s, r), reusable=True)
            self._pullbacks.append((i, (pb_s, pb_r, pb_m)))
        self.output_gradient = _loss_grad(h, np.asarray(y))
        self._scaled_output = self.output_gradient * self.SCALE

    def input_gradient(self, route=None):
        """dE/dx along ``route`` (unit index -> "skip" | "branch"; others: both paths), in
        float32 (entries below 1.4e-45 are 0; :meth:`input_gradient_norm` keeps them)."""
        return self._backward(route) / self.SCALE

    def _backward(self, route):
        """The route's gradient times ``SCALE``."""
        route = route or {}
        g = self._scaled_output
        for i, pb in reversed(self._pullbacks):
            if i is None:
                (g,) = pb(g)
                continue
            pb_s, pb_r, pb_m = pb
            ((g_s, g_r),) = pb_m(g)
            kind = route.get(i)
            if kind == "skip":
                (g,) = pb_s(g_s)
            elif kind == "branch":
                (g,) = pb_r(g_r)
            else:
                (a,), (b,) = pb_s(g_s), pb_r(g_r)
                g = a + b
        return g

    def input_gradient_norm(self, route=None) -> np.ndarray:
        """Per-example L2 norm of :meth:`input_gradient`, exact where its float32 entries
        would underflow."""
        return _norms(self._backward(route)) / self.SCALE


def path_routes(units, k, rng, transitions=True) -> dict:
    """A random route through ``k`` units' branches and every other unit's skip (at a
    transition, its projection). ``transitions=False`` keeps the transitions out of the
    choice: they then always route through their projection."""
    candidates = [i for i, u in enumerate(units) if transitions or not u.is_transition]
    chosen = set(rng.choice(candidates, k, replace=False).tolist()) if k else set()
    return {i: "branch" if i in chosen else "skip" for i in range(len(units))}


def effective_range(lengths, weighted, mass=0.9) -> tuple[int, int]:
    """The smallest set of path lengths, taken largest contribution first, that holds
    ``mass`` of the total; returned as its (shortest, longest) length."""
    weighted = np.asarray(weighted, dtype=float)
    keep, total = [], 0.0
    for j in np.argsort(weighted)[::-1]:
        keep.append(lengths[j])
        total += weighted[j]
        if total >= mass * weighted.sum():
            break
    return int(min(keep)), int(max(keep))


def gradient_by_path_length(model, x, y, samples=20, lengths=None, seed=0,
                            transitions=True) -> dict:
    """Veit et al.'s path sampling: for each path length k, ``samples`` times choose k units
    whose gradient flows through the branch only, the rest through the skip only (at a
    transition, the projection), and record the norm of the gradient at the input. Veit et
    al. count paths over every unit, transitions included (54 in a ResNet-110, 2^54 paths);
    ``transitions=False`` leaves them out of the choice, always through their projection.

    Returns ``lengths``, ``mean_norm`` per k, ``weighted`` (mean norm x number of paths of
    that length, the total contribution) and ``effective_range`` (the lengths holding 90% of
    the weighted total).
    """
    from math import comb

    rng = np.random.default_rng(seed)
    units = residual_units(model)
    if any(not getattr(u, "skip", True) for u in units):
        raise ValueError("gradient_by_path_length needs skip connections; a plain network has "
                         "one path only")
    n = sum(transitions or not u.is_transition for u in units)
    lengths = list(range(n + 1)) if lengths is None else list(lengths)
    if any(not 0 <= k <= n for k in lengths):
        raise ValueError(f"path lengths must lie in 0..{n} (the units to choose from), "
                         f"got {lengths}")
    paths = PathGradients(model, x, y)
    means = []
    for k in lengths:
        norms = [np.mean(paths.input_gradient_norm(path_routes(units, k, rng, transitions)))
                 for _ in range(samples)]
        means.append(float(np.mean(norms)))
    weighted = [m * comb(n, k) for m, k in zip(means, lengths)]
    return {"lengths": lengths, "mean_norm": means, "weighted": weighted,
            "effective_range": effective_range(lengths, weighted), "units": n}
