"""Hostile text in report pages of every flavour: file names, title, labels and front matter
with HTML, Liquid, Hugo and Markdown syntax come out inert and read the same once rendered, in
the rendered pages and in a real Jekyll build.

The report context is made by hand (rendered_pages.py).
"""

from __future__ import annotations

import html
import re
import shutil
import subprocess

import pytest
import yaml
from rendered_pages import (
    _PARAM,
    DATE,
    FLAVOURS,
    HOSTILE_TITLE,
    JEKYLL_INCLUDE,
    PageScan,
    body,
    include_params,
    make_context,
    page_images,
    render,
)

from reportgen.errors import ReportgenError
from reportgen.publish import escaping, page_model, pages
from reportgen.publish.flavours.jekyll import JekyllOptions

HUGO_SHORTCODES = re.compile(
    r'\{\{< (?:figure src="[^"]+" link="[^"]+" alt=' + _PARAM + r' caption="[^"]*" width="\d+"'
    r'|relref "[a-z0-9/._-]+") >\}\}'
)


def expected_caption(figure: page_model.Figure, digits: int) -> str:
    """The caption as a reader sees it once the page is rendered."""
    return escaping.one_line(page_model.figure_caption(figure, digits))


def test_jekyll_layout_and_front_matter(tmp_path):
    ctx, report_dir, texts = render(tmp_path, title="Where a ViT looks: cats")
    post = report_dir / "jekyll/_posts/2024-05-24-cats-and-dogs.md"
    assert post.is_file()
    front, _ = texts["jekyll"].removeprefix("---\n").split("\n---\n", 1)
    meta = yaml.safe_load(front)
    assert meta["layout"] == "post"
    assert meta["title"] == "Where a ViT looks: cats"
    assert meta["date"] == DATE
    assert meta["tags"] == ["vision-transformer", "x&#123;&#123; y &#125;&#125;"]
    assert meta["categories"] == ["XAI"]
    assert (
        meta["description"]
        == "Where &#123;&#37; raw &#37;&#125; a model &lt;em&gt;looks&lt;/em&gt;"
    )
    for file in ctx.image_files():
        assert (report_dir / "jekyll/assets/img/cats-and-dogs" / file).is_file()
    assert "manifest.json" in texts["jekyll"] and "](manifest.json)" not in texts["jekyll"]


def test_jekyll_front_matter_title_is_escaped_for_unescaping_layouts(tmp_path):
    _, _, texts = render(tmp_path)
    front = texts["jekyll"].removeprefix("---\n").split("\n---\n", 1)[0]
    title = yaml.safe_load(front)["title"]
    assert "<" not in title and "{{" not in title and "{%" not in title
    assert html.unescape(title) == HOSTILE_TITLE


def test_jekyll_include_name_is_configurable(tmp_path):
    report_dir = tmp_path / "report"
    ctx = make_context(report_dir)
    options = {"jekyll": JekyllOptions(include="figure.html")}
    (page,) = pages.render_report(ctx, report_dir, ["jekyll"], options=options)
    text = page.read_text()
    assert "{% include figure.html path=" in text and "figure.liquid" not in text
    with pytest.raises(ReportgenError):
        options = {"jekyll": JekyllOptions(include="x %} {{ y")}
        pages.render_report(ctx, report_dir, ["jekyll"], options=options)


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_hostile_text_is_inert_and_intact(tmp_path, flavour):
    ctx, _, texts = render(tmp_path)
    text = body(flavour, texts[flavour])
    figures = [figure for level in ctx.levels for figure in level.figures]
    images = page_images(flavour, text)[: len(figures)]
    for figure, (_, _, alt, caption) in zip(figures, images, strict=True):
        assert alt == escaping.one_line("Attention maps of " + figure.name)
        assert caption == expected_caption(figure, ctx.entropy_digits)
    if flavour == "html":
        scan = PageScan(text)
        assert scan.scripts == 0 and scan.event_handlers == 0
        assert scan.headings["h1"] == [HOSTILE_TITLE]
        assert scan.headings["title"] == [HOSTILE_TITLE]
    else:
        ours = HUGO_SHORTCODES.sub("", JEKYLL_INCLUDE.sub("", text))
        for delimiter in ("{{", "}}", "{%", "%}"):
            assert delimiter not in ours
        # Hugo's figure alt is raw text in its shortcode (Hugo escapes it): looked at apart.
        assert "<script" not in ours.lower() and "<img" not in ours.lower()
        assert "javascript:" not in ours
        for match in JEKYLL_INCLUDE.finditer(text):
            assert set(include_params(match.group(2))) == {
                "path",
                "class",
                "zoomable",
                "loading",
                "alt",
                "caption",
            }
        # table rows keep two cells: pipes in user text are not cell separators
        for row in re.findall(r"^\|.*\|$", text, re.MULTILINE):
            assert row.count("|") == 3, row


