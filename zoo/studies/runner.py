"""The one runner behind every study: budgets, results folders, commands, progress, resume."""

from __future__ import annotations

import importlib
import json
import shlex
import sys
import time
from pathlib import Path

from zoo.atomic import append_line, refuse_links, write_atomic
from zoo.studies.base import BUDGET_NAMES, problems

# The studies, by the notebook topic each one explains; a study's module is zoo/studies/NAME.py
# and its results go to results/NAME/BUDGET/. Imported on demand so that `zoo reproduce
# --list` stays light.
STUDIES = ("sequential_vs_parallel", "merge_and_run", "ensemble_view", "norm_preservation")
# the names the studies had until 2026-12 (old commands, notes and commit messages use them)
ALIASES = {"seed000": "sequential_vs_parallel", "seed001": "merge_and_run",
           "seed002": "ensemble_view", "seed003": "norm_preservation"}
BUDGETS = BUDGET_NAMES
# study -> the committed results its notebook and the README show (the cpu budget's)
STUDY_RESULTS = {name: f"results/{name}/cpu" for name in STUDIES}


def study_name(name) -> str:
    """The study's name for ``name`` or one of its old aliases (``seed000`` ... ``seed003``)."""
    from zoo.validation import did_you_mean

    if not isinstance(name, str):
        raise ValueError(f"study must be a name (zoo reproduce --list), got {name!r}")
    name = ALIASES.get(name, name)
    if name not in STUDIES:
        hint = did_you_mean(str(name).lower().replace("-", "_"), [*STUDIES, *ALIASES])
        raise ValueError(f"study must be one of {', '.join(map(repr, STUDIES))} (or a former "
                         f"name: {', '.join(ALIASES)}), got {name!r}{hint}")
    return name


def get_study(name):
    """The study module for ``name`` (or an alias), checked against the contract of
    :mod:`zoo.studies.base`."""
    name = study_name(name)
    module = importlib.import_module(f"zoo.studies.{name}")
    if found := problems(module):
        raise TypeError(f"{module.__name__} breaks the study contract (zoo/studies/base.py): "
                        + "; ".join(found))
    return module


def list_studies() -> list[dict]:
    """Name, title, claim and budgets of every study."""
    out = []
    for name in STUDIES:
        study = get_study(name)
        alias = next((a for a, n in ALIASES.items() if n == name), None)
        out.append({"name": name, "alias": alias, "title": study.TITLE, "claim": study.CLAIM,
                    "budgets": {b: study.BUDGETS[b].describe() for b in BUDGETS}})
    return out


def results_folder(name, budget, *, stream=None) -> Path:
    """``results/NAME/BUDGET``, the study's folder for a budget, after moving into it what the
    folder under the study's former name (``results/seed00N/BUDGET``) still holds: after a
    ``git pull`` of the rename, the files git does not track (trained networks, checkpoints,
    a run's new rounds) stay behind there. Files are moved, never overwritten: one that
    differs from the file at the same place in the new folder stops it (one line naming it),
    an identical copy is dropped, and so is a lock file that no live run holds. A run still
    going in either folder, a link, or two names for one folder stop it too (one line)."""
    name = study_name(name)
    out = Path("results") / name / budget
    for alias in (a for a, n in ALIASES.items() if n == name):
        old = Path("results") / alias / budget
        if old.is_dir() and any(p.is_file() or p.is_symlink() for p in old.rglob("*")):
            moved, dropped = _adopt(old, out, alias)
            print(f"moved {moved} file(s) from {old} (this study's folder under its former "
                  f"name {alias!r}) into {out}" + (f"; dropped {dropped} identical copies "
                  "and stale lock files" if dropped else ""), file=stream or sys.stderr)
    return out


