"""``zoo.data.load``: the papers' datasets from local files, system folders, TensorFlow
Datasets or the embedded scikit-learn digits -- the first source that has them.

Images come back channels-last as float32 raw 0-255 pixels by default -- what every zoo model
built for a dataset takes (it standardizes them itself) -- or normalized on request
(``normalize="standardize"``: per channel with the dataset's usual mean/std in 0-255 units;
``"unit"``: [0, 1]), labels as int64. With ``batch_size`` a
shuffled, augmented, prefetched ``tf.data.Dataset`` comes back instead; Keras 3 trains from it
on every backend. Without TensorFlow (Keras on JAX or PyTorch alone) the batches come from
NumPy (:class:`zoo.data.batches.ArrayBatches`, a ``keras.utils.PyDataset``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from zoo import validation as check
from zoo.data.formats import (
    CIFAR_RELEASE_MD5,
    DataError,
    read_cifar_batch,
    read_idx,
    read_npz,
    verify_checksum,
)

SPLITS = ("train", "test")
NORMALIZATIONS = ("standardize", "unit", None)
AUGMENTATIONS = ("crop_flip", "crop", None)


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    shape: tuple[int, int, int]
    num_classes: int
    sizes: dict  # split -> number of examples in the canonical release
    mean: tuple  # per channel, 0-255 units
    std: tuple
    licence: str
    tfds_name: str | None
    augment: str | None  # the papers' training augmentation
    folders: tuple = ()  # candidate sub-folders of a data directory
    system_dirs: tuple = ()
    checksums: dict = field(default_factory=dict)  # file name -> sha256


_MNIST_SHA = {
    "train-images-idx3-ubyte.gz": "db8f937d487057fb14a9f0fbe97f0bc8d311ab41b750d41e1ff37c43b9e55e19",
    "train-labels-idx1-ubyte.gz": "51fc562b6747b666fbf6e84ce29d43c3cb5f9c388c664d43b33f02095313405a",
    "t10k-images-idx3-ubyte.gz": "cfeddb84311ecf044fc6a5b0f6ee8a24d265d4e83e388400186eb114082f4209",
    "t10k-labels-idx1-ubyte.gz": "e41c74e484045d39b462a7790a4af51301bd9b0b24f0154798d713ec68c45920",
}
_FASHION_SHA = {
    "train-images-idx3-ubyte.gz": "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
    "train-labels-idx1-ubyte.gz": "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
    "t10k-images-idx3-ubyte.gz": "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
    "t10k-labels-idx1-ubyte.gz": "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
}

# Means and standard deviations are the commonly used training-set statistics (x 255).
DATASETS = {
    d.name: d
    for d in [
        DatasetInfo("mnist", (28, 28, 1), 10, {"train": 60000, "test": 10000},
                    (33.32,), (78.57,), "CC BY-SA 3.0 (LeCun, Cortes, Burges)", "mnist",
                    None, ("mnist", "MNIST"), (), _MNIST_SHA),
        DatasetInfo("fashion_mnist", (28, 28, 1), 10, {"train": 60000, "test": 10000},
                    (72.94,), (90.02,), "MIT (Zalando Research)", "fashion_mnist", None,
                    ("fashion-mnist", "fashion_mnist"), ("/usr/share/datasets/fashion-mnist",),
                    _FASHION_SHA),
        DatasetInfo("cifar10", (32, 32, 3), 10, {"train": 50000, "test": 10000},
                    (125.31, 122.95, 113.87), (62.99, 62.09, 66.70),
                    "see https://www.cs.toronto.edu/~kriz/cifar.html (Krizhevsky 2009)",
                    "cifar10", "crop_flip",
                    ("cifar-10-batches-py", "cifar10/cifar-10-batches-py", "cifar10")),
        DatasetInfo("cifar100", (32, 32, 3), 100, {"train": 50000, "test": 10000},
                    (129.30, 124.07, 112.43), (68.17, 65.39, 70.42),
                    "see https://www.cs.toronto.edu/~kriz/cifar.html (Krizhevsky 2009)",
                    "cifar100", "crop_flip",
                    ("cifar-100-python", "cifar100/cifar-100-python", "cifar100")),
        # Digits are not flipped: a mirrored digit is another symbol (residual-zoo's choice).
        DatasetInfo("svhn_cropped", (32, 32, 3), 10, {"train": 73257, "test": 26032},
                    (111.61, 113.16, 120.57), (50.50, 51.26, 50.24),
                    "non-commercial use only (Netzer et al. 2011)", "svhn_cropped", "crop",
                    ("svhn_cropped", "svhn")),
        DatasetInfo("digits", (8, 8, 1), 10, {"train": 1437, "test": 360}, (77.90,),
                    (95.85,), "CC BY 4.0 (UCI optdigits, shipped with scikit-learn)", None,
                    None),
    ]
}


_DIGITS = tuple(str(d) for d in range(10))
# label index -> name, as the releases define them (CIFAR-100: its 100 fine labels, sorted)
CLASS_NAMES = {
    "mnist": _DIGITS,
    "digits": _DIGITS,
    "svhn_cropped": _DIGITS,  # the release's label 10 is digit 0 (read as 0)
    "fashion_mnist": ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                      "Sneaker", "Bag", "Ankle boot"),
    "cifar10": ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                "truck"),
    "cifar100": tuple("""apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl
        boy bridge bus butterfly camel can castle caterpillar cattle chair chimpanzee clock
        cloud cockroach couch crab crocodile cup dinosaur dolphin elephant flatfish forest fox
        girl hamster house kangaroo keyboard lamp lawn_mower leopard lion lizard lobster man
        maple_tree motorcycle mountain mouse mushroom oak_tree orange orchid otter palm_tree
        pear pickup_truck pine_tree plain plate poppy porcupine possum rabbit raccoon ray road
        rocket rose sea seal shark shrew skunk skyscraper snail snake spider squirrel streetcar
        sunflower sweet_pepper table tank telephone television tiger tractor train trout tulip
        turtle wardrobe whale willow_tree wolf woman worm""".split()),
}


def class_names(name: str) -> list[str]:
    """The names of a dataset's classes, by label index: ``class_names("fashion_mnist")[9]``
    is ``"Ankle boot"``."""
    return list(CLASS_NAMES[dataset_info(name).name])


def decode_predictions(probabilities, classes, *, top: int = 1):
    """Turn a model's outputs into class names, as ``keras.applications`` does: for each row,
    the ``top`` ``(name, probability)`` pairs, most probable first.

    ``classes``: a dataset name (``"mnist"``), a pretrained model's name
    (``"resnet20.mnist"``: its card's ``classes``) or a list of names.
    """
    probabilities = np.asarray(probabilities)
    if probabilities.ndim == 1:
        probabilities = probabilities[None]
    if isinstance(classes, str):
        if classes in DATASETS:
            names = class_names(classes)
        else:
            from zoo.pretrained.hub import pretrained_card  # reads the card only

            card = pretrained_card(classes)
            names = card.get("classes") or class_names(card["dataset"]["name"])
    else:
        names = [str(c) for c in classes]
    if probabilities.ndim != 2 or probabilities.shape[1] != len(names):
        raise ValueError(f"predictions of shape {probabilities.shape} do not match "
                         f"{len(names)} class names")
    top = check.positive_int("top", top)
    order = np.argsort(-probabilities, axis=1, kind="stable")[:, :top]
    return [[(names[i], float(row[i])) for i in idx] for row, idx in zip(probabilities, order)]


def dataset_info(name: str) -> DatasetInfo:
    if name not in DATASETS:
        raise ValueError(f"dataset must be one of {', '.join(map(repr, DATASETS))}, got {name!r}")
    return DATASETS[name]


# ---- local sources ----------------------------------------------------------------------

_IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def _find(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.is_file():
            return candidate
    return None


def _read_idx_folder(info, folder, split):
    paths = [_find(folder, stem) for stem in _IDX_FILES[split]]
    if None in paths:
        return None
    for p in paths:
        verify_checksum(p, info.checksums.get(p.name))
    x, y = read_idx(paths[0]), read_idx(paths[1])
    if len(x) != len(y):
        raise DataError(f"{folder}: {len(x)} images but {len(y)} labels for split {split!r}")
    return x[..., None], y.astype(np.int64)


def _read_cifar_folder(info, folder, split):
    if info.name == "cifar10":
        names = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
        key = "labels"
    else:
        names, key = [split], "fine_labels"
    paths = [folder / n for n in names]
    if not all(p.is_file() for p in paths):
        return None
    parts = [read_cifar_batch(p, key, CIFAR_RELEASE_MD5.get((info.name, p.name))) for p in paths]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def _read_svhn_folder(info, folder, split):
    path = folder / f"{split}_32x32.mat"  # the release's MATLAB files
    if not path.is_file():
        return None
    from scipy.io import loadmat

    try:
        mat = loadmat(path)
        x = np.transpose(mat["X"], (3, 0, 1, 2))
        y = mat["y"].reshape(-1).astype(np.int64) % 10  # the release labels digit 0 as 10
    except Exception as e:  # scipy raises several types for broken files
        raise DataError(f"{path}: cannot read SVHN .mat file ({e}); corrupt or truncated") from e
    return x, y


_READERS = {"mnist": _read_idx_folder, "fashion_mnist": _read_idx_folder,
            "cifar10": _read_cifar_folder, "cifar100": _read_cifar_folder,
            "svhn_cropped": _read_svhn_folder}


def _from_directory(info, root: Path, split):
    for sub in info.folders:
        folder = root / sub
        if folder.is_dir():
            found = _READERS[info.name](info, folder, split)
            if found is not None:
                return found, str(folder)
        npz = folder / f"{split}.npz"
        if npz.is_file():
            return read_npz(npz), str(npz)
    return None


def _online(host="storage.googleapis.com", timeout=3.0) -> bool:
    """A quick reachability check, so an offline machine fails in seconds rather than
    after TFDS's minutes of download retries."""
    import socket

    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def _from_tfds(info, split, data_dir, download):
    import logging

    import tensorflow_datasets as tfds

    kwargs = dict(split=split, as_supervised=True)
    if data_dir is not None:
        kwargs["data_dir"] = str(data_dir)
    absl = logging.getLogger("absl")  # tfds warns there of folders it merely looked into
    level = absl.level
    absl.setLevel(logging.ERROR)
    try:  # already prepared (or mocked): no network needed
        data = tfds.load(info.tfds_name, download=False, **kwargs)
    except Exception as first:
        if not download:
            raise
        if not _online():
            raise ConnectionError("offline: no network to download from") from first
        absl.setLevel(level)  # a download's progress and problems are the user's to see
        data = tfds.load(info.tfds_name, download=True, **kwargs)
    finally:
        absl.setLevel(level)
    # Chunks, not batch_size=-1: one whole-split batch aborts inside TF for generator-backed
    # datasets (seen with tfds.testing.mock_data, tfds 4.9.10 / TF 2.21).
    chunks = list(tfds.as_numpy(data.batch(8192)))
    x = np.concatenate([c[0] for c in chunks])
    y = np.concatenate([c[1] for c in chunks]).astype(np.int64)
    return (x, y), f"tensorflow-datasets:{info.tfds_name}"


def _digits(split):
    from sklearn.datasets import load_digits

    bunch = load_digits()
    # pixel values 0..16 -> 0..255 so that every dataset shares the raw-pixel contract
    x = np.round(bunch.images * (255 / 16)).astype(np.uint8)[..., None]
    y = bunch.target.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(x))  # fixed split, same everywhere
    n_train = DATASETS["digits"].sizes["train"]
    idx = order[:n_train] if split == "train" else order[n_train:]
    return x[idx], y[idx]


