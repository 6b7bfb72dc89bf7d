"""Norm-preserving (Procrustes) convolutions (Zaeemzadeh et al., TPAMI 2021).

A k x k convolution with c_in inputs and c_out outputs, applied to n x n inputs with periodic
boundaries, is a linear operator whose singular values are the union, over the n^2 spatial
frequencies, of the singular values of the c_in x c_out transfer matrices ``A(u, v)``, the 2-D
DFT of the kernel zero-padded to n x n (Sedghi et al., ICLR 2019).

*Projection* replaces every ``A`` by ``sqrt(c_out / c_in) * U V^H`` (the scaled polar factor;
all singular values equal), then returns to the spatial domain and crops to k x k. For 1x1
kernels the result is exact; for larger kernels the crop perturbs the spectrum, and repeating
the step converges towards a norm-preserving kernel -- which is why the paper re-applies it
during training (here after an optimizer step, with probability p).
*Clipping* (Sedghi et al.) instead replaces singular values above ``c`` by ``c``.

The spectral work is done in NumPy on the host between training steps, so it is the same on
every Keras backend and never enters the compiled training step.
"""

from __future__ import annotations

import keras
import numpy as np

from zoo import compat
from zoo import validation as check

PROJECTIONS = ("polar", "clip")


def _check_kernel(kernel, n):
    kernel = np.asarray(kernel, dtype=np.float64)
    if kernel.ndim != 4 or kernel.shape[0] != kernel.shape[1]:
        raise ValueError(f"kernel must have shape (k, k, c_in, c_out), got {kernel.shape}")
    n = check.positive_int("n", n)
    if n < kernel.shape[0]:
        raise ValueError(f"n (the layer's output size) must be >= kernel size {kernel.shape[0]}, got {n}")
    return kernel, n


def transfer_matrices(kernel, n):
    """The ``(n, n, c_in, c_out)`` complex transfer matrices of the periodic convolution."""
    kernel, n = _check_kernel(kernel, n)
    return np.fft.fft2(_zero_padded(kernel, n), axes=(0, 1))


def _zero_padded(kernel, n):
    k = kernel.shape[0]
    padded = np.zeros((n, n, *kernel.shape[2:]))
    padded[:k, :k] = kernel
    return padded


def operator_singular_values(kernel, n):
    """All ``n^2 * min(c_in, c_out)`` singular values of the n x n periodic convolution."""
    return np.linalg.svd(transfer_matrices(kernel, n), compute_uv=False).ravel()


def _apply_to_singular_values(matrices, transform):
    # One BLAS thread: these matrices are small (at most 256 x 512), and a multi-threaded
    # OpenBLAS competing with the training's own threads on a busy CPU turned a 5 ms SVD into
    # 0.05-2 s (measured on 2 cores), which made projected training 1.6x slower than without.
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        u, s, vh = np.linalg.svd(matrices, full_matrices=False)
        return (u * transform(s)[..., None, :]) @ vh


def _spectral_step(kernel, n, transform, crop):
    k = kernel.shape[0]
    if k == 1 and crop:
        # A 1x1 kernel's transfer matrix is the same at every frequency: one real SVD is exact
        # (the transition convolutions are 1x1, so this is the common case during training).
        return _apply_to_singular_values(kernel, transform)
    # The kernel is real, so A(-u, -v) = conj(A(u, v)); the SVD transform commutes with
    # conjugation, so half the frequencies (rfft2) determine the result.
    half = np.fft.rfft2(_zero_padded(kernel, n), axes=(0, 1))
    full = np.fft.irfft2(_apply_to_singular_values(half, transform), s=(n, n), axes=(0, 1))
    return full[:k, :k] if crop else full


def project_kernel(kernel, n, *, scale=None, iterations=1, crop=True):
    """Project a kernel so its n x n operator has all singular values equal to ``scale``
    (default ``sqrt(c_out / c_in)``). ``crop=False`` returns the exact n x n kernel."""
    kernel, n = _check_kernel(kernel, n)
    if scale is None:
        scale = float(np.sqrt(kernel.shape[3] / kernel.shape[2]))
    scale = check.positive_float("scale", scale)
    for _ in range(check.positive_int("iterations", iterations)):
        kernel = _spectral_step(kernel, n, lambda s: np.full_like(s, scale), crop)
        if not crop:
            break
    return kernel


def clip_kernel(kernel, n, clip, *, crop=True):
    """Sedghi et al.'s variant: clip the operator's singular values to at most ``clip``."""
    kernel, n = _check_kernel(kernel, n)
    clip = check.positive_float("clip", clip)
    return _spectral_step(kernel, n, lambda s: np.minimum(s, clip), crop)


@keras.saving.register_keras_serializable(package="zoo")
class NormPreservingConv2D(keras.layers.Conv2D):
    """A ``Conv2D`` marked for spectral projection during training.

    ``projection``: ``"polar"`` (ProcResNet), ``"clip"`` (Sedghi et al., with ``clip``) or
    None (same layer, never projected -- the ablation). The projection itself is applied by
    :class:`NormPreservingProjection` after optimizer steps; ``output_size`` (the n of the
    operator) is known once the layer is built.
    """

    def __init__(self, filters, kernel_size, *, projection="polar", clip=1.0, **kwargs):
        kwargs.setdefault("padding", "same")
        kwargs.setdefault("use_bias", False)
        kwargs.setdefault("kernel_initializer", "he_normal")
        super().__init__(filters, kernel_size, **kwargs)
        if projection is not None:
            check.choice("projection", projection, PROJECTIONS)
        self.projection = projection
        self.clip = check.positive_float("clip", clip)

    def build(self, input_shape):
        super().build(input_shape)
        h, w = input_shape[1], input_shape[2]
        if h is None or w is None:
            raise ValueError(f"{self.name}: NormPreservingConv2D needs a known input size")
        # Non-square inputs: project on the larger side (the operator on the square covers it).
        self.output_size = int(-(-max(h, w) // self.strides[0]))

    def project(self):
        """Apply this layer's projection to its kernel now (no-op without projection)."""
        if self.projection is None:
            return
        kernel = keras.ops.convert_to_numpy(self.kernel)
        n = max(self.output_size, kernel.shape[0])
        if self.projection == "polar":
            new = project_kernel(kernel, n)
        else:
            new = clip_kernel(kernel, n, self.clip)
        self.kernel.assign(new.astype(kernel.dtype))

    def get_config(self):
        return {**super().get_config(), "projection": self.projection, "clip": self.clip}


class NormPreservingProjection(keras.callbacks.Callback):
    """After each training batch, with probability ``probability`` (seeded), project every
    :class:`NormPreservingConv2D` of the model that has a projection."""

    def __init__(self, probability=0.5, seed=0):
        super().__init__()
        self.probability = check.probability("probability", probability)
        self.seed = seed
        self._rng = np.random.default_rng(seed)
        self.applied = 0  # how many times the projection ran, for logs and tests

    def on_train_batch_end(self, batch, logs=None):
        if self._rng.random() >= self.probability:
            return
        layers = projected_layers(self.model)
        if not layers:
            return
        if keras.backend.backend() == "jax":
            # JAX trains on a copy of the state; write it back before editing variables,
            # and the trainer re-reads the edited variables before the next step.
            self.model.jax_state_sync()
        for layer in layers:
            layer.project()
        self.applied += 1


def projected_layers(model):
    """The layers of ``model`` that the projection acts on."""
    return [
        layer
        for layer in compat.flatten_layers(model)
        if isinstance(layer, NormPreservingConv2D) and layer.projection is not None
    ]
