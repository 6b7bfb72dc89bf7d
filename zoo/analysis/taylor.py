"""The Taylor-like expansion of a residual stack (Bermeitinger et al., KDIR 2023).

For linear branches F_1..F_L, ``(I + F_L) ... (I + F_1) = sum over ordered subsets of the
products of their branches``; the order-j term collects the products of exactly j branches.
Order 1 gives the parallel layer ``I + sum_k F_k``; order L gives back the whole product.
"""

from __future__ import annotations

import numpy as np


def expansion_by_order(branches) -> list[np.ndarray]:
    """``terms[j]`` = sum of all products ``F_{s_j} ... F_{s_1}`` with ``s_1 < ... < s_j``.

    Built one branch at a time: appending ``F_k`` on the left either leaves a term as it is
    (skip) or multiplies it in (branch), so ``T_j <- T_j + F_k T_{j-1}`` -- L^2 products
    instead of 2^L.
    """
    branches = [np.asarray(f, dtype=np.float64) for f in branches]
    if not branches:
        raise ValueError("branches must hold at least one matrix")
    d = branches[0].shape[0]
    if any(f.shape != (d, d) for f in branches):
        raise ValueError(f"every branch must be a square matrix of shape ({d}, {d})")
    terms = [np.eye(d)] + [np.zeros((d, d)) for _ in branches]
    for k, f in enumerate(branches, start=1):
        for j in range(k, 0, -1):  # descending: T_{j-1} is still the old value
            terms[j] = terms[j] + f @ terms[j - 1]
    return terms


def residual_product(branches) -> np.ndarray:
    """``(I + F_L) ... (I + F_1)``: the sequential stack as one matrix."""
    d = np.asarray(branches[0]).shape[0]
    out = np.eye(d)
    for f in branches:
        out = (np.eye(d) + np.asarray(f, dtype=np.float64)) @ out
    return out


def truncation_errors(branches, norm="fro") -> list[float]:
    """``errors[k]`` = ||product - sum of the terms of order <= k||, for k = 0..L."""
    terms = expansion_by_order(branches)
    product = residual_product(branches)
    partial = np.zeros_like(product)
    errors = []
    for term in terms:
        partial = partial + term
        errors.append(float(np.linalg.norm(product - partial, norm)))
    return errors
