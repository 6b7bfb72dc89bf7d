"""Theory checks: the residual expansion, path counts, merge-and-run path lengths."""

from fractions import Fraction
from itertools import combinations

import numpy as np
import pytest

import zoo
from zoo import analysis
from zoo.analysis import block_norm_ratios, norm_ratios


def brute_force_terms(branches):
    """Order-j term by explicit enumeration of the ordered subsets (independent of the DP)."""
    d = branches[0].shape[0]
    terms = [np.zeros((d, d)) for _ in range(len(branches) + 1)]
    for j in range(len(branches) + 1):
        for subset in combinations(range(len(branches)), j):
            product = np.eye(d)
            for k in subset:  # later branches multiply on the left
                product = branches[k] @ product
            terms[j] += product
    return terms


def test_expansion_sums_to_product_and_matches_enumeration():
    rng = np.random.default_rng(0)
    branches = [rng.normal(scale=0.3, size=(5, 5)) for _ in range(6)]
    terms = analysis.expansion_by_order(branches)
    assert len(terms) == 7
    np.testing.assert_allclose(sum(terms), analysis.residual_product(branches), atol=1e-10)
    for a, b in zip(terms, brute_force_terms(branches)):
        np.testing.assert_allclose(a, b, atol=1e-12)
    np.testing.assert_allclose(terms[1], sum(branches), atol=1e-12)  # the parallel layer


def test_truncation_error_falls_with_order_and_branch_norm():
    rng = np.random.default_rng(1)
    base = [rng.normal(size=(4, 4)) / 4 for _ in range(5)]
    for scale in (0.05, 0.5):
        errors = analysis.truncation_errors([scale * f for f in base])
        assert errors[-1] < 1e-12  # order L is exact
        assert all(a >= b - 1e-15 for a, b in zip(errors, errors[1:]))
    small = analysis.truncation_errors([0.05 * f for f in base])
    large = analysis.truncation_errors([0.5 * f for f in base])
    # order-1 error is second order in the branch norm: 10x smaller branches, ~100x smaller error
    assert 50 < large[1] / small[1] < 200


def test_path_length_distribution_of_54_units():
    dist = analysis.path_length_distribution(54)
    assert sum(dist["counts"]) == 2**54
    assert dist["probability"].sum() == pytest.approx(1)
    within = dist["probability"][19:36].sum()
    assert within > 0.95  # Veit et al.: >95% of the paths have 19-35 units
    lo, hi = analysis.central_range(54, 0.95)
    assert 19 <= lo and hi <= 35


def test_dmrnet_average_path_lengths_are_computed():
    lengths = analysis.block_path_lengths(branch_layers=2)
    assert Fraction(lengths["stacked"]).limit_denominator(100) == 2
    assert Fraction(lengths["inception_like"]).limit_denominator(100) == Fraction(4, 3)
    assert Fraction(lengths["merge_and_run"]).limit_denominator(100) == Fraction(2, 3)


def test_bad_arguments():
    with pytest.raises(ValueError, match="n must be a positive integer, got 0"):
        analysis.path_length_distribution(0)
    with pytest.raises(ValueError, match=r"every branch must be a square matrix of shape \(3, 3\)"):
        analysis.expansion_by_order([np.eye(3), np.eye(2)])


# ---- truncation of a (nonlinear) network ----

import keras  # noqa: E402


def _out(model, x):
    return keras.ops.convert_to_numpy(model(x, training=False))


def _randomize_bn(model, rng):
    for layer in model._flatten_layers():
        if isinstance(layer, keras.layers.BatchNormalization):
            for v in (layer.moving_mean, layer.beta):
                v.assign(rng.normal(scale=0.2, size=v.shape))
            layer.moving_variance.assign(rng.uniform(0.5, 1.5, size=layer.moving_variance.shape))


