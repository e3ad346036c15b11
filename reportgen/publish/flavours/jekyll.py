"""The jekyll flavour: an al-folio post, with gallery and image pages below the post's URL.

Everything it writes goes under ``jekyll/`` in the report folder, to be copied into a Jekyll
site: the post in ``_posts/``, gallery and image pages in ``reports/<slug>/`` and the images in
``assets/img/<slug>/``. Its settings, the figure include and the site's post permalink, are
its own options (``--jekyll-include``, ``--jekyll-permalink``), stored with the report.
"""

from __future__ import annotations

import argparse
import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reportgen.errors import ReportgenError
from reportgen.publish.escaping import MARKDOWN_ESCAPING
from reportgen.publish.flavours.base import (
    PAGE_FOLDERS,
    Flavour,
    Layout,
    checked_report_file,
    link_files,
)

if TYPE_CHECKING:
    from reportgen.publish.page_model import ReportContext, ReportHeader

DEFAULT_PERMALINK = "/blog/:year/:title/"  # al-folio's post permalink
_PERMALINK = re.compile(r"/(?:(?:[a-z0-9_-]+|:year|:month|:day|:title)/)*")
_INCLUDE_NAME = re.compile(r"[A-Za-z0-9_-]+(?:[./][A-Za-z0-9_-]+)*")


@dataclass(frozen=True)
class JekyllOptions:
    """``include``: al-folio's figure include, ``figure.liquid`` since 2024, ``figure.html`` in
    older sites; ``permalink``: the site's post permalink, under which the gallery and image
    pages go."""

    include: str = "figure.liquid"
    permalink: str = DEFAULT_PERMALINK


@dataclass(frozen=True)
class JekyllLayout(Layout):
    """A Jekyll site's layout: the front page is a post, gallery and image pages are Jekyll pages
    under ``pages`` whose permalinks put them below the post's URL (``post_permalink`` is the
    site's), and images are copied to ``assets`` (keeping their paths: ``figures/...``,
    ``thumbs/...``, ``charts/...``). Pages link each other through Liquid (``relative_url``,
    ``post_url``), so the site's baseurl applies."""

    root = "jekyll"
    pages: str = "reports/{slug}"
    assets: str = "assets/img/{slug}"
    post_permalink: str = DEFAULT_PERMALINK

    def path(self, ctx: ReportContext | ReportHeader, kind: str, name: str) -> str:
        if kind == "report":
            return super().path(ctx, kind, name)
        return posixpath.join(self.pages.format(slug=ctx.slug), super().path(ctx, kind, name))

    def url(self, ctx: ReportContext | ReportHeader, kind: str, name: str) -> str:
        """The site URL (before baseurl) of a gallery or image page."""
        date = ctx.date
        post = (
            self.post_permalink.replace(":year", f"{date.year:04d}")
            .replace(":month", f"{date.month:02d}")
            .replace(":day", f"{date.day:02d}")
            .replace(":title", ctx.slug)
        )
        return f"{post}{PAGE_FOLDERS[kind]}/{name}/"

    def link(self, ctx: ReportContext | ReportHeader, here: str, kind: str, name: str) -> str:
        if kind == "report":
            return "{% post_url " + f"{ctx.date.isoformat()}-{ctx.slug}" + " %}"
        return "{{ '" + self.url(ctx, kind, name) + "' | relative_url }}"

    def image_url(self, ctx: ReportContext | ReportHeader, here: str, file: str) -> str:
        """Relative to the site root: al-folio's figure include and the dialect's ``src`` macro
        add the site's baseurl."""
        return posixpath.join(self.assets.format(slug=ctx.slug), checked_report_file(file))

    def site_path(self, ctx: ReportContext | ReportHeader, file: str) -> str:
        return self.image_url(ctx, "report", file)

    def html_src(self, url: str) -> str:
        """Through Liquid's relative_url, which adds the site's baseurl."""
        return "{{ '" + url + "' | relative_url }}"

    def report_url(self, ctx: ReportContext | ReportHeader, here: str, name: str) -> None:
        return None  # the site publishes the pages and images, not the report's data

    def permalink(self, ctx: ReportHeader, kind: str, name: str) -> str | None:
        """A gallery or image page's own; the post's is the site's post permalink."""
        return None if kind == "report" else self.url(ctx, kind, name)

    def place_images(self, ctx: ReportContext, files: Sequence[str], report_dir: Path) -> None:
        """Link (or copy) the images into ``assets``, where the site serves them from."""
        link_files(report_dir, files, report_dir / self.root / self.assets.format(slug=ctx.slug))


@dataclass(frozen=True)
class JekyllFlavour(Flavour):
    """The jekyll flavour: its layout follows the site's post permalink, and its dialect names
    the site's figure include (``jekyll_include`` in the templates)."""

    def add_arguments(self, group: argparse._ArgumentGroup, *, defaults: bool) -> None:
        group.add_argument(
            "--jekyll-include",
            metavar="NAME",
            help="al-folio figure include: figure.liquid (current al-folio) or figure.html "
            "(older sites) (default: figure.liquid)",
        )
        group.add_argument(
            "--jekyll-permalink",
            metavar="PATTERN",
            help="the Jekyll site's post permalink: gallery and image pages go below the post's "
            "URL (default: al-folio's /blog/:year/:title/)",
        )

    def validated(self, options: JekyllOptions) -> JekyllOptions:
        if not _INCLUDE_NAME.fullmatch(options.include):
            raise ReportgenError(f"not an include file name: {options.include!r}")
        if not _PERMALINK.fullmatch(options.permalink):
            raise ReportgenError(
                f"--jekyll-permalink {options.permalink!r}: use a path from / to / made of fixed "
                "parts and :year, :month, :day, :title, e.g. /blog/:year/:title/"
            )
        return options

    def layout_for(self, options: JekyllOptions) -> JekyllLayout:
        return replace(self.layout, post_permalink=options.permalink)

    def variables(self, options: JekyllOptions) -> dict[str, Any]:
        return {"jekyll_include": options.include}


FLAVOUR = JekyllFlavour(
    name="jekyll",
    description="al-folio post",
    template="post.jekyll.md.j2",
    page_template="page.jekyll.md.j2",
    markup=("_markup.md.j2", "_markup.rawhtml.md.j2", "_markup.jekyll.md.j2"),
    escaping=MARKDOWN_ESCAPING,
    layout=JekyllLayout("_posts/{date}-{slug}.md", ".md"),
    options_class=JekyllOptions,
)
