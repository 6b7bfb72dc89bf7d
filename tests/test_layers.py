"""Numerics of the zoo's layers against independent references."""

import itertools

import keras
import numpy as np
import pytest

from zoo.layers import (
    MergeAndRunBlock,
    NormPreservingConv2D,
    NormPreservingProjection,
    ParallelResidualStage,
    ResidualUnit,
    clip_kernel,
    merge_matrix,
    operator_singular_values,
    project_kernel,
)


def as_np(x):
    return keras.ops.convert_to_numpy(x)


def perturbed_branch_weights(stage, rng):
    """Random weights, with BN statistics away from their (0, 1) initial values."""
    out = []
    for branch in stage.branch_weight_lists():
        ws = []
        for w in branch:
            w = w + rng.normal(scale=0.3, size=w.shape).astype("float32")
            ws.append(np.abs(w) + 0.5 if w.ndim == 1 else w)  # variances must stay positive
        out.append(ws)
    return out


CASES = [
    # kind, preactivation, batch_norm, implementation
    ("basic", False, True, "split"),
    ("basic", False, True, "grouped"),
    ("basic", True, True, "split"),
    ("basic", True, True, "grouped"),
    ("bottleneck", False, True, "grouped"),
    ("bottleneck", True, True, "split"),
    ("single", False, True, "grouped"),
    ("single", False, False, "split"),
    ("basic", False, False, "grouped"),
]


@pytest.mark.parametrize("kind,pre,bn,impl", CASES)
@pytest.mark.parametrize("training", [False, True])
def test_fused_parallel_stage_equals_per_branch_reference(kind, pre, bn, impl, training, rng):
    filters = 4 if kind == "bottleneck" else 8
    channels = 16 if kind == "bottleneck" else 8
    x = rng.normal(size=(5, 6, 6, channels)).astype("float32")
    common = dict(kind=kind, preactivation=pre, batch_norm=bn, activation="relu")
    reference = ParallelResidualStage(3, filters, fused=False, **common)
    fused = ParallelResidualStage(3, filters, fused=True, grouped_implementation=impl, **common)
    reference.build(x.shape)
    fused.build(x.shape)
    assert reference.count_params() == fused.count_params()
    reference.set_branch_weights(perturbed_branch_weights(reference, rng))
    fused.set_branch_weights(reference.branch_weight_lists())
    # the weight mapping is a bijection
    for a, b in zip(fused.branch_weight_lists(), reference.branch_weight_lists()):
        for u, v in zip(a, b):
            np.testing.assert_array_equal(u, v)
    expected = as_np(reference(x, training=training))
    np.testing.assert_allclose(as_np(fused(x, training=training)), expected, atol=1e-5)
    # independent of the stage: x + sum of n separately run sequential units' branches
    units = [ResidualUnit(filters, **common) for _ in range(3)]
    total = x.copy()
    for unit, weights in zip(units, reference.branch_weight_lists()):
        unit.build(x.shape)
        unit.set_weights(weights)
        total = total + as_np(unit.residual(x, training=training))
    if kind != "single" and not pre:
        total = np.maximum(total, 0)
    np.testing.assert_allclose(expected, total, atol=1e-5)


def test_parallel_stage_training_updates_bn_statistics_like_reference(rng):
    x = rng.normal(size=(8, 4, 4, 8)).astype("float32")
    ref = ParallelResidualStage(2, 8, fused=False)
    fused = ParallelResidualStage(2, 8, fused=True)
    ref.build(x.shape)
    fused.build(x.shape)
    fused.set_branch_weights(ref.branch_weight_lists())
    ref(x, training=True)
    fused(x, training=True)
    for a, b in zip(fused.branch_weight_lists(), ref.branch_weight_lists()):
        for u, v in zip(a, b):
            np.testing.assert_allclose(u, v, atol=1e-5)


def test_parallel_stage_rejects_mismatched_width():
    stage = ParallelResidualStage(2, 8)
    with pytest.raises(ValueError, match="must have 8 channels, got 4"):
        stage.build((None, 4, 4, 4))


@pytest.mark.parametrize("kind,out", [("basic", 8), ("bottleneck", 32), ("single", 8)])
def test_residual_unit_shapes_and_transitions(kind, out):
    x = np.ones((2, 8, 8, 8), "float32")
    same = ResidualUnit(8, kind=kind)
    y = same(x)
    assert y.shape == (2, 8, 8, out)
    assert same.is_transition == (out != 8)
    down = ResidualUnit(8, kind=kind, strides=2)
    assert down(x).shape == (2, 4, 4, out)
    assert down.is_transition and down.projection is not None


def test_identity_unit_with_zero_branch_is_identity(rng):
    # pre-activation: y = x + f(x); zeroing the last conv makes f = 0
    unit = ResidualUnit(8, preactivation=True)
    x = rng.normal(size=(2, 5, 5, 8)).astype("float32")
    unit.build(x.shape)
    unit.branch_layers[-1].kernel.assign(np.zeros(unit.branch_layers[-1].kernel.shape))
    np.testing.assert_allclose(as_np(unit(x)), x, atol=1e-6)