def load_raw(name, split="train", *, data_dir=None, download=None):
    """``(images uint8 NHWC, labels int64, source)`` from the first source that has them."""
    info = dataset_info(name)
    check.choice("split", split, SPLITS)
    if data_dir is not None and not Path(data_dir).expanduser().is_dir():
        # a folder named by hand that is not there is a typo, not a reason to look elsewhere
        raise DataError(f"data_dir {data_dir} is not a folder (to let tensorflow-datasets "
                        "download into a new one, create it first)")
    if name == "digits":
        x, y = _digits(split)
        return x, y, "scikit-learn (embedded)"
    looked = []
    roots = [("data_dir", data_dir), ("ZOO_DATA_DIR", os.environ.get("ZOO_DATA_DIR"))]
    for label, root in roots:
        if not root and label == "ZOO_DATA_DIR":
            looked.append("ZOO_DATA_DIR (not set)")
        if root:
            root = Path(root).expanduser()
            looked.append(f"{label}={root} (sub-folders {', '.join(info.folders)})")
            found = _from_directory(info, root, split)
            if found:
                (x, y), source = found
                return (*check_arrays(x, y, info, source), source)
    for folder in info.system_dirs:
        looked.append(folder)
        if Path(folder).is_dir():
            found = _READERS[name](info, Path(folder), split)
            if found is not None:
                return (*found, folder)
    if download is None:
        download = os.environ.get("ZOO_OFFLINE", "0") != "1"
    try:
        (x, y), source = _from_tfds(info, split, data_dir, download)
        return x, y, source
    except Exception as e:  # tfds raises many kinds of errors when offline or unprepared
        looked.append(f"tensorflow-datasets '{info.tfds_name}' ({type(e).__name__}: {str(e)[:120]})")
    raise DataError(
        f"dataset {name!r} ({split}) not found. Looked in:\n  - " + "\n  - ".join(looked)
        + f"\nProvide it by setting ZOO_DATA_DIR (or data_dir=) to a folder holding "
        f"{info.folders[0]}/ in the original release format (or {info.folders[0]}/{split}.npz "
        "with arrays x, y), or go online so tensorflow-datasets can download it."
    )


