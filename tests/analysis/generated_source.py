"""A source that is no folder, as a plugin package would add one (tests/analysis/test_sources.py
declares it as an entry point): random PNGs made in memory, labelled, under names no file
system would take, then one empty item that is skipped. It does not know its length in advance.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import numpy as np
from PIL import Image

from reportgen.analysis.sources.base import Encoded, Item, Source
from reportgen.errors import ReportgenError


class GeneratedSource(Source):
    kind = "generated"

    def __init__(self, size: int):
        self.size = size

    @classmethod
    def open(cls, location: str) -> GeneratedSource:
        if not location.isdigit():
            raise ReportgenError(f"generated: expected a number of images, got {location!r}")
        return cls(int(location))

    def __str__(self) -> str:
        return f"{self.size} generated images"

    @property
    def name(self) -> str:
        return "Generated shelf"

    def describe(self) -> dict:
        return {"generated": self.size}

    def items(self) -> Iterator[Item]:
        rng = np.random.default_rng(11)
        for index in range(self.size):
            pixels = (rng.random((40, 48, 3)) * 255).astype(np.uint8)
            encoded = io.BytesIO()
            Image.fromarray(pixels).save(encoded, "PNG")
            name = f"shelf {index % 2}/pic <{index}> & co"
            yield Item(index, name, Encoded(encoded.getvalue()), label=("cat", "dog")[index % 2])
        yield Item(self.size, "empty", Encoded(b""))
