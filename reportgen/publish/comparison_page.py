"""A comparison's files in its folder: the charts, every image's pictures, and in each flavour
that has a comparison template its front page (``templates/_comparison.j2``), its gallery pages
(``_comparison_gallery.j2``) and a page per image in common (``_comparison_image.j2``), written
with the flavour's markup macros and laid out by its layout as a report's pages are.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from reportgen.publish import (
    comparison_figures,
    comparison_images,
    explorer,
    flavours,
    page_model,
    plots,
)
from reportgen.publish.comparison import SUMMARY_PARAMETERS, Comparison, ImageRow, Run
from reportgen.publish.comparison_explorers import Carried
from reportgen.publish.comparison_images import ComparedGallery, ComparedImage
from reportgen.publish.escaping import param_value
from reportgen.publish.flavours.base import PAGE_FOLDERS, Flavour
from reportgen.publish.folders import CHARTS_DIR
from reportgen.publish.templates import Templates
from reportgen.workers import Pool, in_chunks

# The comparison page of each flavour that has one, written where the flavour's layout puts a
# front page (the jekyll post with its images under jekyll/, for a Jekyll site).
TEMPLATES = {
    "html": "comparison.html.j2",
    "jekyll": "comparison.jekyll.md.j2",
    "gfm": "comparison.gfm.md.j2",
    "hugo": "comparison.hugo.md.j2",
    "mkdocs": "comparison.mkdocs.md.j2",
    "distill": "comparison.distill.md.j2",
}
ONLY_IN_SHOWN = 20  # names listed per run of the images the other runs lack
ROWS_SHOWN = 500  # images in the page's table of every image in common (all: compare.parquet)
_SAFE_LINK = re.compile(r"[a-z0-9_./-]+")  # slugs and versions/N: nothing to escape in a link
SORT_SCRIPT = "gallery/sort.js"  # the html gallery's sorting in the browser


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
    id: str  # its page: images/<id>
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
    table_ids: tuple[str, ...]  # per row, the image's page: images/<id>
    galleries: tuple[ComparedGallery, ...]
    images: tuple[ComparedImage, ...]
    carried: tuple[str, ...]  # the runs' explorers carried in the folder: comparison_explorers

    @property
    def description(self) -> str:
        """One sentence saying what is compared (a post's front matter)."""
        runs = ", ".join(run.label for run in self.runs)
        return f"Runs {runs} compared over the {self.n_common} images they have in common."

    def gallery_starts(self) -> list[tuple[str, str, list[str]]]:
        """Per order: its name, title and every page's name, for the front page's links."""
        return [
            (order, title, [page.name for page in self.galleries if page.order == order])
            for order, title in comparison_images.ORDERS.items()
        ]

    def files(self) -> list[str]:
        """The images the front page shows, relative to the comparison's folder."""
        charts = [
            chart
            for pair in self.pairs
            for chart in (pair.transitions_chart, pair.scatter_chart, pair.correlation_chart)
        ]
        figures = [file for mover in self.movers for file in (mover.figure, mover.difference)]
        return [*charts, self.layers_chart, *(file for file in figures if file)]

    def all_files(self) -> list[str]:
        """What every page shows or loads: the front page's images, every image's figures and
        thumbnail, the galleries' script and the runs' explorers carried."""
        drawn = [page.drawn for page in self.images]
        pictures = [
            file
            for picture in drawn
            for file in (picture.figure, picture.difference, picture.thumb)
            if file
        ]
        return list(dict.fromkeys([*self.files(), *pictures, SORT_SCRIPT, *self.carried]))


def _run_summary(
    run: Run, only: list[str], href: str | None, listed: tuple[str, ...]
) -> RunSummary:
    """What the runs table says of ``run``; ``listed``: the parameters it shows."""
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
        options=tuple((name, param_value(params.get(name))) for name in listed),
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
        transitions_chart=comparison_figures.write_new(
            folder, f"{stem}-transitions.svg", plots.transition_matrix(counts, labels, colours)
        ),
        scatter_chart=comparison_figures.write_new(
            folder,
            f"{stem}-entropy.svg",
            plots.entropy_scatter(
                entropies[:, [first, second]], levels[:, second] - levels[:, first], labels
            ),
        ),
        correlation_chart=comparison_figures.write_new(
            folder, f"{stem}-correlation.svg", plots.correlation_histogram(correlations)
        ),
    )


