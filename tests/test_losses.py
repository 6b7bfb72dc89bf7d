"""The zoo's cross-entropy (zoo.train.losses) has the logits' value and gradient on every
backend, where Keras's cross-entropy of probabilities has a zero gradient on JAX and PyTorch
once a true class's probability is under 1e-7."""

import json

import keras
import numpy as np
import pytest
from conftest import ROOT, backend_available, run_python

import zoo
from zoo.layers.activations import gap
from zoo.train import ProbabilityCrossentropy, compile_for_training

# rows 0, 2 and 3 are saturated the wrong way (true-class logit gaps of 30, 80 and 40)
LOGITS = [[30.0, 0.0, -5.0], [1.0, 2.0, 3.0], [0.0, 80.0, 0.0], [-20.0, 20.0, 0.0]]
LABELS = [1, 2, 0, 0]
SATURATED = [0, 2, 3]


def reference():
    """Per-example loss and d(mean loss)/d(logits), from a float64 log-softmax."""
    z = np.asarray(LOGITS, np.float64)
    top = z.max(axis=1, keepdims=True)
    log_p = z - top - np.log(np.exp(z - top).sum(axis=1, keepdims=True))
    rows = np.arange(len(LABELS))
    onehot = np.eye(z.shape[1])[LABELS]
    return -log_p[rows, LABELS], (np.exp(log_p) - onehot) / len(LABELS)


# d(loss)/d(logits) through a softmax, on the running backend (both scripts below)
GRAD = """
def grad(loss, z, y, softmax):
    z = np.asarray(z, "float32"); y = np.asarray(y)
    backend = keras.backend.backend()
    if backend == "jax":  # compiled, as in training (eager agrees: checked below)
        import jax
        return np.asarray(jax.jit(jax.grad(lambda v: loss(y, softmax(v))))(z))
    if backend == "torch":
        import torch
        v = torch.tensor(z, requires_grad=True)
        loss(torch.tensor(y), softmax(v)).backward()
        return v.grad.numpy()
    import tensorflow as tf
    v = tf.Variable(z)
    with tf.GradientTape() as tape:
        value = loss(y, softmax(v))
    return tape.gradient(value, v).numpy()
"""

GRADIENTS = """
import json, keras, numpy as np
from zoo.train.losses import ProbabilityCrossentropy, sparse_probability_crossentropy
z = np.array({logits}, "float32"); y = np.array({labels})
softmax = keras.layers.Activation("softmax")
backend = keras.backend.backend()

{grad}

far = np.array([[100.0, 0.0]], "float32"); far_y = np.array([1])  # the limit: a gap of 100
out = {{
    "per_example": keras.ops.convert_to_numpy(
        sparse_probability_crossentropy(y, softmax(z))).tolist(),
    "zoo": grad(ProbabilityCrossentropy(), z, y, softmax).tolist(),
    "keras": grad(keras.losses.SparseCategoricalCrossentropy(), z, y, softmax).tolist(),
    "far": float(keras.ops.convert_to_numpy(ProbabilityCrossentropy()(far_y, softmax(far)))),
    "far_grad": grad(ProbabilityCrossentropy(), far, far_y, softmax).tolist(),
}}
if backend != "tensorflow":  # TensorFlow raises for such a label itself
    out["out_of_range"] = keras.ops.convert_to_numpy(sparse_probability_crossentropy(
        np.array([-1, 3, 2]), softmax(z[:3]))).tolist()
if backend == "jax":
    import jax
    out["eager"] = np.asarray(
        jax.grad(lambda v: ProbabilityCrossentropy()(y, softmax(v)))(z)).tolist()
print(json.dumps(out))
"""


