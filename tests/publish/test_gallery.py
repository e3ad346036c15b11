"""Galleries of large reports: pagination, the pages of every flavour, escaping of hostile names,
and every image two clicks from the front page."""

from __future__ import annotations

import html
import json
import re
import shutil
from dataclasses import replace as replace_options
from pathlib import Path
from urllib.parse import unquote

import markupsafe
import pytest
from conftest import FIXTURE, write_images
from PIL import Image

from reportgen import api
from reportgen.analysis.execution import Execution
from reportgen.analysis.sources.folder import FolderSource
from reportgen.publish import escaping, gallery, page_model
from reportgen.publish.build import rerender
from reportgen.publish.options import GallerySettings, ReportOptions, parse_date
from reportgen.publish.templates import Templates
from reportgen.results import Analysis, AnalysisParams

HOSTILE_NAMES = [
    "<script>alert(1)</script>.png",
    "{{ site.title }}.jpg",
    "{% raw %}.png",
    "quote\"and'apostrophe.png",
    "[link](javascript:alert(1)).png",
    "pipe|and*stars*.png",
    "café 日本.png",
]


# --- pagination ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "expected"),
    [
        (0, []),  # nothing: no page
        (1, [range(0, 1)]),
        (5, [range(0, 5)]),  # exactly one page
        (6, [range(0, 5), range(5, 6)]),  # one more than a page
        (10, [range(0, 5), range(5, 10)]),
    ],
)
def test_paginate_edges(count, expected):
    assert gallery.paginate(count, 5) == expected


def test_paginate_needs_a_page_size():
    with pytest.raises(ValueError):
        gallery.paginate(3, 0)


@pytest.mark.parametrize(
    ("current", "total", "shown"),
    [
        (1, 1, [1]),
        (1, 2, [1, 2]),
        (1, 10, [1, 2, 3, None, 10]),
        (4, 10, [1, 2, 3, 4, 5, 6, None, 10]),
        (5, 10, [1, None, 3, 4, 5, 6, 7, None, 10]),
        (10, 10, [1, None, 8, 9, 10]),
    ],
)
def test_pager_shows_the_ends_and_the_neighbours(current, total, shown):
    assert page_model.pager(current, total) == shown


def _thumbs(names_and_entropies):
    return [
        page_model.Thumb(f"{index:03d}-x", name, f"thumbs/{index:03d}-x.webp", 16, 16, entropy)
        for index, (name, entropy) in enumerate(names_and_entropies)
    ]


def test_level_pages_cover_every_thumbnail_once_in_each_order():
    thumbs = _thumbs(
        [("b.png", 0.1), ("A.png", 0.2), ("c.png", 0.3), ("a.png", 0.4), ("B.png", 0.5)]
    )
    mark = page_model.LevelMark(2, "#FFFDCB")
    result = gallery.level_pages(mark, thumbs, (1, 2, 3), page_size=2)
    by_order = {order: [p for p in result if p.order == order] for order in gallery.ORDERS}
    assert [p.name for p in by_order["entropy"]] == [
        "level-2-entropy-1",
        "level-2-entropy-2",
        "level-2-entropy-3",
    ]
    for order_pages in by_order.values():
        assert [p.number for p in order_pages] == [1, 2, 3]
        assert {p.count for p in order_pages} == {3}
        assert [p.first for p in order_pages] == [1, 3, 5]
        assert [len(p.thumbs) for p in order_pages] == [2, 2, 1]
        assert all(p.level_size == 5 and p.levels == (1, 2, 3) for p in order_pages)
    entropy_order = [t.name for p in by_order["entropy"] for t in p.thumbs]
    name_order = [t.name for p in by_order["name"] for t in p.thumbs]
    assert entropy_order == ["b.png", "A.png", "c.png", "a.png", "B.png"]
    assert name_order == ["A.png", "a.png", "B.png", "b.png", "c.png"]  # case folded, then exact
    assert by_order["name"][1].sibling(1, "entropy") == "level-2-entropy-1"


