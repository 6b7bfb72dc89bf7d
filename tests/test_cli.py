"""The `zoo` command: messages and exit codes in-process, the installed entry point and\ntraining as subprocesses."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def zoo_cli(*args, timeout=600, env=None):
    environ = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})}
    return subprocess.run([sys.executable, "-m", "zoo.cli", *args], cwd=ROOT, env=environ,
                          capture_output=True, text=True, timeout=timeout)


def run_main(capsys, *args):
    """``zoo ARGS`` in this process: exit status, stdout, stderr (argparse exits count)."""
    from zoo.cli import main

    try:
        code = main(list(args))
    except SystemExit as e:
        code = e.code
    out = capsys.readouterr()
    return code, out.out, out.err


def test_list_and_info(capsys):
    code, out, _ = run_main(capsys, "list", "dmrnet*")
    assert code == 0
    assert [line.split()[0] for line in out.splitlines()] == [
        "dmrnet20", "dmrnet20_identity", "dmrnet20_inception_like", "dmrnet56", "dmrnet_wide32"]
    code, out, _ = run_main(capsys, "info", "resnet20")
    assert code == 0 and '"params": 274042' in out and '"family": "resnet"' in out


@pytest.mark.parametrize("command", [[], ["train"], ["evaluate"], ["list"], ["info"],
                                     ["pretrained"], ["publish"], ["tune"], ["tune-report"],
                                     ["reproduce"]])
def test_help_everywhere(command, capsys):
    code, out, _ = run_main(capsys, *command, "--help")
    assert code == 0 and "usage: zoo" in out
    if command and command[0] in ("train", "tune", "reproduce"):  # one worked example each
        assert f"example:\n  zoo {command[0]} " in out


def test_cli_choices_match_the_code():
    from zoo import cli
    from zoo.data import DATASETS
    from zoo.studies.runner import BUDGETS
    from zoo.tuning.grids import GRIDS

    assert set(cli.DATASETS) == set(DATASETS)
    assert cli.GRIDS == tuple(GRIDS) and cli.BUDGETS == BUDGETS


LIGHT = ["--help"], ["list"], ["info", "resnet20"], ["pretrained"], ["reproduce", "--list"], \
    ["info", "resnet21"], ["train", "resnet20", "--dataset", "digits", "--lr", "nan"]


def test_catalogue_commands_and_argument_errors_never_import_keras():
    """In a fresh process, as a user runs them: no Keras, no TensorFlow, nothing on stderr
    from them (benchmarks/cli_startup.py times the same commands)."""
    code = ("import sys, runpy; sys.argv = ['zoo'] + sys.argv[1:]\n"
            "from zoo.cli import main\n"
            "try:\n    status = main()\nexcept SystemExit as e:\n    status = e.code\n"
            "heavy = sorted({'keras', 'tensorflow', 'jax', 'torch'} & set(sys.modules))\n"
            "print('HEAVY', heavy, status)")
    for args in LIGHT:
        r = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True,
                           text=True, timeout=120)
        assert r.stdout.strip().splitlines()[-1].startswith("HEAVY []"), (args, r.stdout[-300:])
        assert "I0000" not in r.stderr and "absl" not in r.stderr, (args, r.stderr)


def test_training_commands_hide_tensorflow_start_up_lines(capsys, tmp_path):
    code, out, err = run_main(capsys, "evaluate", "missing.keras", "--dataset", "digits")
    assert code == 2 and err.startswith("zoo evaluate: error:")
    text = tmp_path / "text.keras"
    text.write_text("not a model")
    args = ("evaluate", str(text), "--dataset", "digits")
    # the control: this command does import TensorFlow, which then logs at start-up ...
    shown = zoo_cli("--verbose", *args, env={"TF_CPP_MIN_LOG_LEVEL": "0"})
    assert shown.returncode == 2 and ("I0000" in shown.stderr or "oneDNN" in shown.stderr), \
        shown.stderr
    # ... and without --verbose those lines are gone: the error is all there is
    r = zoo_cli(*args, env={"TF_CPP_MIN_LOG_LEVEL": "0"})
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        f"zoo evaluate: error: {text}: not a .keras file (not a zip archive: truncated, or not a saved "
        "Keras model)"]


def test_zoo_attributes_are_lazy_and_reachable():
    code = ("import sys, zoo; before = 'keras' in sys.modules\n"
            "mods = [zoo.tuning, zoo.analysis, zoo.pretrained, zoo.data, zoo.train, zoo.studies]\n"
            "print(before, all(m.__name__.startswith('zoo.') for m in mods),"
            " callable(zoo.tuning.tune), callable(zoo.resnet))")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                       env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}, timeout=120)
    assert r.stdout.split() == ["False", "True", "True", "True"], r.stderr[-2000:]


def test_train_help_lists_every_recipe():
    from zoo.cli import _parser
    from zoo.train.recipes import RECIPES

    train = _parser()._subparsers._group_actions[0].choices["train"]
    recipe = next(a for a in train._actions if a.dest == "recipe")
    assert recipe.help.split(", ") == list(RECIPES)


@pytest.mark.parametrize(
    "args,message",
    [
        (["info", "resnet21"], "zoo info: error: unknown model name 'resnet21'"),
        (["train", "resnet20", "--dataset", "imagenet"], "invalid choice: 'imagenet'"),
        (["train", "resnet20", "--dataset", "digits", "--recipe", "slow"], "zoo train: error: recipe must be one of"),
        (["train", "resnet20", "--dataset", "digits", "--epochs", "0"], "argument --epochs: expected a positive integer, got 0"),
        (["evaluate", "missing.keras", "--dataset", "digits"], "zoo evaluate: error: missing.keras: no such file"),
        (["list", "vgg*"], "zoo list: error: no model matches 'vgg*'"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
    ],
)
def test_user_errors_are_one_clear_line(args, message, capsys):
    code, _, err = run_main(capsys, *args)
    assert code == 2
    assert message in err and "Traceback" not in err
    assert len([line for line in err.splitlines() if line.startswith("zoo")]) == 1


def test_installed_command_exits_cleanly():
    # The console script itself, in a fresh process: help on stdout, a user error as one line
    # on stderr with status 2 and no traceback.
    script = Path(sys.executable).with_name("zoo")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "zoo.cli"]
    environ = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    r = subprocess.run([*command, "--help"], env=environ, capture_output=True, text=True)
    assert r.returncode == 0 and "usage: zoo" in r.stdout
    r = subprocess.run([*command, "info", "resnet21"], env=environ, capture_output=True, text=True)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.strip().splitlines()[-1].startswith("zoo info: error: unknown model name 'resnet21'")
    assert "Traceback" not in r.stderr


def test_train_then_evaluate(tmp_path, capsys):
    code, out, err = run_main(capsys, "train", "resnet20", "--dataset", "digits", "--epochs", "3",
                              "--out", str(tmp_path))
    assert code == 0, err[-2000:]
    accuracy = float(re.search(r"test accuracy (\d\.\d+)", out).group(1))
    assert accuracy > 0.85
    code, out, err = run_main(capsys, "evaluate", str(tmp_path / "model.keras"), "--dataset",
                              "digits")
    assert code == 0, err[-2000:]
    assert float(re.search(r"test accuracy (\d\.\d+)", out).group(1)) == pytest.approx(accuracy, abs=1e-4)
    # a user of plain Keras, in a fresh process, can load the trained model (its optimizer
    # included) once zoo is imported after Keras (or zoo.train touched: see zoo/__init__.py)
    path = str(tmp_path / "model.keras")
    code = (f"import keras, zoo; m = keras.saving.load_model({path!r}, safe_mode=True); "
            "print(type(m.optimizer).__name__)")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.split()[-1] == "L2Adam", r.stderr[-2000:]


MNIST = Path(os.environ.get("ZOO_DATA_DIR") or "/nonexistent") / "mnist"


@pytest.mark.real_data
@pytest.mark.skipif(not MNIST.is_dir(), reason="REAL-DATA TEST SKIPPED: set ZOO_DATA_DIR to a folder with mnist/")
def test_resnet20_trains_on_real_mnist(tmp_path):
    # Real data through the CLI: 3,000 training images (seeded), 2 epochs of the quick recipe,
    # 2,000 test images (measured: 0.9495). The pretrained models' re-evaluation in
    # test_pretrained.py covers the fully trained side on all 10,000.
    r = zoo_cli("train", "resnet20", "--dataset", "mnist", "--recipe", "quick", "--subset",
                "3000", "--epochs", "2", "--test-subset", "2000", "--no-validation",
                "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr[-2000:]
    accuracy = float(re.search(r"test accuracy (\d\.\d+)", r.stdout).group(1))
    assert accuracy >= 0.92
    config = json.loads((tmp_path / "config.json").read_text())
    assert (config["train_examples"], config["test_examples"]) == (3000, 2000)
