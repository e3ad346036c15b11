"""The results table: one row per image in ``results.parquet``, read without one giant JSON file.

Columns (see :data:`SCHEMA`): the image's index, id, name, where its source keeps it
(``source_id``), its ``label`` in the source, the model's top-1 class (``predicted``) and
whether the two agree (``correct``, null unless labels match the model's classes), sha256, size
and original size, its
level, the entropy of the spread-by map, the entropy of every layer map, the top-k labels and
probabilities, the number of artifact patches masked in each layer (empty when artifacts were
kept, and for results of reportgen 0.1), the artifact score (the share of high-norm patch
tokens, :mod:`reportgen.methods.norms`; null in tables written before it) and the paths of its
maps file and figure. Paths are relative to the folder holding the table (a report's
``data/``), so ``maps/<id>.npz`` and ``../figures/<id>.webp``; the figure is null in a bare
results store.

Lists stay lists in Parquet; the CSV export spreads them over numbered columns
(``layer_entropy_1``, ``label_1``, ``probability_1``, ``artifact_count_1`` ...), one value
per cell.
"""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO

import pyarrow as pa
import pyarrow.parquet as pq

from reportgen import store

TABLE_FILE = "results.parquet"
EXPORT_FORMATS = ("csv", "parquet")
SCHEMA = pa.schema(
    [
        ("index", pa.int32()),
        ("id", pa.string()),
        ("name", pa.string()),
        ("source_id", pa.string()),
        ("label", pa.string()),
        ("predicted", pa.string()),
        ("correct", pa.bool_()),
        ("sha256", pa.string()),
        ("size_bytes", pa.int64()),
        ("width", pa.int32()),
        ("height", pa.int32()),
        ("level", pa.int32()),
        ("entropy", pa.float64()),
        ("layer_entropies", pa.list_(pa.float64())),
        ("labels", pa.list_(pa.string())),
        ("probabilities", pa.list_(pa.float64())),
        ("artifact_counts", pa.list_(pa.int32())),
        ("artifact_score", pa.float64()),
        ("maps_file", pa.string()),
        ("figure_file", pa.string()),
    ]
)
_LISTS = {
    "layer_entropies": "layer_entropy",
    "labels": "label",
    "probabilities": "probability",
    "artifact_counts": "artifact_count",
}


def maps_file(image_id: str) -> str:
    """Where an image's maps file sits, relative to the table's folder."""
    return f"maps/{image_id}.npz"


def to_table(rows: Sequence[Mapping], figure_files: Mapping[str, str] | None = None) -> pa.Table:
    """The table of ``rows`` (dicts of every column but the paths), in their order.

    ``figure_files`` maps an image id to its figure, relative to the report folder.
    """
    return pa.table(_columns(rows, figure_files), schema=SCHEMA)


def _columns(rows: Iterable[Mapping], figure_files: Mapping[str, str] | None) -> dict[str, list]:
    """The values of each column of :func:`to_table`, as Python lists."""
    figures = figure_files or {}
    columns: dict[str, list] = {name: [] for name in SCHEMA.names}
    for item in rows:
        for name, value in item.items():
            columns[name].append(value)
        columns["maps_file"].append(maps_file(item["id"]))
        figure = figures.get(item["id"])
        columns["figure_file"].append(f"../{figure}" if figure else None)
    return columns


ROW_GROUP = 512  # rows written at a time: bounds the memory a large table takes to write


def write(
    path: Path, rows: Iterable[Mapping], figure_files: Mapping[str, str] | None = None
) -> None:
    """Write ``rows`` (see :func:`to_table`) as Parquet (zstd), a row group at a time, so a
    large table is never whole in memory; equal rows give equal bytes."""
    rows = iter(rows)
    with store.atomic_path(path) as temp, pq.ParquetWriter(temp, SCHEMA, compression="zstd") as out:
        while chunk := list(itertools.islice(rows, ROW_GROUP)):
            out.write_table(to_table(chunk, figure_files))
    pa.default_memory_pool().release_unused()  # Arrow's allocator would keep the pages


def holds(
    path: Path, rows: Iterable[Mapping], figure_files: Mapping[str, str] | None = None
) -> bool:
    """Whether ``path`` is already the table :func:`write` would write (the current schema,
    the same values in the same order), compared a row group at a time: a re-render keeps such
    a table instead of writing it again, which costs more (pyarrow imports pandas to build a
    table from Python values: 0.2-0.3 s)."""
    try:
        parquet = pq.ParquetFile(path)
    except (OSError, pa.ArrowException):
        return False
    with parquet:
        if not parquet.schema_arrow.equals(SCHEMA):
            return False
        rows = iter(rows)
        for batch in parquet.iter_batches(ROW_GROUP):
            chunk = list(itertools.islice(rows, batch.num_rows))
            if batch.to_pydict() != _columns(chunk, figure_files):
                return False
    return next(rows, None) is None


def read(path: Path) -> pa.Table:
    """The table at ``path``; columns added since it was written (labels) are null. Read as one
    file: ``pq.read_table`` would import pyarrow's datasets, and with them pandas (0.2 s)."""
    with pq.ParquetFile(path) as parquet:
        found = parquet.read()
    columns = [
        found.column(name) if name in found.column_names else pa.nulls(len(found), field.type)
        for name, field in zip(SCHEMA.names, SCHEMA, strict=True)
    ]
    return pa.table(columns, schema=SCHEMA)


def rows(table: pa.Table) -> Iterator[dict]:
    """The table's rows as dicts, a batch at a time (never every row as Python objects at once
    on top of the table)."""
    for batch in table.to_batches(max_chunksize=4096):
        yield from batch.to_pylist()


def export(table: pa.Table, fmt: str, stream: IO[bytes]) -> None:
    """Write ``table`` to a binary ``stream`` as ``csv`` (lists spread over numbered columns) or
    ``parquet``."""
    if fmt == "parquet":
        pq.write_table(table, stream, compression="zstd")
        return
    widths = {
        name: max((len(value) for value in table.column(name).to_pylist()), default=0)
        for name in _LISTS
    }
    header = []
    for name in SCHEMA.names:
        if name in _LISTS:
            header += [f"{_LISTS[name]}_{position}" for position in range(1, widths[name] + 1)]
        else:
            header.append(name)
    text = io.TextIOWrapper(stream, encoding="utf-8", newline="", write_through=True)
    writer = csv.writer(text)
    writer.writerow(header)
    for item in rows(table):
        cells = []
        for name in SCHEMA.names:
            if name in _LISTS:
                values = item[name]
                cells += [*values, *[""] * (widths[name] - len(values))]
            else:
                cells.append("" if item[name] is None else item[name])
        writer.writerow(cells)
    text.detach()