# --- built reports ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def built(tiny_vit_dir, tmp_path_factory):
    """A report of 15 images (7 with hostile names) built with galleries of 3 a page."""
    tmp = tmp_path_factory.mktemp("gallery")
    folder = write_images(tmp / "images", 8)
    for index, name in enumerate(HOSTILE_NAMES):
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (40, 40), (index * 30, 90, 160)).save(
            path, "JPEG" if name.endswith(".jpg") else "PNG"
        )
    params = AnalysisParams(model=str(tiny_vit_dir))
    execution = Execution(device="cpu", cache_dir=tmp / "cache")
    report_options = ReportOptions(
        title="Gallery <b>test</b>",
        slug="big",
        date=parse_date("2024-05-24"),
        gallery=GallerySettings(gallery_threshold=14, page_size=3, typical=2),
    )
    source = FolderSource(folder, recursive=True)  # "</script>" makes a sub-folder
    report = api.build(source, tmp / "site", params, report_options, execution)
    return report, Analysis.load(report / "data")


def _html_links(path: Path) -> list[Path]:
    """The pages and files an html page links (href), resolved from its folder."""
    text = path.read_text(encoding="utf-8")
    hrefs = re.findall(r'<a href="([^"#]+)"', text)
    return [(path.parent / unquote(html.unescape(href))).resolve() for href in hrefs]


