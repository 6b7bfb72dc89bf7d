"""Paper reproductions (`zoo reproduce`): the sequential_vs_parallel study's plan (pairing,
stratification, Q), its statistics, its smoke budget end to end and its resumption after SIGKILL."""

import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT

import zoo
from zoo.models.complexity import flops
from zoo.studies import base, sequential_vs_parallel
from zoo.tuning.grids import GRIDS
from zoo.tuning.hypermodel import build_point, trainable_params

CPU = sequential_vs_parallel.BUDGETS["cpu"]


@pytest.fixture(scope="module")
def mnist_plan():
    return sequential_vs_parallel.plan("mnist", CPU)


def test_every_setting_is_one_pair_differing_only_in_layout(mnist_plan):
    points = GRIDS["seed000"].points("mnist")
    assert len(mnist_plan) == 1728 and mnist_plan["pair"].is_unique
    used = set(mnist_plan["point_seq"]) | set(mnist_plan["point_par"])
    assert used == set(range(3456))  # every point in exactly one pair
    for row in mnist_plan.sample(50, random_state=0).itertuples():
        a, b = dict(points[row.point_seq]), dict(points[row.point_par])
        assert (a.pop("layout"), b.pop("layout")) == ("sequential", "parallel")
        assert a == b


def test_parameters_flops_and_q_match_built_models(mnist_plan):
    """The plan counts analytically; a built model is the independent reference. Q counts the
    images trained on: the 60,000 of the train split less the 10% held out (per class)."""
    from zoo.data import load_raw

    _, y, _ = load_raw("mnist", "train")
    held = sum(round(0.1 * c) for c in np.bincount(y))
    assert (mnist_plan["train_examples"] == 60_000 - held).all()
    for row in mnist_plan.sample(12, random_state=1).itertuples():
        for point in (row.point_seq, row.point_par):
            model = build_point({"model": "shallow_stack",
                                 **GRIDS["seed000"].points("mnist")[point]}, (28, 28, 1), 10)
            assert trainable_params(model) == row.params
            assert flops(model) == row.flops
        q = (60_000 - held) * 10 / row.params
        assert row.q == pytest.approx(q)
        expected = "Q<1" if q < 1 else "1-3" if q < 3 else "3-10" if q < 10 else ">=10"
        assert row.q_bin == expected and row.cell == f"{expected}/{row.head}"


def test_cells_ranks_and_cost_caps(mnist_plan):
    """Every (Q bin, head) cell is stratified on its own; with the cpu budget's caps every
    Q >= 1 cell can be filled (a 60 MFLOP cap would leave (1-3, gap) empty), and the Q < 1
    cells belong to the time-budgeted phase."""
    for label in sequential_vs_parallel.Q_LABELS:
        for head in sequential_vs_parallel.HEADS:
            members = mnist_plan[mnist_plan["cell"] == f"{label}/{head}"]
            eligible = members[members["eligible"]]
            assert sorted(eligible["rank"]) == list(range(len(eligible)))  # a permutation
            assert (members.loc[~members["eligible"], "rank"] == -1).all()
            if label == "Q<1":
                assert (members["phase"] == "big").all()
                assert (eligible["flops"] <= CPU.big_max_forward_flops).all()
                continue
            assert (members["phase"] == "main").all()
            assert (eligible["flops"] <= CPU.max_forward_flops).all()
            assert len(eligible) >= CPU.pairs["mnist"]  # every cell can be filled
    gap_1_3 = mnist_plan[mnist_plan["cell"] == "1-3/gap"]
    assert not (gap_1_3["flops"] <= 60e6).any()
    again = sequential_vs_parallel.plan("mnist", CPU)
    assert again["rank"].equals(mnist_plan["rank"])  # seeded: the same draw every time


def test_next_round_interleaves_cells_replaces_failed_pairs_and_stops_when_full(mnist_plan):
    n = CPU.pairs["mnist"]
    first = sequential_vs_parallel.next_round(mnist_plan, {}, CPU, "mnist")
    by_pair = mnist_plan.set_index("pair")
    assert len(first) == 6 * n
    assert sorted(by_pair.loc[first].groupby("cell").size()) == [n] * 6
    assert by_pair.loc[first[:6], "cell"].nunique() == 6  # the first pair of every cell first
    assert (by_pair.loc[first[:6], "rank"] == 0).all()
    status = {}
    for pair in first:
        status[by_pair.loc[pair, "point_seq"]] = "COMPLETED"
        status[by_pair.loc[pair, "point_par"]] = "COMPLETED"
    failed = [p for p in first if by_pair.loc[p, "cell"] == "3-10/flatten"][:3]
    for pair in failed:
        status[by_pair.loc[pair, "point_par"]] = "FAILED"
    second = sequential_vs_parallel.next_round(mnist_plan, status, CPU, "mnist")
    assert len(second) == 3 and set(second).isdisjoint(first)
    assert set(by_pair.loc[second, "cell"]) == {"3-10/flatten"}
    assert sorted(by_pair.loc[second, "rank"]) == [n, n + 1, n + 2]
    for pair in second:
        status[by_pair.loc[pair, "point_seq"]] = status[by_pair.loc[pair, "point_par"]] = \
            "COMPLETED"
    assert sequential_vs_parallel.next_round(mnist_plan, status, CPU, "mnist") == []
    big = sequential_vs_parallel.next_round(mnist_plan, status, CPU, "mnist", phase="big",
                                            per_cell=1)
    assert sorted(by_pair.loc[big, "cell"]) == ["Q<1/flatten", "Q<1/gap"]


