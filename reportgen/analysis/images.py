"""Finding and safely loading the input images.

A file that cannot be read is skipped with a one-line reason so one bad file never stops a
run; a folder with nothing usable is an error the user sees as a message.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from reportgen.errors import ReportgenError
from reportgen.record import SkippedFile


class ImageLoadError(Exception):
    """One image could not be used; the message is the reason shown in the report."""


@dataclass(frozen=True)
class LoadedImage:
    name: str  # relative to the input folder, POSIX separators
    image: Image.Image  # RGB, EXIF orientation applied
    sha256: str
    size_bytes: int


def image_extensions() -> frozenset[str]:
    """Extensions Pillow can open, lower case with the dot."""
    return frozenset(ext.lower() for ext in Image.registered_extensions())


def discover(folder: Path) -> list[Path]:
    """Image files below ``folder``, recursively, in a deterministic order; hidden ones skipped."""
    folder = Path(folder)
    if not folder.exists():
        raise ReportgenError(f"image folder not found: {folder}")
    if not folder.is_dir():
        raise ReportgenError(f"not a folder: {folder} (give the folder that holds the images)")
    extensions = image_extensions()
    found = [
        path
        for path in folder.rglob("*")
        if path.suffix.lower() in extensions
        and path.is_file()
        and not any(part.startswith(".") for part in path.relative_to(folder).parts)
    ]
    found.sort(key=lambda path: path.relative_to(folder).as_posix())
    if not found:
        raise ReportgenError(
            f"no image files in {folder} (searched recursively for files Pillow opens: "
            ".jpg, .png, .webp, .tif, .bmp, .gif, ...)"
        )
    return found


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


def read(path: Path, name: str) -> ImageFile:
    """Read and hash one file, or raise ImageLoadError; a file that vanished since it was found
    is an error: the folder is changing, and a report of it would not match it."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise ReportgenError(
            f"{path} was removed while reportgen ran; run again once the folder is settled"
        ) from None
    except OSError as error:
        raise ImageLoadError(f"cannot read file: {error.strerror or error}") from None
    return ImageFile(name, data, hashlib.sha256(data).hexdigest())


def read_files(
    folder: Path, paths: Sequence[Path]
) -> Iterator[tuple[int, ImageFile | SkippedFile]]:
    """Each of ``paths`` (from :func:`discover`) with its position: read, or skipped with the
    reason. Names are relative to ``folder``."""
    for index, path in enumerate(paths):
        name = path.relative_to(folder).as_posix()
        try:
            yield index, read(path, name)
        except ImageLoadError as error:
            yield index, SkippedFile(name, str(error))


def load(file: ImageFile) -> LoadedImage:
    """Decode a read file, or raise ImageLoadError."""
    return LoadedImage(file.name, decode(file.data), file.sha256, len(file.data))
