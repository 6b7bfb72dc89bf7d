"""The verdict rule (zoo/studies/claims.py) on hand-made cases: every kind, every outcome."""

import numpy as np
import pytest

from zoo.studies.claims import VERDICTS, Claim, Measurement, counts, judge, markdown


def _one(claim, measurement, family=()):
    """The verdict row of ``claim`` judged together with ``family`` (other claims, tested)."""
    claims = [claim, *[c for c, _ in family]]
    measurements = {claim.id: measurement, **{c.id: m for c, m in family}}
    return judge(claims, measurements)[0]


def diff(direction=1, **kw):
    return Claim("c", "Table 1", "b beats a", "4.9 vs 6.4", "difference", "error (%)",
                 direction=direction, **kw)


RNG = np.random.default_rng(7)
A = RNG.normal(0, 1, 12)
SHIFTED = A + 1 + RNG.normal(0, 0.2, 12)  # b - a about +1, clearly significant
NOISE = A + RNG.normal(0, 1, 12)  # b - a about 0


def test_difference_reproduced_contradicted_inconclusive():
    assert _one(diff(+1), Measurement(a=A, b=SHIFTED))["verdict"] == "reproduced"
    assert _one(diff(-1), Measurement(a=A, b=SHIFTED))["verdict"] == "contradicted"
    row = _one(diff(+1, paper_effect=1.5), Measurement(a=A, b=NOISE))
    assert row["verdict"] == "inconclusive"
    # the smallest detectable effect: 80% power, two-sided t at alpha (one test in the family)
    from statsmodels.stats.power import TTestPower

    d = NOISE - A
    expected = TTestPower().solve_power(nobs=12, alpha=0.05, power=0.8) * np.std(d, ddof=1)
    assert row["mde"] == pytest.approx(expected)
    assert "detectable" in markdown([row]) and "(paper 1.5)" in markdown([row])


def test_difference_p_value_is_scipy_paired_t():
    from scipy import stats

    row = _one(diff(+1), Measurement(a=A, b=NOISE))
    assert row["p"] == pytest.approx(stats.ttest_rel(NOISE, A).pvalue)
    assert row["n"] == 12 and row["test"] == "paired t"


def test_holm_correction_turns_a_lone_significance_inconclusive():
    """p ~ 0.02 passes alone, but not as the smallest of five tests (Holm: 5 x p)."""
    d = np.array([0.9, 1.2, -0.3, 0.8, 1.1, 0.2, 0.6, -0.1])
    from scipy import stats

    p = stats.ttest_1samp(d, 0).pvalue
    assert 0.01 < p < 0.05
    claim = diff(+1)
    assert _one(claim, Measurement(values=d))["verdict"] == "reproduced"
    others = [(Claim(f"o{i}", "T", "x", "x", "difference", "m", direction=1),
               Measurement(values=RNG.normal(0, 1, 8))) for i in range(4)]
    row = _one(claim, Measurement(values=d), others)
    assert row["p_holm"] >= min(1.0, 4 * p)  # Holm multiplies the k-th smallest by 5 - k + 1
    assert row["verdict"] == "inconclusive" and row["tests_in_family"] == 5


def test_equivalence_tost_reproduced_contradicted_inconclusive():
    eq = Claim("e", "Table 2", "similar", "0.052 vs 0.076", "equivalence", "log ratio",
               margin=0.1, margin_reason="paper's largest Q>=1 difference")
    tight = RNG.normal(0.0, 0.03, 20)
    assert _one(eq, Measurement(values=tight))["verdict"] == "reproduced"
    far = RNG.normal(0.5, 0.03, 20)
    assert _one(eq, Measurement(values=far))["verdict"] == "contradicted"
    wide = RNG.normal(0.0, 0.5, 4)
    assert _one(eq, Measurement(values=wide))["verdict"] == "inconclusive"
    # TOST p is statsmodels' ttost_paired against the margin
    from statsmodels.stats.weightstats import ttost_paired

    p = ttost_paired(tight, np.zeros(20), -0.1, 0.1)[0]
    assert _one(eq, Measurement(values=tight))["p"] == pytest.approx(p)


def test_range_claim():
    r = Claim("r", "Fig. 3", "ratio near one", "1.0", "range", "ratio", low=0.9, high=1.1)
    assert _one(r, Measurement(values=RNG.normal(1.0, 0.01, 10)))["verdict"] == "reproduced"
    assert _one(r, Measurement(values=RNG.normal(2.0, 0.01, 10)))["verdict"] == "contradicted"
    assert _one(r, Measurement(values=[0.5, 1.5, 1.0]))["verdict"] == "inconclusive"