def test_report_tables_and_verdicts_on_a_hand_made_study(tmp_path):
    """table2, pairs, statistics and verdicts from a frame whose answers are known: parallel's
    validation loss is 0.8x sequential's in every pair of one cell (outside the margin,
    clearly lower), equal in another."""
    rows = []
    rng = np.random.default_rng(0)
    for pair in range(24):
        cell = ">=10/gap" if pair < 12 else "3-10/flatten"
        base = 0.2 + pair / 100
        ratio = 0.8 * np.exp(rng.normal(0, 0.01)) if pair < 12 else np.exp(rng.normal(0, 0.01))
        for layout, val in (("sequential", base), ("parallel", base * ratio)):
            rows.append({"dataset": "mnist", "layout": layout, "pair": pair, "cell": cell,
                         "q_bin": cell.split("/")[0], "head": cell.split("/")[1],
                         "phase": "main", "q": 20.0, "params": 1000, "status": "COMPLETED",
                         "loss": val / 2, "val_loss": val, "test_loss": val,
                         "accuracy": 0.9, "val_accuracy": 0.9, "test_accuracy": 0.9,
                         "epochs": 4, "best_epoch": 4, "seconds": 10.0,
                         "train_seconds": 9.0 if layout == "sequential" else 4.5,
                         "last_epoch_improvement": 0.01})
    rows.append({**rows[-1], "pair": 99, "status": "FAILED", "layout": "parallel"})
    rows.append({**rows[-1], "pair": 98, "status": "RUNNING", "seconds": np.nan})
    frame = pd.DataFrame(rows)
    t2 = sequential_vs_parallel.table2(frame).set_index(["q_bin", "head", "layout"])
    assert t2.loc[(">=10", "gap", "sequential"), "val_loss_mean"] == pytest.approx(0.255)
    assert t2.loc[("3-10", "flatten", "parallel"), "failed"] == 1
    assert t2.loc[("3-10", "flatten", "parallel"), "trials"] == 13  # not the running one
    assert t2.loc[(">=10", "gap", "parallel"), "paper_val_loss"] == pytest.approx(0.14900)
    pairs = sequential_vs_parallel.pairs_of(frame)
    assert len(pairs) == 24
    stats = sequential_vs_parallel.paired_statistics(pairs).set_index("group")
    assert stats.loc[">=10/gap", "val_loss_log_ratio"] == pytest.approx(np.log(0.8), abs=0.01)
    assert stats.loc["Q>=1/pooled", "pairs"] == 24
    assert stats.loc["Q>=1/pooled", "time_ratio_median"] == pytest.approx(0.5)
    from zoo.studies.claims import judge

    budget = sequential_vs_parallel.PairsBudget(("mnist",), {"mnist": 12}, 4)
    verdicts = {r["id"]: r["verdict"] for r in judge(
        sequential_vs_parallel.claims(budget),
        sequential_vs_parallel.measurements(pairs, budget, frame))}
    assert verdicts["mnist/>=10/gap/similar"] == "contradicted"  # 20% apart, margin 15%
    assert verdicts["mnist/3-10/flatten/similar"] == "reproduced"
    assert verdicts["mnist/shallow-faster"] == "not tested"  # CPU seconds: confounded
    assert verdicts["mnist/1-3/gap/similar"] == "not tested"
    assert verdicts["mnist/Q<1/table2-direction"] == "not tested"
    # a run still going waits for its pairs (p = 1 in Holm's family); a finished one does not
    going = sequential_vs_parallel.measurements(pairs, budget, frame)
    ended = sequential_vs_parallel.measurements(pairs, budget, frame, finished=True)
    assert going["mnist/1-3/gap/similar"].pending and "the run goes on" in \
        going["mnist/1-3/gap/similar"].not_tested
    assert not ended["mnist/1-3/gap/similar"].pending
    # no verdict from an interim look: a cell short of its planned pairs waits, however
    # tight its first pairs are, until it is complete or the run has ended
    planned = sequential_vs_parallel.PairsBudget(("mnist",), {"mnist": 13}, 4)
    going = sequential_vs_parallel.measurements(pairs, planned, frame)
    assert going["mnist/3-10/flatten/similar"].pending and \
        going["mnist/3-10/flatten/similar"].not_tested.startswith(
            "interim, not judged: 12 of 13 planned pairs in cell 3-10/flatten (mean so far")
    assert going["mnist/similar"].not_tested.startswith(
        "interim, not judged: 24 of 78 planned pairs in all Q>=1 cells")
    ended = sequential_vs_parallel.measurements(pairs, planned, frame, finished=True)
    assert ended["mnist/3-10/flatten/similar"].a is not None
    budget = sequential_vs_parallel.PairsBudget(("mnist",), {"mnist": 12}, 4, big_hours=3.0)
    ended = sequential_vs_parallel.measurements(pairs, budget, frame, finished=True)
    assert ended["mnist/Q<1/table2-direction"].not_tested == (
        "0 complete pair(s) in the Q<1 cells, all the finished run's budget gave (its 3 h of "
        "Q<1 trials per dataset); a test needs 2")
    # the gpu budget has Q<1 among its bins (no separate hours): its rounds are what it gave
    ended = sequential_vs_parallel.measurements(pairs, sequential_vs_parallel.BUDGETS["gpu"],
                                                frame, finished=True)
    assert ended["mnist/Q<1/table2-direction"].not_tested == (
        "0 complete pair(s) in the Q<1 cells, all the finished run's budget gave (its eligible "
        "settings or 4 rounds); a test needs 2")
    # the sample line beside the verdict table: hours and per-head pools, from the same frame
    # (49 finished trials of 10 s; the gap cell: log 0.8 in each of its 12 pairs)
    gap = np.log(pairs[pairs["cell"] == ">=10/gap"]["val_loss_par"]
                 / pairs[pairs["cell"] == ">=10/gap"]["val_loss_seq"])
    flat = np.log(pairs[pairs["cell"] == "3-10/flatten"]["val_loss_par"]
                  / pairs[pairs["cell"] == "3-10/flatten"]["val_loss_seq"])
    line = sequential_vs_parallel.sample(sequential_vs_parallel.cost(frame),
                                         sequential_vs_parallel.paired_statistics(pairs), budget)
    assert line == (
        f"Finished trials: 49, {49 * 10 / 3600:.1f} hours (mnist {49 * 10 / 3600:.1f}). "
        "Q<1 cells: mnist 0.0 of 3 h, 0 complete pairs. Q>=1 cells pooled per head "
        "(validation log ratio parallel / sequential, mean ± SE (pairs)): "
        f"mnist gap {gap.mean():+.2f} ± {gap.std(ddof=1) / np.sqrt(12):.2f} (12), "
        f"flatten {flat.mean():+.2f} ± {flat.std(ddof=1) / np.sqrt(12):.2f} (12).")


def test_a_run_counts_as_finished_only_by_its_own_budgets_last_session(tmp_path):
    sessions = tmp_path / "sessions.jsonl"
    assert not base.run_finished(tmp_path, "cpu")  # no sessions file

    def line(**fields):
        return json.dumps({"started": "2026-12-04T00:00:00", "wall_seconds": 1.0, **fields})

    sessions.write_text(line(budget="cpu", finished=True) + "\n\n")
    assert base.run_finished(tmp_path, "cpu")
    assert not base.run_finished(tmp_path, "gpu")  # another budget's line
    # not a name: a custom budget
    assert not base.run_finished(tmp_path, sequential_vs_parallel.BUDGETS["cpu"])
    sessions.write_text(line(budget="cpu", finished=True) + "\n"
                        + line(budget="cpu", finished=False) + "\n")
    # the last one stopped at its limit
    assert not base.run_finished(tmp_path, "cpu")
    sessions.write_text(line(finished=True) + "\n")
    # written before lines named the budget
    assert not base.run_finished(tmp_path, "cpu")
    sessions.write_text(line(budget="cpu", finished=True) + "\n{half a li")
    assert not base.run_finished(tmp_path, "cpu")  # a torn last line


