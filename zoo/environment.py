"""The machine and libraries a result is made with: recorded beside every run and search
(:func:`environment`), and asked by the code that picks per device (:func:`has_gpu`: grouped
convolutions, the mixed-precision policy). Keras is imported only when asked."""

from __future__ import annotations

import functools
import os
import platform
import sys

# the packages whose versions can change a number (each one that is installed is recorded)
PACKAGES = ("keras", "tensorflow-cpu", "tensorflow", "jax", "torch", "numpy")


def devices() -> list[str]:
    """Keras's device list for the current backend (``[]`` where it cannot list them)."""
    import keras

    try:
        return [str(d) for d in keras.distribution.list_devices()]
    except Exception:  # a backend without device listing
        return []


@functools.cache
def has_gpu() -> bool:
    """Whether the backend sees a GPU (read once per process)."""
    return any("gpu" in d.lower() or "cuda" in d.lower() for d in devices())


def environment() -> dict:
    """Versions and hardware, recorded with every result."""
    import importlib.metadata as md

    import keras

    from zoo import __version__

    versions = {}
    for pkg in PACKAGES:
        try:
            versions[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    return {
        "zoo": __version__,
        "backend": keras.backend.backend(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "devices": devices(),
        "versions": versions,
    }
