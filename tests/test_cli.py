"""The `zoo` command, driven as a user would: as a subprocess."""

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


def test_list_and_info():
    r = zoo_cli("list", "dmrnet*")
    assert r.returncode == 0
    assert [line.split()[0] for line in r.stdout.splitlines()] == ["dmrnet20", "dmrnet56", "dmrnet_wide32"]
    r = zoo_cli("info", "resnet20")
    assert r.returncode == 0 and '"params": 274042' in r.stdout and '"family": "resnet"' in r.stdout


@pytest.mark.parametrize("command", [[], ["train"], ["evaluate"], ["list"], ["info"]])
def test_help_everywhere(command):
    r = zoo_cli(*command, "--help")
    assert r.returncode == 0 and "usage: zoo" in r.stdout


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
    ],
)
def test_user_errors_are_one_clear_line(args, message):
    r = zoo_cli(*args)
    assert r.returncode == 2
    assert message in r.stderr and "Traceback" not in r.stderr


def test_train_then_evaluate(tmp_path):
    r = zoo_cli("train", "resnet20", "--dataset", "digits", "--epochs", "3", "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr[-2000:]
    accuracy = float(re.search(r"test accuracy (\d\.\d+)", r.stdout).group(1))
    assert accuracy > 0.85
    r = zoo_cli("evaluate", str(tmp_path / "model.keras"), "--dataset", "digits")
    assert r.returncode == 0, r.stderr[-2000:]
    assert float(re.search(r"test accuracy (\d\.\d+)", r.stdout).group(1)) == pytest.approx(accuracy, abs=1e-4)
    # a user who only imports zoo can load the trained model (its optimizer included)
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