def _cli(*args):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.Popen([sys.executable, "-m", "zoo.cli", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _trial_files(folder):
    return {str(p.relative_to(folder)): json.loads(p.read_text())
            for p in folder.rglob("trial_*/trial.json")}


def test_smoke_budget_end_to_end_and_resume_after_sigkill(tmp_path):
    out = tmp_path / "sequential_vs_parallel" / "smoke"
    args = ["reproduce", "sequential_vs_parallel", "--budget", "smoke", "--out", str(out)]
    proc = _cli(*args)
    deadline = time.time() + 180
    while time.time() < deadline and proc.poll() is None:
        if any(t["status"] in ("COMPLETED", "FAILED") for t in _trial_files(out).values()):
            break
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = {k: v for k, v in _trial_files(out).items() if v["status"] != "RUNNING"}
    assert 1 <= len(before) < 4, "the kill came too late to test anything"

    result = _cli(*args)
    stdout, stderr = result.communicate(timeout=300)
    assert result.returncode == 0, stderr[-3000:]
    after = _trial_files(out)
    # the progress line counts finished trials against the plan: the one killed while
    # running is run again, not counted twice, and the count never passes the total
    counts = [tuple(map(int, m)) for m in re.findall(r"\[(\d+)/(\d+) trials", stderr)]
    assert counts and all(d <= t for d, t in counts), counts
    assert counts[-1][0] == counts[-1][1] == len(after), (counts, len(after))
    for name, trial in before.items():  # finished trials are kept, not run again
        assert after[name] == trial
    frame = pd.read_csv(out / "trials.csv")
    assert frame["point"].is_unique  # no point trained twice
    for column in ("dataset", "layout", "pair", "cell", "status", "params", "train_examples",
                   "validation_examples", "q", "q_bin", "loss", "val_loss", "test_loss",
                   "accuracy", "val_accuracy", "test_accuracy", "seconds", "epochs"):
        assert column in frame.columns
    done = frame[frame["status"] == "COMPLETED"]
    complete = done.groupby("pair")["layout"].nunique()
    assert (complete == 2).sum() == 2  # the budget's two pairs, one per head
    held = done["validation_examples"].iloc[0]
    assert (done["train_examples"] + held == 1437).all()  # digits' train split, 10% held out
    assert held == pytest.approx(143, abs=2)
    assert (done["epochs"] <= 10).all() and done["test_loss"].notna().all()
    assert np.allclose(done["q"], done["train_examples"] * 10 / done["params"])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["complete_pairs"] == {"digits/1-3/flatten": 1, "digits/1-3/gap": 1}
    verdicts = {c["id"]: c for c in summary["claims"]}
    for cell in ("1-3/gap", "1-3/flatten"):  # one pair per cell: too few to test
        assert verdicts[f"digits/{cell}/similar"]["verdict"] == "not tested"
        # and the run has finished its budget, so it says so instead of "the run goes on"
        assert verdicts[f"digits/{cell}/similar"]["reason"] == (
            f"1 complete pair(s) in cell {cell}, all the finished run's budget gave (its "
            "eligible settings or 3 rounds); a test needs 2")
    assert verdicts["digits/similar"]["n"] == 2  # pooled over the two cells
    assert "this Q bin is not in this budget" in verdicts["digits/3-10/gap/similar"]["reason"]
    for name in ("table2.csv", "paired.csv", "stats.csv", "flattening.csv", "exclusions.csv",
                 "trial_cost.csv", "report.md", "plots.png"):
        assert (out / name).stat().st_size > 0
    commands = (out / "commands.sh").read_text().splitlines()
    assert commands.count("zoo " + " ".join(args)) == 1  # recorded once, though run twice


def test_reproduce_lists_studies_and_rejects_bad_input(capsys):
    from zoo.cli import main

    assert main(["reproduce", "--list"]) == 0
    out = capsys.readouterr().out
    assert "sequential_vs_parallel (formerly seed000): Sequential deep" in out
    assert "--budget cpu" in out and "12 pairs per (Q bin, head) cell" in out
    assert main(["reproduce", "nope"]) == 2
    assert ("study must be one of 'sequential_vs_parallel', 'merge_and_run', 'ensemble_view', "
            "'norm_preservation' (or a former name: seed000, seed001, seed002, seed003), got "
            "'nope'\n") in capsys.readouterr().err
    assert main(["reproduce", "Merge-and-rn"]) == 2  # a near miss gets the name it missed
    assert "got 'Merge-and-rn'; did you mean 'merge_and_run'?" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:  # argparse, before anything is imported
        main(["reproduce", "sequential_vs_parallel", "--time-limit", "-5"])
    assert exit_.value.code == 2
    assert "--time-limit: expected a positive finite number, got '-5'" in \
        capsys.readouterr().err


def test_every_study_keeps_the_written_contract(monkeypatch):
    """zoo/studies/base.py's contract: all four studies keep it (the runner checks it on
    load), and a module that breaks it is named with each thing it lacks."""
    import types

    from zoo.studies import runner
    from zoo.studies.base import problems

    for name in runner.STUDIES:
        study = runner.get_study(name)
        assert problems(study) == []
        assert (ROOT / "notebooks" / study.NOTEBOOK).is_file()
    broken = types.ModuleType("zoo.studies.broken")
    broken.TITLE, broken.CLAIM = "t", "c"
    broken.BUDGETS = {"smoke": object(), "cpu": ensemble_view.BUDGETS["cpu"], "gpu": None}
    broken.run = lambda budget, out, time_limit=None: True  # time_limit not keyword-only
    broken.claims = ensemble_view.claims
    broken.judged = lambda out, budget: []  # judged(out) must work: budget needs a default
    not_a_budget = "is not a frozen dataclass derived from zoo.studies.base.Budget"
    assert problems(broken) == [
        "NAME must be a string", "NOTEBOOK must be a string",
        f"BUDGETS['smoke'] {not_a_budget}", f"BUDGETS['gpu'] {not_a_budget}",
        "run() must accept run(budget, out, time_limit=..., stream=...)",
        "judged() must accept judged(out) and judged(out, budget)", "report() is missing"]
    # what works is accepted: extra defaults, **kwargs, a decorator without functools.wraps
    broken.NAME, broken.NOTEBOOK, broken.BUDGETS = "broken", "09_broken.ipynb", \
        ensemble_view.BUDGETS
    broken.run = lambda budget, out, extra=None, **kwargs: True
    broken.judged = lambda *args: []
    broken.report = lambda out, *, budget="cpu", verbose=False: {}
    assert problems(broken) == []
    broken.run = lambda budget, out, *, time_limit=None, stream=None, seed: True
    assert problems(broken) == ["run() must accept run(budget, out, time_limit=..., "
                                "stream=...)"]  # a required keyword the runner never passes
    broken.run = lambda budget, out, *, time_limit=None, stream=None: True
    import dataclasses

    from zoo.studies.base import Budget

    @dataclasses.dataclass  # not frozen: a budget could change under a running study
    class Loose(Budget):
        epochs: int = 1

        def describe(self):
            return "loose"

    @dataclasses.dataclass(frozen=True)
    class Mute(Budget):  # frozen, but says nothing of what it trains
        epochs: int = 1

    @dataclasses.dataclass(frozen=True)
    class Nowhere(Budget):  # says what it trains, but not on which data
        epochs: int = 1

        def describe(self):
            return "1 epoch"

    cpu, gpu = ensemble_view.BUDGETS["cpu"], ensemble_view.BUDGETS["gpu"]
    broken.BUDGETS = {"smoke": Loose(), "cpu": Nowhere(), "gpu": Mute()}
    assert problems(broken) == [f"BUDGETS['smoke'] {not_a_budget}",
                                "BUDGETS['cpu'] must name its datasets (a tuple of names)",
                                "BUDGETS['gpu'] has no describe()"]
    broken.BUDGETS = {"smoke": cpu, "cpu": dataclasses.replace(cpu, datasets=("fashion-mnist",)),
                      "gpu": gpu}  # a typo found on load, not hours into a run
    assert problems(broken) == ["BUDGETS['cpu'] names datasets the zoo does not know: "
                                "'fashion-mnist' (known: mnist, fashion_mnist, cifar10, cifar100, "
                                "svhn_cropped, digits)"]
    broken.BUDGETS = {"smoke": cpu, "cpu": cpu, "gpu": gpu}
    assert problems(broken) == []
    broken.NAME, broken.NOTEBOOK = "seed002", "broken.ipynb"  # its folder would not be its own
    assert problems(broken) == [
        "NAME must be the module's name 'broken', not 'seed002'",
        "NOTEBOOK must be a file name in notebooks/ (NN_topic.ipynb), not 'broken.ipynb'"]
    study = runner.get_study("ensemble_view")  # the runner refuses such a module on load
    monkeypatch.setattr(study, "NAME", "seed002")
    with pytest.raises(TypeError, match=r"^zoo.studies.ensemble_view breaks the study contract "
                       r"\(zoo/studies/base.py\): NAME must be the module's name "
                       r"'ensemble_view', not 'seed002'$"):
        runner.get_study("ensemble_view")


def test_every_study_module_is_a_listed_study():
    """A module in zoo/studies that declares BUDGETS is a study: the runner must know it (a
    study added without its line in STUDIES would be silently unreachable)."""
    import ast

    from zoo.studies import runner

    declared = sorted(p.stem for p in (ROOT / "zoo" / "studies").glob("*.py")
                      if any(isinstance(node, ast.Assign | ast.AnnAssign)
                             and "BUDGETS" in {getattr(t, "id", None) for t in (
                                 node.targets if isinstance(node, ast.Assign) else [node.target])}
                             for node in ast.parse(p.read_text()).body)
                      and p.stem != "runner")
    assert declared == sorted(runner.STUDIES)


def test_q_bins_cover_the_paper_table():
    assert sequential_vs_parallel.Q_LABELS == ("Q<1", "1-3", "3-10", ">=10")
    assert math.isinf(sequential_vs_parallel.Q_BINS[-1])


def test_studies_answer_to_their_old_names_and_take_in_old_folders(tmp_path, monkeypatch):
    """seed000 ... seed003 (the names until 2026-12) are aliases; what a folder under an old
    name still holds after a pull of the rename (untracked nets, a run's new rounds) is moved
    into the study's folder, never over a file that differs, and never while a run holds it."""
    import io

    from zoo.studies import runner

    assert runner.get_study("seed000") is runner.get_study("sequential_vs_parallel") \
        is sequential_vs_parallel
    assert [runner.get_study(a).NAME for a in ("seed001", "seed002", "seed003")] == [
        "merge_and_run", "ensemble_view", "norm_preservation"]
    for name in runner.STUDIES:
        assert (ROOT / "results" / name / "cpu" / "summary.json").is_file()
    assert _committed("results/seed00*") == []  # every committed result moved
    with pytest.raises(ValueError, match=r"^study must be a name \(zoo reproduce --list\), "
                                         r"got \['seed001'\]$"):
        runner.study_name(["seed001"])
    monkeypatch.chdir(tmp_path)
    log = io.StringIO()
    assert runner.results_folder("seed002", "cpu", stream=log) == Path(
        "results/ensemble_view/cpu") == runner.results_folder("ensemble_view", "cpu")
    old, new = Path("results/seed002/smoke"), Path("results/ensemble_view/smoke")
    (old / "digits" / "preresnet20").mkdir(parents=True)  # empty folders: nothing to move
    assert runner.results_folder("ensemble_view", "smoke", stream=log) == new
    assert log.getvalue() == "" and not new.exists() and old.is_dir()
    # what a pull leaves: a net git ignores, and a file the new folder already has, the same
    (old / "digits" / "preresnet20" / "model.keras").write_bytes(b"net")
    (old / "records.jsonl").write_text("{}\n")
    new.mkdir(parents=True)
    (new / "records.jsonl").write_text("{}\n")
    (new / "summary.json").write_text("{}")
    assert runner.results_folder("seed002", "smoke", stream=log) == new
    assert log.getvalue() == ("moved 1 file(s) from results/seed002/smoke (this study's folder "
                              "under its former name 'seed002') into results/ensemble_view/smoke; "
                              "dropped 1 identical copies and stale lock files\n")
    assert (new / "digits" / "preresnet20" / "model.keras").read_bytes() == b"net"
    assert (new / "records.jsonl").read_text() == "{}\n" and (new / "summary.json").is_file()
    assert not Path("results/seed002").exists()  # emptied, so removed, up to results/
    # a file that differs from the one in the new folder: nothing moves, one line names it
    (old / "digits").mkdir(parents=True)
    (old / "records.jsonl").write_text('{"key": "baseline/plain"}\n')
    (old / "digits" / "curves.csv").write_text("epoch\n")
    with pytest.raises(ValueError, match=r"^results/seed002/smoke holds this study's earlier "
                       r"results under its former name 'seed002', and 1 of its files differ "
                       r"from what is at the same place in results/ensemble_view/smoke \(first: "
                       r"records.jsonl\): move what results/seed002/smoke holds into "
                       r"results/ensemble_view/smoke yourself, then remove "
                       r"results/seed002/smoke$"):
        runner.results_folder("seed002", "smoke")
    assert (old / "digits" / "curves.csv").is_file() and not (new / "digits" / "curves.csv").exists()
    (old / "records.jsonl").unlink()
    import select

    for held in (old, old / "digits", new):  # a run still going in either, or in a run folder
        holder = subprocess.Popen(
            [sys.executable, "-c", "import sys, time; from zoo.locking import ProjectLock; "
             "ProjectLock(sys.argv[1]).__enter__(); print('held', flush=True); time.sleep(120)",
             str(held)], stdout=subprocess.PIPE, text=True, cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(ROOT)})
        try:
            assert select.select([holder.stdout], [], [], 60)[0], "the lock holder never started"
            assert holder.stdout.readline() == "held\n"
            with pytest.raises(ValueError, match=rf"^{held} is being searched by process "
                                                 rf"{holder.pid}; wait for it"):
                runner.results_folder("seed002", "smoke")
        finally:
            holder.kill()
            holder.wait()
        assert (old / "digits" / "curves.csv").is_file()
    for folder in (old, old / "digits"):  # killed runs' lock files: held by none, dropped
        (folder / ".lock").write_text('{"pid": 1}')
    assert runner.results_folder("seed002", "smoke", stream=log) == new
    assert log.getvalue().splitlines()[-1] == (
        "moved 1 file(s) from results/seed002/smoke (this study's folder under its former name "
        "'seed002') into results/ensemble_view/smoke; dropped 2 identical copies and stale "
        "lock files")
    assert (new / "digits" / "curves.csv").is_file() and not Path("results/seed002").exists()
    assert not list(new.rglob(".lock"))
    # a link is never followed out of the old folder
    elsewhere = tmp_path / "elsewhere.txt"
    elsewhere.write_text("x")
    old.mkdir(parents=True)
    (old / "records.jsonl").symlink_to(elsewhere)
    with pytest.raises(ValueError, match="records.jsonl"):
        runner.results_folder("seed002", "smoke")
    assert elsewhere.read_text() == "x" and (old / "records.jsonl").is_symlink()
    # the new name made a link to the old folder (two names, one folder): nothing is touched
    (tmp_path / "linked" / "results" / "seed002" / "smoke").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "linked")
    old.joinpath("curves.csv").write_text("epoch\n")
    Path("results/ensemble_view").symlink_to("seed002")
    with pytest.raises(ValueError, match=r"^results/ensemble_view is a link; the zoo moves no "
                                         r"results through one: move what results/seed002/"
                                         r"smoke holds into results/ensemble_view/smoke "):
        runner.results_folder("seed002", "smoke")
    assert old.joinpath("curves.csv").read_text() == "epoch\n"
    # a folder in the old one where the new one has a file: a clash, found before any move
    Path("results/ensemble_view").unlink()
    (old / "digits").mkdir()
    (old / "digits" / "run.json").write_text("{}")
    new.mkdir(parents=True)
    (new / "digits").write_text("a file")
    with pytest.raises(ValueError, match=r"and 1 of its files differ .* \(first: "
                                         r"digits/run.json\)"):
        runner.results_folder("seed002", "smoke")
    assert sorted(p.name for p in old.rglob("*")) == ["curves.csv", "digits", "run.json"]
    # a move killed between its link and its unlink: two names of one file, dropped as the
    # same bytes (the new name stays); then an old command's --out goes to the new folder
    (new / "digits").unlink()
    for path in sorted(old.rglob("*")):
        if path.is_file():
            (new / path.relative_to(old)).parent.mkdir(parents=True, exist_ok=True)
            os.link(path, new / path.relative_to(old))
            break
    log = io.StringIO()
    assert runner.results_folder("seed002", "smoke", stream=log) == new
    assert log.getvalue() == ("moved 1 file(s) from results/seed002/smoke (this study's folder "
                              "under its former name 'seed002') into results/ensemble_view/smoke; "
                              "dropped 1 identical copies and stale lock files\n")
    assert sorted(p.name for p in new.rglob("*") if p.is_file()) == ["curves.csv", "run.json"]
    assert not Path("results/seed002").exists()
    old.mkdir(parents=True)
    (old / "records.jsonl").write_text("{}\n")
    monkeypatch.setattr(ensemble_view, "report", lambda out, budget: {"claims": []})
    log = io.StringIO()
    runner.reproduce("ensemble_view", "smoke", out="results/seed002/smoke", report_only=True,
                     stream=log)
    assert log.getvalue().splitlines()[0] == (
        "results/seed002/smoke is this study's folder under its former name: the run uses "
        "results/ensemble_view/smoke (what the old folder holds is moved there)")
    assert (new / "records.jsonl").read_text() == "{}\n" and not Path("results/seed002").exists()


