"""Labels in published reports (issue 18), built end to end with tiny random models.

A source yields images with hostile labels (HTML, Markdown and Liquid in the label text). With a
tiny random classifier whose ``id2label`` is those labels, the report shows the per-class table
with accuracy and correct against wrong; with a classifier of other classes, or a backbone, the
table shows spread only and says why. Every number shown is checked against a count done here
on the stored results table, and every label must be inert in every flavour.
"""

from __future__ import annotations

import csv
import html
import io
import re
import shutil
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from conftest import ARTIFACTS, tiny_model_dir, write_images
from PIL import Image
from scipy.stats import mannwhitneyu
from test_browser import SENTINEL_SCRIPT, browser  # noqa: F401
from test_jekyll import BASEURL, SITE_TITLE, UNRENDERED, PostScan, _content, jekyll_build, serving

from reportgen import api
from reportgen.analysis.execution import Execution
from reportgen.analysis.sources.base import Encoded, Item, Source
from reportgen.publish import distill_check
from reportgen.publish.escaping import markdown_text
from reportgen.publish.options import GallerySettings, ReportOptions, parse_date
from reportgen.results import AnalysisParams

HOSTILE_LABELS = (
    "<img src=x onerror=alert(1)>",
    "{{ site.title }} {% raw %}",
    "**bold** | [link](javascript:alert(1))",
)
N_IMAGES = 24
DATE = parse_date("2024-05-24")


class LabelledSource(Source):
    """Random images named ``pic <i>.png``, labelled round-robin with ``labels``."""

    kind = "labelled-test"

    def __init__(self, labels, size=N_IMAGES):
        self.labels, self.size = tuple(labels), size

    @property
    def name(self) -> str:
        return "Labelled shelf"

    def describe(self) -> dict:
        return {"labelled": self.size}

    def items(self):
        rng = np.random.default_rng(3)
        for index in range(self.size):
            pixels = (rng.random((40, 48, 3)) * 255).astype(np.uint8)
            encoded = io.BytesIO()
            Image.fromarray(pixels).save(encoded, "PNG")
            label = self.labels[index % len(self.labels)]
            yield Item(index, f"pic <{index}>.png", Encoded(encoded.getvalue()), label=label)


@dataclass(frozen=True)
class Built:
    report: Path
    rows: list[dict]  # the results table, as stored

    def text(self, path: str) -> str:
        return (self.report / path).read_text(encoding="utf-8")


def _build(source, model, out, slug, formats=("html", "jekyll", "gfm"), **gallery) -> Built:
    options = ReportOptions(
        title=f"Labels {slug}",
        slug=slug,
        date=DATE,
        formats=formats,
        gallery=GallerySettings(**gallery),
    )
    execution = Execution(device="cpu", cache_dir=out / "cache", workers=0)
    report = api.build(source, out / "site", AnalysisParams(model=str(model)), options, execution)
    return Built(report, pq.read_table(report / "data" / "results.parquet").to_pylist())


@pytest.fixture(scope="module")
def classifier_dir(tmp_path_factory):
    """A tiny random ViT classifier whose classes are the hostile labels."""
    names = dict(enumerate(HOSTILE_LABELS))
    return tiny_model_dir(
        tmp_path_factory,
        "vit",
        num_labels=len(names),
        id2label=names,
        label2id={name: index for index, name in names.items()},
    )


@pytest.fixture(scope="module")
def matched(classifier_dir, tmp_path_factory) -> Built:
    """Labels that are the classifier's classes, in a report with galleries (5 a page)."""
    out = tmp_path_factory.mktemp("labels-matched")
    return _build(
        LabelledSource(HOSTILE_LABELS),
        classifier_dir,
        out,
        "matched",
        gallery_threshold=8,
        page_size=5,
    )


@pytest.fixture(scope="module")
def unmatched(tiny_vit_dir, tmp_path_factory) -> Built:
    """The same labels with a classifier of other classes (LABEL_0...): one page."""
    out = tmp_path_factory.mktemp("labels-unmatched")
    return _build(LabelledSource(HOSTILE_LABELS), tiny_vit_dir, out, "unmatched")


# --- reading pages back ----------------------------------------------------------------------


