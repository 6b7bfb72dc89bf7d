"""The zoo classifier's softmax: Keras's softmax, whose cross-entropy keeps the logits'
gradient however wrong the net is, on every backend.

The zoo's models return probabilities, and on JAX and PyTorch a loss sees only those: the
logits behind them are gone. Once a float32 softmax gives the true class less than the
smallest normal number (1.2e-38, a logit gap of about 87), the cross-entropy of the
probabilities has no gradient left for that example. A net that starts with huge logits --
seed000's point 1608, a deep stack without normalization, on the GPU -- then sits at a loss
of 0.9 x 87.3 = 78.6 for good, guessing one class, while TensorFlow (whose loss recovers the
logits from the softmax op) trains it.

On TensorFlow :func:`softmax` is exactly Keras's softmax (nothing to fix there: every number
the zoo computed on TensorFlow before this function existed is unchanged). On JAX and PyTorch
it floors each logit at ``GAP`` (64) below the largest before the softmax, and lets the
gradient through that floor unchanged (a straight-through estimator). So, there,

- forward: exactly Keras's softmax wherever every logit is within 64 of the largest; a class
  further below gets probability ~e^-64 (1.6e-28) of the largest's instead of less;
- backward: the cross-entropy's gradient at the logits is ``p - onehot(y)`` at any gap, as
  it is on TensorFlow (``zoo.train.ProbabilityCrossentropy``'s floor is then never reached:
  every probability is at least e^-64 / classes);
- an example's loss is at most 64 + ln(classes) (68.6 for 100 classes) instead of its
  true, larger value: a measured loss above 64 means "further off than this", not a number.
"""

from __future__ import annotations

import keras
from keras import ops

GAP = 64.0  # logits further below the largest than this are floored (straight-through)


@keras.saving.register_keras_serializable(package="zoo", name="softmax")
def softmax(x, axis=-1):
    """Softmax over ``axis``; on JAX and PyTorch each logit is floored at ``GAP`` below the
    largest and the gradient passes through the floor unchanged (see the module's docstring)."""
    if keras.backend.backend() == "tensorflow":  # its loss reads the logits off the op
        return keras.activations.softmax(x, axis=axis)
    x = ops.convert_to_tensor(x)
    # the softmax is shift-invariant, so the shift needs no gradient
    shifted = x - ops.stop_gradient(ops.max(x, axis=axis, keepdims=True))
    floored = shifted + ops.stop_gradient(ops.maximum(shifted, -GAP) - shifted)
    return keras.activations.softmax(floored, axis=axis)
