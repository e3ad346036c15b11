"""Safe, stable names for files and URLs derived from user text."""

from __future__ import annotations

import re
import unicodedata

_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def slugify(text: str, max_length: int = 60, fallback: str = "item") -> str:
    """Lower-case ASCII ``[a-z0-9-]`` form of ``text`` (accents folded), never empty."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = _NOT_SLUG.sub("-", ascii_text.lower()).strip("-")[:max_length].strip("-")
    return slug or fallback


def image_id(index: int, name: str) -> str:
    """Unique, sortable id of the ``index``-th input image: ``007-chelsea-cat``."""
    stem = name.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    return f"{index:03d}-{slugify(stem, 40, 'image')}"
