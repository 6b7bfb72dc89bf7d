"""The zoo classifier's activation, ``zoo.layers.softmax``: Keras's softmax, whose
cross-entropy keeps the logits' gradient however wrong the net is (any finite logits), on
every backend.

The zoo's models return probabilities, and on JAX and PyTorch a loss sees only those: the
logits behind them are gone. Once a float32 softmax gives the true class less than the
smallest normal number (1.2e-38, a logit gap of about 87), the cross-entropy of the
probabilities has no gradient left for that example. A net that starts with huge logits --
point 1608 of the seed000 grid (the sequential_vs_parallel study's), a deep stack without
normalization -- then sits at a loss of about 0.9 x 87.3 = 78.6 for good, guessing one class
(77.5-79.5 for seeds 0-2 on the GPU, benchmarks/results/rerun_points_gpu.csv), while
TensorFlow (whose loss recovers the logits from the softmax op) trains it.

On TensorFlow :func:`softmax` is exactly Keras's softmax (nothing to fix there: every number
the zoo computed on TensorFlow before this function existed is unchanged). On JAX and PyTorch
it floors each logit at ``gap(C)`` below the largest (C classes; 84.0 for 10, 79.4 for 1,000:
float32's smallest normal number is then never reached) and lets the gradient through that
floor unchanged (a straight-through estimator). So, there, for finite float32 or bfloat16
logits (float16 has no room for e^-84; the zoo's head stays float32 under mixed precision):

- forward: exactly Keras's softmax wherever every logit is within ``gap(C)`` of the largest;
  a class further below gets e^-gap(C) of the largest's probability instead of less, so such
  classes tie (top-k among them is arbitrary; with Keras's softmax they tie from a gap of
  about 103, where float32 underflows);
- backward: the cross-entropy's gradient at the logits is ``p - onehot(y)`` at any gap, as it
  is on TensorFlow (``zoo.train.ProbabilityCrossentropy``'s floor is never reached);
- an example's loss stops between gap(C) and gap(C) + ln(C) = 86.3 (Keras's softmax: 87.3)
  instead of its true, larger value: a loss that high means "further off than this".
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops


def gap(classes: int) -> float:
    """How far below the largest logit the others are floored on JAX and PyTorch: every
    probability then stays above float32's smallest normal number, with e of room."""
    return -math.log(float(np.finfo(np.float32).tiny)) - math.log(max(int(classes), 1)) - 1.0


@keras.saving.register_keras_serializable(package="zoo", name="softmax")
def softmax(x, axis=-1):
    """Softmax over ``axis``; on JAX and PyTorch each logit is floored at :func:`gap` below
    the largest and the gradient passes through the floor unchanged (module docstring)."""
    if keras.backend.backend() == "tensorflow":  # its loss reads the logits off the op
        return keras.activations.softmax(x, axis=axis)
    x = ops.convert_to_tensor(x)
    classes = x.shape[axis]
    floor = -gap(classes if classes is not None else 1)
    # the softmax is shift-invariant, so the shift needs no gradient
    shifted = x - ops.stop_gradient(ops.max(x, axis=axis, keepdims=True))
    # value: the floored logit; gradient: the identity. Written as floor + (s - s) rather
    # than s + (floor - s), which rounds back to s once |s| passes 2^30; an infinite logit
    # (-inf: probability e^-gap) keeps no gradient instead of NaN
    through = ops.where(ops.isfinite(shifted), shifted - ops.stop_gradient(shifted), 0.0)
    floored = ops.stop_gradient(ops.maximum(shifted, floor)) + through
    return keras.activations.softmax(floored, axis=axis)


def is_softmax(activation) -> bool:
    """Whether ``activation`` names a softmax: the zoo's or Keras's, as a function or by name."""
    return activation is softmax or activation is keras.activations.softmax or (
        isinstance(activation, str) and activation in ("softmax", "zoo>softmax"))


def classifier_activation(activation):
    """The activation a zoo classifier gets for ``activation``: the zoo's softmax for any
    spelling of a softmax (Keras's function, "softmax", the saved name "zoo>softmax", or a
    file's head saved before the zoo had its own), anything else as given."""
    return softmax if is_softmax(activation) else activation
