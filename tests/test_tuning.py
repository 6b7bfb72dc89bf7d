"""KerasTuner grid searches: the grid, resuming after SIGKILL, failures, chief + workers,
shards and reports -- all with real searches on the embedded digits."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT

from zoo import tuning
from zoo.tuning.grids import GRIDS, Grid, select
from zoo.tuning.hypermodel import build_point, trainable_params


def _interactive():
    """In the child, before exec: SIGINT back to its default, as in a terminal. (pytest-xdist
    workers ignore SIGINT and children inherit that; Python then installs no
    KeyboardInterrupt handler, and the zoo leaves an ignored Ctrl-C ignored.)"""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def zoo_cli(*args, **popen):
    env = popen.pop("env", {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    popen.setdefault("preexec_fn", _interactive)
    return subprocess.Popen([sys.executable, "-m", "zoo.cli", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)


def test_seed000_grid_has_exactly_6912_points():
    grid = GRIDS["seed000"]
    assert grid.size() == 6912
    all_points = grid.points("mnist") + grid.points("cifar10")
    assert len(all_points) == 6912
    assert len({json.dumps(p, sort_keys=True) for p in all_points}) == 6912
    frame = pd.DataFrame(grid.points("mnist"))
    assert frame.nunique().to_dict() == {
        "dataset": 1, "layout": 2, "layers": 3, "filters": 3, "kernel_size": 3,
        "activation": 2, "batch_norm": 2, "downsample": 2, "head": 2, "learning_rate": 2,
        "batch_size": 2}


@pytest.mark.parametrize("index", [0, 1234, 3455])
def test_sequential_and_parallel_points_have_equal_parameters(index):
    point = {"model": "shallow_stack", **GRIDS["seed000"].points("mnist")[index]}
    twin = {**point, "layout": "parallel" if point["layout"] == "sequential" else "sequential"}
    a, b = (build_point(p, (28, 28, 1), 10) for p in (point, twin))
    assert trainable_params(a) == trainable_params(b) > 0


def test_other_family_grids_build():
    for name, index in (("resnet", 0), ("dmrnet", 5), ("procresnet", 1)):
        point = {"model": GRIDS[name].model, **GRIDS[name].points("mnist")[index]}
        model = build_point(point, (28, 28, 1), 10)
        assert model.output_shape == (None, 10)
    assert GRIDS["resnet"].size("mnist") == 16 and GRIDS["dmrnet"].size("mnist") == 27


def test_sample_and_shards_partition_exactly():
    sample = select(3456, sample=100, seed=0)
    assert len(set(sample)) == 100 and sample == select(3456, sample=100, seed=0)
    shards = [select(3456, sample=100, seed=0, shard=f"{i}/3") for i in (1, 2, 3)]
    assert sorted(sum(shards, [])) == sorted(sample)
    with pytest.raises(ValueError, match="shard i/N needs 1 <= i <= N, got '4/3'"):
        select(10, shard="4/3")
    with pytest.raises(ValueError, match="shard must look like i/N"):
        select(10, shard="half")


def _trials(folder):
    return {p.parent.name: json.loads(p.read_text())
            for p in folder.rglob("trial_*/trial.json")}


def test_search_resumes_after_sigkill_without_redoing_trials(tmp_path, capsys):
    args = ["tune", "--grid", "smoke", "--dataset", "digits", "--epochs", "1",
            "--project-dir", str(tmp_path)]
    proc = zoo_cli(*args)
    deadline = time.time() + 240
    while time.time() < deadline:
        done = [t for t in _trials(tmp_path).values() if t["status"] == "COMPLETED"]
        if len(done) >= 1:
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = {k: v for k, v in _trials(tmp_path).items() if v["status"] == "COMPLETED"}
    assert 1 <= len(before) < 4, "the kill came too late to test anything"
    out, err = zoo_cli(*args).communicate(timeout=300)
    assert "4 trials" in out and "4 COMPLETED" in out, err[-2000:]
    after = _trials(tmp_path)
    for trial_id, trial in before.items():  # finished trials are kept as they were
        assert after[trial_id] == trial
    frame = tuning.results(tmp_path)
    assert sorted(frame["point"]) == list(range(4)) and set(frame["status"]) == {"COMPLETED"}
    # the same directory with other settings is refused, not mixed
    from zoo.cli import main

    assert main([*args[:-2], "--seed", "1", "--project-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "zoo tune: error:" in err and "other settings (seed: 0 -> 1)" in err


def test_diverging_and_failing_trials_are_recorded_and_the_search_goes_on(tmp_path, monkeypatch):
    grid = Grid("faulty", "test", "shallow_stack", {
        "dataset": ("digits",), "kernel_size": (3, 4), "activation": ("linear",),
        "batch_norm": (False,), "filters": (4,), "layers": (2,),
        "learning_rate": (1e-3, 1e12), "batch_size": (64,)})
    monkeypatch.setitem(GRIDS, "faulty", grid)
    tuning.tune("faulty", "digits", project_dir=tmp_path, epochs=2)
    frame = tuning.results(tmp_path).set_index("point")
    assert list(frame.index) == [0, 1, 2, 3]
    assert frame.loc[0, "status"] == "COMPLETED" and np.isfinite(frame.loc[0, "val_loss"])
    assert frame.loc[1, "status"] == "FAILED" and "diverged" in frame.loc[1, "message"]
    for point in (2, 3):  # kernel size 4: the builder's ValueError, kept as the reason
        assert frame.loc[point, "status"] == "FAILED"
        assert "kernel_size must be a positive odd integer" in frame.loc[point, "message"]


def _listening(pid) -> list[str]:
    """The local addresses on which process ``pid`` listens for TCP (Linux /proc)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = []
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # LISTEN
                found.append(_address(fields[1]))
    return found


