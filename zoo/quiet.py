"""Importing Keras without TensorFlow's C++/absl start-up lines on the terminal.

TensorFlow 2.21 writes some of them from C++ even with TF_CPP_MIN_LOG_LEVEL=3 ("All log
messages before absl::InitializeLog()...", oneDNN and CPU-feature notes), so the process's
stderr file descriptor itself is pointed at a temporary file during the import; what was
written is replayed if the import fails, and dropped otherwise. ``import zoo`` uses this
when it first needs Keras, the ``zoo`` command always (``--verbose`` shows the lines).
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile


@contextlib.contextmanager
def _stderr_held():
    """Point the process's stderr file descriptor at a temporary file for the block; replay
    what was written if the block fails, drop it otherwise."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            captured.seek(0)
            sys.stderr.write(captured.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def import_keras_quietly(verbose=False):
    """Import Keras (and its backend) with the C++/absl start-up lines kept off the terminal.

    TensorFlow 2.21 writes some of them from C++ even with TF_CPP_MIN_LOG_LEVEL=3, so the
    process's stderr file descriptor itself is pointed at a temporary file during the
    import; its content is replayed if the import fails, and dropped otherwise.
    """
    if verbose or "keras" in sys.modules:
        import keras

        return keras
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with _stderr_held():
        import keras

        keras.ops.convert_to_tensor([0.0])  # device set-up logs here on TensorFlow
        import logging

        logging.getLogger("tensorflow").setLevel(logging.ERROR)
        return keras


def import_tensorflow_quietly():
    """Import TensorFlow where Keras runs on another backend (tf.data feeds the training
    batches there too) without its start-up lines; ImportError where it is not installed."""
    if sys.modules.get("tensorflow") is not None:
        return sys.modules["tensorflow"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with _stderr_held():
        import logging

        import tensorflow

        logging.getLogger("tensorflow").setLevel(logging.ERROR)
        return tensorflow


def set_random_seed(seed):
    """``keras.utils.set_random_seed``, whose first call imports TensorFlow (to seed it too)
    wherever it is installed, also under JAX or PyTorch: that import made quiet."""
    try:
        import_tensorflow_quietly()
    except ImportError:
        pass
    import keras

    keras.utils.set_random_seed(seed)