def test_a_report_whose_plot_fails_leaves_the_last_report_as_it_was(tmp_path):
    import pandas as pd

    from zoo.studies import base

    summary = base.summary_head("broken", "smoke", ensemble_view.BUDGETS["smoke"],
                                splits={"x": "the test split"}, rows=[])
    for name in ("t.csv", "summary.json", "report.md", "plots.png"):
        (tmp_path / name).write_text("old")

    def plot(path):
        raise RuntimeError("no display")

    with pytest.raises(RuntimeError, match="no display"):
        base.write_report(tmp_path, {"t": pd.DataFrame({"a": [1]})}, summary, ["new"],
                          plot=plot)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "plots.png", "report.md", "summary.json", "t.csv"]
    assert {p.read_text() for p in tmp_path.iterdir()} == {"old"}
    with pytest.raises(TypeError, match="lacks splits, claims, verdict_counts"):
        base.write_report(tmp_path, {}, {"study": "s", "budget": "b", "settings": {}}, [])


def test_a_command_typed_with_an_old_name_is_recorded_under_the_new_one(tmp_path, monkeypatch):
    from zoo import cli
    from zoo.studies import runner

    # the study's word is found by parsing: an option's value that reads the same stays
    argv = ["reproduce", "--out", "seed001", "seed001", "--report-only"]
    assert cli._with_study(argv, "seed001", "merge_and_run") == [
        "reproduce", "--out", "seed001", "merge_and_run", "--report-only"]
    assert cli._with_study(["reproduce", "seed001", "--out=seed001"], "seed001",
                           "merge_and_run") == ["reproduce", "merge_and_run", "--out=seed001"]
    monkeypatch.setattr(runner.get_study("merge_and_run"), "report", lambda out, budget: {})
    monkeypatch.chdir(tmp_path)
    Path("seed001").mkdir()
    assert cli.main(argv) == 0
    assert Path("seed001/commands.sh").read_text().splitlines()[-1] == \
        "zoo reproduce --out seed001 merge_and_run --report-only"
    assert not Path("merge_and_run").exists() and not Path("results").exists()
    # --report-only on a folder that does not exist: one line, and no folder made
    assert cli.main(["reproduce", "merge_and_run", "--report-only"]) == 2
    assert not Path("results").exists()


