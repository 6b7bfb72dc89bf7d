"""residual-zoo: sequential, parallel, merge-and-run and norm-preserving residual networks
as plain Keras 3 models.

``import zoo`` is light (no Keras, no TensorFlow): the sub-packages and builders load on first
use (PEP 562), so ``zoo --help`` and the catalogue commands start in well under a second.
The first builder, loader or sub-package that needs Keras imports ``zoo.models``,
``zoo.layers`` and ``zoo.train`` together, which registers every serializable zoo layer and
optimizer. To load a zoo ``.keras`` file with plain ``keras.saving.load_model``, touch any of
them first (``import zoo.train``); ``zoo.load_pretrained`` and ``zoo.train.evaluate`` do it.
"""

from __future__ import annotations

import importlib
import sys

__version__ = "0.1.0"

_SUBMODULES = ("analysis", "atomic", "data", "layers", "models", "pretrained", "progress",
               "quiet", "registry", "studies", "train", "tuning", "validation")
_ATTRIBUTES = {
    **{name: "zoo.models" for name in ("dmrnet", "parallel_resnet", "plain", "preresnet",
                                       "procresnet", "residual_units", "resnet",
                                       "shallow_stack")},
    **{name: "zoo.registry" for name in ("create_model", "list_models", "model_info")},
    **{name: "zoo.pretrained" for name in ("list_pretrained", "load_pretrained",
                                           "pretrained_card")},
}
# sub-packages whose import needs Keras; loading one loads them all (see the docstring)
_KERAS_PARTS = ("zoo.layers", "zoo.models", "zoo.train")


def _load_keras_parts():
    if "keras" not in sys.modules:
        from zoo.quiet import import_keras_quietly

        import_keras_quietly()
    for name in _KERAS_PARTS:
        importlib.import_module(name)


def __getattr__(name):
    if name in _SUBMODULES:
        if f"zoo.{name}" in _KERAS_PARTS or name in ("analysis", "tuning"):
            _load_keras_parts()  # first, so that Keras is imported quietly
        return importlib.import_module(f"zoo.{name}")
    if name in _ATTRIBUTES:
        if _ATTRIBUTES[name] != "zoo.pretrained":
            _load_keras_parts()
        value = getattr(importlib.import_module(_ATTRIBUTES[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'zoo' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_SUBMODULES) | set(_ATTRIBUTES))


__all__ = ["__version__", *sorted(_ATTRIBUTES), *_SUBMODULES]

if "keras" in sys.modules:  # Keras is paid for already: register the zoo's objects now
    _load_keras_parts()
