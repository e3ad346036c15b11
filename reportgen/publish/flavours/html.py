"""The html flavour: a standalone page per report, gallery and image, with no network needed.

Its pages are complete web pages (the site index links them first) that inline their CSS, run
the galleries' filter by name, and host the explorer on the image pages.
"""

from __future__ import annotations

from reportgen.publish.escaping import HTML_ESCAPING
from reportgen.publish.flavours.base import Flavour, Layout

FLAVOUR = Flavour(
    name="html",
    description="standalone page",
    template="report.html.j2",
    page_template="page.html.j2",
    markup=("_markup.html.j2",),
    escaping=HTML_ESCAPING,
    layout=Layout("index.html", ".html"),
    name_filter=True,
    web_page=True,
    hosts_explorer=True,
)
