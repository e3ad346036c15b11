"""The results table's documentation runs: every Python example of docs/results-table.md,
against a real report (pandas, polars and duckdb come with the test extra)."""

from __future__ import annotations

import re

import pytest
from conftest import ROOT, write_images

from reportgen import api
from reportgen.analysis.execution import Execution
from reportgen.publish.options import ReportOptions, parse_date
from reportgen.results import AnalysisParams

DOC = ROOT / "docs" / "results-table.md"
EXAMPLE_REPORT = "site/reports/cats"


def examples() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)


@pytest.fixture(scope="module")
def report(tiny_vit_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("docs")
    date = parse_date("2024-05-24")
    return api.build(
        write_images(tmp / "images", 6),
        tmp / "site",
        AnalysisParams(model=str(tiny_vit_dir)),
        ReportOptions(slug="cats", date=date),
        Execution(device="cpu", cache_dir=tmp / "cache"),
    )


def test_the_document_has_an_example_per_library():
    sources = "\n".join(examples())
    for library in ("pandas", "polars", "duckdb"):
        assert f"import {library}" in sources


@pytest.mark.parametrize("index", range(len(examples())))
def test_each_example_runs_on_a_real_report(report, index, capsys):
    source = examples()[index].replace(EXAMPLE_REPORT, report.as_posix())
    exec(compile(source, f"{DOC.name} example {index + 1}", "exec"), {})
    printed = capsys.readouterr().out
    assert printed.strip(), "the example printed nothing"
