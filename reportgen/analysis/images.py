"""Safely reading and decoding the input images, whatever source yields them.

A file that cannot be read or decoded is skipped with a one-line reason so one bad file never
stops a run.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

if TYPE_CHECKING:
    from reportgen.analysis.sources.base import Item


class ImageLoadError(Exception):
    """One image could not be used; the message is the reason shown in the report."""


@dataclass(frozen=True)
class LoadedImage:
    name: str  # the item's name in its source
    image: Image.Image  # RGB, EXIF orientation applied
    sha256: str
    size_bytes: int


def _to_rgb(image: Image.Image) -> Image.Image:
    """Any Pillow mode to 8-bit RGB: 16-bit and float scaled, alpha composited on white."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        values = np.asarray(image, dtype=np.float64)
        if image.mode.startswith("I;16"):
            scaled = values / 65535.0
        else:
            low, high = float(values.min()), float(values.max())
            scaled = (values - low) / (high - low) if high > low else np.zeros_like(values)
        image = Image.fromarray(np.round(scaled * 255).astype(np.uint8), mode="L")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return image.convert("RGB")


def decode(data: bytes) -> Image.Image:
    """Decode image bytes to RGB (first frame, EXIF orientation applied) or raise ImageLoadError."""
    if not data:
        raise ImageLoadError("empty file (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as opened:
                opened.seek(0)
                opened.load()
                image = ImageOps.exif_transpose(opened)
                return _to_rgb(image)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ImageLoadError(f"too large to open safely: {error}") from None
    except UnidentifiedImageError:
        raise ImageLoadError("not an image Pillow can read") from None
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise ImageLoadError(f"corrupt or truncated image: {error}") from None


@dataclass(frozen=True)
class ImageFile:
    """A file's bytes and hash, read before decoding so a cache can answer first."""

    name: str
    data: bytes
    sha256: str


def read(item: Item) -> ImageFile:
    """Read and hash one input item, or raise ImageLoadError."""
    data = item.read()
    return ImageFile(item.name, data, hashlib.sha256(data).hexdigest())


def load(file: ImageFile) -> LoadedImage:
    """Decode a read file, or raise ImageLoadError."""
    return LoadedImage(file.name, decode(file.data), file.sha256, len(file.data))
