"""Labels in published reports (issue 18), built end to end with tiny random models.

With a tiny random classifier whose ``id2label`` is the hostile labels (labelled_reports.py),
the report shows the per-class table with accuracy and correct against wrong; with a classifier
of other classes, or a backbone, the table shows spread only and says why; beyond twenty classes
the rest of the table is folded. Every number shown is checked against a count done here on the
stored results table, and every label must be inert in every flavour.
"""

from __future__ import annotations

import csv
import html
import re
import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from conftest import tiny_model_dir, write_images
from labelled_reports import (  # noqa: F401
    HOSTILE_LABELS,
    N_IMAGES,
    Built,
    LabelledSource,
    PageScan,
    _build,
    class_table,
    classifier_dir,
    expected_rows,
    many,
    matched,
)
from scipy.stats import mannwhitneyu

from reportgen import api
from reportgen.publish import distill_check
from reportgen.publish.escaping import markdown_text


@pytest.fixture(scope="module")
def unmatched(tiny_vit_dir, tmp_path_factory) -> Built:
    """The same labels with a classifier of other classes (LABEL_0...): one page."""
    out = tmp_path_factory.mktemp("labels-unmatched")
    return _build(LabelledSource(HOSTILE_LABELS), tiny_vit_dir, out, "unmatched")


def report_pages(report: Path, suffix: str) -> list[Path]:
    return [
        path
        for path in report.rglob(f"*{suffix}")
        if "jekyll" not in path.relative_to(report).parts
        and "versions" not in path.relative_to(report).parts
    ]


# --- the checks ------------------------------------------------------------------------------


def test_the_per_class_table_matches_a_count_of_the_stored_results(matched):  # noqa: F811
    scan = PageScan(matched.text("index.html"))
    assert class_table(scan) == expected_rows(matched.rows, judged=True)
    # Most focused class first: by median spread entropy.
    medians = [float(cells[2]) for cells in class_table(scan).values()]
    assert medians == sorted(medians)


def test_the_accuracy_shown_equals_a_count_of_top1_hits(matched):  # noqa: F811
    right = sum(row["labels"][0] == row["label"] for row in matched.rows)
    assert 0 < right < N_IMAGES  # the random classifier gets some right, not all
    scan = PageScan(matched.text("index.html"))
    expected = f"Top-1 accuracy over every labelled image: {right} of {N_IMAGES} "
    assert any(expected in paragraph for paragraph in scan.paragraphs)
    assert [row["correct"] for row in matched.rows] == [
        row["labels"][0] == row["label"] for row in matched.rows
    ]


def test_correct_against_wrong_shows_scipys_figures_and_its_chart(matched):  # noqa: F811
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


def test_each_class_links_its_gallery_filtered_to_it(matched):  # noqa: F811
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


def test_galleries_offer_the_class_filter_and_its_list(matched):  # noqa: F811
    gallery = matched.report / "gallery"
    page = PageScan((gallery / "level-1-entropy-1.html").read_text(encoding="utf-8"))
    assert any(attributes.get("id") == "class-filter-input" for _, attributes in page.elements)
    listed = (gallery / "classes.js").read_text()
    assert listed.startswith("reportgenClasses([") and "<" not in listed
    names = (gallery / "names-1.js").read_text()
    assert names.count('\\u003cimg src=x onerror=alert(1)\\u003e"]') == N_IMAGES // 3


def test_image_pages_show_label_prediction_and_agreement(matched):  # noqa: F811
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


def test_hostile_labels_inject_nothing_in_html(matched):  # noqa: F811
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


def test_hostile_labels_are_no_active_markdown_in_gfm(matched):  # noqa: F811
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
    classifier_dir,  # noqa: F811
    tmp_path_factory,
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
    classifier_dir,  # noqa: F811
    tmp_path,
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


def test_beyond_twenty_classes_the_rest_of_the_table_is_folded(many):  # noqa: F811
    scan = PageScan(many.text("index.html"))
    tables = [table for table in scan.tables if table and table[0][:2] == ["Class", "Images"]]
    assert [len(table) - 1 for table in tables] == [20, 6]
    assert class_table(scan) == expected_rows(many.rows, judged=False)
    assert "The other 6 classes" in many.text("index.html")
    assert "The other 6 classes" in many.text("README.md")
