"""What every input source shares: the item it yields and the interface.

A source is where a report's images come from: a folder today, a CSV of labelled files or a
dataset split tomorrow. It yields :class:`Item` objects in one streamed pass, in a stable
order; each item reads its bytes only when asked, where it is asked (an engine's worker
process, a Ray node), so a source of 100,000 images is never held in memory. Adding one is a
module here with one :class:`Source` subclass, registered in :mod:`reportgen.analysis.sources`
(or a plugin's ``reportgen.sources`` entry point).
"""

from __future__ import annotations

import argparse
import hashlib
import pickle
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from reportgen import digests
from reportgen.analysis import images
from reportgen.analysis.images import ImageLoadError
from reportgen.slugs import image_id
from reportgen.store import ContentCache


@dataclass(frozen=True)
class Item:
    """One input image. Picklable (``reader`` included): it travels to the engine's workers,
    which read it there."""

    index: int  # its place in the source's order
    name: str  # shown in the report; POSIX separators; two items may share it
    reader: Callable[[], bytes]  # the encoded bytes; raises ImageLoadError to skip the item
    label: str | None = None  # its class, for sources that have labels
    source_id: str | None = None  # where the source keeps it (a path, a row); default: name

    @property
    def id(self) -> str:
        """Its stable id in reports and file names: ``007-chelsea-cat``."""
        return image_id(self.index, self.name)

    @property
    def tag(self) -> ItemTag:
        """What travels with the item through the engine, without its reader."""
        return ItemTag(self.index, self.name, self.label, self.source_id or self.name)

    def read(self) -> bytes:
        return self.reader()

    @property
    def file(self) -> str | None:
        """The file it reads, when its source reads files (a folder, a CSV list)."""
        return self.reader.path if isinstance(self.reader, FileReader) else None

    def _identity(self, cache: ContentCache | None) -> digests.InputIdentity | None:
        """The identity of the file it reads (:func:`reportgen.digests.input_identity`), when
        there is a cache to remember its digest by; else None."""
        return digests.input_identity(self.file) if cache and self.file else None

    def remembered_sha256(self, cache: ContentCache | None) -> str | None:
        """The sha256 of the unchanged file it reads, as ``cache`` remembers it by the file's
        identity; None: read it."""
        identity = self._identity(cache)
        return digests.remembered_input(identity, cache) if identity else None

    def hashed(self, cache: ContentCache | None) -> images.ImageFile:
        """Its bytes read and hashed (:func:`images.read`), or ImageLoadError; the digest of a
        file is remembered in ``cache`` by the file's identity, taken before reading."""
        identity = self._identity(cache)
        file = images.read(self)
        if identity:
            digests.remember_input(identity, file.sha256, cache)
        return file


@dataclass(frozen=True)
class ItemTag:
    """An item's identity and label: what its summary needs besides its record."""

    index: int
    name: str
    label: str | None
    source_id: str


@dataclass(frozen=True)
class FileReader:
    """The reader of an image file, through ``read(path)`` (which says how a missing or
    unreadable file is met). The engines know by it that an item is a file, which a rebuild
    tells unchanged by its identity (:func:`reportgen.digests.input_identity`) and does not read
    again when its result is cached."""

    path: str
    read: Callable[[str], bytes]

    def __call__(self) -> bytes:
        return self.read(self.path)


@dataclass(frozen=True)
class Encoded:
    """A reader for bytes a source already holds (a picklable ``lambda: data``)."""

    data: bytes

    def __call__(self) -> bytes:
        return self.data


@dataclass(frozen=True)
class Unusable:
    """The reader of an item its source already knows it cannot use (a row with an empty path
    or label, a record without image bytes): reading it raises ImageLoadError with ``reason``,
    so the engines skip it with that reason where they skip a bad file."""

    reason: str

    def __call__(self) -> bytes:
        raise ImageLoadError(self.reason)


def content_hash(paths: list[Path]) -> str:
    """One sha256 for a set of files (shards, a dataset's Arrow files): of their own sha256s,
    in order; what the manifest records of a source's content."""
    return hashlib.sha256("\n".join(digests.sha256_of(path) for path in paths).encode()).hexdigest()


