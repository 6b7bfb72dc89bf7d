"""Claims as data: what a paper says, how we judge it, and the verdict the numbers give.

A study declares its claims up front (:class:`Claim`: the paper's figure or table, its numbers,
the kind of claim, the measurement it is judged on, alpha and, for an equivalence, the margin
and why). After the runs it hands one :class:`Measurement` per claim to :func:`judge`, which
returns one row per claim with the test, n, estimate, interval, raw and Holm-adjusted p and a
verdict from a closed vocabulary:

- ``reproduced``: the paper's direction, significant after Holm's correction over every test
  of the study; for an equivalence, both one-sided tests (TOST) pass within the margin; for a
  monotone trend, the overall change is significant in the paper's direction *and* no step
  reverses by more than twice its standard error;
- ``contradicted``: significant in the opposite direction; for an equivalence, significantly
  outside the margin (one-sided test against the nearer bound, Bonferroni over the study's
  tests); for a monotone trend, a step that reverses by more than its critical value
  (Bonferroni over the series' steps: z at 1 - alpha / (2 x steps), times the step's SE);
- ``inconclusive``: neither; the row then carries, at 80% power and the Bonferroni level
  alpha / tests (where Holm's correction starts), the smallest difference the sample could
  detect (difference, monotone) or the smallest margin TOST could confirm if the true
  difference were 0 (equivalence, range);
- ``not tested``: with the reason (no data for it at this budget, or too little to test).

The family for Holm's correction is every claim the budget can test: the tested ones and those
still waiting for data (``Measurement.pending``, counted with p = 1), so a verdict does not
become easier as a resumable study fills; claims the budget cannot test at all stay out.

There is no "partly": a claim with several parts is several claims, each with its verdict.

The tests are paired or one-sample t-tests (scipy), TOST (statsmodels ``ttost_paired``),
Holm's step-down correction (statsmodels ``multipletests``) and power (statsmodels
``TTestPower``). Differences are always *b - a* (the second arm minus the first), so a claim's
``direction`` says which sign the paper predicts.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

VERDICTS = ("reproduced", "contradicted", "inconclusive", "not tested")
KINDS = ("difference", "equivalence", "monotone", "range")
POWER = 0.8


@dataclass(frozen=True)
class Claim:
    """One statement of a paper, declared before the numbers are looked at.

    kind:
        ``difference``: the mean of ``b - a`` (or of one sample) has the sign ``direction``
        (+1: b larger, -1: b smaller);
        ``equivalence``: the mean of ``b - a`` lies within ``(-margin, +margin)``;
        ``range``: the mean of one sample lies within ``(low, high)``;
        ``monotone``: a series of means moves in ``direction`` from first to last without a
        step back larger than twice that step's standard error.
    """

    id: str
    source: str  # the paper's figure or table
    statement: str  # the claim in words, as the table prints it
    paper: str  # the paper's numbers, as text
    kind: str
    measure: str  # what is measured, and in which units
    direction: int = 0  # difference / monotone: +1 or -1
    margin: float | None = None  # equivalence: symmetric bound
    low: float | None = None  # range: bounds
    high: float | None = None
    margin_reason: str = ""  # why this margin (from the paper's own effect sizes)
    paper_effect: float | None = None  # the paper's effect on the measure's scale
    alpha: float = 0.05
    group: str = ""  # a table section (dataset, cell, ...)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"claim kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if self.kind in ("difference", "monotone") and self.direction not in (-1, 1):
            raise ValueError(f"claim {self.id}: a {self.kind} claim needs direction +1 or -1")
        if self.kind == "equivalence" and not (self.margin and self.margin > 0):
            raise ValueError(f"claim {self.id}: an equivalence claim needs a positive margin")
        if self.kind == "range" and not (self.low is not None and self.high is not None
                                         and self.low < self.high):
            raise ValueError(f"claim {self.id}: a range claim needs low < high")
        if not 0 < self.alpha < 1:
            raise ValueError(f"claim {self.id}: alpha must be in (0, 1), got {self.alpha}")


@dataclass
class Measurement:
    """What a claim is judged on. ``a``/``b``: paired samples (``b - a`` is tested);
    ``values``: one sample; ``means``/``ses``: a series (monotone claims).
    ``not_tested``: the reason there is nothing to judge."""

    a: list | None = None
    b: list | None = None
    values: list | None = None
    means: list | None = None
    ses: list | None = None
    not_tested: str | None = None
    pending: bool = False  # not tested *yet*: the budget will measure it (counts for Holm)
    note: str = ""
    extra: dict = field(default_factory=dict)

    def sample(self) -> np.ndarray | None:
        if self.values is not None:
            return np.asarray(self.values, dtype=float)
        if self.a is not None and self.b is not None:
            a, b = np.asarray(self.a, float), np.asarray(self.b, float)
            if a.shape != b.shape:
                raise ValueError(f"paired samples differ in length: {len(a)} and {len(b)}")
            return b - a
        return None


def _t_test(d: np.ndarray) -> tuple[float, float, float, float]:
    """Mean, two-sided p and the 95% interval of the mean of ``d`` (t distribution)."""
    from scipy import stats

    n, mean = len(d), float(np.mean(d))
    sd = float(np.std(d, ddof=1))
    if sd == 0:
        p = 1.0 if mean == 0 else 0.0
        return mean, p, mean, mean
    se = sd / math.sqrt(n)
    t = mean / se
    p = float(2 * stats.t.sf(abs(t), n - 1))
    half = float(stats.t.ppf(0.975, n - 1)) * se
    return mean, p, mean - half, mean + half


def _tost(d: np.ndarray, low: float, high: float) -> tuple[float, float]:
    """TOST p (the larger one-sided p) that mean(d) lies in (low, high), and the p that it
    lies outside, beyond the nearer bound (the smaller of the two opposite one-sided p)."""
    from statsmodels.stats.weightstats import ttost_paired

    if np.std(d) == 0:  # no spread: the point decides
        inside = low < float(d[0]) < high
        return (0.0, 1.0) if inside else (1.0, 0.0)
    p, (_, p_low, _), (_, p_high, _) = ttost_paired(d, np.zeros_like(d), low, high)
    # p_low tests mean > low, p_high tests mean < high; their complements test the outside
    return float(p), float(min(1 - p_low, 1 - p_high))


def detectable(sd: float, n: int, alpha: float) -> float:
    """The smallest mean difference a two-sided one-sample t-test of ``n`` values with this
    ``sd`` detects with 80% power at ``alpha``."""
    from statsmodels.stats.power import TTestPower

    if n < 2 or not np.isfinite(sd) or sd == 0:
        return float("nan")
    effect = TTestPower().solve_power(effect_size=None, nobs=n, alpha=alpha, power=POWER,
                                      alternative="two-sided")
    return float(np.ravel(effect)[0]) * sd  # statsmodels may hand back a 1-element array


def confirmable_margin(sd: float, n: int, alpha: float) -> float:
    """The smallest symmetric margin that TOST on ``n`` values with this ``sd`` confirms with
    about 80% power when the true mean difference is 0 (each one-sided test at ``alpha``):
    (t(1 - alpha) + t(1 - (1 - power) / 2)) standard errors."""
    from scipy import stats

    if n < 2 or not np.isfinite(sd) or sd == 0:
        return float("nan")
    q = stats.t.ppf(1 - alpha, n - 1) + stats.t.ppf(1 - (1 - POWER) / 2, n - 1)
    return float(q * sd / math.sqrt(n))


def _row(claim: Claim, m: Measurement) -> dict:
    row = {**{k: v for k, v in asdict(claim).items()}, "n": 0, "test": "", "estimate": np.nan,
           "ci_low": np.nan, "ci_high": np.nan, "p": np.nan, "p_out": np.nan, "sd": np.nan,
           "reversals": None, "note": m.note, "reason": ""}
    row.update(m.extra)
    if m.not_tested:
        row["reason"] = m.not_tested
        return row
    if claim.kind == "monotone":
        means, ses = np.asarray(m.means, float), np.asarray(m.ses, float)
        keep = np.isfinite(means) & np.isfinite(ses)  # a point of one draw has no SE
        dropped = int((~keep).sum())
        means, ses = means[keep], ses[keep]
        if dropped:
            row["note"] = (row["note"] + "; " if row["note"] else "") + \
                f"{dropped} point(s) without a standard error left out"
        if len(means) < 2:
            row["reason"] = "fewer than two points in the series"
            return row
        from scipy import stats as _stats

        steps = np.diff(means) * claim.direction
        step_se = np.sqrt(ses[1:] ** 2 + ses[:-1] ** 2)
        critical = float(_stats.norm.ppf(1 - claim.alpha / (2 * len(steps))))
        row["critical_z"] = critical
        row["reversals"] = int(np.sum(steps < 0))
        row["large_reversals"] = int(np.sum(steps < -critical * step_se))
        total = float(means[-1] - means[0])
        se = float(math.hypot(ses[0], ses[-1]))
        from scipy import stats

        row.update(n=len(means), test="z (last - first); reversals vs Bonferroni z", estimate=total,
                   ci_low=total - 1.96 * se, ci_high=total + 1.96 * se,
                   p=float(2 * stats.norm.sf(abs(total) / se)) if se > 0 else float(total == 0),
                   sd=se)
        return row
    d = m.sample()
    if d is not None and not np.isfinite(d).all():
        row["note"] = (row["note"] + "; " if row["note"] else "") + \
            f"{int((~np.isfinite(d)).sum())} non-finite value(s) left out"
        d = d[np.isfinite(d)]
    if d is None or len(d) < 2:
        row["n"] = 0 if d is None else len(d)
        row["reason"] = f"{row['n']} measurement(s): too few to test"
        return row
    mean, p, lo, hi = _t_test(d)
    row.update(n=len(d), estimate=mean, ci_low=lo, ci_high=hi, sd=float(np.std(d, ddof=1)))
    if claim.kind == "difference":
        row.update(test="paired t" if m.values is None else "one-sample t", p=p)
    else:
        low, high = (-claim.margin, claim.margin) if claim.kind == "equivalence" else \
            (claim.low, claim.high)
        p_in, p_out = _tost(d, low, high)
        row.update(test="TOST (paired t)" if m.values is None else "TOST (one-sample t)",
                   p=p_in, p_out=p_out)
    return row


def judge(claims: list[Claim], measurements: dict) -> list[dict]:
    """One row per claim (in order) with its statistics and verdict; Holm's correction runs
    over every claim that was tested. ``measurements`` maps claim id -> Measurement."""
    from statsmodels.stats.multitest import multipletests

    ids = [c.id for c in claims]
    if len(set(ids)) != len(ids):
        raise ValueError("claim ids must be unique")
    missing = [i for i in ids if i not in measurements]
    if missing:
        raise ValueError(f"no measurement for claim(s) {', '.join(missing)}")
    rows = [_row(c, measurements[c.id]) for c in claims]
    tested = [i for i, r in enumerate(rows) if not r["reason"] and np.isfinite(r["p"])]
    waiting = sum(1 for c, r in zip(claims, rows)
                  if r["reason"] and measurements[c.id].pending)
    m = len(tested) + waiting
    for r in rows:
        r["tests_in_family"] = m
    if tested:  # the claims still waiting for data enter with p = 1
        adjusted = multipletests([rows[i]["p"] for i in tested] + [1.0] * waiting,
                                 method="holm")[1]
        for i, p in zip(tested, adjusted):
            rows[i]["p_holm"] = float(p)
    for claim, r in zip(claims, rows):
        r.setdefault("p_holm", np.nan)
        r["verdict"], r["mde"] = _verdict(claim, r, m)
    return rows


def _verdict(claim: Claim, r: dict, m: int) -> tuple[str, float]:
    if r["reason"]:
        return "not tested", np.nan
    alpha = claim.alpha
    level = alpha / max(m, 1)
    if claim.kind == "monotone":  # z-test of last - first: z(1 - level/2) + z(0.8) SEs
        from scipy import stats

        mde = float((stats.norm.ppf(1 - level / 2) + stats.norm.ppf(POWER)) * r["sd"])
    elif claim.kind == "difference":
        mde = detectable(r["sd"], r["n"], level)
    else:
        mde = confirmable_margin(r["sd"], r["n"], level)
    significant = r["p_holm"] < alpha
    if claim.kind == "difference":
        if significant:
            same = np.sign(r["estimate"]) == claim.direction
            return ("reproduced" if same else "contradicted"), np.nan
        return "inconclusive", mde
    if claim.kind in ("equivalence", "range"):
        if significant:
            return "reproduced", np.nan
        if min(1.0, r["p_out"] * max(m, 1)) < alpha:
            return "contradicted", np.nan
        return "inconclusive", mde
    # monotone
    if r["large_reversals"]:
        return "contradicted", np.nan
    if significant:
        return ("reproduced" if np.sign(r["estimate"]) == claim.direction
                else "contradicted"), np.nan
    return "inconclusive", mde


# ---------------------------------------------------------------------------------------
# rendering: the one place a verdict table is written, for reports, notebooks and README


TABLE_COLUMNS = ("id", "source", "statement", "paper", "n", "estimate", "ci", "p", "p_holm",
                 "bound", "verdict")


def _finite(v) -> bool:
    """A number that is not NaN (summary.json stores NaN as null)."""
    return v is not None and np.isfinite(v)


def _fmt(v, spec="{:.3g}") -> str:
    return spec.format(v) if _finite(v) else ""


def table_rows(rows: list[dict]) -> list[dict]:
    """The verdict table's cells as strings: the estimate with its 95% interval, p raw and
    Holm-adjusted, the margin (equivalence), the smallest detectable effect beside the
    paper's (inconclusive) or the reason (not tested)."""
    out = []
    for r in rows:
        if r["kind"] == "equivalence":
            bound = f"margin ±{_fmt(r['margin'])}"
        elif r["kind"] == "range":
            bound = f"range [{_fmt(r['low'])}, {_fmt(r['high'])}]"
        elif r["kind"] == "monotone":
            bound = (f"{r.get('large_reversals', 0)} of {r.get('reversals', 0)} reversals "
                     f"> {r.get('critical_z', 2):.2g} SE" if r.get("reversals") is not None
                     else "")
        else:
            bound = ""
        if r["verdict"] == "inconclusive" and _finite(r.get("mde")):
            what = "detectable" if r["kind"] in ("difference", "monotone") else \
                "confirmable margin"
            bound = (bound + "; " if bound else "") + f"{what} ±{_fmt(r['mde'])}" + (
                f" (paper {_fmt(r['paper_effect'])})" if r.get("paper_effect") is not None
                else "")
        if r["verdict"] == "not tested":
            bound = r["reason"]
        ci = f"[{_fmt(r['ci_low'])}, {_fmt(r['ci_high'])}]" if _finite(r.get("ci_low")) else ""
        out.append({"id": r["id"], "source": r["source"], "statement": r["statement"],
                    "paper": r["paper"], "n": str(r["n"]) if r["n"] else "",
                    "estimate": _fmt(r["estimate"], "{:+.3g}"), "ci": ci,
                    "p": _fmt(r["p"], "{:.2g}"), "p_holm": _fmt(r["p_holm"], "{:.2g}"),
                    "bound": bound, "verdict": r["verdict"]})
    return out


