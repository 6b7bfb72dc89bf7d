"""Recipes, the papers' weight decay, reproducible fit with a run folder."""

import json

import keras
import numpy as np
import pytest

import zoo
from zoo.train import L2SGD, RECIPES, fit, get_recipe, make_optimizer


def test_coupled_l2_matches_hand_computed_step():
    v = keras.Variable(np.array([1.0, -2.0], "float32"))
    opt = L2SGD(l2=0.1, learning_rate=0.5, momentum=0.9)
    g = np.array([0.25, 0.5], "float32")
    opt.apply([keras.ops.convert_to_tensor(g)], [v])
    # torch.optim.SGD semantics: buf = g + l2*w; w -= lr*buf
    expected = np.array([1.0, -2.0]) - 0.5 * (g + 0.1 * np.array([1.0, -2.0]))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(v), expected, rtol=1e-6)
    buf = g + 0.1 * expected + 0.9 * (g + 0.1 * np.array([1.0, -2.0]))
    opt.apply([keras.ops.convert_to_tensor(g)], [v])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(v), expected - 0.5 * buf, rtol=1e-6)


def test_recipe_schedules():
    opt = make_optimizer(get_recipe("he2016"), steps_per_epoch=10, epochs=4)
    schedule = opt._learning_rate
    values = [float(keras.ops.convert_to_numpy(schedule(s))) for s in (0, 19, 21, 31)]
    np.testing.assert_allclose(values, [0.1, 0.1, 0.01, 0.001], rtol=1e-6)
    assert float(keras.ops.convert_to_numpy(opt.learning_rate)) == pytest.approx(0.1)  # step 0
    assert (opt.momentum, opt.nesterov) == (0.9, False)
    dmr = get_recipe("dmrnet")
    assert (dmr.batch_size, dmr.epochs, dmr.nesterov, dmr.milestones) == (64, 400, True, (0.5, 0.75, 0.875))
    assert set(RECIPES) == {"he2016", "dmrnet", "procresnet", "zoo", "quick"}
    with pytest.raises(ValueError, match="recipe must be one of .*got 'fast'"):
        get_recipe("fast")


def _fit(tmp_path, seed):
    # all 1,437 digits, 3 epochs (36 steps): enough for BN's moving statistics to settle
    return fit("resnet20", "digits", recipe="quick", epochs=3, seed=seed,
               out_dir=tmp_path / f"run{seed}", verbose=0)


def test_fit_is_reproducible_and_writes_a_run_folder(tmp_path):
    a = _fit(tmp_path / "a", 0)
    b = _fit(tmp_path / "b", 0)
    # same seed, same machine: identical metrics (only the epochs' wall-clock seconds differ)
    assert a.history.keys() == b.history.keys() == {"accuracy", "loss", "val_accuracy",
                                                   "val_loss", "seconds"}
    assert {k: v for k, v in a.history.items() if k != "seconds"} == \
        {k: v for k, v in b.history.items() if k != "seconds"}
    assert a.test_accuracy == b.test_accuracy
    assert a.test_accuracy > 0.85  # chance is 0.1; the demo reaches ~0.97 in 5 epochs
    run = a.run_dir
    config = json.loads((run / "config.json").read_text())
    assert config["seed"] == 0 and config["recipe"]["epochs"] == 3
    # 10% of the training split held out for validation (seeded, stratified), never the test
    assert config["dataset"] == "digits" and config["validation"]["split"] == "train"
    assert config["data_pipeline"] == "tf.data"  # TensorFlow is installed here
    assert config["train_examples"] + config["validation"]["examples"] == 1437
    assert config["validation"]["examples"] == pytest.approx(143.7, abs=5)
    assert config["environment"]["zoo"] == zoo.__version__ and "keras" in config["environment"]["versions"]
    lines = (run / "metrics.csv").read_text().strip().splitlines()
    assert lines[0].startswith("epoch") and len(lines) == 4
    results = json.loads((run / "results.json").read_text())
    # every epoch is timed, and the run's time is their sum
    seconds = [float(row.split(",")[lines[0].split(",").index("seconds")]) for row in lines[1:]]
    assert all(s > 0 for s in seconds)
    assert results["train_seconds"] == pytest.approx(sum(seconds), abs=0.01)
    assert results["test_accuracy"] == pytest.approx(a.test_accuracy)
    reloaded = zoo.train.evaluate(run / "model.keras", "digits")
    assert reloaded["accuracy"] == pytest.approx(a.test_accuracy, abs=1e-6)
    # XLA and the plain graph ("auto" on a CPU) measure the same model the same way
    compiled = zoo.train.evaluate(run / "model.keras", "digits", jit_compile=True)
    assert compiled["accuracy"] == reloaded["accuracy"]
    assert compiled["loss"] == pytest.approx(reloaded["loss"], rel=1e-5)
    assert compiled["examples"] == reloaded["examples"] == 360
    # "auto": XLA on TensorFlow only with a GPU (on a CPU it costs more than it saves for one
    # pass), always on JAX, never on PyTorch
    from zoo.environment import has_gpu

    model = keras.models.load_model(run / "model.keras")
    zoo.train.evaluate(model, "digits")
    backend = keras.backend.backend()
    assert model.jit_compile is (backend == "jax" or (backend == "tensorflow" and has_gpu()))
    assert not list(run.glob(".*"))  # no temporary files left behind


