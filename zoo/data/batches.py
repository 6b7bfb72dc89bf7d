"""Training batches from NumPy arrays, for a machine with Keras but no TensorFlow.

``zoo.data.load(..., batch_size=N)`` and ``zoo.train.fit`` batch through ``tf.data`` wherever
TensorFlow is installed (every committed run did). Keras 3 on JAX or PyTorch does not need
TensorFlow, and the lent GPU machines have none, so without it the same batches come from
:class:`ArrayBatches`: the examples reshuffled every epoch and the papers' augmentation
(4-pixel zero padding, a random crop back to size, a random horizontal flip) done in NumPy.
Both are seeded, but they draw different random streams: the same seed gives other batches
on the two pipelines (a run's config.json says which one it used).
"""

from __future__ import annotations

import math

import keras
import numpy as np

PAD = 4  # pixels of zeros on each side before the random crop (He et al. 2016)


def augment_batch(x, rng, *, flip):
    """Each image of ``x`` (N, H, W, C) padded by :data:`PAD` zeros, cropped back to H x W
    at an offset drawn from ``rng`` and, with ``flip``, mirrored left-right with
    probability 1/2."""
    n, height, width = x.shape[:3]
    padded = np.pad(x, ((0, 0), (PAD, PAD), (PAD, PAD), (0, 0)))
    top = rng.integers(0, 2 * PAD + 1, n)
    left = rng.integers(0, 2 * PAD + 1, n)
    rows = top[:, None] + np.arange(height)  # (N, H)
    cols = left[:, None] + np.arange(width)  # (N, W)
    out = padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]
    if flip:
        mirror = rng.random(n) < 0.5
        out[mirror] = out[mirror, :, ::-1]
    return out


class ArrayBatches(keras.utils.PyDataset):
    """Batches of ``(x, y)`` for ``model.fit``: every example once per epoch, in an order
    drawn anew each epoch (with ``shuffle``), augmented with ``"crop"`` or ``"crop_flip"``.
    Batch ``i`` of epoch ``e`` depends only on ``(seed, e, i)``. The epoch advances with each
    ``on_epoch_end`` (Keras also calls it once before training); give ``model.fit`` an
    :class:`EpochSync` callback to follow Keras's own epoch number instead, so that a run
    resumed at epoch ``k`` sees the batches an uninterrupted run sees there."""

    def __init__(self, x, y, batch_size, *, shuffle=True, augment=None, seed=0):
        super().__init__()
        if len(x) != len(y):
            raise ValueError(f"x and y must have the same length, got {len(x)} and {len(y)}")
        if augment not in (None, "crop", "crop_flip"):
            raise ValueError(f"augment must be 'crop', 'crop_flip' or None, got {augment!r}")
        self.x, self.y = x, y
        self.batch_size, self.shuffle, self.augment, self.seed = batch_size, shuffle, augment, seed
        self.epoch = 0
        self._order = self._draw_order()

    def _draw_order(self):
        if not self.shuffle:
            return np.arange(len(self.x))
        return np.random.default_rng([self.seed, self.epoch]).permutation(len(self.x))

    def __len__(self):
        return math.ceil(len(self.x) / self.batch_size)

    def __getitem__(self, index):
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} of {len(self)}")
        take = self._order[index * self.batch_size:(index + 1) * self.batch_size]
        x, y = self.x[take], self.y[take]
        if self.augment:
            rng = np.random.default_rng([self.seed, self.epoch, index, 1])
            x = augment_batch(x, rng, flip=self.augment == "crop_flip")
        return x, y

    def set_epoch(self, epoch):
        if epoch != self.epoch:
            self.epoch = epoch
            self._order = self._draw_order()

    def on_epoch_end(self):
        self.set_epoch(self.epoch + 1)


class EpochSync(keras.callbacks.Callback):
    """Sets an :class:`ArrayBatches` to Keras's epoch at the start of every epoch (callbacks
    run before the epoch's first batch is drawn)."""

    def __init__(self, batches: ArrayBatches):
        super().__init__()
        self.batches = batches

    def on_epoch_begin(self, epoch, logs=None):
        self.batches.set_epoch(epoch)