def page_of(
    comparison: Comparison,
    folder: Path,
    title: str,
    slug: str,
    date: dt.date,
    run_links: list[str | None],
    run_folders: list[str | None],
    carried: Carried,
) -> ComparisonPage:
    """Write the charts into ``folder``; the page model that shows them and every image's
    pictures (drawn as it was compared: ``comparison.visited``). ``run_links`` and
    ``run_folders``: each run's page and folder from the comparison's (None where it cannot be
    linked); ``carried``: the runs' explorers in the folder, for the flavours published away
    from the runs."""
    rows = comparison.images
    shown = comparison.movers(ROWS_SHOWN)
    (folder / CHARTS_DIR).mkdir(parents=True, exist_ok=True)
    drawn = [comparison.visited[row.ids[0]] for row in rows]
    thumbs = [
        comparison_images.thumb(row, picture) for row, picture in zip(rows, drawn, strict=True)
    ]
    galleries = comparison_images.galleries(rows, thumbs)
    gallery_of = comparison_images.gallery_of_each(galleries)
    curves = comparison.layer_curves()
    labels = [run.label for run in comparison.runs]
    differing = _differing(comparison.runs)
    # the usual parameters, then any other that differs (the model has a row of its own)
    others = (name for name in differing if name != "model")
    listed = tuple(dict.fromkeys([*SUMMARY_PARAMETERS, *others]))
    return ComparisonPage(
        title=title,
        slug=slug,
        date=date,
        runs=tuple(
            _run_summary(run, only, link, listed)
            for run, only, link in zip(comparison.runs, comparison.only_in, run_links, strict=True)
        ),
        n_common=len(rows),
        grid=f"{comparison.grid[0]}x{comparison.grid[1]}",
        resampled=comparison.resampled,
        differing=differing,
        pairs=tuple(_pair_section(comparison, pair, folder) for pair in comparison.pairs),
        layers_chart=comparison_figures.write_new(
            folder, f"{CHARTS_DIR}/entropy-by-layer.svg", plots.run_layer_curves(curves, labels)
        ),
        movers=tuple(_mover(rows[position], drawn[position]) for position in comparison.movers()),
        table_headers=(
            "image",
            "levels",
            "entropies",
            *(f"correlation {first + 1}-{second + 1}" for first, second in comparison.pairs),
        ),
        table_rows=tuple(_table_row(rows[position]) for position in shown),
        table_ids=tuple(rows[position].ids[0] for position in shown),
        galleries=tuple(galleries),
        images=tuple(
            comparison_images.image_page(
                comparison,
                row,
                picture,
                _explorers(comparison, row, run_folders),
                carried.pages.get(row.ids[0], ()),
                gallery_of[row.ids[0]],
            )
            for row, picture in zip(rows, drawn, strict=True)
        ),
        carried=carried.files,
    )


def carries_explorers(formats: list[str] | tuple[str, ...]) -> bool:
    """Whether some of ``formats`` has comparison pages published away from the runs, which
    show the runs' explorers carried in the comparison (:mod:`.comparison_explorers`)."""
    return any(name in TEMPLATES and not flavours.get(name).standalone for name in formats)


