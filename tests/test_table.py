"""The results table: one row per image in Parquet, exported as CSV or Parquet by the CLI."""

from __future__ import annotations

import csv
import errno
import os
import shutil
import subprocess
import sys

import pyarrow.parquet as pq
import pytest
from conftest import FIXTURE, write_images

from reportgen import api, cli, table
from reportgen.analysis.execution import Execution
from reportgen.publish.options import ReportOptions, parse_date
from reportgen.results import Analysis, AnalysisParams, ImageSummary


@pytest.fixture(scope="module")
def report(tiny_vit_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("table")
    folder = write_images(tmp / "images", 5)
    (folder / 'odd, "name".png').write_bytes((folder / "img00.png").read_bytes())
    params = AnalysisParams(model=str(tiny_vit_dir))
    execution = Execution(device="cpu", cache_dir=tmp / "cache")
    date = parse_date("2024-05-24")
    return api.build(
        folder, tmp / "site", params, ReportOptions(slug="table", date=date), execution
    )


def test_the_table_has_a_row_per_image_with_paths_that_exist(report):
    data = report / "data"
    rows = pq.read_table(data / "results.parquet").to_pylist()
    analysis = Analysis.load(data)
    assert [row["id"] for row in rows] == [image.id for image in analysis.images]
    assert len(rows) == 6
    for row, image in zip(rows, analysis.images, strict=True):
        assert row["name"] == image.name and row["sha256"] == image.sha256
        assert row["level"] == image.level and row["entropy"] == image.entropy
        assert row["layer_entropies"] == list(image.layer_entropies)
        assert row["labels"] == [p.label for p in image.predictions]
        assert (data / row["maps_file"]).is_file()
        assert (data / row["figure_file"]).resolve() == (report / "figures" / f"{image.id}.webp")


def test_export_csv_spreads_lists_over_numbered_columns(report, tmp_path):
    out = tmp_path / "results.csv"
    assert cli.main(["export", str(report), "--format", "csv", "--out", str(out)]) == 0
    with out.open(newline="", encoding="utf-8") as stream:
        rows = list(csv.DictReader(stream))
    table = pq.read_table(report / "data" / "results.parquet").to_pylist()
    assert [row["name"] for row in rows] == [row["name"] for row in table]
    assert 'odd, "name".png' in [row["name"] for row in rows]
    first, expected = rows[0], table[0]
    assert float(first["layer_entropy_2"]) == expected["layer_entropies"][1]
    assert first["label_5"] == expected["labels"][4]
    assert float(first["probability_1"]) == expected["probabilities"][0]
    assert int(first["artifact_count_2"]) == expected["artifact_counts"][1]
    assert "layer_entropies" not in first and "layer_entropy_3" not in first


def test_export_parquet_round_trips(report, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["export", str(report), "--format", "parquet"]) == 0
    exported = pq.read_table(tmp_path / "table.parquet")  # named after the report folder
    assert exported.equals(pq.read_table(report / "data" / "results.parquet"))


def test_export_to_standard_output(report, capfdbinary):
    assert cli.main(["export", str(report), "--out", "-"]) == 0
    lines = capfdbinary.readouterr().out.decode().splitlines()
    assert lines[0].startswith("index,id,name,") and len(lines) == 7


def test_an_export_whose_write_fails_names_its_file(report, tmp_path, monkeypatch, capsys):
    """A write's error names no file: /proc/version said 'Input/output error' alone."""

    def fails(rows, fmt, stream):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(table, "export", fails)
    out = tmp_path / "results.csv"
    assert cli.main(["export", str(report), "--out", str(out)]) == 2
    assert capsys.readouterr().err == (
        f"reportgen: error: {out}: Input/output error; the system could not read or write it "
        "there: use another --out\n"
    )


@pytest.mark.parametrize("command", ["export", "verify", "cache info"])
def test_a_reader_that_stops_ends_the_output_quietly(report, tmp_path, command):
    """``reportgen export REPORT --out - | head`` ends as cat does there (status 141, as if
    killed by SIGPIPE), not with 'reportgen: error: Broken pipe' or Python's 'Exception
    ignored' on the way out."""
    arguments = {
        "export": [report, "--out", "-"],
        "verify": [report.parent.parent],
        "cache info": ["--cache-dir", tmp_path],
    }[command]
    reader, writer = os.pipe()
    os.close(reader)  # the reader is gone before the first line is written
    with os.fdopen(writer, "wb") as stdout:
        ended = subprocess.run(
            [sys.executable, "-m", "reportgen.cli", *command.split(), *map(str, arguments)],
            stdout=stdout,
            stderr=subprocess.PIPE,
            text=True,
        )
    assert (ended.returncode, ended.stderr) == (141, "")


def test_export_reads_a_report_written_before_the_table(tmp_path):
    old = tmp_path / "old"
    shutil.copytree(FIXTURE, old)
    out = tmp_path / "old.csv"
    assert cli.main(["export", str(old), "--out", str(out)]) == 0
    with out.open(newline="", encoding="utf-8") as stream:
        rows = list(csv.DictReader(stream))
    assert [row["name"] for row in rows][-1] == "{{ site.title }} <b>.png"
    assert rows[0]["maps_file"] == "maps/000-img00.npz"
    assert "artifact_count_1" not in rows[0]  # 0.1 did not look for artifacts


def test_export_errors_are_messages(tmp_path, capsys):
    assert cli.main(["export", str(tmp_path)]) == 2
    assert "not a reportgen results folder" in capsys.readouterr().err


def test_a_table_written_before_the_artifact_score_reads_it_as_null(report, tmp_path):
    data = report / "data"
    scores = pq.read_table(data / "results.parquet").column("artifact_score").to_pylist()
    assert all(isinstance(score, float) and 0 <= score <= 1 for score in scores)
    older = tmp_path / "results.parquet"
    pq.write_table(pq.read_table(data / "results.parquet").drop(["artifact_score"]), older)
    rows = list(table.rows(table.read(older)))
    assert [row["artifact_score"] for row in rows] == [None] * len(scores)
    assert {ImageSummary.from_row(row).artifact_score for row in rows} == {None}


@pytest.mark.parametrize("row_group", [512, 4])
def test_holds_only_the_very_rows_in_the_current_schema(report, tmp_path, monkeypatch, row_group):
    monkeypatch.setattr(table, "ROW_GROUP", row_group)  # 4: two row groups of 6 rows
    path = report / "data/results.parquet"
    stored = pq.read_table(path).to_pylist()
    figures = {row["id"]: row["figure_file"].removeprefix("../") for row in stored}
    rows = [image.to_row() for image in Analysis.load(report / "data").images]
    assert table.holds(path, rows, figures)
    assert table.holds(path, iter(rows), figures)  # a stream, read a row group at a time
    changed = [*rows[:-1], dict(rows[-1], entropy=rows[-1]["entropy"] + 1e-12)]
    assert not table.holds(path, changed, figures)
    assert not table.holds(path, rows[:-1], figures)
    assert not table.holds(path, [*rows, rows[0]], figures)
    assert not table.holds(path, rows[::-1], figures)
    assert not table.holds(path, rows, {})  # a bare store's table has no figures
    older = tmp_path / "older.parquet"
    pq.write_table(pq.read_table(path).drop(["artifact_score"]), older)
    assert not table.holds(older, rows, figures)
    assert not table.holds(tmp_path / "missing.parquet", rows, figures)
    (tmp_path / "broken.parquet").write_bytes(b"not a table")
    assert not table.holds(tmp_path / "broken.parquet", rows, figures)
