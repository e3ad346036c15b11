"""The summary a notebook shows for a report (reportgen.publish.summary): self-contained, under
2 MB for hundreds of images, one featured figure per level while the budget lasts, user text
escaped."""

from __future__ import annotations

import html
import io
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import tiny_model_dir
from PIL import Image

from reportgen import api
from reportgen.analysis.execution import Execution
from reportgen.analysis.sources.base import Encoded, Item, Source
from reportgen.analysis.sources.folder import FolderSource
from reportgen.publish import classes, summary
from reportgen.publish.figures import FigureStyle
from reportgen.publish.templates import Templates
from reportgen.results import Analysis, AnalysisParams

HOSTILE_TITLE = '<script>alert("title")</script> shelf'
IMAGES = 240
CLASSES = ("<b>class 0</b>", "<b>class 1</b>", "<b>class 2</b>")


class HostileShelf(Source):
    """Random PNGs under names and labels that would run script if a page pasted them."""

    kind = "hostile-shelf"

    def __init__(self, size: int):
        self.size = size

    @property
    def name(self) -> str:
        return "shelf"

    def describe(self) -> dict:
        return {"hostile-shelf": self.size}

    def count(self) -> int:
        return self.size

    def items(self):
        rng = np.random.default_rng(5)
        for index in range(self.size):
            encoded = io.BytesIO()
            Image.fromarray((rng.random((40, 48, 3)) * 255).astype(np.uint8)).save(encoded, "PNG")
            name = f"<img src=x onerror=alert({index})>.png"
            label = CLASSES[index % len(CLASSES)]
            yield Item(index, name, Encoded(encoded.getvalue()), label=label)


@pytest.fixture(scope="module")
def analysis(tmp_path_factory) -> Analysis:
    """The shelf's images by a tiny classifier whose classes are the shelf's labels."""
    tmp = tmp_path_factory.mktemp("summary")
    names = dict(enumerate(CLASSES))
    classifier = tiny_model_dir(
        tmp_path_factory,
        "vit",
        num_labels=len(names),
        id2label=names,
        label2id={name: index for index, name in names.items()},
    )
    return api.analyze(
        HostileShelf(IMAGES),
        tmp / "store",
        AnalysisParams(model=str(classifier)),
        Execution(device="cpu", workers=0, cache_dir=tmp / "cache"),
    )


def _summary(analysis: Analysis) -> str:
    return summary.summary_html(analysis, HOSTILE_TITLE, FigureStyle(), Templates())


def _level_table(page: str) -> list[list[str]]:
    body = re.search(r'<table class="reportgen-levels">.*?<tbody>(.*?)</tbody>', page, re.S)
    assert body
    return [
        re.findall(r"<td[^>]*>(.*?)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", body[1])
    ]


@pytest.mark.slow
def test_the_summary_of_hundreds_of_images_is_small_and_self_contained(analysis):
    page = _summary(analysis)
    assert len(page.encode()) < 2_000_000
    sources = re.findall(r'\ssrc="([^"]*)"', page)
    assert len(sources) == 2 + 4  # the two charts, then a featured figure for each level
    assert [src.split(";")[0] for src in sources] == ["data:image/svg+xml"] * 2 + [
        "data:image/webp"
    ] * 4
    assert "href=" not in page and "<script" not in page.replace("&lt;script", "")
    rows = _level_table(page)
    assert [row[0] for row in rows] == ["1", "2", "3", "4"]
    assert sum(int(row[1]) for row in rows) == IMAGES
    featured = analysis.featured()
    for row, level in zip(rows, sorted(featured), strict=True):
        assert f"<code>{featured[level].id}</code>" in row[3]
        assert "&lt;img src=x onerror=alert(" in row[3]
    assert "&lt;script&gt;alert(&#34;title&#34;)&lt;/script&gt; shelf" in page


@pytest.mark.slow
def test_labelled_images_get_the_reports_per_class_numbers(analysis):
    page = _summary(analysis)
    body = re.search(r'<table class="reportgen-classes">.*?<tbody>(.*?)</tbody>', page, re.S)
    assert body
    rows = [re.findall(r"<td>(.*?)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", body[1])]
    expected = {row.label: row for row in classes.class_rows(analysis.images, 4, judged=True)}
    assert sorted(row[0] for row in rows) == sorted(html.escape(name) for name in CLASSES)
    for label, images, median, levels, accuracy in rows:
        row = expected[html.unescape(label)]
        assert int(images) == row.images == IMAGES // len(CLASSES)
        assert median == f"{row.median_entropy:.4f}"
        assert levels == " · ".join(str(count) for count in row.levels)
        assert accuracy.startswith(f"{row.correct} (")
    correct = sum(image.correct is True for image in analysis.images)
    assert f"top-1 accuracy {correct} of {IMAGES}" in page


@pytest.mark.slow
def test_levels_past_the_figure_budget_name_their_image_instead(analysis, monkeypatch):
    style = FigureStyle()
    first = summary.level_rows(analysis, style, summary.FIGURES_BUDGET)[0].figure
    monkeypatch.setattr(summary, "FIGURES_BUDGET", len(first) + 10)
    page = _summary(analysis)
    assert len(re.findall(r'<img src="data:image/webp', page)) == 1
    featured = analysis.featured()
    for level in (2, 3, 4):
        assert f'report.figure("{featured[level].id}")' in page


def test_every_level_gets_its_colour_and_range(tmp_path, tiny_vit_dir):
    folder = Path(__file__).resolve().parents[2] / "examples" / "images"
    made = api.analyze(
        FolderSource(folder, recursive=True),
        tmp_path / "store",
        AnalysisParams(model=str(tiny_vit_dir), levels=3),
        Execution(device="cpu", workers=0, cache_dir=tmp_path / "cache"),
    )
    rows = summary.level_rows(made, FigureStyle(), summary.FIGURES_BUDGET)
    assert [row.number for row in rows] == [1, 2, 3]
    assert len({row.colour for row in rows}) == 3
    assert all(row.entropy_min <= row.featured.entropy <= row.entropy_max for row in rows)
    bounds = [(row.entropy_min, row.entropy_max) for row in rows]
    assert all(high <= low for (_, high), (low, _) in zip(bounds, bounds[1:], strict=False))
