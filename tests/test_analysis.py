"""Theory checks: the residual expansion, path counts, merge-and-run path lengths."""

from fractions import Fraction
from itertools import combinations

import numpy as np
import pytest

from zoo import analysis


def brute_force_terms(branches):
    """Order-j term by explicit enumeration of the ordered subsets (independent of the DP)."""
    d = branches[0].shape[0]
    terms = [np.zeros((d, d)) for _ in range(len(branches) + 1)]
    for j in range(len(branches) + 1):
        for subset in combinations(range(len(branches)), j):
            product = np.eye(d)
            for k in subset:  # later branches multiply on the left
                product = branches[k] @ product
            terms[j] += product
    return terms


def test_expansion_sums_to_product_and_matches_enumeration():
    rng = np.random.default_rng(0)
    branches = [rng.normal(scale=0.3, size=(5, 5)) for _ in range(6)]
    terms = analysis.expansion_by_order(branches)
    assert len(terms) == 7
    np.testing.assert_allclose(sum(terms), analysis.residual_product(branches), atol=1e-10)
    for a, b in zip(terms, brute_force_terms(branches)):
        np.testing.assert_allclose(a, b, atol=1e-12)
    np.testing.assert_allclose(terms[1], sum(branches), atol=1e-12)  # the parallel layer


def test_truncation_error_falls_with_order_and_branch_norm():
    rng = np.random.default_rng(1)
    base = [rng.normal(size=(4, 4)) / 4 for _ in range(5)]
    for scale in (0.05, 0.5):
        errors = analysis.truncation_errors([scale * f for f in base])
        assert errors[-1] < 1e-12  # order L is exact
        assert all(a >= b - 1e-15 for a, b in zip(errors, errors[1:]))
    small = analysis.truncation_errors([0.05 * f for f in base])
    large = analysis.truncation_errors([0.5 * f for f in base])
    # order-1 error is second order in the branch norm: 10x smaller branches, ~100x smaller error
    assert 50 < large[1] / small[1] < 200


def test_path_length_distribution_of_54_units():
    dist = analysis.path_length_distribution(54)
    assert sum(dist["counts"]) == 2**54
    assert dist["probability"].sum() == pytest.approx(1)
    within = dist["probability"][19:36].sum()
    assert within > 0.95  # Veit et al.: >95% of the paths have 19-35 units
    lo, hi = analysis.central_range(54, 0.95)
    assert 19 <= lo and hi <= 35


def test_dmrnet_average_path_lengths_are_computed():
    lengths = analysis.block_path_lengths(branch_layers=2)
    assert Fraction(lengths["stacked"]).limit_denominator(100) == 2
    assert Fraction(lengths["inception_like"]).limit_denominator(100) == Fraction(4, 3)
    assert Fraction(lengths["merge_and_run"]).limit_denominator(100) == Fraction(2, 3)


def test_bad_arguments():
    with pytest.raises(ValueError, match="n must be a positive integer, got 0"):
        analysis.path_length_distribution(0)
    with pytest.raises(ValueError, match=r"every branch must be a square matrix of shape \(3, 3\)"):
        analysis.expansion_by_order([np.eye(3), np.eye(2)])
