"""A comparison's files in its folder: the data files, the charts, the biggest movers' figures
and the page in each flavour that has a comparison template (html, gfm), written from the
shared partial ``templates/_comparison.j2`` with the flavour's markup macros.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from reportgen import store
from reportgen.methods import compare_runs
from reportgen.publish import explorer, flavours, page_model, plots, render
from reportgen.publish.comparison import (
    SUMMARY_PARAMETERS,
    Comparison,
    ImageRow,
    Run,
    spread_map,
)
from reportgen.publish.escaping import param_value
from reportgen.publish.figures import FigureStyle
from reportgen.publish.flavours.base import PAGE_FOLDERS
from reportgen.publish.folders import CHARTS_DIR, FIGURES_DIR
from reportgen.publish.templates import Templates

# The comparison page of each flavour that has one, written where the flavour's layout puts a
# front page (the jekyll post with its images under jekyll/, for a Jekyll site).
TEMPLATES = {
    "html": "comparison.html.j2",
    "jekyll": "comparison.jekyll.md.j2",
    "gfm": "comparison.gfm.md.j2",
    "hugo": "comparison.hugo.md.j2",
    "mkdocs": "comparison.mkdocs.md.j2",
}
ONLY_IN_SHOWN = 20  # names listed per run of the images the other runs lack
ROWS_SHOWN = 500  # images in the page's table of every image in common (all: compare.parquet)
_SAFE_LINK = re.compile(r"[a-z0-9_./-]+")  # slugs and versions/N: nothing to escape in a link
DIFFERENCE_COLORMAP = "RdBu_r"  # diverging: blue where B has less, red where it has more


@dataclass(frozen=True)
class RunSummary:
    label: str
    href: str | None  # the run's page from the comparison's, None outside the site
    model: str
    grid: str
    date: str
    version: int
    n_images: int
    options: tuple[tuple[str, str], ...]
    only_here: tuple[str, ...]  # up to ONLY_IN_SHOWN names
    n_only_here: int


@dataclass(frozen=True)
class PairSection:
    labels: tuple[str, str]
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]  # the transition matrix, a row per level of A
    same_level: int
    median_correlation: str
    transitions_chart: str
    scatter_chart: str
    correlation_chart: str


@dataclass(frozen=True)
class Mover:
    name: str
    levels: str
    entropies: str
    figure: str
    difference: str | None
    width: int
    height: int


@dataclass(frozen=True)
class ComparisonPage:
    title: str
    slug: str
    date: dt.date
    runs: tuple[RunSummary, ...]
    n_common: int
    grid: str
    resampled: bool
    differing: tuple[str, ...]  # the parameters whose values differ between runs
    pairs: tuple[PairSection, ...]
    layers_chart: str
    movers: tuple[Mover, ...]
    table_headers: tuple[str, ...]
    table_rows: tuple[tuple[str, ...], ...]  # the images that moved most first
    # per row, each run's explorer of the image (run label, link), where the run has one
    explorers: tuple[tuple[tuple[str, str], ...], ...]

    def files(self) -> list[str]:
        """The images the page shows, relative to the comparison's folder."""
        charts = [
            chart
            for pair in self.pairs
            for chart in (pair.transitions_chart, pair.scatter_chart, pair.correlation_chart)
        ]
        figures = [file for mover in self.movers for file in (mover.figure, mover.difference)]
        return [*charts, self.layers_chart, *(file for file in figures if file)]


def _run_summary(run: Run, only: list[str], href: str | None) -> RunSummary:
    params = run.analysis.params.parameters()
    model = run.analysis.model
    return RunSummary(
        label=run.label,
        href=href,
        model=model.model_id,
        grid=f"{model.grid[0]}x{model.grid[1]} patches of {model.patch_size[0]} px",
        date=run.manifest.report["date"],
        version=run.manifest.version,
        n_images=len(run.analysis.images),
        options=tuple((name, param_value(params[name])) for name in SUMMARY_PARAMETERS),
        only_here=tuple(only[:ONLY_IN_SHOWN]),
        n_only_here=len(only),
    )


def _differing(runs: list[Run]) -> tuple[str, ...]:
    """The parameters (and model) whose values are not the same in every run."""
    params = [run.analysis.params.parameters() for run in runs]
    names = ["model", *(name for name in params[0] if name != "model")]
    return tuple(
        name
        for name in names
        if len(
            {
                repr(run.analysis.model.model_id if name == "model" else p.get(name))
                for run, p in zip(runs, params, strict=True)
            }
        )
        > 1
    )


