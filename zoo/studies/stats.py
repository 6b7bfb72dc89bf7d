"""The statistics that decide "equal" or "better" for paired measurements.

Paired designs (the same setting trained as two architectures, or two architectures trained
from the same seeds) are compared by their per-pair differences: the Wilcoxon signed-rank
test for "is the median difference zero?", a bootstrap 95% interval for the mean difference
(how large a difference the data still allow), and the share of pairs in which the second
arm is lower.
"""

from __future__ import annotations

import numpy as np


def paired_difference(a, b, *, seed=0, resamples=9999, confidence=0.95) -> dict:
    """Statistics of ``b - a`` over pairs (``a``, ``b`` equally long, aligned by pair).

    Returns n, the mean and median difference, the bootstrap (BCa) interval of the mean
    difference, the two-sided Wilcoxon signed-rank p-value, and the share of pairs with
    ``b < a``. With fewer than two pairs the tests are undefined (NaN).
    """
    from scipy import stats

    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired samples must be 1-D and equally long, got {a.shape} and {b.shape}")
    d = b - a
    out = {"n": int(len(d)), "mean_diff": float(np.mean(d)) if len(d) else np.nan,
           "median_diff": float(np.median(d)) if len(d) else np.nan,
           "ci_low": np.nan, "ci_high": np.nan, "wilcoxon_p": np.nan,
           "share_b_lower": float(np.mean(d < 0)) if len(d) else np.nan}
    if len(d) < 2:
        return out
    if np.all(d == d[0]):  # no spread: the interval is the point itself, the test undefined
        out["ci_low"] = out["ci_high"] = float(d[0])
    else:
        ci = stats.bootstrap((d,), np.mean, confidence_level=confidence, n_resamples=resamples,
                             method="BCa", random_state=np.random.default_rng(seed))
        out["ci_low"], out["ci_high"] = (float(ci.confidence_interval.low),
                                         float(ci.confidence_interval.high))
    if np.any(d != 0):
        out["wilcoxon_p"] = float(stats.wilcoxon(d).pvalue)
    return out


def verdict(stat: dict, *, alpha=0.05) -> str:
    """One word from :func:`paired_difference`: which arm is lower, or no detectable difference."""
    if stat["n"] < 2 or not np.isfinite(stat["wilcoxon_p"]):
        return "undecided"
    if stat["wilcoxon_p"] >= alpha:
        return "no significant difference"
    return "b lower" if stat["median_diff"] < 0 else "a lower"
