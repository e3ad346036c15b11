"""The gfm flavour: GitHub-flavoured Markdown that GitHub renders when the folder is browsed.

Its pages stand in the report folder (``README.md``, ``gallery/``, ``images/``) and link the
html flavour's explorer where that flavour is written too.
"""

from __future__ import annotations

from reportgen.publish.escaping import MARKDOWN_ESCAPING
from reportgen.publish.flavours.base import Flavour, Layout

FLAVOUR = Flavour(
    name="gfm",
    description="GitHub Markdown",
    template="report.gfm.md.j2",
    page_template="page.gfm.md.j2",
    markup=("_markup.md.j2", "_markup.gfm.md.j2"),
    escaping=MARKDOWN_ESCAPING,
    layout=Layout("README.md", ".md"),
)
