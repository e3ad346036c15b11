"""The hugo flavour: a Hugo page bundle, and a section for the gallery and image pages.

Everything it writes goes under ``hugo/`` in the report folder, laid out like a Hugo site's
``content/`` (and, for a comparison, ``static/``) folder to be copied into one: the post is
the leaf bundle ``content/post/<slug>/index.md`` with every file it shows beside it. A leaf
bundle cannot hold pages of its own, so a report with galleries adds the branch bundle
``content/reports/<slug>/``: its ``_index.md`` is not rendered, its gallery and image pages
(``gallery/``, ``images/``) are left out of the site's lists and show the files beside it.
Pages link each other through Hugo's ``relref`` and name images by URLs relative to
themselves, so the site's baseURL and post permalinks apply. No HTML file goes under
``content/``, which Hugo reads as a page (the newest refuses it): the HTML pages a comparison's
image pages frame (the runs' explorers it carries) go to ``static/`` at the section's path,
which Hugo publishes as it is at the section's URL, beside the files they load. The site's
Hugo version is the flavour's option (``--hugo-version``): the front matter key of build
options is ``build`` from Hugo 0.123 on (the only one from 0.145), ``_build`` before.
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
from reportgen.publish.escaping import HUGO_ESCAPING, yaml_string
from reportgen.publish.flavours.base import (
    Flavour,
    Layout,
    checked_report_file,
    link_files,
)

if TYPE_CHECKING:
    from reportgen.publish.page_model import ReportContext, ReportHeader

CONTENT = "content"
STATIC = "static"  # what Hugo publishes as it is, at the same path below the site
OLDEST = (0, 111)  # the oldest Hugo tested (Debian 12's)
BUILD_KEY_RENAMED = (0, 123)  # front matter "_build" became "build"
_VERSION = re.compile(r"v?(\d+)\.(\d+)(?:\.\d+)?")


@dataclass(frozen=True)
class HugoOptions:
    """``version``: the Hugo version the site is built with (MAJOR.MINOR, or later), for the
    front matter it reads."""

    version: str = "0.123"


def hugo_version(text: str) -> tuple[int, int]:
    """``0.111`` or ``v0.111.3`` as (0, 111); a one-line error for anything else."""
    match = _VERSION.fullmatch(text)
    if match is None:
        raise ReportgenError(f"--hugo-version {text!r}: use MAJOR.MINOR, e.g. 0.123")
    return int(match.group(1)), int(match.group(2))


def build_key(version: str) -> str:
    """The front matter key of build options in Hugo ``version``."""
    return "build" if hugo_version(version) >= BUILD_KEY_RENAMED else "_build"


@dataclass(frozen=True)
class HugoLayout(Layout):
    """A Hugo site's content: the post bundle at ``page`` (its files beside it) and, for the
    gallery and image pages, the section bundle ``pages`` (relative to ``content/``)."""

    root = "hugo"
    pages: str = "reports/{slug}"
    build_key: str = "build"  # the front matter key of build options (see build_key())

    def section(self, ctx: ReportContext | ReportHeader) -> str:
        """The section bundle of the gallery and image pages, relative to ``root``."""
        return posixpath.join(CONTENT, self.pages.format(slug=ctx.slug))

    def path(self, ctx: ReportContext | ReportHeader, kind: str, name: str) -> str:
        if kind == "report":
            return super().path(ctx, kind, name)
        return posixpath.join(self.section(ctx), super().path(ctx, kind, name))

    def link(self, ctx: ReportContext | ReportHeader, here: str, kind: str, name: str) -> str:
        """Through Hugo's relref shortcode: the page's URL in the site, whatever its
        permalinks and baseURL."""
        page = posixpath.relpath(self.path(ctx, kind, name), CONTENT)
        return '{{< relref "/' + page + '" >}}'

    def image_url(self, ctx: ReportContext | ReportHeader, here: str, file: str) -> str:
        """Relative to the page's URL: the post's is its bundle's; a gallery or image page's
        (``gallery/<name>/``) is two folders below its section's."""
        prefix = "" if here == "report" else "../../"
        return prefix + checked_report_file(file)

    def report_url(self, ctx: ReportContext | ReportHeader, here: str, name: str) -> None:
        return None  # the site publishes the pages and images, not the report's data

    def place_images(self, ctx: ReportContext, files: Sequence[str], report_dir: Path) -> None:
        """Link (or copy) what the post shows into its bundle and, with galleries, every file
        the pages show into the section bundle, whose ``_index.md`` publishes them without a
        page of its own."""
        from reportgen.publish.pages import shown_files  # pages renders with the flavours

        post = report_dir / posixpath.dirname(self.page_path(ctx))
        link_files(report_dir, _not_content(shown_files(ctx)), post)
        if ctx.galleries:
            section = report_dir / self.root / self.section(ctx)
            link_files(report_dir, _not_content(files), section)
            static = posixpath.join(STATIC, self.pages.format(slug=ctx.slug))
            link_files(report_dir, _framed(files), report_dir / self.root / static)
            _write_section_index(section / "_index.md", ctx.title, self.build_key)


def _not_content(files: Sequence[str]) -> list[str]:
    """``files`` without HTML pages, which Hugo would read as content."""
    return [file for file in files if not file.endswith(".html")]


def _framed(files: Sequence[str]) -> list[str]:
    """The HTML pages of ``files`` that the pages frame, for ``static/``: the runs' explorers a
    comparison carries (``runs/K/explorer/``); not the report's own (``explorer/<id>.html``,
    what other posts frame), as its pages embed the explorer instead."""
    return [file for file in files if file.endswith(".html") and not file.startswith("explorer/")]


def _write_section_index(path: Path, title: str, key: str) -> None:
    """The section's ``_index.md``: a bundle for the pages' files, not rendered nor listed."""
    from reportgen import store  # with numpy: not for the command line's help

    front_matter = [
        "---",
        f"title: {yaml_string(title + ': gallery and image pages')}",
        f"{key}:",
        "  render: never",
        "  list: never",
        "---",
    ]
    store.atomic_write(path, "\n".join(front_matter) + "\n")


@dataclass(frozen=True)
class HugoFlavour(Flavour):
    """The hugo flavour: its option is the site's Hugo version, which names the front matter's
    build options (``hugo_build_key`` in the templates)."""

    def add_arguments(self, group: argparse._ArgumentGroup, *, defaults: bool) -> None:
        group.add_argument(
            "--hugo-version",
            metavar="X.Y",
            help="the Hugo site's version, for the front matter it reads: build options are "
            "`build` from 0.123 on, `_build` before (default: 0.123 or later)",
        )

    def validated(self, options: HugoOptions) -> HugoOptions:
        if hugo_version(options.version) < OLDEST:
            oldest = ".".join(map(str, OLDEST))
            raise ReportgenError(
                f"--hugo-version {options.version}: Hugo {oldest} is the oldest supported"
            )
        return options

    def layout_for(self, options: HugoOptions) -> HugoLayout:
        return replace(self.layout, build_key=build_key(options.version))

    def variables(self, options: HugoOptions) -> dict[str, Any]:
        return {"hugo_build_key": build_key(options.version)}


FLAVOUR = HugoFlavour(
    name="hugo",
    description="Hugo page bundle",
    template="post.hugo.md.j2",
    page_template="page.hugo.md.j2",
    markup=("_markup.md.j2", "_markup.rawhtml.md.j2", "_markup.hugo.md.j2"),
    escaping=HUGO_ESCAPING,
    layout=HugoLayout("content/post/{slug}/index.md", ".md"),
    options_class=HugoOptions,
)