def _address(field):
    """/proc/net/tcp's "0100007F:1F90" (little-endian 32-bit words) as an ip_address."""
    import ipaddress

    raw = bytes.fromhex(field.split(":")[0])
    raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    address = ipaddress.ip_address(raw)
    return getattr(address, "ipv4_mapped", None) or address


def _chief_pid(parent):
    for child in Path(f"/proc/{parent}/task/{parent}/children").read_text().split():
        try:
            if b"KERASTUNER_TUNER_ID=chief" in Path(f"/proc/{child}/environ").read_bytes():
                return int(child)
        except OSError:
            pass
    return None


def test_chief_and_two_workers_run_every_point_exactly_once(tmp_path):
    # an address the user's environment asks for is overridden: the chief listens on loopback
    proc = zoo_cli("tune", "--grid", "smoke", "--dataset", "digits", "--epochs", "1",
                   "--project-dir", str(tmp_path), "--workers", "2",
                   env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3",
                        "KERASTUNER_ORACLE_IP": "0.0.0.0"})
    addresses, deadline = [], time.time() + 300
    while not addresses and proc.poll() is None and time.time() < deadline:
        chief = _chief_pid(proc.pid)
        try:
            addresses = _listening(chief) if chief else []
        except OSError:  # it ended meanwhile
            pass
        time.sleep(0.5)
    assert addresses and all(a.is_loopback for a in addresses), addresses
    out, err = proc.communicate(timeout=400)
    assert proc.returncode == 0, err[-3000:]
    frame = tuning.results(tmp_path)
    assert sorted(frame["point"]) == list(range(4))  # each point exactly once
    assert set(frame["status"]) == {"COMPLETED"}
    assert set(frame["worker"]) <= {0, 1} and len(frame) == 4  # workers train, chief serves
    assert {"chief.log", "tuner0.log", "tuner1.log"} <= {p.name for p in (tmp_path / "logs").iterdir()}


def test_shards_report_as_one_study(tmp_path):
    for shard in ("1/2", "2/2"):
        tuning.tune("smoke", "digits", project_dir=tmp_path, epochs=1, shard=shard, sample=3,
                    seed=3)
    frame = tuning.results(tmp_path)
    assert sorted(frame["point"]) == sorted(select(4, sample=3, seed=3))
    assert set(frame["search"]) == {"shard-1-of-2", "shard-2-of-2"}
    out = tuning.write_report(tmp_path, tmp_path / "report")
    for name in ("trials.csv", "table2.csv", "paired.csv", "summary.json", "report.md",
                 "plots.png"):
        assert (out / name).stat().st_size > 0
    assert len(pd.read_csv(out / "trials.csv")) == 3


