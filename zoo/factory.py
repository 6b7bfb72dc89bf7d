"""The public doors from a name to a model: ``zoo.create_model``, ``zoo.list_models`` and
``zoo.model_info``.

They sit above both the model registry (:mod:`zoo.registry`, a leaf) and the published models
(:mod:`zoo.pretrained`): importing this module imports every model family, so the registry
is complete, and a name with a tag (``"resnet20.mnist"``) or ``pretrained=`` loads published
weights. ``python -m zoo.factory`` rewrites the registry's ``catalog.json``.
"""

from __future__ import annotations

import fnmatch

import zoo.models  # noqa: F401  (each family registers its named variants on import)
from zoo import registry
from zoo.registry import model_info

__all__ = ["build_catalog", "create_model", "list_models", "model_info"]

POOLINGS = ("avg", "max", None)
_HEAD = ("head_bn", "head_act", "head_pool", "head_flatten", "predictions")  # classifier_head


def list_models(pattern: str = "*", *, pretrained: bool = False) -> list[str]:
    """Registered model names matching a shell-style ``pattern`` (``"resnet*"``), sorted.
    ``pretrained=True``: the published pretrained models instead, as ``model.tag`` names
    (``"resnet20.mnist"``) that :func:`create_model` and ``zoo.load_pretrained`` take."""
    if pretrained:
        from zoo.pretrained import list_pretrained

        return sorted(n for n in list_pretrained() if fnmatch.fnmatchcase(n, pattern))
    return registry.list_models(pattern)


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
    if isinstance(name, str) and "." in name and name not in registry.list_models():
        name, tag = name.split(".", 1)
        if pretrained is False:
            raise ValueError(f"{name}.{tag} is a pretrained name; pretrained=False contradicts "
                             f"it (create_model({name!r}) builds the untrained model)")
        if pretrained not in (None, True, tag):  # "resnet20.mnist" with pretrained="digits"
            raise ValueError(f"{name}.{tag} names its tag already; pretrained={pretrained!r} "
                             "asks for another: pass one of them")
        pretrained = tag
    spec = registry.get_spec(name)
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
        if num_classes is not None:
            overrides["num_classes"] = num_classes
            num_classes = None
        model = registry.create_model(spec.name, **overrides)
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
        from zoo.layers.activations import classifier_activation

        dense = model.get_layer("predictions")
        x = model.get_layer(pooled).output
        # a file saved before the zoo had its own softmax ends in Keras's: the new, untrained
        # head gets the zoo's, whose loss has a gradient at any logit gap on every backend
        out = keras.layers.Dense(num_classes, activation=classifier_activation(dense.activation),
                                 name="predictions",
                                 dtype=dense.dtype_policy.variable_dtype)(x)
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


def build_catalog() -> dict[str, dict]:
    """The registry's catalogue from the live registry (builds every model once)."""
    from zoo.models.complexity import parameter_counts

    out = {}
    for name in list_models():
        info = model_info(name)
        info["params"] = parameter_counts(create_model(name))
        out[name] = info
    return out


if __name__ == "__main__":
    from zoo.atomic import write_json

    write_json(registry.CATALOG, build_catalog())
    print(f"wrote {registry.CATALOG}")
