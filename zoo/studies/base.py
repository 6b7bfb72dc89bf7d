"""The contract every study module keeps, written down once, and the parts they share.

``zoo reproduce NAME`` imports the study's module and relies on these names; the runner checks
them when it loads a study (:func:`problems`), and ``tests/test_studies.py`` checks all four.
A study module imports Keras (TensorFlow, JAX, matplotlib) only inside its
functions: ``zoo reproduce --list`` imports every study and stays light
(``tests/test_cli.py`` checks that it loads no Keras).
A study module is a declarative description plus four functions:

- ``NAME`` (the name ``zoo reproduce`` knows it by, which is also its module's and its
  results folder's: ``results/NAME/BUDGET/``), ``TITLE`` (the paper, in a line), ``CLAIM``
  (what the paper says, in words), ``NOTEBOOK`` (the notebook in ``notebooks/`` that
  explains its committed results);
- ``BUDGETS``: ``{"smoke": ..., "cpu": ..., "gpu": ...}``, each a frozen dataclass derived
  from :class:`Budget` saying what to train, on what (a ``datasets`` field: a tuple of
  dataset names, one folder each in the results), for how long, with how many seeds or
  pairs, with a ``describe()`` line;
- ``run(budget, out, *, time_limit=None, stream=None) -> bool``: given a budget object and
  the results folder (a ``Path``), train and measure whatever is not yet in ``out`` (resuming
  where a killed run stopped); True when everything is done, False when ``time_limit``
  seconds stopped it (:class:`Deadline`). ``stream`` is the text stream progress goes to
  (:class:`zoo.progress.Progress`; the runner passes stderr). Training runs go through
  :mod:`zoo.studies.runs` (one ``zoo.train.fit`` run folder each, resumed by epoch),
  measurements into :class:`zoo.studies.records.Records` logs (``<out>/<dataset>/
  records.jsonl``, one key per item: ``zoo reproduce --redo PREFIX`` drops the keys with that
  prefix), a grid of trials into KerasTuner rounds (:mod:`zoo.tuning`);
- ``claims(budget) -> list[Claim]``: the paper's claims, declared before the numbers
  (:class:`zoo.studies.claims.Claim`: id, source, statement, the paper's numbers, kind,
  measure, direction or margin). Each study turns its own tables into a map from each
  claim's id to a :class:`zoo.studies.claims.Measurement` (the paired values, or why it is
  not tested) with a helper of its own (``measurements``, whose arguments are the study's
  tables), which ``judged`` and ``report`` both call;
- ``judged(out, budget="cpu") -> list[dict]``: the verdict rows that
  :func:`zoo.studies.claims.judge` gives on the measurements the last report read, without
  writing anything (``tests/test_verdicts.py`` compares them with the committed ones);
- ``report(out, *, budget="cpu") -> dict``: given a budget's name, write ``summary.json``,
  ``report.md``, the tables and ``plots.png`` into ``out`` (:func:`write_report`); returns
  the summary, built by :func:`summary_head`: the study, budget and settings, ``splits``
  (which data every number comes from), ``claims`` (the verdict rows) and
  ``verdict_counts``, with the study's own numbers between them (:data:`SUMMARY_KEYS`;
  :func:`write_report` refuses a summary without them).

One results layout for every study: ``results/NAME/BUDGET/`` holds ``summary.json``,
``report.md``, ``commands.sh`` (the runner's), ``sessions.jsonl`` (once a run has ended), the
tables (``*.csv``) and ``plots.png`` (where the study draws one) at the top, and one folder
per dataset of the budget
below them, whose contents are the study's own (run folders, KerasTuner rounds, measurement
logs); ``tests/test_studies.py`` checks every committed folder against it.

The shared parts: :func:`resolve` (a budget's name or object -> both), :class:`Deadline`
(``run``'s time limit), and :func:`write_report` with :func:`report_head` /
:func:`summary_head` (every report's files, title lines and summary keys).
"""

from __future__ import annotations

import dataclasses
import inspect
import time
from collections.abc import Callable, Mapping
from pathlib import Path