def test_table2_and_pairs_against_a_hand_computed_frame():
    rows = []
    for layout, loss in (("sequential", 0.1), ("parallel", 0.3)):
        for filters, q in ((16, 0.5), (32, 2.0), (64, 20.0)):
            rows.append({"dataset": "mnist", "layout": layout, "filters": filters,
                         "status": "COMPLETED", "loss": loss * filters / 16,
                         "val_loss": loss + 0.05, "val_accuracy": 0.9, "seconds": 2.0,
                         "params": 1000 * filters, "q": q, "point": len(rows),
                         "trial_id": str(len(rows)), "search": ".", "message": "",
                         "grid": "seed000"})
    frame = pd.DataFrame(rows)
    t2 = tuning.table2(frame).set_index(["layout", "q_bin"])
    assert t2.loc[("sequential", "Q<1"), "loss"] == pytest.approx(0.1)
    assert t2.loc[("parallel", "1-3"), "loss"] == pytest.approx(0.6)
    assert t2.loc[("parallel", "3-10"), "trials"] == 0
    assert t2.loc[("sequential", ">=10"), "paper_val_loss"] == pytest.approx(0.13550)
    # the paper's numbers come with the grid that reconstructs its table, and only with it
    other = tuning.table2(frame.assign(grid="smoke"))
    assert len(other) == len(t2) and other["paper_val_loss"].isna().all()
    pairs = tuning.paired(frame)
    assert len(pairs) == 3 and np.allclose(pairs["val_loss_diff"], 0.2)
    summary = tuning.paired_summary(pairs)
    assert summary["equal_params"] and summary["parallel_lower_val_loss"] == 0.0


def test_cli_rejects_bad_arguments_in_one_line(tmp_path, capsys):
    from zoo.cli import main

    with pytest.raises(SystemExit) as exit_:  # argparse: before anything is imported
        main(["tune", "--grid", "nope", "--project-dir", str(tmp_path)])
    assert exit_.value.code == 2
    assert ("argument --grid: expected one of seed000, smoke, resnet, dmrnet, procresnet, got "
            "'nope'") in capsys.readouterr().err
    with pytest.raises(SystemExit):  # a study's name, typed for its grid
        main(["tune", "--grid", "sequential_vs_parallel", "--project-dir", str(tmp_path)])
    assert ("argument --grid: 'sequential_vs_parallel' is a study (zoo reproduce "
            "sequential_vs_parallel), not a grid: the grid it searches is 'seed000'"
            ) in capsys.readouterr().err
    assert main(["tune", "--grid", "smoke", "--dataset", "digits", "--shard", "0/2",
                 "--project-dir", str(tmp_path)]) == 2
    assert "shard i/N needs 1 <= i <= N" in capsys.readouterr().err
    for bad in ("-1", "two", str((os.cpu_count() or 1) + 1)):  # at most the cores
        with pytest.raises(SystemExit):
            main(["tune", "--project-dir", str(tmp_path / "w"), "--workers", bad])
        assert "argument --workers: expected" in capsys.readouterr().err
    with pytest.raises(ValueError, match=r"workers must be 1\.\.\d+ \(the CPU cores"):
        tuning.launch([], 10_000, tmp_path / "w")
    assert not (tmp_path / "w").exists()
    (tmp_path / "empty").mkdir()
    assert main(["tune-report", str(tmp_path / "empty")]) == 2
    assert "no trials found" in capsys.readouterr().err
    assert main(["tune-report", str(tmp_path / "missing")]) == 2
    assert "is not a folder" in capsys.readouterr().err