def test_full_order_truncation_is_the_network_and_order_one_its_parallel_twin():
    rng = np.random.default_rng(0)
    kw = dict(layers=4, filters=8, input_shape=(10, 10, 3))
    seq = zoo.shallow_stack("sequential", **kw)
    _randomize_bn(seq, rng)
    x = rng.normal(size=(4, 10, 10, 3)).astype("float32")
    assert analysis.max_stage_units(seq) == 4
    np.testing.assert_allclose(_out(analysis.truncate(seq, 4), x), _out(seq, x), atol=1e-5)
    np.testing.assert_allclose(_out(analysis.truncate(seq, 9), x), _out(seq, x), atol=1e-5)
    par = zoo.shallow_stack("parallel", **kw)
    for name in ("stem_conv", "stem_bn", "predictions"):
        par.get_layer(name).set_weights(seq.get_layer(name).get_weights())
    par.get_layer("parallel").set_branch_weights(
        [u.get_weights() for u in zoo.residual_units(seq)])
    np.testing.assert_allclose(_out(analysis.truncate(seq, 1), x), _out(par, x), atol=1e-5)
    # in between, a genuinely different model
    assert np.abs(_out(analysis.truncate(seq, 2), x) - _out(seq, x)).max() > 1e-4


def test_truncation_of_a_preactivation_resnet_with_transitions():
    rng = np.random.default_rng(1)
    model = zoo.resnet(20, preactivation=True, input_shape=(8, 8, 1))
    _randomize_bn(model, rng)
    x = rng.normal(size=(3, 8, 8, 1)).astype("float32")
    assert analysis.max_stage_units(model) == 3
    np.testing.assert_allclose(_out(analysis.truncate(model, 3), x), _out(model, x), atol=1e-5)
    twin = zoo.parallel_resnet(20, preactivation=True, input_shape=(8, 8, 1))
    assert analysis.truncate(model, 1).count_params() == twin.count_params()
    y = np.argmax(_out(model, x), axis=-1)  # labels the full model gets right: accuracy 1
    rows = analysis.truncation_accuracy(model, x, y, orders=[3])
    assert rows == [{"order": 3, "accuracy": 1.0, "kept": 1.0}]


def test_truncate_rejects_post_activation_units():
    with pytest.raises(ValueError, match="applies an activation after the add"):
        analysis.truncate(zoo.resnet(20, input_shape=(8, 8, 1)), 1)
    with pytest.raises(ValueError, match="order must be a positive integer, got 0"):
        analysis.truncate(zoo.shallow_stack(), 0)


