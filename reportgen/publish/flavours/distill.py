"""The distill flavour: an al-folio ``distill`` post as the ICLR Blogposts track takes it.

Everything it writes goes under ``distill/`` in the report folder, whose contents are dropped
into a fork of the track's site as they are. ``DATE-SLUG`` names them all (DATE is the post
date, ``--post-date``, by default the report's), in the only four places a submission may touch:

- ``_posts/DATE-SLUG.md``: the post, with the track's front matter (:func:`front_matter`);
- ``assets/img/DATE-SLUG/``: the figures and charts it shows (al-folio's ``figure.liquid``);
- ``assets/html/DATE-SLUG/``: its interactive figures: the report's explorer page of each image
  (``explorer/<id>.html``, beside its scripts and data; the post frames them) and, for a report with
  galleries, the gallery and image pages as standalone HTML (the html flavour's dialect);
- ``assets/bibliography/DATE-SLUG.bib``: the papers the post cites (:mod:`..bibliography`).

The post is kramdown with Liquid: figures through al-folio's include, levels as ``<details>``
blocks, explorers as ``<iframe>`` in the ``l-page`` width, the methods' papers as
``<d-cite>``; it runs no script of its own. ``reportgen check-distill`` checks the track's rules
on the folder (:mod:`reportgen.publish.distill_check`). Beside the folder, ``distill-DATE-SLUG.zip``
holds the same files (the site index links it), ready to unzip into the fork's root.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import html
import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reportgen.errors import ReportgenError
from reportgen.publish import bibliography
from reportgen.publish.escaping import HTML_ESCAPING, MARKDOWN_ESCAPING, front_matter_text
from reportgen.publish.flavours.base import (
    PAGE_FOLDERS,
    Flavour,
    Layout,
    checked_report_file,
    link_files,
)
from reportgen.publish.flavours.jekyll import DEFAULT_PERMALINK

if TYPE_CHECKING:
    from reportgen.publish.page_model import ExplorerFiles, Figure, ReportContext, ReportHeader
    from reportgen.publish.templates import Templates

ROOT = "distill"  # in the report folder: what goes into the fork
POST_LAYOUT = "distill"
# Interactive figures go to assets/html, images to img; a maps file beside the explorer page
# that fetches it (a run's, which a comparison carries: --explorer-data maps).
HTML_ASSETS = (".js", ".css", ".html", ".npz")
EXPLORER_PAGE = "explorer.distill.html.j2"
ANONYMOUS = "anonymous"
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_CITE = re.compile(r'<d-cite key="([^"]+)"></d-cite>')
_HEADING = re.compile(r'<h([23]) id="([^"]*)"[^>]*>(.*?)</h\1>')
# What a description must not have: links (Markdown, HTML, addresses) and double quotes.
_MARKDOWN_LINK = re.compile(r"!?\[([^\]]*)\]\(")  # to its address's closing parenthesis
_HTML_LINK = re.compile(r"</?a\b[^>]*>", re.IGNORECASE)
_ADDRESS = re.compile(r"<?\b(?:https?://|ftp://|www\.)\S+>?", re.IGNORECASE)
_DOUBLE_QUOTES = re.compile('["“”„‟«»]')
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=\S)")
MAX_SENTENCES = 3
_SLUG_BREAK = re.compile(r"[\W_]+")


def post_name(date: str, slug: str) -> str:
    """``DATE-SLUG``: the post's file name, its folders' names and its bibliography's."""
    return f"{date}-{slug}"


def jekyll_slugify(text: str) -> str:
    """Jekyll's ``slugify`` (default mode), which al-folio's table of contents links by: runs of
    characters other than letters and digits become one hyphen, none at either end, lower case."""
    return _SLUG_BREAK.sub("-", text).strip("-").lower()


@dataclass(frozen=True)
class Author:
    name: str
    affiliation: str | None = None