def test_plain_unit_has_no_shortcut(rng):
    unit = ResidualUnit(8, skip=False, strides=2)
    x = rng.normal(size=(2, 6, 6, 4)).astype("float32")
    y = unit(x)
    assert unit.projection is None and y.shape == (2, 3, 3, 8)
    np.testing.assert_allclose(as_np(y), np.maximum(as_np(unit.residual(x)), 0), atol=1e-6)


@pytest.mark.parametrize("k", [2, 3, 5])
def test_merge_matrix_is_idempotent(k):
    m = merge_matrix(k, channels=4)
    assert m.shape == (4 * k, 4 * k)
    np.testing.assert_allclose(m @ m, m, atol=1e-12)
    assert np.linalg.matrix_rank(m) == 4  # projects onto the "all streams equal" subspace


def _zero_branches(block):
    for branch in block.branch_layers:
        bn = branch[-1]  # conv-BN-ReLU-conv-BN: zero gamma and beta kill H
        bn.gamma.assign(np.zeros(bn.gamma.shape))
        bn.beta.assign(np.zeros(bn.beta.shape))


@pytest.mark.parametrize("k", [2, 3])
def test_merge_and_run_block_realizes_merge_matrix(k, rng):
    c = 4
    xs = [rng.uniform(size=(2, 5, 5, c)).astype("float32") for _ in range(k)]  # >= 0: ReLU = id
    block = MergeAndRunBlock(c, streams=k)
    block.build([x.shape for x in xs])
    _zero_branches(block)
    out = np.stack([as_np(o) for o in block(xs, training=False)])  # (k, 2, 5, 5, c)
    stacked = np.stack(xs)
    # apply M = (1/K) 11^T (x) I along the stream axis, pixel by pixel
    flat = np.moveaxis(stacked, 0, -2).reshape(-1, k * c)
    expected = (flat @ merge_matrix(k, c).T).reshape(2, 5, 5, k, c)
    np.testing.assert_allclose(out, np.moveaxis(expected, -2, 0), atol=1e-6)


def test_merge_and_run_modes_with_zero_branches(rng):
    xs = [rng.uniform(size=(2, 4, 4, 4)).astype("float32") for _ in range(2)]
    identity = MergeAndRunBlock(4, streams=2, mode="identity")
    identity.build([x.shape for x in xs])
    _zero_branches(identity)
    for got, x in zip(identity(xs), xs):
        np.testing.assert_allclose(as_np(got), x, atol=1e-6)
    inception = MergeAndRunBlock(4, streams=3, mode="inception_like")
    inception.build(xs[0].shape)
    assert len(inception.branch_layers) == 3
    _zero_branches(inception)
    np.testing.assert_allclose(as_np(inception(xs[0])), xs[0], atol=1e-6)
    final = MergeAndRunBlock(4, streams=2, final=True)
    final.build([x.shape for x in xs])
    _zero_branches(final)
    np.testing.assert_allclose(as_np(final(xs)), (xs[0] + xs[1]) / 2, atol=1e-6)


def test_merge_and_run_transition_projects_each_stream(rng):
    xs = [rng.normal(size=(2, 8, 8, 4)).astype("float32") for _ in range(2)]
    block = MergeAndRunBlock(8, streams=2, strides=2)
    out = block(xs)
    assert [o.shape for o in out] == [(2, 4, 4, 8)] * 2
    assert block.is_transition and len(block.projections) == 2


# ---- norm preservation: an explicit reference operator, independent of the FFT ----


def explicit_operator(kernel, n):
    """Matrix of the periodic (circular) cross-correlation on n x n inputs, built by
    applying it to every basis image: rows (pixel, c_in), columns (pixel, c_out)."""
    k, _, cin, cout = kernel.shape
    op = np.zeros((n * n * cin, n * n * cout))
    for p, q, i in itertools.product(range(n), range(n), range(cin)):
        image = np.zeros((n, n, cin))
        image[p, q, i] = 1
        out = np.zeros((n, n, cout))
        for a, b in itertools.product(range(k), range(k)):
            out += np.einsum("xyc,co->xyo", np.roll(image, (-a, -b), axis=(0, 1)), kernel[a, b])
        op[(p * n + q) * cin + i] = out.ravel()
    return op


def explicit_singular_values(kernel, n):
    s = np.linalg.svd(explicit_operator(kernel, n), compute_uv=False)
    return np.sort(s)[::-1][: n * n * min(kernel.shape[2:])]


def test_operator_singular_values_match_explicit_operator(rng):
    kernel = rng.normal(size=(3, 3, 2, 3))
    np.testing.assert_allclose(
        np.sort(operator_singular_values(kernel, 4))[::-1],
        explicit_singular_values(kernel, 4),
        atol=1e-9,
    )


@pytest.mark.parametrize("cin,cout", [(4, 8), (8, 4), (6, 6)])
def test_projection_of_1x1_kernel_is_exactly_norm_preserving(cin, cout, rng):
    kernel = rng.normal(size=(1, 1, cin, cout))
    projected = project_kernel(kernel, 4)
    s = explicit_singular_values(projected, 4)
    np.testing.assert_allclose(s, np.sqrt(cout / cin), atol=1e-9)


