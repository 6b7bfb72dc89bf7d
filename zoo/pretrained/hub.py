"""Finding, verifying and loading the published models."""

from __future__ import annotations

import fnmatch
import json
import os
from pathlib import Path

from zoo.validation import did_you_mean, is_pretrained_name

CARD_FILE = "card.json"
MODEL_FILE = "model.keras"


class PretrainedError(ValueError):
    """A pretrained model that is unknown, incomplete or does not match its card."""


def pretrained_dir(root=None) -> Path:
    """Where the published models live: ``root``, else ``$ZOO_PRETRAINED_DIR`` (any folder of
    ``<name>/card.json, model.keras`` entries, e.g. a local copy of the zoo's models), else
    the ``saved_models/`` folder of the source checkout this package runs from, else the
    copy installed with the package (``zoo/saved_models/`` in the wheel)."""
    if root is not None:
        return Path(root)
    if os.environ.get("ZOO_PRETRAINED_DIR"):
        return Path(os.environ["ZOO_PRETRAINED_DIR"])
    package = Path(__file__).resolve().parents[1]
    checkout = package.parent / "saved_models"
    return checkout if checkout.is_dir() else package / "saved_models"


def _published(root) -> dict[str, Path]:
    """name -> the folder that holds its publication. A folder is listed only under a name
    that matches ``model.tag`` (zoo.validation.PRETRAINED_PATTERN), so the leftovers of a
    killed ``zoo publish`` (``.NAME.staging``, ``.NAME.old``) never are; ``.NAME.old`` stands
    in for ``NAME`` only if a publish was killed between its two renames (where the folder
    cannot be swapped in one step) and ``NAME`` is missing."""
    folder = pretrained_dir(root)
    if not folder.is_dir():
        return {}
    found = {}
    for entry in folder.iterdir():
        name = entry.name
        if name.startswith(".") and name.endswith(".old"):
            name = name[1:-4]
            if (folder / name).exists():
                continue
        if is_pretrained_name(name) and (entry / CARD_FILE).is_file():
            found[name] = entry
    return found


def list_pretrained(pattern: str = "*", *, root=None) -> list[str]:
    """Names (``model.dataset``) of the published models matching a shell-style pattern."""
    return sorted(n for n in _published(root) if fnmatch.fnmatchcase(n, pattern))


def _resolve(name, root):
    if not isinstance(name, str):
        raise PretrainedError(f"a pretrained name is a string like 'resnet20.mnist', got {name!r}")
    available = list_pretrained(root=root)
    if name in available:
        return name
    tags = [n for n in available if n.split(".", 1)[0] == name]
    if tags:
        raise PretrainedError(
            f"{name!r} has several pretrained versions; pick one of {', '.join(tags)}"
        )
    raise PretrainedError(
        f"no pretrained model {name!r} in {pretrained_dir(root)}{did_you_mean(name, available)} "
        f"({len(available)} available: zoo.list_pretrained())"
    )


# what loading and listing need from a card: (path of keys, type)
REQUIRED = ((("name",), str), (("file", "sha256"), str), (("dataset", "name"), str),
            (("metrics", "test_accuracy"), (int, float)), (("params", "trainable"), int))


def read_card(path) -> dict:
    """A card file, checked for the fields loading and listing need; a malformed one raises
    one :class:`PretrainedError` naming the file and the problem."""
    path = Path(path)
    try:
        card = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise PretrainedError(f"{path}: not a readable JSON model card ({e})") from None
    for keys, kind in REQUIRED:
        value = card
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        if not isinstance(value, kind) or isinstance(value, bool):
            raise PretrainedError(f"{path}: the card has no valid '{'.'.join(keys)}'")
    return card


def pretrained_card(name: str, *, root=None) -> dict:
    """The model card (``card.json``) of a published model."""
    name = _resolve(name, root)
    return read_card(_published(root)[name] / CARD_FILE)


def load_pretrained(name: str, *, root=None, compile: bool = True):
    """Load a published model after checking its file against the card's sha256.

    The model takes raw pixels (0-255, channels last, float) and returns class
    probabilities. With ``compile`` it is compiled with the loss and accuracy metric it was
    trained with (no optimizer state), so ``model.evaluate(x, y)`` works directly.
    """
    name = _resolve(name, root)
    folder = _published(root)[name]  # what is loaded is the folder found, never a card's path
    card = read_card(folder / CARD_FILE)
    if card["name"] != name:
        raise PretrainedError(f"{folder / CARD_FILE}: the card is for {card['name']!r}, not "
                              f"{name!r} (a renamed or copied folder), so it was not loaded")
    path = folder / MODEL_FILE
    if not path.is_file():
        raise PretrainedError(f"{path} is missing; the card {card['name']!r} has no model file")

    import zoo.layers  # noqa: F401  (registers the zoo's layers before deserializing)
    from zoo.saving import load_model
    from zoo.train.losses import ProbabilityCrossentropy

    try:  # the sha256 is of the bytes that are loaded (one read, into a private copy)
        model = load_model(path, compile=False, sha256=card["file"]["sha256"])
    except PretrainedError:
        raise
    except ValueError as e:
        raise PretrainedError(str(e)) from None
    if compile:
        model.compile(loss=ProbabilityCrossentropy(), metrics=["accuracy"])
    return model