def markdown(rows: list[dict], group=None) -> str:
    """A Markdown verdict table of ``rows`` (those of ``group`` if given)."""
    rows = [r for r in rows if group is None or r.get("group") == group]
    cells = table_rows(rows)
    head = ["claim", "paper's source", "statement", "paper", "n", "ours (95% CI)", "p",
            "p (Holm)", "margin / detectable / reason", "verdict"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for c in cells:
        ours = f"{c['estimate']} {c['ci']}".strip()
        lines.append("| " + " | ".join(
            s.replace("|", "/") for s in (c["id"], c["source"], c["statement"], c["paper"],
                                          c["n"], ours, c["p"], c["p_holm"], c["bound"],
                                          f"**{c['verdict']}**")) + " |")
    return "\n".join(lines)


def lines(rows: list[dict]) -> list[str]:
    """One short line per claim (``zoo reproduce`` prints them): id, verdict, the estimate
    with its interval and the Holm-adjusted p, or the reason it was not tested."""
    out = []
    for c in table_rows(rows):
        if c["verdict"] == "not tested":
            out.append(f"{c['id']}: not tested ({c['bound']})")
            continue
        out.append(f"{c['id']}: {c['verdict']} (n = {c['n']}, {c['estimate']} {c['ci']}, "
                   f"p Holm {c['p_holm']})")
    return out


def counts(rows: list[dict]) -> dict:
    """Verdict -> number of claims."""
    return {v: sum(r["verdict"] == v for r in rows) for v in VERDICTS}


def jsonable(rows: list[dict]) -> list[dict]:
    """Rows with NaN as None, for summary.json."""
    def clean(v):
        if isinstance(v, float) and not np.isfinite(v):
            return None
        if isinstance(v, np.generic):
            return v.item()
        return v
    return [{k: clean(v) for k, v in r.items()} for r in rows]


LEGEND = (
    "Verdicts come from one rule (zoo/studies/claims.py), declared before the numbers: "
    "**reproduced** = the paper's direction, significant after Holm's correction over all the "
    "study's tests (an equivalence or range: both one-sided tests pass within the bound; a "
    "monotone trend: the overall change is significant and no step reverses by more than its "
    "critical value, Bonferroni over the steps); **contradicted** = significant the other way "
    "(or outside the bound, or a reversal larger than that); **inconclusive** = neither, with "
    "the smallest difference the sample could detect (or the smallest margin it could "
    "confirm) at 80% power; **not tested** = with the reason. Holm's family counts the claims "
    "still waiting for data (p = 1).")


def study_block(study: str, summary: dict) -> str:
    """The generated Markdown a notebook or the README shows for a study: the rule, the
    verdict counts, the study's own line on its sample where it writes one, and the table."""
    rows = summary.get("claims", [])
    tally = ", ".join(f"{n} {v}" for v, n in counts(rows).items() if n)
    sample = f" {summary['sample']}" if summary.get("sample") else ""
    return (f"{LEGEND}\n\n`{study}` ({summary.get('budget', '?')} budget): {len(rows)} claims, "
            f"{tally}.{sample}\n\n{markdown(rows)}")


def _marker(study, end=False) -> str:
    return f"<!-- {'/' if end else ''}verdicts:{study} -->"


def update_readme(path, results: dict, root=None) -> bool:
    """Rewrite every ``<!-- verdicts:STUDY -->`` ... ``<!-- /verdicts:STUDY -->`` block of
    ``path`` from the study's committed summary.json (``results``: study -> its folder,
    relative to ``root``, by default the README's folder); True if anything changed."""
    import json
    from pathlib import Path

    path = Path(path)
    root = Path(root) if root is not None else path.parent
    text = original = path.read_text()
    for study, folder in results.items():
        start, end = _marker(study), _marker(study, end=True)
        if start not in text:
            continue
        if end not in text:
            raise ValueError(f"{path}: {start} has no closing {end}")
        summary = json.loads((root / folder / "summary.json").read_text())
        head, rest = text.split(start, 1)
        _, tail = rest.split(end, 1)
        text = f"{head}{start}\n{study_block(study, summary)}\n{end}{tail}"
    if text != original:
        path.write_text(text)
    return text != original
