"""Lesion studies on really trained small models (digits, a few epochs)."""

import keras
import numpy as np
import pytest

import zoo
from zoo.analysis import kendall_tau, lesion, random_lesions, reorder_lesions, single_unit_lesions
from zoo.data import load


@pytest.fixture(scope="module")
def digits_test():
    return load("digits", "test", normalize=None)  # the models normalize raw pixels themselves


# Tests on the trained models share one worker (`pytest -n 2 --dist loadgroup`), so the
# models are trained once rather than once per xdist worker. Session scope: xdist may send
# that worker other modules' tests in between, which would tear down a module fixture.
on_trained_models = pytest.mark.xdist_group("trained-digits")


@pytest.fixture(scope="session")
def trained():
    models = {}
    for name in ("resnet20", "plain20"):
        models[name] = zoo.train.fit(name, "digits", epochs=4, seed=0, verbose=0)
    # Veit et al. and Zaeemzadeh et al. study pre-activation nets, whose skips are identities
    preact = zoo.resnet(20, preactivation=True, input_shape=(8, 8, 1),
                        input_normalization="digits", name="preact20")
    models["preact20"] = zoo.train.fit(preact, "digits", epochs=4, seed=0, verbose=0)
    return models


@on_trained_models
def test_xdist_groups_tests_on_one_worker(request):
    # Under `--dist loadgroup` a grouped test's id carries its group; without it the trained
    # models above are silently built once per worker (it happened with pytest 9.2).
    if getattr(request.config.option, "loadgroup", False):  # set on xdist workers
        assert request.node.nodeid.endswith("@trained-digits"), request.node.nodeid


@on_trained_models
def test_lesion_without_changes_is_the_model(trained, digits_test):
    model = trained["resnet20"].model
    x = digits_test[0][:32]
    same = lesion(model)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(same(x)),
                               keras.ops.convert_to_numpy(model(x)), atol=1e-6)
    assert same.count_params() == model.count_params()  # shares, not copies, the weights
    assert same.get_layer("stage1_unit1") is model.get_layer("stage1_unit1")


@on_trained_models
def test_deleting_units_resnet_vs_plain(trained, digits_test):
    x, y = digits_test
    res, plain = trained["resnet20"], trained["plain20"]
    assert res.test_accuracy > 0.9 and plain.test_accuracy > 0.85
    res_rows = [r for r in single_unit_lesions(res.model, x, y) if not r["transition"]]
    plain_rows = [r for r in single_unit_lesions(plain.model, x, y) if not r["transition"]]
    res_acc = np.array([r["accuracy"] for r in res_rows])
    plain_acc = np.array([r["accuracy"] for r in plain_rows])
    # Margins honest for a 9-unit post-activation ResNet trained for 4 epochs: early units
    # matter more here than in Veit et al.'s 54-unit pre-activation net, late ones barely.
    assert np.median(res_acc) > 0.8
    assert res_acc[-2:].min() > res.test_accuracy - 0.05  # the last stage's units
    assert np.median(plain_acc) < 0.35  # chance is 0.1
    assert np.median(res_acc) - np.median(plain_acc) > 0.5


@on_trained_models
def test_random_and_reorder_lesions(trained, digits_test):
    x, y = digits_test
    model = trained["resnet20"].model
    rows = random_lesions(model, x, y, ks=[1, 4], samples=3, seed=0)
    assert rows[0]["mean_accuracy"] > rows[1]["mean_accuracy"]  # error grows with k
    rows = reorder_lesions(model, x, y, swaps=[0, 1], seed=0)
    assert rows[0]["kendall_tau"] == 1 and rows[0]["accuracy"] == pytest.approx(
        trained["resnet20"].test_accuracy, abs=1e-6)
    assert rows[1]["kendall_tau"] < 1  # a swap of two distinct units always moves the order


@on_trained_models
def test_lesion_rejects_impossible_edits(trained):
    model = trained["resnet20"].model
    with pytest.raises(ValueError, match="transitions cannot be reordered"):
        lesion(model, order=[3, 1, 2, 0, 4, 5, 6, 7, 8])
    with pytest.raises(ValueError, match=r"delete must hold unit indices in \[0, 9\), got \[9\]"):
        lesion(model, delete=[9])
    with pytest.raises(ValueError, match="cannot be deleted"):
        lesion(trained["plain20"].model, delete=[3])
    with pytest.raises(ValueError, match="lesion needs a chain"):
        lesion(zoo.dmrnet(20, input_shape=(8, 8, 1)))