def test_tuning_is_exported():
    # in a fresh process: in this one the test module has imported zoo.tuning already
    code = ("import sys, zoo; t = zoo.tuning; "
            "print(t.GRIDS is sys.modules['zoo.tuning.grids'].GRIDS, callable(t.make_tuner))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.stdout.split() == ["True", "True"], proc.stderr[-2000:]


def test_a_kill_between_a_new_trial_file_and_the_oracle_state_runs_no_point_twice(
        tmp_path, monkeypatch):
    # KerasTuner writes a new trial's file, then the oracle's state. A process killed in
    # between left a RUNNING trial the state did not know: the resumed search proposed its
    # values again under a new id (the seed-000 study trained a point twice that way).
    from zoo.tuning.oracle import ResumableGridSearchOracle

    class Killed(BaseException):
        pass

    save_trial, save = ResumableGridSearchOracle._save_trial, ResumableGridSearchOracle.save
    seen = {}

    def recording_save_trial(self, trial):
        if trial.status == "RUNNING" and int(trial.trial_id) == 1:  # the second trial
            seen["new"] = True
        return save_trial(self, trial)

    def dying_save(self):
        if seen.pop("new", False):
            raise Killed
        return save(self)

    monkeypatch.setattr(ResumableGridSearchOracle, "_save_trial", recording_save_trial)
    monkeypatch.setattr(ResumableGridSearchOracle, "save", dying_save)
    with pytest.raises(Killed):
        tuning.tune("smoke", "digits", project_dir=tmp_path, epochs=1)
    (orphan_file,) = [p for p in tmp_path.glob("trial_*/trial.json") if int(p.parent.name[6:]) == 1]
    orphan = json.loads(orphan_file.read_text())
    assert orphan["status"] == "RUNNING"  # on disk; the oracle's state does not know it
    monkeypatch.undo()
    tuning.tune("smoke", "digits", project_dir=tmp_path, epochs=1)
    frame = tuning.results(tmp_path)
    assert sorted(frame["point"]) == [0, 1, 2, 3] and set(frame["status"]) == {"COMPLETED"}
    assert sorted(frame["trial_id"].astype(int)) == [0, 1, 2, 3]  # the orphan kept its id


@pytest.mark.parametrize("state_lists_it", [False, True], ids=["ours", "keras-tuner's"])
def test_a_kill_after_the_first_trial_ended_does_not_train_it_again(tmp_path, monkeypatch,
                                                                    state_lists_it):
    # KerasTuner's end_trial saves the oracle's state before it takes the ended trial off
    # ongoing_trials, its reload retries every ongoing trial, and Tuner.__init__ reloads only
    # when the tuner's own file exists, first written after that. A kill in between restarted
    # the project from nothing and retrained trial 0, overwriting its result.
    from zoo.tuning.oracle import ResumableGridSearchOracle

    class Killed(BaseException):
        pass

    save_trial, save = ResumableGridSearchOracle._save_trial, ResumableGridSearchOracle.save
    seen = {}

    def recording_save_trial(self, trial):
        seen["ended"] = trial.status == "COMPLETED" and int(trial.trial_id) == 0
        return save_trial(self, trial)

    def dying_save(self):
        save(self)
        if seen.pop("ended", False):
            raise Killed

    monkeypatch.setattr(ResumableGridSearchOracle, "_save_trial", recording_save_trial)
    monkeypatch.setattr(ResumableGridSearchOracle, "save", dying_save)
    with pytest.raises(Killed):
        tuning.tune("smoke", "digits", project_dir=tmp_path, epochs=1)
    monkeypatch.undo()
    trials = {int(p.parent.name[6:]): p for p in tmp_path.glob("trial_*/trial.json")}
    assert list(trials) == [0] and not list(tmp_path.glob("tuner*.json"))
    ended = trials[0].read_text()
    assert json.loads(ended)["status"] == "COMPLETED"
    state = json.loads((tmp_path / "oracle.json").read_text())
    assert state["ongoing_trials"] == {}  # ours says what is running
    if state_lists_it:  # a state file as stock KerasTuner writes it at that moment
        state["ongoing_trials"] = {"tuner0": json.loads(ended)["trial_id"]}
        (tmp_path / "oracle.json").write_text(json.dumps(state))
    tuning.tune("smoke", "digits", project_dir=tmp_path, epochs=1)
    assert trials[0].read_text() == ended  # kept, not trained again
    frame = tuning.results(tmp_path)
    assert sorted(frame["point"]) == [0, 1, 2, 3] and set(frame["status"]) == {"COMPLETED"}
    assert sorted(frame["trial_id"].astype(int)) == [0, 1, 2, 3]


_LOCK_RACER = """
import os, sys, time
from pathlib import Path
real_kill = os.kill
def slow_kill(pid, sig):  # the delay between reading the owner and taking over
    time.sleep(0.5)
    return real_kill(pid, sig)
os.kill = slow_kill
from zoo.locking import ProjectLock
go = Path(sys.argv[2])
print("ready", flush=True)
while not go.exists():
    time.sleep(0.01)
try:
    with ProjectLock(sys.argv[1]):
        print("held", flush=True)
        time.sleep(3)
except ValueError as e:
    print("refused:", e, flush=True)
"""


def _dead_pid():
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_racing_starters_on_a_stale_lock_leave_exactly_one_holder(tmp_path):
    # The lock used to be taken by "read a pid, see it dead, delete, create": starters that
    # all read the stale pid before any of them deleted it all held the lock.
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / ".lock").write_text(f"{_dead_pid()}\n")  # left by a dead owner
    go = tmp_path / "go"
    racers = [subprocess.Popen([sys.executable, "-c", _LOCK_RACER, str(folder), str(go)],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True) for _ in range(3)]
    for racer in racers:
        assert racer.stdout.readline().strip() == "ready"
    go.touch()
    outputs = [racer.communicate(timeout=60)[0] for racer in racers]
    held = [o for o in outputs if o.startswith("held")]
    refused = [o for o in outputs if o.startswith("refused: ")]
    assert len(held) == 1 and len(refused) == 2, outputs
    assert all("is being searched by process" in o for o in refused)
    assert not (folder / ".lock").exists()  # its holder removed it