def _committed(pattern) -> list[str]:
    """The files git tracks under ``pattern`` (what a clean checkout holds, not what a
    running study or a leftover of an old checkout adds beside them)."""
    return subprocess.run(["git", "ls-files", "--", pattern], cwd=ROOT, check=True,
                          capture_output=True, text=True).stdout.splitlines()


def test_every_committed_results_folder_has_the_one_layout():
    """results/<study>/<budget>/: the report's files and tables at the top, one folder per
    dataset of the budget below them (what a dataset's folder holds is the study's own)."""
    from zoo.studies import runner

    committed = [Path(p).parts[1:] for p in _committed("results")]
    folders = sorted({parts[:2] for parts in committed})
    assert {name for name, _ in folders} == set(runner.STUDIES)
    for name, budget in folders:
        folder = ROOT / "results" / name / budget
        study = runner.get_study(name)
        summary = json.loads((folder / "summary.json").read_text())
        assert (summary["study"], summary["budget"]) == (name, budget)
        assert {"settings", "splits", "claims", "verdict_counts"} <= set(summary), folder
        assert summary["settings"] == json.loads(json.dumps(study.BUDGETS[budget].settings()))
        inside = [parts[2:] for parts in committed if parts[:2] == (name, budget)]
        files = {p[0] for p in inside if len(p) == 1}
        assert {"summary.json", "report.md", "commands.sh"} <= files, folder
        assert files - {"summary.json", "report.md", "commands.sh", "sessions.jsonl",
                        "plots.png"} == {f for f in files if f.endswith(".csv")}, folder
        dirs = {p[0] for p in inside if len(p) > 1}
        assert dirs and dirs <= set(study.BUDGETS[budget].datasets), folder
        assert (folder / "report.md").read_text().startswith(f"# {name} ({budget}): "
                                                             f"{study.TITLE}\n")
        for line in (folder / "commands.sh").read_text().splitlines():  # this study's commands
            if line.startswith("zoo "):
                assert runner.study_name(line.split()[2]) == name, line


# ---- ensemble_view: the ensemble view (Veit et al.) ----

from zoo.studies import ensemble_view  # noqa: E402
from zoo.studies.records import Records  # noqa: E402


def test_ensemble_view_trained_nets_are_committed_once_and_load_from_the_zoo(tmp_path):
    """The cpu run folders keep config, curves and results; the nets are the published ones,
    loaded after their cards are checked against the run (another card is refused)."""
    from zoo.run_folder import RunFolder
    from zoo.studies import runs

    budget, out = ensemble_view.BUDGETS["cpu"], ROOT / "results" / "ensemble_view" / "cpu"
    for dataset in budget.datasets:
        for which in ensemble_view.MODELS:
            run = RunFolder(ensemble_view._run_dir(out, dataset, which, budget))
            assert run.is_finished() and not run.model_file.exists()
            model = ensemble_view._train(out, dataset, which, budget, stream=None)  # no training
            assert model.count_params() == run.config()["params"]
            assert type(model.layers[1]).__name__ == "PixelStandardization"  # the zoo's copy
    with pytest.raises(ValueError, match=r"plain20: the published 'plain20.mnist' is not this "
                                         r"run's network \(recipe 'zoo' vs 'he2016'; epochs 6 "
                                         r"vs 3; test accuracy 0.9948 vs 0.9943"):
        runs.train(out / "mnist" / "plain20", "plain20", "mnist", published="plain20.mnist")
    # a rerun of the same settings (same card fields but its own results) is not the zoo's net
    rerun = tmp_path / "preresnet110"
    shutil.copytree(out / "mnist" / "preresnet110", rerun)
    result = json.loads((rerun / "results.json").read_text())
    (rerun / "results.json").write_text(json.dumps({**result, "test_accuracy": 0.9911,
                                                    "train_seconds": 3000.0}))
    with pytest.raises(ValueError, match=r"test accuracy 0.9941 vs 0.9911; .*training seconds "
                                         r"3387.63 vs 3000.0\)"):
        runs.train(rerun, "resnet110", "mnist", published="preresnet110.mnist")