def test_kendall_tau():
    assert kendall_tau([0, 1, 2, 3]) == 1
    assert kendall_tau([3, 2, 1, 0]) == -1
    assert kendall_tau([1, 0, 2, 3]) == pytest.approx(4 / 6)


# ---- gradients: path sampling (Veit et al.) and norm ratios (Zaeemzadeh et al.) ----

from tests.conftest import backend_available, run_python  # noqa: E402
from zoo.analysis import backward_through_units, gradient_by_path_length, norm_ratios  # noqa: E402
from zoo.analysis.gradients import _loss_grad, vjp  # noqa: E402
from zoo.layers import ResidualUnit  # noqa: E402
from zoo.models.units import residual_units  # noqa: E402


@on_trained_models
def test_unit_by_unit_backward_equals_autodiff(trained, digits_test):
    model = trained["resnet20"].model
    x, y = digits_test[0][:32], digits_test[1][:32]
    g, grads_in, grads_out = backward_through_units(model, x, y)
    probs, pullback = vjp(lambda a: model(a, training=False), keras.ops.convert_to_tensor(x))
    (reference,) = pullback(_loss_grad(probs, y))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(g),
                               keras.ops.convert_to_numpy(reference), atol=1e-6)
    # a unit's output gradient is the next unit's input gradient
    np.testing.assert_allclose(keras.ops.convert_to_numpy(grads_out[0]),
                               keras.ops.convert_to_numpy(grads_in[1]), atol=1e-7)


@on_trained_models
def test_gradient_norm_decreases_with_path_length(trained, digits_test):
    x, y = digits_test[0][:64], digits_test[1][:64]
    result = gradient_by_path_length(trained["preact20"].model, x, y, samples=4, seed=0)
    norms = np.array(result["mean_norm"])
    assert result["units"] == 9 and len(norms) == 10  # 9 units, transitions included
    # measured: 4.7e-7 at k = 0 down to 9.7e-8 at k = 9 (seed 0; correlation -0.93)
    assert norms[0] > 2 * norms[-1]
    assert np.corrcoef(result["lengths"], np.log(norms))[0, 1] < -0.8
    lo, hi = result["effective_range"]
    assert 0 <= lo <= hi <= 9
    without = gradient_by_path_length(trained["preact20"].model, x, y, samples=2, seed=0,
                                      lengths=[0, 7], transitions=False)
    assert without["units"] == 7 and without["lengths"] == [0, 7]
    with pytest.raises(ValueError, match=r"path lengths must lie in 0\.\.7"):
        gradient_by_path_length(trained["preact20"].model, x, y, lengths=[8], transitions=False)


@on_trained_models
def test_norm_ratios_telescope_along_the_chain(trained, digits_test):
    # Consecutive units are adjacent, so per example the ratios multiply to
    # ||dE/dx_first|| / ||dE/dx_last||. (On these 9-unit nets identity units show ratios of
    # 1.2-1.7 and transitions ~0.75: the paper's contrast needs depth, delta ~ log(2L)/L.)
    from zoo.analysis.gradients import _norms

    model = trained["preact20"].model
    x, y = digits_test[0][:8], digits_test[1][:8]
    _, grads_in, grads_out = backward_through_units(model, x, y)
    per_unit = np.stack([_norms(gi) / _norms(go) for gi, go in zip(grads_in, grads_out)])
    np.testing.assert_allclose(per_unit.prod(axis=0),
                               _norms(grads_in[0]) / _norms(grads_out[-1]), rtol=1e-4)
    rows = norm_ratios(model, x, y)
    assert [r["transition"] for r in rows] == [False] * 3 + [True, False, False] * 2
    np.testing.assert_allclose([r["ratio"] for r in rows], per_unit.mean(axis=1), rtol=1e-5)


@on_trained_models
def test_path_sampling_rejects_plain_networks(trained, digits_test):
    with pytest.raises(ValueError, match="needs skip connections"):
        gradient_by_path_length(trained["plain20"].model, *digits_test)


def test_gradients_on_jax():
    if not backend_available("jax"):
        pytest.skip("jax is not installed")
    code = """
import numpy as np, zoo
from zoo.analysis import gradient_by_path_length, norm_ratios
m = zoo.resnet(20, preactivation=True, input_shape=(8, 8, 1))
x = np.random.default_rng(0).normal(size=(16, 8, 8, 1)).astype("float32"); y = np.arange(16) % 10
r = gradient_by_path_length(m, x, y, samples=2, lengths=[0, 7])
print(len(norm_ratios(m, x, y)), r["mean_norm"][0] > r["mean_norm"][1])
"""
    proc = run_python(code, backend="jax")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split()[-2:] == ["9", "True"]