def parse_authors(text: str) -> tuple[Author, ...]:
    """``anonymous`` (the track's review), or ``Name, Affiliation; Name; ...``."""
    if text.strip().lower() == ANONYMOUS:
        return (Author("Anonymous"),)
    authors = []
    for entry in text.split(";"):
        name, _, affiliation = (part.strip() for part in entry.partition(","))
        if not name:
            raise ReportgenError(
                f"--authors {text!r}: give anonymous, or names separated by ';', each "
                "optionally followed by ', affiliation'"
            )
        authors.append(Author(name, affiliation or None))
    return tuple(authors)


def description(text: str) -> str:
    """A report's description as the track wants it: no links (their text stays), no double
    quotes, one to three sentences."""
    while (unlinked := _without_markdown_links(text)) != text:  # an image in a link, ...
        text = unlinked
    text = _ADDRESS.sub("", _HTML_LINK.sub("", text))
    text = " ".join(_DOUBLE_QUOTES.sub("", text).split())
    sentences = _SENTENCE_END.split(text)
    text = " ".join(sentences[:MAX_SENTENCES]).strip()
    return text if not text or text[-1] in ".!?" else text + "."


def _without_markdown_links(text: str) -> str:
    """``text`` with each Markdown link or image as its text alone; its address may hold
    parentheses, balanced or escaped (``[l](javascript:f(3))``), as CommonMark allows. One
    nested in another's text comes out whole only when run again on what this gives
    (``[![a](i.png)](u)`` gives ``![a](u)``, then ``a``)."""
    parts, position = [], 0
    while (link := _MARKDOWN_LINK.search(text, position)) is not None:
        end = _address_end(text, link.end())
        if end is None:  # not a link: the text stays
            parts.append(text[position : link.end()])
            position = link.end()
        else:
            parts += [text[position : link.start()], link.group(1)]
            position = end
    return "".join(parts) + text[position:]


def _address_end(text: str, start: int) -> int | None:
    """Where a link's address that starts at ``start`` ends, after its closing parenthesis:
    where its parentheses balance, else at the first (the track's check reads any ``](`` as a
    link); None where none closes."""
    depth, escaped, first = 0, False, None
    for index in range(start, len(text)):
        char = text[index]
        if escaped or char == "\\":
            escaped = not escaped
        elif char == "(":
            depth += 1
        elif char == ")":
            if depth == 0:
                return index + 1
            first = index + 1 if first is None else first
            depth -= 1
    return first


def heading_id(text: str) -> str:
    """The id of a heading whose page-ready text is ``text``: what al-folio's table of contents
    links to, the slug of the name the front matter gives it."""
    return jekyll_slugify(front_matter_text(html.unescape(text))[1:-1])


def table_of_contents(body: str) -> list[tuple[str, list[str]]]:
    """The post's sections and their subsections, by the page-ready text of its headings (the
    dialect writes them as HTML ``<h2 id>`` and ``<h3 id>``), decoded."""
    sections: list[tuple[str, list[str]]] = []
    for level, _, text in _HEADING.findall(body):
        name = html.unescape(re.sub(r"<[^>]+>", "", text))
        if level == "2" or not sections:
            sections.append((name, []))
        else:
            sections[-1][1].append(name)
    return sections


@dataclass(frozen=True)
class DistillOptions:
    """``post_date``: the post's date and its files' names (YYYY-MM-DD, the track's conference
    day; None: the report's date); ``authors``: ``anonymous`` (for review) or ``Name,
    Affiliation; ...``."""

    post_date: str | None = None
    authors: str = ANONYMOUS