def _mover(row: ImageRow, drawn: comparison_figures.Drawn) -> Mover:
    return Mover(
        id=row.ids[0],
        name=row.name,
        levels=" -> ".join(str(level) for level in row.levels),
        entropies=" -> ".join(f"{value:.4f}" for value in row.entropies),
        figure=drawn.figure,
        difference=drawn.difference,
        width=drawn.width,
        height=drawn.height,
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
    """What the flavours' layouts read of a report to place its pages and the images they show:
    a comparison's, which has no levels; ``galleries`` says it has gallery and image pages."""

    slug: str
    date: dt.date
    title: str
    description: str  # the front matter's, where a flavour has one (distill)
    files: tuple[str, ...]  # the front page's images
    levels: tuple = ()
    galleries: bool = True

    def image_files(self) -> list[str]:
        return list(self.files)


def _shared(
    flavour: Flavour,
    options: object,
    templates: Templates,
    where: _Placement,
    kind: str,
    variables: dict,
) -> dict:
    """What every page of ``kind`` (report: the front page, gallery, image) sees, ``m``
    included; links relative to the page (``folder_url``: a link from the comparison's folder
    as the page names it)."""
    layout = flavour.layout_for(options)
    here = posixpath.dirname(layout.path(where, kind, "x")) or "."
    variables = {
        **variables,
        "report": where,
        "asset_url": functools.partial(layout.image_url, where, kind),
        "page_url": functools.partial(layout.link, where, kind),
        "data_url": functools.partial(layout.report_url, where, kind),
        "html_src": layout.html_src,
        "folder_url": lambda link: posixpath.relpath(link, here),
        "links_here": flavour.standalone,  # pages in the folder: links to the runs work
        **flavour.variables(options),
    }
    variables["m"] = templates.macros(
        flavour.escaping_for(kind), flavour.markup_for(kind), variables
    )
    return variables


class _PageWriter:
    """Writes gallery and image pages of one flavour, a chunk at a time (picklable: workers
    write them; the variables the pages share, with their macros, are made again there)."""

    def __init__(
        self, name: str, options, templates: Templates, where: _Placement, folder: Path, common
    ):
        self.name, self.options, self.templates = name, options, templates
        self.where, self.folder, self.common = where, folder, common
        self._shared: dict[str, dict] = {}

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_shared": {}}

    def write(self, pages: list[tuple[str, str, object, str]]) -> int:
        """Write ``pages``, each (kind, name, page, title); returns how many."""
        flavour = flavours.get(self.name)
        layout = flavour.layout_for(self.options)
        for kind, page_name, shown, title in pages:
            if kind not in self._shared:
                self._shared[kind] = _shared(
                    flavour, self.options, self.templates, self.where, kind, self.common
                )
            variables = {
                **self._shared[kind],
                "kind": f"comparison_{kind}",
                "page": shown,
                "page_title": title,
                "permalink": layout.permalink(self.where, kind, page_name),
            }
            data = self.templates.render(
                flavour.escaping_for(kind), flavour.page_template, variables
            )
            comparison_figures.write_new(
                self.folder, layout.page_path(self.where, kind, page_name), data
            )
        return len(pages)


def _write_chunk(writer: _PageWriter, pages: list[tuple[str, str, object, str]]) -> int:
    """:meth:`_PageWriter.write`, as a worker's task."""
    return writer.write(pages)


def write_pages(
    page: ComparisonPage,
    folder: Path,
    templates: Templates,
    formats: list[str],
    pool: Pool | None = None,
    flavour_options: Mapping[str, Any] | None = None,
) -> None:
    """The pages in each of ``formats`` that has a comparison template, with their images
    where the flavour's layout expects them (``flavour_options``: flavour -> its options, by
    default its defaults); the gallery and image pages written in ``pool``
    (by default here) by :func:`~reportgen.workers.in_chunks`. Pages that stand in the
    folder link the runs' pages, explorers and the data files; a Jekyll post, published without
    them, does not."""
    script = templates.file(posixpath.basename(SORT_SCRIPT)).read_bytes()
    comparison_figures.write_new(folder, SORT_SCRIPT, script)
    common = {
        "orders": comparison_images.ORDERS,
        "runs": [run.label for run in page.runs],
        "sort_script": SORT_SCRIPT,
    }
    pages = [("gallery", gallery.name, gallery, gallery.title) for gallery in page.galleries]
    pages += [("image", image.id, image, image.name) for image in page.images]
    for name in formats:
        if name not in TEMPLATES:
            continue
        flavour = flavours.get(name)
        options = flavours.options(stored=flavour_options).get(name)
        layout = flavour.layout_for(options)
        where = _Placement(page.slug, page.date, page.title, page.description, tuple(page.files()))
        front = {
            **_shared(flavour, options, templates, where, "report", common),
            "page": page,
            "run_url": lambda run, standalone=flavour.standalone: run.href if standalone else None,
        }
        data = templates.render(flavour.escaping, TEMPLATES[name], front)
        comparison_figures.write_new(folder, layout.page_path(where), data)
        writer = _PageWriter(name, options, templates, where, folder, common)
        title = f"{name} comparison pages"
        in_chunks(pool, _write_chunk, [(writer, pages)], title, total=len(pages))
        layout.place_images(where, page.all_files(), folder)
        flavour.write_extras(where, folder, options, templates)


def run_link(run: Run, comparison_dir: Path, page: str | None = "") -> str | None:
    """The run's ``page`` (by default its standalone page; a file relative to its folder) as
    the comparison's page links it: relative, when it needs no escaping (slugs, versions/N)."""
    page = flavours.standalone_page(run.manifest.report["formats"]) if page == "" else page
    if page is None:
        return None
    link = os.path.relpath(run.folder / page, comparison_dir).replace(os.sep, "/")
    return link if _SAFE_LINK.fullmatch(link) else None