def test_deleting_several_transitions_keeps_their_projections(rng):
    model = zoo.resnet(20, input_shape=(8, 8, 1))
    lesioned = lesion(model, delete=[3, 6])  # both transitions: only their projections remain
    x = rng.normal(size=(2, 8, 8, 1)).astype("float32")
    assert lesioned(x).shape == (2, 10)
    h = model.get_layer("stage2_unit1").shortcut(model.get_layer("stage1_unit3").output)
    assert h.shape[1:] == (4, 4, 32)


def test_path_gradients_of_all_routes_sum_to_the_gradient(rng):
    # The backward pass is linear, so the 2^n single-path gradients of a net with n units
    # (every unit routed through its skip or its branch, transitions included) add up to the
    # ordinary autodiff gradient: an independent check of the route-by-route backward pass.
    import itertools

    from zoo.analysis.gradients import PathGradients, path_routes

    model = zoo.resnet(14, preactivation=True, input_shape=(8, 8, 1), name="pre14")
    # inputs in [0, 1]: raw 0-16 pixels saturate this untrained net's softmax, every gradient
    # is then exactly 0 and the sums below would hold trivially
    x = rng.uniform(0, 1, size=(8, 8, 8, 1)).astype("float32")
    y = rng.integers(0, 10, size=8)
    paths = PathGradients(model, x, y)
    probs, pullback = vjp(lambda a: model(a, training=False), keras.ops.convert_to_tensor(x))
    (reference,) = pullback(_loss_grad(probs, y))
    reference = keras.ops.convert_to_numpy(reference)
    assert np.all(np.abs(reference).reshape(8, -1).max(axis=1) > 1e-4)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(paths.input_gradient()), reference,
                               atol=1e-7)
    routes = [dict(enumerate(r)) for r in itertools.product(("skip", "branch"), repeat=6)]
    total = sum(keras.ops.convert_to_numpy(paths.input_gradient(r)) for r in routes)
    np.testing.assert_allclose(total, reference, atol=1e-6 * np.abs(reference).max() + 1e-9)
    # one forward pass, backpropagated many times, agrees with a fresh pass per route
    units = residual_units(model)
    route = path_routes(units, 2, np.random.default_rng(0))
    assert sorted(route) == list(range(6)) and list(route.values()).count("branch") == 2
    every = path_routes(units, 6, np.random.default_rng(0))  # transitions are units of a path
    assert set(every.values()) == {"branch"}
    kept_out = path_routes(units, 4, np.random.default_rng(0), transitions=False)
    assert kept_out[2] == kept_out[4] == "skip"  # only their projection
    assert list(kept_out.values()).count("branch") == 4
    fresh, _, _ = backward_through_units(model, x, y, route)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(paths.input_gradient(route)),
                               keras.ops.convert_to_numpy(fresh), atol=1e-7)


def test_lesions_match_a_hand_wired_forward_pass(rng):
    # Independent of lesion()'s re-wiring: walk the model's layers by hand, skipping the
    # deleted unit's branch (identity units) or swapping two units' places.
    model = zoo.resnet(20, preactivation=True, input_shape=(8, 8, 1), name="pre20",
                       input_normalization="digits", classifier_activation=None)  # logits
    for layer in model.layers:  # non-trivial BN statistics, so a unit is not near identity
        if isinstance(layer, ResidualUnit):
            for w in layer.weights:
                if "moving_variance" in w.path:
                    w.assign(rng.uniform(0.5, 2.0, w.shape).astype("float32"))
    x = rng.uniform(0, 255, size=(4, 8, 8, 1)).astype("float32")
    units = residual_units(model)

    def by_hand(skip=(), swap=None):
        h = keras.ops.convert_to_tensor(x)
        order = list(range(len(units)))
        if swap:
            order[swap[0]], order[swap[1]] = order[swap[1]], order[swap[0]]
        position = {id(u): k for k, u in enumerate(units)}
        for layer in model.layers[1:]:
            k = position.get(id(layer))
            if k is None:
                h = layer(h, training=False)
            elif order[k] not in skip:
                h = units[order[k]](h, training=False)
        return keras.ops.convert_to_numpy(h)

    def run(m):
        return keras.ops.convert_to_numpy(m(x, training=False))

    np.testing.assert_allclose(run(lesion(model, delete=[1])), by_hand(skip=(1,)), atol=1e-6)
    np.testing.assert_allclose(run(lesion(model, delete=[1, 7])), by_hand(skip=(1, 7)),
                               atol=1e-6)
    order = list(range(9))
    order[4], order[5] = 5, 4
    np.testing.assert_allclose(run(lesion(model, order=order)), by_hand(swap=(4, 5)), atol=1e-6)
    assert np.abs(by_hand(skip=(1,)) - run(model)).max() > 1e-4  # a real change


