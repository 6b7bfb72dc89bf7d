"""Builders against the papers' layouts: parameter counts, twins, units, registry, errors."""

import json

import keras
import numpy as np
import pytest

import zoo
from tests.conftest import backend_available, run_python


def trainable_params(model):
    # Papers count trainable parameters; BN moving statistics are not parameters.
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


@pytest.mark.parametrize(
    "name,reference",
    [
        ("resnet20", 0.27e6),
        ("resnet56", 0.85e6),
        ("resnet110", 1.7e6),
        ("dmrnet56", 1.7e6),
        ("dmrnet_wide32", 14.9e6),
        ("preresnet164", 1.7e6),
        ("procresnet166", 1.72e6),
    ],
)
def test_parameter_counts_match_papers(name, reference):
    model = zoo.create_model(name)  # 10 classes, 32x32x3
    assert abs(trainable_params(model) / reference - 1) <= 0.02
    assert zoo.model_info(name)["reference_params"] == int(reference)


def test_exact_known_counts():
    # He et al.'s CIFAR ResNet-20 with option-B shortcuts (1x1 conv + BN at 2 transitions):
    # 269,722 (option A) + 16*32 + 32*64 conv weights + 2*(32 + 64) BN weights.
    assert trainable_params(zoo.resnet(20)) == 269_722 + 16 * 32 + 32 * 64 + 2 * (32 + 64)


@pytest.mark.parametrize(
    "parallel,sequential",
    [
        (lambda: zoo.create_model("parallel_resnet20"), lambda: zoo.create_model("resnet20")),
        (lambda: zoo.create_model("parallel_resnet56"), lambda: zoo.create_model("resnet56")),
        (lambda: zoo.create_model("parallel_resnet110"), lambda: zoo.create_model("resnet110")),
        (lambda: zoo.parallel_resnet(29, bottleneck=True, preactivation=True),
         lambda: zoo.resnet(29, bottleneck=True, preactivation=True)),
        (lambda: zoo.parallel_resnet(20, preactivation=True, fused=False),
         lambda: zoo.resnet(20, preactivation=True)),
        (lambda: zoo.create_model("shallow_parallel"), lambda: zoo.create_model("shallow_sequential")),
        (lambda: zoo.shallow_stack("parallel", layers=8, filters=16, kernel_size=7,
                                   batch_norm=False, activation="tanh", head="flatten",
                                   downsample="maxpool", input_shape=(28, 28, 1)),
         lambda: zoo.shallow_stack("sequential", layers=8, filters=16, kernel_size=7,
                                   batch_norm=False, activation="tanh", head="flatten",
                                   downsample="maxpool", input_shape=(28, 28, 1))),
    ],
)
def test_parallel_twin_has_exactly_the_sequential_count(parallel, sequential):
    p, s = parallel(), sequential()
    assert p.count_params() == s.count_params()
    assert trainable_params(p) == trainable_params(s)


def test_every_registered_parallel_model_has_a_registered_twin():
    for name in zoo.list_models("parallel_*"):
        twin = name.replace("parallel_", "")
        assert zoo.create_model(name).count_params() == zoo.create_model(twin).count_params()


def test_residual_units_are_ordered_and_mark_transitions():
    units = zoo.residual_units(zoo.resnet(20))
    assert [u.name for u in units][:4] == [
        "stage1_unit1", "stage1_unit2", "stage1_unit3", "stage2_unit1"]
    assert [u.is_transition for u in units] == [False] * 3 + [True, False, False] * 2
    pre = zoo.residual_units(zoo.preresnet(164, block="bottleneck"))
    assert len(pre) == 54 and [i for i, u in enumerate(pre) if u.is_transition] == [0, 18, 36]
    proc = zoo.residual_units(zoo.procresnet(166))
    assert len(proc) == 54 and not any(u.is_transition for u in proc)
    par = zoo.residual_units(zoo.parallel_resnet(20))
    assert [(u.name, u.is_transition) for u in par] == [
        ("stage1_parallel", False), ("stage2_unit1", True), ("stage2_parallel", False),
        ("stage3_unit1", True), ("stage3_parallel", False)]
    assert [getattr(u, "branches", 1) for u in par] == [3, 1, 2, 1, 2]
    dmr = zoo.residual_units(zoo.dmrnet(20))
    assert len(dmr) == 9 and [u.is_transition for u in dmr] == [False] * 3 + [True, False, False] * 2


def test_parallel_of_one_branch_equals_one_sequential_unit(rng):
    seq = zoo.shallow_stack("sequential", layers=1, input_shape=(8, 8, 3))
    par = zoo.shallow_stack("parallel", layers=1, input_shape=(8, 8, 3))
    par.set_weights(seq.get_weights())
    x = rng.normal(size=(2, 8, 8, 3)).astype("float32")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(par(x)), keras.ops.convert_to_numpy(seq(x)), atol=1e-6)


