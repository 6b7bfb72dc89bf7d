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
    # raw pixels (load's default), [0, 1] pixels (load's "unit", and the Keras habit x / 255.)
    r = fresh("""
        import json, zoo
        x, y = zoo.data.load("mnist", "test")
        unit, _ = zoo.data.load("mnist", "test", normalize="unit")
        model = zoo.load_pretrained("resnet20.mnist")
        acc = {name: model.evaluate(images, y, batch_size=500, verbose=0)[1]
               for name, images in (("raw", x), ("unit", unit), ("divided", x / 255.0))}
        print(json.dumps({"acc": acc, "card": zoo.pretrained_card("resnet20.mnist")}))
    """)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    card = out["card"]["metrics"]["test_accuracy"]
    assert out["acc"] == pytest.approx({"raw": card, "unit": card, "divided": card}, abs=1e-3)
    assert "[0, 1] image" in out["card"]["input"]["contract"]


def test_the_input_layer_reads_each_image_as_0_255_or_0_1():
    import keras
    import numpy as np

    from zoo.layers import PixelStandardization

    layer = PixelStandardization([10.0, 20.0], [2.0, 4.0])
    rng = np.random.default_rng(0)
    raw = rng.integers(0, 256, (3, 5, 5, 2)).astype("float32")
    raw[:, 0, 0, :] = 255.0  # every image reaches 255
    unit = raw / 255.0
    batch = np.concatenate([raw[:2], unit[2:]])  # mixed: the check is per image
    expected = (raw - np.array([10.0, 20.0])) / np.array([2.0, 4.0])
    for x in (raw, unit, batch):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(x)), expected, rtol=1e-5,
                                   atol=1e-4)
    # an image whose largest value is 1 is read as [0, 1]; switched off, it is not
    ones = np.ones((1, 5, 5, 2), "float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(ones))[0, 0, 0], [122.5, 58.75])
    plain = PixelStandardization([10.0, 20.0], [2.0, 4.0], rescale_unit_images=False)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(plain(ones))[0, 0, 0], [-4.5, -4.75])
    with pytest.raises(ValueError, match="std must be positive"):
        PixelStandardization([1.0], [0.0])
    with pytest.raises(ValueError, match="statistics for 2 channel"):
        PixelStandardization([10.0, 20.0], [2.0, 4.0])(np.zeros((1, 4, 4, 3), "float32"))
    with pytest.raises(ValueError, match="expected axis -1 of input shape to have value 2"):
        layer(np.zeros((1, 4, 4, 3), "float32"))  # built: Keras checks the channels


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


def test_every_zoo_module_the_readme_names_is_reachable_after_import_zoo():
    # the README says "use zoo.saving.load_model"; after a bare `import zoo` that attribute
    # was missing (a new user's AttributeError)
    import re

    named = sorted(set(re.findall(r"\bzoo\.([a-z_]+)\.[A-Za-z_]", (ROOT / "README.md").read_text())))
    assert "saving" in named and "train" in named
    r = fresh("import zoo, types\n"
              f"for name in {named!r}: assert isinstance(getattr(zoo, name), types.ModuleType)\n"
              "print(zoo.saving.load_model.__name__)")
    assert r.returncode == 0 and r.stdout.split()[-1] == "load_model", r.stderr[-2000:]


# ---- 3. validation is held out of the training split -----------------------------------------