def test_a_dead_owners_lock_frees_itself_even_when_its_pid_is_reused(tmp_path):
    from zoo.locking import ProjectLock

    folder = tmp_path / "project"
    code = ("import os, signal, sys\nfrom zoo.locking import ProjectLock\n"
            "ProjectLock(sys.argv[1]).__enter__()\nos.kill(os.getpid(), signal.SIGKILL)")
    proc = subprocess.run([sys.executable, "-c", code, str(folder)], cwd=ROOT)
    assert proc.returncode == -signal.SIGKILL and (folder / ".lock").exists()
    with ProjectLock(folder) as lock:  # the kernel released it with its owner
        assert lock.owner() == os.getpid()
    # a bare pid (an older zoo's lock file) now used by another program: not a zoo search
    other = subprocess.Popen(["sleep", "30"])
    try:
        (folder / ".lock").write_text(f"{other.pid}\n")
        with ProjectLock(folder):
            pass
    finally:
        other.kill()
        other.wait()
    # nested use in the owning process is allowed; another process is refused
    with ProjectLock(folder), ProjectLock(folder):
        code = "import sys\nfrom zoo.locking import ProjectLock\nProjectLock(sys.argv[1]).__enter__()"
        second = subprocess.run([sys.executable, "-c", code, str(folder)], cwd=ROOT,
                                capture_output=True, text=True)
        assert f"is being searched by process {os.getpid()}" in second.stderr


def _strict_json(path):
    def refuse(constant):
        raise AssertionError(f"{path} holds {constant}, which is not JSON")
    return json.loads(path.read_text(), parse_constant=refuse)