def test_records_resume_after_a_killed_write(tmp_path):
    path = tmp_path / "records.jsonl"
    log = Records(path)
    log.add("a", kind="single", accuracy=0.5)
    log.add("b", kind="single", accuracy=float("nan"))  # stored as null: JSON has no NaN
    with open(path, "a") as f:
        f.write('{"key": "c", "kind": "sin')  # killed mid-line
    again = Records(path)
    assert list(again.rows) == ["a", "b"] and again.rows["b"]["accuracy"] is None
    again.add("c", kind="single", accuracy=0.25)
    assert [r["key"] for r in Records(path).of("single")] == ["a", "b", "c"]
    json.loads(path.read_text().splitlines()[-1])  # every line whole again
    with open(path, "a") as f:
        f.write('{"key": "d", "kind": "single"}')  # whole, but its newline was lost
    assert "d" in Records(path) and path.read_text().endswith("\n")
    assert Records(path).discard("b") == 1 and Records(path).discard("x") == 0
    assert list(Records(path).rows) == ["a", "c", "d"]
    path.write_text('{"key": "a"}\nnot json\n{"key": "b"}\n')
    with pytest.raises(ValueError, match=r"records.jsonl:2 is not a JSON line"):
        Records(path)


def test_redo_names_the_keys_a_study_has(tmp_path):
    from zoo.studies.runner import discard

    with pytest.raises(ValueError, match=r"holds no measurement log \(\*/records.jsonl\) to redo: this study keeps none"):
        discard(tmp_path, "gradient/")  # a study resuming from run folders has nothing to redo
    log = Records(tmp_path / "mnist" / "records.jsonl")
    log.add("ratios/resnet/3/init", kind="ratios")
    log.add("accuracy/resnet/3", kind="accuracy")
    with pytest.raises(ValueError, match=r"start with accuracy/, ratios/$"):
        discard(tmp_path, "gradient/")
    assert discard(tmp_path, "ratios/") == 1
    assert list(Records(tmp_path / "mnist" / "records.jsonl").rows) == ["accuracy/resnet/3"]


def test_ensemble_view_plan_draws_are_fixed_by_key():
    budget = ensemble_view.BUDGETS["cpu"]
    units = ensemble_view._dataset_units(budget, "mnist")
    assert len(units["resnet"]) == 54 and sum(u.is_transition for u in units["resnet"]) == 2
    items = list(ensemble_view._items(budget, units))
    keys = [key for key, *_ in items]
    assert len(keys) == len(set(keys)) == ensemble_view.count_items(budget, units)
    by_key = {key: args for key, _, _, args in items}
    assert len([k for k in keys if k.startswith("single/resnet/")]) == 54
    assert len([k for k in keys if k.startswith("random/resnet/")]) == 20 * 10
    assert [k for k in keys if k.startswith("branches/")] == ["branches/resnet"]
    for k in (1, 20):  # k distinct non-transition units
        deleted = by_key[f"random/resnet/{k}/3"]["deleted"]
        assert len(set(deleted)) == k and not {18, 36} & set(deleted)  # the transitions
    assert by_key == {key: args for key, _, _, args in ensemble_view._items(budget, units)}
    gradient = [a for key, a in by_key.items() if key.startswith("gradient/")]
    assert {a["k"] for a in gradient} == set(range(55))  # Veit's 54 units, transitions too
    assert sum(a["samples"] for a in gradient if a["k"] == 7) == 100


def test_ensemble_view_drop_against_branch_ratio_by_hand():
    single = pd.DataFrame({"dataset": "d", "unit": [0, 1, 2, 4], "drop": [0.5, 0.01, 0.02, 0.0]})
    branches = pd.DataFrame({"dataset": "d", "model": "resnet", "unit": [0, 1, 2, 3, 4],
                             "median": [1.0, 0.2, 0.3, 9.0, 0.1]})  # unit 3: a transition
    h = ensemble_view._drop_vs_branch(single, branches)
    assert h["drop_vs_branch_ratio_rho"] == pytest.approx(1.0)  # same ranks, unit 3 left out
    assert h["largest_drop_unit"] == 0 and h["largest_drop_unit_branch_ratio"] == 1.0
    assert h["median_branch_ratio"] == pytest.approx(0.25)
    single["drop"] = [0.0, 0.5, 0.3, 0.2]  # ranks 1, 4, 3, 2 against 4, 2, 3, 1
    assert ensemble_view._drop_vs_branch(single, branches)["drop_vs_branch_ratio_rho"] == \
        pytest.approx(-0.4)


def _smoke(out, study):
    """Run (or rerun) a study's smoke budget into ``out`` through the CLI; its stdout."""
    proc = _cli("reproduce", study, "--budget", "smoke", "--out", str(out))
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr[-3000:]
    return stdout


def test_ensemble_view_smoke_end_to_end_and_resume(tmp_path):
    out = tmp_path / "ensemble_view" / "smoke"
    stdout = _smoke(out, "ensemble_view")
    assert "digits/single-resnet: " in stdout  # one line per claim
    single = pd.read_csv(out / "single_unit_lesions.csv")
    for model, n in (("resnet", 9), ("plain", 9)):  # one row per deleted unit
        assert sorted(single.loc[single["model"] == model, "unit"]) == list(range(n))
    plain_t = single[(single["model"] == "plain") & single["transition"]]
    assert plain_t["accuracy"].isna().all() and len(plain_t) == 2  # cannot be deleted
    branches = pd.read_csv(out / "branch_ratios.csv")  # one row per unit of the ResNet
    assert list(branches["unit"]) == list(range(9)) and set(branches["model"]) == {"resnet"}
    assert (branches["q25"] <= branches["median"]).all() and (branches["median"] > 0).all()
    random = pd.read_csv(out / "random_lesions.csv")
    assert set(random["k"]) == {1, 2, 3} and len(random) == 2 * 3 * 2
    grad = pd.read_csv(out / "path_gradients_summary.csv")
    assert list(grad["k"]) == list(range(10))  # all 9 units, transitions included
    assert grad["weighted_share"].sum() == pytest.approx(1)
    assert list(grad["paths"]) == [math.comb(9, k) for k in range(10)]
    summary = json.loads((out / "summary.json").read_text())
    single_head = summary["datasets"]["digits"]["single"]
    assert single_head["resnet_units"] == 7
    digits = summary["datasets"]["digits"]
    assert digits["complete"] and digits["measured"] == digits["planned"] == len(
        (out / "digits" / "records.jsonl").read_text().splitlines())
    assert -1 <= single_head["drop_vs_branch_ratio_rho"] <= 1
    assert summary["paper"]["effective_range"] == [5, 17]
    assert summary["networks_per_dataset"] == 1
    assert "deleting one of 7 non-transition units" in summary["numbers"][0]
    claims = {c["id"].split("/")[1]: c for c in summary["claims"]}
    assert claims["single-resnet"]["n"] == 7 and claims["single-resnet-without-unit-0"]["n"] == 6
    assert claims["random-smooth"]["kind"] == "monotone"
    for name in ("models.csv", "reorder_lesions.csv", "path_gradients.csv", "report.md",
                 "plots.png"):
        assert (out / name).stat().st_size > 0
    # a rerun measures nothing again (and trains nothing): the records are unchanged
    log = (out / "digits" / "records.jsonl").read_text()
    model = (out / "digits" / "preresnet20" / "model.keras").stat().st_mtime
    _smoke(out, "ensemble_view")
    assert (out / "digits" / "records.jsonl").read_text() == log
    assert (out / "digits" / "preresnet20" / "model.keras").stat().st_mtime == model
    # --redo measures the named items again, from the same seeded draws: same values back
    before = {r["key"]: r for r in Records(out / "digits" / "records.jsonl").of("gradient")}
    proc = _cli("reproduce", "ensemble_view", "--budget", "smoke", "--out", str(out),
                "--redo", "gradient/")
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr[-3000:]
    assert f"redo: {len(before)} measurements starting with 'gradient/' dropped" in stderr
    after = Records(out / "digits" / "records.jsonl")
    assert len(after) == len(log.splitlines())
    for key, row in before.items():
        np.testing.assert_allclose(after.rows[key]["norms"], row["norms"], rtol=1e-5)
    assert list(after.rows)[-len(before):] == list(before)  # measured again: the last lines
    assert (out / "digits" / "preresnet20" / "model.keras").stat().st_mtime == model
    proc = _cli("reproduce", "ensemble_view", "--budget", "smoke", "--out", str(out),
                "--redo", "nothing/")
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 2 and "has a key starting with 'nothing/'" in stderr
    assert "the keys there start with" in stderr and "gradient/" in stderr