@on_trained_models
def test_branch_ratios_match_an_independent_forward_pass(trained, digits_test):
    # Independent of branch_ratios()'s walk: each unit's input from a sub-model of the
    # intact network, and the branch as (unit output - input) for the identity units of a
    # pre-activation net, whose output is exactly skip + branch.
    from zoo.analysis import branch_ratios

    model = trained["preact20"].model
    x = digits_test[0][:60]
    rows = branch_ratios(model, x, batch_size=25)  # batches that do not divide 60
    units = residual_units(model)
    assert [r["unit"] for r in rows] == list(range(len(units)))
    assert [r["transition"] for r in rows] == [u.is_transition for u in units]
    for r, unit in zip(rows, units):
        assert r["q25"] <= r["median"] <= r["q75"]
        if unit.is_transition:
            continue
        inputs = keras.ops.convert_to_numpy(keras.Model(model.input, unit.input)(x))
        branch = keras.ops.convert_to_numpy(unit(inputs, training=False)) - inputs
        ratio = (np.linalg.norm(branch.reshape(len(x), -1), axis=1)
                 / np.linalg.norm(inputs.reshape(len(x), -1), axis=1))
        assert r["median"] == pytest.approx(np.median(ratio), rel=1e-4)
    with pytest.raises(ValueError, match="no skip connection"):
        branch_ratios(trained["plain20"].model, x)


def test_norms_of_tiny_float32_gradients_do_not_underflow():
    # A gradient along a long path has float32 entries near 1e-23; their float32 squares
    # are below 1e-45 and vanish, so a float32 norm said exactly 0 for Veit's paths of 28+
    # units. The norm is taken in float64: 784 entries of 1e-23 have norm 28e-23.
    from zoo.analysis.lesion import _norms

    g = np.full((2, 28, 28, 1), 1e-23, dtype="float32")
    g[1] *= 1e-10  # 1e-33 entries: still representable (denormal floor 1.4e-45)
    expected = np.sqrt(784) * g.reshape(2, -1)[:, 0].astype(np.float64)
    np.testing.assert_allclose(_norms(g), expected, rtol=1e-5)
    assert np.linalg.norm(g[0].ravel()) == 0.0  # what float32 arithmetic gives


def test_path_gradient_norms_survive_float32_underflow(rng, monkeypatch):
    # Backpropagation is linear: shrinking the loss gradient by 2^-120 (exact, a power of two)
    # shrinks every route's gradient by exactly 2^-120. The entries then sit below float32's
    # normal range (1.2e-38), where plain float32 loses them; the scaled backward pass must
    # still give the reference norm times 2^-120.
    from zoo.analysis import gradients
    from zoo.analysis.gradients import PathGradients

    model = zoo.resnet(14, preactivation=True, input_shape=(8, 8, 1), name="pre14")
    x = rng.uniform(0, 1, size=(8, 8, 8, 1)).astype("float32")
    y = rng.integers(0, 10, size=8)
    route = {0: "branch", 1: "branch", 2: "skip", 3: "branch", 4: "skip", 5: "branch"}
    reference = PathGradients(model, x, y).input_gradient_norm(route)
    assert np.all(reference > 1e-6)
    original = gradients._loss_grad
    monkeypatch.setattr(gradients, "_loss_grad", lambda p, t: original(p, t) * 2.0**-120)
    tiny = PathGradients(model, x, y)
    np.testing.assert_allclose(tiny.input_gradient_norm(route), reference * 2.0**-120,
                               rtol=1e-5)
    # without the scaling the same route is lost (0) or far off in float32's denormals
    unscaled = np.linalg.norm(
        keras.ops.convert_to_numpy(tiny.input_gradient(route)).astype(np.float64).reshape(8, -1),
        axis=1)
    assert np.all(np.abs(unscaled / (reference * 2.0**-120) - 1) > 1e-3)