class PageScan(HTMLParser):
    """Every element with its attributes, the text of each table's cells by row, and the
    paragraphs' text, as a browser reads them."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.tables: list[list[list[str]]] = []
        self.paragraphs: list[str] = []
        self._cell: list[str] | None = None
        self._paragraph: list[str] | None = None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, {name: value or "" for name, value in attrs}))
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "p":
            self._paragraph = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "p" and self._paragraph is not None:
            self.paragraphs.append(" ".join("".join(self._paragraph).split()))
            self._paragraph = None

    def handle_data(self, data):
        for parts in (self._cell, self._paragraph):
            if parts is not None:
                parts.append(data)


def class_table(scan: PageScan) -> dict[str, list[str]]:
    """The per-class table's rows (folded ones included) by class."""
    tables = [table for table in scan.tables if table and table[0][:2] == ["Class", "Images"]]
    assert tables, "no per-class table"
    return {row[0]: row[1:] for table in tables for row in table[1:]}


def expected_rows(rows: list[dict], judged: bool) -> dict[str, list[str]]:
    """The per-class table as it must read, counted here from the stored table."""
    levels = max(row["level"] for row in rows)
    expected = {}
    for label in {row["label"] for row in rows}:
        members = [row for row in rows if row["label"] == label]
        entropies = [row["entropy"] for row in members]
        counts = [sum(row["level"] == level for row in members) for level in range(1, levels + 1)]
        cells = [
            str(len(members)),
            f"{np.mean(entropies):.4f}",
            f"{np.median(entropies):.4f}",
            " · ".join(map(str, counts)),
        ]
        if judged:
            right = sum(row["labels"][0] == label for row in members)
            cells.append(f"{right} of {len(members)} ({100 * right / len(members):.1f} %)")
        expected[label] = cells
    return expected


def report_pages(report: Path, suffix: str) -> list[Path]:
    return [
        path
        for path in report.rglob(f"*{suffix}")
        if "jekyll" not in path.relative_to(report).parts
        and "versions" not in path.relative_to(report).parts
    ]


# --- the checks ------------------------------------------------------------------------------


def test_the_per_class_table_matches_a_count_of_the_stored_results(matched):
    scan = PageScan(matched.text("index.html"))
    assert class_table(scan) == expected_rows(matched.rows, judged=True)
    # Most focused class first: by median spread entropy.
    medians = [float(cells[2]) for cells in class_table(scan).values()]
    assert medians == sorted(medians)


def test_the_accuracy_shown_equals_a_count_of_top1_hits(matched):
    right = sum(row["labels"][0] == row["label"] for row in matched.rows)
    assert 0 < right < N_IMAGES  # the random classifier gets some right, not all
    scan = PageScan(matched.text("index.html"))
    expected = f"Top-1 accuracy over every labelled image: {right} of {N_IMAGES} "
    assert any(expected in paragraph for paragraph in scan.paragraphs)
    assert [row["correct"] for row in matched.rows] == [
        row["labels"][0] == row["label"] for row in matched.rows
    ]


def test_correct_against_wrong_shows_scipys_figures_and_its_chart(matched):
    wrong = [row["entropy"] for row in matched.rows if row["labels"][0] != row["label"]]
    right = [row["entropy"] for row in matched.rows if row["labels"][0] == row["label"]]
    assert len(wrong) >= 2 and len(right) >= 2
    test = mannwhitneyu(wrong, right, alternative="two-sided")
    r = 2 * test.statistic / (len(wrong) * len(right)) - 1
    text = " ".join(PageScan(matched.text("index.html")).paragraphs)
    assert (
        f"median entropy {np.median(wrong):.3f} against {np.median(right):.3f}, "
        f"U = {test.statistic:g}, p = {test.pvalue:.3g}; rank-biserial r = {r:+.2f} "
        f"({len(wrong)} misclassified, {len(right)} correct)."
    ) in text
    chart = matched.report / "charts" / "spread-correct-wrong.svg"
    assert chart.read_bytes().startswith(b"<?xml")
    assert 'src="charts/spread-correct-wrong.svg"' in matched.text("index.html")
    assert "charts/spread-correct-wrong.svg" in matched.text("README.md")


