import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(0)


def run_python(code: str, *, backend: str, timeout: int = 300, **env) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter on another Keras backend."""
    environ = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3", **env}
    return subprocess.run(
        [sys.executable, "-c", code], env=environ, cwd=ROOT, capture_output=True, text=True,
        timeout=timeout,
    )


def backend_available(backend: str) -> bool:
    module = {"jax": "jax", "torch": "torch", "tensorflow": "tensorflow"}[backend]
    import importlib.util

    return importlib.util.find_spec(module) is not None
