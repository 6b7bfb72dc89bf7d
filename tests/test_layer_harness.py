"""Every zoo layer through Keras's own layer harness (issue 31 item 15): ``run_layer_test``
from Keras's testing module builds, calls, serializes, trains a step and -- the check that
found the fault -- runs the layer under a mixed-precision policy, where every output must be
of the dtype its symbolic spec promises. Then a model built under a global mixed-precision
policy must give the same outputs after a ``.keras`` save and load (its sublayers once came
back float32)."""

import keras
import numpy as np
import pytest
from keras.src.testing import TestCase

import zoo
from zoo.layers import (
    BranchConv2D,
    MergeAndRunBlock,
    NormPreservingConv2D,
    ParallelResidualStage,
    PixelStandardization,
    ResidualBlock,
    ResidualUnit,
    TiledBatchNormalization,
)

CASES = [
    (ResidualUnit, {"filters": 4}, (2, 8, 8, 4), (2, 8, 8, 4)),
    (ResidualUnit, {"filters": 4, "strides": 2}, (2, 8, 8, 3), (2, 4, 4, 4)),
    (ResidualUnit, {"filters": 2, "kind": "bottleneck", "preactivation": True}, (2, 8, 8, 3),
     (2, 8, 8, 8)),
    (ResidualUnit, {"filters": 4, "skip": False, "batch_norm": False}, (2, 8, 8, 4),
     (2, 8, 8, 4)),
    (ParallelResidualStage, {"branches": 3, "filters": 4}, (2, 8, 8, 4), (2, 8, 8, 4)),
    (ParallelResidualStage, {"branches": 2, "filters": 4, "fused": False}, (2, 8, 8, 4),
     (2, 8, 8, 4)),
    (ParallelResidualStage, {"branches": 2, "filters": 4, "kind": "single",
                             "batch_norm": False}, (2, 8, 8, 4), (2, 8, 8, 4)),
    (MergeAndRunBlock, {"filters": 4, "final": True}, (2, 8, 8, 4), (2, 8, 8, 4)),
    (MergeAndRunBlock, {"filters": 4, "mode": "inception_like", "strides": 2}, (2, 8, 8, 3),
     (2, 4, 4, 4)),
    (BranchConv2D, {"branches": 2, "filters": 3, "kernel_size": 3}, (2, 8, 8, 4),
     (2, 8, 8, 6)),
    (TiledBatchNormalization, {"branches": 3}, (2, 8, 8, 4), (2, 8, 8, 12)),
    (NormPreservingConv2D, {"filters": 4, "kernel_size": 3}, (2, 8, 8, 4), (2, 8, 8, 4)),
    (PixelStandardization, {"mean": [1.0, 2.0, 3.0], "std": [4.0, 5.0, 6.0]}, (2, 8, 8, 3),
     (2, 8, 8, 3)),
]


class _Harness(TestCase):
    def runTest(self):  # unittest needs one; the checks run through run_layer_test
        pass


@pytest.mark.parametrize("layer,kwargs,shape,output", CASES,
                         ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(CASES)])
def test_keras_layer_harness(layer, kwargs, shape, output):
    _Harness().run_layer_test(layer, kwargs, input_shape=shape, expected_output_shape=output,
                              run_training_check=True, run_mixed_precision_check=True)


def test_sublayers_follow_the_layers_dtype():
    for layer, kwargs, shape, _ in CASES:
        block = layer(**kwargs, dtype="mixed_bfloat16")
        block.build(shape)
        inner = [s for s in block._flatten_layers(include_self=False)]
        assert all(s.dtype_policy.name == "mixed_bfloat16" for s in inner), layer.__name__
        y = block(np.ones(shape, "float32"))
        assert all(keras.backend.standardize_dtype(t.dtype) == "bfloat16"
                   for t in keras.tree.flatten(y)), layer.__name__


def test_the_abstract_block_is_registered():
    assert keras.saving.get_registered_object("zoo>ResidualBlock") is ResidualBlock
    assert keras.saving.get_registered_name(ResidualBlock) == "zoo>ResidualBlock"


@pytest.mark.parametrize("name", ["resnet20", "parallel_resnet20", "dmrnet20",
                                  "procresnet22"])
def test_a_mixed_precision_model_survives_save_and_load(name, tmp_path):
    from zoo.saving import load_model

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        model = zoo.create_model(name, input_shape=(8, 8, 1), num_classes=3)
    finally:
        keras.config.set_dtype_policy(previous)
    x = np.random.default_rng(0).normal(size=(4, 8, 8, 1)).astype("float32")
    # the classifier stays float32, so its probabilities reach the loss unrounded
    assert model.get_layer("predictions").dtype_policy.name == "float32"
    assert keras.backend.standardize_dtype(model(x, training=False).dtype) == "float32"
    assert model.get_layer("stem_conv").dtype_policy.name == "mixed_bfloat16"
    before = keras.ops.convert_to_numpy(model(x, training=False)).astype("float32")
    model.save(tmp_path / "m.keras")
    loaded = load_model(tmp_path / "m.keras", compile=False)
    after = keras.ops.convert_to_numpy(loaded(x, training=False)).astype("float32")
    np.testing.assert_array_equal(before, after)


@pytest.mark.parametrize("policy, head", [("mixed_float16", "float32"),
                                          ("mixed_bfloat16", "float32"),
                                          ("float64", "float64")])
def test_the_classifier_head_computes_in_the_variables_dtype(policy, head):
    """float16 probabilities would stop at 6e-8 (no gradient below); a float64 net keeps
    float64. The head a factory puts back keeps the same dtype."""
    from zoo.factory import _new_head

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        model = zoo.create_model("resnet20", input_shape=(8, 8, 1), num_classes=3)
    finally:
        keras.config.set_dtype_policy(previous)
    assert model.get_layer("stem_conv").dtype_policy.name == policy
    assert model.get_layer("predictions").dtype_policy.name == head
    assert keras.backend.standardize_dtype(model.output.dtype) == head
    swapped = _new_head(model, 5, include_top=True, pooling=None)  # create_model(num_classes=)
    assert swapped.get_layer("predictions").dtype_policy.name == head
