"""Every user-facing failure of the ``zoo`` command is one line and exit status 2 (issue 31
items 9, 10, 11): whatever the exception, argument errors included; ``--verbose`` keeps the
traceback; a closed pipe on stdout exits quietly."""

import os
import subprocess
import sys
import zipfile

import keras
import pytest
from conftest import ROOT
from test_cli import run_main as _main


def _one_line(err):
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize("args,message", [
    (["train", "resnet20", "--dataset", "digits", "--epochs", "1e20"],
     "expected a positive integer, got '1e20'"),
    (["train", "resnet20", "--dataset", "digits", "--epochs", "100000000000000000000"],
     "expected at most 1,000,000,000"),
    (["train", "resnet20", "--dataset", "digits", "--seed", "-1"], "expected a seed in 0.."),
    (["train", "resnet20", "--dataset", "imagenet"], "invalid choice: 'imagenet'"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
])
def test_argument_errors_are_one_line(args, message, capsys):
    code, _, err = _main(capsys, *args)
    assert code == 2 and message in _one_line(err)


@pytest.mark.parametrize("exception,message", [
    (TypeError("Could not locate class 'Nope'.\nFull object config: {...}"),
     "zoo list: error: TypeError: Could not locate class 'Nope'. Full object config"),
    (RecursionError("maximum recursion depth exceeded"), "nests too deeply"),
    (MemoryError(), "out of memory"),
    (RuntimeError("boom"), "zoo list: error: RuntimeError: boom"),
    (KeyError("x"), "zoo list: error: KeyError: 'x'"),
])
def test_any_failure_is_one_line(exception, message, capsys, monkeypatch):
    import zoo.cli

    def fail(args, argv):
        raise exception

    monkeypatch.setattr(zoo.cli, "_run", fail)
    code, _, err = _main(capsys, "list")
    assert code == 2 and message in _one_line(err)
    code, _, err = _main(capsys, "--verbose", "list")  # --verbose keeps the traceback
    assert code == 2 and "Traceback" in err and err.strip().splitlines()[-1].startswith("zoo list: error:")


def _keras_file(tmp_path, name, edit):
    path = tmp_path / "base.keras"
    keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
                      keras.layers.Dense(10, activation="softmax")]).save(path)
    with zipfile.ZipFile(path) as z:
        members = {n: z.read(n) for n in z.namelist()}
    members["config.json"] = edit(members["config.json"].decode()).encode()
    target = tmp_path / name
    with zipfile.ZipFile(target, "w") as z:
        for member, data in members.items():
            z.writestr(member, data)
    return target


def test_a_config_naming_an_unknown_class_is_one_line(tmp_path, capsys):
    path = _keras_file(tmp_path, "unknown.keras",
                       lambda c: c.replace('"class_name": "Dense"', '"class_name": "Dense9"'))
    code, _, err = _main(capsys, "evaluate", str(path), "--dataset", "digits")
    line = _one_line(err)
    assert code == 2 and f"{path}: cannot load the model" in line and "Dense9" in line
    assert "zoo-load-" not in line  # the private copy's path is not shown


def test_a_deeply_nested_config_is_one_line(tmp_path, capsys):
    path = _keras_file(tmp_path, "deep.keras",
                       lambda c: c[:-1] + ', "x": ' + "[" * 100_000 + "]" * 100_000 + "}")
    code, _, err = _main(capsys, "evaluate", str(path), "--dataset", "digits")
    assert code == 2 and "RecursionError" in _one_line(err)


def test_a_missing_backend_is_one_line():
    code = ("import sys; sys.modules['torch'] = None\n"  # as if torch were not installed
            "from zoo.cli import main\n"
            "sys.exit(main(['train', 'resnet20', '--dataset', 'digits']))")
    env = {**os.environ, "KERAS_BACKEND": "torch", "TF_CPP_MIN_LOG_LEVEL": "3"}
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 2, r.stderr[-2000:]
    assert r.stderr.strip().splitlines()[-1].startswith("zoo train: error: KERAS_BACKEND=torch "
                                                        "cannot be used")
    assert "Traceback" not in r.stderr


def test_a_closed_pipe_exits_quietly():
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    code = ("import sys; from zoo.cli import main\n"
            "sys.exit(main(['pretrained']))")
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first line, as `| head -1` soon is
    try:
        r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, stdout=write,
                           stderr=subprocess.PIPE, timeout=120)
    finally:
        os.close(write)
    assert r.returncode == 0 and r.stderr == b"", r.stderr[-2000:]


# --- item 9: a model that does not fit the dataset's classes --------------------------------

@pytest.mark.parametrize("classes", [5, 11])
def test_evaluating_a_model_with_other_classes_is_refused(classes, tmp_path, capsys):
    path = tmp_path / f"classes{classes}.keras"
    keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
                      keras.layers.Dense(classes, activation="softmax")]).save(path)
    code, out, err = _main(capsys, "evaluate", str(path), "--dataset", "digits")
    assert code == 2 and out == ""
    assert (f"model outputs shape (None, {classes}), but digits has 10 classes"
            in _one_line(err))


# --- item 10: tune-report with nothing finished, or of a folder that is not there -----------

def test_tune_report_of_a_missing_folder_creates_nothing(tmp_path, capsys):
    missing = tmp_path / "typo"
    code, _, err = _main(capsys, "tune-report", str(missing))
    line = _one_line(err)
    assert code == 2 and str(missing) in line and "not a folder" in line
    assert not missing.exists()


def test_tune_report_without_a_completed_trial_writes_strict_json(tmp_path, capsys):
    import json

    from zoo import tuning

    tuning.tune("smoke", "digits", project_dir=tmp_path, epochs=1, max_trials=1, verbose=0)
    for trial in tmp_path.rglob("trial_*/trial.json"):  # as if every trial had failed
        data = json.loads(trial.read_text())
        data["status"] = "FAILED"
        trial.write_text(json.dumps(data))
    code, _, err = _main(capsys, "tune-report", str(tmp_path))
    assert code == 0, err
    text = (tmp_path / "summary.json").read_text()
    assert "NaN" not in text and json.loads(text)["median_seconds_per_trial"] is None
