"""The page model, assembled in one place: what the templates read (page_model.ReportContext, the
gallery pages and the image pages), from an analysis, the report's options, its version and
its charts. Pure but for reading the figures' and thumbnails' sizes from their files."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from reportgen import store, table
from reportgen.manifest import MANIFEST_FILE
from reportgen.methods import spread
from reportgen.methods.faithfulness import FaithfulnessResult
from reportgen.publish import classes, explorer, gallery, page_model, render
from reportgen.publish.figures import FigureStyle
from reportgen.publish.folders import (
    CURRENT_FROM_VERSION,
    DATA_DIR,
    figure_path,
    sprite_path,
    thumb_path,
)
from reportgen.publish.options import ReportOptions
from reportgen.publish.versions import ReportVersion
from reportgen.results import AUTO, Analysis, ImageSummary

# what the front page calls a source's items (one, several), by its kind; a plugin's: inputs
INPUTS_CALLED = {
    "folder": ("file in the input folder", "files in the input folder"),
    "csv": ("row of the labels file", "rows of the labels file"),
    "dataset": ("row of the dataset", "rows of the dataset"),
    "shards": ("sample of the shards", "samples of the shards"),
}


def inputs_called(source: dict) -> tuple[str, str]:
    """What the pages call the items of the source a manifest records (one, several)."""
    return INPUTS_CALLED.get(source.get("kind", "folder"), ("input", "inputs"))


@dataclass
class ImageSizes:
    """(width, height) of the report's figures and thumbnails, read from each file's header
    once per rendering: a figure is on the front page and on its image page."""

    report: Path
    known: dict[str, tuple[int, int]] = field(default_factory=dict)

    def __call__(self, path: str) -> tuple[int, int]:
        if path not in self.known:
            with (self.report / path).open("rb") as stream:
                size = render.encoded_size(stream.read(30))
            if size is None:
                from PIL import Image

                with Image.open(self.report / path) as opened:
                    size = opened.size
            self.known[path] = size
        return self.known[path]


@dataclass(frozen=True)
class PageModel:
    """Everything the flavours render."""

    context: page_model.ReportContext
    galleries: list[page_model.GalleryPage]
    images: list[page_model.ImagePage]


def build_page_model(
    report: Path,
    analysis: Analysis,
    options: ReportOptions,
    version: ReportVersion,
    charts: tuple[page_model.Chart, ...],
    faithfulness_chart: page_model.Chart | None,
    outcomes_chart: page_model.Chart | None = None,
) -> PageModel:
    """The pages of the report in ``report`` (its figures and thumbnails drawn);
    ``outcomes_chart`` is correct against wrong's, where predictions are checked."""
    sizes = ImageSizes(report)
    with_galleries = options.gallery.with_galleries(len(analysis.images))
    galleries, image_pages = gallery_pages(sizes, analysis, options) if with_galleries else ([], [])
    n_levels = max(image.level for image in analysis.images)
    manifest = analysis.manifest
    maps_format = analysis.maps_format()  # what its min is
    context = page_model.ReportContext(
        title=options.title,
        slug=options.slug,
        date=options.date,
        description=options.description
        or (
            f"Where {analysis.model.model_id} looks in {len(analysis.images)} images: "
            f"{'CLS' if analysis.model.has_cls else 'received'} "
            "attention per layer, aggregates, rollout and spread levels"
        ),
        tags=options.tags,
        categories=options.categories,
        model=analysis.model,
        spread_map=analysis.spread_spec.describe(
            analysis.rollout_start_layer, analysis.model.has_cls
        ),
        params={
            **analysis.params.parameters(),
            **asdict(options.style),
            "levels_used": n_levels,
        },
        levels=levels(sizes, analysis, options, with_galleries),
        charts=charts,
        skipped=tuple(analysis.skipped),
        inputs_called=inputs_called(manifest.inputs.source),
        n_images=len(analysis.images),
        versions=manifest.libraries,
        created_utc=manifest.created_utc,
        reportgen_commit=manifest.program.commit,
        reportgen_version=manifest.program.version,
        time_source=manifest.time_source,
        manifest_file=MANIFEST_FILE,
        data_dir=f"{DATA_DIR}/",
        rollout_start_layer=analysis.rollout_start_layer,
        rollout_auto=analysis.params.rollout_start_layer == AUTO,
        artifacts_mode=manifest.artifacts.mode if manifest.artifacts else None,
        masked_per_layer=manifest.artifacts.masked_per_layer if manifest.artifacts else (),
        normalise=options.style.normalise,
        faithfulness=faithfulness_section(analysis, faithfulness_chart),
        version=version.number,
        current_folder=CURRENT_FROM_VERSION if version.archived else None,
        history=version.history,
        typical_per_level=options.gallery.typical_shown(len(analysis.images)),
        token_views=any(image.artifact_score is not None for image in analysis.images),
        artifact_images=sum(bool(image.artifact_score) for image in analysis.images),
        relative_min=maps_format >= store.MIN_RELATIVE_FORMAT,
        min_from_rollout_start=maps_format >= store.MIN_KEPT_FORMAT,
        feature_basis=manifest.features,
        classes=classes.class_section(
            analysis,
            page_model.level_colours(n_levels),
            galleries[0].name if galleries else None,
            outcomes_chart,
        ),
    )
    return PageModel(context, galleries, image_pages)