def test_zoo_train_validates_on_data_held_out_of_the_training_split(tmp_path):
    run = tmp_path / "run"
    r = zoo_cli("train", "shallow_sequential", "--dataset", "digits", "--epochs", "2",
                "--out", str(run))
    assert r.returncode == 0, r.stderr
    assert "held out of the training split" in r.stdout and "test split" in r.stdout
    config = json.loads((run / "config.json").read_text())
    results = json.loads((run / "results.json").read_text())
    held = config["validation"]
    assert held["split"] == "train" and held["fraction"] == 0.1 and held["seed"] == 0
    assert config["train_examples"] + held["examples"] == 1437  # digits' training split
    # the validation numbers are not the test numbers (the demo's used to be equal)
    assert results["validation_split"] == "held out of the training split"
    assert results["test_split"] == "test" and results["val_loss"] != results["test_loss"]
    header = (run / "metrics.csv").read_text().splitlines()[0].split(",")
    assert "val_loss" in header
    # which examples are held out: seeded and stratified, as zoo.data.holdout does it
    r = fresh("""
        import numpy as np, zoo
        x, y = zoo.data.load("digits", "train")
        (xt, yt), (xv, yv) = zoo.data.holdout(x, y, 0.1, seed=0)
        share = np.bincount(yv) / np.bincount(y)  # per class
        print(len(yv), share.min(), share.max())
    """)
    n, lo, hi = r.stdout.split()
    assert int(n) == held["examples"] and 0.09 < float(lo) <= float(hi) < 0.11
    # a flag changes the share, --no-validation trains on all of it
    r = zoo_cli("train", "shallow_sequential", "--dataset", "digits", "--epochs", "1",
                "--validation-fraction", "0.25", "--out", str(tmp_path / "quarter"))
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "quarter" / "config.json").read_text())["validation"][
        "examples"] == pytest.approx(1437 / 4, abs=6)
    r = zoo_cli("train", "shallow_sequential", "--dataset", "digits", "--epochs", "1",
                "--validation-fraction", "1.5", "--out", str(tmp_path / "bad"))
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert "validation_fraction must be a number in (0, 1)" in r.stderr


# ---- 4. resume; issue 31: a run folder's lock, --resume without config.json -------------------

def _epochs(run):
    return [row.split(",")[0] for row in (run / "metrics.csv").read_text().splitlines()[1:]]


def test_resume_of_a_finished_run_does_nothing_extends_or_names_what_differs(tmp_path):
    run = tmp_path / "run"
    args = ("train", "shallow_sequential", "--dataset", "digits", "--subset", "400",
            "--out", str(run))
    assert zoo_cli(*args, "--epochs", "2").returncode == 0
    results = (run / "results.json").read_text()
    model = (run / "model.keras").read_bytes()
    r = zoo_cli(*args, "--epochs", "2", "--resume")
    assert r.returncode == 0, r.stderr
    assert "already finished its 2 epochs" in r.stdout and "nothing to train" in r.stdout
    assert (run / "results.json").read_text() == results  # untouched
    assert (run / "model.keras").read_bytes() == model
    assert _epochs(run) == ["0", "1"]
    r = zoo_cli(*args, "--epochs", "2", "--resume", "--seed", "1", "--lr", "0.5")
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert "recipe.learning_rate: 0.002 -> 0.5" in r.stderr and "seed: 0 -> 1" in r.stderr
    r = zoo_cli(*args, "--epochs", "1", "--resume")
    assert r.returncode == 2 and "epochs: 2 -> 1" in r.stderr
    r = zoo_cli(*args, "--epochs", "3", "--resume")
    assert r.returncode == 0, r.stderr
    assert _epochs(run) == ["0", "1", "2"]  # extended from its last epoch, no row repeated
    config = json.loads((run / "config.json").read_text())
    assert config["extended"] == [{"from_epochs": 2, "to_epochs": 3}]
    rows = (run / "metrics.csv").read_text().splitlines()
    column = rows[0].split(",").index("seconds")
    seconds = sum(float(row.split(",")[column]) for row in rows[1:])
    assert json.loads((run / "results.json").read_text())["train_seconds"] == \
        pytest.approx(seconds, abs=0.01)


def test_resume_alone_keeps_the_runs_epochs_and_refuses_an_empty_folder(tmp_path):
    """`--resume` without `--epochs` continues the run as set up (a finished run: nothing to
    do), not to the recipe's default length; `--resume` of a folder with no run (a typo) is
    refused instead of training a new run there."""
    run = tmp_path / "run"
    args = ("train", "shallow_sequential", "--dataset", "digits", "--subset", "300",
            "--out", str(run))
    assert zoo_cli(*args, "--epochs", "1").returncode == 0
    r = zoo_cli(*args, "--resume")
    assert r.returncode == 0, r.stderr
    assert "nothing to train" in r.stdout and _epochs(run) == ["0"]
    for missing in (tmp_path / "typo", tmp_path / "empty"):
        if missing.name == "empty":
            missing.mkdir()
        r = zoo_cli("train", "shallow_sequential", "--dataset", "digits", "--epochs", "1",
                    "--out", str(missing), "--resume")
        assert r.returncode == 2 and "nothing to resume" in r.stderr, r.stderr
        assert not (missing / "config.json").exists()


