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


def list_models(pattern: str = "*", *, pretrained: bool = False) -> list[str]:
    """Registered model names matching a shell-style ``pattern`` (``"resnet*"``), sorted.
    ``pretrained=True``: the published pretrained models instead, as ``model.tag`` names
    (``"resnet20.mnist"``) that :func:`create_model` and ``zoo.load_pretrained`` take."""
    if pretrained:
        from zoo.pretrained import list_pretrained

        return sorted(n for n in list_pretrained() if fnmatch.fnmatchcase(n, pattern))
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


POOLINGS = ("avg", "max", None)
_HEAD = ("head_bn", "head_act", "head_pool", "head_flatten", "predictions")  # classifier_head


def _default_tag(name: str) -> str:
    """``pretrained=True``: the model's tag named after a dataset (in the order of
    ``zoo.data.DATASETS``), else its first tag."""
    from zoo.data.datasets import DATASETS
    from zoo.pretrained import list_pretrained

    tags = [n.split(".", 1)[1] for n in list_pretrained(f"{name}.*")]
    if not tags:
        raise ValueError(f"no pretrained {name!r} is published (zoo.list_models("
                         "pretrained=True) lists them)")
    return next((d for d in DATASETS if d in tags), sorted(tags)[0])


def create_model(name: str, /, pretrained: bool | str | None = None, *, num_classes=None,
                 include_top: bool = True, pooling: str | None = None, **overrides):
    """Build the registered model ``name``; keyword arguments override its defaults, e.g.
    ``create_model("resnet20", input_shape=(28, 28, 1))``.

    Pretrained weights, as keras-hub / timm users expect:

    - ``pretrained="mnist"`` (or a name with its tag, ``create_model("resnet20.mnist")``)
      loads the published ``resnet20.mnist`` (see ``zoo.load_pretrained``); ``pretrained=True``
      takes the model's dataset tag (mnist first). A trained model takes no builder overrides.
    - ``num_classes=N`` replaces the classifier with a new, untrained ``Dense(N)`` on the same
      pooled features (the backbone keeps its weights): the start of a fine-tune, also when
      ``N`` is the published model's number of classes (another 10-class dataset).
    - ``include_top=False`` drops the classifier (and its pooling): the output is the last
      feature map, or with ``pooling="avg"`` / ``"max"`` its global average / maximum.

    ``num_classes``, ``include_top`` and ``pooling`` work without ``pretrained`` too.
    """
    if isinstance(name, str) and "." in name and name not in _REGISTRY:
        name, tag = name.split(".", 1)
        if pretrained is False:
            raise ValueError(f"{name}.{tag} is a pretrained name; pretrained=False contradicts "
                             f"it (create_model({name!r}) builds the untrained model)")
        if pretrained not in (None, True, tag):  # "resnet20.mnist" with pretrained="digits"
            raise ValueError(f"{name}.{tag} names its tag already; pretrained={pretrained!r} "
                             "asks for another: pass one of them")
        pretrained = tag
    spec = get_spec(name)
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
    if pooling is not None and include_top:
        raise ValueError("pooling applies with include_top=False (the classifier has its own)")
    if pretrained is not None and pretrained is not False:
        if overrides:
            raise ValueError(
                f"create_model({name!r}, pretrained={pretrained!r}) loads a trained model and "
                f"cannot change its architecture; drop {', '.join(sorted(overrides))} (a new "
                "head: num_classes=, include_top=, pooling=)"
            )
        from zoo.pretrained import load_pretrained

        tag = _default_tag(spec.name) if pretrained is True else pretrained
        if not isinstance(tag, str):
            raise ValueError(f"pretrained must be True or a tag such as 'mnist', got {tag!r}")
        model = load_pretrained(f"{spec.name}.{tag}", compile=False)
    else:
        kwargs = {**spec.defaults, **overrides}
        kwargs.setdefault("name", name)
        if num_classes is not None:
            kwargs["num_classes"] = num_classes
            num_classes = None
        model = spec.builder(**kwargs)
    if include_top and num_classes is None:
        return model
    return _new_head(model, num_classes, include_top, pooling)


def _new_head(model, num_classes, include_top, pooling):
    """``model`` cut before its classifier head, with a new classifier or none."""
    import keras

    names = [layer.name for layer in model.layers]
    first = next((n for n in names if n in _HEAD), None)
    if first is None or "predictions" not in names:
        raise ValueError(f"{model.name} has no zoo classifier head to replace")
    pooled = next((n for n in ("head_pool", "head_flatten") if n in names), None)
    if include_top:
        from zoo import validation as check

        check.positive_int("num_classes", num_classes)
        dense = model.get_layer("predictions")
        x = model.get_layer(pooled).output
        out = keras.layers.Dense(num_classes, activation=dense.activation,
                                 name="predictions")(x)
        suffix = f"{num_classes}_classes"
    else:
        # the features after the last block (and a pre-activated net's final BN-ReLU)
        last = "head_act" if "head_act" in names else None
        x = model.get_layer(last).output if last else model.get_layer(first).input
        if pooling == "avg":
            x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
        elif pooling == "max":
            x = keras.layers.GlobalMaxPooling2D(name="max_pool")(x)
        out = x
        suffix = "features"
    return keras.Model(model.inputs, out, name=f"{model.name}_{suffix}")


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
