"""The input stem and classifier head that the CIFAR-style families share."""

from __future__ import annotations

import keras
import numpy as np

from zoo import validation as check
from zoo.layers.activations import classifier_activation as resolve_activation
from zoo.layers.branch import bn_layer, conv_layer
from zoo.layers.pixels import PixelStandardization


def model_input(input_shape, transitions, input_normalization=None, name="input"):
    """A Keras input for a channels-last image, checked against the number of stride-2
    steps the network will take. Returns ``(inputs, x)``: ``x`` is the input normalized
    inside the model when ``input_normalization`` is given (see :func:`normalization_layer`).
    """
    shape = check.input_shape(
        input_shape,
        min_size=check.min_size_for(transitions),
        reason=f"the network halves the resolution {transitions} time(s)",
    )
    inputs = keras.Input(shape=shape, name=name)
    if input_normalization is None:
        return inputs, inputs
    return inputs, normalization_layer(input_normalization, shape[-1])(inputs)


def normalization_layer(spec, channels):
    """The layer that standardizes raw pixels inside a model, so that users feed 0-255 images
    (or [0, 1] images: see :class:`zoo.layers.PixelStandardization`).

    ``spec`` is a dataset name (its usual per-channel mean/std, in 0-255 units) or a
    ``(mean, std)`` pair of per-channel sequences or scalars.
    """
    if isinstance(spec, str):
        from zoo.data import dataset_info  # the catalogue of datasets and their statistics

        info = dataset_info(spec)
        mean, std = info.mean, info.std
    elif isinstance(spec, (tuple, list)) and len(spec) == 2:
        mean, std = spec
    else:
        raise ValueError(
            "input_normalization must be a dataset name or a (mean, std) pair, "
            f"got {spec!r}"
        )
    mean = [float(m) for m in np.broadcast_to(np.asarray(mean, dtype=float), (channels,))]
    std = [float(s) for s in np.broadcast_to(np.asarray(std, dtype=float), (channels,))]
    if min(std) <= 0:
        raise ValueError(f"input_normalization std must be positive, got {std}")
    return PixelStandardization(mean, std, name=INPUT_NORMALIZATION)


INPUT_NORMALIZATION = "input_normalization"


def expects_raw_pixels(model) -> bool:
    """Whether ``model`` normalizes its input itself (built with ``input_normalization``)."""
    return any(layer.name == INPUT_NORMALIZATION for layer in model.layers)


def conv_stem(x, filters, kernel_size=3, *, activate=True, activation="relu", batch_norm=True):
    """conv -> BN -> act (post-activation nets); conv only when the first unit pre-activates."""
    x = conv_layer(filters, kernel_size, use_bias=not batch_norm, name="stem_conv")(x)
    if activate:
        if batch_norm:
            x = bn_layer("stem_bn")(x)
        x = keras.layers.Activation(activation, name="stem_act")(x)
    return x


def classifier_head(x, num_classes, *, preactivation=False, pooling="gap",
                    classifier_activation="softmax"):
    """[BN-ReLU if the units were pre-activated] -> pool -> dense classifier."""
    num_classes = check.positive_int("num_classes", num_classes)
    if preactivation:
        x = bn_layer("head_bn")(x)
        x = keras.layers.Activation("relu", name="head_act")(x)
    check.choice("head", pooling, ("gap", "flatten"))
    if pooling == "gap":
        x = keras.layers.GlobalAveragePooling2D(name="head_pool")(x)
    else:
        x = keras.layers.Flatten(name="head_flatten")(x)
    # "softmax" is the zoo's (zoo.layers.softmax): Keras's, but its cross-entropy has the
    # logits' gradient at any finite logit gap on every backend, not only on TensorFlow.
    # In the variables' dtype (float32 under a mixed-precision policy, Keras's own advice):
    # float16 probabilities stop at 6e-8, where the cross-entropy of a confidently wrong
    # example has no gradient, and a cast would hide the softmax's logits from TensorFlow's loss
    return keras.layers.Dense(
        num_classes, activation=resolve_activation(classifier_activation), name="predictions",
        dtype=keras.config.dtype_policy().variable_dtype,
    )(x)
