"""Pixels: overlays of attention maps on images, composed figures, and web encoding.

numpy + Pillow only, with a matplotlib colormap used as a 256-entry lookup table: reports run to
hundreds of images, so no panel is drawn with matplotlib. Output bytes are deterministic.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .errors import ReportgenError

FORMAT_EXTENSIONS = {"webp": ".webp", "jpeg": ".jpg", "png": ".png"}
LABEL_HEIGHT = 16
GAP = 4
BACKGROUND = (255, 255, 255)
TEXT_COLOUR = (30, 30, 30)


@functools.lru_cache(maxsize=16)
def colormap_lut(name: str) -> np.ndarray:
    """(256, 3) uint8 lookup table of a matplotlib colormap."""
    import matplotlib

    try:
        cmap = matplotlib.colormaps[name]
    except KeyError:
        examples = ", ".join(("jet", "viridis", "inferno", "magma", "turbo"))
        raise ReportgenError(f"unknown colormap {name!r}; try one of {examples}") from None
    table = cmap(np.linspace(0.0, 1.0, 256))[:, :3]
    lut = np.round(table * 255).astype(np.uint8)
    lut.setflags(write=False)
    return lut


def upsample_bilinear(attention: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear upsampling of a (grid_h, grid_w) map to (height, width), float32."""
    height, width = size
    grid = Image.fromarray(np.ascontiguousarray(attention, dtype=np.float32), mode="F")
    return np.asarray(grid.resize((width, height), Image.Resampling.BILINEAR), dtype=np.float32)


def normalise_for_display(values: np.ndarray) -> np.ndarray:
    """Min-max rescale to [0, 1] per panel; a constant map becomes zeros."""
    values = np.asarray(values, dtype=np.float32)
    low, high = float(values.min()), float(values.max())
    if not high > low:
        return np.zeros_like(values)
    return np.clip((values - low) / (high - low), 0.0, 1.0)


def overlay(
    image: np.ndarray, attention: np.ndarray, cmap: str = "jet", alpha: float = 0.5
) -> np.ndarray:
    """Colour-mapped attention (upsampled to the image) alpha-blended over ``image`` (uint8)."""
    height, width = image.shape[:2]
    heat = normalise_for_display(upsample_bilinear(attention, (height, width)))
    coloured = np.take(colormap_lut(cmap), np.round(heat * 255).astype(np.uint8), axis=0)
    blended = (1.0 - alpha) * image.astype(np.float32) + alpha * coloured.astype(np.float32)
    return np.clip(np.round(blended), 0, 255).astype(np.uint8)


def _panel_shape(image_hw: tuple[int, int], panel_size: int) -> tuple[int, int]:
    """(height, width) with the longer side ``panel_size``, keeping the aspect ratio."""
    height, width = image_hw
    scale = panel_size / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


@functools.lru_cache(maxsize=1)
def _font() -> ImageFont.ImageFont:
    return ImageFont.load_default(size=12)


def default_columns(n_layer_panels: int) -> int:
    """Per-layer panels fill rows of at most 8 (12 layers: 2 rows of 6, 6 is readable)."""
    if n_layer_panels <= 8:
        return max(n_layer_panels, 5)
    rows = -(-n_layer_panels // 8)
    return max(-(-n_layer_panels // rows), 5)


def _layout(labels: Sequence[str], columns: int | None) -> list[list[int]]:
    """Rows of panel indices: per-layer panels first, then the input and the aggregates.

    Panel 0 is the input image; labels starting with "L" are layers, the rest aggregates.
    """
    layers = [i for i, label in enumerate(labels) if i and label.startswith("L")]
    others = [i for i, label in enumerate(labels) if i and not label.startswith("L")]
    columns = columns or default_columns(len(layers))
    rows = [[0, *others]] if len(others) + 1 <= columns else [[0]] + _chunks(others, columns)
    return rows + _chunks(layers, columns)


def _chunks(items: list[int], size: int) -> list[list[int]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


def compose_figure(
    image: np.ndarray,
    panels: Sequence[tuple[str, np.ndarray]],
    *,
    cmap: str = "jet",
    alpha: float = 0.5,
    panel_size: int = 160,
    columns: int | None = None,
) -> Image.Image:
    """One figure per image: the input as the model saw it, then a labelled overlay per map.

    Layout: first row the input and the aggregates (max, min, mean, rollout), then the layers
    L1..LN in rows; ``columns`` overrides the row width. Each overlay is computed at panel
    resolution (the grid is upsampled once, straight to the panel size).
    """
    panel_h, panel_w = _panel_shape(image.shape[:2], panel_size)
    base = np.asarray(Image.fromarray(image).resize((panel_w, panel_h), Image.Resampling.BILINEAR))
    tiles = [("input", base)] + [
        (label, overlay(base, attention, cmap, alpha)) for label, attention in panels
    ]
    rows = _layout([label for label, _ in tiles], columns)
    n_columns = max(len(row) for row in rows)
    cell_h, cell_w = panel_h + LABEL_HEIGHT, panel_w
    width = n_columns * cell_w + (n_columns + 1) * GAP
    height = len(rows) * cell_h + (len(rows) + 1) * GAP
    canvas = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    for row_index, row in enumerate(rows):
        top = GAP + row_index * (cell_h + GAP)
        for column_index, tile_index in enumerate(row):
            label, pixels = tiles[tile_index]
            left = GAP + column_index * (cell_w + GAP)
            draw.text(
                (left + cell_w / 2, top + LABEL_HEIGHT / 2),
                label,
                fill=TEXT_COLOUR,
                font=_font(),
                anchor="mm",
            )
            canvas.paste(Image.fromarray(pixels), (left, top + LABEL_HEIGHT))
    return canvas


def encode_image(image: Image.Image, fmt: str = "webp", quality: int = 80) -> bytes:
    """Encode for the web with no metadata, so equal pixels give equal bytes."""
    if fmt not in FORMAT_EXTENSIONS:
        raise ReportgenError(f"unknown image format {fmt!r}; choose from webp, jpeg, png")
    clean = Image.frombytes(image.mode, image.size, image.tobytes())  # drops info and EXIF
    buffer = io.BytesIO()
    if fmt == "webp":
        clean.save(buffer, "WEBP", quality=quality, method=2)  # 2: 2x faster than 4, +5% bytes
    elif fmt == "jpeg":
        clean.save(buffer, "JPEG", quality=quality, optimize=True, progressive=True)
    else:
        clean.save(buffer, "PNG", optimize=False, compress_level=6)
    return buffer.getvalue()


def thumbnail(image: np.ndarray, max_side: int = 320) -> Image.Image:
    """A copy with the longer side at most ``max_side`` pixels, for index pages."""
    height, width = _panel_shape(image.shape[:2], min(max_side, max(image.shape[:2])))
    return Image.fromarray(image).resize((width, height), Image.Resampling.LANCZOS)
