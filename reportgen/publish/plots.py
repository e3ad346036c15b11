"""The charts of a report: entropy histogram, entropy by depth, artifact scores and others.

matplotlib's object API (``Figure`` + Agg canvas, no pyplot state), drawn under matplotlib's
default style so a user's matplotlibrc cannot change them. Output is deterministic: SVG with
no date, a fixed id salt and text as paths; PNG without the Software chunk.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence

import numpy as np

from reportgen.errors import ReportgenError

METADATA = {"svg": {"Date": None, "Creator": None}, "png": {"Software": None}}
RC = {"svg.hashsalt": "reportgen", "svg.fonttype": "path"}
HISTOGRAM_COLOUR = "#4A6FA5"


def _render(draw: Callable, fmt: str, columns: int = 1) -> bytes:
    """Bytes of a fresh figure drawn by ``draw(axes)``, saved as ``fmt``.

    One axes by default; with ``columns`` > 1, ``draw`` gets that many side by side, sharing
    their y axis, in a figure as much wider.
    """
    if fmt not in METADATA:
        raise ReportgenError(f"unknown chart format {fmt!r}; choose from svg, png")
    import matplotlib.style
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    buffer = io.BytesIO()
    with matplotlib.style.context("default"), matplotlib.rc_context(RC):
        figure = Figure(figsize=(6.4 * columns, 3.4))
        FigureCanvasAgg(figure)
        draw(figure.add_subplot() if columns == 1 else figure.subplots(1, columns, sharey=True))
        figure.savefig(buffer, format=fmt, metadata=METADATA[fmt], bbox_inches="tight", dpi=100)
    return buffer.getvalue()


def line_colours(n_levels: int) -> list[tuple[float, float, float]]:
    """Line colours for levels 1..N: YlOrRd from orange-yellow (focused) to dark red (spread).

    The pastel level colours are too light for lines on white, and the article's first three
    share one hue, so darkening them would give three equal lines; this ramp keeps their
    yellow-to-red direction while staying distinct and readable.
    """
    import matplotlib

    ramp = matplotlib.colormaps["YlOrRd"]
    positions = np.linspace(0.4, 0.95, n_levels) if n_levels > 1 else [0.7]
    return [tuple(float(c) for c in ramp(position)[:3]) for position in positions]


def _level_name(level: int, n_levels: int) -> str:
    """'level 1 (focused)' ... 'level N (spread)'; a single level is just 'level 1'."""
    suffix = {1: " (focused)", n_levels: " (spread)"}.get(level, "") if n_levels > 1 else ""
    return f"level {level}{suffix}"


def _legend_above(axes, n_levels: int):
    """The level legend in one row (up to 4 entries a row) above the axes, clear of the data."""
    return axes.legend(
        loc="lower left",
        bbox_to_anchor=(0.0, 1.01),
        ncols=min(n_levels, 4),
        fontsize="small",
        frameon=False,
        borderaxespad=0.0,
    )


def _x_range(values: np.ndarray) -> tuple[float, float]:
    """The data's range with a 5% margin, kept inside [0, 1] unless the data are outside it."""
    low, high = float(values.min()), float(values.max())
    margin = max((high - low) * 0.05, 0.005)
    return max(low - margin, min(low, 0.0)), min(high + margin, max(high, 1.0))


def entropy_histogram(
    entropies: Sequence[float],
    boundaries: Sequence[float],
    level_colours: Sequence[str],
    fmt: str = "svg",
) -> bytes:
    """Histogram of spread entropy; level bands shaded in the level colours, boundaries marked."""
    from matplotlib.ticker import MaxNLocator

    values = np.asarray(entropies, dtype=np.float64)
    if values.size == 0:
        raise ReportgenError("no entropies to plot")
    low, high = _x_range(values)
    edges = [low, *boundaries, high]
    n_levels = len(edges) - 1

    def draw(axes) -> None:
        for level, colour in enumerate(level_colours[:n_levels], start=1):
            axes.axvspan(
                edges[level - 1],
                edges[level],
                color=colour,
                alpha=0.9,
                lw=0,
                label=_level_name(level, n_levels),
            )
        bins = min(30, max(5, values.size))
        axes.hist(values, bins=bins, range=(low, high), color=HISTOGRAM_COLOUR, edgecolor="white")
        for boundary in boundaries:
            axes.axvline(boundary, color="#333333", linestyle="--", linewidth=1)
        axes.yaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_xlim(low, high)
        axes.set_xlabel("spread entropy (normalised, 0 = one patch, 1 = uniform)")
        axes.set_ylabel("images")
        for handle in _legend_above(axes, n_levels).legend_handles:
            handle.set(edgecolor="#999999", linewidth=0.5)  # pastel swatches visible on white

    return _render(draw, fmt)


