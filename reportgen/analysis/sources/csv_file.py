"""The CSV / TSV source (``--labels FILE``): a table whose rows name image files, with or
without a label each.

The file must start with a header row naming its columns. The image column is the one given
by ``--image-column``, else the first named ``file``, ``path`` or ``image``; the label column
is ``--label-column``'s, else the first named ``label``, ``class`` or ``target``, and a file
without one lists images without labels. Names match without regard to case. The delimiter is
a comma for ``.csv``, a tab for ``.tsv``, and sniffed for any other extension (a comma when it
cannot be told). A path is absolute, or relative to the folder IMAGES when it is given, else to
the file's own folder.

The file is streamed row by row, never held whole: :meth:`CsvSource.count` reads it once to
count its rows (and to find a broken file before any image is read), :meth:`CsvSource.items`
reads it again. A row with an empty path or label, or naming a file that is not there, is
skipped with the reason and its line, as an undecodable image is.
"""

from __future__ import annotations

import argparse
import csv
import functools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from reportgen import digests
from reportgen.analysis import images
from reportgen.analysis.sources.base import FileReader, Item, Source, Unusable, recorded_path
from reportgen.errors import ReportgenError

IMAGE_COLUMNS = ("file", "path", "image")
LABEL_COLUMNS = ("label", "class", "target")
DELIMITERS = {".csv": ",", ".tsv": "\t"}
SNIFFED_DELIMITERS = ",\t;|"
SNIFF_BYTES = 1 << 16


def read_listed(path: str, line: int) -> bytes:
    """The bytes of a file a row names, or ImageLoadError saying why not (with the row's line):
    a list may name files that are not there, and each is one skipped row."""
    try:
        with open(path, "rb") as stream:
            return stream.read()
    except FileNotFoundError:
        raise images.ImageLoadError(f"file not found (line {line})") from None
    except OSError as error:
        reason = error.strerror or error
        raise images.ImageLoadError(f"cannot read file: {reason} (line {line})") from None


def table_rows(path: Path, option: str) -> Iterator[tuple[int, list[str]]]:
    """The non-blank rows of a CSV/TSV file (delimiter by extension, else sniffed), each with
    the line it starts on, streamed; one-line errors, naming ``option``, for a file that is not
    there, is no UTF-8 text or that the csv module cannot parse."""
    path = Path(path)
    if not path.is_file():
        raise ReportgenError(
            f"{option}: {'not a file' if path.exists() else 'file not found'}: {path}"
        )
    with path.open(newline="", encoding="utf-8-sig") as stream:
        line = 1
        try:
            reader = csv.reader(stream, delimiter=_delimiter(path, stream))
            for row in reader:
                if any(cell.strip() for cell in row):
                    yield line, row
                line = reader.line_num + 1
        except UnicodeDecodeError:
            raise ReportgenError(f"{option}: {path} is not UTF-8 text") from None
        except csv.Error as error:
            raise ReportgenError(f"{option}: {path} line {line}: {error}") from None


def _delimiter(path: Path, stream: IO[str]) -> str:
    """A comma for .csv, a tab for .tsv, else what the start of ``stream`` shows (a comma when
    it shows none: a single column); the stream is left at its start."""
    if path.suffix.lower() in DELIMITERS:
        return DELIMITERS[path.suffix.lower()]
    sample = stream.read(SNIFF_BYTES)
    stream.seek(0)
    try:
        return csv.Sniffer().sniff(sample, SNIFFED_DELIMITERS).delimiter
    except csv.Error:
        return ","


def _match(header: list[str], given: str | None, known: tuple[str, ...]) -> int | None:
    """The index of the column named ``given`` (any case), else of the first ``known`` name."""
    names = [name.strip().casefold() for name in header]
    wanted = [name.strip().casefold() for name in ((given,) if given is not None else known)]
    return next((names.index(name) for name in wanted if name in names), None)


