"""Datasets: ``zoo.data.load(name, split)`` and the on-disk format readers."""

from zoo.data.datasets import DATASETS, DatasetInfo, dataset_info, load, load_raw, normalize_images
from zoo.data.formats import DataError, read_cifar_batch, read_idx, read_npz, sha256

__all__ = ["DATASETS", "DataError", "DatasetInfo", "dataset_info", "load", "load_raw",
           "normalize_images", "read_cifar_batch", "read_idx", "read_npz", "sha256"]