def check_arrays(x, y, info, source):
    """Images and labels read from a user's files, checked against the raw-pixel contract
    (integers 0-255, NHWC of the dataset's shape) and the label range; each problem is one
    :class:`DataError` naming the source."""
    x, y = np.asarray(x), np.asarray(y)
    if len(x) == 0:
        raise DataError(f"{source}: holds no examples")
    if x.ndim == 3 and info.shape[-1] == 1:
        x = x[..., None]
    if tuple(x.shape[1:]) != tuple(info.shape):
        raise DataError(f"{source}: images have shape {tuple(x.shape[1:])}, {info.name} "
                        f"images are {tuple(info.shape)} (height, width, channels)")
    if not np.issubdtype(x.dtype, np.integer):
        if not np.issubdtype(x.dtype, np.floating) or not np.all(np.isfinite(x)):
            raise DataError(f"{source}: images must be numbers 0-255, got dtype {x.dtype}")
        if x.max() <= 1.0:
            raise DataError(f"{source}: images look scaled to [0, 1]; the zoo reads raw "
                            "0-255 pixels (multiply by 255 and store them as uint8)")
        if np.any(x != np.round(x)):
            raise DataError(f"{source}: float images must hold whole 0-255 pixel values")
    if x.min() < 0 or x.max() > 255:
        raise DataError(f"{source}: pixel values must lie in 0-255, found {x.min()}..{x.max()}")
    if y.ndim != 1 or len(y) != len(x):
        raise DataError(f"{source}: expected {len(x)} labels in a 1-D array, got shape {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"{source}: labels must be integers, got dtype {y.dtype}")
    if y.min() < 0 or y.max() >= info.num_classes:
        raise DataError(f"{source}: labels must lie in 0..{info.num_classes - 1} for "
                        f"{info.name}, found {y.min()}..{y.max()}")
    return x.astype(np.uint8), y.astype(np.int64)


def normalize_images(x, info, normalize="standardize"):
    check.choice("normalize", normalize, NORMALIZATIONS)
    x = np.asarray(x, dtype=np.float32)
    if normalize == "standardize":
        return (x - np.asarray(info.mean, np.float32)) / np.asarray(info.std, np.float32)
    if normalize == "unit":
        return x / 255.0
    return x


def load(
    name,
    split="train",
    *,
    data_dir=None,
    normalize=None,
    subset=None,
    seed=0,
    batch_size=None,
    shuffle=None,
    augment="default",
    download=None,
):
    """Load a dataset split.

    Args:
        name: mnist, fashion_mnist, cifar10, cifar100, svhn_cropped or digits.
        split: "train" or "test".
        data_dir: a folder to look in before ``ZOO_DATA_DIR``, the system folders and TFDS.
        normalize: None (default: raw 0-255 pixels, what zoo models take), "standardize"
            (per channel, for a model of your own without a normalization layer) or "unit"
            ([0, 1]).
        subset: keep this many examples (a seeded random, class-balanced-in-expectation
            sample), e.g. for quick runs.
        seed: for the subset, the shuffling and the augmentation.
        batch_size: None returns ``(x, y)`` NumPy arrays; an int returns a batched,
            prefetched ``tf.data.Dataset`` of ``(x, y)`` (without TensorFlow, an
            :class:`~zoo.data.batches.ArrayBatches`, a ``keras.utils.PyDataset`` that
            shuffles itself: pass ``shuffle=False`` to ``model.fit``, and it has no
            ``take()`` or ``cardinality()``).
        shuffle: shuffle each epoch (default: for the train split).
        augment: "default" (the papers': pad-4 crop + flip for CIFAR, pad-4 crop for SVHN, on
            the train split), "crop_flip", "crop" or None.
        download: let TFDS download (default: unless ``ZOO_OFFLINE=1``).
    """
    info = dataset_info(name)
    x, y, _ = load_raw(name, split, data_dir=data_dir, download=download)
    if subset is not None:
        subset = check.positive_int("subset", subset)
        if subset < len(x):
            idx = np.sort(np.random.default_rng(seed).choice(len(x), subset, replace=False))
            x, y = x[idx], y[idx]
    x = normalize_images(x, info, normalize)
    if batch_size is None:
        return x, y
    batch_size = check.positive_int("batch_size", batch_size)
    if augment == "default":
        augment = info.augment if split == "train" else None
    check.choice("augment", augment, AUGMENTATIONS)
    shuffle = split == "train" if shuffle is None else bool(shuffle)
    return _pipeline(x, y, batch_size, shuffle, augment, seed)


VALIDATION_FRACTION = 0.1  # the default share of the training split held out for validation


def holdout(x, y, fraction=VALIDATION_FRACTION, *, seed=0):
    """Split training data into ``(x_train, y_train), (x_val, y_val)``: a seeded, stratified
    ``fraction`` of every class is held out for validation (model selection, early stopping),
    so the test split stays untouched until the final report. Order within each part is the
    original order."""
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) \
            or not 0 < fraction < 1:
        raise ValueError(f"validation fraction must be a number in (0, 1), got {fraction!r}")
    y = np.asarray(y)
    rng = np.random.default_rng([int(seed), 20261203])
    held = []
    for label in np.unique(y):
        members = np.flatnonzero(y == label)
        take = int(round(fraction * len(members)))
        held.append(rng.permutation(members)[:take])
    mask = np.zeros(len(y), bool)
    mask[np.concatenate(held) if held else []] = True
    if mask.all() or not mask.any():
        raise ValueError(f"a validation fraction of {fraction} of {len(y)} examples leaves "
                         "nothing to train on or nothing to validate on")
    return (x[~mask], y[~mask]), (x[mask], y[mask])