def faithfulness_section(
    analysis: Analysis, chart: page_model.Chart | None
) -> page_model.Faithfulness | None:
    """The "Which map to trust" section from the stored scores, with its chart."""
    if not analysis.faithfulness or chart is None:
        return None
    result = FaithfulnessResult.from_json(analysis.faithfulness)
    leads = result.leads()
    scores = []
    for name in result.ranking():
        lead = leads.get(name)
        scores.append(
            page_model.MapScore(
                name,
                result.maps[name].deletion_auc,
                result.maps[name].insertion_auc,
                **result.maps[name].certainty(),
                lead=lead.mean if lead else None,
                lead_se=lead.se if lead else None,
                lead_sure=bool(lead and lead.sure),
            )
        )
    return page_model.Faithfulness(
        metric=result.metric,
        steps=result.steps,
        images=result.images,
        baseline=result.baseline,
        scores=tuple(scores),
        chart=chart,
        precision=result.precision,
    )


def figure_entry(
    sizes: ImageSizes,
    image: ImageSummary,
    style: FigureStyle,
    inline_explorer: page_model.ExplorerFiles | None = None,
) -> page_model.Figure:
    path = figure_path(image, style)
    width, height = sizes(path)
    return page_model.Figure(
        image.name,
        path,
        width,
        height,
        image.entropy,
        image.level,
        image.predictions,
        sprite=sprite_path(image, style),
        explorer=inline_explorer,
        label=image.label,
    )


def members_by_level(analysis: Analysis) -> dict[int, list[ImageSummary]]:
    """The images of each level, from the most focused to the most spread (ties: input order)."""
    members: dict[int, list[ImageSummary]] = {}
    for image in sorted(analysis.images, key=lambda image: (image.entropy, image.index)):
        members.setdefault(image.level, []).append(image)
    return dict(sorted(members.items()))


def levels(
    sizes: ImageSizes, analysis: Analysis, options: ReportOptions, with_galleries: bool
) -> tuple[page_model.Level, ...]:
    """The levels as the front page shows them: a single-page report folds all but the featured
    figure below it; a report with galleries shows the typical figures and links the gallery."""
    entropies = np.array([image.entropy for image in analysis.images])
    level_numbers = np.array([image.level for image in analysis.images])
    ranges = spread.level_ranges(entropies, level_numbers)
    colours = page_model.level_colours(max(ranges))
    style = options.style
    maps = options.explorer_data == "maps"

    def front_figure(image: ImageSummary) -> page_model.Figure:
        """A single-page report has each figure's explorer inline."""
        inline = None if with_galleries else explorer.files(image.id, maps)
        return figure_entry(sizes, image, style, inline_explorer=inline)

    sections = []
    for number, members in members_by_level(analysis).items():
        shown = options.gallery.typical_shown(len(analysis.images))
        typical_indices = spread.typical_indices(entropies, level_numbers, number, shown)
        typical = [analysis.images[index] for index in typical_indices]
        shown_ids = {image.id for image in typical}
        others = [] if with_galleries else [i for i in members if i.id not in shown_ids]
        page_size = options.gallery.page_size
        n_pages = len(gallery.paginate(len(members), page_size)) if with_galleries else 0
        sections.append(
            page_model.Level(
                number=number,
                colour=colours[number - 1],
                entropy_min=ranges[number][0],
                entropy_max=ranges[number][1],
                typical=tuple(front_figure(image) for image in typical),
                others=tuple(front_figure(image) for image in others),
                count=len(members),
                gallery=tuple(
                    page_model.gallery_page_name(number, "entropy", page)
                    for page in range(1, n_pages + 1)
                ),
                gallery_by_name=page_model.gallery_page_name(number, "name", 1)
                if with_galleries
                else None,
            )
        )
    return tuple(sections)


def gallery_pages(
    sizes: ImageSizes, analysis: Analysis, options: ReportOptions
) -> tuple[list[page_model.GalleryPage], list[page_model.ImagePage]]:
    """Every gallery page (each level, both orders) and every image's page."""
    style, page_size = options.style, options.gallery.page_size
    colours = page_model.level_colours(max(image.level for image in analysis.images))
    by_level = members_by_level(analysis)
    galleries: list[page_model.GalleryPage] = []
    image_pages: dict[str, page_model.ImagePage] = {}
    for number, members in by_level.items():
        mark = page_model.LevelMark(number, colours[number - 1])
        thumbs = [
            page_model.Thumb(
                image.id,
                image.name,
                thumb_path(image, style),
                *sizes(thumb_path(image, style)),
                image.entropy,
                sprite=sprite_path(image, style),
                label=image.label,
            )
            for image in members
        ]
        galleries += gallery.level_pages(mark, thumbs, tuple(by_level), page_size)
        for position, image in enumerate(members):
            image_pages[image.id] = page_model.ImagePage(
                id=image.id,
                figure=figure_entry(sizes, image, style),
                level=mark,
                sha256=image.sha256,
                size_bytes=image.size_bytes,
                original_size=image.original_size,
                layer_entropies=image.layer_entropies,
                artifact_counts=image.artifact_counts,
                gallery=page_model.gallery_page_name(number, "entropy", position // page_size + 1),
                maps_file=f"{DATA_DIR}/{table.maps_file(image.id)}",
                table_file=f"{DATA_DIR}/{table.TABLE_FILE}",
                explorer=explorer.files(image.id, options.explorer_data == "maps"),
                correct=image.correct,
                artifact_score=image.artifact_score,
                score_layer=analysis.params.norm_layer,
            )
    return galleries, [image_pages[image.id] for image in analysis.images]
