"""Labelled reports built end to end with tiny random models, and how to read their pages
back; shared by test_labels.py and test_labels_sites.py.

A source yields images with hostile labels (HTML, Markdown and Liquid in the label text); a tiny
random classifier has those labels as its classes. The per-class table as it must read is
counted here from the stored results table.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from conftest import tiny_model_dir
from PIL import Image

from reportgen import api
from reportgen.analysis.execution import Execution
from reportgen.analysis.sources.base import Encoded, Item, Source
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


MANY_LABELS = tuple(f"class {index:02d}" for index in range(23)) + HOSTILE_LABELS


@pytest.fixture(scope="module")
def many(tiny_vit_dir, tmp_path_factory) -> Built:
    """26 classes of one image each, a backbone's view (the tiny ViT's classes are others)."""
    out = tmp_path_factory.mktemp("labels-many")
    return _build(LabelledSource(MANY_LABELS, len(MANY_LABELS)), tiny_vit_dir, out, "many")


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
