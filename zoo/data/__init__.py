"""Datasets: ``zoo.data.load(name, split)`` and the on-disk format readers."""

from zoo.data.datasets import (
    DATASETS,
    VALIDATION_FRACTION,
    DatasetInfo,
    class_names,
    dataset_info,
    decode_predictions,
    holdout,
    load,
    load_raw,
    normalize_images,
)
from zoo.data.formats import DataError, read_cifar_batch, read_idx, read_npz, sha256

__all__ = ["DATASETS", "VALIDATION_FRACTION", "DataError", "DatasetInfo", "class_names",
           "dataset_info", "decode_predictions", "holdout",
           "load", "load_raw",
           "normalize_images", "read_cifar_batch", "read_idx", "read_npz", "sha256"]