def _write(folder: Path, name: str, data: bytes) -> str:
    store.atomic_write(folder / name, data)
    return name


def _pair_section(comparison: Comparison, pair: tuple[int, int], folder: Path) -> PairSection:
    first, second = pair
    labels = (comparison.runs[first].label, comparison.runs[second].label)
    counts = comparison.transitions(pair)
    colours = page_model.level_colours(max(counts.shape))
    levels, entropies = comparison.levels(), comparison.entropies()
    correlations = comparison.correlations(pair)
    stem = f"{CHARTS_DIR}/pair-{first + 1}-{second + 1}"
    finite = correlations[np.isfinite(correlations)]
    return PairSection(
        labels=labels,
        headers=("level", *(str(level) for level in range(1, counts.shape[1] + 1))),
        rows=tuple(
            (str(level), *(str(count) for count in row))
            for level, row in enumerate(counts.tolist(), start=1)
        ),
        same_level=int(np.trace(counts[: min(counts.shape), : min(counts.shape)])),
        median_correlation=f"{np.median(finite):.3f}" if finite.size else "none",
        transitions_chart=_write(
            folder, f"{stem}-transitions.svg", plots.transition_matrix(counts, labels, colours)
        ),
        scatter_chart=_write(
            folder,
            f"{stem}-entropy.svg",
            plots.entropy_scatter(
                entropies[:, [first, second]], levels[:, second] - levels[:, first], labels
            ),
        ),
        correlation_chart=_write(
            folder, f"{stem}-correlation.svg", plots.correlation_histogram(correlations)
        ),
    )


def _mover(comparison: Comparison, position: int, rank: int, folder: Path, style: FigureStyle):
    """The figure of every run's spread-by map over the image (as the first run saw it) and,
    for two runs, the difference of their maps (each scaled to sum 1, on the common grid)."""
    row = comparison.images[position]
    runs = comparison.runs
    images = [
        next(image for image in run.analysis.images if image.id == image_id)
        for run, image_id in zip(runs, row.ids, strict=True)
    ]
    maps = [spread_map(run, image) for run, image in zip(runs, images, strict=True)]
    seen = runs[0].analysis.record(images[0]).seen_image
    panels = [render.Panel(run.label, values) for run, values in zip(runs, maps, strict=True)]
    stem = f"{FIGURES_DIR}/mover-{rank:02d}"
    figure = render.compose_figure(
        seen, panels, cmap=style.colormap, alpha=style.alpha, columns=len(panels) + 1
    )
    figure_file = _write(
        folder, f"{stem}{style.extension}", render.encode_image(figure, style.image_format)
    )
    difference_file = None
    if len(runs) == 2:
        grid = comparison.grid
        first, second = (
            compare_runs.as_distribution(compare_runs.resample(values, grid)) for values in maps
        )
        difference = second - first
        bound = float(np.abs(difference).max()) or 1.0
        panel = render.Panel(f"{runs[1].label} - {runs[0].label}", difference, (-bound, bound))
        colorbar = render.Colorbar(f"-{bound:.3g}", f"+{bound:.3g}", "share of attention, B - A")
        drawn = render.compose_figure(
            seen, [panel], cmap=DIFFERENCE_COLORMAP, alpha=0.6, colorbar=colorbar
        )
        difference_file = _write(
            folder,
            f"{stem}-difference{style.extension}",
            render.encode_image(drawn, style.image_format),
        )
    return Mover(
        name=row.name,
        levels=" -> ".join(str(level) for level in row.levels),
        entropies=" -> ".join(f"{value:.4f}" for value in row.entropies),
        figure=figure_file,
        difference=difference_file,
        width=figure.width,
        height=figure.height,
    )