def test_inputs_of_other_sizes_and_channels():
    model = zoo.create_model("resnet20", input_shape=(28, 28, 1), num_classes=7)
    assert model.output_shape == (None, 7)
    assert model.get_layer("stage3_unit1").output.shape[1:3] == (7, 7)


def test_registry_lists_and_describes():
    names = zoo.list_models()
    for required in ["resnet20", "resnet32", "resnet44", "resnet56", "resnet110",
                     "preresnet164", "parallel_resnet20", "parallel_resnet56",
                     "parallel_resnet110", "dmrnet56", "dmrnet_wide32", "procresnet166",
                     "plain20", "plain56", "shallow_sequential", "shallow_parallel"]:
        assert required in names
    assert zoo.list_models("resnet*") == ["resnet110", "resnet20", "resnet32", "resnet38",
                                          "resnet44", "resnet56"]
    info = zoo.model_info("dmrnet_wide32")
    assert info["config"] == {"depth": 32, "widen": 4}
    assert info["builder"] == "zoo.models.dmrnet.dmrnet"
    assert "Merge-and-Run" in info["paper"]
    json.dumps(info)  # plain data
    assert zoo.create_model("resnet20").name == "resnet20"
    assert zoo.create_model("resnet20", num_classes=3).output_shape == (None, 3)


def test_preresnet_block_is_explicit_and_agrees_with_the_registry():
    """He et al. 2016b: ResNet-110 has basic units (54), ResNet-164 bottleneck units (54).
    110 and 164 fit both depth rules, so zoo.preresnet takes the block explicitly, and each
    registered name is the builder's net with that block."""
    shape = dict(input_shape=(8, 8, 1), num_classes=3)

    def layout(model):
        return model.count_params(), [(layer.name, type(layer).__name__)
                                      for layer in model.layers]

    basic = zoo.preresnet(110, block="basic", **shape)
    assert len(zoo.residual_units(basic)) == 54
    assert layout(basic) == layout(zoo.create_model("preresnet110", **shape))
    bottleneck = zoo.preresnet(164, block="bottleneck", **shape)
    assert len(zoo.residual_units(bottleneck)) == 54
    assert layout(bottleneck) == layout(zoo.create_model("preresnet164", **shape))
    assert len(zoo.residual_units(zoo.preresnet(110, block="bottleneck", **shape))) == 36
    with pytest.raises(TypeError, match="block"):
        zoo.preresnet(110)


def test_preresnet_without_skips_is_the_same_net_less_its_shortcuts():
    shape = dict(input_shape=(8, 8, 1), num_classes=3)
    with_skips = zoo.preresnet(20, block="bottleneck", **shape)
    without = zoo.preresnet(20, block="bottleneck", skip=False, **shape)
    assert without.name == "preresnet20_noskip"
    units = zoo.residual_units(without)
    assert len(units) == len(zoo.residual_units(with_skips)) == 6
    assert not any(unit.skip for unit in units)
    # what goes: the three projection shortcuts (1x1 conv + batch norm's 4 values per
    # channel) of the transitions 16 -> 64, 64 -> 128 and 128 -> 256
    shortcuts = sum(i * o + 4 * o for i, o in ((16, 64), (64, 128), (128, 256)))
    assert with_skips.count_params() - without.count_params() == shortcuts == 43_776
    with pytest.raises(ValueError, match="skip must be True or False, got 'no'"):
        zoo.preresnet(20, block="bottleneck", skip="no")


def test_unknown_name_suggests_close_names():
    with pytest.raises(ValueError, match=r"unknown model name 'resnet21'; did you mean .*'resnet20'"):
        zoo.create_model("resnet21")
    with pytest.raises(ValueError, match="unknown model name 'dmrnet_wide'.*'dmrnet_wide32'"):
        zoo.model_info("dmrnet_wide")
    from zoo.registry import get_builder

    assert get_builder("shallow_stack") is zoo.shallow_stack
    with pytest.raises(ValueError, match="unknown builder 'resnt'; did you mean 'resnet'"):
        get_builder("resnt")