def front_matter(options: DistillOptions, report: ReportContext, body: str) -> str:
    """The post's front matter: the track's fields (the description the report's, else one made
    of its model and size when nothing is left of it), the table of contents from ``body``'s
    headings. Every value is quoted and inert (:func:`front_matter_text`): al-folio prints them
    unescaped into the page and into a JSON script."""
    date = options.post_date or report.date.isoformat()
    summary = description(report.description) or description(
        f"Where the attention of {report.model.model_id} goes, over {report.n_images} images"
    )
    lines = [
        "---",
        f"layout: {POST_LAYOUT}",
        f"title: {front_matter_text(report.title)}",
        f"description: {front_matter_text(summary)}",
        f"date: {date}",
        "future: true",
        "htmlwidgets: true",
        "authors:",
    ]
    for author in parse_authors(options.authors):
        lines.append(f"  - name: {front_matter_text(author.name)}")
        if author.affiliation:
            lines += ["    affiliations:", f"      name: {front_matter_text(author.affiliation)}"]
    lines += [f"bibliography: {post_name(date, report.slug)}.bib", "toc:"]
    for name, subsections in table_of_contents(body):
        lines.append(f"  - name: {front_matter_text(name)}")
        if subsections:
            lines.append("    subsections:")
            lines += [f"      - name: {front_matter_text(sub)}" for sub in subsections]
    return "\n".join([*lines, "---", ""])


@dataclass(frozen=True)
class DistillLayout(Layout):
    """The track's layout: the post in ``_posts/``, images in ``assets/img/DATE-SLUG/``, scripts
    and HTML pages in ``assets/html/DATE-SLUG/`` (report images keep their paths below them).
    The post names files from the site root (al-folio's include and ``relative_url`` add the
    baseurl); the HTML pages by relative paths, and the post by its address under al-folio's
    permalink."""

    root = ROOT
    post_date: str | None = None

    def name(self, ctx: ReportContext | ReportHeader) -> str:
        return post_name(self.post_date or ctx.date.isoformat(), ctx.slug)

    def path(self, ctx: ReportContext | ReportHeader, kind: str, name: str) -> str:
        if kind == "report":
            return f"_posts/{self.name(ctx)}.md"
        return f"assets/html/{self.name(ctx)}/{PAGE_FOLDERS[kind]}/{name}.html"

    def asset(self, ctx: ReportContext | ReportHeader, file: str) -> str:
        """Where a report file goes, from the site root."""
        folder = "html" if file.endswith(HTML_ASSETS) else "img"
        return f"assets/{folder}/{self.name(ctx)}/{checked_report_file(file)}"

    def post_url(self, ctx: ReportContext | ReportHeader) -> str:
        """The post's address from the site root (before the baseurl)."""
        year = (self.post_date or ctx.date.isoformat())[:4]
        return DEFAULT_PERMALINK.replace(":year", year).replace(":title", ctx.slug).lstrip("/")

    def link(self, ctx: ReportContext | ReportHeader, here: str, kind: str, name: str) -> str:
        if kind == "report":
            return self._from(ctx, here, self.post_url(ctx))
        if here == "report":
            return "{{ '" + self.path(ctx, kind, name) + "' | relative_url }}"
        return super().link(ctx, here, kind, name)

    def image_url(self, ctx: ReportContext | ReportHeader, here: str, file: str) -> str:
        target = self.asset(ctx, file)
        return target if here == "report" else self._from(ctx, here, target)

    def site_path(self, ctx: ReportContext | ReportHeader, file: str) -> str:
        return self.asset(ctx, file)

    def html_src(self, url: str) -> str:
        """Through Liquid's relative_url, which adds the site's baseurl (the post's raw HTML;
        the HTML pages name nothing through it)."""
        return "{{ '" + url + "' | relative_url }}"

    def download(self, ctx: ReportContext | ReportHeader) -> str:
        """The zip of the folder, beside it."""
        return f"{ROOT}-{self.name(ctx)}.zip"

    def report_url(self, ctx: ReportContext | ReportHeader, here: str, name: str) -> None:
        return None  # the post ships its pages and images, not the report's data

    def place_images(self, ctx: ReportContext, files: Sequence[str], report_dir: Path) -> None:
        link_files(report_dir, files, report_dir / self.root, functools.partial(self.asset, ctx))


