"""The shards source (``--shards 'data/*.parquet'`` or ``'data/*.tar'``): the rows of Parquet
files or the samples of WebDataset tar files, matched by a glob, in the order of the files' names
then of the rows in each file.

- Parquet: an image column of encoded bytes (binary, or HuggingFace's ``{bytes, path}`` struct)
  and an optional label column (text, or integers named by HuggingFace's ``ClassLabel`` metadata
  in the file); detected, or named by ``--image-column``/``--label-column``. Read a batch of rows
  at a time (``ParquetFile.iter_batches``), so memory stays bounded whatever the files hold.
- WebDataset: members grouped by key (the path before the first dot of the file name); the image
  is the ``.jpg``/``.jpeg``/``.png``/``.webp`` member, the label the ``.cls`` text or the
  ``label``/``class`` field of the ``.json`` member. Read as a stream, one sample at a time.

A row without an image or with an empty label is skipped with that reason; an undecodable image
is skipped where every source's are. The Ray engine reads the shards with Ray Data's own readers
(:meth:`ShardsSource.ray_dataset`, :mod:`.shards_ray`).
"""

from __future__ import annotations

import argparse
import functools
import glob
import json
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from reportgen.analysis.sources.base import (
    Encoded,
    Item,
    Source,
    Unusable,
    content_hash,
    label_text,
    labelled_item,
    recorded_path,
)
from reportgen.errors import ReportgenError

PARQUET_SUFFIXES = (".parquet", ".pq")
TAR_SUFFIXES = (".tar",)
IMAGE_COLUMNS = ("image", "img", "jpg", "png", "bytes")  # tried in this order
LABEL_COLUMNS = ("label", "class", "target", "labels")
WEBDATASET_IMAGES = ("jpg", "jpeg", "png", "webp")  # the members that hold a sample's image
ROWS_PER_BATCH = 64  # Parquet rows read at once: a few MB of images


def _reader(image: bytes | Unusable) -> Encoded | Unusable:
    return image if isinstance(image, Unusable) else Encoded(image)


# --- Parquet -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParquetLayout:
    """Which columns of the shards hold the image and the label, and the label's class names."""

    image: str
    label: str | None
    class_names: list[str] | None  # HuggingFace ClassLabel names of an integer label

    @property
    def columns(self) -> list[str]:
        return [self.image] if self.label is None else [self.image, self.label]

    @classmethod
    def detect(
        cls, schema: Any, image: str | None, label: str | None, where: Path
    ) -> ParquetLayout:
        """The layout of a file with ``schema`` (pyarrow); ``image``/``label`` as the user named
        them, else detected."""
        import pyarrow as pa

        def is_image(field: Any) -> bool:
            kind = field.type
            if pa.types.is_struct(kind):
                return kind.get_field_index("bytes") >= 0
            return pa.types.is_binary(kind) or pa.types.is_large_binary(kind)

        names = schema.names
        for given in (image, label):
            if given is not None and given not in names:
                raise ReportgenError(f"{where}: no column {given!r} (columns: {', '.join(names)})")
        if image is None:
            found = [field.name for field in schema if is_image(field)]
            preferred = [name for name in IMAGE_COLUMNS if name in found]
            if not found:
                raise ReportgenError(
                    f"{where}: no column of image bytes (columns: {', '.join(names)}); "
                    "name it with --image-column"
                )
            image = (preferred or found)[0]
        if label is None:
            label = next((name for name in LABEL_COLUMNS if name in names), None)
        return cls(image, label, class_names(schema, label))


def class_names(schema: Any, column: str | None) -> list[str] | None:
    """The ClassLabel names HuggingFace writes into a Parquet file's metadata for ``column``."""
    metadata = (schema.metadata or {}).get(b"huggingface")
    if column is None or metadata is None:
        return None
    try:
        feature = json.loads(metadata)["info"]["features"][column]
    except (ValueError, KeyError, TypeError):
        return None
    names = feature.get("names") if isinstance(feature, dict) else None
    return names if feature.get("_type") == "ClassLabel" and isinstance(names, list) else None