BAD = [
    (lambda: zoo.resnet(21), r"depth must be 6n\+2 with n >= 1 \(e.g. 20, 32.*got 21"),
    (lambda: zoo.resnet(21, bottleneck=True), r"depth must be 9n\+2.*got 21"),
    (lambda: zoo.resnet(2), r"depth must be 6n\+2.*got 2"),
    (lambda: zoo.preresnet(160, block="bottleneck"),
     r"depth of a bottleneck pre-activation ResNet must be 9n\+2.*got 160"),
    (lambda: zoo.preresnet(29, block="basic"),
     r"depth of a basic pre-activation ResNet must be 6n\+2.*got 29"),
    (lambda: zoo.preresnet(110, block="wide"), "block must be one of 'basic', 'bottleneck'"),
    (lambda: zoo.procresnet(164), r"depth must be 9n\+4.*got 164"),
    (lambda: zoo.dmrnet(55), r"depth must be 6n\+2.*got 55"),
    (lambda: zoo.resnet(20, width=0), "width must be a positive integer, got 0"),
    (lambda: zoo.resnet(20, width=-16), "width must be a positive integer, got -16"),
    (lambda: zoo.resnet(20, num_classes=0), "num_classes must be a positive integer, got 0"),
    (lambda: zoo.dmrnet(20, streams=1), "streams must be an integer >= 2, got 1"),
    (lambda: zoo.dmrnet(20, widen=0), "widen must be a positive integer, got 0"),
    (lambda: zoo.dmrnet(20, mode="merge"), "mode must be one of 'merge_and_run', 'identity', 'inception_like', got 'merge'"),
    (lambda: zoo.shallow_stack(kernel_size=4), "kernel_size must be a positive odd integer.*got 4"),
    (lambda: zoo.shallow_stack(layout="diagonal"), "layout must be one of 'sequential', 'parallel', got 'diagonal'"),
    (lambda: zoo.shallow_stack(head="mlp"), "head must be one of 'gap', 'flatten', got 'mlp'"),
    (lambda: zoo.shallow_stack(downsample="avg"), "downsample must be one of 'none', 'maxpool', got 'avg'"),
    (lambda: zoo.shallow_stack(activation="relu6x"), "activation must be one of .*got 'relu6x'"),
    (lambda: zoo.shallow_stack(layers=0), "layers must be a positive integer, got 0"),
    (lambda: zoo.resnet(20, kernel_size=2), "kernel_size must be a positive odd integer.*got 2"),
    (lambda: zoo.procresnet(166, projection="orthogonal"), "projection must be True, False, 'polar' or 'clip', got 'orthogonal'"),
    (lambda: zoo.resnet(20, input_shape=(3, 3, 3)), r"input_shape \(3, 3, 3\) is too small: height and width must be at least 4 \(the network halves the resolution 2 time\(s\)\)"),
    (lambda: zoo.shallow_stack(downsample="maxpool", input_shape=(1, 1, 1)), "input_shape .* too small.*at least 2"),
    (lambda: zoo.resnet(20, input_shape=(32, 32)), r"input_shape must be \(height, width, channels\) of positive integers, got \(32, 32\)"),
    (lambda: zoo.create_model("nonsense"), "unknown model name 'nonsense'"),
    (lambda: zoo.layers.ResidualUnit(8, strides=3), "strides must be one of 1, 2, got 3"),
    (lambda: zoo.layers.ResidualUnit(8, kind="single", preactivation=True), "preactivation must be False for kind='single'"),
    (lambda: zoo.layers.ParallelResidualStage(2, 8, grouped_implementation="cuda"), "grouped_implementation must be one of 'auto', 'grouped', 'split', got 'cuda'"),
    (lambda: zoo.layers.project_kernel(np.ones((3, 3, 2, 2)), 2), r"n \(the layer's output size\) must be >= kernel size 3, got 2"),
    (lambda: zoo.layers.NormPreservingProjection(probability=1.5), r"probability must be a probability in \[0, 1\], got 1.5"),
]


@pytest.mark.parametrize("build,message", BAD)
def test_bad_input_names_the_problem(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_projection_callback_on_jax(tmp_path):
    if not backend_available("jax"):
        pytest.skip("jax is not installed (pip install 'residual-zoo[jax]')")
    code = """
import keras, numpy as np, zoo
from zoo.layers import NormPreservingProjection, operator_singular_values
m = zoo.procresnet(22, input_shape=(8, 8, 3))
m.compile("sgd", "sparse_categorical_crossentropy")
cb = NormPreservingProjection(probability=1.0)
x = np.random.default_rng(0).normal(size=(8, 8, 8, 3)).astype("float32")
m.fit(x, np.arange(8) % 10, batch_size=4, epochs=1, verbose=0, callbacks=[cb])
t = m.get_layer("transition1")
s = operator_singular_values(keras.ops.convert_to_numpy(t.kernel), t.output_size)
print(cb.applied, s.min(), s.max())
"""
    proc = run_python(code, backend="jax")
    assert proc.returncode == 0, proc.stderr[-3000:]
    applied, smin, smax = proc.stdout.split()[-3:]
    assert int(applied) == 2
    np.testing.assert_allclose([float(smin), float(smax)], np.sqrt(2), atol=1e-5)


def test_catalogue_matches_the_registry():
    """zoo/catalog.json (what `zoo list` and `zoo info` show without Keras) is the live
    registry; regenerate it with `python -m zoo.factory` after registering a model."""
    from zoo.registry import catalog, list_models, model_info

    committed = catalog()
    assert list(committed) == list_models()
    for name, entry in committed.items():
        assert {k: v for k, v in entry.items() if k != "params"} == \
            json.loads(json.dumps(model_info(name)))
        if entry["params"]["total"] < 600_000:  # the big ones: test_reference_parameter_counts
            model = zoo.create_model(name)
            assert entry["params"]["total"] == model.count_params()
