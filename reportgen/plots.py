"""The two charts of a report (matplotlib, object API, Agg): entropy histogram and entropy by
depth. Output is deterministic SVG (no dates, fixed ids) or PNG without metadata."""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np

SVG_METADATA = {"Date": None, "Creator": None}
PNG_METADATA = {"Software": None}


def _save(figure, fmt: str) -> bytes:
    import matplotlib

    buffer = io.BytesIO()
    rc = {"svg.hashsalt": "reportgen", "svg.fonttype": "path", "path.simplify": True}
    with matplotlib.rc_context(rc):
        figure.savefig(
            buffer,
            format=fmt,
            metadata=SVG_METADATA if fmt == "svg" else PNG_METADATA,
            bbox_inches="tight",
            dpi=100,
        )
    return buffer.getvalue()


def _figure(width: float = 6.4, height: float = 3.4):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height))
    FigureCanvasAgg(figure)
    return figure


def line_colours(n_levels: int) -> list[tuple[float, float, float]]:
    """Line colours for levels 1..N: YlOrRd from orange-yellow (focused) to dark red (spread).

    The pastel level colours are too light (and too alike in hue) for lines on white; this
    ramp keeps their yellow-to-red direction while staying distinct and readable.
    """
    import matplotlib

    ramp = matplotlib.colormaps["YlOrRd"]
    positions = np.linspace(0.4, 0.95, n_levels) if n_levels > 1 else [0.7]
    return [tuple(float(c) for c in ramp(position)[:3]) for position in positions]


def _level_name(level: int, n_levels: int) -> str:
    suffix = " (focused)" if level == 1 and n_levels > 1 else ""
    suffix = " (spread)" if level == n_levels and n_levels > 1 else suffix
    return f"level {level}{suffix}"


def entropy_histogram(
    entropies: Sequence[float],
    boundaries: Sequence[float],
    level_colours: Sequence[str],
    fmt: str = "svg",
) -> bytes:
    """Histogram of spread entropy; level bands shaded in the level colours, boundaries marked."""
    values = np.asarray(entropies, dtype=np.float64)
    low, high = float(values.min()), float(values.max())
    margin = max((high - low) * 0.05, 0.005)
    low, high = max(0.0, low - margin), min(1.0, high + margin)
    edges = [low, *boundaries, high]
    figure = _figure()
    axes = figure.add_subplot()
    for index, colour in enumerate(level_colours[: len(edges) - 1]):
        axes.axvspan(
            edges[index],
            edges[index + 1],
            color=colour,
            alpha=0.9,
            lw=0,
            label=_level_name(index + 1, len(edges) - 1),
        )
    axes.hist(
        values,
        bins=min(30, max(5, values.size)),
        range=(low, high),
        color="#4A6FA5",
        edgecolor="white",
    )
    for boundary in boundaries:
        axes.axvline(boundary, color="#333333", linestyle="--", linewidth=1)
    from matplotlib.ticker import MaxNLocator

    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlim(low, high)
    axes.set_xlabel("spread entropy (normalised, 0 = one patch, 1 = uniform)")
    axes.set_ylabel("images")
    axes.legend(loc="upper left", fontsize="small", frameon=False)
    return _save(figure, fmt)


def layer_entropy_plot(
    layer_entropies: np.ndarray,
    levels: Sequence[int],
    fmt: str = "svg",
) -> bytes:
    """Mean entropy of each layer's map, one line per level: how attention spreads with depth."""
    values = np.asarray(layer_entropies, dtype=np.float64)
    level_array = np.asarray(levels)
    layers = np.arange(1, values.shape[1] + 1)
    n_levels = int(level_array.max())
    colours = line_colours(n_levels)
    figure = _figure()
    axes = figure.add_subplot()
    for level in sorted(set(level_array.tolist())):
        axes.plot(
            layers,
            values[level_array == level].mean(axis=0),
            marker="o",
            markersize=3,
            color=colours[level - 1],
            label=_level_name(level, n_levels),
        )
    axes.set_xticks(layers)
    axes.set_xlabel("layer")
    axes.set_ylabel("mean entropy of the layer map")
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small", frameon=False)
    return _save(figure, fmt)