def pipeline_name() -> str:
    """The training-batch pipeline this machine uses: ``"tf.data"`` where TensorFlow is
    installed, else ``"numpy"`` (:mod:`zoo.data.batches`)."""
    from zoo.quiet import import_tensorflow_quietly

    try:  # imported already wherever Keras runs on it; quietly where it runs on another
        import_tensorflow_quietly()
    except ImportError:
        return "numpy"
    return "tf.data"


def _pipeline(x, y, batch_size, shuffle, augment, seed):
    if pipeline_name() == "numpy":  # Keras on JAX or PyTorch without TensorFlow
        from zoo.data.batches import ArrayBatches

        return ArrayBatches(x, y, batch_size, shuffle=shuffle, augment=augment, seed=seed)
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((x, y))
    if shuffle:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    if augment:
        height, width = x.shape[1:3]
        flip = augment == "crop_flip"

        def _augment(pair, rnd):
            image, label = pair
            s = tf.stack([tf.cast(rnd, tf.int32), tf.constant(seed, tf.int32)])
            padded = tf.pad(image, [[4, 4], [4, 4], [0, 0]])
            image = tf.image.stateless_random_crop(padded, (height, width, x.shape[3]), seed=s)
            if flip:
                image = tf.image.stateless_random_flip_left_right(image, seed=s + 1)
            return image, label

        # a seeded random stream that differs per epoch and per element: reproducible
        randoms = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
        ds = tf.data.Dataset.zip((ds, randoms)).map(_augment, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)