def test_monotone_definition_is_reversals_beyond_a_bonferroni_critical_value():
    m = Claim("m", "Fig. 5", "accuracy falls as more units are deleted", "smooth",
              "monotone", "accuracy", direction=-1)
    assert _one(m, Measurement(means=[0.9, 0.8, 0.7, 0.5], ses=[0.01] * 4))["verdict"] == \
        "reproduced"
    # a small reversal (0.01 < z(1 - 0.05 / 6) x sqrt(2) x 0.01 = 0.034) is allowed ...
    row = _one(m, Measurement(means=[0.9, 0.8, 0.81, 0.5], ses=[0.01] * 4))
    assert (row["verdict"], row["reversals"], row["large_reversals"]) == ("reproduced", 1, 0)
    # ... a large one is not
    row = _one(m, Measurement(means=[0.9, 0.6, 0.8, 0.5], ses=[0.01] * 4))
    assert (row["verdict"], row["large_reversals"]) == ("contradicted", 1)
    from scipy import stats

    assert row["critical_z"] == pytest.approx(stats.norm.ppf(1 - 0.05 / 6))
    # a reversal of 2.2 step SEs is noise over 3 steps (critical z 2.39)
    row = _one(m, Measurement(means=[0.9, 0.8, 0.8 + 2.2 * 0.01 * 2 ** 0.5, 0.5],
                              ses=[0.01] * 4))
    assert row["large_reversals"] == 0
    # a point without a standard error (one draw) is left out, and said so
    row = _one(m, Measurement(means=[0.9, 0.95, 0.7, 0.5], ses=[0.01, float("nan"), 0.01,
                                                                 0.01]))
    assert row["n"] == 3 and "without a standard error" in row["note"]
    assert _one(m, Measurement(means=[0.9, 0.9, 0.9], ses=[0.1] * 3))["verdict"] == \
        "inconclusive"


def test_not_tested_carries_its_reason_and_stays_out_of_the_family():
    rows = judge([diff(+1), Claim("x", "T", "s", "p", "difference", "m", direction=1)],
                 {"c": Measurement(a=A, b=SHIFTED),
                  "x": Measurement(not_tested="needs CIFAR-10 (not on this machine)")})
    assert rows[1]["verdict"] == "not tested" and "CIFAR-10" in rows[1]["reason"]
    assert rows[0]["tests_in_family"] == 1
    assert _one(diff(+1), Measurement(values=[1.0]))["verdict"] == "not tested"
    assert counts(rows) == {"reproduced": 1, "contradicted": 0, "inconclusive": 0,
                            "not tested": 1}


def test_every_verdict_is_from_the_closed_vocabulary_and_claims_are_checked():
    assert VERDICTS == ("reproduced", "contradicted", "inconclusive", "not tested")
    with pytest.raises(ValueError, match="kind must be one of"):
        Claim("k", "T", "s", "p", "partly", "m")
    with pytest.raises(ValueError, match="needs a positive margin"):
        Claim("k", "T", "s", "p", "equivalence", "m")
    with pytest.raises(ValueError, match="direction"):
        Claim("k", "T", "s", "p", "difference", "m")
    with pytest.raises(ValueError, match="no measurement for claim"):
        judge([diff(+1)], {})


def test_rows_read_back_from_summary_json_render_the_same():
    """summary.json stores NaN as null: the table and the lines render from either."""
    import json

    from zoo.studies.claims import jsonable, lines

    rows = judge([diff(+1), Claim("x", "T", "s", "p", "difference", "m", direction=1)],
                 {"c": Measurement(a=A, b=NOISE), "x": Measurement(not_tested="no data")})
    back = json.loads(json.dumps(jsonable(rows)))
    assert markdown(back) == markdown(rows)
    assert lines(back) == lines(rows) and lines(back)[1] == "x: not tested (no data)"


def test_holm_family_counts_claims_waiting_for_data_but_not_those_out_of_budget():
    d = np.array([0.9, 1.2, 0.3, 0.8, 1.1, 0.2, 0.6, 0.4])
    claims = [diff(+1), Claim("w", "T", "s", "p", "difference", "m", direction=1),
              Claim("x", "T", "s", "p", "difference", "m", direction=1)]
    rows = judge(claims, {"c": Measurement(values=d),
                          "w": Measurement(not_tested="runs pending", pending=True),
                          "x": Measurement(not_tested="needs the gpu budget")})
    assert rows[0]["tests_in_family"] == 2
    assert rows[0]["p_holm"] == pytest.approx(min(1, 2 * rows[0]["p"]))


def test_inconclusive_equivalence_reports_the_margin_tost_could_confirm():
    from scipy import stats

    eq = Claim("e", "T", "similar", "p", "equivalence", "log ratio", margin=0.1)
    values = RNG.normal(0.0, 0.5, 6)
    row = _one(eq, Measurement(values=values))
    assert row["verdict"] == "inconclusive"
    sd = np.std(values, ddof=1)
    q = stats.t.ppf(0.95, 5) + stats.t.ppf(0.9, 5)
    assert row["mde"] == pytest.approx(q * sd / np.sqrt(6))
    assert "confirmable margin" in markdown([row])
    # and the confirmed margin really is what TOST needs: at that margin and mean 0, p < alpha
    from statsmodels.stats.weightstats import ttost_paired

    centred = values - values.mean()
    assert ttost_paired(centred, np.zeros(6), -row["mde"] * 1.01, row["mde"] * 1.01)[0] < 0.05
