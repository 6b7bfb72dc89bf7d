"""A Keras user's first hour (issue 32): each path as a user takes it, in a fresh process."""

import json
import os
import subprocess
import sys
import textwrap

import pytest
from conftest import ROOT

DATA = os.environ.get("ZOO_DATA_DIR")
needs_mnist = pytest.mark.skipif(not DATA, reason="needs ZOO_DATA_DIR with MNIST")


def fresh(code, *, timeout=600, cwd=ROOT, **env):
    """Run ``code`` in a new interpreter, as a user's script would."""
    environ = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **env}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, env=environ,
                          capture_output=True, text=True, timeout=timeout)


def zoo_cli(*args, timeout=600, cwd=ROOT, **env):
    environ = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **env}
    return subprocess.run([sys.executable, "-m", "zoo.cli", *args], cwd=cwd, env=environ,
                          capture_output=True, text=True, timeout=timeout)


# ---- 1. pixels -----------------------------------------------------------------------------

@needs_mnist
def test_load_then_evaluate_a_pretrained_model_gives_its_card_accuracy():
    r = fresh("""
        import json, zoo
        x, y = zoo.data.load("mnist", "test")
        model = zoo.load_pretrained("resnet20.mnist")
        model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        loss, acc = model.evaluate(x, y, batch_size=500, verbose=0)
        print(json.dumps({"acc": acc, "card": zoo.pretrained_card("resnet20.mnist")}))
    """)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["acc"] == pytest.approx(out["card"]["metrics"]["test_accuracy"], abs=1e-3)


# ---- 2. import order -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def saved_files(tmp_path_factory):
    """A trained zoo model (with its zoo optimizer) as a .keras file and as the unzipped folder
    that a Hugging Face snapshot holds."""
    folder = tmp_path_factory.mktemp("files")
    r = fresh(f"""
        import zoo
        result = zoo.train.fit("resnet20", "digits", epochs=1, subset=200, verbose=0,
                               out_dir={str(folder / "run")!r})
        result.model.save({str(folder / "snapshot")!r}, zipped=False)
    """)
    assert r.returncode == 0, r.stderr
    return folder


@pytest.mark.parametrize("imports", ["import zoo, keras", "import keras, zoo", "import zoo",
                                     "import zoo.layers", "import zoo.data"])
def test_keras_load_model_works_after_import_zoo_in_any_order(saved_files, imports):
    r = fresh(f"""
        {imports}
        import keras
        model = keras.saving.load_model({str(saved_files / "run" / "model.keras")!r})
        print(type(model.optimizer).__name__, model.layers[3].__class__.__name__)
    """)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[0] in ("L2Adam", "L2SGD", "Adam", "SGD")


def test_a_hugging_face_handle_loads_after_import_zoo(saved_files, tmp_path):
    # Keras's hf:// path: huggingface_hub.snapshot_download, then the folder is loaded. The
    # download is replaced by a local snapshot (no network in tests).
    fake = tmp_path / "fake_hub"
    fake.mkdir()
    (fake / "huggingface_hub.py").write_text(textwrap.dedent(f"""
        def snapshot_download(repo_id, **kwargs):
            assert repo_id == "someone/resnet20-digits"
            return {str(saved_files / "snapshot")!r}
    """))
    r = fresh("""
        import zoo, keras
        model = keras.saving.load_model("hf://someone/resnet20-digits")
        print(model.count_params())
    """, PYTHONPATH=f"{fake}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    assert r.returncode == 0, r.stderr
    assert int(r.stdout.split()[-1]) > 1000


def test_import_zoo_alone_still_imports_no_keras():
    r = fresh("import sys, zoo; print('keras' in sys.modules, 'tensorflow' in sys.modules)")
    assert r.returncode == 0 and r.stdout.split() == ["False", "False"], r.stderr
