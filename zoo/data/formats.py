"""Readers for the on-disk formats the datasets are distributed in, with integrity checks.

Every reader raises :class:`DataError` naming the file when it is truncated or corrupt, so
a half-downloaded file never surfaces as a reshape error deep inside NumPy.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import pickle
import zipfile
import zlib
from pathlib import Path

import numpy as np

from zoo.checksums import sha256  # noqa: F401  (zoo.data.sha256, public)


class DataError(ValueError):
    """A dataset could not be found or read."""


def verify_checksum(path, expected: str | None) -> None:
    if expected is not None and sha256(path) != expected:
        raise DataError(
            f"{path}: sha256 mismatch (file corrupt, truncated or not the canonical release); "
            "delete it and provide the original file"
        )


_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


# Bounds for the arrays a dataset file may hold (the largest real one, SVHN's extra split,
# is ~1.6 GB as uint8 pixels; MNIST's training images are 47 MB): what a header or a zip
# declares is checked against them before anything is read or decompressed.
MAX_ARRAY_BYTES = 4 << 30


def _too_large(path, what, size) -> DataError:
    return DataError(f"{path}: {what} declares {size:,} bytes (more than {MAX_ARRAY_BYTES:,}); "
                     "refused before reading it")


def read_idx(path) -> np.ndarray:
    """Read an IDX file (optionally gzip-compressed), e.g. ``train-images-idx3-ubyte.gz``.

    Format: two zero bytes, a type byte, the number of dimensions, the dimensions as
    big-endian int32, then the data. The header is read first and checked against
    :data:`MAX_ARRAY_BYTES` and, uncompressed, the file's size; then exactly the promised
    bytes are read.
    """
    path = Path(path)
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as f:
            magic = f.read(4)
            if len(magic) < 4 or magic[0] != 0 or magic[1] != 0 or magic[2] not in _IDX_TYPES:
                raise DataError(f"{path}: not an IDX file (bad magic number {magic.hex()})")
            ndim = magic[3]
            if ndim == 0:
                raise DataError(f"{path}: an IDX file of 0 dimensions holds no examples")
            dims = f.read(4 * ndim)
            if len(dims) < 4 * ndim:
                raise DataError(f"{path}: truncated IDX header")
            shape = tuple(int.from_bytes(dims[4 * i : 4 * i + 4], "big") for i in range(ndim))
            dtype = np.dtype(_IDX_TYPES[magic[2]])
            expected = math.prod(shape) * dtype.itemsize
            if expected > MAX_ARRAY_BYTES:
                raise _too_large(path, f"its header (shape {shape})", expected)
            held = None if opener is gzip.open else path.stat().st_size - 4 - 4 * ndim
            if held is not None and held != expected:
                raise DataError(
                    f"{path}: truncated or corrupt IDX data: header promises shape {shape} "
                    f"({expected} bytes), file holds {held} bytes")
            raw = f.read(expected + 1)  # one more: a file longer than its header is corrupt
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"{path}: cannot read IDX file ({e}); the file is corrupt or truncated") from e
    if len(raw) != expected:
        raise DataError(
            f"{path}: truncated or corrupt IDX data: header promises shape {shape} "
            f"({expected} bytes), file holds {len(raw) if len(raw) < expected else 'more'} bytes"
        )
    return np.frombuffer(raw, dtype=dtype).reshape(shape)


class _ArraysOnly(pickle.Unpickler):
    """Unpickles dicts, lists, strings, numbers and NumPy arrays, and nothing else.

    A pickle can name any importable callable (``os.system`` through ``__reduce__``) and
    runs it on load. The CIFAR batches hold only a dict of arrays, lists and strings, so
    every global a legitimate batch needs is NumPy's array reconstruction; any other one is
    refused before it is looked up.
    """

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
        ("numpy", "ndarray"), ("numpy", "dtype"),
        ("_codecs", "encode"),  # how Python 2 pickles spell byte strings
    }

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(
                f"refused to load {module}.{name}: a dataset pickle may hold only arrays, "
                "lists, dicts, strings and numbers")
        return super().find_class(module, name)


# md5 of every file in the official "python version" archives (cifar-10-python.tar.gz,
# md5 c58f30108f718f92721af3b95e74349a; cifar-100-python.tar.gz, eb9058c3a382ffc7106e4002c42a8d85),
# as published with the archives and used by torchvision
CIFAR_RELEASE_MD5 = {
    ("cifar10", "data_batch_1"): "c99cafc152244af753f735de768cd75f",
    ("cifar10", "data_batch_2"): "d4bba439e000b95fd0a9bffe97cbabec",
    ("cifar10", "data_batch_3"): "54ebc095f3ab1f0389bbae665268c751",
    ("cifar10", "data_batch_4"): "634d18415352ddfa80567beed471001a",
    ("cifar10", "data_batch_5"): "482c414d41f54cd18b22e5b47cb7c3cb",
    ("cifar10", "test_batch"): "40351d587109b95175f43aff81a1287e",
    ("cifar100", "train"): "16019d7e3df5f24257cddd939b257f8d",
    ("cifar100", "test"): "f0ef6b0ae62326f3e7ffdfab6717acfc",
}


def md5(path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_cifar_batch(path, label_key: str, release_md5: str | None = None
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Read one batch of the CIFAR "python version" (a pickled dict with ``data`` as
    N x 3072 uint8 rows, channel-major 3 x 32 x 32). Returns NHWC images and labels.

    Every file is read by :class:`_ArraysOnly`, so a tampered file cannot run code, whatever
    its checksum. A file whose ``release_md5`` (the official archive's) differs is not the
    release: it is read all the same, as untrusted data, with a warning that results on it
    are not comparable with the papers'."""
    path = Path(path)
    if release_md5 is not None and md5(path) != release_md5:
        import warnings

        warnings.warn(f"{path}: md5 differs from the CIFAR release file's ({release_md5}); "
                      "read as untrusted data, arrays only", stacklevel=2)
    try:
        with open(path, "rb") as f:
            batch = _ArraysOnly(f, encoding="bytes").load()
        if not isinstance(batch, dict):
            raise ValueError(f"the pickle holds a {type(batch).__name__}, not a dict")
    except (OSError, EOFError, pickle.UnpicklingError, ValueError) as e:
        raise DataError(f"{path}: cannot read CIFAR batch ({e}); the file is corrupt or truncated") from e
    batch = {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}
    if "data" not in batch or label_key not in batch:
        raise DataError(f"{path}: not a CIFAR batch (keys {sorted(batch)}, expected 'data' and {label_key!r})")
    try:
        data = np.asarray(batch["data"], dtype=np.uint8)
        labels = np.asarray(batch[label_key], dtype=np.int64)
    except (TypeError, ValueError, OverflowError) as e:
        raise DataError(f"{path}: malformed CIFAR batch: 'data' and {label_key!r} must be "
                        f"arrays of integers ({e.__class__.__name__}: {e})") from None
    if data.ndim != 2 or data.shape[1] != 3072 or labels.ndim != 1 or len(labels) != len(data):
        raise DataError(f"{path}: malformed CIFAR batch (data {data.shape}, labels "
                        f"{labels.shape})")
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels


def _check_npz(path: Path) -> None:
    """Every member's declared size, and every array's header, within
    :data:`MAX_ARRAY_BYTES` and consistent with each other, before NumPy allocates or
    decompresses anything (a 2 MB npz can declare gigabytes of zeros)."""
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            if info.file_size > MAX_ARRAY_BYTES:
                raise _too_large(path, f"its member {info.filename}", info.file_size)
            # every member: NumPy reads ``x`` from a member named ``x`` as well as ``x.npy``
            with archive.open(info) as f:
                try:
                    version = np.lib.format.read_magic(f)
                except ValueError:
                    raise DataError(f"{path}: its member {info.filename} is not a .npy "
                                    "array") from None
                if version == (1, 0):
                    shape, _, dtype = np.lib.format.read_array_header_1_0(f)
                elif version == (2, 0):
                    shape, _, dtype = np.lib.format.read_array_header_2_0(f)
                else:
                    raise DataError(f"{path}: {info.filename} has .npy format {version}, "
                                    "not 1.0 or 2.0")
            needed = math.prod(shape) * dtype.itemsize
            if needed > MAX_ARRAY_BYTES:
                raise _too_large(path, f"the header of {info.filename} (shape {shape})", needed)
            if needed > info.file_size:
                raise DataError(f"{path}: {info.filename} promises shape {shape} ({needed:,} "
                                f"bytes) but holds {info.file_size:,}; the file is corrupt")


def read_npz(path) -> tuple[np.ndarray, np.ndarray]:
    """An ``.npz`` with arrays ``x`` (N, H, W[, C]) and ``y`` (N,); sizes are checked before
    reading (:func:`_check_npz`)."""
    path = Path(path)
    try:
        _check_npz(path)
    except DataError:
        raise
    except (OSError, ValueError, zlib.error, EOFError, zipfile.BadZipFile) as e:
        raise DataError(f"{path}: cannot read npz ({e}); the file is corrupt or truncated") from e
    try:
        with np.load(path) as f:
            x, y = f["x"], f["y"]
    except KeyError as e:
        raise DataError(f"{path}: an npz dataset needs arrays 'x' and 'y' ({e})") from e
    except (OSError, ValueError, zlib.error, EOFError, zipfile.BadZipFile) as e:
        raise DataError(f"{path}: cannot read npz ({e}); the file is corrupt or truncated") from e
    if len(x) != len(y):
        raise DataError(f"{path}: {len(x)} images but {len(y)} labels")
    return x, y
