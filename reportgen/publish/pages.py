"""Report pages: a report's pages rendered in each flavour, the site index, and the scripts and
stylesheet the pages load.

A report has a front page and, when it is large, gallery pages (a level's thumbnails, a page at a
time) and a page per image (:mod:`reportgen.publish.gallery` plans them). Each flavour
(:mod:`reportgen.publish.flavours`) renders them with its templates, escaping policy and layout.
Templates see ``report`` (the :class:`~reportgen.publish.page_model.ReportContext` on the front
page, a ``ReportHeader`` on the others), ``page`` (the ``GalleryPage`` or ``ImagePage``) and
``page_title`` on the others, ``permalink`` (the URL the page declares for itself, or None),
``m`` (the flavour's dialect macros), ``asset_url(file)`` (how the page names a report image),
``html_src(url)`` (how raw HTML names such an image), ``page_url(kind, name)`` (a link to
another page of the report: ``("report", "")``,
``("gallery", name)``, ``("image", id)``), ``report_url(name)`` (link to a report file such as
manifest.json, None where the page is published without them), ``version_url(entry)`` (link to
another version's page, or None), ``current_url`` (on an earlier version, link to the current
one's page, or None), ``name_index`` (the galleries' filter by name, else None),
``html_page(kind, name)`` (the page, relative to the report, of the flavour that hosts the
explorer, None when it is not written: the gfm image pages link its explorer),
``sprite_panels`` and ``overlay_script`` (the report-wide control's panels and script), the
flavour's own variables (jekyll's ``jekyll_include``), the ``text`` filter and
``caption(figure)``. A user folder of templates overrides any file by name.

Every string that comes from the user goes through the environment's ``text`` filter
(:mod:`reportgen.publish.escaping`). The names in the html filter's index are JSON in script
files, with ``<``, ``>`` and ``&`` escaped too.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from reportgen import digests, store
from reportgen.errors import ReportgenError
from reportgen.publish import figures, flavours
from reportgen.publish.escaping import HTML_ESCAPING, one_line, script_json
from reportgen.publish.flavours.base import Flavour, Layout
from reportgen.publish.page_model import (
    ComparisonEntry,
    GalleryPage,
    ImagePage,
    IndexEntry,
    NameIndex,
    ReportContext,
    VersionEntry,
    gallery_page_name,
    gallery_title,
)
from reportgen.publish.templates import Templates
from reportgen.workers import Pool, in_chunks

_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
OVERLAY_SCRIPT = "explorer/slider.js"  # the report-wide control of the front and gallery pages
TABLE_SORT_SCRIPT = "explorer/table-sort.js"  # the html front page's per-class table's sorting
# The explorer's and the report-wide control's CSS rules: html pages inline them (_page.html.j2
# includes the template), jekyll pages link this copy, as the theme's own CSS does not have them.
EXPLORER_STYLE = "explorer/explorer.css"
EXPLORER_STYLE_TEMPLATE = "_explorer.css"  # plain CSS: no Jinja or Liquid syntax
# Every rule of the html pages (_style.css and _explorer.css), one file the gallery, image and
# explorer pages link rather than each inlining 5 kB; the front page inlines them (it works alone).
PAGE_STYLE = "explorer/page.css"
PAGE_STYLE_TEMPLATES = ("_style.css", EXPLORER_STYLE_TEMPLATE)
NAME_INDEX_CHUNK = 2000  # names per script of the filter's index: about 100 KB
# From this many images a re-render renders its pages in worker processes even with nothing to
# draw: 2,020 images' render --title took 7.0 s, not 8.1 s, on 2 cores (docs/performance.md).
POOLED_IMAGES = 1000
# Where the report's title goes in a cached gallery or image page (letters and digits: every
# escaping keeps them as they are), so that a new title changes no cached page (title_fill).
TITLE_SLOT = b"ReportgenTitleSlot9c4e2b"


def write_overlay_script(report_dir: Path, templates: Templates) -> None:
    """The script of the report-wide control (front and gallery pages of html and jekyll)."""
    source = templates.file(posixpath.basename(OVERLAY_SCRIPT))
    store.atomic_write(Path(report_dir) / OVERLAY_SCRIPT, source.read_bytes())


def write_explorer_style(report_dir: Path, templates: Templates) -> None:
    """The stylesheet of the explorer and the report-wide control, for the jekyll pages, and
    that of the html gallery, image and explorer pages (:data:`PAGE_STYLE`)."""
    source = templates.file(EXPLORER_STYLE_TEMPLATE)
    store.atomic_write(Path(report_dir) / EXPLORER_STYLE, source.read_bytes())
    rules = [templates.file(name).read_bytes() for name in PAGE_STYLE_TEMPLATES]
    store.atomic_write(Path(report_dir) / PAGE_STYLE, b"".join(rules))


def _write_name_index(
    images: Sequence[ImagePage], folder: Path, templates: Templates, thumb_extension: str
) -> NameIndex:
    """The html galleries' filter: its script and every image's (name, page, level), sorted by
    name, in scripts of :data:`NAME_INDEX_CHUNK` that the filter loads only when it is used.
    When the images have labels, each entry ends with its label (null for none) and
    ``classes.js`` lists the labels, for the filter by class."""
    labelled = any(page.figure.label is not None for page in images)
    entries = sorted(
        (
            [one_line(page.figure.name), page.id, page.level.number]
            + ([page.figure.label] if labelled else [])
            for page in images
        ),
        key=lambda entry: (entry[0].casefold(), entry[0]),
    )
    chunks = [
        entries[start : start + NAME_INDEX_CHUNK]
        for start in range(0, len(entries), NAME_INDEX_CHUNK)
    ]
    for number, chunk in enumerate(chunks, start=1):
        script = f"reportgenNames({script_json(chunk)});\n"
        store.atomic_write(folder / f"names-{number}.js", script)
    store.atomic_write(folder / "filter.js", templates.file("filter.js").read_bytes())
    if labelled:
        labels = sorted({page.figure.label for page in images} - {None})
        store.atomic_write(folder / "classes.js", f"reportgenClasses({script_json(labels)});\n")
    return NameIndex(len(chunks), thumb_extension, labelled)


def _digest(page: Any) -> str:
    """sha256 of a page's content, for the keys of cached pages: the repr of its frozen
    dataclasses (fields in a fixed order, floats exact), much quicker than JSON."""
    return hashlib.sha256(repr(page).encode()).hexdigest()


class _FlavourPages:
    """Renders the pages of one flavour: the variables each kind of page shares, its dialect
    macros made once, and rendered pages kept in the cache by content."""

    def __init__(
        self,
        flavour: Flavour,
        options: Any,
        templates: Templates,
        ctx: ReportContext,
        report_dir: Path,
        settings: dict[str, Any],
        cache: store.ContentCache | None,
    ):
        self.flavour, self.options, self.templates = flavour, options, templates
        self.layout = flavour.layout_for(options)
        self.ctx, self.report_dir, self.settings, self.cache = ctx, report_dir, settings, cache
        # With the packaged templates, gallery and image pages are cached with TITLE_SLOT for
        # the title (a user's templates might use it in ways title_fill cannot follow).
        self.slotted = cache is not None and templates.user_dir is None
        self.header = ctx.header()  # what the other pages say of the report (made once)
        self._header = replace(self.header, title=TITLE_SLOT.decode()) if self.slotted else None
        self._header_digest = _digest(self._header or self.header)
        self._shared: dict[tuple[str, bool], dict[str, Any]] = {}
        self._fills: dict[str, bytes | None] = {}  # title_fill's answer for each kind of page

    def __getstate__(self) -> dict[str, Any]:
        """Picklable (workers render image pages): the shared variables are made again there."""
        return {**self.__dict__, "_shared": {}}

    def _variables(self, kind: str, slotted: bool = False) -> dict[str, Any]:
        """What every page of ``kind`` sees, ``m`` included (``slotted``: TITLE_SLOT for the
        report's title)."""
        if (kind, slotted) not in self._shared:
            layout, ctx = self.layout, self.ctx
            header = self._header if slotted else self.header
            variables = {
                "report": ctx if kind == "report" else header,
                "kind": kind,
                "asset_url": lambda file: layout.image_url(ctx, kind, file),
                "html_src": layout.html_src,
                "page_url": lambda to, name: layout.link(ctx, kind, to, name),
                "report_url": lambda name: layout.report_url(ctx, kind, name),
                "version_url": lambda version: self._version_url(version, kind),
                "current_url": ctx.current_folder
                and layout.report_url(ctx, kind, posixpath.join(ctx.current_folder, layout.page)),
                "gallery_page": gallery_page_name,
                "name_index": self.settings["name_index"] if kind == "gallery" else None,
                "html_page": self._explorer_page,
                "sprite_panels": figures.sprite_labels(
                    ctx.model.layers, ctx.token_views, ctx.params.get("norm_layer")
                ),
                "overlay_script": OVERLAY_SCRIPT,
                "table_sort_script": TABLE_SORT_SCRIPT,
                "explorer_style": EXPLORER_STYLE,
                "page_style": PAGE_STYLE,
                **self.flavour.variables(self.options),
            }
            variables["m"] = self.templates.macros(
                self.flavour.escaping_for(kind), self.flavour.markup_for(kind), variables
            )
            self._shared[kind, slotted] = variables
        return self._shared[kind, slotted]

    def _explorer_page(self, kind: str, name: str) -> str | None:
        """The page of (kind, name) of the flavour that hosts the explorer, relative to the
        report; None when no such flavour is written (the gfm pages link its explorer)."""
        host: Layout | None = self.settings["explorer_host"]
        return host.page_path(self.ctx, kind, name) if host else None

    def _version_url(self, version: VersionEntry, kind: str) -> str | None:
        """Link to another version's page; None where the page is published without the
        report folder (jekyll) or the version has no standalone page."""
        page = flavours.standalone_page(version.formats, self.flavour.name)
        if page is None:
            return None
        return self.layout.report_url(self.ctx, kind, posixpath.join(version.folder, page))

    def render(self, kind: str, name: str, page: Any, title: str, digest: str = "") -> Path:
        """Write one page (from the cache when the same page was rendered before)."""
        path = self.report_dir / self.layout.page_path(self.ctx, kind, name)
        permalink = self.layout.permalink(self.header, kind, name)
        key = None
        if self.cache is not None:
            # Everything the page is made of: itself, what it says of its report, the settings
            # it uses (the filter's index only on gallery pages), the templates.
            settings = {
                name: str(value)
                for name, value in self.settings.items()
                if name != "name_index" or kind == "gallery"
            }
            key = store.content_key(
                {
                    "flavour": self.flavour.name,
                    "options": repr(self.options),
                    "kind": kind,
                    "page": digest or _digest(page),
                    "report": "" if kind == "report" else self._header_digest,
                    "title": title,
                    "permalink": permalink,
                    **settings,
                }
            )
        template = self.flavour.template if kind == "report" else self.flavour.page_template
        variables = {"page": page, "page_title": title, "permalink": permalink}

        def make(slotted: bool = False) -> bytes:
            shared = self._variables(kind, slotted)
            return self.templates.render(
                self.flavour.escaping_for(kind), template, {**shared, **variables}
            )

        if kind == "report" or not self.slotted:
            made = store.produce(self.cache, "pages", key, path.suffix, path, make)
            if made is not None:
                digests.wrote(path, made)
            return path
        # The page with its title, as published before (then linked), else with the title
        # filled in the cached page that has a slot for it.
        titled = store.content_key({"page": key, "report_title": self.ctx.title})
        if self.cache.place("pages", titled, path.suffix, path):
            return path
        with_slot = store.cached_or_made(
            self.cache, "pages", key, path.suffix, lambda: make(slotted=True)
        )
        if kind not in self._fills:  # the first page of its kind here: rendered both ways
            self._fills[kind] = title_fill(with_slot, make())
        fill = self._fills[kind]
        page = with_slot.replace(TITLE_SLOT, fill) if fill is not None else make()
        store.keep(self.cache, "pages", titled, path.suffix, path, page)
        digests.wrote(path, page)
        return path

    def render_firsts(
        self, pages: Sequence[tuple[str, str, Any, str, str]]
    ) -> list[tuple[str, str, Any, str, str]]:
        """Write the first page of each kind here (so the workers that render the others know
        its title_fill); returns the others."""
        firsts = {}
        for index, (kind, *_) in enumerate(pages):
            firsts.setdefault(kind, index)
        for index in firsts.values():
            self.render(*pages[index])
        done = set(firsts.values())
        return [page for index, page in enumerate(pages) if index not in done]

    def render_pages(self, pages: Sequence[tuple[str, str, Any, str, str]]) -> int:
        """Write pages given as :meth:`render`'s arguments (a chunk of them, in a worker);
        returns how many."""
        for kind, name, page, title, digest in pages:
            self.render(kind, name, page, title, digest)
        return len(pages)


def title_fill(with_slot: bytes, page: bytes) -> bytes | None:
    """What stands for TITLE_SLOT in ``page``, the same page rendered with the title itself
    (the title as the page's escaping writes it), when every slot stands for the same bytes;
    else None (then pages of this kind are rendered with their title)."""
    parts = with_slot.split(TITLE_SLOT)
    slots = len(parts) - 1
    if not slots:
        return b"" if with_slot == page else None
    longer = len(page) - (len(with_slot) - slots * len(TITLE_SLOT))
    if longer < 0 or longer % slots:
        return None
    fill = page[len(parts[0]) : len(parts[0]) + longer // slots]
    return fill if fill.join(parts) == page else None


def _render_pages(renderer: _FlavourPages, pages: Sequence[tuple[str, str, Any, str, str]]) -> int:
    """:meth:`_FlavourPages.render_pages`, as a worker's task."""
    return renderer.render_pages(pages)


def render_report(
    ctx: ReportContext,
    report_dir: Path,
    formats: Sequence[str],
    *,
    galleries: Sequence[GalleryPage] = (),
    images: Sequence[ImagePage] = (),
    templates: Templates | None = None,
    options: Mapping[str, Any] | None = None,
    cache: store.ContentCache | None = None,
    pool: Pool | None = None,
) -> list[Path]:
    """Write the pages of each format into ``report_dir``; returns the front pages, in format
    order.

    ``report_dir`` already holds the figures, thumbnails and charts the pages name; flavours
    whose layout needs them elsewhere (jekyll) link or copy them. ``galleries`` and ``images``
    are the gallery and image pages of a large report (none for a single-page one).
    ``options`` holds the flavours' own options by flavour name (the defaults where missing).
    ``cache`` keeps rendered pages by content, so a rebuild renders only the pages that changed.
    The gallery and image pages of every flavour are rendered in ``pool`` (by default here),
    :data:`PAGES_PER_TASK` a task, while this process places the next flavour's images and
    writes its first pages; each flavour's extras are written once all pages are.
    """
    chosen = [flavours.get(name) for name in dict.fromkeys(flavours.check_names(formats))]
    if not _SLUG.fullmatch(ctx.slug):
        raise ReportgenError(
            f"report slug must be lower-case letters, digits and '-': {ctx.slug!r}"
        )
    templates = templates or Templates()
    options = flavours.options(stored=options)
    report_dir = Path(report_dir)
    page_digests = [_digest(page) for page in images] if cache is not None else [""] * len(images)
    pages = [("gallery", page.name, page, gallery_title(page), "") for page in galleries]
    pages += [
        ("image", page.id, page, page.figure.name, digest)
        for page, digest in zip(images, page_digests, strict=True)
    ]
    host = next((flavour for flavour in chosen if flavour.hosts_explorer), None)
    written = []

    def flavours_pages() -> Iterator[tuple[_FlavourPages, list]]:
        """Each flavour's images placed, front page and first page of each kind written here,
        then its other pages for the pool."""
        for flavour in chosen:
            layout = flavour.layout_for(options.get(flavour.name))
            files = shown_files(ctx, galleries, images, flavour.scripts, flavour.explorer_pages)
            layout.place_images(ctx, files, report_dir)
            name_index = None
            if flavour.name_filter and ctx.classes:  # pages that run scripts sort its table
                script = templates.file(posixpath.basename(TABLE_SORT_SCRIPT)).read_bytes()
                store.atomic_write(report_dir / TABLE_SORT_SCRIPT, script)
            if flavour.name_filter and galleries:
                folder = report_dir / posixpath.dirname(layout.page_path(ctx, "gallery", "x"))
                extension = posixpath.splitext(galleries[0].thumbs[0].file)[1]
                name_index = _write_name_index(images, folder, templates, extension)
            settings = {
                "name_index": name_index,
                "templates": templates.fingerprint if cache is not None else "",
                "explorer_host": host and host.layout_for(options.get(host.name)),
            }
            renderer = _FlavourPages(
                flavour, options.get(flavour.name), templates, ctx, report_dir, settings, cache
            )
            written.append(renderer.render("report", "", ctx, ctx.title))
            yield renderer, renderer.render_firsts(pages)

    others = len(pages) - len({kind for kind, *_ in pages})  # all but the first of each kind
    in_chunks(pool, _render_pages, flavours_pages(), "pages", total=len(chosen) * others)
    for flavour in chosen:
        flavour.write_extras(ctx, report_dir, options.get(flavour.name), templates)
    return written


def shown_files(
    ctx: ReportContext,
    galleries: Sequence[GalleryPage] = (),
    images: Sequence[ImagePage] = (),
    scripts: bool = True,
    explorer_pages: bool = False,
) -> list[str]:
    """Every report file the pages show or load, relative to the report folder (a flavour that
    publishes its pages elsewhere, jekyll, places them): images, then (with ``scripts``) the
    sprites, scripts and stylesheet of the explorer and the report-wide control, and each
    explorer's own page (which a post frames: distill, ``reportgen embed``); without scripts
    but with ``explorer_pages``, the images and each explorer's page with its scripts (pages
    that link it: mkdocs). Without ``galleries`` and ``images``: those of the front page."""
    thumbs = [thumb for page in galleries for thumb in page.thumbs]
    pictures = [
        *ctx.image_files(),
        *(thumb.file for thumb in thumbs),
        *(page.figure.file for page in images),
    ]
    front = [figure for level in ctx.levels for figure in level.figures]
    explorers = [
        file
        for files in (item.explorer for item in (*front, *images) if item.explorer)
        for file in (files.data, files.script, files.colormaps, files.page, files.style)
    ]
    if not scripts:
        return [*pictures, *(explorers if explorer_pages else [])]
    sprites = [item.sprite for item in (*front, *thumbs) if item.sprite]
    return [
        *pictures,
        *sprites,
        *([OVERLAY_SCRIPT] if sprites else []),
        *explorers,
        *([EXPLORER_STYLE] if sprites or explorers else []),
    ]


def render_index(
    entries: Sequence[IndexEntry],
    out_path: Path,
    templates: Templates | None = None,
    comparisons: Sequence[ComparisonEntry] = (),
) -> None:
    """Write the archive site's ``index.html`` listing ``entries`` (reports) and
    ``comparisons`` in the given order."""
    variables = {"entries": entries, "comparisons": comparisons}
    page = (templates or Templates()).render(HTML_ESCAPING, "index.html.j2", variables)
    store.atomic_write(Path(out_path), page)


def compile_templates(templates: Templates) -> None:
    """Compile the templates of every flavour and of the site index ahead of rendering."""
    escapings = [
        flavour.escaping_for(kind)
        for flavour in flavours.registry().values()
        for kind in ("report", "image")
    ]
    templates.compile([*escapings, HTML_ESCAPING])