@pytest.mark.parametrize("n", [5, 6])  # odd and even n: the half-spectrum path differs
def test_full_projection_is_exactly_norm_preserving(n, rng):
    kernel = rng.normal(size=(3, 3, 2, 4))
    full = project_kernel(kernel, n, crop=False)
    np.testing.assert_allclose(explicit_singular_values(full, n), np.sqrt(4 / 2), atol=1e-9)
    clipped = clip_kernel(kernel, n, 0.5, crop=False)
    assert explicit_singular_values(clipped, n).max() <= 0.5 + 1e-9


def test_projection_of_3x3_kernel(rng):
    kernel = rng.normal(size=(3, 3, 2, 4))
    target = np.sqrt(4 / 2)
    # before cropping, the n x n kernel's operator is exactly norm-preserving
    full = project_kernel(kernel, 4, crop=False)
    np.testing.assert_allclose(explicit_singular_values(full, 4), target, atol=1e-9)
    # cropping back to 3x3 perturbs the spectrum; one step shrinks the spread, and
    # repeating the step (as training does) converges
    spread = lambda s: s.max() / s.min()  # noqa: E731
    s0 = explicit_singular_values(kernel, 4)
    s1 = explicit_singular_values(project_kernel(kernel, 4), 4)
    assert spread(s1) < spread(s0)
    many = project_kernel(kernel, 4, iterations=300)
    np.testing.assert_allclose(explicit_singular_values(many, 4), target, rtol=1e-2)


def test_clip_bounds_singular_values(rng):
    kernel = rng.normal(size=(3, 3, 3, 3))
    full = clip_kernel(kernel, 4, 1.0, crop=False)
    s = explicit_singular_values(full, 4)
    assert s.max() <= 1 + 1e-9
    before = operator_singular_values(kernel, 4)
    small = before <= 1.0
    after = operator_singular_values(full, 4)
    # singular values already below the bound are kept
    np.testing.assert_allclose(np.sort(after[after < 1 - 1e-9]), np.sort(before[small & (before < 1 - 1e-9)]), atol=1e-9)


def test_projection_callback_projects_after_steps(rng):
    inputs = keras.Input((8, 8, 3))
    stem = NormPreservingConv2D(8, 3, name="stem")
    trans = NormPreservingConv2D(16, 1, strides=2, name="trans")
    off = NormPreservingConv2D(16, 1, projection=None, name="off")
    x = off(trans(stem(inputs)))
    outputs = keras.layers.Dense(2, activation="softmax")(keras.layers.GlobalAveragePooling2D()(x))
    model = keras.Model(inputs, outputs)
    model.compile("sgd", "sparse_categorical_crossentropy")
    callback = NormPreservingProjection(probability=1.0, seed=1)
    data = rng.normal(size=(16, 8, 8, 3)).astype("float32")
    model.fit(data, np.arange(16) % 2, batch_size=4, epochs=1, verbose=0, callbacks=[callback])
    assert callback.applied == 4
    assert trans.output_size == 4 and stem.output_size == 8
    # the 1x1 transition was projected after the last optimizer step: exact
    s = operator_singular_values(as_np(trans.kernel), trans.output_size)
    np.testing.assert_allclose(s, np.sqrt(16 / 8), atol=1e-5)
    s_off = operator_singular_values(as_np(off.kernel), 4)
    assert s_off.max() / s_off.min() > 1.5  # the unmarked layer was left alone


def test_projection_probability_is_seeded():
    counts = []
    for _ in range(2):
        cb = NormPreservingProjection(probability=0.5, seed=3)
        draws = [cb._rng.random() < 0.5 for _ in range(100)]
        counts.append(sum(draws))
    assert counts[0] == counts[1] and 30 < counts[0] < 70


@pytest.mark.parametrize("cin,cout,n", [(2, 4, 5), (3, 3, 6), (4, 2, 5)])
def test_projection_is_the_polar_factor_not_its_conjugate(cin, cout, n, rng):
    # The polar factor of the dense operator T = U S V^T is U V^T: computed here from the
    # explicit matrix, independently of the FFT code. A port that conjugates the polar
    # factor in the frequency domain gets the operator of a spatially flipped kernel instead,
    # which has the same singular values (so spectrum tests cannot see it) but is another map.
    kernel = rng.normal(size=(3, 3, cin, cout))
    u, _, vt = np.linalg.svd(explicit_operator(kernel, n), full_matrices=False)
    polar = np.sqrt(cout / cin) * u @ vt
    full = project_kernel(kernel, n, crop=False)
    np.testing.assert_allclose(explicit_operator(full, n), polar, atol=1e-9)
    # the conjugate's kernel, k(-x) (mod n), is a different operator
    flipped = np.roll(full[::-1, ::-1], 1, axis=(0, 1))
    np.testing.assert_allclose(explicit_singular_values(flipped, n),
                               explicit_singular_values(full, n), atol=1e-9)
    assert np.abs(explicit_operator(flipped, n) - polar).max() > 0.1
