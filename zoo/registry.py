"""The model registry: names -> builder functions with default arguments.

A leaf, as timm's ``_registry.py`` is: it imports no model family, no Keras and nothing of
``zoo.pretrained`` or ``zoo.train``. Each family module (``zoo/models/*.py``) registers its
named variants here when it is imported, and ``import zoo.models`` imports every family; the
functions here see what has been registered so far. The public doors -- ``zoo.create_model``
(pretrained weights, new heads), ``zoo.list_models``, ``zoo.model_info`` -- are in
:mod:`zoo.factory`, one floor up, which imports the families first.

``catalog.json`` beside this file is the same list with each model's parameter count, for the
command line to show without importing Keras (``python -m zoo.factory`` rewrites it; a test
checks it against the live registry).
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from zoo.validation import did_you_mean

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


def _check_registered():
    if not _REGISTRY:
        raise RuntimeError("no model is registered yet: the families register theirs when "
                           "zoo.models is imported (zoo.create_model and zoo.list_models "
                           "import it first)")


def list_models(pattern: str = "*") -> list[str]:
    """Registered model names matching a shell-style ``pattern`` (``"resnet*"``), sorted.
    ``zoo.list_models`` (:mod:`zoo.factory`) also lists the published pretrained models."""
    _check_registered()
    return sorted(n for n in _REGISTRY if fnmatch.fnmatchcase(n, pattern))


def get_spec(name: str) -> ModelSpec:
    _check_registered()
    if not isinstance(name, str) or name not in _REGISTRY:
        raise ValueError(
            f"unknown model name {name!r}{did_you_mean(name, _REGISTRY)} (zoo.list_models() "
            f"lists all {len(_REGISTRY)} names)"
        )
    return _REGISTRY[name]


def get_builder(name: str) -> Callable:
    """The builder function called ``name`` (``"resnet"``, ``"shallow_stack"``) that registered
    models are built with: for building a family's net from arguments alone, as the tuning
    grids and the analyses do."""
    _check_registered()
    builders = {spec.builder.__name__: spec.builder for spec in _REGISTRY.values()}
    if name not in builders:
        raise ValueError(f"unknown builder {name!r}{did_you_mean(name, builders)} (the "
                         f"registered models are built by {', '.join(sorted(builders))})")
    return builders[name]


def create_model(name: str, /, **overrides):
    """The registered model ``name``, untrained; keyword arguments override its defaults, e.g.
    ``create_model("resnet20", input_shape=(28, 28, 1))``. ``zoo.create_model``
    (:mod:`zoo.factory`) adds pretrained weights and new heads on top of this."""
    import inspect

    spec = get_spec(name)
    parameters = inspect.signature(spec.builder).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
        for key in overrides:
            if key not in parameters:
                raise TypeError(f"{name} ({spec.builder.__name__}) has no argument {key!r}"
                                f"{did_you_mean(key, parameters)}")
    kwargs = {**spec.defaults, **overrides}
    kwargs.setdefault("name", _name_for(spec, overrides))
    return spec.builder(**kwargs)


def builder_arguments(builder, config: dict) -> dict:
    """Every argument ``builder`` is called with: its signature's defaults, then ``config``
    (``name`` left out). A pretrained card lists them all, so it still describes its file if
    a default changes later; :func:`create_model` compares nets by them."""
    import inspect

    defaults = {k: p.default for k, p in inspect.signature(builder).parameters.items()
                if p.default is not inspect.Parameter.empty and k != "name"}
    return {**defaults, **config}


def _name_for(spec: ModelSpec, overrides: dict) -> str:
    """The model's name: the registered one while no override changes what it registers
    (``resnet20`` at another input shape), another registered name that builds exactly that
    (``resnet20`` with ``depth=56`` is ``resnet56``), else the name with its changes
    (``preresnet110_depth20``): never a name that says another net."""
    changed = {k: v for k, v in overrides.items() if k in spec.defaults and v != spec.defaults[k]}
    if not changed:
        return spec.name
    wanted = builder_arguments(spec.builder, {**spec.defaults, **overrides})
    for other in _REGISTRY.values():
        if other.builder is not spec.builder or other is spec:
            continue
        keys = {*spec.defaults, *other.defaults}
        registered = builder_arguments(other.builder, other.defaults)
        if all(registered.get(k) == wanted.get(k) for k in keys):
            return other.name
    suffix = "_".join(f"{k}{v}" for k, v in changed.items())
    return f"{spec.name}_{re.sub(r'[^A-Za-z0-9_.-]', '', suffix)}"


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
    return ValueError(f"unknown model name {name!r}{did_you_mean(name, names)} (zoo list shows "
                      f"all {len(names)})")


def catalog() -> dict[str, dict]:
    """Every registered model's :func:`model_info` plus its parameters at the default input,
    read from ``catalog.json`` (no Keras import)."""
    return json.loads(CATALOG.read_text())
