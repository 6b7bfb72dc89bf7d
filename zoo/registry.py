"""The model registry: names -> builder functions with default arguments.

Each family module registers its named variants at import time (``import zoo`` imports them
all), so ``zoo.list_models()`` is the complete list of what ``zoo.create_model`` builds.
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Callable
from dataclasses import dataclass, field

import keras


@dataclass(frozen=True)
class ModelSpec:
    name: str
    builder: Callable[..., keras.Model]
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


def list_models(pattern: str = "*") -> list[str]:
    """Registered model names matching a shell-style ``pattern`` (``"resnet*"``), sorted."""
    return sorted(n for n in _REGISTRY if fnmatch.fnmatchcase(n, pattern))


def get_spec(name: str) -> ModelSpec:
    if not isinstance(name, str) or name not in _REGISTRY:
        close = difflib.get_close_matches(str(name), _REGISTRY, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise ValueError(
            f"unknown model name {name!r}{hint} (zoo.list_models() lists all "
            f"{len(_REGISTRY)} names)"
        )
    return _REGISTRY[name]


def create_model(name: str, pretrained: str | None = None, **overrides) -> keras.Model:
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