@pytest.mark.parametrize("backend", ["tensorflow", "jax", "torch"])
def test_value_and_gradient_are_the_logits_ones_on_every_backend(backend):
    if not backend_available(backend):
        pytest.skip(f"{backend} is not installed")
    # one process per backend for both scripts: Keras's softmax here, the zoo's (HEAD) below
    proc = run_python(GRADIENTS.format(logits=LOGITS, labels=LABELS, grad=GRAD) +
                      HEAD.format(logits=LOGITS, labels=LABELS, grad=GRAD), backend=backend)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got, head = (json.loads(line) for line in proc.stdout.strip().splitlines()[-2:])
    _assert_zoo_softmax(backend, head)
    loss, gradient = reference()
    np.testing.assert_allclose(got["per_example"], loss, rtol=1e-5)
    np.testing.assert_allclose(got["zoo"], gradient, atol=1e-6)
    if backend != "tensorflow":  # a label outside 0..C-1 is NaN, not another class
        bad = got["out_of_range"]
        assert np.isnan(bad[0]) and np.isnan(bad[1]) and bad[2] == pytest.approx(loss[2])
    if backend == "jax":  # one path, eager or compiled
        np.testing.assert_allclose(got["eager"], got["zoo"], atol=1e-7)
    # the documented limit: past a gap of ~87 only TensorFlow (real logits) keeps a gradient
    if backend == "tensorflow":
        assert got["far"] == pytest.approx(100.0, rel=1e-5)
        np.testing.assert_allclose(got["far_grad"], [[1.0, -1.0]], atol=1e-6)
    else:
        assert got["far"] == pytest.approx(-np.log(np.finfo(np.float32).tiny), rel=1e-6)
        np.testing.assert_array_equal(got["far_grad"], 0.0)
    # why the class exists: Keras's own loss of probabilities, on the saturated rows
    keras_rows = np.asarray(got["keras"])[SATURATED]
    if backend == "tensorflow":  # it finds the logits behind the softmax
        np.testing.assert_allclose(keras_rows, gradient[SATURATED], atol=1e-6)
    else:  # its clip at 1e-7 leaves no gradient at all
        np.testing.assert_array_equal(keras_rows, 0.0)


TRAINING = """
import json, keras, numpy as np, zoo
from zoo.train import compile_for_training
rng = np.random.default_rng(0)
x = rng.normal(size=(256, 4)).astype("float32")
y = (x[:, 0] > 0).astype("int32")  # two classes, separable

def train(activation, bias, zoo_loss, learning_rate):
    \"\"\"[first loss, last loss, last accuracy] of a net that starts saturated: class 2
    (never the label) leads by ``bias`` logits.\"\"\"
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(
        3, activation=activation, bias_initializer=keras.initializers.Constant([0., 0., bias]))])
    if zoo_loss:
        compile_for_training(model, keras.optimizers.Adam(learning_rate))
    else:
        model.compile(keras.optimizers.Adam(learning_rate), "sparse_categorical_crossentropy",
                      metrics=["accuracy"])
    history = model.fit(x, y, batch_size=32, epochs=20, verbose=0, shuffle=False)
    return [history.history["loss"][0], history.history["loss"][-1],
            history.history["accuracy"][-1]]
"""


def _train_on_jax(**cases) -> dict:
    """{name: [first loss, last loss, last accuracy]} of TRAINING's train(*args) per case."""
    if not backend_available("jax"):
        pytest.skip("jax is not installed")
    calls = ", ".join(f"{name!r}: train({args})" for name, args in cases.items())
    proc = run_python(TRAINING + f"\nprint(json.dumps({{{calls}}}))", backend="jax")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.other_backend
def test_a_saturated_net_learns_on_jax_with_the_zoo_loss_and_stays_stuck_with_keras_one():
    """The failure the loss fixes, end to end: on JAX a net whose softmax starts saturated on
    a wrong class learns through compile_for_training; with Keras's loss it never moves."""
    got = _train_on_jax(zoo="'softmax', 25.0, True, 0.5", keras="'softmax', 25.0, False, 0.5")
    first, last, accuracy = got["zoo"]
    assert first > 10 and last < 0.2 and accuracy > 0.95, got
    first, last, accuracy = got["keras"]
    assert last == pytest.approx(first, rel=1e-3) and last > 16, got  # ln(1e7) = 16.1: clipped


