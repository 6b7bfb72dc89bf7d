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
    assert [line.split()[0] for line in out.splitlines()] == ["dmrnet20", "dmrnet56", "dmrnet_wide32"]
    code, out, _ = run_main(capsys, "info", "resnet20")
    assert code == 0 and '"params": 274042' in out and '"family": "resnet"' in out


@pytest.mark.parametrize("command", [[], ["train"], ["evaluate"], ["list"], ["info"],
                                     ["pretrained"], ["publish"], ["tune"], ["tune-report"]])
def test_help_everywhere(command, capsys):
    code, out, _ = run_main(capsys, *command, "--help")
    assert code == 0 and "usage: zoo" in out


def test_train_help_lists_every_recipe():
    from zoo.cli import _parser
    from zoo.train.recipes import RECIPES

    train = _parser()._subparsers._group_actions[0].choices["train"]
    recipe = next(a for a in train._actions if a.dest == "recipe")
    assert recipe.help.split(", ") == list(RECIPES)


@pytest.mark.parametrize(
    "args,message",
    [
        (["info", "resnet21"], "zoo: error: unknown model name 'resnet21'"),
        (["train", "resnet20", "--dataset", "imagenet"], "zoo: error: dataset must be one of"),
        (["train", "resnet20", "--dataset", "digits", "--recipe", "slow"], "zoo: error: recipe must be one of"),
        (["train", "resnet20", "--dataset", "digits", "--epochs", "0"], "zoo: error: epochs must be a positive integer, got 0"),
        (["evaluate", "missing.keras", "--dataset", "digits"], "zoo: error: model must be a keras.Model or an existing .keras file"),
        (["list", "vgg*"], "zoo: error: no model matches 'vgg*'"),
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
    assert r.stderr.strip().splitlines()[-1].startswith("zoo: error: unknown model name 'resnet21'")
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
    # a user who only imports zoo, in a fresh process, can load the trained model (its
    # optimizer included)
    path = str(tmp_path / "model.keras")
    code = (f"import zoo, keras; m = keras.saving.load_model({path!r}, safe_mode=True); "
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
