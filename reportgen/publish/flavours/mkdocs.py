"""The mkdocs flavour: pages for an MkDocs Material site's ``docs/`` folder.

Everything it writes goes under ``mkdocs/<slug>/`` in the report folder, to be copied anywhere
into a site's ``docs/``: the report's page ``index.md``, its gallery and image pages in
``gallery/`` and ``images/`` and every image they show beside them. Pages are plain Markdown
for Python-Markdown with the ``admonition``, ``pymdownx.details``, ``attr_list`` and ``tables``
extensions: levels are collapsible ``??? note`` blocks, figures Markdown images with their size.
Links and images are relative Markdown links, which MkDocs checks (``--strict``) and rewrites
for its page URLs. The pages run no script: an image's explorer is a link to its standalone
page (``explorer/<id>.html``, placed beside the pages with its scripts).
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from reportgen.publish.escaping import MARKDOWN_ESCAPING
from reportgen.publish.flavours.base import Flavour, Layout, checked_report_file, link_files

if TYPE_CHECKING:
    from reportgen.publish.page_model import ReportContext, ReportHeader


@dataclass(frozen=True)
class MkDocsLayout(Layout):
    """The report's pages and images in one folder, ``<slug>/`` below ``root``."""

    root = "mkdocs"

    def path(self, ctx: ReportContext | ReportHeader, kind: str, name: str) -> str:
        if kind == "report":
            return super().path(ctx, kind, name)
        return posixpath.join(ctx.slug, super().path(ctx, kind, name))

    def image_url(self, ctx: ReportContext | ReportHeader, here: str, file: str) -> str:
        return self._from(ctx, here, posixpath.join(ctx.slug, checked_report_file(file)))

    def report_url(self, ctx: ReportContext | ReportHeader, here: str, name: str) -> None:
        return None  # the docs publish the pages and images, not the report's data

    def place_images(self, ctx: ReportContext, files: Sequence[str], report_dir: Path) -> None:
        """Link (or copy) the images into the pages' folder."""
        link_files(report_dir, files, report_dir / self.root / ctx.slug)


FLAVOUR = Flavour(
    name="mkdocs",
    description="MkDocs Material pages",
    template="page.mkdocs.md.j2",
    page_template="page.mkdocs.md.j2",
    markup=("_markup.md.j2", "_markup.mkdocs.md.j2"),
    escaping=MARKDOWN_ESCAPING,
    layout=MkDocsLayout("{slug}/index.md", ".md"),
    scripts=False,
    explorer_pages=True,
)