HEAD = """
import json, keras, numpy as np
from zoo.layers import softmax
from zoo.train import ProbabilityCrossentropy
from zoo.train.losses import sparse_probability_crossentropy
backend = keras.backend.backend()
loss = ProbabilityCrossentropy()

{grad}
far = [[100.0, 0.0], [0.0, 300.0], [1000.0, -1000.0], [3e9, 0.0], [1e10, -1e10]]
far_y = [1, 0, 1, 1, 1]
edge = np.array([[0.0, -np.inf, 1.0], [1e10, 0.0, 5e9], [0.0, -3e9, -70.0]], "float32")
out = {{
    "edge": keras.ops.convert_to_numpy(softmax(edge)).tolist(),
    "probs": keras.ops.convert_to_numpy(softmax(np.array({logits}, "float32"))).tolist(),
    "grad": grad(loss, {logits}, {labels}, softmax).tolist(),
    "far_loss": keras.ops.convert_to_numpy(sparse_probability_crossentropy(
        np.array(far_y), softmax(np.array(far, "float32")))).tolist(),
    "far_grad": grad(loss, far, far_y, softmax).tolist(),
}}
print(json.dumps(out))
"""


def _assert_zoo_softmax(backend, got):
    """zoo.layers.softmax (every zoo classifier's): Keras's softmax forward (within gap(C)
    on JAX and PyTorch), and with the zoo's loss the gradient p - onehot(y) at gaps from 100
    to 2e10, where on JAX and PyTorch the loss of Keras's softmax has none."""
    loss, gradient = reference()
    z = np.asarray(LOGITS, np.float64)
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    # every logit is within the gap (85.2 for 3 classes): the softmax's probabilities
    np.testing.assert_allclose(got["probs"], p, rtol=1e-5, atol=1e-38)
    np.testing.assert_allclose(got["grad"], gradient, atol=1e-6)
    if backend == "tensorflow":  # Keras's softmax, exactly: the loss has the true logits
        np.testing.assert_allclose(got["far_loss"], [100, 300, 2000, 3e9, 2e10], rtol=1e-5)
    else:  # floored at gap(2) = 85.6: the loss stops there (documented), the gradient doesn't
        assert gap(2) == pytest.approx(-np.log(np.finfo(np.float32).tiny) - np.log(2) - 1)
        np.testing.assert_allclose(got["far_loss"], gap(2), rtol=1e-5)
    # past any gap, however large, the right direction at full size
    np.testing.assert_allclose(got["far_grad"], np.array(
        [[1.0, -1.0], [-1.0, 1.0], [1.0, -1.0], [1.0, -1.0], [1.0, -1.0]]) / 5, atol=1e-6)
    # the largest class wins at gaps of 1e10 and 3e9 (not a tie), -inf is no NaN
    edge = np.asarray(got["edge"])
    assert np.all(np.isfinite(edge)) and edge[1, 0] == 1.0 and edge[2, 0] == 1.0
    np.testing.assert_allclose(edge[0], [0.26894143, 0.0, 0.7310586], rtol=1e-6, atol=1e-37)
    np.testing.assert_allclose(edge[2, 2], np.exp(-70.0), rtol=1e-4)


@pytest.mark.other_backend
def test_a_net_saturated_past_any_float32_probability_learns_on_jax_with_the_zoo_head():
    """seed000's point 1608 on the GPU, small: a softmax saturated past a gap of 87 on a
    wrong class. With the zoo's softmax it learns; with Keras's it stays at 87.3 (no
    gradient), both under the zoo's loss."""
    # 120 logits: past float32's smallest probability; both under the zoo's loss
    got = _train_on_jax(zoo="zoo.layers.softmax, 120.0, True, 2.0",
                        keras="'softmax', 120.0, True, 2.0")
    first, last, accuracy = got["zoo"]
    assert first > 30 and last < 0.2 and accuracy > 0.95, got
    first, last, accuracy = got["keras"]
    assert last == pytest.approx(-np.log(np.finfo(np.float32).tiny), rel=1e-4), got


def test_every_zoo_classifier_ends_in_the_zoo_softmax_and_keeps_it_in_safe_mode(tmp_path):
    model = zoo.create_model("resnet20", input_shape=(12, 12, 1), num_classes=3)
    assert model.get_layer("predictions").activation is zoo.layers.softmax
    logits = zoo.create_model("resnet20", input_shape=(12, 12, 1), num_classes=3,
                              classifier_activation=None)
    assert logits.get_layer("predictions").activation is keras.activations.linear
    for name in (keras.activations.softmax, "zoo>softmax"):  # Keras's spelling, the saved one
        other = zoo.create_model("resnet20", input_shape=(12, 12, 1), num_classes=3,
                                 classifier_activation=name)
        assert other.get_layer("predictions").activation is zoo.layers.softmax
    model.save(tmp_path / "m.keras")
    code = f"""
import keras, zoo
m = keras.saving.load_model({str(tmp_path / "m.keras")!r}, safe_mode=True)
print(m.get_layer("predictions").activation is zoo.layers.softmax)
"""
    proc = run_python(code, backend="tensorflow")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1] == "True"


