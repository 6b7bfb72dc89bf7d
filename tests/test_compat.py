"""Keras's and KerasTuner's private names, all behind zoo.compat: an upgrade that removes one
fails here, by name, not deep inside a search or a FLOP count."""

import re
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
from conftest import ROOT

from zoo import compat


def test_every_private_name_the_zoo_uses_is_there():
    assert compat.check() == []


def test_a_removed_name_is_named(monkeypatch):
    from keras_tuner.src import config

    monkeypatch.delattr(config, "DEBUG")
    assert compat.check() == ["keras_tuner.src.config.DEBUG"]


def test_wrapped_calls_intercept_and_restore_a_layers_call():
    import keras
    import numpy as np

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    layer, seen = model.layers[0], []

    def wrap(layer, call):
        def wrapped(*args, **kwargs):
            seen.append(layer.name)
            return call(*args, **kwargs)
        return wrapped

    with compat.wrapped_calls([layer], wrap):
        model(np.zeros((1, 3), "float32"))
    model(np.zeros((1, 3), "float32"))
    assert seen == [layer.name] and "call" not in vars(layer)


def test_private_names_appear_only_in_the_compat_module():
    pattern = re.compile(r"keras_tuner\.src|_retry_queue|_populate_next|_ordered_ids|"
                         r"\._symbolic_build\(|\._flatten_layers\(|\._trainable_variables|"
                         r"Tuner\.__init__\(self|\.call = ")
    offenders = [f"{path.relative_to(ROOT)}:{n}" for path in sorted((ROOT / "zoo").rglob("*.py"))
                 if path.name != "compat.py"
                 for n, line in enumerate(path.read_text().splitlines(), 1)
                 if pattern.search(line)]
    assert offenders == []


def test_the_tested_keras_tuner_versions_are_pinned():
    pyproject = (Path(ROOT) / "pyproject.toml").read_text()
    assert f'"keras-tuner{compat.KERAS_TUNER_TESTED}"' in pyproject
    code = ("import sys; from packaging.specifiers import SpecifierSet; "
            f"print(sys.argv[1] in SpecifierSet({compat.KERAS_TUNER_TESTED!r}))")
    out = subprocess.run([sys.executable, "-c", code, version("keras-tuner")],
                         capture_output=True, text=True).stdout.strip()
    if out not in ("True", "False"):
        pytest.skip("packaging is not installed")
    assert out == "True"
