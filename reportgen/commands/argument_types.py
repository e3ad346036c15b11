"""Types of command line arguments: what argparse calls to read a value, its ValueError a
usage error."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any


def start_layer(text: str) -> int | str:
    """``auto`` or a whole number, for --rollout-start-layer."""
    if text == "auto":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected auto or a whole number, got {text!r}") from None


def size_argument(text: str) -> int:
    """A size such as ``1GB`` or ``500MiB`` in bytes (:func:`reportgen.cache.parse_size`)."""
    from reportgen.cache import parse_size

    return parsed_argument(parse_size, text)


def parsed_argument(parse: Callable[[str], Any], text: str) -> Any:
    """``parse(text)``, its ValueError an argparse usage error."""
    try:
        return parse(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
