"""Report pages in every flavour: their structure (a section per spread level, the other
images folded, every figure once in its level), the files they reference, the standalone html
page, the index page, user templates overriding packaged ones, and deterministic output.

The report context is made by hand (rendered_pages.py).
"""

from __future__ import annotations

import dataclasses
import html
import posixpath
import re
from pathlib import Path

import pytest
from rendered_pages import (
    ASSET_PREFIX,
    FLAVOURS,
    HOSTILE_TITLE,
    LEVEL_HEADING,
    LIQUID_FLAVOURS,
    PageScan,
    body,
    make_context,
    page_images,
    render,
)

from reportgen.errors import ReportgenError
from reportgen.publish import flavours, page_model, pages
from reportgen.publish.templates import Templates

# The folded other images of a level, in each flavour's syntax.
OTHERS_FOLD = {"mkdocs": r'\?\?\? note "Other images', "hugo": r"<details><summary>"}


def page_root(report_dir: Path, flavour: str) -> Path:
    """The folder the report page names its images from (jekyll, distill: the site's root)."""
    layout = flavours.get(flavour).layout
    if flavour in LIQUID_FLAVOURS:
        return report_dir / layout.root
    return report_dir / posixpath.dirname(layout.page_path(make_context(report_dir)))


# --- tests ---------------------------------------------------------------------------------


def test_level_colours_are_the_articles_for_four_levels():
    assert page_model.level_colours(4) == ["#FFFEE2", "#FFFDCB", "#FFFBA0", "#FFDEDE"]


def test_level_colours_interpolate_along_the_article_sequence():
    assert page_model.level_colours(1) == ["#FFFEE2"]
    assert page_model.level_colours(2) == ["#FFFEE2", "#FFDEDE"]
    assert page_model.level_colours(7)[::2] == page_model.level_colours(4)  # anchors hit exactly
    six = page_model.level_colours(6)
    assert len(six) == 6 and (six[0], six[-1]) == ("#FFFEE2", "#FFDEDE")
    assert all(re.fullmatch(r"#[0-9A-F]{6}", colour) for colour in six)
    # position 0.6 between #FFFEE2 and #FFFDCB: blue 0xE2 + 0.6 * (0xCB - 0xE2) = 212.2 -> D4
    assert six[1] == "#FFFDD4"
    with pytest.raises(ValueError):
        page_model.level_colours(0)


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_every_figure_appears_once_in_its_level(tmp_path, flavour):
    ctx, _, texts = render(tmp_path)
    images = page_images(flavour, texts[flavour])
    expected = [(level.number, figure.file) for level in ctx.levels for figure in level.figures]
    expected += [(None, chart.file) for chart in ctx.charts]
    assert [(level, path) for level, path, _, _ in images] == expected


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_one_section_per_level_with_collapsible_others(tmp_path, flavour):
    ctx, _, texts = render(tmp_path)
    text = body(flavour, texts[flavour])
    with_others = [level.number for level in ctx.levels if level.others]
    assert 3 not in with_others
    if flavour == "html":
        scan = PageScan(text)
        assert scan.n_levels == len(ctx.levels)
        assert scan.details == with_others
    else:
        assert [int(n) for n in LEVEL_HEADING.findall(text)] == [1, 2, 3, 4]
        details = re.findall(OTHERS_FOLD.get(flavour, "<details"), text)
        folded_levels = len(ctx.levels) if flavour == "distill" else 0  # levels collapse too
        assert len(details) == len(with_others) + folded_levels
    for level in ctx.levels:
        if level.others:
            assert f"Other images: level {level.number} ({len(level.others)})" in text
    assert flavour == "mkdocs" or "(click to expand)" in text


def test_jekyll_levels_are_coloured_kramdown_blocks(tmp_path):
    ctx, _, texts = render(tmp_path)
    text = texts["jekyll"]
    colours = re.findall(r'<div style="background-color:(#[0-9A-F]{6});[^"]*" markdown="1">', text)
    assert colours == [level.colour for level in ctx.levels]
    assert text.count('<details markdown="1"><summary markdown="span">') == 3


def test_gfm_levels_are_marked_by_emoji_not_colour(tmp_path):
    _, _, texts = render(tmp_path)
    markers = re.findall(r"^### (\S+) Spread level", texts["gfm"], re.MULTILINE)
    assert markers == ["🟡", "🟠", "🟠", "🔴"]
    assert "style=" not in texts["gfm"]


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_referenced_files_exist(tmp_path, flavour):
    _, report_dir, texts = render(tmp_path)
    root = page_root(report_dir, flavour)
    prefix = ASSET_PREFIX.get(flavour, "")
    paths = [prefix + path for _, path, _, _ in page_images(flavour, texts[flavour])]
    assert paths
    for path in paths:
        assert (root / path).is_file(), path


def test_html_page_is_standalone(tmp_path):
    ctx, _, texts = render(tmp_path)
    text = texts["html"]
    assert "<style>" in text and "max-width: 100%" in text
    # no external loads; the only <link> is the empty inline icon (no /favicon.ico request)
    assert not re.search(r"""src=["']?(https?:)?//|url\(""", text)
    assert re.findall(r"<link[^>]*>", text) == ['<link rel="icon" href="data:,">']
    assert "<script" not in text
    scan = PageScan(text)
    for _, attributes in scan.images:
        assert attributes["loading"] == "lazy"
        assert attributes["width"] and attributes["height"]
    assert 'href="manifest.json"' in text and 'href="data/"' in text


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_user_templates_override_packaged_ones_by_name(tmp_path, flavour):
    user = tmp_path / "user-templates"
    user.mkdir()
    (user / "_intro.j2").write_text(
        "{% call m.paragraph() %}Custom introduction for {{ report.n_images }} images."
        "{% endcall %}\n"
    )
    _, _, texts = render(tmp_path, templates_dir=user)
    assert "Custom introduction for 12 images." in texts[flavour]
    assert "What this report shows" not in texts[flavour]
    assert "Vision Transformer architecture" in texts[flavour]