def page_of(
    comparison: Comparison,
    folder: Path,
    title: str,
    slug: str,
    date: dt.date,
    run_links: list[str | None],
    run_folders: list[str | None],
) -> ComparisonPage:
    """Write the charts and figures into ``folder``; the page model that shows them.
    ``run_links`` and ``run_folders``: each run's page and folder from the comparison's
    (None where it cannot be linked)."""
    shown = comparison.movers(ROWS_SHOWN)
    for sub in (CHARTS_DIR, FIGURES_DIR):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    style = FigureStyle.from_json(comparison.runs[0].manifest.report["style"])
    curves = comparison.layer_curves()
    labels = [run.label for run in comparison.runs]
    return ComparisonPage(
        title=title,
        slug=slug,
        date=date,
        runs=tuple(
            _run_summary(run, only, link)
            for run, only, link in zip(comparison.runs, comparison.only_in, run_links, strict=True)
        ),
        n_common=len(comparison.images),
        grid=f"{comparison.grid[0]}x{comparison.grid[1]}",
        resampled=comparison.resampled,
        differing=_differing(comparison.runs),
        pairs=tuple(_pair_section(comparison, pair, folder) for pair in comparison.pairs),
        layers_chart=_write(
            folder, f"{CHARTS_DIR}/entropy-by-layer.svg", plots.run_layer_curves(curves, labels)
        ),
        movers=tuple(
            _mover(comparison, position, rank, folder, style)
            for rank, position in enumerate(comparison.movers(), start=1)
        ),
        table_headers=(
            "image",
            "levels",
            "entropies",
            *(f"correlation {first + 1}-{second + 1}" for first, second in comparison.pairs),
        ),
        table_rows=tuple(_table_row(comparison.images[position]) for position in shown),
        explorers=tuple(
            _explorers(comparison, comparison.images[position], run_folders) for position in shown
        ),
    )


def _explorers(
    comparison: Comparison, row: ImageRow, run_folders: list[str | None]
) -> tuple[tuple[str, str], ...]:
    """Each run's explorer of the image, linked from the comparison's folder, where the run is
    in the site: the explorer's own page, else the image's page (large reports)."""
    links = []
    for run, folder, image_id in zip(comparison.runs, run_folders, row.ids, strict=True):
        pages = (explorer.files(image_id).page, f"{PAGE_FOLDERS['image']}/{image_id}.html")
        page = next((page for page in pages if (run.folder / page).is_file()), None)
        if folder is not None and page is not None:
            links.append((run.label, f"{folder}/{page}"))
    return tuple(links)


def _table_row(row: ImageRow) -> tuple[str, ...]:
    """An image's row of the table of every image in common (its name is user text, left to
    the template's escaping)."""
    return (
        row.name,
        " -> ".join(str(level) for level in row.levels),
        " -> ".join(f"{value:.4f}" for value in row.entropies),
        *(f"{value:.3f}" if np.isfinite(value) else "none" for value in row.correlations),
    )


@dataclass(frozen=True)
class _Placement:
    """What the flavours' layouts read of a report to place a page and the images it shows:
    a comparison's, which has no levels or galleries."""

    slug: str
    date: dt.date
    title: str
    files: tuple[str, ...]
    levels: tuple = ()
    galleries: tuple = ()

    def image_files(self) -> list[str]:
        return list(self.files)


def write_pages(
    page: ComparisonPage, folder: Path, templates: Templates, formats: list[str]
) -> None:
    """The page in each of ``formats`` that has a comparison template, with its images where
    the flavour's layout expects them. Pages that stand in the folder link the runs' pages and
    the data files; a Jekyll post, published without them, does not."""
    for name in formats:
        if name not in TEMPLATES:
            continue
        flavour = flavours.get(name)
        options = flavour.options_class() if flavour.options_class else None
        layout = flavour.layout_for(options)
        where = _Placement(page.slug, page.date, page.title, tuple(page.files()))
        variables = {
            "page": page,
            "asset_url": functools.partial(layout.image_url, where, "report"),
            "run_url": lambda run, standalone=flavour.standalone: run.href if standalone else None,
            "links_here": flavour.standalone,  # pages in the folder: links to the runs work
            "data_url": functools.partial(layout.report_url, where, "report"),
            **flavour.variables(options),
        }
        variables["m"] = templates.macros(flavour.escaping, flavour.markup, variables)
        data = templates.render(flavour.escaping, TEMPLATES[name], variables)
        store.atomic_write(folder / layout.page_path(where), data)
        layout.place_images(where, page.files(), folder)


def run_link(run: Run, comparison_dir: Path, page: str | None = "") -> str | None:
    """The run's ``page`` (by default its standalone page; a file relative to its folder) as
    the comparison's page links it: relative, when it needs no escaping (slugs, versions/N)."""
    page = flavours.standalone_page(run.manifest.report["formats"]) if page == "" else page
    if page is None:
        return None
    link = os.path.relpath(run.folder / page, comparison_dir).replace(os.sep, "/")
    return link if _SAFE_LINK.fullmatch(link) else None
