"""How a report is made, as the user asks for it: its metadata (title, slug, date, formats,
figure style, ...) and its gallery settings; the defaults that come from the inputs and the time.
The analysis has its own: :class:`reportgen.results.AnalysisParams` (what it computes) and
:class:`reportgen.analysis.execution.Execution` (where it runs).
"""

from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from reportgen.errors import ReportgenError
from reportgen.publish import figures, flavours, render
from reportgen.publish.figures import FigureStyle
from reportgen.results import build_time
from reportgen.slugs import slugify

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class GallerySettings:
    """When a report gets galleries and a page per image, and how they are cut."""

    gallery_threshold: int = 50  # more images than this: galleries and a page per image
    typical: int = 3  # with galleries: images in full per level on the front page
    page_size: int = 200  # thumbnails per gallery page

    FIELDS = ("gallery_threshold", "typical", "page_size")  # their keys in the manifest

    def validated(self) -> GallerySettings:
        if self.gallery_threshold < 0:
            raise ReportgenError("--gallery-threshold must be 0 or more")
        if self.typical < 1:
            raise ReportgenError("--typical must be at least 1")
        if self.page_size < 1:
            raise ReportgenError("--page-size must be at least 1")
        return self

    def with_galleries(self, n_images: int) -> bool:
        """Whether a report of ``n_images`` images has galleries and image pages."""
        return n_images > self.gallery_threshold

    def typical_shown(self, n_images: int) -> int:
        """Figures shown in full per level on the front page (one without galleries)."""
        return self.typical if self.with_galleries(n_images) else 1


EXPLORER_DATA = ("scripts", "maps")  # see ReportOptions.explorer_data
LEGACY_EXPLORER_DATA = "scripts"  # what reports whose manifests do not record it were built with


def check_slug(slug: str | None) -> None:
    """A --slug as given (None: not given) names one folder as it is, or is a one-line error:
    never changed behind the user's back (``../x`` is not ``x``)."""
    if slug is not None and slugify(slug) != slug:
        raise ReportgenError(
            f"--slug {slug!r} is not a slug; use lower-case letters, digits and '-', "
            f"e.g. {slugify(slug)!r}"
        )


@dataclass(frozen=True)
class ReportOptions:
    """How a report is titled, dated and rendered, and its gallery settings."""

    title: str | None = None
    slug: str | None = None
    date: dt.date | None = None
    description: str | None = None
    tags: tuple[str, ...] = ("vision-transformer", "attention")
    categories: tuple[str, ...] = ("XAI",)
    formats: tuple[str, ...] = flavours.DEFAULT_FORMATS
    style: FigureStyle = field(default_factory=FigureStyle)
    templates_dir: Path | None = None
    gallery: GallerySettings = field(default_factory=GallerySettings)
    # where the explorer reads an image's data: the maps file itself, fetched (over http(s)
    # only; no second copy), or its own script (works from disk too; 57 kB more per image of
    # ViT-S). None: maps, or scripts with the distill flavour, whose post needs data scripts
    explorer_data: str | None = None
    # each flavour's own options by flavour name (see publish.flavours; missing: the defaults)
    flavour_options: dict[str, Any] = field(default_factory=dict)

    def validated(self) -> ReportOptions:
        flavours.check_names(self.formats)
        if self.templates_dir is not None and not Path(self.templates_dir).is_dir():
            raise ReportgenError(f"templates folder not found: {self.templates_dir}")
        check_slug(self.slug)
        if not 0.0 <= self.style.alpha <= 1.0:
            raise ReportgenError("--alpha must be in [0, 1]")
        if self.style.normalise not in figures.NORMALISATIONS:
            raise ReportgenError(
                f"--normalise must be one of {', '.join(figures.NORMALISATIONS)}, "
                f"got {self.style.normalise!r}"
            )
        if self.style.image_format not in render.FORMAT_EXTENSIONS:
            raise ReportgenError(f"unknown image format {self.style.image_format!r}")
        self.gallery.validated()
        if self.explorer_data is None:
            chosen = "scripts" if "distill" in self.formats else "maps"
            return replace(self, explorer_data=chosen).validated()
        if self.explorer_data not in EXPLORER_DATA:
            raise ReportgenError(
                f"--explorer-data must be one of {', '.join(EXPLORER_DATA)}, "
                f"got {self.explorer_data!r}"
            )
        if self.explorer_data == "maps" and "distill" in self.formats:
            raise ReportgenError(
                "--explorer-data maps does not work with the distill flavour (its post frames "
                "each explorer beside a data script): leave it out of --format, or use scripts"
            )
        render.colormap_lut(self.style.colormap)  # an unknown colormap fails here, not mid-build
        return replace(self, flavour_options=flavours.options(stored=self.flavour_options))

    def changed(self, **changes: Any) -> ReportOptions:
        """A copy with ``changes``, the gallery settings among them by their own names."""
        gallery = {key: changes.pop(key) for key in GallerySettings.FIELDS if key in changes}
        return replace(self, gallery=replace(self.gallery, **gallery), **changes)

    def to_json(self) -> dict[str, Any]:
        """As the manifest records it: one flat object, the gallery settings and every flavour's
        options (as ``<flavour>_<field>``) among the rest."""
        data = asdict(self)
        data.update(data.pop("gallery"))
        data["date"] = self.date.isoformat() if self.date else None
        data["templates_dir"] = None  # a local path: not part of the archived report
        del data["flavour_options"]
        return {**data, **flavours.options_to_json(flavours.options(stored=self.flavour_options))}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ReportOptions:
        data = {"explorer_data": LEGACY_EXPLORER_DATA, **data}
        gallery = {key: data.pop(key) for key in GallerySettings.FIELDS if key in data}
        data["gallery"] = GallerySettings(**gallery)
        data["flavour_options"] = flavours.options_from_json(data)
        data["date"] = dt.date.fromisoformat(data["date"]) if data["date"] else None
        data["style"] = FigureStyle.from_json(data["style"])
        for key in ("tags", "categories", "formats"):
            data[key] = tuple(data[key])
        return cls(**data)


def parse_date(text: str) -> dt.date:
    """``YYYY-MM-DD`` to a date, with a clear error."""
    if not _DATE.fullmatch(text):
        raise ReportgenError(f"--date must look like 2024-05-24, got {text!r}")
    try:
        return dt.date.fromisoformat(text)
    except ValueError as error:
        raise ReportgenError(f"--date {text}: {error}") from None


def report_time(options: ReportOptions) -> tuple[dt.datetime, str]:
    """The time recorded in the report: SOURCE_DATE_EPOCH, else --date, else the clock."""
    if os.environ.get("SOURCE_DATE_EPOCH") or options.date is None:
        return build_time()
    return dt.datetime.combine(options.date, dt.time(), dt.UTC), "--date"


def with_defaults(options: ReportOptions, inputs: str, created: dt.datetime) -> ReportOptions:
    """Title and slug from the name of the inputs (a source's name), date from the time."""
    inputs = inputs or "images"
    return replace(
        options,
        date=options.date or created.date(),
        title=options.title or f"Where a Vision Transformer looks: {inputs}",
        slug=options.slug or slugify(inputs, fallback="report"),
    )
