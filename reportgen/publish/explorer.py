"""The attention explorer of the html image pages: its data, one small script per image.

The page draws every overlay itself (``templates/explorer.js``), so the data is the stored
attention, not pixels: the image as the model saw it (the maps file's own WebP bytes, so the
browser blends over the very pixels the figures use), every named map, the artifact mask,
every head's CLS row (maps files before format 4 may lack them) and each layer's token norms
(8 bits, as the maps file keeps them; older files lack them). Maps are quantised per grid to
16 bits (the overlay's colour index, 8 bits, is exact to within one step), heads to 8 bits: the
maps file's own levels exactly (4 bits from format 7), unless it keeps float16 heads. The raw
layer maps (before artifact masking) are the mean of the heads, which the script averages itself
(data scripts before issue 23 carried them as ``raw``: 8 kB of the 61 kB per image). Each file is a
script that hands its data to ``reportgenExplorer``, so pages opened from disk (``file://``,
where ``fetch`` is blocked) load it too. The colour maps are lookup tables from matplotlib, in one
shared script. Everything is JSON with ``<``, ``>``, ``&`` and U+2028/9 escaped: no name can end
the script. The feature view's three channels travel as the token norms do (8 bits), if stored.
"""

from __future__ import annotations

import base64
import io
import posixpath
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from reportgen import digests, store, table
from reportgen.methods import panels, registry
from reportgen.methods.features import FEATURES
from reportgen.methods.norms import NORMS
from reportgen.publish import render
from reportgen.publish.escaping import HTML_ESCAPING, script_json
from reportgen.publish.figures import FigureStyle
from reportgen.publish.flavours.distill import EXPLORER_PAGE
from reportgen.publish.folders import DATA_DIR
from reportgen.publish.page_model import ExplorerFiles
from reportgen.publish.pages import PAGE_STYLE
from reportgen.publish.templates import Templates
from reportgen.quantise import quantise
from reportgen.record import ImageRecord
from reportgen.results import Analysis, ImageSummary
from reportgen.workers import Pool, in_chunks

FOLDER = "explorer"  # in the report folder: explorer.js, colormaps.js, <id>.js
SCRIPT = "explorer.js"
COLORMAPS = "colormaps.js"
EXTRA_COLORMAPS = ("viridis", "inferno", "gray")  # offered besides the report's own


def files(image_id: str, maps: bool = False) -> ExplorerFiles:
    """The explorer's scripts and page for an image, relative to the report folder; its data is
    the image's data script, or with ``maps`` its maps file (``--explorer-data maps``: the
    script fetches it and reads it as :func:`image_data` would make it, over http(s) only)."""
    return ExplorerFiles(
        image_id,
        f"{DATA_DIR}/{table.maps_file(image_id)}" if maps else f"{FOLDER}/{image_id}.js",
        f"{FOLDER}/{SCRIPT}",
        f"{FOLDER}/{COLORMAPS}",
        f"{FOLDER}/{image_id}.html",
        PAGE_STYLE,
    )


def quantised(values: np.ndarray, bits: int) -> dict[str, Any]:
    """``values`` (..., grid_h, grid_w) quantised per grid (:func:`quantise`): each grid's
    ``low`` and ``high`` and little-endian base64 ``data``."""
    levels, low, high = quantise(values, bits)
    little_endian = levels.astype(levels.dtype.newbyteorder("<"), copy=False)
    return {
        "low": low.ravel().tolist(),
        "high": high.ravel().tolist(),
        "bits": bits,
        "data": base64.b64encode(little_endian.tobytes()).decode("ascii"),
    }


def _image_url(seen_image_webp: bytes | None, record: ImageRecord) -> str:
    """The seen image as a data URL: the maps file's WebP bytes, else (older files) PNG."""
    if seen_image_webp is None:
        buffer = io.BytesIO()
        Image.fromarray(record.seen_image).save(buffer, "PNG")
        return data_url("image/png", buffer.getvalue())
    return data_url("image/webp", seen_image_webp)


def image_data(record: ImageRecord, seen_image_webp: bytes | None) -> dict[str, Any]:
    """What the explorer needs of one image (see the module doc)."""
    layers = record.maps[panels.LAYERS]
    heads = record.cls_heads
    data: dict[str, Any] = {
        "name": record.name,
        "grid": list(layers.shape[1:]),
        "size": list(record.seen_image.shape[:2]),
        "image": _image_url(seen_image_webp, record),
        "layers": quantised(layers, 16),
        "maps": {
            name: quantised(values, 16) for name, values in registry.grid_maps(record.maps).items()
        },
        "heads": None,
        "mask": None,
        "norms": quantised(record.maps[NORMS], 8) if NORMS in record.maps else None,
        "features": quantised(record.maps[FEATURES], 8) if FEATURES in record.maps else None,
    }
    if heads is not None:
        data["heads"] = {"count": int(heads.shape[1]), **quantised(heads, 8)}
    if record.artifact_mask is not None and record.artifact_mask.any():
        data["mask"] = np.flatnonzero(record.artifact_mask).tolist()
    return data


def write_shared(report_dir: Path, colormap: str, alpha: float, templates: Templates):
    """The explorer script and the colour maps, once per report."""
    folder = Path(report_dir) / FOLDER
    store.atomic_write(folder / SCRIPT, templates.file(SCRIPT).read_bytes())
    store.atomic_write(folder / COLORMAPS, colormaps_script(colormap, alpha))


def data_script(record: ImageRecord, seen_image_webp: bytes | None) -> str:
    return f"reportgenExplorer({script_json(image_data(record, seen_image_webp))});\n"