def _adopt(old: Path, out: Path, alias: str) -> tuple[int, int]:
    """Move every file under ``old`` to the same place under ``out`` (see
    :func:`results_folder`); returns how many moved and how many were dropped."""
    import contextlib
    import filecmp
    import os

    from zoo.locking import LOCK_FILE, ProjectLock

    stop = f"move what {old} holds into {out} yourself, then remove {old}"
    for folder in (old.parent, old, out.parent.parent, out.parent, out):
        if folder.is_symlink():
            raise ValueError(f"{folder} is a link; the zoo moves no results through one: {stop}")
    here, there = old.resolve(), out.resolve()
    if here == there or here in there.parents or there in here.parents or (
            out.is_dir() and os.path.samefile(old, out)):  # a bind mount: one folder, two paths
        raise ValueError(f"{old} and {out} are the same folder or inside each other: {stop}")
    refuse_links(old)  # one line naming a link inside it: none is followed or moved
    files = sorted(p for p in old.rglob("*") if p.is_file() and p.name != LOCK_FILE)
    locks = sorted(p.parent for p in old.rglob(LOCK_FILE) if p.parent != old)
    stale = len(locks) + (old / LOCK_FILE).exists()
    with contextlib.ExitStack() as held:
        # no runner in either folder, nor in a run folder of the old one, while files move;
        # taking a lock nobody holds and letting it go removes its stale file
        for folder in [old, *locks, *([out] if files else [])]:
            held.enter_context(ProjectLock(folder))
        refuse_links(old)  # again, now that no runner can add one
        clash, same = [], set()
        for path in files:
            target = out / path.relative_to(old)
            above = [out / part for part in path.relative_to(old).parents if part != Path(".")]
            if any(q.is_symlink() or q.is_file() for q in above) or target.is_symlink() \
                    or target.is_dir() or (target.exists() and (
                        # one folder under two names (a mount inside): dropping is deleting
                        os.path.samefile(path.parent, target.parent)
                        # two names of one file in two folders is what a move killed
                        # between its link and its unlink leaves: the same bytes, dropped
                        or not filecmp.cmp(path, target, shallow=False))):
                clash.append(path)
            elif target.exists():
                same.add(path)
        if clash:
            raise ValueError(f"{old} holds this study's earlier results under its former name "
                             f"{alias!r}, and {len(clash)} of its files differ from what is at "
                             f"the same place in {out} (first: {clash[0].relative_to(old)}): "
                             f"{stop}")
        moved = dropped = 0
        for path in files:
            target = out / path.relative_to(old)
            if path in same:  # the same bytes at the same place in the new folder
                path.unlink()
                dropped += 1
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            _move(path, target)
            moved += 1
    dropped += stale  # their files went with their locks
    for folder in sorted((p for p in old.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
        if not any(folder.iterdir()):
            folder.rmdir()
    for folder in (old, old.parent):  # results/seed00N/BUDGET, then results/seed00N
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
    return moved, dropped


def _move(path: Path, target: Path) -> None:
    """``path`` to ``target``, which must not exist: a hard link then an unlink (a crash in
    between leaves two names for one file, which the next run drops as identical); across
    file systems a copy under a temporary name, linked in whole, then the unlink."""
    import errno
    import os
    import shutil
    import tempfile

    try:
        os.link(path, target)  # fails rather than overwrite a file made meanwhile
    except OSError as e:
        if e.errno != errno.EXDEV:
            raise
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        os.close(fd)
        try:
            shutil.copy2(path, tmp)
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
            os.link(tmp, target)
        finally:
            os.unlink(tmp)
    path.unlink()


COMMANDS_FILE = "commands.sh"
COMMANDS_HEADER = "# The exact commands behind this folder's results (each resumes)."


def record_command(out: Path, argv) -> None:
    """Add the exact command to ``<out>/commands.sh`` (once), inside the folder the study
    manages and never beside it; :func:`reproduce` calls it only when the command succeeded.
    A ``commands.sh`` there that the zoo did not write (a link, a user's script) is left as it
    is, with a warning. The script starts in the folder the command ran from: relative to
    itself for a relative ``out`` (a committed ``results/`` folder), else by its path."""
    import os
    import warnings

    line = "zoo " + " ".join(shlex.quote(a) for a in argv)
    path = out / COMMANDS_FILE
    if path.is_symlink() or (path.exists() and not (
            path.is_file() and COMMANDS_HEADER in path.read_text(errors="replace"))):
        warnings.warn(f"{path} is not the zoo's own record of commands; left as it is, "
                      f"without {line!r}", stacklevel=2)
        return
    if path.is_file():
        lines = path.read_text().splitlines()
    else:
        up = "/".join([".."] * len(out.parts))
        start = (f'cd "$(dirname "$0")/{up}"' if not out.is_absolute()
                 else f"cd {shlex.quote(os.getcwd())}")
        lines = ["#!/usr/bin/env bash", COMMANDS_HEADER, "set -euo pipefail", start]
    if line not in lines:
        write_atomic(path, "\n".join(lines + [line]) + "\n")
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(path, 0o777 & ~mask)  # a script: executable as an ordinary `chmod +x` makes it


def discard(out: Path, prefix: str) -> int:
    """Drop the measurements whose key starts with ``prefix`` from every dataset's log under
    ``out``; the next run measures them again."""
    from zoo.studies.records import Records

    if not prefix:
        raise ValueError("the measurement prefix to redo must not be empty")
    logs = [Records(path) for path in sorted(out.glob("*/records.jsonl"))]
    if not logs:
        raise ValueError(f"{out} holds no measurement log (*/records.jsonl) to redo: this "
                         "study keeps none (it resumes from its run folders), or has measured "
                         "nothing there yet")
    dropped = sum(log.discard(prefix) for log in logs)
    if not dropped:
        present = sorted({key.split("/")[0] + "/" for log in logs for key in log.rows})
        raise ValueError(f"no measurement under {out} has a key starting with {prefix!r}; "
                         f"the keys there start with {', '.join(present) or 'nothing yet'}")
    return dropped


def reproduce(name, budget, *, out=None, report_only=False, time_limit=None, redo=None,
              argv=None, stream=None) -> dict:
    """Run (or resume) study ``name`` at ``budget``, then write its report.

    ``time_limit`` (seconds) stops starting new work after that long, so a long study can run
    in stages (the GPU budget's device calls are 10 minutes each); rerun to continue.
    ``redo`` (a key prefix such as ``"gradient/"``) measures those items again.
    ``argv``: the command's words after ``zoo`` (the CLI passes them with the study under its
    name, even when typed with a former one), recorded in ``commands.sh`` once it succeeded.
    Returns the report's summary.
    """
    study = get_study(name)
    if budget not in BUDGETS:
        raise ValueError(f"budget must be one of {', '.join(BUDGETS)}, got {budget!r}")
    if time_limit is not None and not time_limit > 0:
        raise ValueError(f"time limit must be a positive number of seconds, got {time_limit}")
    if redo is not None and report_only:
        raise ValueError("--redo measures again, --report-only measures nothing: pick one")
    stream = stream or sys.stderr
    default = Path("results") / study.NAME / budget
    former = [Path("results") / a / budget for a, n in ALIASES.items() if n == study.NAME]
    if out is not None and Path(out).resolve() in [f.resolve() for f in former]:
        # an old command's --out: running there would start again beside the moved results
        print(f"{out} is this study's folder under its former name: the run uses {default} "
              "(what the old folder holds is moved there)", file=stream)
        out = None
    if out is None or Path(out).resolve() == default.resolve():  # its own folder: take in
        out = results_folder(name, budget, stream=stream)  # the old one
    out = Path(out)
    if report_only and not out.is_dir():
        raise ValueError(f"{out} holds no results to report on: run the study's {budget} "
                         "budget first (without --report-only)")
    out.mkdir(parents=True, exist_ok=True)
    if not report_only:
        from zoo.tuning.search import ProjectLock

        start, started = time.monotonic(), time.strftime("%Y-%m-%dT%H:%M:%S")
        refuse_links(out)  # the study writes by fixed names in it, never through a link
        with ProjectLock(out):  # one runner per results folder
            if redo is not None:
                print(f"redo: {discard(out, redo)} measurements starting with {redo!r} "
                      "dropped, measuring them again", file=stream)
            finished = study.run(study.BUDGETS[budget], out, time_limit=time_limit,
                                 stream=stream)
        append_line(out / "sessions.jsonl", json.dumps({  # one line per invocation: its cost
            "budget": budget, "started": started, "ended": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "wall_seconds": round(time.monotonic() - start, 1), "finished": bool(finished)}))
        if not finished:
            print("stopped at the time limit; run the same command again to continue",
                  file=stream)
    summary = study.report(out, budget=budget)
    print(f"report: {out / 'report.md'} (tables, summary.json and plots beside it)", file=stream)
    if argv is not None:  # provenance of a command that succeeded (or stopped at its limit)
        record_command(out, argv)
    return summary