def test_tune_report_of_failed_or_unpaired_searches_and_of_a_typo(tmp_path, monkeypatch, capsys):
    import warnings

    from zoo.cli import main

    # its one point diverges: no completed trial
    failing = Grid("failing", "test", "shallow_stack", {
        "dataset": ("digits",), "kernel_size": (3,), "activation": ("linear",),
        "batch_norm": (False,), "filters": (4,), "layers": (2,), "learning_rate": (1e12,),
        "batch_size": (64,)})
    monkeypatch.setitem(GRIDS, "failing", failing)
    tuning.tune("failing", "digits", project_dir=tmp_path / "failed", epochs=1, verbose=0)
    assert main(["tune-report", str(tmp_path / "failed")]) == 0
    summary = _strict_json(tmp_path / "failed" / "summary.json")
    assert summary["median_seconds_per_trial"] is None and summary["best_trial"] is None
    assert summary["status"] == {"FAILED": 1}
    assert not (tmp_path / "failed" / "plots.png").exists()
    # a typo names no search: refused in one line, and no folder is created for it
    assert main(["tune-report", str(tmp_path / "typo")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no search found" in err
    assert not (tmp_path / "typo").exists()
    assert main(["tune-report", str(tmp_path / "failed"), "--out", str(tmp_path / "o2")]) == 0
    # one layout only: nothing to pair, so one plot panel, not an empty second one; and a
    # one-epoch trial (its previous-epoch loss is NaN) raises no All-NaN warning
    single = Grid("single", "test", "shallow_stack", {
        "dataset": ("digits",), "layout": ("sequential",), "kernel_size": (3,),
        "filters": (4,), "layers": (1,), "learning_rate": (3e-3,), "batch_size": (64,)})
    monkeypatch.setitem(GRIDS, "single", single)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tuning.tune("single", "digits", project_dir=tmp_path / "single", epochs=1, verbose=0)
    assert not [w for w in caught if "All-NaN" in str(w.message)], [str(w.message) for w in caught]
    out = tuning.write_report(tmp_path / "single")
    import matplotlib.image

    height, width = matplotlib.image.imread(out / "plots.png").shape[:2]
    assert width < 1.5 * height  # one panel
    assert _strict_json(out / "summary.json")["best_trial"]["settings"]["layout"] == "sequential"


def test_results_summary_best_models_and_reports_name_each_trials_hyperparameters(
        tmp_path, capsys):
    from zoo.cli import main

    folder = tuning.tune("smoke", "digits", project_dir=tmp_path, epochs=1, verbose=0)
    frame = tuning.results(folder)
    best = frame.loc[frame["val_loss"].idxmin()]
    # the same search reopened as a KerasTuner user would
    tuner = tuning.make_tuner("smoke", "digits", project_dir=tmp_path, epochs=1)
    capsys.readouterr()
    tuner.results_summary()
    out = capsys.readouterr().out
    assert f"Trial {best['trial_id']} (best): val_loss {best['val_loss']:.4g}" in out
    assert out.count("layout=") == 4 and "layers=" in out and "learning_rate=" in out
    (model,) = tuner.get_best_models(1)  # the best trial's weights were kept
    loss, _ = model.evaluate(tuner.hypermodel.x_val, tuner.hypermodel.y_val, verbose=0)
    assert loss == pytest.approx(best["val_loss"], rel=1e-4)
    assert len(list(tmp_path.glob("trial_*/best.weights.h5"))) == 1
    with pytest.raises(ValueError, match=r"^trial \d+ has no kept weights: .*$"):
        tuner.get_best_models(2)
    # the CLI names the best trial's settings, and so does the report
    assert main(["tune-report", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"best: trial {best['trial_id']}, point {best['point']}: ")
    assert f"layout={best['layout']}" in out and f"layers={best['layers']}" in out
    report = (tmp_path / "report.md").read_text()
    assert "## Best trials" in report and f"layout={best['layout']}" in report
    # a search run without keep_best says so in one line
    empty = tuning.make_tuner("smoke", "digits", project_dir=tmp_path / "new", epochs=1)
    with pytest.raises(ValueError, match="no completed trial"):
        empty.get_best_models()


class _Toy(__import__("keras_tuner").HyperModel):
    """A real KerasTuner hypermodel that trains nothing: each trial's val_loss is a function
    of its two hyperparameters. ``plan`` maps (a, b) to what its runs do, in turn."""

    def __init__(self, log, plan=None):
        super().__init__()
        self.log, self.plan = log, plan or {}

    def build(self, hp):
        import keras

        hp.Choice("a", [1, 2, 3])
        hp.Choice("b", ["x", "y"])
        return keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])

    def fit(self, hp, model, *args, **kwargs):
        key = (hp["a"], hp["b"])
        runs = [line for line in self.log.read_text().splitlines()
                if line == repr(key)] if self.log.exists() else []
        with self.log.open("a") as f:
            f.write(repr(key) + "\n")
        action = self.plan.get(key, [])[len(runs):len(runs) + 1]
        if action == ["crash"]:
            raise RuntimeError("a transient fault")  # INVALID: retried
        if action == ["kill"]:
            raise SystemExit("killed")  # not an Exception: ends the process's search
        return {"val_loss": hp["a"] + (0.5 if hp["b"] == "y" else 0.0)}


def _space():
    import keras_tuner

    hp = keras_tuner.HyperParameters()
    hp.Choice("a", [1, 2, 3])
    hp.Choice("b", ["x", "y"])
    return hp


def test_resumable_grid_search_takes_gridsearchs_arguments_and_walks_its_order(tmp_path):
    import keras_tuner

    from zoo.tuning.oracle import ResumableGridSearch

    orders = {}
    for name, cls in (("stock", keras_tuner.GridSearch), ("ours", ResumableGridSearch)):
        tuner = cls(_Toy(tmp_path / f"{name}.log"), objective="val_loss", directory=tmp_path,
                    project_name=name, hyperparameters=_space(), tune_new_entries=False,
                    allow_new_entries=False)
        tuner.search(verbose=0)
        orders[name] = [tuple(tuner.oracle.trials[t].hyperparameters.values.values())
                        for t in tuner.oracle.start_order]
    assert orders["ours"] == orders["stock"] and len(set(orders["ours"])) == 6


def test_a_search_killed_while_a_trial_is_retried_runs_that_trial_again(tmp_path):
    from zoo.tuning.oracle import ResumableGridSearch

    log = tmp_path / "runs.log"
    plan = {(2, "x"): ["crash", "kill"]}  # fails once (retry queued), killed in its retry

    def tuner():
        return ResumableGridSearch(_Toy(log, plan), objective="val_loss", directory=tmp_path,
                                   project_name="p", max_retries_per_trial=2)

    with pytest.raises(SystemExit):
        tuner().search(verbose=0)
    retried = [json.loads(p.read_text()) for p in tmp_path.glob("p/trial_*/trial.json")]
    assert [t["status"] for t in retried if t["hyperparameters"]["values"] == {"a": 2, "b": "x"}
            ] == ["RUNNING"]  # its file says what it was doing when killed
    resumed = tuner()
    resumed.search(verbose=0)
    statuses = {tuple(t.hyperparameters.values.values()): t.status
                for t in resumed.oracle.trials.values()}
    assert len(statuses) == 6 and set(statuses.values()) == {"COMPLETED"}, statuses
    assert log.read_text().splitlines().count("(2, 'x')") == 3  # crash, kill, completed


def _wait_for(stream, pattern, timeout=240):
    """Read ``stream`` line by line until one matches; returns what was read."""
    import re

    seen, deadline = [], time.time() + timeout
    while time.time() < deadline:
        line = stream.readline()
        if not line:
            break
        seen.append(line)
        if re.search(pattern, line):
            return "".join(seen)
    raise AssertionError(f"no line matching {pattern!r} in:\n" + "".join(seen)[-3000:])


def test_ctrl_c_stops_a_search_within_seconds_every_time_and_it_resumes(tmp_path):
    # The KeyboardInterrupt used to be swallowed now and then (in a weakref or XLA callback)
    # and the search ran on to the end with exit 0.
    args = ["tune", "--grid", "smoke", "--dataset", "digits", "--epochs", "14",
            "--project-dir", str(tmp_path)]
    for epoch in (2, 5, 12):  # at different moments of the search
        proc = zoo_cli(*args)
        _wait_for(proc.stderr, rf": epoch {epoch}/14")
        start = time.monotonic()
        proc.send_signal(signal.SIGINT)
        err = _wait_for(proc.stderr, "zoo: interrupted", timeout=30)
        stopped = time.monotonic() - start  # the search has stopped; TensorFlow then unloads
        _, rest = proc.communicate(timeout=60)
        ended = time.monotonic() - start
        assert proc.returncode == 130 and stopped < 2 and ended < 10, (
            proc.returncode, stopped, ended, err + rest)
        assert "stopping the search" in err
        trials = _trials(tmp_path).values()
        assert {t["status"] for t in trials} <= {"COMPLETED", "RUNNING"}  # nothing failed
    # a second Ctrl-C stops at once
    proc = zoo_cli(*args)
    _wait_for(proc.stderr, r": epoch 2/14")
    proc.send_signal(signal.SIGINT)
    time.sleep(0.05)
    start = time.monotonic()
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)
    # ended by SIGINT's default action (a shell shows 130): no unloading either
    assert proc.returncode in (130, -signal.SIGINT) and time.monotonic() - start < 1
    out, err = zoo_cli(*args).communicate(timeout=900)  # resumed to the end
    assert "4 trials" in out and "4 COMPLETED" in out, err[-2000:]
    frame = tuning.results(tmp_path)
    assert sorted(frame["point"]) == [0, 1, 2, 3]


