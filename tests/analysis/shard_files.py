"""Labelled images written as the shards and datasets researchers have: Parquet files (plain
binary or HuggingFace's {bytes, path} struct), WebDataset tars, with hostile labels."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image

# Labels that would inject markup into a page if a template let them through.
LABELS = (
    "<script>alert(1)</script>",
    "**bold** [x](javascript:alert(1))",
    "{{ site.title }} {% raw %}",
    "cat",
)


def png(index: int, side: int = 24, compress_level: int = 6) -> bytes:
    """A random PNG, different for each ``index``."""
    pixels = (np.random.default_rng(index).random((side, side, 3)) * 255).astype(np.uint8)
    encoded = io.BytesIO()
    Image.fromarray(pixels).save(encoded, "PNG", compress_level=compress_level)
    return encoded.getvalue()


def write_parquet(path: Path, images: list, labels: list | None, struct: bool = False) -> Path:
    """A Parquet file of ``images`` (bytes, or None) and ``labels``; ``struct``: the images as
    HuggingFace's {bytes, path} struct, named img-<n>.png."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if struct:
        images = [{"bytes": data, "path": f"img-{n}.png"} for n, data in enumerate(images)]
    columns = {"image": images}
    if labels is not None:
        columns["label"] = labels
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(columns), path, row_group_size=3)
    return path


def write_tar(path: Path, samples: list[tuple[str, dict[str, bytes]]]) -> Path:
    """A WebDataset tar: each sample's members as ``key.extension``, in order."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w") as tar:
        for key, members in samples:
            for extension, data in members.items():
                info = tarfile.TarInfo(f"{key}.{extension}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return path


def label_json(label: str) -> bytes:
    return json.dumps({"label": label}).encode()


def outcomes(source) -> list[tuple]:
    """(index, name, label, source_id, bytes or "skipped: reason") of each item of ``source``."""
    from reportgen.analysis.images import ImageLoadError

    found = []
    for item in source.items():
        try:
            data = item.read()
        except ImageLoadError as error:
            data = f"skipped: {error}"
        found.append((item.index, item.name, item.label, item.source_id, data))
    return found
