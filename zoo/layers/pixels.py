"""The first layer of every zoo model built for a dataset: pixels in, standardized values out.

Zoo models take raw 0-255 pixels. Keras users often scale images to [0, 1] first
(``x / 255.``); fed to a model that expects 0-255, such images give a confident wrong answer
(about 11-19% on MNIST) without a word. This layer reads an image whose largest value is at
most 1 as a [0, 1] image and multiplies it by 255 first, so both conventions give the same
answer. A 0-255 image whose every pixel is 0 or 1 is nearly black either way: the only
images read differently are those.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops


@keras.saving.register_keras_serializable(package="zoo")
class PixelStandardization(keras.layers.Layer):
    """``(pixels - mean) / std`` per channel, with ``mean``/``std`` in 0-255 units.

    Args:
        mean, std: per-channel statistics (lists of floats, one per channel).
        rescale_unit_images: multiply an image by 255 first when its largest value is at
            most 1 (a [0, 1] image). The check is per image, so a batch may mix both.
    """

    def __init__(self, mean, std, rescale_unit_images=True, **kwargs):
        super().__init__(**kwargs)
        self.mean_values = [float(m) for m in np.ravel(mean)]
        self.std_values = [float(s) for s in np.ravel(std)]
        if len(self.mean_values) != len(self.std_values):
            raise ValueError(f"PixelStandardization: {len(self.mean_values)} means but "
                             f"{len(self.std_values)} stds")
        if min(self.std_values) <= 0:
            raise ValueError(f"PixelStandardization: std must be positive, got {self.std_values}")
        self.rescale_unit_images = bool(rescale_unit_images)

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is not None and channels != len(self.mean_values):
            raise ValueError(f"PixelStandardization has statistics for {len(self.mean_values)} "
                             f"channel(s), the input has {channels}")
        self.input_spec = keras.layers.InputSpec(axes={-1: len(self.mean_values)})
        # the image shape the model was built for: a Keras functional model adds an axis to an
        # input one rank short, so a single (28, 28, 1) image would arrive here as 28 images
        # of (28, 1, 1) and give 28 confident answers; it is refused instead
        self._image_shape = tuple(input_shape[1:])
        shape = (1,) * (len(input_shape) - 1) + (len(self.mean_values),)
        # the same arithmetic as keras.layers.Normalization(mean, variance), which the zoo's
        # models used before: their weights give the same outputs (to float rounding) here
        self.mean = np.reshape(np.asarray(self.mean_values, dtype="float32"), shape)
        self.variance = np.reshape(np.asarray([s * s for s in self.std_values], dtype="float32"),
                                   shape)

    def call(self, inputs):
        x = ops.convert_to_tensor(inputs, dtype=self.compute_dtype)
        self._check_images(x.shape)
        if self.rescale_unit_images:
            axes = tuple(range(1, len(x.shape)))
            peak = ops.max(x, axis=axes, keepdims=True)
            x = x * ops.where(peak <= 1.0, ops.cast(255.0, x.dtype), ops.cast(1.0, x.dtype))
        mean = ops.cast(self.mean, x.dtype)
        std = ops.maximum(ops.sqrt(ops.cast(self.variance, x.dtype)), keras.backend.epsilon())
        return ops.divide(ops.subtract(x, mean), std)

    def _check_images(self, shape):
        """A static check, where the shapes are known (eager calls, a first trace): a graph
        that TensorFlow retraced with relaxed shapes has no dimensions to compare."""
        expected = getattr(self, "_image_shape", None)
        try:
            shape = tuple(shape)[1:]
        except (TypeError, ValueError):  # a TensorShape of unknown rank
            return
        if expected is None or len(shape) != len(expected):
            return
        if any(e is not None and g is not None and e != g for e, g in zip(expected, shape)):
            raise ValueError(
                f"the model takes a batch of images of shape (N, {', '.join(map(str, expected))})"
                f" (channels last), got images of shape {shape}; a single image needs a batch "
                "axis: x[None]")

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "mean": self.mean_values, "std": self.std_values,
                "rescale_unit_images": self.rescale_unit_images}