BUDGET_NAMES = ("smoke", "cpu", "gpu")


class Budget:
    """What every study's budget is: a frozen dataclass (each study declares its own fields)
    that says in one line what it trains."""

    def describe(self) -> str:
        raise NotImplementedError(f"{type(self).__name__} must say what it trains")

    def settings(self) -> dict:
        """The fields (and any constant of the recipe a study adds), as summary.json
        records them."""
        return dataclasses.asdict(self)


def resolve(budgets: Mapping, budget) -> tuple[str, Budget]:
    """``(name, budget)`` for a budget's name (a key of ``budgets``) or a budget object
    (named ``"custom"``: the tests build their own)."""
    if isinstance(budget, Budget):
        return "custom", budget
    if budget not in budgets:
        raise ValueError(f"budget must be one of {', '.join(budgets)}, got {budget!r}")
    return budget, budgets[budget]


class Deadline:
    """``run``'s time limit: no new work starts once ``seconds`` have passed (None: never)."""

    def __init__(self, seconds: float | None):
        self.seconds, self.started = seconds, time.monotonic()

    def remaining(self) -> float | None:
        return None if self.seconds is None else self.seconds - (time.monotonic() - self.started)

    def passed(self) -> bool:
        return self.seconds is not None and self.remaining() < 0


def markdown(frame) -> str:
    """A report's table in Markdown (floats to 4 significant digits, NaN empty)."""
    from zoo.tables import markdown_table

    return markdown_table(frame, "{:.4g}") if not frame.empty else "(none yet)"


# what every summary.json holds (the README, the notebooks and tests/test_verdicts.py read them)
SUMMARY_KEYS = ("study", "budget", "settings", "splits", "claims", "verdict_counts")


def summary_head(name: str, budget: str, spec: Budget, *, splits: Mapping, rows: list,
                 **extra) -> dict:
    """The keys every summary.json holds: the study, the budget's name and settings, which
    data each number comes from (``splits``), and the verdict rows of
    :func:`zoo.studies.claims.judge` (``rows``) as ``claims`` and ``verdict_counts``;
    ``extra`` keys come between them."""
    from zoo.studies import claims

    return {"study": name, "budget": budget, "settings": spec.settings(), "splits": dict(splits),
            **extra, "claims": claims.jsonable(rows), "verdict_counts": claims.counts(rows)}


def report_head(name: str, title: str, budget: str, spec: Budget) -> list[str]:
    """The lines every report.md starts with: the study and paper, and what the budget ran."""
    return [f"# {name} ({budget}): {title}", "", f"Budget: {spec.describe()}.", ""]


def write_report(out: Path, tables: Mapping, summary: dict, lines: list[str], *,
                 plot: Callable | None = None) -> dict:
    """Write ``tables`` (name -> DataFrame) as ``<name>.csv``, summary.json, report.md and
    ``plot(path)``'s plots.png (when given), each file whole or not at all; the plot is drawn
    first, under a temporary name, so that a plot that fails leaves the old report as it
    was. Returns ``summary``, which must hold :data:`SUMMARY_KEYS` (:func:`summary_head`)."""
    import os

    from zoo.atomic import write_atomic, write_json

    if missing := [k for k in SUMMARY_KEYS if k not in summary]:
        raise TypeError(f"a study's summary must hold {', '.join(SUMMARY_KEYS)}; this one "
                        f"lacks {', '.join(missing)} (build it with summary_head)")
    out = Path(out)
    drawn = out / f".plots.{os.getpid()}.tmp.png"  # two reports at once draw apart
    try:
        if plot is not None:
            plot(drawn)
        for name, frame in tables.items():
            write_atomic(out / f"{name}.csv", frame.to_csv(index=False))
        write_json(out / "summary.json", summary)
        write_atomic(out / "report.md", "\n".join(lines))
        if plot is not None:
            os.replace(drawn, out / "plots.png")
    finally:
        drawn.unlink(missing_ok=True)
    return summary


