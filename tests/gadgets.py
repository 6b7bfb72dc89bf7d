"""Hostile ``.keras`` files for tests/test_faults.py: each would run code (touch ``marker``)
or reach outside the model if a loader trusted it. Built from a genuine small model by
editing its ``config.json``, the way an attacker would."""

from __future__ import annotations

import base64
import json
import marshal
import os
import zipfile
from pathlib import Path


def _function(module, name):
    return {"module": module, "class_name": "function", "config": name,
            "registered_name": "function"}


def _bytecode(marker) -> dict:
    """A serialized Python lambda (what Keras writes for ``Lambda(lambda x: ...)``) that
    creates ``marker`` when it is called."""
    code = (lambda x, m=str(marker): (open(m, "w").close(), x)[1]).__code__
    return {"class_name": "__lambda__",
            "config": {"code": base64.b64encode(marshal.dumps(code)).decode(),
                       "defaults": [str(marker)], "closure": None}}


def _lambda_layer(name, function) -> dict:
    return {"module": "keras.layers", "class_name": "Lambda", "registered_name": None,
            "config": {"name": name, "trainable": True, "dtype": "float32",
                       "function": function, "arguments": {}}}


def _with_layers(base: Path, target: Path, make) -> Path:
    """``base`` (a genuine .keras file of a Dense model) with its config edited by ``make``."""
    with zipfile.ZipFile(base) as z:
        members = {n: z.read(n) for n in z.namelist()}
    config = json.loads(members["config.json"])
    make(config)
    members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(target, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return target


def _sequential_layers(config):
    return config["config"]["layers"]


def build(folder, marker) -> dict[str, Path]:
    """name -> gadget file in ``folder``; each creates ``marker`` if it runs."""
    import keras

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    base = folder / "base.keras"
    keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
                      keras.layers.Dense(10, activation="softmax")]).save(base)
    gadgets = {}

    def add(name, make):
        gadgets[name] = _with_layers(base, folder / f"{name}.keras", make)

    # a Lambda layer with bytecode
    add("lambda", lambda c: _sequential_layers(c).insert(1, _lambda_layer("l", _bytecode(marker))))
    # chained Lambdas: the first switches safe mode off, the second then runs its bytecode
    # (Keras 3.10: CVE-2025-9906)
    def chained(c):
        _sequential_layers(c)[1:1] = [
            _lambda_layer("off", _function("keras.config", "enable_unsafe_deserialization")),
            _lambda_layer("run", _bytecode(marker))]

    add("chained_lambda", chained)
    # a config naming os.system as an activation (how CVE-2025-1550 imported any module)
    command = f"touch {marker}"

    def os_system(c):
        dense = _sequential_layers(c)[-1]["config"]
        dense["activation"] = _function("os", "system")
        dense["name"] = command

    add("os_system", os_system)
    # a layer that is subprocess.Popen
    add("popen", lambda c: _sequential_layers(c).insert(1, {
        "module": "subprocess", "class_name": "Popen", "registered_name": None,
        "config": {"args": ["touch", str(marker)]}}))
    # a nested load_model: a Lambda whose function loads another (unsafe) file
    add("nested_load_model", lambda c: _sequential_layers(c).insert(1, _lambda_layer(
        "load", _function("keras.saving", "load_model"))))
    # safe mode switched off from a config, outside a Lambda
    add("enable_unsafe", lambda c: _sequential_layers(c).insert(1, {
        "module": "keras.config", "class_name": "enable_unsafe_deserialization",
        "registered_name": None, "config": {}}))
    os.unlink(base)
    return gadgets