def test_progress_inside_trials_a_batch_bar_on_a_terminal_and_epoch_lines_in_a_log(tmp_path):
    import pty
    import re

    args = [sys.executable, "-m", "zoo.cli", "tune", "--grid", "smoke", "--dataset", "digits",
            "--epochs", "2", "--max-trials", "1"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    master, slave = pty.openpty()
    import fcntl
    import struct
    import termios

    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))  # a terminal's size
    proc = subprocess.Popen([*args, "--project-dir", str(tmp_path / "tty")], cwd=ROOT, env=env,
                            stdin=slave, stdout=slave, stderr=slave)
    os.close(slave)
    output = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the terminal closed with the process
            break
        if not chunk:
            break
        output += chunk
    os.close(master)
    assert proc.wait(timeout=60) == 0
    text = output.decode(errors="replace")
    bar = re.search(r"point 0: epoch 2/2: .*\| *\d+/(\d+) \[", text)  # batches of an epoch
    assert bar and int(bar.group(1)) > 1, text[-2000:]
    # not a terminal: one line per epoch
    log = subprocess.run([*args, "--project-dir", str(tmp_path / "log")], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=300)
    assert re.search(r"(?m)^  point 0: epoch 1/2, loss [\d.]+ \([\d.]+ s\)$", log.stderr)
    assert re.search(r"(?m)^  point 0: epoch 2/2, loss [\d.]+ \([\d.]+ s\)$", log.stderr)


