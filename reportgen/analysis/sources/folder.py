"""The folder source: the image files below a folder, recursively, in the order of their
relative paths; hidden files and folders are left out. Names are the paths relative to the
folder."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from PIL import Image

from reportgen.analysis import images
from reportgen.analysis.sources.base import Item, Source
from reportgen.errors import ReportgenError


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


def read_file(path: Path) -> bytes:
    """The bytes of one file, or ImageLoadError; a file that vanished since it was found is an
    error: the folder is changing, and a report of it would not match it."""
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise ReportgenError(
            f"{path} was removed while reportgen ran; run again once the folder is settled"
        ) from None
    except OSError as error:
        raise images.ImageLoadError(f"cannot read file: {error.strerror or error}") from None


class FolderSource(Source):
    kind = "folder"

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    @classmethod
    def open(cls, location: str) -> FolderSource:
        return cls(Path(location))

    def __str__(self) -> str:
        return str(self.folder)

    @property
    def name(self) -> str:
        return self.folder.resolve().name

    def describe(self) -> dict[str, Any]:
        return {"folder": self.name}

    @functools.cached_property
    def _paths(self) -> list[Path]:
        return discover(self.folder)

    def count(self) -> int:
        return len(self._paths)

    def items(self) -> Iterator[Item]:
        for index, path in enumerate(self._paths):
            name = path.relative_to(self.folder).as_posix()
            yield Item(index, name, functools.partial(read_file, path.resolve()))
