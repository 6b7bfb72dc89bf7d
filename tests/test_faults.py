"""Faults and bad input (issue: reliability and security): tampered and truncated files,
wrong arrays, malformed cards, interrupted and failed writes. Each case fails without its fix.

The fault classes of the suite, each with a test that injects it (this file unless named):

- files a user hands us that could run code: CIFAR pickles (here); ``.keras`` gadget files
  (Lambda, chained Lambdas that switch safe mode off, ``os.system``, ``subprocess.Popen``, a
  nested ``load_model``, ``enable_unsafe_deserialization``) through every loader, and the
  Keras pin (``test_hostile_files.py``)
- a card that chooses what is loaded; a file swapped between its hash and its load
  (``test_hostile_files.py``)
- hostile sizes: IDX headers, npz bombs and lying ``.npy`` headers, ``.keras`` config bombs
  and deep nesting (``test_hostile_files.py``)
- truncated, corrupt or wrongly shaped data, malformed cards and JSON state files (here)
- user names that become paths; removals outside the managed folder
  (``test_folders.py``)
- interrupted writes: atomic files, a full disk at save time (here); a publish killed between
  its renames (``test_folders.py``); a search or study killed mid-trial
  (``test_tuning.py``, ``test_studies.py``)
- two processes on one folder: run folders (``test_first_hour.py``), search and study locks
  (here; ``test_tuning.py``: racing starters, a dead owner's reused pid), a worker without its
  chief (here)
- a search's own faults (``test_tuning.py``): a kill while a trial is being retried, Ctrl-C at
  any moment (and twice), ``--workers`` beyond the cores, the chief's oracle off loopback
- mixed runs: a folder that mixes two runs (here), ``--resume`` without ``config.json`` or with
  other settings (``test_first_hour.py``), provenance of failed commands or outside the study's
  folder (``test_folders.py``)
- wrong answers instead of errors: a model whose outputs do not match the dataset's classes,
  ``tune-report`` with no finished trial or of a missing folder (``test_cli_failures.py``)
- tracebacks instead of one line: every exception kind, argument errors, a missing backend, a
  closed pipe (``test_cli_failures.py``; ``test_cli.py``)
- layers that ignore their dtype policy, through Keras's own layer harness
  (``test_layer_harness.py``)
- folders prepared by somebody else (``test_planted_files.py``): links planted under the names
  the zoo writes (lock, run files, temporary model, search reports, study logs), ``--overwrite``
  of a folder that is not a zoo run, a trial id that leaves its folder, shell text in a run's
  config.json on its way into a card, npz members without the ``.npy`` suffix, IDX files of 0
  dimensions, CIFAR object arrays, a checkpoint epoch outside the run, a truncated checkpoint
- a newcomer's silent wrong answers (``test_first_hour.py``): one image without its batch axis,
  an override that changes the architecture but not the name, a ``--subset`` larger than the
  split, a ``--data-dir`` that is not there
"""

import json
import os
import pickle
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT

from zoo.atomic import read_json, write_atomic, write_json
from zoo.data import DataError, load, read_cifar_batch, read_npz

# --- data files -------------------------------------------------------------------------

class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_cifar_pickle_cannot_run_code(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({b"data": _Payload(marker), b"labels": [1]}))
    with pytest.raises(DataError, match="refused to load posix.system"):
        read_cifar_batch(path, "labels")
    assert not marker.exists()


def test_a_genuine_cifar_batch_still_reads(tmp_path):
    path = tmp_path / "data_batch_1"
    data = np.arange(2 * 3072, dtype=np.uint8).reshape(2, 3072)
    path.write_bytes(pickle.dumps({b"data": data, b"labels": [3, 7], b"batch_label": b"b1"},
                                  protocol=2))
    x, y = read_cifar_batch(path, "labels")
    assert x.shape == (2, 32, 32, 3) and list(y) == [3, 7]
    assert x[0, 0, 0, 1] == data[0, 1024]  # channel-major rows -> NHWC


def _npz(tmp_path, x, y, name="fashion-mnist"):
    folder = tmp_path / name
    folder.mkdir(exist_ok=True)
    np.savez(folder / "train.npz", x=x, y=y)
    return folder / "train.npz"