def test_a_pretrained_name_takes_pretrained_true_and_a_new_head():
    r = fresh("""
        import zoo
        m = zoo.create_model("resnet20.mnist", pretrained=True, num_classes=3)
        print(m.output_shape)
        for kwargs in ({"pretrained": "digits"}, {"pretrained": False}):
            try:
                zoo.create_model("resnet20.mnist", **kwargs)
            except ValueError as e:
                print("refused:", e)
        """)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert lines[0] == "(None, 3)"
    assert "names its tag already" in lines[1] and "pretrained=False contradicts" in lines[2]


def test_publish_refuses_a_run_whose_metrics_repeat_an_epoch(tmp_path):
    run = tmp_path / "run"
    assert zoo_cli("train", "shallow_sequential", "--dataset", "digits", "--subset", "300",
                   "--epochs", "2", "--out", str(run)).returncode == 0
    lines = (run / "metrics.csv").read_text().splitlines()
    (run / "metrics.csv").write_text("\r\n".join([*lines, *lines[1:]]) + "\r\n")  # trained twice
    r = zoo_cli("publish", str(run), "--to", str(tmp_path / "zoo"))
    assert r.returncode == 2 and "lists epoch(s) 0, 1 more than once" in r.stderr
    assert not (tmp_path / "zoo" / "shallow_sequential.digits").exists()


def test_resume_without_config_json_is_refused(tmp_path):
    run = tmp_path / "run"
    (run / "checkpoint").mkdir(parents=True)
    (run / "checkpoint" / "training_metadata.json").write_text('{"epoch": 1, "batch": 0}')
    (run / "metrics.csv").write_text("epoch,accuracy,loss\r\n0,0.5,1.0\r\n")
    r = zoo_cli("train", "shallow_sequential", "--dataset", "digits", "--epochs", "2",
                "--resume", "--out", str(run))
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "no config.json" in r.stderr and "clear it yourself" in r.stderr
    assert not (run / "config.json").exists()
    # nor does --overwrite remove what no zoo run can be shown to have written
    r = zoo_cli("train", "shallow_sequential", "--dataset", "digits", "--epochs", "2",
                "--overwrite", "--out", str(run))
    assert r.returncode == 2 and "no zoo run" in r.stderr, r.stderr
    assert (run / "metrics.csv").is_file() and (run / "checkpoint").is_dir()


