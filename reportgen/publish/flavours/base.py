"""What a flavour is: its page templates, markup dialect, escaping policy, file layout and options.

A flavour writes the report's pages in one output format. The report's structure and prose live
once, in shared partials (``templates/_report.j2``, ``_gallery.j2``, ``_image.j2`` and the files
they include), written against a small vocabulary of macros (``m.heading``, ``m.figure``,
``m.details``, ``m.thumbs`` ...) that each flavour's markup dialect defines for its format. Its
:class:`Layout` says where its pages and the images they show go inside the report folder, and
how pages link each other.
"""

from __future__ import annotations

import argparse
import functools
import os
import posixpath
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reportgen.errors import ReportgenError
from reportgen.publish.escaping import Escaping

if TYPE_CHECKING:  # the command line reads the flavours: they import no numpy
    from reportgen.publish.page_model import ReportContext, ReportHeader
    from reportgen.publish.templates import Templates

PAGE_FOLDERS = {"gallery": "gallery", "image": "images"}
_REPORT_FILE = re.compile(r"(?:[a-z0-9_-]+/)*[a-z0-9_-]+\.[a-z0-9]+")


def checked_report_file(file: str) -> str:
    """A report image path, refused unless it is a slug path (it goes into URLs and Liquid)."""
    if not _REPORT_FILE.fullmatch(file):
        raise ReportgenError(f"not a slug path for a report image: {file!r}")
    return file


def link_files(
    report_dir: Path,
    files: Sequence[str],
    folder: Path,
    placed: Callable[[str], str] = lambda file: file,
) -> None:
    """Link (or copy) the report files ``files`` into ``folder``, for a layout that publishes
    its pages away from the report's own files; ``placed`` gives each one's path below
    ``folder`` (by default the path it has in the report)."""
    from reportgen import store  # with numpy: not for the command line's help

    sources, destinations = os.fspath(report_dir), os.fspath(folder)
    for file in dict.fromkeys(files):  # strings: a report has 10,000s of images to link
        checked_report_file(file)
        try:
            store.link_or_copy(
                os.path.join(sources, file), os.path.join(destinations, placed(file))
            )
        except FileNotFoundError:
            raise ReportgenError(f"{file} is missing from the report folder {report_dir}") from None


@functools.lru_cache(maxsize=1 << 16)
def _relative(target: str, folder: str) -> str:
    """The relative path ``target`` as seen from the relative ``folder`` (remembered: every
    page of a kind names the same scripts, and each file is named by several pages)."""
    return posixpath.relpath(target, folder or ".") + ("/" if target.endswith("/") else "")


@dataclass(frozen=True)
class Layout:
    """Where a flavour puts its pages and images inside the report folder, and how pages link.

    ``root`` is the folder of the flavour's files ("" is the report folder itself). Under it,
    ``page`` is the front page and gallery and image pages go to ``gallery/`` and ``images/``
    with ``extension``. The pages show the report's images in place and link each other and the
    report's files by relative paths, so the folder works from disk and on any web server.
    """

    page: str
    extension: str

    root = ""

    def path(self, ctx: ReportContext | ReportHeader, kind: str, name: str) -> str:
        """A page's file, relative to ``root``; ``kind`` is report, gallery or image."""
        if kind == "report":
            return self.page.format(date=ctx.date.isoformat(), slug=ctx.slug)
        return f"{PAGE_FOLDERS[kind]}/{name}{self.extension}"

    def page_path(self, ctx: ReportContext | ReportHeader, kind: str = "report", name="") -> str:
        """A page's file, relative to the report folder."""
        return posixpath.join(self.root, self.path(ctx, kind, name))

    def _from(self, ctx: ReportContext | ReportHeader, here: str, target: str) -> str:
        """``target`` (relative to ``root``) as seen from a page of kind ``here``."""
        return _relative(target, posixpath.dirname(self.path(ctx, here, "x")))

    def link(self, ctx: ReportContext | ReportHeader, here: str, kind: str, name: str) -> str:
        """The href from a page of kind ``here`` to another page of the report."""
        return self._from(ctx, here, self.path(ctx, kind, name))

    def image_url(self, ctx: ReportContext | ReportHeader, here: str, file: str) -> str:
        """How a page of kind ``here`` names a report image."""
        return self._from(ctx, here, checked_report_file(file))

    def html_src(self, url: str) -> str:
        """How raw HTML in a page names a report file at ``url`` (an :meth:`image_url`): as it
        is, a URL relative to the page."""
        return url

    def report_url(self, ctx: ReportContext | ReportHeader, here: str, name: str) -> str | None:
        """Link from a page to a report file such as manifest.json; None when not published."""
        return self._from(ctx, here, name)

    def download(self, ctx: ReportContext | ReportHeader) -> str:
        """The file, relative to the report folder, that the site index links for the flavour:
        its front page."""
        return self.page_path(ctx)

    def site_path(self, ctx: ReportContext | ReportHeader, file: str) -> str | None:
        """Where the site that publishes the flavour's files serves a report file, as any page
        of that site names it to the dialect's figures and sources (``reportgen embed``); None
        where the pages stay in the report folder and the file is served with it."""
        return None

    def permalink(self, ctx: ReportHeader, kind: str, name: str) -> str | None:
        """The URL a page declares for itself (in its front matter); None: wherever it is."""
        return None

    def place_images(self, ctx: ReportContext, files: Sequence[str], report_dir: Path) -> None:
        """Put the images the pages show where the pages expect them (already in place here)."""