def test_truncated_npz_is_one_data_error(tmp_path):
    path = _npz(tmp_path, np.zeros((4, 28, 28), np.uint8), np.zeros(4, np.int64))
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(DataError, match="cannot read npz"):
        read_npz(path)


@pytest.mark.parametrize("x,y,message", [
    (np.zeros((0, 28, 28), np.uint8), np.zeros(0, np.int64), "holds no examples"),
    (np.full((4, 28, 28), 0.5, np.float32), np.zeros(4, np.int64), "look scaled to \\[0, 1\\]"),
    (np.zeros((4, 28, 28), np.uint8), np.array([0.0, 1.0, 2.0, 3.0]), "labels must be integers"),
    (np.zeros((4, 28, 28), np.uint8), np.array([0, 1, 2, 10]), "labels must lie in 0..9"),
    (np.zeros((4, 28, 28), np.uint8), np.array([0, -1, 2, 3]), "labels must lie in 0..9"),
    (np.zeros((4, 32, 32), np.uint8), np.zeros(4, np.int64), "images have shape \\(32, 32, 1\\)"),
    (np.full((4, 28, 28), 300, np.int32), np.zeros(4, np.int64), "must lie in 0-255"),
])
def test_bad_arrays_are_one_clear_line(tmp_path, x, y, message):
    _npz(tmp_path, x, y)
    with pytest.raises(DataError, match=message):
        load("fashion_mnist", "train", data_dir=tmp_path, download=False)


def test_good_npz_loads_as_uint8(tmp_path):
    _npz(tmp_path, np.full((4, 28, 28), 255.0, np.float32), np.array([0, 1, 2, 9]))
    x, y = load("fashion_mnist", "train", data_dir=tmp_path, normalize=None, download=False)
    assert x.shape == (4, 28, 28, 1) and x.max() == 255 and list(y) == [0, 1, 2, 9]


# --- writes -------------------------------------------------------------------------------