@pytest.mark.parametrize("flavour", ("jekyll", "gfm", "hugo", "mkdocs"))
def test_markdown_user_text_reads_the_same_once_decoded(tmp_path, flavour):
    ctx, _, texts = render(tmp_path)
    decoded = html.unescape(texts[flavour])
    assert escaping.one_line(ctx.skipped[0].name) in decoded
    assert ctx.skipped[0].reason in decoded
    assert ctx.model.model_id in decoded
    assert "/tmp/{{ evil }}|model" in decoded


# --- a real Jekyll build -------------------------------------------------------------------

FIGURE_INCLUDE = (  # prints caption and alt unescaped, like al-folio's figure.liquid
    '<figure><img src="{{ include.path | relative_url }}" class="{{ include.class }}" '
    'alt="{{ include.alt }}"><figcaption>{{ include.caption }}</figcaption></figure>\n'
)
POST_LAYOUT = (  # prints the title unescaped, like al-folio's post layout
    "<!DOCTYPE html><html><head><title>{{ page.title }}</title></head><body>"
    "<h1>{{ page.title }}</h1>{{ content }}</body></html>\n"
)


@pytest.mark.jekyll
def test_jekyll_build_shows_every_figure_in_its_level_with_inert_text(tmp_path):
    if shutil.which("jekyll") is None:
        pytest.fail("jekyll is not installed: apt-get install -y jekyll (or run make test)")
    ctx, report_dir, _ = render(tmp_path)
    site = tmp_path / "site"
    shutil.copytree(report_dir / "jekyll", site)
    (site / "_config.yml").write_text("title: test\n")
    (site / "_includes").mkdir()
    (site / "_includes/figure.liquid").write_text(FIGURE_INCLUDE)
    (site / "_layouts").mkdir()
    (site / "_layouts/post.html").write_text(POST_LAYOUT)
    subprocess.run(
        ["jekyll", "build", "--quiet", "--source", str(site), "--destination", str(site / "_site")],
        check=True,
        timeout=300,
        capture_output=True,
    )
    (built,) = (site / "_site").rglob("cats-and-dogs.html")
    scan = PageScan(built.read_text())
    assert scan.scripts == 0 and scan.event_handlers == 0
    assert scan.headings["h1"] == [HOSTILE_TITLE]
    assert scan.n_levels == len(ctx.levels)
    assert scan.details == [level.number for level in ctx.levels if level.others]
    figures = [(level.number, figure) for level in ctx.levels for figure in level.figures]
    shown = scan.images[: len(figures)]
    for (number, figure), (level, attributes), caption in zip(
        figures, shown, scan.captions, strict=False
    ):
        assert level == number
        assert attributes["src"] == f"/assets/img/cats-and-dogs/{figure.file}"
        assert attributes["alt"] == escaping.one_line("Attention maps of " + figure.name)
        assert caption == expected_caption(figure, ctx.entropy_digits)
    assert len(scan.images) == len(figures) + len(ctx.charts)
