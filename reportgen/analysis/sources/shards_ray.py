"""The shards on the Ray engine: read on the cluster by Ray Data's own readers
(``read_parquet``, ``read_webdataset``), each row turned there into the item the local engine
makes of it, with the same index. Ray's readers do not number rows, so each row's place is found
from what they can add to it:

- Parquet: its file (``include_paths``) and ``row_hash`` (``include_row_hash``), which Ray
  derives from the file and the row's place in it; the worker computes the hashes of a file's
  rows with Ray's own function and looks the row up among them;
- WebDataset: its file and sample key; the worker reads the file's keys in order from its tar
  headers.

The index is the file's first index (the rows of the files before it, counted by the driver from
Parquet metadata or tar headers) plus the row's place in its file. Where this Ray has no row hash
function, :func:`dataset` gives None and the engine reads the items on the driver.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np

from reportgen.analysis.sources.base import Item, pack_items
from reportgen.analysis.sources.shards import (
    ParquetLayout,
    ShardsSource,
    parquet_items,
    webdataset_item,
    webdataset_keys,
)


def _row_hash_function() -> Any:
    """Ray's function behind ``include_row_hash`` (path, first row, rows) -> uint64 hashes."""
    try:
        from ray.data._internal.datasource_v2.common.synthesized_columns import (
            _compute_row_hashes,
        )
    except ImportError:
        return None
    return _compute_row_hashes


def dataset(source: ShardsSource, ray: Any) -> Any | None:
    """The source's items as a Ray dataset of pickled items, or None where this Ray cannot
    place its rows."""
    offsets, first = {}, 0
    for shard in source.shards:
        offsets[str(shard.path.resolve())] = first
        first += shard.rows
    paths = list(offsets)
    if source.format == "webdataset":
        read = ray.data.read_webdataset(paths, decoder=None, include_paths=True)
        return read.map_batches(
            _webdataset_batch, fn_kwargs={"offsets": offsets}, batch_format="pyarrow"
        )
    if _row_hash_function() is None:
        return None
    layout = source.layout
    read = ray.data.read_parquet(paths, include_paths=True, include_row_hash=True)
    read = read.select_columns([*layout.columns, "path", "row_hash"])
    return read.map_batches(
        _parquet_batch,
        fn_kwargs={"layout": layout, "offsets": offsets},
        batch_format="pyarrow",
    )


@functools.lru_cache(maxsize=8)
def _hash_order(path: str) -> tuple[np.ndarray, np.ndarray]:
    """The row hashes of a Parquet file as Ray computes them, sorted, and their rows."""
    import pyarrow.parquet as pq

    hashes = _row_hash_function()(path, 0, pq.ParquetFile(path).metadata.num_rows)
    order = np.argsort(hashes, kind="stable")
    return hashes[order], order


def _rows_in_file(path: str, hashes: np.ndarray) -> list[int]:
    sorted_hashes, rows = _hash_order(path)
    return rows[np.searchsorted(sorted_hashes, hashes)].tolist()


def _parquet_batch(table: Any, layout: ParquetLayout, offsets: dict[str, int]) -> Any:
    items: list[Item] = []
    paths = table.column("path").to_pylist()
    for path in dict.fromkeys(paths):
        mask = np.array(paths) == path
        part = table.filter(mask)
        rows = _rows_in_file(path, part.column("row_hash").to_numpy())
        first = offsets[str(Path(path).resolve())]
        shard = Path(path).name
        items.extend(parquet_items(part, layout, shard, rows, [first + row for row in rows]))
    return pack_items(items)


@functools.lru_cache(maxsize=8)
def _key_places(path: str) -> dict[str, int]:
    return {key: place for place, key in enumerate(webdataset_keys(Path(path)))}


def _webdataset_batch(table: Any, offsets: dict[str, int]) -> Any:
    items = []
    for row in table.to_pylist():
        path, key = row.pop("path"), row.pop("__key__")
        members = {  # a member a sample lacks is null, or NaN once Ray merged blocks
            name.lower(): value
            for name, value in row.items()
            if not name.startswith("__") and isinstance(value, bytes)
        }
        index = offsets[str(Path(path).resolve())] + _key_places(path)[key]
        items.append(webdataset_item(index, Path(path).name, key, members))
    return pack_items(items)
