"""The folder source: the image files in a folder (its subfolders too with ``--recursive``), in
the order of their relative paths; hidden files and folders are left out. Names are the paths
relative to the folder. With ``--labels-from-folders`` each subfolder is a class (the
ImageNet / ``ImageFolder`` convention): its name labels every image below it."""

from __future__ import annotations

import argparse
import functools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from PIL import Image

from reportgen.analysis import images
from reportgen.analysis.sources.base import FileReader, Item, Source, Unusable, recorded_path
from reportgen.errors import ReportgenError

TOP_LEVEL_SKIP = "not in a class folder (--labels-from-folders labels an image by its subfolder)"


def image_extensions() -> frozenset[str]:
    """Extensions Pillow can open, lower case with the dot."""
    return frozenset(ext.lower() for ext in Image.registered_extensions())


def _image_files(folder: Path, pattern: str) -> list[Path]:
    """The visible image files of ``folder`` that ``pattern`` globs, by relative path."""
    extensions = image_extensions()
    found = [
        path
        for path in folder.glob(pattern)
        if path.suffix.lower() in extensions
        and path.is_file()
        and not any(part.startswith(".") for part in path.relative_to(folder).parts)
    ]
    return sorted(found, key=lambda path: path.relative_to(folder).as_posix())


def discover(folder: Path, recursive: bool = False) -> list[Path]:
    """Image files in ``folder`` (below it too when ``recursive``), in a deterministic order;
    hidden ones skipped. None at the top of a folder whose subfolders hold some is an error
    that says so: reading them is asked for, never guessed."""
    folder = Path(folder)
    if not folder.exists():
        raise ReportgenError(f"image folder not found: {folder}")
    if not folder.is_dir():
        raise ReportgenError(f"not a folder: {folder} (give the folder that holds the images)")
    found = _image_files(folder, "**/*" if recursive else "*")
    if not found and not recursive and _image_files(folder, "*/**/*"):
        raise ReportgenError(
            f"no image files at the top of {folder}, but its subfolders hold some: add "
            "--recursive to read them, or --labels-from-folders to read each subfolder as a class"
        )
    if not found:
        raise ReportgenError(
            f"no image files in {folder} (searched{' recursively' if recursive else ''} for "
            "files Pillow opens: .jpg, .png, .webp, .tif, .bmp, .gif, ...)"
        )
    return found


def read_file(path: str) -> bytes:
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

    def __init__(self, folder: Path, recursive: bool = False, labels_from_folders: bool = False):
        self.folder = Path(folder)
        self.labels_from_folders = labels_from_folders
        self.recursive = recursive or labels_from_folders  # a class folder is read to its depth

    @classmethod
    def open(cls, location: str) -> FolderSource:
        return cls(Path(location))

    @classmethod
    def add_options(cls, group: argparse._ArgumentGroup) -> None:
        group.add_argument(
            "--recursive",
            action="store_true",
            help="folder: read the images in the subfolders of IMAGES too (default: its top "
            "level only)",
        )
        group.add_argument(
            "--labels-from-folders",
            action="store_true",
            help="folder: each subfolder of IMAGES is a class that labels the images below it "
            "(the ImageNet layout); images at the top level are skipped",
        )

    @classmethod
    def from_options(cls, images: str | None, args: argparse.Namespace) -> FolderSource | None:
        """The folder IMAGES, shaped by --recursive and --labels-from-folders."""
        if images is None:
            if args.recursive or args.labels_from_folders:
                raise ReportgenError("--recursive and --labels-from-folders read IMAGES: give it")
            return None
        return cls(Path(images), args.recursive, args.labels_from_folders)

    def __str__(self) -> str:
        return str(self.folder)

    @property
    def name(self) -> str:
        return self.folder.resolve().name

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "folder": self.name,
            "path": recorded_path(self.folder),
            "recursive": self.recursive,
            "labels_from_folders": self.labels_from_folders,
            "count": self.count(),
        }

    @functools.cached_property
    def _paths(self) -> list[Path]:
        found = discover(self.folder, self.recursive)
        if self.labels_from_folders and all(path.parent == self.folder for path in found):
            raise ReportgenError(
                f"no class folders with images in {self.folder}: --labels-from-folders labels "
                "each image by the subfolder that holds it"
            )
        return found

    def count(self) -> int:
        return len(self._paths)

    def items(self) -> Iterator[Item]:
        root = str(self.folder.resolve())  # absolute: the workers may run elsewhere
        for index, path in enumerate(self._paths):
            name = path.relative_to(self.folder).as_posix()
            reader = FileReader(os.path.join(root, name), read_file)
            if not self.labels_from_folders:
                yield Item(index, name, reader)
            elif "/" in name:
                yield Item(index, name, reader, label=name.split("/", 1)[0])
            else:
                yield Item(index, name, Unusable(TOP_LEVEL_SKIP))
