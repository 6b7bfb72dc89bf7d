"""Loading ``.keras`` files a user hands us: safely, and with one clear error when it fails.

Keras reports a file that is not a zip archive (a text file, a truncated download) as "File
not found"; here every such case names the file and what is wrong with it. ``safe_mode`` is
always on, so a file cannot run code (no Lambda layers with pickled bytecode).
"""

from __future__ import annotations

import zipfile
from pathlib import Path


def check_keras_file(path) -> Path:
    """``path`` if it looks like a whole ``.keras`` archive; ValueError naming it otherwise."""
    path = Path(path)
    if not path.exists():
        raise ValueError(f"{path}: no such file")
    if not path.is_file():
        raise ValueError(f"{path}: is a folder, not a .keras file")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path}: not a .keras file (not a zip archive: truncated, or not a "
                         "saved Keras model)")
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            broken = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise ValueError(f"{path}: corrupt .keras archive ({e})") from None
    if broken is not None:
        raise ValueError(f"{path}: corrupt .keras archive ({broken} fails its CRC check)")
    if "config.json" not in names:
        raise ValueError(f"{path}: a zip archive without config.json, not a saved Keras model")
    return path


def load_model(path, *, compile=True):
    """``keras.saving.load_model(path, safe_mode=True)`` after :func:`check_keras_file`."""
    import keras

    return keras.saving.load_model(check_keras_file(path), safe_mode=True, compile=compile)