def _markdown_links(path: Path) -> list[Path]:
    """The files a gfm page links, Markdown links and HTML hrefs, resolved from its folder."""
    text = path.read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)\s]+)\)", text) + re.findall(r'<a href="([^"#]+)"', text)
    return [(path.parent / unquote(html.unescape(target))).resolve() for target in targets]


@pytest.mark.parametrize(
    ("front", "extension", "links"),
    [("index.html", ".html", _html_links), ("README.md", ".md", _markdown_links)],
)
def test_every_image_is_two_clicks_from_the_front_page(built, front, extension, links):
    report, analysis = built
    first_click = links(report / front)
    galleries = [target for target in first_click if target.parent.name == "gallery"]
    assert galleries and all(target.is_file() for target in galleries)
    second_click = {target for page in galleries for target in links(page)}
    image_pages = {report / "images" / f"{image.id}{extension}" for image in analysis.images}
    assert image_pages <= second_click
    assert all(page.is_file() for page in image_pages)
    assert len(list((report / "images").glob(f"*{extension}"))) == len(analysis.images)


def test_front_page_shows_the_typical_images_and_links_every_gallery_page(built):
    report, analysis = built
    text = (report / "index.html").read_text()
    levels = {image.level for image in analysis.images}
    figures = re.findall(r'<img src="(figures/[^"]+)"', text)
    assert len(figures) == sum(
        min(2, sum(image.level == level for image in analysis.images)) for level in levels
    )
    assert "<details" not in text  # with galleries nothing is folded
    for level in levels:
        size = sum(image.level == level for image in analysis.images)
        for number in range(1, len(gallery.paginate(size, 3)) + 1):
            assert f'href="gallery/level-{level}-entropy-{number}.html"' in text
        assert f'href="gallery/level-{level}-name-1.html"' in text


def test_gallery_pages_hold_every_image_once_per_order_with_thumbnails(built):
    report, analysis = built
    for order in gallery.ORDERS:
        shown = []
        for page in sorted((report / "gallery").glob(f"level-*-{order}-*.html")):
            text = page.read_text()
            shown += re.findall(r'<a href="\.\./images/([^"]+)\.html"><img src="\.\./thumbs/', text)
        assert sorted(shown) == sorted(image.id for image in analysis.images), order
    for thumb in (report / "thumbs").iterdir():
        with Image.open(thumb) as opened:
            assert max(opened.size) <= 160


def test_pages_of_a_level_with_exactly_one_and_one_more_than_a_page(built):
    report, analysis = built
    sizes = {}
    for image in analysis.images:
        sizes[image.level] = sizes.get(image.level, 0) + 1
    for level, size in sizes.items():
        pages_of_level = sorted((report / "gallery").glob(f"level-{level}-entropy-*.html"))
        assert len(pages_of_level) == len(gallery.paginate(size, 3))
        last = pages_of_level[-1].read_text()
        assert last.count('<img src="../thumbs/') == size - 3 * (len(pages_of_level) - 1)
        if len(pages_of_level) == 1:
            assert "Page 1 of" not in last  # no pager for a single page
        else:
            assert f"Page {len(pages_of_level)} of {len(pages_of_level)}" in last


def test_image_pages_show_figure_predictions_layers_and_raw_data(built):
    report, analysis = built
    image = analysis.images[0]
    text = (report / "images" / f"{image.id}.html").read_text()
    assert f'src="../figures/{image.id}.webp"' in text
    assert f'href="../data/maps/{image.id}.npz"' in text
    assert 'href="../data/results.parquet"' in text
    assert image.sha256 in text
    for prediction in image.predictions:
        assert f"<td>{markupsafe.escape(prediction.label)}</td>" in text
    assert "<svg" in text and f"L{len(image.layer_entropies)}" in text
    markdown = (report / "images" / f"{image.id}.md").read_text()
    assert "| Layer | Entropy |" in markdown and "<svg" not in markdown  # GitHub strips SVG


def test_an_image_page_gives_its_entropy_to_the_digits_of_its_caption_at_least(built):
    """Near-uniform levels need more than 4 decimals; "About the image" said 1.0000."""
    report, analysis = built
    digits = page_model.images_entropy_digits(analysis.images)
    assert digits > 4  # the tiny random model's entropies are all close to 1
    for image in analysis.images:
        text = " ".join((report / "images" / f"{image.id}.html").read_text().split())
        shown = f"{image.entropy:.{digits}f}"
        assert f" entropy {shown}" in re.findall(r"<figcaption>.*?</figcaption>", text)[0]
        assert f"spread entropy: {shown} (0 = one patch" in text


def test_hostile_names_are_inert_on_gallery_and_image_pages_of_every_flavour(built):
    report, analysis = built
    by_name = {image.name: image for image in analysis.images}
    html_pages = [*report.glob("gallery/*.html"), *report.glob("images/*.html")]
    markdown_pages = [
        *report.glob("gallery/*.md"),
        *report.glob("images/*.md"),
        *(report / "jekyll" / "reports").rglob("*.md"),
    ]
    assert html_pages and markdown_pages
    for page in html_pages:
        text = page.read_text()
        assert "<script>" not in text and not re.search(r"(href|src)=\"javascript", text), page
        explorer = [
            '<script src="../explorer/explorer.js">',
            '<script src="../explorer/colormaps.js">',
        ]  # the explorer's data: the maps file, which it fetches
        gallery = ['<script src="filter.js" defer>', '<script src="../explorer/slider.js" defer>']
        allowed = (gallery, explorer)
        assert re.findall(r"<script[^>]*>", text) in allowed, page
    for page in markdown_pages:
        text = page.read_text().split("---\n", 2)[-1]  # the body (yaml_quoted titles: tested)
        liquid = re.sub(
            r"\{\{ '[a-z0-9/_.-]+' \| relative_url \}\}|\{% post_url [0-9a-z-]+ %\}"
            r"|\{% include figure\.liquid [^%]*%\}",
            "",
            text,
        )
        assert "{{" not in liquid and "{%" not in liquid, page
        if "jekyll" in page.parts:  # the explorer's scripts, the report-wide control's
            script = "<script src=\"{{{{ 'assets/img/big/explorer/{}' | relative_url }}}}\"{}>"
            expected = {
                "images": [
                    script.format("explorer.js", ""),
                    script.format("colormaps.js", ""),
                ],  # and the maps file, which explorer.js fetches
                "gallery": [script.format("slider.js", " defer")],
            }
            assert re.findall(r"<script[^>]*>", text) == expected[page.parent.name], page
            if page.parent.name == "images":
                maps = f"{{{{ 'assets/img/big/data/maps/{page.stem}.npz' | relative_url }}}}"
                assert f'data-maps="{maps}"' in text, page
            text = re.sub(r"<script src=[^>]*></script>", "", text)
        assert "<script" not in text and not re.search(r"\]\(javascript|href=\"java", text), page
    for name in HOSTILE_NAMES:
        image = by_name[name]
        page = (report / "images" / f"{image.id}.html").read_text()
        assert f"<h1>{markupsafe.escape(name)}</h1>" in page
        markdown = (report / "images" / f"{image.id}.md").read_text()
        heading = markdown.splitlines()[0].removeprefix("# ")
        assert html.unescape(heading) == name
    index = (report / "gallery" / "names-1.js").read_text()
    assert "<" not in index and "{{ site.title }}.jpg" in index


def test_the_filter_index_lists_every_image_sorted_by_name(built):
    report, analysis = built
    text = (report / "gallery" / "names-1.js").read_text()
    entries = json.loads(text.removeprefix("reportgenNames(").removesuffix(");\n"))
    assert [entry[0] for entry in entries] == sorted(
        (escaping.one_line(image.name) for image in analysis.images),
        key=lambda name: (name.casefold(), name),
    )
    assert {entry[1]: entry[2] for entry in entries} == {
        image.id: image.level for image in analysis.images
    }


def test_a_report_at_the_threshold_is_one_page_and_one_more_gets_galleries(tiny_vit_dir, tmp_path):
    folder = write_images(tmp_path / "images", 4)
    params = AnalysisParams(model=str(tiny_vit_dir), levels=1)
    execution = Execution(device="cpu", cache_dir=tmp_path / "c")
    date = parse_date("2024-05-24")
    single = api.build(
        folder,
        tmp_path / "a",
        params,
        ReportOptions(slug="r", date=date, gallery=GallerySettings(gallery_threshold=4)),
        execution,
    )
    assert not (single / "gallery").exists() and not (single / "thumbs").exists()
    assert "<details" in (single / "index.html").read_text()
    paged = api.build(
        folder,
        tmp_path / "b",
        params,
        ReportOptions(slug="r", date=date, gallery=GallerySettings(gallery_threshold=3)),
        execution,
    )
    assert len(list((paged / "images").glob("*.html"))) == 4
    assert len(list((paged / "thumbs").iterdir())) == 4


def test_a_report_of_version_0_1_0_re_renders_and_can_grow_galleries(tmp_path):
    report = tmp_path / "v0-1-0"
    shutil.copytree(FIXTURE, report)
    figures_before = {p.name: p.read_bytes() for p in (report / "figures").iterdir()}
    rerender(report, cache_dir=tmp_path / "cache")
    assert {p.name: p.read_bytes() for p in (report / "figures").iterdir()} == figures_before
    analysis = Analysis.load(report / "data")
    assert len(analysis.images) == 5
    assert (report / "data" / "results.parquet").is_file()
    assert '"format": 2' in (report / "data" / "results.json").read_text()
    assert "{{ site.title }} &lt;b&gt;.png" in (report / "index.html").read_text()
    rerender(report, cache_dir=tmp_path / "cache", gallery_threshold=2, page_size=2)
    assert len(list((report / "images").glob("*.html"))) == 5
    assert len(list((report / "thumbs").iterdir())) == 5
    assert (report / "jekyll" / "reports" / "v0-1-0" / "gallery").is_dir()


def test_gfm_image_pages_link_the_html_explorer(built):
    report, analysis = built
    for image in analysis.images:
        markdown = (report / "images" / f"{image.id}.md").read_text()
        assert f"**[Explore the attention]({image.id}.html)**" in markdown
        assert 'id="explorer"' in (report / "images" / f"{image.id}.html").read_text()


def test_a_rebuild_renders_only_the_pages_that_changed_and_none_stale(
    tiny_vit_dir, tmp_path, monkeypatch
):
    folder = write_images(tmp_path / "images", 12)
    params = AnalysisParams(model=str(tiny_vit_dir))
    # no worker processes: the pages are rendered here, where the patched render counts them
    execution = Execution(device="cpu", cache_dir=tmp_path / "c", workers=0)
    report_options = ReportOptions(
        slug="grow",
        date=parse_date("2024-05-24"),
        gallery=GallerySettings(gallery_threshold=4, page_size=4),
    )
    api.build(folder, tmp_path / "site", params, report_options, execution)
    rendered = []
    original = Templates.render

    def render(templates, policy, name, variables):
        rendered.append(variables)
        return original(templates, policy, name, variables)

    monkeypatch.setattr(Templates, "render", render)
    Image.new("RGB", (40, 40), (250, 250, 250)).save(folder / "zz-new.png")
    report = api.build(folder, tmp_path / "site", params, report_options, execution)
    image_pages = [v["page"].id for v in rendered if v.get("kind") == "image"]
    assert 3 <= len(image_pages) < 3 * 13 / 2  # the new image's pages, and few others
    assert image_pages.count("012-zz-new") == 3  # one per flavour
    assert len(list((report / "images").glob("*.html"))) == 13

    rendered.clear()
    retitled = replace_options(report_options, title="A new <title>")
    report = api.build(folder, tmp_path / "site", params, retitled, execution)
    # The cached pages have a slot for the title: one page per flavour is rendered again, with
    # the title, to learn how the flavour writes it (the version kept links its pages as they
    # were published); every page shows the title, none kept stale.
    titles = [v["report"].title for v in rendered if v.get("kind") == "image"]
    assert titles == 3 * ["A new <title>"]
    for page in (report / "images").glob("*.html"):
        assert page.read_text().count("A new &lt;title&gt;") == 2  # <title> and the breadcrumb
        assert b"ReportgenTitleSlot" not in page.read_bytes()