def test_a_cost_cap_keeps_expensive_points_out_of_a_sample(tmp_path, capsys):
    from zoo.cli import main
    from zoo.models.complexity import flops
    from zoo.tuning.hypermodel import point_flops

    grid = GRIDS["seed000"]
    points = [{"model": grid.model, **p} for p in grid.points("mnist")]
    chosen = tuning.search.capped_indices("seed000", "mnist", 20, sample=6, seed=0)
    assert len(chosen) == 6 and chosen == tuning.search.capped_indices(
        "seed000", "mnist", 20, sample=6, seed=0)
    for i in chosen:
        assert point_flops(points[i], (28, 28, 1), 10) <= 20e6
    # the architecture count is what a built model measures
    assert point_flops(points[chosen[0]], (28, 28, 1), 10) == flops(
        build_point(points[chosen[0]], (28, 28, 1), 10))
    costly = max(range(len(points)), key=lambda i: point_flops(points[i], (28, 28, 1), 10))
    assert points[costly]["layers"] == 8 and points[costly]["filters"] == 64
    # the command line: a cap that no point meets is one line; a cap is kept in the search
    assert main(["tune", "--grid", "smoke", "--dataset", "digits", "--max-mflops", "1e-6",
                 "--project-dir", str(tmp_path / "none")]) == 2
    assert "costs at most 1e-06 MFLOPs" in capsys.readouterr().err
    smoke = [{"model": "shallow_stack", **p} for p in GRIDS["smoke"].points("digits")]
    cheap = min(point_flops(p, (8, 8, 1), 10) for p in smoke) / 1e6
    assert main(["tune", "--grid", "smoke", "--dataset", "digits", "--epochs", "1",
                 "--sample", "4", "--max-mflops", str(cheap),
                 "--project-dir", str(tmp_path / "cheap")]) == 0
    indices = json.loads((tmp_path / "cheap" / "search.json").read_text())["indices"]
    assert indices and all(smoke[i]["layers"] == 1 for i in indices)


def test_a_chief_bound_beyond_loopback_warns_that_its_oracle_is_unauthenticated(capsys):
    from zoo.tuning.search import _warn_if_exposed

    for host in ("127.0.0.1", "::1", "localhost"):
        _warn_if_exposed(host)
        assert capsys.readouterr().err == ""
    for host in ("0.0.0.0", "10.0.0.1", "chief.example"):
        _warn_if_exposed(host)
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "without authentication" in err and host in err


def test_ctrl_c_in_a_notebook_raises_keyboard_interrupt_and_keeps_the_kernel(tmp_path,
                                                                           monkeypatch):
    # In a notebook kernel the search must not end the process: the interrupt is raised
    # at the next batch, the kernel's handler comes back, and the search resumes.
    import threading
    import types

    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    started = {}

    class Clock:
        def epoch_begin(self, trial, epoch):
            if epoch == 2 and "at" not in started:
                started["at"] = time.monotonic()
                threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT)).start()

        def batch_end(self, trial, batch):
            pass

        def epoch_end(self, trial, epoch, logs):
            pass

    tuner = tuning.make_tuner("smoke", "digits", project_dir=tmp_path, epochs=25)
    tuner.trial_progress = Clock()
    # a kernel has Python's handler; a pytest-xdist worker ignores SIGINT: act as a kernel
    inherited = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            tuner.search(verbose=0)
        assert time.monotonic() - started["at"] < 3
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, inherited)
    assert [t["status"] for t in _trials(tmp_path).values()] == ["RUNNING"]
    monkeypatch.undo()
    tuning.tune("smoke", "digits", project_dir=tmp_path, epochs=25, max_trials=1, verbose=0)
    assert [t["status"] for t in _trials(tmp_path).values()] == ["COMPLETED"]