def test_plots_have_labelled_axes(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from zoo.analysis import plots

    figs = [
        plots.plot_path_lengths(analysis.path_length_distribution(54)),
        plots.plot_truncation(analysis.truncation_errors([0.3 * np.eye(3)] * 4)),
        plots.plot_truncation([{"order": 1, "accuracy": 0.9}, {"order": 2, "accuracy": 0.95}]),
        plots.plot_single_lesions([{"unit": 0, "transition": False, "accuracy": 0.9},
                                   {"unit": 1, "transition": True, "accuracy": 0.5}], 0.95),
        plots.plot_random_lesions([{"k": 1, "mean_accuracy": 0.9, "std_accuracy": 0.01}]),
        plots.plot_reorder_lesions([{"kendall_tau": 1.0, "accuracy": 0.9}],
                                   means=[{"mean_tau": 1.0, "mean_accuracy": 0.9}]),
        plots.plot_gradient_by_path_length({"lengths": [0, 1, 2], "mean_norm": [1, 0.5, 0.2],
                                            "weighted": [1, 1, 0.2]}),
    ]
    for i, fig in enumerate(figs):
        ax = fig.axes[0]
        assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title()
        fig.savefig(tmp_path / f"{i}.png")
        assert (tmp_path / f"{i}.png").stat().st_size > 1000


def test_projection_makes_transitions_norm_preserving():
    """ProcResNet-13 with and without the Procrustes projection, trained 2 epochs on digits:
    the projected transitions' gradient ratios lie much closer to 1 (measured here: |log r|
    0.065 with projection vs 0.48 without)."""
    from zoo.analysis import compare_norm_preservation, norm_summary

    frame = compare_norm_preservation((1,), families=("procresnet", "procresnet_noproj"),
                                      epochs=2, examples=128, seed=0)
    assert set(frame["block"]) >= {"transition1", "transition2", "stage1_unit1"}
    s = norm_summary(frame).set_index(["family", "transition"])["mean_abs_log_ratio"]
    assert s[("procresnet", "transition")] < 0.2
    assert s[("procresnet", "transition")] < 0.5 * s[("procresnet_noproj", "transition")]
    # Without projection (a standard ResNet), identity units lie closer to 1 than transitions
    # (measured |log r|: 0.39 vs 0.48 here; 0.30 vs 0.49 at depth 22, 0.19 vs 0.53 at 40 --
    # the identity units' deviation shrinks with depth, as delta ~ log(2L)/L says).
    assert s[("procresnet_noproj", "identity")] < s[("procresnet_noproj", "transition")]


def test_block_norm_ratios_of_a_resnet_are_its_unit_ratios():
    model = zoo.resnet(8, preactivation=True, input_shape=(8, 8, 1))
    x = np.random.default_rng(0).normal(size=(16, 8, 8, 1)).astype("float32")
    y = np.arange(16) % 10
    blocks = block_norm_ratios(model, x, y, batch_statistics=False)  # as norm_ratios does
    units = norm_ratios(model, x, y)
    assert [b["block"] for b in blocks] == [u["name"] for u in units]
    np.testing.assert_allclose([b["ratio"] for b in blocks], [u["ratio"] for u in units],
                               rtol=1e-5)


def test_block_norm_ratios_with_batch_statistics_against_whole_tails():
    # Independent of the layer-by-layer pullbacks: dE/dh at a block's input from one
    # GradientTape over the whole rest of the network in training mode (batch statistics),
    # per block, on a copy of the model so the moving averages cannot leak between calls.
    import tensorflow as tf

    from zoo.analysis.lesion import _chain

    model = zoo.resnet(14, preactivation=True, input_shape=(8, 8, 1))
    x = np.random.default_rng(0).uniform(0, 1, size=(16, 8, 8, 1)).astype("float32")
    y = np.arange(16) % 10
    before = [v.numpy().copy() for v in model.non_trainable_variables]
    blocks = block_norm_ratios(model, x, y)
    for v, b in zip(model.non_trainable_variables, before):  # moving averages untouched
        np.testing.assert_array_equal(v.numpy(), b)
    layers = _chain(model)
    names = [layer.name for layer in layers]
    acts = [tf.convert_to_tensor(x)]
    with keras.StatelessScope():
        for layer in layers:
            acts.append(layer(acts[-1], training=True))

        def grad_norm(i):  # ||dE/d(input of layer i)|| per example, E the mean cross-entropy
            h = tf.Variable(acts[i])
            with tf.GradientTape() as tape:
                out = h
                for layer in layers[i:]:
                    out = layer(out, training=True)
                loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(y, out))
            g = tape.gradient(loss, h).numpy().astype(np.float64).reshape(16, -1)
            return np.linalg.norm(g, axis=1)

        for b in blocks:
            i = names.index(b["block"])
            expected = np.mean(grad_norm(i) / grad_norm(i + 1))
            assert b["ratio"] == pytest.approx(expected, rel=1e-3), b["block"]
    assert len(blocks) == 6 and all(0.1 < b["ratio"] < 10 for b in blocks)


def test_block_norm_ratios_of_a_deep_untrained_resnet_need_batch_statistics():
    # With the untrained moving averages (mean 0, variance 1) batch normalization is the
    # identity, a pre-activation ResNet-56's activations double with every unit and the
    # softmax saturates: the gradient vanishes, exactly 0 where the saturation is complete
    # (how complete depends on the CPU's float rounding: measured all 0 on one machine,
    # 0.15-0.20 per block on another), far below 1 either way. With the batch's statistics
    # (what a training step sees) every ratio is a sound number (measured 0.55-1.47).
    keras.utils.set_random_seed(0)
    model = zoo.resnet(56, preactivation=True, input_shape=(16, 16, 1),
                       input_normalization="fashion_mnist")
    x = np.random.default_rng(0).uniform(0, 255, size=(16, 16, 16, 1)).astype("float32")
    y = np.arange(16) % 10
    inference = np.array([b["ratio"] for b in block_norm_ratios(model, x, y,
                                                                 batch_statistics=False)])
    batch = np.array([b["ratio"] for b in block_norm_ratios(model, x, y)])
    assert len(batch) == len(inference) == 27
    assert np.all(inference < 0.3) and np.prod(inference) < 1e-12
    assert np.all((batch > 0.3) & (batch < 3))