# ---- merge_and_run: merge-and-run (Zhao, Wang et al.) ----

from zoo.studies import merge_and_run  # noqa: E402


def test_merge_and_run_cpu_models_have_parameters_within_5_percent():
    budget = merge_and_run.BUDGETS["cpu"]
    counts = {}
    for key, (name, overrides) in budget.models().items():
        model = zoo.create_model(name, input_shape=(28, 28, 1), **overrides)
        counts[key] = model.count_params()
        assert model.name == overrides["name"]
    assert counts["dmrnet"] == 546_650 and counts["resnet38"] == 566_746  # +3.7%
    assert abs(counts["resnet38"] / counts["dmrnet"] - 1) < 0.05
    for ablation in ("identity", "inception_like"):  # the blocks differ only in wiring
        assert abs(counts[ablation] / counts["dmrnet"] - 1) < 0.01


def test_merge_and_run_verdicts_against_a_hand_computation():
    """Paired t over seeds (scipy as the reference), Holm over the study's three claims."""
    from scipy.stats import ttest_rel

    from zoo.studies.claims import judge

    budget = merge_and_run.SeedsBudget(("d",), 20, 38, "dmrnet", 4, None, (0, 1, 2, 3, 4))
    dmr = [0.91, 0.92, 0.93, 0.925, 0.915]

    def verdicts(resnet, identity, inception):
        frame = pd.DataFrame({"dataset": "d", "seed": list(range(5)) * 4,
                              "model": ["dmrnet"] * 5 + ["resnet38"] * 5 + ["identity"] * 5
                              + ["inception_like"] * 5,
                              "test_accuracy": dmr + resnet + identity + inception})
        rows = judge(merge_and_run.claims(budget), merge_and_run.measurements(frame, budget))
        return {r["id"].split("/")[1]: r for r in rows}

    behind = [a - 0.012 + e for a, e in zip(dmr, [0, 0.002, -0.001, 0.001, -0.002])]
    ahead = [a + 0.012 + e for a, e in zip(dmr, [0, 0.002, -0.001, 0.001, -0.002])]
    noisy = [a + e for a, e in zip(dmr, [0.01, -0.012, 0.004, -0.003, 0.002])]
    rows = verdicts(behind, ahead, noisy)
    assert rows["dmrnet-vs-resnet"]["verdict"] == "reproduced"
    assert rows["dmrnet-vs-identity"]["verdict"] == "contradicted"
    assert rows["dmrnet-vs-inception"]["verdict"] == "inconclusive"
    p = ttest_rel(np.array(dmr) * 100, np.array(behind) * 100).pvalue
    assert rows["dmrnet-vs-resnet"]["p"] == pytest.approx(p)
    assert rows["dmrnet-vs-resnet"]["estimate"] == pytest.approx(1.2, abs=1e-9)
    assert rows["dmrnet-vs-resnet"]["tests_in_family"] == 3
    assert rows["dmrnet-vs-inception"]["mde"] > 0  # the detectable effect is reported
    # three seeds just ahead, p ~ 0.04 alone: not significant after Holm over three tests
    frame = pd.DataFrame({"dataset": "d", "seed": [0, 1, 2] * 2,
                          "model": ["dmrnet"] * 3 + ["resnet38"] * 3,
                          "test_accuracy": [0.91, 0.92, 0.93, 0.90, 0.905, 0.915]})
    rows = judge(merge_and_run.claims(budget),
                 merge_and_run.measurements(frame, budget, finished=True))
    assert rows[0]["p"] < 0.05 and rows[0]["verdict"] == "reproduced"  # the only test
    assert [r["verdict"] for r in rows[1:]] == ["not tested", "not tested"]
    # the same three of five planned seeds while the run goes on: no verdict from that look
    going = merge_and_run.measurements(frame, budget)["d/dmrnet-vs-resnet"]
    assert going.pending and going.not_tested == (
        "interim, not judged: 3 of 5 seeds (mean so far +1.33); the run goes on")
    rows = judge(merge_and_run.claims(budget), merge_and_run.measurements(frame, budget))
    assert [r["verdict"] for r in rows] == ["not tested"] * 3


def test_merge_and_run_smoke_end_to_end(tmp_path):
    out = tmp_path / "merge_and_run" / "smoke"
    stdout = _smoke(out, "merge_and_run")
    runs = pd.read_csv(out / "runs.csv")
    for column in ("model", "seed", "params", "test_accuracy", "test_loss",
                   "seconds_per_epoch"):
        assert column in runs.columns
    assert len(runs) == 8 and set(runs["seed"]) == {0, 1}
    assert (runs["seconds_per_epoch"] > 0).all() and (runs["test_accuracy"] > 0.5).all()
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["paired"]) == {"digits/dmrnet-resnet14", "digits/dmrnet-identity",
                                      "digits/dmrnet-inception_like"}
    assert [c["id"] for c in summary["claims"]] == [
        "digits/dmrnet-vs-resnet", "digits/dmrnet-vs-identity", "digits/dmrnet-vs-inception"]
    assert {c["verdict"] for c in summary["claims"]} <= {"reproduced", "contradicted",
                                                         "inconclusive", "not tested"}
    assert "digits/dmrnet-vs-resnet: " in stdout  # one line per claim
    stamp = (out / "digits" / "dmrnet" / "seed-0" / "model.keras").stat().st_mtime
    _smoke(out, "merge_and_run")  # finished runs are never trained again
    assert (out / "digits" / "dmrnet" / "seed-0" / "model.keras").stat().st_mtime == stamp


# ---- norm_preservation: norm preservation (Zaeemzadeh et al.) ----

from zoo.studies import norm_preservation  # noqa: E402


