"""Dataset readers against real files and generated files in the real on-disk formats."""

import gzip
import hashlib
import os
import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest

from zoo import data
from zoo.data import DataError, datasets, formats

SHARED = Path(os.environ.get("ZOO_DATA_DIR", "")) if os.environ.get("ZOO_DATA_DIR") else None
needs_real_data = pytest.mark.skipif(
    SHARED is None or not (SHARED / "mnist").is_dir(),
    reason="REAL-DATA TEST SKIPPED: set ZOO_DATA_DIR to a folder with mnist/ and fashion-mnist/",
)


@pytest.fixture
def no_env_data(monkeypatch):
    monkeypatch.delenv("ZOO_DATA_DIR", raising=False)
    monkeypatch.setattr(datasets, "_online", lambda *a, **k: False)


def write_idx(path, array):
    codes = {np.dtype(np.uint8): 0x08}
    header = bytes([0, 0, codes[array.dtype], array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.tobytes())


@needs_real_data
@pytest.mark.real_data
def test_mnist_from_shared_idx_files():
    x, y, source = data.load_raw("mnist", "train")
    assert x.shape == (60000, 28, 28, 1) and x.dtype == np.uint8
    assert y[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert np.bincount(y).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert source.endswith("mnist")
    xt, yt, _ = data.load_raw("mnist", "test")
    assert xt.shape == (10000, 28, 28, 1) and len(yt) == 10000
    fx, fy, _ = data.load_raw("fashion_mnist", "test")
    assert fx.shape == (10000, 28, 28, 1) and np.bincount(fy).tolist() == [1000] * 10


def test_idx_roundtrip_and_corruption(tmp_path):
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / "a.gz", array)
    np.testing.assert_array_equal(data.read_idx(tmp_path / "a.gz"), array)
    raw = gzip.open(tmp_path / "a.gz").read()
    with gzip.open(tmp_path / "short.gz", "wb") as f:
        f.write(raw[:-5])
    with pytest.raises(DataError, match=r"short.gz: truncated or corrupt IDX data"):
        data.read_idx(tmp_path / "short.gz")
    (tmp_path / "broken.gz").write_bytes(open(tmp_path / "a.gz", "rb").read()[:20])
    with pytest.raises(DataError, match="broken.gz: cannot read IDX file"):
        data.read_idx(tmp_path / "broken.gz")
    (tmp_path / "text").write_bytes(b"hello world")
    with pytest.raises(DataError, match="text: not an IDX file"):
        data.read_idx(tmp_path / "text")


def test_known_checksums_are_verified(tmp_path, no_env_data):
    folder = tmp_path / "mnist"
    folder.mkdir()
    write_idx(folder / "t10k-images-idx3-ubyte.gz", np.zeros((3, 28, 28), np.uint8))
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.zeros(3, np.uint8))
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte.gz: sha256 mismatch"):
        data.load("mnist", "test", data_dir=tmp_path)


def write_cifar(folder, n, classes, label_key, names):
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    expected = []
    for name in names:
        rows = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        labels = rng.integers(0, classes, size=n).tolist()
        batch = {b"batch_label": name.encode(), label_key.encode(): labels, b"data": rows,
                 b"filenames": [f"{i}.png".encode() for i in range(n)]}
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f, protocol=2)
        expected.append((rows, labels))
    return expected


def test_cifar10_python_batches(tmp_path, no_env_data, monkeypatch):
    names = [f"data_batch_{i}" for i in range(1, 6)]
    expected = write_cifar(tmp_path / "cifar-10-batches-py", 4, 10, "labels", names)
    write_cifar(tmp_path / "other", 3, 10, "labels", ["test_batch"])
    (tmp_path / "other" / "test_batch").rename(tmp_path / "cifar-10-batches-py" / "test_batch")
    # not the release files: read all the same (arrays only), with one warning per file
    with pytest.warns(UserWarning, match="data_batch_1: md5 differs from the CIFAR release") \
            as caught:
        x, y, source = data.load_raw("cifar10", "train", data_dir=tmp_path)
    assert len(caught) == 5
    assert x.shape == (20, 32, 32, 3) and y.shape == (20,)
    rows, labels = expected[0]
    # channel-major rows: red plane, then green, then blue, each 32x32 row-major
    assert x[0, 0, 1, 0] == rows[0, 1] and x[0, 0, 1, 1] == rows[0, 1024 + 1]
    assert x[0, 2, 3, 2] == rows[0, 2048 + 2 * 32 + 3]
    assert y[:4].tolist() == labels
    # a file with the release's md5 passes without a word
    test_batch = tmp_path / "cifar-10-batches-py" / "test_batch"
    assert formats.md5(test_batch) == hashlib.md5(test_batch.read_bytes()).hexdigest()
    monkeypatch.setitem(formats.CIFAR_RELEASE_MD5, ("cifar10", "test_batch"),
                        formats.md5(test_batch))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        xt, _ = data.load("cifar10", "test", data_dir=tmp_path)
    assert xt.shape == (3, 32, 32, 3) and xt.dtype == np.float32
    assert formats.CIFAR_RELEASE_MD5[("cifar10", "data_batch_1")] == \
        "c99cafc152244af753f735de768cd75f"  # the published value
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").write_bytes(b"\x80\x02}q\x00")
    with pytest.raises(DataError, match="data_batch_3: cannot read CIFAR batch"):
        data.load_raw("cifar10", "train", data_dir=tmp_path)