@dataclass(frozen=True)
class DistillFlavour(Flavour):
    """The distill flavour: its options name the post's date and authors."""

    def add_arguments(self, group: argparse._ArgumentGroup, *, defaults: bool) -> None:
        group.add_argument(
            "--post-date",
            dest="distill_post_date",
            metavar="YYYY-MM-DD",
            help="distill: the post's date, which names its files (the ICLR Blogposts track's "
            "conference day, e.g. 2026-04-27) (default: the report's date)",
        )
        group.add_argument(
            "--authors",
            dest="distill_authors",
            metavar="LIST",
            help="distill: 'anonymous' (for review) or 'Name, Affiliation; Name, Affiliation' "
            "(default: anonymous)",
        )

    def validated(self, options: DistillOptions) -> DistillOptions:
        if options.post_date is not None:
            try:
                if not _DATE.fullmatch(options.post_date):
                    raise ValueError("not YYYY-MM-DD")
                datetime.date.fromisoformat(options.post_date)
            except ValueError as error:
                raise ReportgenError(
                    f"--post-date {options.post_date!r}: {error}; e.g. 2026-04-27"
                ) from None
        parse_authors(options.authors)
        return options

    def layout_for(self, options: DistillOptions) -> DistillLayout:
        return replace(self.layout, post_date=options.post_date)

    def variables(self, options: DistillOptions) -> dict[str, Any]:
        return {
            "jekyll_include": "figure.liquid",
            "citations": {paper.url: paper.key for paper in bibliography.PAPERS},
            "heading_id": heading_id,
            "explorer_page": explorer_page,
            "featured_explorer": featured_explorer,
            "model_paper": bibliography.model_paper,
            "front_matter": functools.partial(front_matter, options),
        }

    def write_extras(
        self, ctx: ReportContext, report_dir: Path, options: DistillOptions, templates: Templates
    ) -> None:
        """The bibliography of the papers the post cites, then the zip of the folder."""
        from reportgen import store

        layout = self.layout_for(options)
        post = (report_dir / layout.page_path(ctx)).read_text(encoding="utf-8")
        bib = bibliography.bibtex(key for key in _CITE.findall(post) if key in bibliography.BY_KEY)
        store.atomic_write(
            report_dir / layout.root / f"assets/bibliography/{layout.name(ctx)}.bib", bib
        )
        _write_folder_zip(report_dir / ROOT, report_dir / layout.download(ctx))


def _write_folder_zip(folder: Path, path: Path) -> None:
    """Write the files below ``folder`` to the zip ``path``, by sorted POSIX paths relative to
    it, with fixed dates and modes: the same files give the same bytes. Streamed, atomically."""
    import shutil
    import zipfile

    from reportgen import store

    names = sorted(file.relative_to(folder).as_posix() for file in folder.rglob("*"))
    with store.atomic_path(path) as temp, zipfile.ZipFile(temp, "w") as archive:
        for name in names:
            if (folder / name).is_file():
                member = store.zip_member(name)
                with (folder / name).open("rb") as source, archive.open(member, "w") as out:
                    shutil.copyfileobj(source, out)


def featured_explorer(figure: Figure) -> ExplorerFiles:
    """The explorer of a figure shown without one (a level's featured figure, in a report with
    galleries): its image's, whose id names the figure's file (``figures/<id>.<ext>``)."""
    from reportgen.publish import explorer  # with numpy: not for the command line's help

    return explorer.files(posixpath.splitext(posixpath.basename(figure.file))[0])


def explorer_page(data_path: str) -> str:
    """An image's explorer page: its data script's path, ending .html instead of .js."""
    return data_path.removesuffix(".js") + ".html"


FLAVOUR = DistillFlavour(
    name="distill",
    description="ICLR Blogposts distill post",
    template="post.distill.md.j2",
    page_template="page.html.j2",
    markup=(
        "_markup.md.j2",
        "_markup.rawhtml.md.j2",
        "_markup.jekyll.md.j2",
        "_markup.distill.md.j2",
    ),
    escaping=MARKDOWN_ESCAPING,
    layout=DistillLayout("_posts/{date}-{slug}.md", ".html"),
    options_class=DistillOptions,
    page_escaping=HTML_ESCAPING,
    page_markup=("_markup.html.j2",),
)
