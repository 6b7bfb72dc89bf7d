"""Files a user hands the zoo (issue 31 items 1, 3, 12, 13): a ``.keras`` file that would run
code, a card that points elsewhere, a file swapped while it is loaded, archives that claim
gigabytes. Each test injects the fault; nothing runs, nothing outside the zoo's folder is
loaded, and the user gets one line."""

import json
import re
import shutil
import zipfile
from pathlib import Path

import gadgets
import keras
import numpy as np
import pytest
from conftest import ROOT

import zoo.train  # noqa: F401  (registers the zoo's layers)
from zoo.data.formats import sha256
from zoo.saving import MIN_KERAS, check_keras_file, check_keras_version, load_model


@pytest.fixture(scope="module")
def gadget_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gadgets")
    return folder / "pwned", gadgets.build(folder, folder / "pwned")


def _one_line(err):
    lines = [line for line in err.strip().splitlines() if line]
    assert len(lines) == 1 and re.match(r"zoo [a-z]+: error: ", lines[0]), err
    assert "Traceback" not in err
    return lines[0]


def _card(name, model_file):
    return {"name": name, "file": {"name": "model.keras", "sha256": sha256(model_file)},
            "dataset": {"name": "digits"}, "metrics": {"test_accuracy": 0.5},
            "params": {"trainable": 1}}


def _publish_by_hand(root, name, model_file, card_name=None):
    folder = Path(root) / name
    folder.mkdir(parents=True)
    shutil.copyfile(model_file, folder / "model.keras")
    (folder / "card.json").write_text(json.dumps(_card(card_name or name, model_file)))
    return folder


# --- item 1: code execution through a .keras file, through every loader -------------------

GADGETS = ["lambda", "chained_lambda", "os_system", "popen", "nested_load_model",
           "enable_unsafe"]


@pytest.mark.parametrize("gadget", GADGETS)
def test_a_gadget_file_runs_nothing_through_any_loader(gadget, gadget_files, tmp_path, capsys):
    from zoo.cli import main
    from zoo.pretrained import PretrainedError, load_pretrained
    from zoo.studies import runs

    marker, files = gadget_files
    path = files[gadget]
    refused = "refused to load"
    # zoo.saving
    with pytest.raises(ValueError, match=refused):
        load_model(path)
    # load_pretrained: a card whose sha256 matches is no defence
    _publish_by_hand(tmp_path / "zoo", "evil.digits", path)
    with pytest.raises(PretrainedError, match=refused):
        load_pretrained("evil.digits", root=tmp_path / "zoo")
    # zoo evaluate, of the file and of the pretrained name
    assert main(["evaluate", str(path), "--dataset", "digits"]) == 2
    assert refused in _one_line(capsys.readouterr().err)
    # zoo publish of a run folder holding it
    run = tmp_path / "run"
    run.mkdir()
    shutil.copyfile(path, run / "model.keras")
    (run / "config.json").write_text(json.dumps({"model": "resnet20", "dataset": "digits",
                                                 "model_config": {}}))
    (run / "results.json").write_text(json.dumps({"test_loss": 1.0, "test_accuracy": 0.5}))
    assert main(["publish", str(run), "--to", str(tmp_path / "published")]) == 2
    assert refused in _one_line(capsys.readouterr().err)
    # a study reloading a finished run
    with pytest.raises(ValueError, match=refused):
        runs.train(run, "resnet20", "digits")
    assert not marker.exists()


def test_the_keras_pin_is_the_tested_release():
    """pyproject requires the Keras whose safe mode this file tests; an older one (Keras 3.10
    let a file switch safe mode off) is refused at load time, whatever pip installed."""
    text = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'"keras>=([0-9.]+)"', text).group(1) == MIN_KERAS
    check_keras_version()  # the installed one
    with pytest.raises(ValueError, match="keras 3.10.0 is older than .* nothing is loaded"):
        check_keras_version("3.10.0")


def test_an_old_keras_loads_nothing(tmp_path, monkeypatch):
    path = tmp_path / "m.keras"
    keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]).save(path)
    monkeypatch.setattr(keras, "version", lambda: "3.10.0")
    with pytest.raises(ValueError, match="older than"):
        load_model(path)


