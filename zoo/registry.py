"""The model registry: names -> builder functions with default arguments.

Each family module registers its named variants at import time (the functions here import
``zoo.models`` first), so ``zoo.list_models()`` is the complete list of what
``zoo.create_model`` builds. ``catalog.json`` beside this file is the same list with each
model's parameter count, for the command line to show without importing Keras
(``python -m zoo.registry`` rewrites it; a test checks it against the live registry).
"""

from __future__ import annotations

import difflib
import fnmatch
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

CATALOG = Path(__file__).with_name("catalog.json")


@dataclass(frozen=True)
class ModelSpec:
    name: str
    builder: Callable
    family: str
    description: str
    paper: str
    reference_params: int | None = None
    defaults: dict = field(default_factory=dict)


_REGISTRY: dict[str, ModelSpec] = {}


def register_model(name, builder, *, family, description, paper, reference_params=None,
                   **defaults):
    """Register ``name`` as ``builder(**defaults)``."""
    if name in _REGISTRY:
        raise ValueError(f"model name {name!r} is already registered")
    _REGISTRY[name] = ModelSpec(name, builder, family, description, paper, reference_params,
                                dict(defaults))


def _registered() -> dict[str, ModelSpec]:
    import zoo.models  # noqa: F401  (each family registers its variants on import)

    return _REGISTRY


def list_models(pattern: str = "*") -> list[str]:
    """Registered model names matching a shell-style ``pattern`` (``"resnet*"``), sorted."""
    _registered()
    return sorted(n for n in _REGISTRY if fnmatch.fnmatchcase(n, pattern))


def get_spec(name: str) -> ModelSpec:
    _registered()
    if not isinstance(name, str) or name not in _REGISTRY:
        close = difflib.get_close_matches(str(name), _REGISTRY, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise ValueError(
            f"unknown model name {name!r}{hint} (zoo.list_models() lists all "
            f"{len(_REGISTRY)} names)"
        )
    return _REGISTRY[name]


def create_model(name: str, /, pretrained: str | None = None, **overrides):
    """Build the registered model ``name``; keyword arguments override its defaults, e.g.
    ``create_model("resnet20", input_shape=(28, 28, 1))``.

    ``pretrained="mnist"`` loads the published ``resnet20.mnist`` instead (see
    ``zoo.load_pretrained``); a trained model cannot take builder overrides.
    """
    spec = get_spec(name)
    if pretrained is not None:
        if overrides:
            raise ValueError(
                f"create_model({name!r}, pretrained={pretrained!r}) loads a trained model and "
                f"cannot change its architecture; drop {', '.join(sorted(overrides))}"
            )
        from zoo.pretrained import load_pretrained

        return load_pretrained(f"{spec.name}.{pretrained}")
    kwargs = {**spec.defaults, **overrides}
    kwargs.setdefault("name", name)
    return spec.builder(**kwargs)


def model_info(name: str) -> dict:
    """What ``name`` is: family, builder, default arguments, paper, reference parameters."""
    spec = get_spec(name)
    return {
        "name": spec.name,
        "family": spec.family,
        "builder": f"{spec.builder.__module__}.{spec.builder.__qualname__}",
        "config": dict(spec.defaults),
        "description": spec.description,
        "paper": spec.paper,
        "reference_params": spec.reference_params,
    }


def unknown_name(name, names) -> ValueError:
    close = difflib.get_close_matches(str(name), names, n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return ValueError(f"unknown model name {name!r}{hint} (zoo list shows all {len(names)})")


def catalog() -> dict[str, dict]:
    """Every registered model's :func:`model_info` plus its parameters at the default input,
    read from ``catalog.json`` (no Keras import)."""
    return json.loads(CATALOG.read_text())


def build_catalog() -> dict[str, dict]:
    """The catalogue from the live registry (builds every model once)."""
    import math

    out = {}
    for name in list_models():
        model = create_model(name)
        info = model_info(name)
        info["params"] = {"trainable": int(sum(math.prod(w.shape)
                                               for w in model.trainable_weights)),
                          "total": int(model.count_params())}
        out[name] = info
    return out


if __name__ == "__main__":
    # run as a script this file is __main__, not zoo.registry, where the families register
    from zoo.atomic import write_json
    from zoo.registry import build_catalog as _build

    write_json(CATALOG, _build())
    print(f"wrote {CATALOG}")
