"""Pixels: overlays of attention maps on images, composed figures, and web encoding.

numpy + Pillow only, with a matplotlib colormap used as a 256-entry lookup table: reports run to
hundreds of images, so no panel is drawn with matplotlib. Output bytes are deterministic.
"""

from __future__ import annotations

import functools
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from reportgen.errors import ReportgenError

FORMAT_EXTENSIONS = {"webp": ".webp", "jpeg": ".jpg", "png": ".png"}
LABEL_HEIGHT = 16
GAP = 4
MAX_COLUMNS = 8
BACKGROUND = (255, 255, 255)
TEXT_COLOUR = (30, 30, 30)
OUTLINE_COLOUR = (255, 255, 255)
OUTLINE_OPACITY = 0.45  # faint: marks masked artifact patches without hiding them
COLORBAR_HEIGHT = 12
COLORBAR_WIDTH = 256
_LAYER_LABEL = re.compile(r"L\d+")
_NORM_LABEL = re.compile(r"N\d+")


@functools.lru_cache(maxsize=16)
def colormap_lut(name: str) -> np.ndarray:
    """(256, 3) uint8 lookup table of a matplotlib colormap (read-only, cached)."""
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
    """Bilinear upsampling of a (grid_h, grid_w) map to ``size`` = (height, width), float32.

    Pillow's float ("F") resize: pixel-centre aligned, so each patch's value sits at the centre
    of its pixel block, and the result stays within the input's range.
    """
    height, width = size
    grid = Image.fromarray(np.ascontiguousarray(attention, dtype=np.float32), mode="F")
    return np.asarray(grid.resize((width, height), Image.Resampling.BILINEAR), dtype=np.float32)


def normalise_for_display(
    values: np.ndarray, value_range: tuple[float, float] | None = None
) -> np.ndarray:
    """Rescale to [0, 1] as float32: ``value_range`` (low, high) maps to 0 and 1, by default
    the panel's own min and max; a constant map becomes zeros, not NaN.

    Computed in the input's precision (float64 stays float64) so tiny ranges are not lost.
    """
    values = np.asarray(values)
    values = values.astype(np.result_type(values, np.float32), copy=False)
    low, high = value_range if value_range is not None else (values.min(), values.max())
    if not high > low:
        return np.zeros(values.shape, dtype=np.float32)
    return np.clip((values - low) / (high - low), 0.0, 1.0).astype(np.float32, copy=False)


def overlay(
    image: np.ndarray,
    attention: np.ndarray,
    cmap: str = "jet",
    alpha: float = 0.5,
    value_range: tuple[float, float] | None = None,
) -> np.ndarray:
    """Colour-mapped attention, upsampled to ``image`` (uint8 RGB), alpha-blended over it.

    ``value_range`` is the (low, high) that spans the colormap (default: the panel's own).
    float32 in place: ``image + alpha * (colour - image)`` rounded half up; alpha 0 gives the
    image and alpha 1 the colormap colours exactly.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ReportgenError(f"alpha must be in [0, 1], got {alpha}")
    heat = normalise_for_display(upsample_bilinear(attention, image.shape[:2]), value_range)
    indices = (heat * 255 + 0.5).astype(np.uint8)
    blended = np.take(colormap_lut(cmap), indices, axis=0).astype(np.float32)
    blended -= image
    blended *= alpha
    blended += image
    blended += 0.5
    return blended.astype(np.uint8)


@dataclass(frozen=True)
class Panel:
    """One labelled overlay of a figure."""

    label: str
    values: np.ndarray  # (grid_h, grid_w); (3, grid_h, grid_w) in [0, 1]: RGB, drawn as it is
    value_range: tuple[float, float] | None = None  # None: the panel's own min and max
    outline: np.ndarray | None = None  # bool (grid_h, grid_w): patches to outline faintly


@dataclass(frozen=True)
class Colorbar:
    """The strip under a figure that says what the colours mean."""

    low: str  # label at the left end
    high: str  # label at the right end
    caption: str  # how the panels are normalised


def outline_cells(pixels: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """A copy of an (H, W, 3) panel with a faint 1-pixel frame (white at ``OUTLINE_OPACITY``)
    around each masked grid cell."""
    frame = Image.new("L", (pixels.shape[1], pixels.shape[0]), 0)
    draw = ImageDraw.Draw(frame)
    height, width = pixels.shape[:2]
    grid_h, grid_w = mask.shape
    for row, col in zip(*np.nonzero(mask), strict=True):
        top, bottom = round(row * height / grid_h), round((row + 1) * height / grid_h) - 1
        left, right = round(col * width / grid_w), round((col + 1) * width / grid_w) - 1
        draw.rectangle((left, top, right, bottom), outline=255)
    weight = np.asarray(frame, dtype=np.float32)[..., None] * (OUTLINE_OPACITY / 255)
    blended = pixels * (1 - weight) + np.asarray(OUTLINE_COLOUR, dtype=np.float32) * weight
    return (blended + 0.5).astype(np.uint8)


def _text_width(text: str) -> int:
    return round(font().getlength(text))


def _colorbar_width(colorbar: Colorbar) -> int:
    """Pixels the colour bar's line needs: labels, gradient, caption and gaps."""
    labels = _text_width(colorbar.low) + _text_width(colorbar.high) + _text_width(colorbar.caption)
    return labels + COLORBAR_WIDTH + 6 * GAP