def seen_image_webp(maps_path: Path) -> bytes | None:
    """The WebP bytes of the seen image in a maps file (format 3 on), else None."""
    with store.open_record(maps_path) as (_, data):
        if "seen_image_webp" not in data.files:
            return None
        return data["seen_image_webp"].tobytes()


def standalone_page(
    analysis: Analysis, image: ImageSummary, style: FigureStyle, templates: Templates
) -> str:
    """One image's explorer as a page that needs no other file (the notebook's inline
    explorer): the page the distill post frames, with the explorer script, the colour maps and
    the image's data as data URLs."""
    maps_path = analysis.root / table.maps_file(image.id)
    scripts = {
        "script_src": templates.file(SCRIPT).read_bytes(),
        "colormaps_src": colormaps_script(style.colormap, style.alpha).encode(),
        "data_src": data_script(analysis.record(image), seen_image_webp(maps_path)).encode(),
    }
    variables = {
        "name": image.name,
        "layers": analysis.model.layers,
        "style_src": None,  # its rules inline
        **{key: data_url("text/javascript", data) for key, data in scripts.items()},
    }
    return templates.render(HTML_ESCAPING, EXPLORER_PAGE, variables).decode()


def data_url(media_type: str, data: bytes) -> str:
    """``data`` as a base64 data URL."""
    return f"data:{media_type};base64,{base64.b64encode(data).decode('ascii')}"


def colormaps_script(report_colormap: str, alpha: float) -> str:
    """The colour maps the explorer offers (the report's first) as 256x3 lookup tables, and the
    report's alpha."""
    names: Sequence[str] = tuple(dict.fromkeys((report_colormap, *EXTRA_COLORMAPS)))
    tables = {
        name: base64.b64encode(render.colormap_lut(name).tobytes()).decode("ascii")
        for name in names
    }
    settings = {"colormaps": tables, "alpha": alpha}
    return f"reportgenExplorerSettings({script_json(settings)});\n"


def page_html(name: str, layers: int, image_files: ExplorerFiles, templates: Templates) -> bytes:
    """An image's explorer as a page of its own that loads the scripts beside it, so the
    explorer folder works as it is, from disk or from any site, in an ``<iframe>``."""
    variables = {
        "name": name,
        "layers": layers,
        "data_src": posixpath.relpath(image_files.data, FOLDER),
        "script_src": posixpath.basename(image_files.script),
        "colormaps_src": posixpath.basename(image_files.colormaps),
        "style_src": posixpath.relpath(image_files.style, FOLDER),
    }
    return templates.render(HTML_ESCAPING, EXPLORER_PAGE, variables)


def write_report(
    report: Path,
    analysis: Analysis,
    style: FigureStyle,
    templates: Templates,
    cache: store.ContentCache | None,
    maps: bool = False,
    pool: Pool | None = None,
) -> None:
    """The explorer of a report: its scripts, and each image's data (none with ``maps``: see
    :func:`files`) and page (:func:`write_image`), written in ``pool`` (by default here)."""
    write_shared(report, style.colormap, style.alpha, templates)
    code = store.source_fingerprint("publish.explorer", "store", "quantise")  # reads, quantises
    templates_key = templates.fingerprint if cache else ""
    page_parts = {"layers": analysis.model.layers, "templates": templates_key, "code": code}
    shared = (report, templates, cache, page_parts, maps)
    images = [(analysis.root / table.maps_file(image.id), image) for image in analysis.images]
    in_chunks(
        pool, _write_images, [(shared, images)], "explorer data", total=len(images), unit="image"
    )


def _write_images(shared: tuple[Any, ...], images: list[tuple[Path, ImageSummary]]) -> int:
    """:func:`write_image` for each (maps file, image) of a chunk, as a worker's task (one task
    an image cost more in passing it than in writing it, when the cache has the files)."""
    report, templates, cache, page_parts, maps = shared
    for maps_path, image in images:
        write_image(report, maps_path, image, templates, cache, page_parts, maps)
    return len(images)


def write_image(
    report: Path,
    maps_path: Path,
    image: ImageSummary,
    templates: Templates,
    cache: store.ContentCache | None,
    page_parts: dict[str, Any],
    maps: bool = False,
) -> None:
    """One image's explorer data (unless ``maps``: :func:`_write_data`) and page
    (:func:`page_html`, about 7 kB), from the cache when the same maps file and name were
    prepared before; ``page_parts`` are the layers, the templates' and the code's fingerprints."""
    image_files = files(image.id, maps)
    if not maps:
        _write_data(report / image_files.data, maps_path, image, cache, page_parts["code"])
    page_key = None
    if cache is not None:
        scripts = [image_files.data, image_files.script, image_files.colormaps]
        page_key = store.content_key({**page_parts, "name": image.name, "files": scripts})

    def page() -> bytes:
        return page_html(image.name, page_parts["layers"], image_files, templates)

    store.produce(cache, "explorer", page_key, ".html", report / image_files.page, page)


def _write_data(
    path: Path,
    maps_path: Path,
    image: ImageSummary,
    cache: store.ContentCache | None,
    code: str,
) -> None:
    """An image's data script, from the cache when the same maps file was prepared before by
    the same ``code``."""
    key = None
    if cache is not None:
        # The name too: the data shows it, and images with the same pixels share maps files.
        maps = digests.file_sha256(maps_path, cache)
        key = store.content_key({"maps": maps, "name": image.name, "code": code})

    def make() -> str:
        record = store.read_record(maps_path, image.name)
        return data_script(record, seen_image_webp(maps_path))

    store.produce(cache, "explorer", key, ".js", path, make)