def test_each_class_links_its_gallery_filtered_to_it(matched):
    scan = PageScan(matched.text("index.html"))
    links = [
        attributes["href"]
        for tag, attributes in scan.elements
        if tag == "a" and "#class=" in attributes.get("href", "")
    ]
    pages = {link.split("#")[0] for link in links}
    assert len(pages) == 1 and (matched.report / pages.pop()).is_file()
    from urllib.parse import unquote

    assert sorted(unquote(link.split("#class=")[1]) for link in links) == sorted(HOSTILE_LABELS)
    # gfm links the html galleries' filter too
    readme = matched.text("README.md")
    assert readme.count("gallery/level-") and readme.count("#class=") == len(HOSTILE_LABELS)


def test_galleries_offer_the_class_filter_and_its_list(matched):
    gallery = matched.report / "gallery"
    page = PageScan((gallery / "level-1-entropy-1.html").read_text(encoding="utf-8"))
    assert any(attributes.get("id") == "class-filter-input" for _, attributes in page.elements)
    listed = (gallery / "classes.js").read_text()
    assert listed.startswith("reportgenClasses([") and "<" not in listed
    names = (gallery / "names-1.js").read_text()
    assert names.count('\\u003cimg src=x onerror=alert(1)\\u003e"]') == N_IMAGES // 3


def test_image_pages_show_label_prediction_and_agreement(matched):
    verdicts = set()
    for row in matched.rows[:6]:
        page = matched.text(f"images/{row['id']}.html")
        text = " ".join(html.unescape(re.sub(r"<[^>]+>", "", page)).split())
        verdict = "correct" if row["labels"][0] == row["label"] else "wrong"
        verdicts.add(verdict)
        expected = f"label: {row['label']}; top-1 prediction: {row['labels'][0]}: {verdict}"
        assert expected in text, row["id"]
        gfm = matched.text(f"images/{row['id']}.md")
        assert f"<code>{markdown_text(row['label'])}</code>" in gfm
        assert f"**{verdict}**" in gfm
    assert verdicts == {"correct", "wrong"}


def test_hostile_labels_inject_nothing_in_html(matched):
    for page in report_pages(matched.report, ".html"):
        scan = PageScan(page.read_text(encoding="utf-8"))
        handlers = [
            name for _, attributes in scan.elements for name in attributes if name[:2] == "on"
        ]
        assert handlers == [], page
        assert not any(attributes.get("src") == "x" for _, attributes in scan.elements), page
        assert not any(
            attributes.get("href", "").startswith("javascript:") for _, attributes in scan.elements
        ), page
    front = PageScan(matched.text("index.html"))
    assert set(class_table(front)) == set(HOSTILE_LABELS)  # read as text, literally


def test_hostile_labels_are_no_active_markdown_in_gfm(matched):
    for page in report_pages(matched.report, ".md"):
        text = page.read_text(encoding="utf-8")
        for label in HOSTILE_LABELS:
            assert label not in text, page
        for raw in ("<img src=x", "{{ site", "{%", "**bold**", "](javascript"):
            assert raw not in text, (page, raw)
    readme = matched.text("README.md")
    rows = [line for line in readme.splitlines() if markdown_text(HOSTILE_LABELS[2]) in line]
    assert rows and all(line.count(" | ") == 5 for line in rows if line.startswith("| ["))


def test_rerender_keeps_everything_from_the_stored_data_without_the_model(
    classifier_dir, tmp_path_factory
):
    out = tmp_path_factory.mktemp("labels-rerender")
    model = out / "model"
    shutil.copytree(classifier_dir, model)
    built = _build(LabelledSource(HOSTILE_LABELS, 9), model, out, "rerender", gallery_threshold=4)
    pages = ["index.html", "README.md", "jekyll/_posts/2024-05-24-rerender.md"]
    before = {page: built.text(page) for page in pages}
    assert "Spread by class" in before["index.html"] and "#class=" in before["README.md"]
    shutil.rmtree(model)
    api.rerender(built.report, cache_dir=out / "cache", workers=0)
    assert {page: built.text(page) for page in pages} == before
    # Without the html flavour, gfm has no filter to link, and says nothing of one.
    api.rerender(built.report, cache_dir=out / "cache", workers=0, formats=("gfm",))
    readme = built.text("README.md")
    assert "Spread by class" in readme and "Correct against wrong" in readme
    assert "#class=" not in readme and "filter" not in readme