def test_every_loader_goes_through_zoo_saving():
    """No zoo module loads a .keras file but through zoo.saving.load_model (KerasTuner's own
    reloads read weights only, and the zoo's tuning never calls them)."""
    offenders = []
    for path in (ROOT / "zoo").rglob("*.py"):
        if path.name == "saving.py" and path.parent.name == "zoo":
            continue
        text = path.read_text()
        if re.search(r"(keras\.saving|keras\.models|saving_lib)\.load_model\(|"
                     r"enable_unsafe_deserialization|safe_mode\s*=\s*False", text):
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_the_published_models_pass_the_config_check():
    for path in sorted((ROOT / "saved_models").glob("*/model.keras")):
        check_keras_file(path)


# --- item 3: the folder found is what is loaded --------------------------------------------

@pytest.fixture(scope="module")
def small_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("small") / "model.keras"
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(10, activation="softmax")])
    model.save(path)
    return path


def test_a_card_cannot_choose_another_folder(tmp_path, small_model, gadget_files):
    from zoo.pretrained import PretrainedError, load_pretrained

    root = tmp_path / "zoo"
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copyfile(gadget_files[1]["lambda"], outside / "model.keras")
    _publish_by_hand(root, "good.digits", small_model, card_name=str(outside))
    with pytest.raises(PretrainedError, match="the card is for .*outside.*not 'good.digits'"):
        load_pretrained("good.digits", root=root)
    # a renamed folder is not loaded as another model
    _publish_by_hand(root, "first.digits", small_model)
    (root / "first.digits").rename(root / "second.digits")
    with pytest.raises(PretrainedError, match="the card is for 'first.digits', not "
                                              "'second.digits'"):
        load_pretrained("second.digits", root=root)
    _publish_by_hand(root, "third.digits", small_model)
    assert load_pretrained("third.digits", root=root).count_params() == 650


# --- item 13: what is hashed is what is loaded ---------------------------------------------

def test_a_file_swapped_after_its_hash_is_not_what_loads(tmp_path, small_model, monkeypatch):
    from zoo import saving
    from zoo.pretrained import load_pretrained

    root = tmp_path / "zoo"
    folder = _publish_by_hand(root, "m.digits", small_model)
    other = tmp_path / "other.keras"
    keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
                      keras.layers.Dense(10, activation="softmax",
                                         kernel_initializer="ones")]).save(other)
    real_check = saving.check_keras_file

    def swap_then_check(path, **kwargs):  # between the hash and the load
        shutil.copyfile(other, folder / "model.keras")
        return real_check(path, **kwargs)

    monkeypatch.setattr(saving, "check_keras_file", swap_then_check)
    model = load_pretrained("m.digits", root=root)
    expected = keras.saving.load_model(small_model)
    np.testing.assert_array_equal(model.get_weights()[0], expected.get_weights()[0])


# --- item 12: bounded memory for hostile archives ------------------------------------------

def _zip(path, members):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


def test_a_keras_config_bomb_is_refused_before_parsing(tmp_path, monkeypatch):
    bomb = _zip(tmp_path / "bomb.keras", {"config.json": b" " * (17 << 20) + b"{}"})
    assert bomb.stat().st_size < 100_000
    monkeypatch.setattr(json, "loads", lambda *a, **k: pytest.fail("parsed a bomb"))
    with pytest.raises(ValueError, match="config.json declares 17,825,794 bytes"):
        check_keras_file(bomb)


def test_a_deeply_nested_keras_config_is_one_line(tmp_path):
    for depth in (150, 200_000):
        nested = "[" * depth + "]" * depth
        path = _zip(tmp_path / f"deep{depth}.keras", {"config.json": nested})
        with pytest.raises(ValueError, match="nests deeper than|config.json: RecursionError"):
            check_keras_file(path)