def parquet_file(path: Path) -> Any:
    """The opened Parquet file (its metadata read), or a one-line error."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as error:
        raise ReportgenError(f"cannot read the Parquet shard {path}: {error}") from None


def parquet_batches(path: Path, columns: list[str]) -> Iterator[Any]:
    """``columns`` of a Parquet file, a batch of rows at a time, or a one-line error."""
    import pyarrow as pa

    parquet = parquet_file(path)
    missing = [column for column in columns if column not in parquet.schema_arrow.names]
    if missing:
        raise ReportgenError(f"{path} has no column {missing[0]!r}, which the first shard has")
    try:
        yield from parquet.iter_batches(ROWS_PER_BATCH, columns=columns)
    except (pa.ArrowException, OSError) as error:
        raise ReportgenError(f"cannot read {', '.join(columns)} of {path}: {error}") from None


def parquet_items(
    table: Any, layout: ParquetLayout, shard: str, rows: list[int], indexes: list[int]
) -> Iterator[Item]:
    """The items of a batch of Parquet rows (a pyarrow table or record batch of ``layout``'s
    columns): row ``rows[i]`` of ``shard`` gets index ``indexes[i]``."""
    images = table.column(layout.image).to_pylist()
    labels = table.column(layout.label).to_pylist() if layout.label else [None] * len(images)
    for value, label, row, index in zip(images, labels, rows, indexes, strict=True):
        source_id = f"{shard}[{row}]"
        name, image = source_id, value
        if isinstance(value, dict):  # HuggingFace's Image feature: {bytes, path}
            image = value.get("bytes")
            name = PurePosixPath(value.get("path") or "").name or source_id
        if image is None:
            image = Unusable(f"no image bytes in column {layout.image!r}")
        if layout.label:
            label = label_text(label, layout.class_names)
        yield labelled_item(index, name, source_id, _reader(image), label)


# --- WebDataset ----------------------------------------------------------------------------------


def sample_key(member: str) -> tuple[str, str]:
    """(key, extension) of a WebDataset member: ``a/b.seg.png`` is (``a/b``, ``seg.png``)."""
    folder, _, base = member.rpartition("/")
    stem, _, extension = base.partition(".")
    return (f"{folder}/{stem}" if folder else stem), extension.lower()


def webdataset_samples(path: Path) -> Iterator[tuple[str, dict[str, bytes]]]:
    """(key, {extension: bytes}) of each sample of a tar file, read as a stream."""
    key, members = None, {}
    try:
        with tarfile.open(path, mode="r|*") as tar:
            for member in tar:
                if not member.isfile():
                    continue
                member_key, extension = sample_key(member.name)
                if member_key != key and key is not None:
                    yield key, members
                    members = {}
                key = member_key
                members[extension] = tar.extractfile(member).read()
    except (tarfile.TarError, OSError) as error:
        raise ReportgenError(f"cannot read the WebDataset shard {path}: {error}") from None
    if key is not None:
        yield key, members


def webdataset_keys(path: Path) -> list[str]:
    """The sample keys of a tar file in order, from its headers alone."""
    keys: list[str] = []
    try:
        with tarfile.open(path, mode="r:*") as tar:
            for member in tar:
                key = sample_key(member.name)[0]
                if member.isfile() and (not keys or keys[-1] != key):
                    keys.append(key)
    except (tarfile.TarError, OSError) as error:
        raise ReportgenError(f"cannot read the WebDataset shard {path}: {error}") from None
    return keys


def webdataset_label(members: dict[str, Any]) -> str | Unusable | None:
    """A sample's label: its ``.cls`` text, or its ``.json``'s ``label``/``class``; None when
    it has neither member."""
    if members.get("cls") is not None:
        return label_text(bytes(members["cls"]).decode("utf-8", "replace"))
    if members.get("json") is None:
        return None
    try:
        fields = json.loads(bytes(members["json"]))
    except ValueError:
        return Unusable("its .json member is not JSON")
    if not isinstance(fields, dict):
        return Unusable("its .json member is not a JSON object")
    return label_text(fields.get("label", fields.get("class")))


def webdataset_item(index: int, shard: str, key: str, members: dict[str, Any]) -> Item:
    """The item of one sample (``members``: its bytes by extension, None where absent)."""
    extension = next((ext for ext in WEBDATASET_IMAGES if members.get(ext) is not None), None)
    if extension is None:
        present = ", ".join(f".{ext}" for ext, data in members.items() if data is not None)
        image: bytes | Unusable = Unusable(f"no image member (it has {present or 'none'})")
        name = PurePosixPath(key).name
    else:
        image, name = bytes(members[extension]), f"{PurePosixPath(key).name}.{extension}"
    return labelled_item(index, name, f"{shard}:{key}", _reader(image), webdataset_label(members))


# --- the source ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shard:
    path: Path
    rows: int  # Parquet rows, or WebDataset samples


class ShardsSource(Source):
    kind = "shards"

    def __init__(
        self, pattern: str, image_column: str | None = None, label_column: str | None = None
    ):
        self.pattern = pattern
        self.image_column = image_column
        self.label_column = label_column

    @classmethod
    def open(cls, location: str) -> ShardsSource:
        return cls(location)

    @classmethod
    def add_options(cls, group: argparse._ArgumentGroup) -> None:
        group.add_argument(
            "--shards",
            metavar="GLOB",
            help="Parquet or WebDataset shards, as a quoted glob: 'data/*.parquet' (a column of "
            "image bytes, an optional label column) or 'data/*.tar' (.jpg/.png with .cls/.json)",
        )

    @classmethod
    def from_options(cls, images: str | None, args: argparse.Namespace) -> ShardsSource | None:
        if args.shards is None:
            return None
        pattern = str(Path(images) / args.shards) if images else args.shards
        return cls(pattern, args.image_column, args.label_column)

    def __str__(self) -> str:
        return self.pattern

    @property
    def name(self) -> str:
        """The shards' folder: ``data/*.parquet`` is ``data``."""
        return self.paths[0].resolve().parent.name

    @functools.cached_property
    def format(self) -> str:
        """``parquet`` or ``webdataset``, from the files' suffixes."""
        suffixes = {path.suffix.lower() for path in self.paths}
        if suffixes <= set(PARQUET_SUFFIXES):
            return "parquet"
        if suffixes <= set(TAR_SUFFIXES):
            return "webdataset"
        raise ReportgenError(
            f"--shards {self.pattern}: give Parquet (.parquet) or WebDataset (.tar) files, not "
            f"{', '.join(sorted(suffixes))}"
        )

    @functools.cached_property
    def paths(self) -> list[Path]:
        found = sorted(Path(path) for path in glob.glob(str(Path(self.pattern).expanduser())))
        found = [path for path in found if path.is_file()]
        if not found:
            raise ReportgenError(
                f"no shard matches {self.pattern} (quote the glob so that reportgen expands it)"
            )
        return found

    @functools.cached_property
    def layout(self) -> ParquetLayout:
        """The Parquet columns, detected in the first shard."""
        first = self.paths[0]
        schema = parquet_file(first).schema_arrow
        return ParquetLayout.detect(schema, self.image_column, self.label_column, first)

    @functools.cached_property
    def shards(self) -> list[Shard]:
        """Each shard with its row count, from Parquet metadata or tar headers."""
        if self.format == "webdataset":
            return [Shard(path, len(webdataset_keys(path))) for path in self.paths]
        return [Shard(path, parquet_file(path).metadata.num_rows) for path in self.paths]

    def count(self) -> int:
        """The rows; Parquet files without the image column are an error here, before any
        analysis starts."""
        if self.format == "parquet":
            _ = self.layout
        return sum(shard.rows for shard in self.shards)

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "path": recorded_path(self.pattern),
            "format": self.format,
            "files": [path.name for path in self.paths],
            "count": self.count(),
            "sha256": content_hash(self.paths),
        }

    def items(self) -> Iterator[Item]:
        if self.format == "webdataset":
            yield from self._webdataset_items()
        else:
            yield from self._parquet_items()

    def _parquet_items(self) -> Iterator[Item]:
        layout, first = self.layout, 0
        for shard in self.shards:
            row = 0
            for batch in parquet_batches(shard.path, layout.columns):
                rows = list(range(row, row + batch.num_rows))
                yield from parquet_items(
                    batch, layout, shard.path.name, rows, [first + r for r in rows]
                )
                row += batch.num_rows
            first += shard.rows

    def _webdataset_items(self) -> Iterator[Item]:
        index = 0
        for path in self.paths:
            for key, members in webdataset_samples(path):
                yield webdataset_item(index, path.name, key, members)
                index += 1

    def ray_dataset(self, ray: Any) -> Any:
        from reportgen.analysis.sources import shards_ray

        return shards_ray.dataset(self, ray)