# function -> the calls the runner and the tests make (with placeholder values), as written
_CALLS = {"run": ("run(budget, out, time_limit=..., stream=...)",
                  [((0, 0), {"time_limit": None, "stream": None})]),
          "claims": ("claims(budget)", [((0,), {})]),
          "judged": ("judged(out) and judged(out, budget)", [((0,), {}), ((0, 0), {})]),
          "report": ("report(out, budget=...)", [((0,), {"budget": "cpu"})])}


def _signature_problem(name: str, fn: Callable) -> str | None:
    shape, calls = _CALLS[name]
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return f"{name}() has no signature to check"
    for args, kwargs in calls:
        try:
            signature.bind(*args, **kwargs)
        except TypeError:
            return f"{name}() must accept {shape}"
    return None


def problems(module) -> list[str]:
    """What ``module`` lacks of the study contract, one line each (empty: it keeps it)."""
    import re

    from zoo.data.datasets import DATASETS

    found = []
    for attr in ("NAME", "TITLE", "CLAIM", "NOTEBOOK"):
        if not isinstance(getattr(module, attr, None), str):
            found.append(f"{attr} must be a string")
    own = module.__name__.rpartition(".")[2]
    if isinstance(getattr(module, "NAME", None), str) and module.NAME != own:
        found.append(f"NAME must be the module's name {own!r}, not {module.NAME!r}")
    notebook = getattr(module, "NOTEBOOK", None)
    if isinstance(notebook, str) and not re.fullmatch(r"\d\d_[a-z0-9_]+\.ipynb", notebook):
        found.append(f"NOTEBOOK must be a file name in notebooks/ (NN_topic.ipynb), not "
                     f"{notebook!r}")
    budgets = getattr(module, "BUDGETS", None)
    if not isinstance(budgets, Mapping) or tuple(budgets) != BUDGET_NAMES:
        found.append(f"BUDGETS must map {', '.join(BUDGET_NAMES)} (in that order) to budgets")
    else:
        for k, b in budgets.items():
            if not (isinstance(b, Budget) and dataclasses.is_dataclass(b)
                    and type(b).__dataclass_params__.frozen):
                found.append(f"BUDGETS[{k!r}] is not a frozen dataclass derived from "
                             "zoo.studies.base.Budget")
            elif type(b).describe is Budget.describe:
                found.append(f"BUDGETS[{k!r}] has no describe()")
            elif not (isinstance(getattr(b, "datasets", None), tuple) and b.datasets
                      and all(isinstance(d, str) for d in b.datasets)):
                found.append(f"BUDGETS[{k!r}] must name its datasets (a tuple of names)")
            elif unknown := [d for d in b.datasets if d not in DATASETS]:
                # found now, not hours into a run, after the datasets before it
                found.append(f"BUDGETS[{k!r}] names datasets the zoo does not know: "
                             f"{', '.join(map(repr, unknown))} (known: {', '.join(DATASETS)})")
    for name in _CALLS:
        fn = getattr(module, name, None)
        if not callable(fn):
            found.append(f"{name}() is missing")
        elif (problem := _signature_problem(name, fn)) is not None:
            found.append(problem)
    return found


def run_finished(out: Path, budget) -> bool:
    """Whether the last ``zoo reproduce`` of ``out`` ran budget ``budget`` (a name) to its end:
    the runner's ``sessions.jsonl`` (a line per run that ended by itself), whose last line must name that budget and say
    finished. A run killed midway writes no line; a custom budget (not a name) never counts
    as finished, nor does a line that cannot be read."""
    import json

    path = Path(out) / "sessions.jsonl"
    lines = path.read_text().splitlines() if path.is_file() else []
    lines = [line for line in lines if line.strip()]
    if not isinstance(budget, str) or not lines:
        return False
    try:
        last = json.loads(lines[-1])
    except json.JSONDecodeError:
        return False
    return isinstance(last, dict) and last.get("budget") == budget and last.get("finished") is True


def interim(count: str, so_far: float) -> str:
    """The reason a claim waits for its planned sample (no verdict from a look in the middle
    of a run: a claim is judged on what its budget plans, or when the run has finished)."""
    return f"interim, not judged: {count} (mean so far {so_far:+.3g}); the run goes on"