class CsvSource(Source):
    kind = "csv"

    def __init__(
        self,
        index_file: Path,
        root: Path | None = None,
        image_column: str | None = None,
        label_column: str | None = None,
    ):
        self.index_file = Path(index_file)
        self.root = None if root is None else Path(root)
        self.image_column = image_column
        self.label_column = label_column

    @classmethod
    def open(cls, location: str) -> CsvSource:
        return cls(Path(location))

    @classmethod
    def add_options(cls, group: argparse._ArgumentGroup) -> None:
        group.add_argument(
            "--labels",
            metavar="FILE",
            help="a CSV or TSV with a header row: a column of image paths (file, path or image; "
            "relative to IMAGES when given, else to the file's folder) and optionally one of "
            "labels (label, class or target)",
        )

    @classmethod
    def from_options(cls, images: str | None, args: argparse.Namespace) -> CsvSource | None:
        """The file --labels names; IMAGES, when given, is where its relative paths start."""
        if args.labels is None:
            return None
        root = None if images is None else Path(images)
        return cls(Path(args.labels), root, args.image_column, args.label_column)

    def __str__(self) -> str:
        return str(self.index_file)

    @property
    def name(self) -> str:
        """The folder of the images: IMAGES, else the file's own folder."""
        return (self.root or self.index_file.parent).resolve().name

    def describe(self) -> dict[str, Any]:
        header = self._scan[0]
        image, label = self._indices(header)
        return {
            "kind": self.kind,
            "path": recorded_path(self.index_file),
            "root": None if self.root is None else recorded_path(self.root),
            "image_column": header[image].strip(),
            "label_column": None if label is None else header[label].strip(),
            "count": self.count(),
            "sha256": digests.sha256_of(self.index_file),
        }

    def _rows(self) -> Iterator[tuple[int, list[str]]]:
        return table_rows(self.index_file, "--labels")

    @functools.cached_property
    def _scan(self) -> tuple[list[str], int]:
        """The header and the number of rows below it: one read of the whole file, which finds
        a broken one before any image is read."""
        rows = self._rows()
        first = next(rows, None)
        if first is None:
            raise ReportgenError(f"--labels: {self.index_file} is empty: it needs a header row")
        header = first[1]
        self._indices(header)
        count = sum(1 for _ in rows)
        if count == 0:
            raise ReportgenError(f"--labels: {self.index_file} lists no images (only its header)")
        return header, count

    def _indices(self, header: list[str]) -> tuple[int, int | None]:
        image = _match(header, self.image_column, IMAGE_COLUMNS)
        label = _match(header, self.label_column, LABEL_COLUMNS)
        found = ", ".join(repr(name) for name in header)
        if image is None:
            wanted = repr(self.image_column) if self.image_column else "file, path or image"
            raise ReportgenError(
                f"--labels: {self.index_file}: no image column ({wanted}) in its first row "
                f"({found}); the first row must be a header naming the columns (or give "
                "--image-column)"
            )
        if label is None and self.label_column is not None:
            raise ReportgenError(
                f"--labels: {self.index_file}: no column {self.label_column!r} in its header "
                f"({found})"
            )
        return image, label

    def count(self) -> int:
        return self._scan[1]

    def items(self) -> Iterator[Item]:
        image, label = self._indices(self._scan[0])
        base = str((self.root or self.index_file.parent).resolve())
        rows = self._rows()
        next(rows)  # the header
        for index, (line, row) in enumerate(rows):
            yield self._item(index, line, row, image, label, base)

    @staticmethod
    def _item(
        index: int, line: int, row: list[str], image: int, label: int | None, base: str
    ) -> Item:
        """The item of one row: the file it names, or a skip that says what the row lacks.
        (Paths are joined as text: pathlib would intern every part of 100,000 of them.)"""
        name, source_id = _cell(row, image), f"line {line}"
        text = None if label is None else _cell(row, label)
        if not name:
            return Item(index, source_id, Unusable(f"no image path (line {line})"), text)
        if text == "":
            return Item(index, name, Unusable(f"empty label (line {line})"), None, source_id)
        read = functools.partial(read_listed, line=line)
        reader = FileReader(os.path.join(base, name), read)  # an absolute path stays as it is
        return Item(index, name, reader, text, source_id)


def _cell(row: list[str], column: int) -> str:
    """A row's cell without surrounding blanks; a short row's missing cells are empty."""
    return row[column].strip() if column < len(row) else ""
