"""The one file hash the zoo uses: for data files, published models and files it loads."""

from __future__ import annotations

import hashlib


def sha256(path) -> str:
    """The sha256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