@dataclass(frozen=True)
class Flavour:
    """An output format: page templates, markup dialect, escaping policy, layout and options.

    ``template`` renders the front page, ``page_template`` the gallery and image pages (file
    names in ``templates/``, which users override file by file). ``markup`` lists macro files,
    later ones overriding earlier ones by macro name; together they are the ``m`` the shared
    partials write with. ``description`` names it in the command line's help. ``name_filter``:
    galleries get the progressive filter by name (a script; only where pages may run one).
    ``web_page``: its front page is a complete web page, the one the site index links first.
    ``hosts_explorer``: its image pages have the explorer that other flavours' pages may link.
    ``scripts``: its pages run the report's scripts (the report-wide control, the explorer), so
    a layout that places the images places their files too. ``explorer_pages``: its pages,
    without scripts, link each image's standalone explorer page, which the layout places.

    ``page_escaping`` and ``page_markup``, when given, are the escaping policy and dialect of
    its gallery and image pages where they are another format than its front page (distill: HTML
    pages beside a Markdown post).

    ``templates`` is a folder of the flavour's own templates (a plugin's page templates and
    markup dialect), searched after the user's folder and before the packaged templates.

    A flavour with settings of its own has an ``options_class``, a frozen dataclass whose fields
    all have defaults; they are stored in the report's manifest as ``<flavour>_<field>`` and
    given on the command line as ``--<flavour>-<field>`` (:meth:`add_arguments`).
    """

    name: str
    description: str
    template: str
    page_template: str
    markup: tuple[str, ...]
    escaping: Escaping
    layout: Layout
    name_filter: bool = False
    web_page: bool = False
    hosts_explorer: bool = False
    scripts: bool = True
    explorer_pages: bool = False
    options_class: type | None = None
    templates: Path | None = None
    page_escaping: Escaping | None = None
    page_markup: tuple[str, ...] = ()

    @property
    def standalone(self) -> bool:
        """Whether its front page stands in the report folder, readable there as it is."""
        return not self.layout.root

    def escaping_for(self, kind: str) -> Escaping:
        """The escaping policy of its pages of ``kind`` (report, gallery or image)."""
        return self.page_escaping if kind != "report" and self.page_escaping else self.escaping

    def markup_for(self, kind: str) -> tuple[str, ...]:
        """The dialect of its pages of ``kind``."""
        return self.page_markup if kind != "report" and self.page_markup else self.markup

    def add_arguments(self, group: argparse._ArgumentGroup, *, defaults: bool) -> None:
        """Its command line options (``defaults``: build, else render, which keeps the stored
        values); each is stored as ``<flavour>_<field>`` in ``args``, None when not given."""

    def validated(self, options: Any) -> Any:
        """``options`` (an instance of :attr:`options_class`), or a one-line error saying what is
        wrong with them."""
        return options

    def layout_for(self, options: Any) -> Layout:
        """Its layout with ``options`` applied."""
        return self.layout

    def variables(self, options: Any) -> dict[str, Any]:
        """What its templates see besides the shared variables, from its ``options``."""
        return {}

    def write_extras(
        self, ctx: ReportContext, report_dir: Path, options: Any, templates: Templates
    ) -> None:
        """Write the files it ships besides its pages and the images they show, once its pages
        are written (distill: its bibliography and the explorer figures its post frames)."""
