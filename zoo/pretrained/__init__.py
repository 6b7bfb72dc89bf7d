"""Pretrained zoo models: ``saved_models/<model>.<dataset>/`` with a verified model card.

    >>> model = zoo.load_pretrained("resnet20.mnist")   # raw 0-255 pixels in, softmax out
    >>> zoo.list_pretrained("*.fashion_mnist")

Each folder holds ``model.keras`` (no optimizer state), ``card.json`` (what the model is, how
it was trained and what it scores, measured on the published file) and ``README.md`` (the
card as text). The sha256 in the card is checked before anything is deserialized.
"""

from zoo.pretrained.hub import (
    CARD_FILE,
    MODEL_FILE,
    PretrainedError,
    list_pretrained,
    load_pretrained,
    pretrained_card,
    pretrained_dir,
    read_card,
)

_CARDS = ("card_markdown", "publish", "validate_card")  # need Keras: loaded on first use


def __getattr__(name):
    if name in _CARDS:
        from zoo.pretrained import cards

        return getattr(cards, name)
    raise AttributeError(f"module 'zoo.pretrained' has no attribute {name!r}")


__all__ = [
    "CARD_FILE",
    "MODEL_FILE",
    "PretrainedError",
    "card_markdown",
    "list_pretrained",
    "load_pretrained",
    "pretrained_card",
    "pretrained_dir",
    "publish",
    "read_card",
    "validate_card",
]
