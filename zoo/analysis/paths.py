"""Counting paths through residual networks (Veit et al.; Zhao, Wang et al.).

A network is unravelled into the paths from input to output that pick, at every residual
unit, either the skip (length 0) or the branch (its number of layers).
"""

from __future__ import annotations

from math import comb

import numpy as np


def path_length_distribution(n: int) -> dict:
    """The 2^n paths of n residual units by length k (units whose branch the path takes):
    ``counts[k] = C(n, k)``, ``probability[k] = C(n, k) / 2^n`` (Binomial(n, 1/2))."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    counts = np.array([comb(n, k) for k in range(n + 1)], dtype=object)
    return {"length": np.arange(n + 1), "counts": counts,
            "probability": np.array([c / 2**n for c in counts], dtype=np.float64)}


def central_range(n: int, mass: float = 0.95) -> tuple[int, int]:
    """The narrowest symmetric range of path lengths holding at least ``mass`` of the paths."""
    p = path_length_distribution(n)["probability"]
    centre = n / 2
    for half in range(n + 1):
        lo, hi = int(np.ceil(centre - half)), int(np.floor(centre + half))
        lo, hi = max(lo, 0), min(hi, n)
        if p[lo : hi + 1].sum() >= mass:
            return lo, hi
    return 0, n


def enumerate_paths(edges, sources, sink) -> list[int]:
    """Lengths of all paths from any of ``sources`` to ``sink`` in a DAG given as
    ``(from, to, length)`` edges (parallel edges allowed)."""
    out = {}
    for a, b, length in edges:
        out.setdefault(a, []).append((b, length))

    def walk(node):
        if node == sink:
            return [0]
        return [length + rest for nxt, length in out.get(node, []) for rest in walk(nxt)]

    return [length for s in sources for length in walk(s)]


def average_path_length(edges, sources, sink) -> float:
    lengths = enumerate_paths(edges, sources, sink)
    return sum(lengths) / len(lengths)


def block_path_lengths(branch_layers: int = 2) -> dict:
    """Average path length (in layers) of the three ways DMRNet compares to build a module
    from two residual branches of ``branch_layers`` layers each (Zhao, Wang et al., §3):

    - ``stacked``: two residual blocks in sequence, x -> x + H(x) -> . + G(.);
    - ``inception_like``: x + H(x) + G(x);
    - ``merge_and_run``: two streams, x' = (x + y)/2 + H(x), paths from both inputs to x'.
    """
    L = branch_layers
    stacked = [("in", "mid", 0), ("in", "mid", L), ("mid", "out", 0), ("mid", "out", L)]
    inception = [("in", "out", 0), ("in", "out", L), ("in", "out", L)]
    merge_run = [("x", "out", 0), ("y", "out", 0), ("x", "out", L)]
    return {
        "stacked": average_path_length(stacked, ["in"], "out"),
        "inception_like": average_path_length(inception, ["in"], "out"),
        "merge_and_run": average_path_length(merge_run, ["x", "y"], "out"),
    }