def test_fit_projects_procresnet_with_seeded_probability(tmp_path):
    r = fit("procresnet22", "digits", recipe="quick", epochs=1, seed=1, subset=512,
            out_dir=tmp_path, verbose=0)
    applied = json.loads((tmp_path / "results.json").read_text())["projections_applied"]
    draws = np.random.default_rng(1).random(512 // 128)  # one draw per step, p = 0.5
    assert applied == int((draws < 0.5).sum())
    t = r.model.get_layer("transition1")
    assert t.projection == "polar"


def test_fit_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="epochs must be a positive integer, got 0"):
        fit("resnet20", "digits", epochs=0)
    with pytest.raises(ValueError, match="dataset must be one of"):
        fit("resnet20", "imagenet")
    model = zoo.resnet(20, input_shape=(8, 8, 1))
    with pytest.raises(ValueError, match="mixed_precision=True needs a model name"):
        fit(model, "digits", mixed_precision=True)
    with pytest.raises(ValueError, match=r"model expects inputs of shape \(32, 32, 3\), but digits images are \(8, 8, 1\)"):
        zoo.train.evaluate(zoo.resnet(20), "digits")
    with pytest.raises(ValueError, match="jit_compile must be True, False or 'auto', got 'yes'"):
        zoo.train.evaluate(zoo.resnet(20, input_shape=(8, 8, 1)), "digits", jit_compile="yes")


def test_mixed_precision_and_tensorboard(tmp_path):
    before = keras.config.dtype_policy().name
    r = fit("shallow_sequential", "digits", epochs=3, mixed_precision=True, tensorboard=True,
            out_dir=tmp_path, verbose=0)
    assert r.model.get_layer("unit1").dtype_policy.name in ("mixed_bfloat16", "mixed_float16")
    assert keras.config.dtype_policy().name == before  # the global policy is restored
    assert np.isfinite(r.test_loss) and r.test_accuracy > 0.5  # chance: 0.1
    assert any((tmp_path / "tensorboard").rglob("*tfevents*"))


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="a TensorFlow tracing matter")
def test_first_fit_traces_the_train_step_once(rng):
    # Keras creates optimizer and metric variables inside the first trace, and TensorFlow
    # traces a function that created variables again; build_training_state avoids that.
    model = zoo.create_model("shallow_sequential", input_shape=(8, 8, 1), layers=2, filters=4)
    model.compile(optimizer=L2SGD(l2=1e-4, learning_rate=0.1, momentum=0.9),
                  loss=zoo.train.ProbabilityCrossentropy(), metrics=["accuracy"])
    zoo.train.build_training_state(model)
    traces = []
    step = model.train_step
    model.train_step = lambda data: traces.append(1) or step(data)
    x = rng.normal(size=(64, 8, 8, 1)).astype("float32")
    model.fit(x, np.arange(64) % 10, batch_size=32, epochs=2, verbose=0)
    assert len(traces) == 1
    assert model.optimizer.built


def test_augmentation_is_a_setting_of_the_run(tmp_path):
    # recorded in config.json, part of what --resume must match, and in the card's command
    from zoo.pretrained.cards import _command

    run = zoo.train.fit("shallow_sequential", "digits", recipe="quick", epochs=1, seed=0,
                        augment="crop", out_dir=tmp_path / "run", verbose=0, validate=False,
                        layers=1, filters=4)
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["augment"] == "crop" and run.test_accuracy > 0
    assert "--augment crop" in _command(config, {"epochs": 1})
    with pytest.raises(ValueError, match='other settings \\(augment: "crop" -> null\\)'):
        zoo.train.fit("shallow_sequential", "digits", recipe="quick", epochs=1, seed=0,
                      augment=None, out_dir=tmp_path / "run", resume=True, verbose=0,
                      validate=False, layers=1, filters=4)
    with pytest.raises(ValueError, match="augment must be one of"):
        zoo.train.fit("shallow_sequential", "digits", epochs=1, augment="rotate", verbose=0)


BLOCK_TENSORFLOW = """
import sys

# as on a machine with Keras on JAX and no TensorFlow installed: `import tensorflow` raises
# ModuleNotFoundError and importlib.util.find_spec("tensorflow") returns None
for name in ("tensorflow", "tensorflow_datasets"):
    sys.modules[name] = None
"""


def test_zoo_train_on_jax_without_tensorflow_batches_with_numpy(tmp_path):
    # The lent GPU machines have JAX and no TensorFlow; so may a user's. Training must not
    # need tf.data there (it did: every study's training failed on the GPU machine).
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT, backend_available

    if not backend_available("jax"):
        pytest.skip("JAX is not installed")
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text(BLOCK_TENSORFLOW)
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": str(tmp_path / "site")}
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "zoo.cli", "train", "resnet20", "--dataset",
                           "digits", "--recipe", "quick", "--epochs", "2", "--subset", "600",
                           "--seed", "0", "--out", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    config = json.loads((out / "config.json").read_text())
    assert config["data_pipeline"] == "numpy"
    assert config["environment"]["backend"] == "jax"
    results = json.loads((out / "results.json").read_text())
    assert results["epochs"] == 2 and 0.25 < results["test_accuracy"] <= 1.0  # chance: 0.1
    lines = (out / "metrics.csv").read_text().strip().splitlines()
    column = lines[0].split(",").index("loss")
    losses = [float(line.split(",")[column]) for line in lines[1:]]
    assert len(losses) == 2 and losses[1] < losses[0]  # it learns