def test_cifar100_fine_labels(tmp_path, no_env_data):
    write_cifar(tmp_path / "cifar-100-python", 5, 100, "fine_labels", ["train", "test"])
    x, y, _ = data.load_raw("cifar100", "test", data_dir=tmp_path)
    assert x.shape == (5, 32, 32, 3) and y.max() < 100


def test_svhn_mat_files(tmp_path, no_env_data):
    from scipy.io import savemat

    folder = tmp_path / "svhn_cropped"
    folder.mkdir()
    X = np.random.default_rng(0).integers(0, 256, size=(32, 32, 3, 6), dtype=np.uint8)
    savemat(folder / "train_32x32.mat", {"X": X, "y": np.array([[10], [1], [2], [3], [9], [10]])})
    x, y, _ = data.load_raw("svhn_cropped", "train", data_dir=tmp_path)
    assert x.shape == (6, 32, 32, 3) and y.tolist() == [0, 1, 2, 3, 9, 0]
    np.testing.assert_array_equal(x[2], X[..., 2])


def test_npz_files(tmp_path, no_env_data):
    folder = tmp_path / "cifar10"
    folder.mkdir()
    np.savez(folder / "test.npz", x=np.zeros((7, 32, 32, 3), np.uint8), y=np.arange(7) % 10)
    x, y = data.load("cifar10", "test", data_dir=tmp_path, normalize=None)
    assert x.shape == (7, 32, 32, 3) and y.tolist() == list(range(7))


def test_tfds_path_with_mock_data(no_env_data):
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=12):
        x, y, source = data.load_raw("svhn_cropped", "test")
    assert source == "tensorflow-datasets:svhn_cropped"
    assert x.shape == (12, 32, 32, 3) and y.shape == (12,)


def test_offline_without_data_lists_where_it_looked(tmp_path, no_env_data):
    with pytest.raises(DataError) as err:
        data.load("cifar100", "train", data_dir=tmp_path)
    message = str(err.value)
    assert "dataset 'cifar100' (train) not found" in message
    assert f"data_dir={tmp_path}" in message and "ZOO_DATA_DIR (not set)" in message
    assert "tensorflow-datasets 'cifar100'" in message and "cifar-100-python/" in message


def test_digits_split_and_normalization():
    x, y = data.load("digits", "train", normalize="standardize")
    xt, yt = data.load("digits", "test")
    assert x.shape == (1437, 8, 8, 1) and xt.shape == (360, 8, 8, 1)
    assert abs(float(x.mean())) < 0.05 and abs(float(x.std()) - 1) < 0.05
    # the default is raw pixels: what every zoo model takes
    assert xt.dtype == np.float32 and xt.max() == 255 and np.all(xt == np.round(xt))
    raw_train, _, _ = data.load_raw("digits", "train")
    raw_test, _, _ = data.load_raw("digits", "test")
    train_rows = {r.tobytes() for r in raw_train}
    assert sum(r.tobytes() in train_rows for r in raw_test) < 10  # (the UCI set has duplicates)
    unit, _ = data.load("digits", "test", normalize="unit")
    assert 0 <= unit.min() and unit.max() <= 1


def test_pipeline_batches_augments_and_is_seeded(tmp_path, no_env_data):
    folder = tmp_path / "cifar10"
    folder.mkdir()
    rng = np.random.default_rng(0)
    np.savez(folder / "train.npz", x=rng.integers(0, 256, (40, 32, 32, 3), dtype=np.uint8),
             y=np.arange(40) % 10)
    first = [next(iter(data.load("cifar10", "train", data_dir=tmp_path, batch_size=8, seed=s)))
             for s in (1, 1, 2)]
    assert first[0][0].shape == (8, 32, 32, 3)
    np.testing.assert_array_equal(first[0][0].numpy(), first[1][0].numpy())
    assert not np.array_equal(first[0][0].numpy(), first[2][0].numpy())
    plain = data.load("cifar10", "train", data_dir=tmp_path, batch_size=40, shuffle=False,
                      augment=None)
    crop = data.load("cifar10", "train", data_dir=tmp_path, batch_size=40, shuffle=False)
    a, b = next(iter(plain))[0].numpy(), next(iter(crop))[0].numpy()
    assert a.shape == b.shape and not np.allclose(a, b)
    # a crop of the zero-padded image: zeros enter from the border, content is shifted
    assert (b == 0).any()


def test_subset_is_seeded_sample():
    a, ya = data.load("digits", "train", subset=100, seed=3)
    b, yb = data.load("digits", "train", subset=100, seed=3)
    c, _ = data.load("digits", "train", subset=100, seed=4)
    np.testing.assert_array_equal(a, b)
    assert len(a) == 100 and not np.array_equal(a, c)


