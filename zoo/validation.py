"""Argument checks shared by the builders.

Every check raises ``ValueError`` naming the argument, the value and what is allowed, so
a user never sees a stack trace from deep inside a backend for a typo in a builder call.
"""

from __future__ import annotations

import difflib
import math
import os
from collections.abc import Iterable, Sequence

ACTIVATIONS = ("relu", "tanh", "gelu", "swish", "elu", "selu", "sigmoid", "linear")


def positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int,)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def positive_float(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return float(value)


def boolean(name: str, value) -> bool:
    # a string such as "False" is truthy: refuse it rather than build the other network
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return value


def probability(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")
    return float(value)


def streams(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 2:
        raise ValueError(f"{name} must be an integer >= 2, got {value!r}")
    return value


def odd_kernel(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1 or value % 2 == 0:
        raise ValueError(
            f"{name} must be a positive odd integer (1, 3, 5, 7, ...) so that 'same' padding "
            f"keeps the residual shapes aligned, got {value!r}"
        )
    return value


def choice(name: str, value, allowed: Iterable) -> object:
    allowed = tuple(allowed)
    if value not in allowed:
        options = ", ".join(repr(a) for a in allowed)
        raise ValueError(f"{name} must be one of {options}, got {value!r}")
    return value


def did_you_mean(value, known: Iterable[str]) -> str:
    """``"; did you mean 'a', 'b'?"`` naming the (up to three) ``known`` names closest to
    ``value``, or ``""`` when none is close: the hint every "unknown name" error ends with."""
    value, known = str(value), list(known)
    if not known:
        return ""
    close = difflib.get_close_matches(value, known, n=len(known), cutoff=0.5)
    # equally close: the one sharing the longest start first (resnet21: resnet20, then resnet32),
    # then in order (seed01: seed001, seed002, seed003)
    close.sort(key=lambda k: (-round(difflib.SequenceMatcher(None, value, k).ratio(), 9),
                              -len(os.path.commonprefix([value, k])), k))
    close = close[:3]
    return f"; did you mean {', '.join(map(repr, close))}?" if close else ""


def activation(name: str, value) -> str:
    return choice(name, value, ACTIVATIONS)


def depth(name: str, value, *, multiple: int, offset: int, examples: Sequence[int] = ()) -> int:
    """``value`` must be ``multiple * n + offset`` with ``n >= 1``; returns ``n``."""
    form = f"{multiple}n+{offset}"
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or value < multiple + offset
        or (value - offset) % multiple
    ):
        hint = f" (e.g. {', '.join(str(e) for e in examples)})" if examples else ""
        raise ValueError(f"{name} must be {form} with n >= 1{hint}, got {value!r}")
    return (value - offset) // multiple


def input_shape(value, *, min_size: int = 1, reason: str = "") -> tuple[int, int, int]:
    """A channels-last image shape ``(height, width, channels)`` at least ``min_size`` wide."""
    try:
        shape = tuple(value)
    except TypeError:
        shape = None
    if (
        shape is None
        or len(shape) != 3
        or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape)
    ):
        raise ValueError(
            f"input_shape must be (height, width, channels) of positive integers, got {value!r}"
        )
    if min(shape[:2]) < min_size:
        why = f" ({reason})" if reason else ""
        raise ValueError(
            f"input_shape {shape} is too small: height and width must be at least "
            f"{min_size}{why}"
        )
    return shape


def min_size_for(transitions: int) -> int:
    """Smallest side that survives ``transitions`` stride-2 steps with at least 1 pixel each
    time and still has 2 pixels before the last one (else the stride does nothing)."""
    return int(math.pow(2, transitions))


def paired_examples(x, y):
    """Images and labels of equal, non-zero length (analysis functions pair them)."""
    if len(x) != len(y):
        raise ValueError(f"x and y must have the same length, got {len(x)} and {len(y)}")
    if len(x) == 0:
        raise ValueError("x and y hold no examples")


# The one pattern every name a user gives the zoo must match before it becomes part of a path:
# a model (``resnet20``), a tag (``mnist``, ``seed001_fashion_mnist``), a study (``merge_and_run``).
# A pretrained model's name is two of them joined by a dot (``resnet20.mnist``). No dot,
# slash, space, newline or wildcard can appear, so a name is never ``.``, ``..``, a hidden
# folder, a path or a YAML break.
NAME_PATTERN = r"[a-z0-9][a-z0-9_]{0,63}"
PRETRAINED_PATTERN = rf"{NAME_PATTERN}\.{NAME_PATTERN}"


def name(kind: str, value) -> str:
    """``value`` if it matches :data:`NAME_PATTERN`; ValueError naming ``kind`` otherwise."""
    import re

    if not isinstance(value, str) or not re.fullmatch(NAME_PATTERN, value):
        raise ValueError(f"{kind} must be 1-64 lowercase letters, digits and underscores, "
                         f"starting with a letter or digit, got {value!r}")
    return value


def is_pretrained_name(value) -> bool:
    """Whether ``value`` is ``model.tag``, each part matching :data:`NAME_PATTERN`."""
    import re

    return isinstance(value, str) and re.fullmatch(PRETRAINED_PATTERN, value) is not None