def test_a_run_folder_in_use_is_locked(tmp_path):
    run = tmp_path / "run"
    first = subprocess.Popen(
        [sys.executable, "-m", "zoo.cli", "train", "resnet20", "--dataset", "digits",
         "--epochs", "30", "--out", str(run)], cwd=ROOT, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    try:
        import time

        deadline = time.time() + 300
        while not (run / "config.json").exists():  # written under the lock
            assert first.poll() is None, first.stderr.read()
            assert time.time() < deadline
            time.sleep(0.5)
        r = zoo_cli("train", "shallow_sequential", "--dataset", "digits", "--epochs", "1",
                    "--overwrite", "--out", str(run))
        assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
        assert f"is in use: process {first.pid} is training in it" in r.stderr
        assert first.poll() is None  # the live run goes on
        assert json.loads((run / "config.json").read_text())["model"] == "resnet20"
    finally:
        first.kill()
        first.wait()
    # its owner gone (even by SIGKILL), the folder is free again
    r = zoo_cli("train", "shallow_sequential", "--dataset", "digits", "--epochs", "1",
                "--subset", "200", "--overwrite", "--out", str(run))
    assert r.returncode == 0, r.stderr


# ---- 9. transfer learning as keras-hub / timm users expect ------------------------------------

def test_pretrained_backbones_new_heads_and_names(tmp_path):
    r = fresh("""
        import json, numpy as np, keras, zoo
        out = {"listed": zoo.list_models("resnet20*", pretrained=True)}
        x = np.random.default_rng(0).integers(0, 256, (4, 28, 28, 1)).astype("float32")
        base = zoo.create_model("resnet20.mnist")                  # a name with its tag
        same = zoo.create_model("resnet20", pretrained=True)       # mnist first
        out["same"] = float(np.abs(base.predict(x, verbose=0) - same.predict(x, verbose=0)).max())
        new = zoo.create_model("resnet20", pretrained="mnist", num_classes=3)
        out["new"] = list(new.output_shape)
        # a published file ends in Keras's softmax; its new, untrained head in the zoo's
        out["heads"] = [base.get_layer("predictions").activation is keras.activations.softmax,
                        new.get_layer("predictions").activation is zoo.layers.softmax]
        # the backbone keeps its weights: the pooled features are the published model's
        feats = keras.Model(base.inputs, base.get_layer("head_pool").output).predict(x, verbose=0)
        cut = keras.Model(new.inputs, new.get_layer("head_pool").output).predict(x, verbose=0)
        out["backbone"] = float(np.abs(feats - cut).max())
        for pooling in ("avg", "max", None):
            m = zoo.create_model("preresnet110.mnist", include_top=False, pooling=pooling)
            out[str(pooling)] = list(m.output_shape)
        avg = zoo.create_model("resnet20.mnist", include_top=False, pooling="avg")
        out["avg_equals_head_pool"] = float(np.abs(avg.predict(x, verbose=0) - feats).max())
        out["untrained"] = list(zoo.create_model("resnet20", input_shape=(28, 28, 1),
                                                 include_top=False).output_shape)
        new.save("ft.keras")
        again = keras.saving.load_model("ft.keras", safe_mode=True)
        out["reloaded"] = float(np.abs(again.predict(x, verbose=0) - new.predict(x, verbose=0)).max())
        errors = []
        for kwargs in ({"pretrained": True, "depth": 32}, {"pooling": "avg"},
                       {"pooling": "mean", "include_top": False}):
            try:
                zoo.create_model("resnet20", **kwargs)
            except ValueError as e:
                errors.append(str(e))
        out["errors"] = errors
        print(json.dumps(out))
    """, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["listed"] == ["resnet20.fashion_mnist", "resnet20.mnist"]
    assert out["same"] == 0.0 and out["new"] == [None, 3] and out["backbone"] == 0.0
    assert out["heads"] == [True, True]
    assert out["avg"] == [None, 64] and out["max"] == [None, 64]
    assert out["None"] == [None, 7, 7, 64]
    assert out["avg_equals_head_pool"] == 0.0 and out["untrained"] == [None, 7, 7, 64]
    assert out["reloaded"] < 1e-6
    assert "drop depth" in out["errors"][0] and "include_top=False" in out["errors"][1]
    assert "pooling must be one of" in out["errors"][2]


# ---- 5, 12. the first commands, again and again; what they install ----------------------------

def _demo_command():
    lines = (ROOT / "Makefile").read_text().replace("\\\n", " ").splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("demo:"))
    return lines[at], lines[at + 1].split()


def test_the_demo_runs_again_and_again(tmp_path):
    target, command = _demo_command()
    assert command[0] == "$(VENV)/bin/zoo" and command[1] == "train"
    for _ in range(2):
        r = zoo_cli(*command[1:], cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        assert "test accuracy" in r.stdout
    assert (tmp_path / "runs" / "demo" / "results.json").is_file()


def test_make_demo_installs_the_runtime_only_and_zoo_has_a_version():
    target, _ = _demo_command()
    makefile = (ROOT / "Makefile").read_text()
    assert target.split(":")[1].split() == ["$(VENV)/.runtime"]
    runtime = makefile.split("$(VENV)/.runtime: pyproject.toml", 1)[1].split("\n\n", 1)[0]
    assert 'pip install -q -e .\n' in runtime + "\n" and "[dev" not in runtime
    assert "torch" not in runtime.lower() and "jax" not in runtime.lower()
    assert "$(VENV)/.installed: $(VENV)/.runtime" in makefile  # make test adds the rest
    import zoo

    r = zoo_cli("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"residual-zoo {zoo.__version__}"


# ---- 10. class names ---------------------------------------------------------------------------

def test_every_card_names_its_classes_and_predictions_decode_to_them():
    r = fresh("""
        import json, sys, zoo
        cards = {n: zoo.pretrained_card(n) for n in zoo.list_pretrained()}
        probs = [[0.05] * 9 + [0.55], [0.7, 0.2] + [0.0125] * 8]
        print(json.dumps({
            "classes": {n: c.get("classes") for n, c in cards.items()},
            "datasets": {n: c["dataset"]["name"] for n, c in cards.items()},
            "fashion": zoo.decode_predictions(probs, "resnet20.fashion_mnist", top=2),
            "mnist": zoo.decode_predictions(probs[0], "mnist"),
            "names": zoo.class_names("cifar10")[:2], "keras": "keras" in sys.modules}))
    """)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    for name, classes in out["classes"].items():
        expected = {"mnist": [str(d) for d in range(10)]}.get(out["datasets"][name])
        assert classes and len(classes) == 10, name
        assert expected is None or classes == expected, name
    assert out["fashion"] == [[["Ankle boot", 0.55], ["T-shirt/top", 0.05]],
                              [["T-shirt/top", 0.7], ["Trouser", 0.2]]]
    assert out["mnist"] == [[["9", 0.55]]] and out["names"] == ["airplane", "automobile"]
    assert out["keras"] is False  # names need no Keras
    r = fresh("import zoo; zoo.decode_predictions([[0.5, 0.5]], 'mnist')")
    assert r.returncode == 1 and "do not match 10 class names" in r.stderr


# ---- 11. serving without the zoo ---------------------------------------------------------------

def test_an_exported_pretrained_model_serves_without_zoo(tmp_path):
    r = fresh(f"""
        import numpy as np, zoo
        x = np.random.default_rng(0).integers(0, 256, (8, 28, 28, 1)).astype("float32")
        for name in ("dmrnet20.mnist", "procresnet22.mnist"):
            model = zoo.load_pretrained(name)
            np.save({str(tmp_path)!r} + f"/{{name}}.npy", model.predict(x, verbose=0))
            model.export({str(tmp_path)!r} + f"/{{name}}", verbose=False)   # a SavedModel
        np.save({str(tmp_path)!r} + "/x.npy", x)
    """, KERAS_BACKEND="tensorflow")
    assert r.returncode == 0, r.stderr
    r = fresh(f"""
        import sys, numpy as np, tensorflow as tf
        x = np.load({str(tmp_path)!r} + "/x.npy")
        for name in ("dmrnet20.mnist", "procresnet22.mnist"):
            folder, expected = {str(tmp_path)!r} + f"/{{name}}", np.load({str(tmp_path)!r} + f"/{{name}}.npy")
            loaded = tf.saved_model.load(folder)  # kept: its variables live as long as it
            served = loaded.serve(x).numpy()
            lite = tf.lite.Interpreter(
                model_content=tf.lite.TFLiteConverter.from_saved_model(folder).convert())
            lite.resize_tensor_input(lite.get_input_details()[0]["index"], x.shape)
            lite.allocate_tensors()
            lite.set_tensor(lite.get_input_details()[0]["index"], x)
            lite.invoke()
            tflite = lite.get_tensor(lite.get_output_details()[0]["index"])
            print(name, np.abs(served - expected).max(), np.abs(tflite - expected).max())
        assert not any(m == "zoo" or m.startswith("zoo.") for m in sys.modules)
    """)
    assert r.returncode == 0, r.stderr
    rows = [line.split() for line in r.stdout.strip().splitlines()[-2:]]
    assert [row[0] for row in rows] == ["dmrnet20.mnist", "procresnet22.mnist"]
    assert all(float(v) < 1e-5 for row in rows for v in row[1:])


# ---- 13. plots a reader can trust at a glance ---------------------------------------------------

def test_plots_tick_counts_as_integers_clip_error_bars_and_name_every_legend_entry(tmp_path):
    r = fresh(f"""
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.ticker
        import numpy as np
        from zoo import analysis
        from zoo.analysis import plots
        from zoo.pretrained.cards import plot_curves

        figs = {{
            "paths": plots.plot_path_lengths(analysis.path_length_distribution(6)),
            "trunc": plots.plot_truncation([0.5, 0.1, 0.01]),
            "trunc_acc": plots.plot_truncation([{{"order": 1, "accuracy": 0.9}},
                                                {{"order": 2, "accuracy": 0.95}}]),
            "single": plots.plot_single_lesions([{{"unit": 0, "transition": False, "accuracy": 0.9}},
                                                 {{"unit": 1, "transition": True, "accuracy": 0.5}}],
                                                0.95),
            # a mean of 99% with a spread of 5 points: the bar must stop at 100%
            "random": plots.plot_random_lesions([{{"k": 1, "mean_accuracy": 0.99, "std_accuracy": 0.05}},
                                                 {{"k": 2, "mean_accuracy": 0.02, "std_accuracy": 0.05}}]),
            "gradient": plots.plot_gradient_by_path_length({{"lengths": [0, 1, 2],
                                                            "mean_norm": [1, 0.5, 0.2],
                                                            "weighted": [1, 1, 0.2]}}),
        }}
        csv = {str(tmp_path / "metrics.csv")!r}
        open(csv, "w").write("epoch,accuracy,loss,val_accuracy,val_loss\\n0,0.5,1.2,0.6,1.0\\n1,0.7,0.8,0.7,0.9\\n")
        import matplotlib.pyplot as plt
        kept = []
        plt.close = kept.append  # plot_curves closes its figure: keep it to look at
        plot_curves(csv, {str(tmp_path / "curves.png")!r}, "run", milestones=(0.5,))
        figs["curves"] = kept[-1]
        legend = [t.get_text() for t in figs["curves"].axes[1].get_legend().get_texts()]
        assert "validation (held out of the training split) accuracy" in legend, legend
        for name, fig in figs.items():
            for ax in fig.axes:
                if ax.get_ylabel().startswith("share of total"):  # the twin of the gradient plot
                    continue
                assert ax.get_title(), name
                assert isinstance(ax.xaxis.get_major_locator(), matplotlib.ticker.MaxNLocator), name
                assert ax.xaxis.get_major_locator()._integer, name
                legend = ax.get_legend()
                if legend is not None:
                    texts = [t.get_text() for t in legend.get_texts()]
                    assert texts and all(t and not t.startswith("_") for t in texts), (name, texts)
        bars = figs["random"].axes[0].collections[0].get_segments()
        tops = [max(s[:, 1]) for s in bars]
        bottoms = [min(s[:, 1]) for s in bars]
        assert max(tops) <= 100 + 1e-9 and min(bottoms) >= -1e-9, (tops, bottoms)
        print("ok")
    """)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().endswith("ok")


# --- the newcomer's mistakes (a review's first hour, session 26) --------------------------

def test_one_image_without_its_batch_axis_is_refused_not_read_as_28_images():
    import numpy as np

    import zoo

    image = np.full((28, 28, 1), 128.0, np.float32)
    for call in (lambda m: m.predict(image, verbose=0), lambda m: m(image)):
        model = zoo.create_model("resnet20", input_shape=(28, 28, 1),
                                 input_normalization="mnist")
        with pytest.raises(ValueError, match=r"batch of images of shape \(N, 28, 28, 1\).*"
                                             r"x\[None\]"):
            call(model)
        assert model.predict(image[None], verbose=0).shape == (1, 10)


def test_an_override_that_changes_the_architecture_changes_the_name():
    import zoo

    assert zoo.create_model("resnet20", depth=56).name == "resnet56"  # registered: that net
    # no registered name builds it: the name says what changed, never another net's name
    assert zoo.create_model("preresnet110", depth=20).name == "preresnet110_depth20"
    assert zoo.create_model("dmrnet20_identity", depth=32).name == "dmrnet20_identity_depth32"
    assert zoo.create_model("resnet20", input_shape=(28, 28, 1)).name == "resnet20"
    assert zoo.create_model("resnet20", depth=20).name == "resnet20"
    with pytest.raises(TypeError, match="resnet20 \\(resnet\\) has no argument 'dept'; did you "
                                        "mean 'depth'"):
        zoo.create_model("resnet20", dept=32)


def test_close_names_are_suggested_nearest_first():
    from zoo.validation import did_you_mean

    assert did_you_mean("resnet21", ["resnet32", "resnet20", "plain20"]).startswith(
        "; did you mean 'resnet20', 'resnet32'")
    assert did_you_mean("resnet21", []) == ""  # an empty pretrained folder, say


def test_a_data_dir_that_is_not_there_is_named(tmp_path):
    from zoo.data import DataError, load

    with pytest.raises(DataError, match="data_dir .*nope is not a folder"):
        load("mnist", "test", data_dir=tmp_path / "nope")


def test_a_subset_larger_than_the_training_split_is_named(tmp_path):
    r = zoo_cli("train", "resnet20", "--dataset", "digits", "--subset", "100000", "--out",
                str(tmp_path / "run"))
    assert r.returncode == 2 and "subset 100,000 is more than the 1,437 training images of digits" in r.stderr, r.stderr
    assert not (tmp_path / "run").exists()


def test_zoo_info_on_a_pretrained_name_points_to_its_card():
    r = zoo_cli("info", "resnet20.mnist")
    assert r.returncode == 2 and "zoo pretrained resnet20.mnist" in r.stderr, r.stderr
    r = zoo_cli("pretrained", "*seed001*")
    columns = {line.index("%") for line in r.stdout.splitlines()}
    assert r.returncode == 0 and len(columns) == 1, r.stdout  # one column, long names too