def test_the_loss_saves_and_loads_in_safe_mode_in_a_fresh_process(tmp_path):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    compile_for_training(model, keras.optimizers.Adam(0.01))
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    assert isinstance(loaded.loss, ProbabilityCrossentropy)
    assert ProbabilityCrossentropy.from_config(loaded.loss.get_config()).name == (
        "probability_crossentropy")
    x = np.random.default_rng(0).normal(size=(8, 4)).astype("float32")
    y = np.arange(8) % 3
    assert loaded.evaluate(x, y, verbose=0)[0] == pytest.approx(
        model.evaluate(x, y, verbose=0)[0], rel=1e-6)
    assert "zoo>ProbabilityCrossentropy" in keras.saving.serialize_keras_object(
        loaded.loss)["registered_name"]
    assert zoo.train.ProbabilityCrossentropy is ProbabilityCrossentropy
    assert ProbabilityCrossentropy(dtype="float64").get_config()["dtype"] == "float64"
    code = f"""
import keras, zoo
m = keras.saving.load_model({str(tmp_path / "m.keras")!r}, safe_mode=True)
print(type(m.loss).__name__)
"""
    proc = run_python(code, backend="tensorflow")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1] == "ProbabilityCrossentropy"


def test_fit_refuses_a_model_whose_outputs_are_not_the_datasets_probabilities():
    # labels 0..9 into 5 outputs: NaN on JAX, silently another class on PyTorch, a deep
    # TensorFlow error -- one line first instead
    model = zoo.create_model("shallow_sequential", input_shape=(8, 8, 1), num_classes=5,
                             layers=2, filters=4)
    with pytest.raises(ValueError, match=r"digits has 10 classes: it needs one output of "
                                         r"shape \(None, 10\)"):
        zoo.train.fit(model, "digits", epochs=1)
    # logits (or any other activation) read as probabilities: NaN on JAX, a quietly poor
    # net on TensorFlow -- one line instead, from fit and from evaluate
    for activation in (None, "sigmoid"):
        model = zoo.create_model("shallow_sequential", input_shape=(8, 8, 1), num_classes=10,
                                 layers=2, filters=4, classifier_activation=activation)
        for call in (zoo.train.fit, zoo.train.evaluate):
            with pytest.raises(ValueError, match=r"output layer 'predictions' ends in "
                               r"'(linear|sigmoid)', but the zoo's loss takes class probab"):
                call(model, "digits")


def test_tf_data_is_imported_quietly_under_another_backend():
    """On JAX the training batches still come from tf.data where TensorFlow is installed;
    importing it must not print its C++ start-up lines (the README promises quiet output)."""
    if not (backend_available("jax") and backend_available("tensorflow")):
        pytest.skip("needs jax and tensorflow")
    # Keras's set_random_seed imports TensorFlow too (to seed it): fit seeds through zoo.quiet
    for code in ("from zoo.data.datasets import pipeline_name\nprint(pipeline_name())",
                 "from zoo import quiet\nquiet.set_random_seed(0)\n"
                 "print('tensorflow' in __import__('sys').modules)"):
        proc = run_python("import zoo.train\nimport keras\nprint(keras.backend.backend())\n" + code,
                          backend="jax")
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert proc.stdout.split()[-2] == "jax"
        assert "InitializeLog" not in proc.stderr and "oneDNN" not in proc.stderr, proc.stderr
    assert proc.stdout.split()[-1] == "True"  # Keras imported TensorFlow to seed it, quietly
    # every seed the zoo sets goes that way
    offenders = [str(f) for f in (ROOT / "zoo").rglob("*.py")
                 if "keras.utils.set_random_seed(" in f.read_text() and f.name != "quiet.py"]
    assert offenders == []