def test_bad_arguments():
    with pytest.raises(ValueError, match="dataset must be one of .*got 'imagenet'"):
        data.load("imagenet")
    with pytest.raises(ValueError, match="split must be one of 'train', 'test', got 'val'"):
        data.load("digits", "val")
    with pytest.raises(ValueError, match="normalize must be one of"):
        data.load("digits", normalize="zscore")


def test_numpy_batches_cover_every_example_once_per_epoch_seeded_and_reshuffled():
    from zoo.data.batches import ArrayBatches

    x = np.arange(50, dtype=np.float32).reshape(50, 1, 1, 1) * np.ones((1, 3, 3, 2), np.float32)
    y = np.arange(50)
    batches = ArrayBatches(x, y, 16, seed=7)
    assert len(batches) == 4  # 16 + 16 + 16 + 2: the last batch is partial, none dropped

    def epoch(b):
        parts = [b[i] for i in range(len(b))]
        b.on_epoch_end()
        return np.concatenate([p[1] for p in parts]), np.concatenate([p[0] for p in parts])

    first, images = epoch(batches)
    second, _ = epoch(batches)
    assert sorted(first) == sorted(second) == list(range(50))  # each example once per epoch
    assert not np.array_equal(first, second)  # a new order every epoch
    np.testing.assert_array_equal(images[:, 0, 0, 0], first)  # images stay with their labels
    again = ArrayBatches(x, y, 16, seed=7)
    np.testing.assert_array_equal(epoch(again)[0], first)  # seeded
    assert not np.array_equal(epoch(ArrayBatches(x, y, 16, seed=8))[0], first)
    np.testing.assert_array_equal(epoch(ArrayBatches(x, y, 16, shuffle=False))[0], y)
    with pytest.raises(IndexError):
        batches[4]
    with pytest.raises(ValueError, match="augment must be 'crop', 'crop_flip' or None, got 'jitter'"):
        ArrayBatches(x, y, 16, augment="jitter")


@pytest.mark.parametrize("augment", ["crop", "crop_flip"])
def test_numpy_augmentation_is_a_window_of_the_zero_padded_image(augment):
    from zoo.data.batches import PAD, ArrayBatches

    rng = np.random.default_rng(0)
    x = rng.integers(1, 256, (64, 10, 12, 3)).astype(np.float32)  # no zeros of its own
    y = np.arange(64)
    crops, mirrored = ArrayBatches(x, y, 64, shuffle=False, augment=augment, seed=3)[0][0], 0
    assert crops.shape == x.shape
    padded = np.pad(x, ((0, 0), (PAD, PAD), (PAD, PAD), (0, 0)))
    offsets = []
    for image, source in zip(crops, padded):
        windows = {(t, s): source[t:t + 10, s:s + 12] for t in range(2 * PAD + 1)
                   for s in range(2 * PAD + 1)}
        found = [o for o, w in windows.items() if np.array_equal(image, w)]
        if not found:
            found = [o for o, w in windows.items() if np.array_equal(image[:, ::-1], w)]
            assert augment == "crop_flip" and len(found) == 1
            mirrored += 1
        offsets.append(found[0])
    tops, lefts = zip(*offsets)
    # the offsets cover the range, each axis drawn on its own
    assert len(set(tops)) >= 6 and len(set(lefts)) >= 6 and tops != lefts
    if augment == "crop_flip":
        assert 16 < mirrored < 48  # about half (seeded; 16 and 48 are 4 SD from 32)
    assert (crops == 0).any()  # zeros come in from the border
    assert not np.array_equal(crops, x)


def test_numpy_batches_follow_keras_epochs_so_a_resumed_fit_sees_the_same_batches():
    import keras

    from zoo.data.batches import ArrayBatches, EpochSync

    class Recording(ArrayBatches):  # what model.fit actually draws, epoch by epoch
        def __getitem__(self, index):
            x, y = super().__getitem__(index)
            self.served.append((self.epoch, index, tuple(y.tolist())))
            return x, y

    x = np.random.default_rng(0).normal(size=(50, 4)).astype(np.float32)
    y = np.arange(50)  # one class per example: the labels name the examples

    def fit(initial_epoch):
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(50)])
        model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        batches = Recording(x, y, 16, augment=None, seed=3)
        batches.served = []
        model.fit(batches, epochs=3, initial_epoch=initial_epoch, shuffle=False, verbose=0,
                  callbacks=[EpochSync(batches)])
        by_epoch = {}
        for epoch, index, labels in batches.served:
            by_epoch.setdefault(epoch, {})[index] = labels  # a re-drawn batch is the same
        return {e: [b[i] for i in sorted(b)] for e, b in by_epoch.items()}

    full, resumed = fit(0), fit(1)
    for epoch in (0, 1, 2):
        assert sorted(sum(full[epoch], ())) == list(range(50))  # each example once
    assert full[0] != full[1] != full[2] != full[0]  # Keras's epochs get new orders
    assert resumed[1] == full[1] and resumed[2] == full[2]  # resumed at epoch 1: the same