def _draw_colorbar(canvas: Image.Image, top: int, colorbar: Colorbar, cmap: str) -> None:
    """Gradient of the colormap with its end labels, then the caption, from ``top``."""
    draw = ImageDraw.Draw(canvas)
    typeface = font()
    left = GAP + _text_width(colorbar.low) + GAP
    ramp = np.broadcast_to(colormap_lut(cmap)[None], (COLORBAR_HEIGHT, 256, 3))
    bar = Image.fromarray(np.ascontiguousarray(ramp)).resize((COLORBAR_WIDTH, COLORBAR_HEIGHT))
    canvas.paste(bar, (left, top))
    middle = top + COLORBAR_HEIGHT / 2
    draw.text((GAP, middle), colorbar.low, fill=TEXT_COLOUR, font=typeface, anchor="lm")
    right = left + COLORBAR_WIDTH + GAP
    draw.text((right, middle), colorbar.high, fill=TEXT_COLOUR, font=typeface, anchor="lm")
    caption_left = right + _text_width(colorbar.high) + 2 * GAP
    draw.text(
        (caption_left, middle), colorbar.caption, fill=TEXT_COLOUR, font=typeface, anchor="lm"
    )


def _scaled_shape(image_hw: tuple[int, int], longer_side: int) -> tuple[int, int]:
    """(height, width) with the longer side ``longer_side``, keeping the aspect ratio."""
    height, width = image_hw
    scale = longer_side / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


@functools.lru_cache(maxsize=1)
def font() -> ImageFont.FreeTypeFont:
    """Pillow's embedded font (no font files), basic layout: the same pixels every run."""
    return ImageFont.load_default(size=12)


