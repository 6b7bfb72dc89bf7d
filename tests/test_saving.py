"""Every registered model builds, runs, trains a step, saves to .keras and reloads safely;
models saved on TensorFlow load on the other backends with the same predictions."""

import json

import keras
import numpy as np
import pytest

import zoo
from tests.conftest import backend_available, run_python

# Parameter counts do not depend on the resolution; 16x16 keeps the suite fast.
SHAPE = (16, 16, 3)


@pytest.mark.parametrize("name", zoo.list_models())
def test_build_train_save_reload(name, tmp_path, rng):
    model = zoo.create_model(name, input_shape=SHAPE, num_classes=5)
    x = rng.uniform(size=(4, *SHAPE)).astype("float32")
    y = np.arange(4) % 5
    before = [w.copy() for w in model.get_weights()]
    # run_eagerly: a step of a 164-layer net traces for ~40 s on 2 cores; eager is the same math
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="sparse_categorical_crossentropy",
                  run_eagerly=True)
    history = model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    changed = sum(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    assert changed >= len(model.trainable_weights), "a training step must update every weight"

    probs = model(x, training=False)
    assert probs.shape == (4, 5)
    np.testing.assert_allclose(np.sum(keras.ops.convert_to_numpy(probs), axis=1), 1, atol=1e-5)

    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert loaded.count_params() == model.count_params()
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(loaded(x, training=False)), keras.ops.convert_to_numpy(probs)
    )


# one of each unit kind (post-activation, fused parallel, merge-and-run, pre-activation
# bottleneck with norm-preserving transitions, shallow stack)
CROSS = ["resnet20", "parallel_resnet20", "dmrnet20", "procresnet22", "shallow_parallel"]


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_tensorflow_saved_models_load_on_other_backends(backend, tmp_path, rng):
    if not backend_available(backend):
        pytest.skip(f"{backend} is not installed (pip install 'residual-zoo[{backend}]')")
    x = rng.uniform(size=(3, *SHAPE)).astype("float32")
    np.save(tmp_path / "x.npy", x)
    expected = {}
    for name in CROSS:
        model = zoo.create_model(name, input_shape=SHAPE)
        model.save(tmp_path / f"{name}.keras")
        expected[name] = keras.ops.convert_to_numpy(model(x, training=False))
    code = f"""
import json, keras, numpy as np, zoo
assert keras.backend.backend() == {backend!r}
x = np.load({str(tmp_path / "x.npy")!r})
out = {{}}
for name in {CROSS!r}:
    m = keras.saving.load_model({str(tmp_path)!r} + "/" + name + ".keras", safe_mode=True)
    out[name] = keras.ops.convert_to_numpy(m(x, training=False)).tolist()
print(json.dumps(out))
"""
    proc = run_python(code, backend=backend)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    for name in CROSS:
        np.testing.assert_allclose(got[name], expected[name], atol=1e-5, err_msg=name)


# JAX compiles each model's train step (slow on 2 CPU cores) and is exercised by other tests;
# its one model is the one with JAX-specific code (the projection's state sync).
TRAINED = {"torch": ["parallel_resnet20", "dmrnet20", "procresnet22"], "jax": ["procresnet22"]}


@pytest.mark.other_backend
@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_train_a_step_and_round_trip_on_another_backend(backend, tmp_path):
    """On ``backend`` itself: build each unit kind, train one step through ``zoo.train.fit``
    (the recipe's optimizer, the projection callback), save to ``.keras`` and load it back
    with the same predictions. ``make test`` installs the torch CPU wheel for this.
    Residual units (with transitions), the fused parallel stage, merge-and-run and the
    norm-preserving convolutions are all in these three models."""
    if not backend_available(backend):
        pytest.skip(f"{backend} is not installed (pip install 'residual-zoo[{backend}]')")
    code = f"""
import json, keras, numpy as np, zoo
from zoo.data import load
assert keras.backend.backend() == {backend!r}
x, _ = load("digits", "test", normalize=None, subset=8)
out = {{}}
for name in {TRAINED[backend]!r}:
    before = zoo.create_model(name, input_shape=(8, 8, 1), input_normalization="digits")
    w0 = [np.array(w) for w in before.get_weights()]
    r = zoo.train.fit(before, "digits", recipe="quick", epochs=1, subset=64, batch_size=64,
                      test_subset=32, validate=False, verbose=0, seed=0)
    moved = sum(not np.allclose(a, np.array(b)) for a, b in zip(w0, r.model.get_weights()))
    path = {str(tmp_path)!r} + "/" + name + ".keras"
    r.model.save(path)
    back = keras.saving.load_model(path, safe_mode=True)
    diff = float(np.abs(keras.ops.convert_to_numpy(back(x, training=False))
                        - keras.ops.convert_to_numpy(r.model(x, training=False))).max())
    out[name] = [moved, diff, bool(np.isfinite(r.test_loss))]
print(json.dumps(out))
"""
    proc = run_python(code, backend=backend)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert sorted(got) == sorted(TRAINED[backend])
    for name, (moved, diff, finite) in got.items():
        assert moved > 0, f"{name}: one training step on {backend} changed no weight"
        assert diff < 1e-5 and finite, (name, diff)
