"""residual-zoo: sequential, parallel, merge-and-run and norm-preserving residual networks
as plain Keras 3 models.

``import zoo`` is light (no Keras, no TensorFlow): the sub-packages and builders load on first
use (PEP 562), so ``zoo --help`` and the catalogue commands start in well under a second.
The first builder, loader or sub-package that needs Keras imports ``zoo.models``,
``zoo.layers`` and ``zoo.train`` together, which registers every serializable zoo layer and
optimizer. Whoever imports Keras first -- zoo, the user (``import zoo, keras`` or
``import keras, zoo``) or another library -- the zoo's objects are registered as soon as Keras
is loaded, so ``keras.saving.load_model`` of a zoo file works after ``import zoo`` in any order:
when Keras is not loaded yet, ``import zoo`` leaves a finder on ``sys.meta_path`` that
registers them right after Keras's own import finishes (and then removes itself).
"""

from __future__ import annotations

import importlib
import sys

__version__ = "0.1.0"

_SUBMODULES = ("analysis", "atomic", "data", "factory", "layers", "models", "pretrained",
               "progress", "quiet", "registry", "saving", "studies", "train", "tuning",
               "validation")
_ATTRIBUTES = {
    **{name: "zoo.models" for name in ("dmrnet", "parallel_resnet", "plain", "preresnet",
                                       "procresnet", "residual_units", "resnet",
                                       "shallow_stack")},
    **{name: "zoo.factory" for name in ("create_model", "list_models", "model_info")},
    **{name: "zoo.pretrained" for name in ("list_pretrained", "load_pretrained",
                                           "pretrained_card")},
    **{name: "zoo.data" for name in ("class_names", "decode_predictions")},
}
# sub-packages whose import needs Keras; loading one loads them all (see the docstring)
_KERAS_PARTS = ("zoo.layers", "zoo.models", "zoo.train")


_ready: set = set()  # Keras parts whose module body has finished
_loading = False


def _load_keras_parts():
    global _loading
    if _loading:
        return
    _loading = True
    try:
        if "keras" not in sys.modules:
            from zoo.quiet import import_keras_quietly

            import_keras_quietly()
        for name in _KERAS_PARTS:
            importlib.import_module(name)
    finally:
        _loading = False


def _mid_import() -> bool:
    """Whether one of the Keras parts is being imported right now (its body has not ended)."""
    return any(name in sys.modules and name not in _ready for name in _KERAS_PARTS)


def _part_ready(name):
    """Called at the end of each Keras part: once none is half-imported, load all of them, so
    that importing any one (``import zoo.layers``) registers every zoo object."""
    _ready.add(name)
    if not _mid_import():
        _load_keras_parts()


class _RegisterAfterKeras:
    """A ``sys.meta_path`` finder for ``keras`` only: it finds Keras as the other finders do and
    wraps its loader, so that the zoo's objects are registered right after Keras has loaded,
    whoever imported it. Costs nothing until then (``zoo --help`` never imports Keras)."""

    def __init__(self):
        self._finding = False

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "keras" or self._finding:
            return None
        import importlib.util

        self._finding = True
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            self._finding = False
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return None
        spec.loader = _AfterKerasLoader(spec.loader, self)
        return spec


class _AfterKerasLoader:
    def __init__(self, loader, finder):
        self._loader, self._finder = loader, finder

    def __getattr__(self, name):
        return getattr(self._loader, name)

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        module.__loader__ = module.__spec__.loader = self._loader  # Keras's own from now on
        if self._finder in sys.meta_path:
            sys.meta_path.remove(self._finder)
        if _mid_import():  # zoo itself is importing Keras: the part's end registers them
            return
        try:
            _load_keras_parts()
        except Exception as e:  # never break `import keras` itself
            import warnings

            warnings.warn(f"residual-zoo could not register its Keras objects ({e!r}); "
                          "loading zoo .keras files will fail", stacklevel=2)


def __getattr__(name):
    if name in _SUBMODULES:
        if f"zoo.{name}" in _KERAS_PARTS or name in ("analysis", "factory", "tuning"):
            _load_keras_parts()  # first, so that Keras is imported quietly
        return importlib.import_module(f"zoo.{name}")
    if name in _ATTRIBUTES:
        if _ATTRIBUTES[name] not in ("zoo.pretrained", "zoo.data"):
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
elif not any(isinstance(f, _RegisterAfterKeras) for f in sys.meta_path):
    sys.meta_path.insert(0, _RegisterAfterKeras())
