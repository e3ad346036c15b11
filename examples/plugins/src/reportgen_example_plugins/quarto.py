"""The quarto flavour: the report as a Quarto document (``report.qmd``, gallery and image pages
as ``.qmd`` beside it) for a Quarto website or blog.

It writes the shared partials with reportgen's Markdown dialect and overrides three macros in
its own ``_markup.quarto.qmd.j2``: levels are coloured fenced divs, collapsible blocks are
collapsed callouts and figures carry Quarto's attributes. User text goes through reportgen's
Markdown escaping, which also leaves Quarto's shortcode braces as character references.
"""

from pathlib import Path

from reportgen.publish.escaping import MARKDOWN_ESCAPING
from reportgen.publish.flavours.base import Flavour, Layout

FLAVOUR = Flavour(
    name="quarto",
    description="Quarto document",
    template="report.quarto.qmd.j2",
    page_template="page.quarto.qmd.j2",
    markup=("_markup.md.j2", "_markup.quarto.qmd.j2"),
    escaping=MARKDOWN_ESCAPING,
    layout=Layout("report.qmd", ".qmd"),
    templates=Path(__file__).parent / "templates",
)