def recorded_path(location: str | Path) -> str:
    """A source's path as the published manifest records it: relative to the working folder
    when inside it, ``~/...`` inside the home folder, as given otherwise, so a report does not
    publish the user's name or the layout of their disk."""
    path = Path(location)
    if not path.is_absolute():
        return str(location)
    for base, shown in ((Path.cwd(), None), (Path.home(), "~")):
        if path.is_relative_to(base):
            relative = path.relative_to(base)
            return str(relative if shown is None else Path(shown, relative))
    return str(location)


def label_text(value: Any, names: list[str] | None = None) -> str | Unusable:
    """A label as text (an integer class id through ``names``), or the reason it is unusable."""
    if names is not None and isinstance(value, int) and not isinstance(value, bool):
        if not 0 <= value < len(names):
            return Unusable(f"label {value} is not one of the {len(names)} class ids")
        value = names[value]
    text = "" if value is None else str(value).strip()
    return text or Unusable("empty label")


def labelled_item(
    index: int,
    name: str,
    source_id: str,
    reader: Callable[[], bytes],
    label: str | Unusable | None,
) -> Item:
    """An item of a row with a label: skipped with the reason when its label is unusable."""
    if isinstance(label, Unusable):
        reader, label = label, None
    return Item(index, name, reader, label=label, source_id=source_id)


def add_column_options(group: argparse._ArgumentGroup) -> None:
    """``--image-column`` and ``--label-column``: the columns of a table-shaped source (a CSV,
    a dataset, shards), shared by every source that has columns; added once, by the command
    (:func:`reportgen.commands.options.add_inputs`), and read as ``args.image_column`` and
    ``args.label_column`` (None: the source detects them)."""
    group.add_argument(
        "--image-column",
        metavar="NAME",
        help="the column that holds the images of a table-shaped source (CSV, dataset, shards; "
        "default: detected)",
    )
    group.add_argument(
        "--label-column",
        metavar="NAME",
        help="the column that holds the labels of a table-shaped source (default: detected)",
    )


class Source:
    """Where the images come from. ``str(source)`` names it in messages."""

    kind: ClassVar[str] = ""  # its name in the registry

    @classmethod
    def open(cls, location: str) -> Source:
        """The source a user names by ``location`` (a path, a URL...): ``--source KIND IMAGES``."""
        raise NotImplementedError

    @classmethod
    def add_options(cls, group: argparse._ArgumentGroup) -> None:
        """Add the command-line options that ask for this source and shape it (``--labels``,
        ``--dataset``...); none by default, the source is then reached by ``--source KIND``."""

    @classmethod
    def from_options(cls, images: str | None, args: argparse.Namespace) -> Source | None:
        """The source ``args`` ask for through this class's options, or None when they do not;
        ``images`` is the IMAGES argument (None when left out)."""
        return None

    @property
    def name(self) -> str:
        """What the report is named after by default (its title and slug)."""
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """What the manifest records about the source, next to the images' hashes."""
        raise NotImplementedError

    def count(self) -> int | None:
        """How many items :meth:`items` yields, when known without reading them (for progress);
        a source that cannot be opened raises ReportgenError here."""
        return None

    def items(self) -> Iterator[Item]:
        """The items, in the source's order, indexed from 0; one pass."""
        raise NotImplementedError

    def ray_dataset(self, ray: Any) -> Any | None:
        """For the Ray engine: a Ray Data dataset of the items, read on the cluster by Ray Data's
        own readers, one pickled :class:`Item` per row in the column ``item``
        (:func:`pack_items`), the same items as :meth:`items` gives (indexes included), in any
        order. None (the default): the engine lists :meth:`items` on the driver instead."""
        return None


ITEM_COLUMN = "item"  # the column of a Ray Data batch that holds pickled items


def pack_items(items: list[Any]) -> dict[str, np.ndarray]:
    """Items (or anything picklable) as a Ray Data batch: one pickled object per row."""
    return {ITEM_COLUMN: np.array([pickle.dumps(item) for item in items], dtype=object)}


def unpack_items(batch: dict[str, np.ndarray]) -> list[Any]:
    return [pickle.loads(blob) for blob in batch[ITEM_COLUMN]]