def _chunks(items: list[int], size: int) -> list[list[int]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


def _layout(labels: Sequence[str], columns: int | None) -> tuple[list[list[int]], list[list[int]]]:
    """Rows of tile indices: the input (tile 0) and the aggregates first, then layers L1..LN;
    and the rows of the half-size tiles: the token norms N1..NN when there are, twice as many
    to a row.

    By default the layers fill balanced rows of at most ``MAX_COLUMNS`` (12 layers: 2 rows of
    6, and the norms one row of 12), and the row is widened so the input and the aggregates fit
    on one row above them.
    """
    layers, norms = (
        [i for i, label in enumerate(labels) if i and pattern.fullmatch(label)]
        for pattern in (_LAYER_LABEL, _NORM_LABEL)
    )
    first = [i for i in range(len(labels)) if i not in layers and i not in norms]
    if columns is None:
        layer_rows = max(1, -(-len(layers) // MAX_COLUMNS))
        columns = max(-(-len(layers) // layer_rows), min(len(first), MAX_COLUMNS))
    return _chunks(first, columns) + _chunks(layers, columns), _chunks(norms, 2 * columns)


def colour_pixels(channels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Three channels (3, grid_h, grid_w) in [0, 1], upsampled to ``size`` as uint8 RGB."""
    planes = [upsample_bilinear(channel, size) for channel in np.asarray(channels)]
    return (np.clip(np.stack(planes, axis=-1), 0.0, 1.0) * 255 + 0.5).astype(np.uint8)


def _panel_pixels(base: np.ndarray, panel: Panel, cmap: str, alpha: float) -> np.ndarray:
    if np.ndim(panel.values) == 3:
        return colour_pixels(panel.values, base.shape[:2])
    pixels = overlay(base, panel.values, cmap, alpha, panel.value_range)
    if panel.outline is not None and panel.outline.any():
        pixels = outline_cells(pixels, panel.outline)
    return pixels


def compose_figure(
    image: np.ndarray,
    panels: Sequence[Panel],
    *,
    cmap: str = "jet",
    alpha: float = 0.5,
    panel_size: int = 160,
    columns: int | None = None,
    colorbar: Colorbar | None = None,
) -> Image.Image:
    """One figure per image: the input as the model saw it, then a labelled overlay per map.

    Layout: the input and the aggregates (max, min, mean, rollout) on the first row, a summary
    read before the detail; then the layers L1..LN in rows; then the token norms N1..NN at half
    size, two in the width of a panel (an overview: the explorer shows each at full size); then
    the ``colorbar``, if any. ``columns`` overrides the row width. The image is resized once
    per panel size and every grid is upsampled straight to it, so no full-resolution overlay is
    made and thrown away.
    """
    if columns is not None and columns < 1:
        raise ReportgenError(f"columns must be at least 1, got {columns}")
    labels = ["input", *(panel.label for panel in panels)]
    rows, small_rows = _layout(labels, columns)
    full = _scaled_shape(image.shape[:2], panel_size)
    half = _scaled_shape(image.shape[:2], max(1, (panel_size - GAP) // 2))
    bands = [(row, full) for row in rows] + [(row, half) for row in small_rows]
    width = max(len(row) * (shape[1] + GAP) + GAP for row, shape in bands)
    height = sum(shape[0] + LABEL_HEIGHT + GAP for _, shape in bands) + GAP
    if colorbar is not None:
        height += COLORBAR_HEIGHT + GAP
        width = max(width, _colorbar_width(colorbar))
    canvas = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    picture = Image.fromarray(image)
    bases = {
        shape: np.asarray(picture.resize(shape[::-1], Image.Resampling.BILINEAR))
        for _, shape in bands
    }
    top = GAP
    for row, (panel_h, panel_w) in bands:
        base = bases[panel_h, panel_w]
        for column, index in enumerate(row):
            pixels = _panel_pixels(base, panels[index - 1], cmap, alpha) if index else base
            left = GAP + column * (panel_w + GAP)
            centre = (left + panel_w / 2, top + LABEL_HEIGHT / 2)
            draw.text(centre, labels[index], fill=TEXT_COLOUR, font=font(), anchor="mm")
            canvas.paste(Image.fromarray(pixels), (left, top + LABEL_HEIGHT))
        top += panel_h + LABEL_HEIGHT + GAP
    if colorbar is not None:
        _draw_colorbar(canvas, height - GAP - COLORBAR_HEIGHT, colorbar, cmap)
    return canvas


def strip(
    image: np.ndarray,
    panels: Sequence[Panel],
    *,
    cmap: str = "jet",
    alpha: float = 0.5,
    panel_size: int = 96,
) -> Image.Image:
    """The overlays side by side, no labels or gaps: a sprite a page slides through, one panel
    at a time (each ``panel_size`` on its longer side, drawn as in :func:`compose_figure`)."""
    panel_h, panel_w = _scaled_shape(image.shape[:2], panel_size)
    base = np.asarray(Image.fromarray(image).resize((panel_w, panel_h), Image.Resampling.BILINEAR))
    return Image.fromarray(
        np.concatenate([_panel_pixels(base, panel, cmap, alpha) for panel in panels], axis=1)
    )


def encode_image(image: Image.Image, fmt: str = "webp", quality: int = 50) -> bytes:
    """Encode as opaque RGB for the web with no metadata, so equal pixels give equal bytes.

    WebP uses method 2: on the 988x560 figures of photos it keeps method 0's PSNR for 17% fewer
    bytes, at a few ms more per figure; method 4 saves 6% more but loses 0.6 dB and takes twice
    as long (docs/outputs.md, "What a report weighs", has the table).
    """
    if fmt not in FORMAT_EXTENSIONS:
        raise ReportgenError(
            f"unknown image format {fmt!r}; choose from {', '.join(FORMAT_EXTENSIONS)}"
        )
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    clean = Image.frombytes("RGB", rgb.size, rgb.tobytes())  # drops info: EXIF, ICC, XMP
    buffer = io.BytesIO()
    if fmt == "webp":
        clean.save(buffer, "WEBP", quality=quality, method=2)
    elif fmt == "jpeg":
        clean.save(buffer, "JPEG", quality=quality, optimize=True, progressive=True)
    else:
        clean.save(buffer, "PNG", compress_level=6)
    return buffer.getvalue()


def thumbnail(image: np.ndarray, max_side: int = 320) -> Image.Image:
    """A copy with the longer side at most ``max_side`` pixels (never enlarged), for indexes."""
    height, width = _scaled_shape(image.shape[:2], min(max_side, max(image.shape[:2])))
    return Image.fromarray(image).resize((width, height), Image.Resampling.LANCZOS)


def encoded_size(head: bytes) -> tuple[int, int] | None:
    """(width, height) of a WebP (lossy, lossless or extended) or PNG file from its first 30
    bytes, without an image library: a report's pages give every figure's and thumbnail's size,
    thousands of files a rendering. None for other formats (JPEG: read it with Pillow)."""
    if head[:8] == b"\x89PNG\r\n\x1a\n" and len(head) >= 24:
        return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    if len(head) < 30 or head[:4] != b"RIFF" or head[8:12] != b"WEBP":
        return None
    chunk = head[12:16]
    if chunk == b"VP8 ":
        return (
            int.from_bytes(head[26:28], "little") & 0x3FFF,
            int.from_bytes(head[28:30], "little") & 0x3FFF,
        )
    if chunk == b"VP8L":
        bits = int.from_bytes(head[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":
        return int.from_bytes(head[24:27], "little") + 1, int.from_bytes(head[27:30], "little") + 1
    return None