def artifact_score_histogram(
    scores: Sequence[float], levels: Sequence[int], fmt: str = "svg"
) -> bytes:
    """Histogram of the images' artifact scores (share of high-norm patch tokens), with each
    level's mean score marked by a line in its level's colour."""
    from matplotlib.ticker import MaxNLocator

    values = np.asarray(scores, dtype=np.float64)
    level_array = np.asarray(levels)
    if values.size == 0:
        raise ReportgenError("no artifact scores to plot")
    n_levels = int(level_array.max())
    high = max(float(values.max()) * 1.05, 0.01)

    def draw(axes) -> None:
        bins = min(30, max(5, values.size))
        axes.hist(values, bins=bins, range=(0.0, high), color=HISTOGRAM_COLOUR, edgecolor="white")
        for level, colour in enumerate(line_colours(n_levels), start=1):
            chosen = values[level_array == level]
            if chosen.size:
                mean = float(chosen.mean())
                name = f"{_level_name(level, n_levels)}: mean {mean:.3f}"
                axes.axvline(mean, color=colour, linestyle="--", linewidth=1.5, label=name)
        axes.yaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_xlim(0.0, high)
        axes.set_xlabel("artifact score (share of patch tokens in the high-norm population)")
        axes.set_ylabel("images")
        _legend_above(axes, n_levels)

    return _render(draw, fmt)


def layer_entropy_plot(
    layer_entropies: np.ndarray,
    levels: Sequence[int],
    fmt: str = "svg",
) -> bytes:
    """Mean entropy of each layer's map, one line per level (1-based): spread with depth.

    ``layer_entropies`` is (n_images, n_layers); a single image may be given as (n_layers,).
    Line colours come from ``line_colours``, not from the pastel level colours.
    """
    values = np.atleast_2d(np.asarray(layer_entropies, dtype=np.float64))
    level_array = np.asarray(levels, dtype=np.int64)
    if level_array.size == 0 or level_array.shape != values.shape[:1] or level_array.min() < 1:
        raise ReportgenError(
            f"need one level >= 1 per image: {values.shape[0]} images, {level_array.size} levels"
        )
    layers = np.arange(1, values.shape[1] + 1)
    n_levels = int(level_array.max())
    colours = line_colours(n_levels)

    def draw(axes) -> None:
        for level in np.unique(level_array).tolist():
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
        axes.ticklabel_format(axis="y", useOffset=False)  # an offset would sit under the legend
        axes.grid(alpha=0.3)
        _legend_above(axes, n_levels)

    return _render(draw, fmt)


RANDOM_STYLE = {"color": "#888888", "linestyle": "--"}


def _series_colours(n: int) -> list[tuple[float, float, float]]:
    """Distinct line colours, never the random baseline's grey: tab10 without its grey for up to
    nine lines, tab20 without its two greys for up to 18, else evenly spaced along turbo."""
    import matplotlib

    for palette, greys in (("tab10", {7}), ("tab20", {14, 15})):
        colours = [
            tuple(colour)
            for index, colour in enumerate(matplotlib.colormaps[palette].colors)
            if index not in greys
        ]
        if n <= len(colours):
            return colours[:n]
    ramp = matplotlib.colormaps["turbo"]
    return [tuple(float(c) for c in ramp(position)[:3]) for position in np.linspace(0.05, 0.95, n)]