def test_a_distill_post_shows_the_labels_inert_and_follows_the_tracks_rules(
    classifier_dir, tmp_path
):
    source = LabelledSource(HOSTILE_LABELS, 9)
    built = _build(source, classifier_dir, tmp_path, "distilled", ("distill",), gallery_threshold=4)
    folder = built.report / "distill"
    assert distill_check.check_folder(folder)[1] == []
    post = next((folder / "_posts").glob("*.md")).read_text(encoding="utf-8")
    assert "Spread by class" in post and "Correct against wrong" in post
    for label in HOSTILE_LABELS:
        assert label not in post and markdown_text(label) in post
    assert "#class=" not in post  # the distill galleries have no filter to link


def test_unmatched_labels_show_spread_only_and_say_why(unmatched):
    scan = PageScan(unmatched.text("index.html"))
    assert class_table(scan) == expected_rows(unmatched.rows, judged=False)
    reason = next(p for p in scan.paragraphs if p.startswith("No accuracy."))
    assert "3 of the 3 labels are not classes of the model" in reason
    assert "--label-map" in reason
    text = unmatched.text("index.html")
    assert "Correct against wrong" not in text and "Top-1 accuracy" not in text
    assert "All images are on this page, each caption naming its label." in text
    assert "#class=" not in text  # a single page: no galleries to filter
    assert all(row["correct"] is None for row in unmatched.rows)


def test_a_backbone_shows_spread_per_class_and_says_why(tmp_path_factory):
    backbone = tiny_model_dir(tmp_path_factory, "dinov2")
    out = tmp_path_factory.mktemp("labels-backbone")
    built = _build(LabelledSource(("cat", "dog"), 6), backbone, out, "backbone")
    scan = PageScan(built.text("index.html"))
    assert class_table(scan) == expected_rows(built.rows, judged=False)
    assert any(
        p.startswith("No accuracy. The model is a backbone without a classifier head")
        for p in scan.paragraphs
    )
    assert "No accuracy" in built.text("README.md")


def test_reports_without_labels_have_no_class_section_or_filter(tiny_vit_dir, tmp_path):
    images = write_images(tmp_path / "images", 10)
    built = _build(images, tiny_vit_dir, tmp_path, "plain", gallery_threshold=4)
    for page in ("index.html", "README.md", "gallery/level-1-entropy-1.html"):
        text = built.text(page)
        assert "Spread by class" not in text and "class-filter" not in text, page
    assert not (built.report / "gallery" / "classes.js").exists()
    assert '"]' not in (built.report / "gallery" / "names-1.js").read_text()


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_export_writes_the_label_columns(unmatched, tmp_path, fmt):
    target = api.export(unmatched.report, fmt, tmp_path / f"results.{fmt}")
    if fmt == "csv":
        rows = list(csv.DictReader(target.open(encoding="utf-8")))
    else:
        rows = pq.read_table(target).to_pylist()
    assert [row["label"] for row in rows] == [
        HOSTILE_LABELS[index % 3] for index in range(N_IMAGES)
    ]
    assert [row["source_id"] for row in rows] == [f"pic <{index}>.png" for index in range(N_IMAGES)]
    assert [row["predicted"] for row in rows] == [row["labels"][0] for row in unmatched.rows]
    assert [row["correct"] for row in rows] == (
        [""] * N_IMAGES if fmt == "csv" else [None] * N_IMAGES
    )


# --- many classes: the table folds ------------------------------------------------------------

MANY_LABELS = tuple(f"class {index:02d}" for index in range(23)) + HOSTILE_LABELS


@pytest.fixture(scope="module")
def many(tiny_vit_dir, tmp_path_factory) -> Built:
    """26 classes of one image each, a backbone's view (the tiny ViT's classes are others)."""
    out = tmp_path_factory.mktemp("labels-many")
    return _build(LabelledSource(MANY_LABELS, len(MANY_LABELS)), tiny_vit_dir, out, "many")


def test_beyond_twenty_classes_the_rest_of_the_table_is_folded(many):
    scan = PageScan(many.text("index.html"))
    tables = [table for table in scan.tables if table and table[0][:2] == ["Class", "Images"]]
    assert [len(table) - 1 for table in tables] == [20, 6]
    assert class_table(scan) == expected_rows(many.rows, judged=False)
    assert "The other 6 classes" in many.text("index.html")
    assert "The other 6 classes" in many.text("README.md")