def test_norm_preservation_depths_and_parameters_are_the_papers():
    """One name, one architecture: the study's 164-layer ResNet is the paper's pre-activation
    bottleneck net (1.71M parameters on CIFAR-10), the same as the registry's preresnet164,
    and ProcResNet-(9n+4) is compared with PreResNet-(9n+2) of the same units per stage."""
    cpu = norm_preservation.BUDGETS["cpu"]
    assert norm_preservation.depths_of("preresnet", cpu) == [20, 56, 110, 164]
    assert norm_preservation.depths_of("plain", cpu) == [20, 56, 110, 164]
    assert norm_preservation.depths_of("procresnet", cpu) == [22, 58, 112, 166]
    _, net = norm_preservation._build("preresnet", 18, "digits", 0)
    ref = zoo.create_model("preresnet164", input_shape=(8, 8, 1), input_normalization="digits")
    assert net.count_params() == ref.count_params()
    cifar = zoo.create_model("preresnet164", input_shape=(32, 32, 3))
    assert abs(cifar.count_params() / norm_preservation.PAPER_PARAMS["preresnet164"] - 1) < 0.02
    runs = list(norm_preservation._compare_runs(cpu))  # (seed, folder part, name, model, overrides)
    assert [r[2] for r in runs[:2]] == ["procresnet22", "preresnet20"]
    assert {r[0] for r in runs if r[2] == "procresnet22"} == {0, 1, 2, 3, 4}  # >= 5 seeds
    assert {r[0] for r in runs if r[2] == "procresnet58"} == {0, 1, 2}  # a deeper pair
    proc = zoo.create_model(runs[0][3], input_shape=(28, 28, 1), **runs[0][4])
    pre = zoo.create_model(runs[1][3], input_shape=(28, 28, 1), **runs[1][4])
    assert (proc.name, pre.name) == ("procresnet22", "preresnet20")
    assert abs(proc.count_params() / pre.count_params() - 1) < 0.1  # about equal size
    # the ablation's ProcResNet-22 seeds 0-2 are the comparison's: trained once, not twice
    shared = {r[0] for r in runs if r[1] == "accuracy"}
    assert shared == set(cpu.seeds) and all(r[2] == cpu.accuracy_model and r[4] == {}
                                            for r in runs if r[1] == "accuracy")
    gpu = norm_preservation.BUDGETS["gpu"]
    assert [norm_preservation.depth_of("procresnet", n) for n, _ in gpu.comparisons] == [166]
    gpu_runs = list(norm_preservation._compare_runs(gpu))  # ProcResNet-166: all five seeds shared
    assert sorted((r[0], r[1]) for r in gpu_runs if r[2] == "procresnet166") == [
        (s, "accuracy") for s in range(5)]


def test_norm_preservation_verdicts_on_hand_made_ratios():
    rows = []
    # PreResNet identity blocks closer to 1 than plain ones and shrinking with depth; plain
    # flat; transitions far from 1
    for depth, res_dev, plain_dev in ((20, 0.2, 0.5), (56, 0.1, 0.52), (110, 0.05, 0.49)):
        for family, dev in (("preresnet", res_dev), ("plain", plain_dev)):
            identity = depth // 10  # 2, 5 and 11 identity blocks, then one transition
            for pos in range(identity + 1):
                rows.append({"dataset": "d", "family": family, "depth": depth,
                             "phase": "trained", "position": pos, "block": f"b{pos}",
                             "kind": "unit", "transition": pos == identity,
                             "ratio": float(np.exp(dev * (1 + 0.01 * pos)
                                                   if pos < identity else 1.0))})
    summary = norm_preservation.ratio_summary(pd.DataFrame(rows))
    one = summary[(summary["family"] == "preresnet") & (summary["depth"] == 56)
                  & (summary["type"] == "identity")].iloc[0]
    assert one["blocks"] == 5 and one["mean_abs_log_ratio"] == pytest.approx(0.102)
    assert one["log2L_over_L"] == pytest.approx(math.log(10) / 5)
    from zoo.studies.claims import judge

    budget = norm_preservation.NormBudget(("d",), {"preresnet": (2, 6, 12), "plain": (3, 9, 18)})
    empty = pd.DataFrame(columns=["dataset", "seed", "projection", "test_accuracy"])
    comp = pd.DataFrame(columns=["dataset", "depth", "seed", "family", "test_accuracy"])
    verdicts = {r["id"].split("/")[1]: r for r in judge(
        norm_preservation.claims(budget),
        norm_preservation.measurements(summary, empty, comp, budget))}
    assert verdicts["delta-shrinks"]["verdict"] == "reproduced"
    assert verdicts["delta-shrinks"]["large_reversals"] == 0
    assert verdicts["skips-keep-norm"]["n"] == 3
    assert verdicts["skips-keep-norm"]["estimate"] == pytest.approx(
        np.mean([0.2 * 1.005 - 0.5 * 1.005, 0.1 * 1.02 - 0.52 * 1.02,
                 0.05 * 1.05 - 0.49 * 1.05]))
    assert verdicts["procresnet166-vs-preresnet164"]["verdict"] == "not tested"
    assert "gpu" in verdicts["procresnet166-vs-preresnet164"]["reason"]
    assert verdicts["projection-accuracy"]["verdict"] == "not tested"
    # PreResNet-56 and -110 diverged (recorded without blocks): the run is finished, and the
    # reason says why the claim has one depth, not "the study resumes"
    short = summary[~((summary["family"] == "preresnet") & (summary["depth"] > 20))]
    lost = pd.DataFrame({"dataset": "d", "family": "preresnet", "depth": [56, 110],
                         "phase": "trained", "message": "diverged"})
    for diverged, expected in ((None, "not measured yet"),
                               (lost, "give 1 depth(s) with both sides of the comparison "
                                      "measured (20), preresnet-110, preresnet-56 diverged")):
        rows = {r["id"].split("/")[1]: r for r in judge(
            norm_preservation.claims(budget),
            norm_preservation.measurements(short, empty, comp, budget, diverged))}
        assert rows["skips-keep-norm"]["verdict"] == "not tested"
        assert expected in rows["skips-keep-norm"]["reason"]


def test_norm_preservation_smoke_end_to_end(tmp_path):
    out = tmp_path / "norm_preservation" / "smoke"
    stdout = _smoke(out, "norm_preservation")
    ratios = pd.read_csv(out / "ratios.csv")
    assert set(ratios["family"]) == set(norm_preservation.FAMILIES)
    assert set(ratios["phase"]) == {"init", "trained"} and (ratios["ratio"] > 0).all()
    # every block between the first and the last unit: a depth-14 ResNet has 6 units
    # a bottleneck PreResNet-20 has 6 units; 3 are transitions (16 -> 64 widens stage 1)
    res20 = ratios[(ratios["family"] == "preresnet") & (ratios["depth"] == 20)
                   & (ratios["phase"] == "init")]
    assert len(res20) == 6 and res20["transition"].sum() == 3
    # its twin without skips: the same blocks, block for block
    twin = ratios[(ratios["family"] == "preresnet_noskip") & (ratios["depth"] == 20)
                  & (ratios["phase"] == "init")]
    assert list(twin["transition"]) == list(res20["transition"])
    acc = pd.read_csv(out / "accuracy.csv")
    assert len(acc) == 4 and set(acc["projection"]) == {True, False}
    comp = pd.read_csv(out / "compare.csv")  # ProcResNet-13 vs PreResNet-11, two seeds
    assert sorted(comp["model"]) == ["preresnet11"] * 2 + ["procresnet13"] * 2
    one_epoch = pd.read_csv(out / "ratio_models.csv")  # each net after its one epoch
    assert len(one_epoch) == 8 and one_epoch["test_accuracy"].between(0, 1).all()
    summary = json.loads((out / "summary.json").read_text())
    ids = [c["id"].split("/")[1] for c in summary["claims"]]
    assert "procresnet13-vs-preresnet11" in ids and "projection-accuracy" in ids
    assert "skips-keep-norm-same-units" in ids
    assert summary["settings"]["ratio_batch_normalization"].startswith("statistics of the")
    assert "digits/procresnet13-vs-preresnet11: " in stdout
    # a finished run whose budget has too few depths says so, not "the run goes on"
    assert ("digits/transitions-break-it: not tested (this budget's depths give 1 depth(s) "
            "with both sides of the comparison measured (20); a test needs two)") in stdout
    assert "not measured yet" not in stdout
    log = (out / "digits" / "records.jsonl").read_text()
    _smoke(out, "norm_preservation")  # nothing is measured or trained twice
    assert (out / "digits" / "records.jsonl").read_text() == log