def faithfulness_curves(
    curves: dict[str, tuple[list[float], list[float]]], metric: str, fmt: str = "svg"
) -> bytes:
    """Deletion (left) and insertion (right) curves, one line per map; ``random`` dashed grey.

    ``curves`` maps a name to its (deletion, insertion) mean curves over steps k = 0..K, drawn at
    x = k / K, the fraction of patches perturbed; ``metric`` labels the y axis.
    """
    lengths = {len(curve) for pair in curves.values() for curve in pair}
    if not curves or len(lengths) != 1 or min(lengths) < 2:
        raise ReportgenError("need deletion and insertion curves of one length (2 or more points)")
    fractions = np.linspace(0.0, 1.0, lengths.pop())
    colours = iter(_series_colours(sum(name != "random" for name in curves)))
    styles = {
        name: RANDOM_STYLE if name == "random" else {"color": next(colours)} for name in curves
    }

    def draw(axes) -> None:
        titles = ("deletion (lower area is better)", "insertion (higher area is better)")
        verbs = ("removed", "inserted")
        for column, (panel, title, verb) in enumerate(zip(axes, titles, verbs, strict=True)):
            for name, pair in curves.items():
                panel.plot(fractions, pair[column], linewidth=1.5, label=name, **styles[name])
            panel.set_title(title, fontsize="medium")
            panel.set_xlim(0.0, 1.0)
            panel.set_xlabel(f"fraction of patches {verb}")
            panel.grid(alpha=0.3)
        axes[0].set_ylabel(metric)
        axes[1].legend(
            loc="upper left",
            bbox_to_anchor=(1.02, 1.0),
            ncols=1 + (len(curves) - 1) // 16,
            fontsize="small",
            frameon=False,
            borderaxespad=0.0,
        )

    return _render(draw, fmt, columns=2)


OUTCOME_COLOURS = {"misclassified": "#C0504D", "correct": HISTOGRAM_COLOUR}
POINTS_SHOWN = 300  # a group's points are drawn over its violin up to this many


def spread_by_outcome(groups: dict[str, Sequence[float]], fmt: str = "svg") -> bytes:
    """Spread entropy of each group side by side: a violin (groups of two or more), its median
    as a bar, and its points (up to :data:`POINTS_SHOWN`, spread sideways by a fixed seed)."""
    names = list(groups)
    values = [np.asarray(groups[name], dtype=np.float64) for name in names]
    if not any(group.size for group in values):
        raise ReportgenError("no entropies to plot")
    colours = [OUTCOME_COLOURS.get(name, HISTOGRAM_COLOUR) for name in names]
    jitter = np.random.default_rng(0)

    def draw(axes) -> None:
        for position, (group, colour) in enumerate(zip(values, colours, strict=True), start=1):
            if group.size >= 2 and np.ptp(group) > 0:
                body = axes.violinplot(group, [position], widths=0.8, showextrema=False)
                for patch in body["bodies"]:
                    patch.set(facecolor=colour, edgecolor=colour, alpha=0.3)
            if group.size:
                if group.size <= POINTS_SHOWN:
                    offsets = jitter.uniform(-0.12, 0.12, group.size)
                    axes.scatter(position + offsets, group, s=9, color=colour, alpha=0.7, lw=0)
                median = float(np.median(group))
                axes.hlines(median, position - 0.3, position + 0.3, color=colour, linewidth=2.5)
        axes.set_xticks(
            range(1, len(names) + 1),
            [
                f"{name}\n{group.size} images, median "
                + (f"{np.median(group):.3f}" if group.size else "none")
                for name, group in zip(names, values, strict=True)
            ],
        )
        axes.set_xlim(0.4, len(names) + 0.6)
        axes.ticklabel_format(axis="y", useOffset=False)
        axes.set_ylabel("spread entropy")
        axes.grid(axis="y", alpha=0.3)

    return _render(draw, fmt)


