"""The contract every study module keeps, written down once.

``zoo reproduce NAME`` imports the study's module and relies on these names; the runner checks
them when it loads a study (:func:`problems`), and ``tests/test_studies.py`` checks all four.
A study module is a declarative description plus four functions:

- ``TITLE`` (the paper, in a line), ``CLAIM`` (what the paper says, in words), ``NOTEBOOK``
  (the notebook in ``notebooks/`` that explains its committed results);
- ``BUDGETS``: ``{"smoke": ..., "cpu": ..., "gpu": ...}``, each a frozen dataclass of what to
  train, on what, for how long, with how many seeds or pairs, with a ``describe()`` line;
- ``run(budget, out, *, time_limit=None, stream=None) -> bool``: given a budget object, train
  and measure whatever is not yet in ``out`` (resuming where a killed run stopped); True when
  everything is done, False when ``time_limit`` seconds stopped it;
- ``claims(budget) -> list[Claim]``: the paper's claims, declared before the numbers
  (:class:`zoo.studies.claims.Claim`);
- ``judged(out, budget="cpu") -> list[dict]``: the verdict rows that
  :func:`zoo.studies.claims.judge` gives on the measurements the last report read, without
  writing anything (``tests/test_verdicts.py`` compares them with the committed ones);
- ``report(out, *, budget="cpu") -> dict``: given a budget's name, write ``summary.json``
  (claims, numbers and verdicts), ``report.md`` and the tables into ``out``; returns the
  summary.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping

BUDGET_NAMES = ("smoke", "cpu", "gpu")


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
    found = []
    for attr in ("TITLE", "CLAIM", "NOTEBOOK"):
        if not isinstance(getattr(module, attr, None), str):
            found.append(f"{attr} must be a string")
    budgets = getattr(module, "BUDGETS", None)
    if not isinstance(budgets, Mapping) or tuple(budgets) != BUDGET_NAMES:
        found.append(f"BUDGETS must map {', '.join(BUDGET_NAMES)} (in that order) to budgets")
    else:
        found += [f"BUDGETS[{k!r}] has no describe()" for k, b in budgets.items()
                  if not callable(getattr(b, "describe", None))]
    for name in _CALLS:
        fn = getattr(module, name, None)
        if not callable(fn):
            found.append(f"{name}() is missing")
        elif (problem := _signature_problem(name, fn)) is not None:
            found.append(problem)
    return found