def test_atomic_writes_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        write_atomic(tmp_path / "a.txt", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o644


def test_json_never_holds_nan(tmp_path):
    write_json(tmp_path / "r.json", {"loss": float("nan"), "ok": [1.0, float("inf")]})
    text = (tmp_path / "r.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"loss": None, "ok": [1.0, None]}


def test_an_interrupted_write_leaves_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "state.json"
    write_json(path, {"v": 1})

    def full_disk(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError, match="No space left"):
        write_json(path, {"v": 2})
    assert read_json(path) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]  # no temporary left


def test_a_truncated_json_is_named(tmp_path):
    path = tmp_path / "oracle.json"
    path.write_text('{"ongoing_trials": {')
    with pytest.raises(ValueError, match="oracle.json is truncated or corrupt"):
        read_json(path)


# --- training runs ------------------------------------------------------------------------

def _fit(tmp_path, **kwargs):
    from zoo.train import fit

    return fit("shallow_sequential", "digits", recipe="quick", out_dir=tmp_path / "run",
               layers=2, filters=8, verbose=0, **kwargs)


def test_an_existing_run_folder_is_not_overwritten_silently(tmp_path):
    _fit(tmp_path, epochs=1)
    before = (tmp_path / "run" / "config.json").read_text()
    with pytest.raises(ValueError, match="already holds a run.*--resume.*--overwrite"):
        _fit(tmp_path, epochs=1)
    assert (tmp_path / "run" / "config.json").read_text() == before
    with pytest.raises(ValueError, match="holds a run with other settings "
                                         r"\(model_config.kernel_size: null -> 5\)"):
        _fit(tmp_path, epochs=1, resume=True, kernel_size=5)
    _fit(tmp_path, epochs=1, overwrite=True)
    assert len((tmp_path / "run" / "metrics.csv").read_text().splitlines()) == 2


def test_a_full_disk_at_save_time_loses_no_training(tmp_path, monkeypatch):
    import sys

    fit_module = sys.modules["zoo.train.fit"]  # the module; zoo.train.fit is the function

    real_save = fit_module.save_model_atomic

    def full_disk(model, path):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fit_module, "save_model_atomic", full_disk)
    with pytest.raises(OSError, match="No space left"):
        _fit(tmp_path, epochs=3)
    run = tmp_path / "run"
    assert (run / "checkpoint").is_dir() and not (run / "results.json").exists()
    monkeypatch.setattr(fit_module, "save_model_atomic", real_save)
    result = _fit(tmp_path, epochs=3, resume=True)
    assert result.history == {} or len(result.history.get("loss", [])) == 0  # nothing retrained
    rows = (run / "metrics.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["0", "1", "2"]
    # the run's time is its three epochs of the first session, not the resumed one's nothing
    column = rows[0].split(",").index("seconds")
    epochs = sum(float(r.split(",")[column]) for r in rows[1:])
    assert epochs > 0
    assert json.loads((run / "results.json").read_text())["train_seconds"] == \
        pytest.approx(epochs, abs=0.01)
    assert (run / "model.keras").is_file() and not (run / "checkpoint").exists()
    # the same numbers as a run that was never interrupted (weights restored exactly)
    reference = _fit(tmp_path / "reference", epochs=3)
    assert json.loads((run / "results.json").read_text())["test_accuracy"] == \
        pytest.approx(reference.test_accuracy, abs=1e-6)


def test_a_run_from_before_epoch_timing_resumes_with_a_well_formed_csv(tmp_path):
    import csv

    from zoo import run_folder

    path = tmp_path / "metrics.csv"
    path.write_bytes(b"epoch,accuracy,loss,val_accuracy,val_loss\r\n0,0.5,1.2,NA,NA\r\n")
    run_folder._add_seconds_column(path)
    # the header the CSV logger keeps appending to, and an empty time for the untimed epoch
    assert path.read_bytes() == (b"epoch,accuracy,loss,seconds,val_accuracy,val_loss\r\n"
                                 b"0,0.5,1.2,,NA,NA\r\n")
    with path.open("a", newline="") as f:  # what a resumed epoch appends
        csv.writer(f).writerow([1, 0.7, 0.8, 12.5, "NA", "NA"])
    rows = list(csv.DictReader(path.open(newline="")))
    assert [r["seconds"] for r in rows] == ["", "12.5"] and None not in rows[1]
    assert run_folder._run_seconds(path, fallback=99.0) == 99.0  # epoch 0 was not timed
    run_folder._add_seconds_column(path)  # a timed CSV is left as it is
    assert len(list(csv.DictReader(path.open(newline="")))) == 2


def test_a_diverging_run_stops_and_saves_nothing(tmp_path):
    from zoo.train import TrainingDiverged

    with pytest.raises(TrainingDiverged, match="training diverged: the loss became nan"):
        _fit(tmp_path, epochs=2, learning_rate=1e30)
    assert not (tmp_path / "run" / "model.keras").exists()
    assert not (tmp_path / "run" / "results.json").exists()


def test_fit_rejects_shape_arguments_in_one_line():
    from zoo.train import fit

    with pytest.raises(ValueError, match="input_shape= comes from the dataset"):
        fit("resnet20", "digits", input_shape=(8, 8, 1))


def test_publish_refuses_a_folder_that_mixes_two_runs(tmp_path):
    """A run killed midway once left a new config beside an old model, and publish
    certified the wrong model; now the model must be what the config describes."""
    from zoo.pretrained import PretrainedError, publish

    _fit(tmp_path, epochs=1)
    run = tmp_path / "run"
    config = json.loads((run / "config.json").read_text())
    config["model_config"]["layers"] = 4  # what a second, unfinished run would have written
    (run / "config.json").write_text(json.dumps(config))
    with pytest.raises(PretrainedError, match="mixes two runs"):
        publish(run, to=tmp_path / "zoo")
    assert not (tmp_path / "zoo").exists() or not any((tmp_path / "zoo").iterdir())


# --- searches -----------------------------------------------------------------------------

def _children(pid):
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    return not (status.exists() and "zombie" in status.read_text())


def test_killing_a_distributed_search_leaves_no_orphans_and_no_double_chief(tmp_path):
    args = [sys.executable, "-m", "zoo.cli", "tune", "--grid", "smoke", "--dataset", "digits",
            "--epochs", "1", "--project-dir", str(tmp_path), "--workers", "2"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    parent = subprocess.Popen(args, env=env, cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline and len(_children(parent.pid)) < 3:
        time.sleep(0.2)
    children = _children(parent.pid)
    assert len(children) == 3, "chief and two workers should be running"
    second = subprocess.run(args[:-2], env=env, cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    assert second.returncode == 2
    assert f"being searched by process {parent.pid}" in second.stderr
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.time() + 30
    while time.time() < deadline and any(_alive(c) for c in children):
        time.sleep(0.2)
    assert not any(_alive(c) for c in children), "tuner processes outlived their parent"


def test_a_corrupt_trial_file_is_named_with_how_to_recover(tmp_path, capsys):
    from zoo import tuning
    from zoo.cli import main

    tuning.tune("smoke", "digits", project_dir=tmp_path, epochs=1, max_trials=1, verbose=0)
    trial = next(tmp_path.rglob("trial_*/trial.json"))
    trial.write_text(trial.read_text()[:40])  # what a full disk used to leave behind
    code = main(["tune", "--grid", "smoke", "--dataset", "digits", "--epochs", "1",
                 "--project-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and f"{trial} is truncated or corrupt" in err and "delete it" in err


# --- analysis inputs ----------------------------------------------------------------------

def test_analysis_functions_reject_unpaired_inputs_and_parallel_models():
    import zoo
    from zoo.analysis import norm_ratios, single_unit_lesions, truncate

    model = zoo.create_model("resnet20", input_shape=(8, 8, 1), preactivation=True)
    x, y = np.zeros((4, 8, 8, 1), "float32"), np.zeros(3, "int64")
    for function in (norm_ratios, single_unit_lesions):
        with pytest.raises(ValueError, match="same length, got 4 and 3"):
            function(model, x, y)
    with pytest.raises(ValueError, match="truncate needs sequential residual units"):
        truncate(zoo.create_model("parallel_resnet20", input_shape=(8, 8, 1)), 1)


def test_a_broken_keras_file_is_named_not_called_missing(tmp_path):
    # Keras alone says "File not found" for all of these.
    import zipfile

    from zoo.saving import check_keras_file

    text = tmp_path / "text.keras"
    text.write_text("not a model\n")
    good = tmp_path / "good.keras"
    import keras

    keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]).save(good)
    truncated = tmp_path / "truncated.keras"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    other_zip = tmp_path / "other.keras"
    with zipfile.ZipFile(other_zip, "w") as z:
        z.writestr("readme.txt", "hello")
    cases = {text: "not a zip archive", truncated: "not a zip archive",
             other_zip: "without config.json", tmp_path: "is a folder",
             tmp_path / "missing.keras": "no such file"}
    for path, message in cases.items():
        with pytest.raises(ValueError, match=message):
            check_keras_file(path)
    assert check_keras_file(good) == good
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run([sys.executable, "-m", "zoo.cli", "evaluate", str(text), "--dataset",
                           "digits"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"zoo evaluate: error: {text}: not a .keras file (not a zip archive: truncated, or not a saved "
        "Keras model)"]


def test_a_worker_without_its_chief_stops_instead_of_hanging(tmp_path):
    # KerasTuner's worker waits for its chief's gRPC answers forever; ours gives up.
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "KERASTUNER_TUNER_ID": "tuner0",
           "KERASTUNER_ORACLE_IP": "127.0.0.1", "KERASTUNER_ORACLE_PORT": str(port),
           "ZOO_CHIEF_TIMEOUT": "3"}
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "zoo.cli", "tune", "--grid", "smoke",
                           "--dataset", "digits", "--epochs", "1",
                           "--project-dir", str(tmp_path / "search")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 3, proc.stderr[-2000:]
    assert f"zoo: tuner0: no chief at 127.0.0.1:{port} for 3 s; stopping" in proc.stderr
    assert time.monotonic() - start < 60
