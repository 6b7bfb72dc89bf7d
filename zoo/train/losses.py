"""The zoo's training and evaluation loss: cross-entropy of softmax probabilities with the
logits' gradient on every backend (with the zoo's softmax head at any finite logit gap;
without it, on JAX and PyTorch down to a gap of about 87).

Every zoo model ends in a softmax and returns probabilities. Keras's cross-entropy of
probabilities clips them to [1e-7, 1 - 1e-7] before the log. On TensorFlow that clip never
bites: the softmax output carries its logits, and Keras computes the loss from them. On JAX and
PyTorch it does: once a net gives an example's true class less than 1e-7 (a logit gap of about
16), that example's gradient is exactly zero. A net that starts with large logits -- a deep
stack without normalization, a flatten head over thousands of features -- then stays stuck at
a loss near 0.9 * ln(1e7) = 14.5, guessing one class. It happened to 10 of 32 seed000-grid
points on the GPU (Keras on JAX), points that train normally on TensorFlow.

:class:`ProbabilityCrossentropy` computes the same loss. On TensorFlow it is Keras's own (the
logits behind the softmax: no limit). Elsewhere it is the log of the probabilities floored at
the smallest normal number of their float type (1.2e-38 in float32) instead of clipped at
1e-7: its gradient through the softmax is then exactly the logits' ``p - onehot(y)`` down to a
true-class probability of 1.2e-38 (a logit gap of about 87). Beyond that -- and for float16
probabilities beyond 6e-8, which is why the zoo's classifier stays float32 under mixed
precision -- an example still counts a fixed loss (87.3 in float32) with no gradient.

That limit was reached: the seed000 grid's point 1608 (a deep stack without normalization)
saturated past it on JAX and stayed at about 0.9 x 87.3 = 78.6 (77.5-79.5 for seeds 0-2 on the
GPU). So every zoo classifier ends in :func:`zoo.layers.softmax`, whose probabilities stay
above float32's smallest normal number and whose floor passes the gradient through: with it
this loss has the logits' gradient at any finite gap on every backend. The limit above remains
for a model ending in Keras's softmax (every pretrained file published so far; a new head
from ``create_model(..., num_classes=N)`` gets the zoo's).
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops


def sparse_probability_crossentropy(y_true, y_pred):
    """Per-example cross-entropy of integer labels ``y_true`` under class probabilities
    ``y_pred`` (the last axis), without Keras's 1e-7 dead zone."""
    if keras.backend.backend() == "tensorflow":
        # Keras takes the logits from the softmax op on TensorFlow: today's numbers, exactly
        return keras.losses.sparse_categorical_crossentropy(y_true, y_pred)
    # One path on JAX and PyTorch, eager or compiled: Keras leaves the logits on an output
    # only outside jit, and any cast drops them.
    y_pred = ops.convert_to_tensor(y_pred)
    dtype = "float64" if keras.backend.standardize_dtype(y_pred.dtype) == "float64" else "float32"
    p = ops.cast(y_pred, dtype)
    labels = ops.reshape(ops.cast(y_true, "int32"), ops.shape(p)[:-1])
    # the smallest normal number: below it 1/p overflows, and the softmax's backward pass
    # (p * dL/dp) turns into inf * 0
    floor = float(np.finfo(dtype).tiny)
    log_p = ops.log(ops.maximum(p, floor)) - ops.log(ops.sum(p, axis=-1, keepdims=True))
    classes = ops.shape(p)[-1]
    valid = ops.logical_and(labels >= 0, labels < classes)
    # a label outside 0..C-1 would wrap to another class (PyTorch) or be clamped (JAX): NaN
    # makes it loud, as TensorFlow's error is (zoo.train.fit refuses such a model up front)
    picked = ops.take_along_axis(log_p, ops.expand_dims(ops.where(valid, labels, 0), -1),
                                 axis=-1)
    return ops.where(valid, -ops.squeeze(picked, -1), float("nan"))


@keras.saving.register_keras_serializable(package="zoo")
class ProbabilityCrossentropy(keras.losses.Loss):
    """Sparse categorical cross-entropy of softmax probabilities (integer labels), with the
    gradient of the logits' loss on every backend (see the module's docstring)."""

    def __init__(self, reduction="sum_over_batch_size", name="probability_crossentropy",
                 dtype=None):
        super().__init__(reduction=reduction, name=name, dtype=dtype)

    def call(self, y_true, y_pred):
        return sparse_probability_crossentropy(y_true, y_pred)

    def get_config(self):  # Keras's Loss leaves its dtype out
        return {**super().get_config(), "dtype": self.dtype}