def transition_matrix(
    counts: np.ndarray, labels: tuple[str, str], level_colours: Sequence[str], fmt: str = "svg"
) -> bytes:
    """Images by level in run A (rows) and run B (columns), counts written in the cells,
    shaded by count; the level ticks sit on swatches of the level colours."""
    counts = np.asarray(counts)
    rows, columns = counts.shape

    def draw(axes) -> None:
        axes.imshow(counts, cmap="Blues", vmin=0, vmax=max(1, int(counts.max())), aspect="auto")
        half = counts.max() / 2
        for (row, column), count in np.ndenumerate(counts):
            colour = "white" if count > half else "#222222"
            axes.text(column, row, str(count), ha="center", va="center", color=colour)
        for axis, n, set_ticks in ((0, columns, axes.set_xticks), (1, rows, axes.set_yticks)):
            set_ticks(range(n), [str(level) for level in range(1, n + 1)])
            ticks = axes.get_xticklabels() if axis == 0 else axes.get_yticklabels()
            for level, tick in enumerate(ticks):
                tick.set_bbox({"facecolor": level_colours[level], "edgecolor": "#999999"})
        axes.set_xlabel(f"level in {labels[1]} (1 = focused)")
        axes.set_ylabel(f"level in {labels[0]}")

    return _render(draw, fmt)


def entropy_scatter(
    entropies: np.ndarray, level_change: np.ndarray, labels: tuple[str, str], fmt: str = "svg"
) -> bytes:
    """One dot per image, its spread entropy in run A against run B, coloured by how many
    levels it moved (blue: more focused in B, red: more spread, grey: the same level)."""
    values = np.asarray(entropies, dtype=np.float64)
    change = np.asarray(level_change, dtype=np.int64)
    import matplotlib

    ramp = matplotlib.colormaps["coolwarm"]
    widest = max(1, int(np.abs(change).max()))

    def draw(axes) -> None:
        for step in np.unique(change).tolist():
            colour = "#888888" if step == 0 else ramp(0.5 + 0.5 * step / widest)
            chosen = change == step
            label = "same level" if step == 0 else f"{step:+d} level{'s' * (abs(step) != 1)}"
            axes.scatter(*values[chosen].T, s=14, color=colour, label=label, alpha=0.8, lw=0)
        low, high = _x_range(values.ravel())
        axes.plot([low, high], [low, high], color="#bbbbbb", linewidth=1, zorder=0)
        axes.set_xlim(low, high)
        axes.set_ylim(low, high)
        axes.ticklabel_format(useOffset=False)
        axes.set_xlabel(f"spread entropy in {labels[0]}")
        axes.set_ylabel(f"spread entropy in {labels[1]}")
        axes.grid(alpha=0.3)
        axes.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize="small", frameon=False)

    return _render(draw, fmt)


def correlation_range(values: np.ndarray) -> tuple[float, float]:
    """The correlations' axis: from the tenth below the lowest value (with a margin) to 1, so
    runs that agree closely (all above 0.9, say) spread over 20 bins instead of filling one."""
    if not values.size:
        return -1.0, 1.0
    return max(-1.0, np.floor((float(values.min()) - 0.02) * 10) / 10), 1.0


def correlation_histogram(correlations: Sequence[float], fmt: str = "svg") -> bytes:
    """How the per-image rank correlations of two runs' maps are distributed (NaN left out)."""
    from matplotlib.ticker import MaxNLocator

    values = np.asarray(correlations, dtype=np.float64)
    values = values[np.isfinite(values)]
    axis = correlation_range(values)

    def draw(axes) -> None:
        axes.hist(values, bins=20, range=axis, color=HISTOGRAM_COLOUR, edgecolor="white")
        if values.size:
            axes.axvline(float(np.median(values)), color="#333333", linestyle="--", linewidth=1)
        axes.set_xlim(*axis)
        axes.yaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_xlabel("Spearman correlation of the two spread-by maps (dashed: median)")
        axes.set_ylabel("images")

    return _render(draw, fmt)


def run_layer_curves(
    curves: Sequence[np.ndarray], labels: Sequence[str], fmt: str = "svg"
) -> bytes:
    """Mean entropy of each layer's map, one line per run (runs may differ in depth)."""
    from matplotlib.ticker import MaxNLocator

    colours = _series_colours(len(curves))

    def draw(axes) -> None:
        for curve, label, colour in zip(curves, labels, colours, strict=True):
            layers = np.arange(1, len(curve) + 1)
            axes.plot(layers, curve, marker="o", markersize=3, color=colour, label=label)
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.ticklabel_format(axis="y", useOffset=False)
        axes.set_xlabel("layer")
        axes.set_ylabel("mean entropy of the layer map")
        axes.grid(alpha=0.3)
        axes.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize="small", frameon=False)

    return _render(draw, fmt)