def test_template_errors_are_reported_as_messages(tmp_path):
    user = tmp_path / "user-templates"
    user.mkdir()
    (user / "_intro.j2").write_text("{{ no_such_variable }}\n")
    with pytest.raises(ReportgenError, match="no_such_variable"):
        render(tmp_path, templates_dir=user)
    (user / "_intro.j2").write_text("{% if %}\n")
    with pytest.raises(ReportgenError, match=r"_intro\.j2:1"):
        render(tmp_path, templates_dir=user)


def test_bad_format_slug_or_figure_path_is_refused(tmp_path):
    ctx = make_context(tmp_path)
    with pytest.raises(ReportgenError, match="unknown format"):
        pages.render_report(ctx, tmp_path, ["pdf"])
    with pytest.raises(ReportgenError, match="slug"):
        pages.render_report(dataclasses.replace(ctx, slug="../x"), tmp_path, ["gfm"])
    level = ctx.levels[0]
    bad_figure = page_model.Figure("x.png", "../outside.png", 1, 1, 0.0, 1)
    bad_level = page_model.Level(1, level.colour, 0.0, 0.0, (bad_figure,))
    with pytest.raises(ReportgenError, match="slug path"):
        pages.render_report(dataclasses.replace(ctx, levels=(bad_level,)), tmp_path, ["html"])


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_single_level_without_charts(tmp_path, flavour):
    report_dir = tmp_path / "report"
    one = make_context(report_dir, names=("only.png",), level_sizes=(1,))
    ctx = dataclasses.replace(one, charts=())
    (page,) = pages.render_report(ctx, report_dir, [flavour])
    text = page.read_text()
    assert "Spread level 1" in text and "(most focused)" not in text
    assert "Spread level 2" not in text and "a single spread level" in text
    assert "Other images" not in text and "Spread across the images" not in text
    assert [path for _, path, _, _ in page_images(flavour, body(flavour, text))] == [
        ctx.levels[0].featured.file
    ]


def test_output_is_deterministic(tmp_path):
    outputs = []
    for run in ("a", "b"):
        ctx, report_dir, _ = render(tmp_path / run)
        outputs.append(
            {
                path.relative_to(report_dir).as_posix(): path.read_bytes()
                for path in sorted(report_dir.rglob("*"))
                if path.is_file()
            }
        )
    assert outputs[0] == outputs[1]
    for name, data in outputs[0].items():
        if name.endswith((".md", ".html")):
            assert data.endswith(b"\n") and not data.endswith(b"\n\n"), name


def test_render_index(tmp_path):
    entries = [
        page_model.IndexEntry(
            HOSTILE_TITLE,
            "2024-05-24",
            "org/<m>",
            12,
            "reports/a/index.html",
            "reports/a/thumbnail.webp",
            version=3,
            n_versions=2,
        ),
        page_model.IndexEntry("Second", "2024-05-01", "vit", 1, "reports/b/README.md", None),
    ]
    out = tmp_path / "index.html"
    pages.render_index(entries, out)
    text = out.read_text()
    scan = PageScan(text)
    assert scan.scripts == 0 and scan.event_handlers == 0
    assert [attrs["src"] for _, attrs in scan.images] == ["reports/a/thumbnail.webp"]
    assert 'href="reports/a/index.html"' in text and 'href="reports/b/README.md"' in text
    assert HOSTILE_TITLE in html.unescape(text) and "<b>dogs" not in text
    assert "12 images · version 3 (2 versions kept)<" in text and "1 image · version 1<" in text
    pages.render_index([], out)
    assert "No reports yet" in out.read_text()


def test_compiled_template_cache_keeps_escaping_policies_apart(tmp_path):
    """The HTML and Markdown environments compile the same partials differently: a shared
    bytecode cache must never hand one's code to the other."""
    _, report_dir, expected = render(tmp_path)
    ctx = make_context(report_dir)
    bytecode = tmp_path / "bytecode"
    for _ in range(2):  # the second run reads every template from the bytecode cache
        templates = Templates(bytecode_dir=bytecode)
        written = pages.render_report(ctx, report_dir, FLAVOURS, templates=templates)
        texts = {name: path.read_text() for name, path in zip(FLAVOURS, written, strict=True)}
        assert texts == expected
    assert any(bytecode.rglob("*.cache"))


def test_the_title_fill_is_what_stands_for_every_slot_or_none():
    slot = pages.TITLE_SLOT
    assert (
        pages.title_fill(
            b"<title>" + slot + b"</title><a>" + slot, b"<title>T&amp;</title><a>T&amp;"
        )
        == b"T&amp;"
    )
    assert pages.title_fill(b"a" + slot + b"b" + slot, b"aXbY") is None  # not the same bytes
    assert pages.title_fill(b"a" + slot + b"b" + slot, b"aTTbT") is None
    assert pages.title_fill(b"no title", b"no title") == b""
    assert pages.title_fill(b"no title", b"another page") is None
