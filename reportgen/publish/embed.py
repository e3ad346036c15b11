"""One figure or one explorer of a published report, as a snippet for a post of the user's.

The snippet is written in a flavour's own dialect (``templates/embed.j2``): the figure through
the dialect's figure (al-folio's include, an HTML ``<figure>``, a Markdown image), the explorer
as an ``<iframe>`` of the image's explorer page that every report ships beside its data
(``explorer/<id>.html``; a link where pages cannot frame one, gfm). A flavour that publishes
into a site of its own (jekyll, distill) names files as its pages do, from that site's root
(:meth:`~reportgen.publish.flavours.base.Layout.site_path`); the others (html, gfm) are served
with the report folder, at ``base_url`` plus the folder's path in the reportgen site
(``reports/SLUG/``). The snippet also says which files to copy where, for a site that does not
publish the report.
"""

from __future__ import annotations

import difflib
import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from reportgen.errors import ReportgenError
from reportgen.publish import assemble, explorer, flavours, page_model
from reportgen.publish.escaping import one_line
from reportgen.publish.flavours.base import Layout
from reportgen.publish.folders import REPORTS_DIR
from reportgen.publish.index import read_manifest
from reportgen.publish.options import ReportOptions
from reportgen.publish.templates import Templates
from reportgen.results import Analysis, ImageSummary

WHAT = ("figure", "explorer")
TEMPLATE = "embed.j2"
_BASE_URL = re.compile(r"[A-Za-z0-9._~:/@%+-]*")  # nothing that could leave a URL or attribute
CLOSE_MATCHES = 5


@dataclass(frozen=True)
class Snippet:
    """The text to paste, and each file it names: (the file in the report folder, where the
    site serves it: a path from its root, or the URL the snippet names it by)."""

    text: str
    files: tuple[tuple[Path, str], ...]
    site_root: bool  # the places are paths from the site's root (else URLs)

    def copy_advice(self) -> str:
        """Which files to copy where, for a site that does not publish the report."""
        if self.site_root:
            head = "If the site does not publish this report, copy into the site's folder:"
        else:
            head = "If the site does not serve this report folder, copy each file where its URL is:"
        return "\n".join([head, *(f"  {source} -> {place}" for source, place in self.files)])


def find_image(images: Sequence[ImageSummary], name: str) -> ImageSummary:
    """The image whose id, file name (as the report shows it) or, when one image has it, base
    name is ``name``; else a one-line error with the close matches."""
    for found in (
        [image for image in images if image.id == name],
        [image for image in images if image.name == name],
        [image for image in images if posixpath.basename(image.name) == name],
    ):
        if len(found) == 1:
            return found[0]
        if found:
            named = ", ".join(f"{one_line(image.name)!r} ({image.id})" for image in found)
            raise ReportgenError(
                f"{one_line(name)!r} names {len(found)} images: {named}; give its path or id"
            )
    known = [image.name for image in images] + [image.id for image in images]
    close = difflib.get_close_matches(name, known, n=CLOSE_MATCHES)
    hint = (
        "close matches: " + ", ".join(repr(one_line(match)) for match in close)
        if close
        else "give a file name or an id as the report shows them"
    )
    raise ReportgenError(f"no image {one_line(name)!r} in this report; {hint}")


def checked_base_url(base_url: str) -> str:
    """``base_url`` ending with ``/``, or a one-line error if it has characters a URL in a page
    must not carry unencoded."""
    if not _BASE_URL.fullmatch(base_url):
        raise ReportgenError(
            f"--base-url {base_url!r}: use an address such as https://example.org/site/ or "
            "/site/, with special characters %-encoded"
        )
    return base_url if base_url.endswith("/") else base_url + "/"


def folder_in_site(report_dir: Path) -> str:
    """The report folder's path from the root of the reportgen site that holds it
    (``reports/SLUG/``, ``reports/SLUG/versions/N/``); its own name when it is in none."""
    parts = Path(report_dir).resolve().parts
    if REPORTS_DIR in parts[:-1]:
        start = len(parts) - 1 - parts[::-1].index(REPORTS_DIR)
        return "/".join(parts[start:]) + "/"
    return f"{parts[-1]}/"


def snippet(
    report_dir: Path,
    name: str,
    flavour_name: str = "html",
    what: str = "figure",
    base_url: str = "/",
    templates: Templates | None = None,
) -> Snippet:
    """The snippet of image ``name`` (id or file name) of the report in ``report_dir``: its
    ``what`` (figure or explorer), for a post of ``flavour_name`` on the site that publishes the
    report's pages of that flavour (``base_url``: where that site is served, for the flavours
    served with the report folder)."""
    if what not in WHAT:
        raise ReportgenError(f"unknown --what {what!r}; choose from {', '.join(WHAT)}")
    flavour = flavours.get(flavour_name)
    base_url = checked_base_url(base_url)
    report_dir = Path(report_dir)
    options = ReportOptions.from_json(read_manifest(report_dir).report)
    if flavour.name not in options.formats:
        raise ReportgenError(
            f"{report_dir} has no {flavour.name} pages (it has {', '.join(options.formats)}): "
            f"add them with reportgen render {report_dir} --format "
            f"{','.join([*options.formats, flavour.name])}"
        )
    analysis = Analysis.load(report_dir / "data")
    image = find_image(analysis.images, name)
    figure = assemble.figure_entry(assemble.ImageSizes(report_dir), image, options.style)
    files = explorer.files(image.id, options.explorer_data == "maps")
    shown = (
        [figure.file]
        if what == "figure"
        else [files.page, files.data, files.script, files.colormaps, files.style]
    )
    stored = flavours.options(stored=options.flavour_options).get(flavour.name)
    address = page_model.ReportAddress(options.slug, options.date)
    layout = flavour.layout_for(stored)
    placed, site_root = _places(layout, address, report_dir, shown, base_url)
    missing = [source for source, _ in placed if not source.is_file()]
    if missing:
        raise ReportgenError(
            f"{missing[0]} is missing (a report published before reportgen shipped explorer "
            f"pages has none): re-render it with reportgen render {report_dir}"
        )
    variables = {
        **flavour.variables(stored),
        "html_src": layout.html_src,
        "what": what,
        "url": placed[0][1],
        "figure": figure,
        "digits": page_model.images_entropy_digits(analysis.images),
    }
    templates = templates or Templates()
    variables["m"] = templates.macros(flavour.escaping, flavour.markup, variables)
    text = templates.render(flavour.escaping, TEMPLATE, variables).decode()
    return Snippet(text, tuple(placed), site_root)


def _places(
    layout: Layout,
    address: page_model.ReportAddress,
    report_dir: Path,
    shown: Sequence[str],
    base_url: str,
) -> tuple[list[tuple[Path, str]], bool]:
    """Each report file of ``shown``, in the folder the flavour writes, and how the snippet
    names it: from the site's root for a flavour that publishes into a site of its own (True),
    else by its URL, ``base_url`` and the report folder's path in the reportgen site (False)."""
    if layout.site_path(address, shown[0]) is None:
        folder = base_url + folder_in_site(report_dir)
        return [(report_dir / file, folder + file) for file in shown], False
    paths = [layout.site_path(address, file) for file in shown]
    return [(report_dir / layout.root / path, path) for path in paths], True