def test_an_idx_header_claiming_gigabytes_is_refused_before_reading(tmp_path, monkeypatch):
    from zoo.data import DataError, read_idx

    # a sparse file: 64 GiB long, a few KB on disk, its header consistent with its length
    path = tmp_path / "train-images-idx3-ubyte"
    with open(path, "wb") as f:
        f.write(bytes([0, 0, 0x08, 3]) + b"".join(d.to_bytes(4, "big")
                                                  for d in (65536, 1024, 1024)))
        f.truncate(16 + (64 << 30))
    requested = []
    real_open = open

    class Watched:  # nothing past the header may be read
        def __init__(self, handle):
            self.handle = handle

        def read(self, size=-1):
            requested.append(size)
            return self.handle.read(size)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

    monkeypatch.setattr("builtins.open", lambda *a, **k: Watched(real_open(*a, **k)))
    with pytest.raises(DataError, match="declares 68,719,476,736 bytes .* refused before"):
        read_idx(path)
    assert requested and all(0 <= size <= 12 for size in requested)


def test_a_truncated_or_overlong_idx_is_named(tmp_path):
    import gzip

    from zoo.data import DataError, read_idx

    header = bytes([0, 0, 0x08, 1]) + (10).to_bytes(4, "big")
    for name, data in (("short", header + bytes(5)), ("long", header + bytes(11))):
        for suffix, write in (("", lambda p, d: p.write_bytes(d)),
                              (".gz", lambda p, d: p.write_bytes(gzip.compress(d)))):
            path = tmp_path / f"{name}-idx1-ubyte{suffix}"
            write(path, data)
            with pytest.raises(DataError, match="header promises shape \\(10,\\)"):
                read_idx(path)
    path = tmp_path / "ok-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(header + bytes(range(10))))
    assert list(read_idx(path)) == list(range(10))


def test_an_npz_bomb_is_refused_before_decompressing(tmp_path, monkeypatch):
    from zoo.data import DataError, formats, read_npz

    monkeypatch.setattr(formats, "MAX_ARRAY_BYTES", 1 << 20)  # the bound, scaled down
    bomb = tmp_path / "train.npz"
    np.savez_compressed(bomb, x=np.zeros((8, 512, 512), np.uint8), y=np.zeros(8, np.int64))
    assert bomb.stat().st_size < 50_000
    monkeypatch.setattr(np.lib.format, "read_array",
                        lambda *a, **k: pytest.fail("decompressed a bomb"))
    with pytest.raises(DataError, match="x.npy declares 2,097,280 bytes .* refused"):
        read_npz(bomb)


def test_an_npz_header_that_lies_is_refused(tmp_path):
    import io

    from zoo.data import DataError, read_npz

    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "|u1", "fortran_order": False,
                                                  "shape": (1 << 20, 1 << 20)})
    path = _zip(tmp_path / "train.npz", {"x.npy": header.getvalue(),
                                         "y.npy": header.getvalue()})
    with pytest.raises(DataError, match="x.npy|y.npy"):
        read_npz(path)
    small = io.BytesIO()
    np.lib.format.write_array_header_1_0(small, {"descr": "|u1", "fortran_order": False,
                                                 "shape": (1000,)})
    path = _zip(tmp_path / "lie.npz", {"x.npy": small.getvalue() + bytes(10),
                                       "y.npy": small.getvalue() + bytes(10)})
    with pytest.raises(DataError, match="promises shape \\(1000,\\) .* corrupt"):
        read_npz(path)


def test_a_registered_zoo_function_is_the_only_builtins_name_beside_keras(tmp_path):
    """The classifier's activation is saved as a function named 'zoo>softmax' (module
    'builtins'): the scan lets exactly the zoo's own registered functions through."""
    from zoo.saving import scan_config

    def activation(name):
        return {"class_name": "Dense", "module": "keras.layers",
                "config": {"activation": gadgets._function("builtins", name)}}

    scan_config(activation("zoo>softmax"))
    scan_config(activation("relu"))
    # a name in the zoo's namespace that nothing registered, and one that a non-zoo module
    # slipped into Keras's registry under it
    keras.saving.get_custom_objects()["zoo>system"] = print
    try:
        for name in ("zoo>nothing", "zoo>system", "zoo>softmax.__globals__",
                     "zoo>ProbabilityCrossentropy", "zoo>ResidualBlock"):  # classes: no
            with pytest.raises(ValueError, match="neither Keras nor the zoo"):
                scan_config(activation(name))
    finally:
        del keras.saving.get_custom_objects()["zoo>system"]
