"""The input stem and classifier head that the CIFAR-style families share."""

from __future__ import annotations

import keras

from zoo import validation as check
from zoo.layers.branch import bn_layer, conv_layer


def model_input(input_shape, transitions, name="input"):
    """A Keras input for a channels-last image, checked against the number of stride-2
    steps the network will take."""
    shape = check.input_shape(
        input_shape,
        min_size=check.min_size_for(transitions),
        reason=f"the network halves the resolution {transitions} time(s)",
    )
    return keras.Input(shape=shape, name=name)


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
    return keras.layers.Dense(
        num_classes, activation=classifier_activation, name="predictions"
    )(x)