# --- in a real Jekyll site ----------------------------------------------------------------------


@pytest.mark.jekyll
@pytest.mark.slow
@pytest.mark.parametrize("which", ["matched", "many"])
def test_jekyll_renders_the_class_table_with_labels_as_plain_text(which, request, tmp_path):
    built = request.getfixturevalue(which)
    root, _ = jekyll_build(built.report, tmp_path)
    post = (root / f"blog/{DATE.year}/{which}/index.html").read_text(encoding="utf-8")
    scan = PostScan(post)
    assert not scan.event_handlers and "onerror=" not in post.replace("onerror=alert", "")
    assert SITE_TITLE not in "\n".join(scan.content_text)
    body = PageScan(_content(post))
    assert class_table(body) == expected_rows(built.rows, judged=which == "matched")
    assert not any(attributes.get("src") == "x" for _, attributes in body.elements)
    text = "\n".join(scan.content_text)
    for label in sorted(HOSTILE_LABELS, key=len, reverse=True):
        text = text.replace(label, "")  # labels read literally: take them out
    for syntax in (*UNRENDERED, "| ---", "|---"):
        assert syntax not in text, syntax
    if which == "matched":
        assert any("misclassified" in p and "U = " in p for p in body.paragraphs)
        assert "Top-1 accuracy" in text and "class-filter" not in post


# --- the class filter in Chromium ------------------------------------------------------------


@pytest.fixture(scope="module")
def served_matched(matched):
    """The labelled report's site on 127.0.0.1."""
    with serving(matched.report.parent.parent) as server:
        yield f"{server}{BASEURL.strip('/')}/reports/matched/"


@pytest.mark.browser
@pytest.mark.slow
def test_the_class_filter_shows_a_class_from_the_table_and_as_typed(
    matched,
    served_matched,
    browser,  # noqa: F811
):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.add_init_script(SENTINEL_SCRIPT)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    results = page.locator("#name-filter-results > li")

    def names_of(label: str) -> list[str]:
        return sorted(row["name"] for row in matched.rows if row["label"] == label)

    def shown() -> list[str]:
        page.wait_for_function("() => !document.getElementById('name-filter-results').hidden")
        return sorted(results.locator(".name").all_text_contents())

    try:
        page.goto(f"{served_matched}index.html")
        page.get_by_role("link", name=HOSTILE_LABELS[0], exact=True).click()
        page.wait_for_url("**/gallery/level-*.html#class=*")
        page.wait_for_function(
            f"() => document.querySelectorAll('#name-filter-results > li').length === "
            f"{len(names_of(HOSTILE_LABELS[0]))}"
        )
        assert shown() == names_of(HOSTILE_LABELS[0])
        assert page.locator("#class-filter-input").input_value() == HOSTILE_LABELS[0]
        metas = results.locator(".meta").all_text_contents()
        assert all(meta.endswith(f" · {HOSTILE_LABELS[0]}") for meta in metas)
        assert page.locator("section.level").first.is_hidden()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=ARTIFACTS / "class-filter.png", full_page=True)
        # Typed: a label it offers matches exactly, other text any label containing it.
        field = page.locator("#class-filter-input")
        field.fill("bold")
        page.wait_for_function(
            "() => document.getElementById('name-filter-status').textContent === "
            f"'{len(names_of(HOSTILE_LABELS[2]))} images'"
        )
        assert shown() == names_of(HOSTILE_LABELS[2])
        page.locator("#name-filter-input").fill("pic <2")
        expected = [name for name in names_of(HOSTILE_LABELS[2]) if name.startswith("pic <2")]
        page.wait_for_function(
            "() => document.getElementById('name-filter-status').textContent === "
            f"'{len(expected)} image{'s' if len(expected) != 1 else ''}'"
        )
        assert shown() == expected
        offered = page.locator("#class-filter-options option")
        assert sorted(offered.evaluate_all("(nodes) => nodes.map((n) => n.value)")) == sorted(
            HOSTILE_LABELS
        )
        field.fill("")
        page.locator("#name-filter-input").fill("")
        page.wait_for_function("() => document.getElementById('name-filter-results').hidden")
        assert page.locator("section.level").first.is_visible()
        assert page.evaluate("window.__xss") == 0 and errors == []
    finally:
        context.close()
