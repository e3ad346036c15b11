"""Reports published by earlier versions still re-render: the archive's promise.

``tests/fixtures/report-v0.1.0`` is a report exactly as reportgen 0.1.0 published it (results
format 1: no named maps, no artifact mask, rollout from layer 0, no normalisation setting).
Reports with maps format 3 (no per-head attention unless ``--keep-heads``) are made by
rewriting a new report's maps files.
"""

import json
import shutil

import numpy as np
import pyarrow.parquet as pq
import pytest
from conftest import FIXTURE, rewrite_as_format_3, write_images

from reportgen import api, cli
from reportgen.publish import distill_check, explorer
from reportgen.publish.options import GallerySettings, ReportOptions, parse_date
from reportgen.results import Analysis


@pytest.fixture
def old_report(tmp_path):
    site = tmp_path / "site"
    report = site / "reports" / "v0-1-0"
    shutil.copytree(FIXTURE, report)
    return report


def files(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_old_results_load_with_the_parameters_they_were_made_with(old_report):
    analysis = Analysis.load(old_report / "data")
    assert analysis.params.artifacts == "keep" and analysis.rollout_start_layer == 0
    assert analysis.faithfulness is None
    record = analysis.record(analysis.images[0])
    assert record.artifact_mask is None
    layers = record.cls_heads.astype(np.float64).mean(axis=1)
    np.testing.assert_allclose(record.maps["layers"], layers)
    np.testing.assert_allclose(record.maps["mean"], layers.mean(axis=0))
    with np.load(old_report / "data" / "maps" / f"{analysis.images[0].id}.npz") as data:
        np.testing.assert_array_equal(record.maps["rollout"], data["rollout"])


def test_old_report_rerenders_without_the_model(old_report, tmp_path, capsys):
    before = files(old_report)
    assert cli.main(["render", str(old_report), "--cache-dir", str(tmp_path / "cache")]) == 0
    after = files(old_report)
    for name, data in before.items():  # the stored data and the figures are kept as they were
        if name.startswith(("data/", "figures/")) and name != "data/results.json":
            assert after[name] == data, name
    # ...but for results.json, migrated: its list of images moved to the results table
    old_images = json.loads(before["data/results.json"])["images"]
    table = pq.read_table(old_report / "data" / "results.parquet").to_pylist()
    assert [row["name"] for row in table] == [image["name"] for image in old_images]
    assert [row["entropy"] for row in table] == [image["entropy"] for image in old_images]
    assert "images" not in json.loads(after["data/results.json"])
    page = (old_report / "index.html").read_text()
    assert "Which map to trust" not in page and "Artifact tokens" not in page
    assert "Each panel is scaled from its own minimum" in page  # 0.1 drew per-panel min-max
    assert "layers 1 to 2" in page  # rollout used every layer
    assert "{{ site.title }} &lt;b&gt;.png" in page  # the hostile name, escaped as before
    manifest = json.loads((old_report / "manifest.json").read_text())
    assert manifest["report"]["style"]["normalise"] == "panel"
    assert set(manifest["files"]) == {n for n in after if n != "manifest.json"}
    assert (old_report.parent.parent / "index.html").is_file()


def test_old_report_rerenders_as_a_distill_post(old_report, tmp_path, capsys):
    """A report from before the flavour: its manifest has no distill options (the defaults)."""
    argv = ["render", str(old_report), "--format", "distill", "--post-date", "2026-04-27"]
    assert cli.main([*argv, "--cache-dir", str(tmp_path / "cache")]) == 0
    assert distill_check.check_folder(old_report / "distill") == ("2026-04-27-v0-1-0", [])
    post = (old_report / "distill/_posts/2026-04-27-v0-1-0.md").read_text()
    assert '  - name: "Anonymous"' in post and "{{ site.title }}" not in post
    assert cli.main(["verify", str(old_report)]) == 0


def test_old_report_redraws_its_figures_from_format_1_maps(old_report, tmp_path):
    before = files(old_report / "figures")
    argv = ["render", str(old_report), "--colormap", "viridis", "--normalise", "shared"]
    assert cli.main([*argv, "--cache-dir", str(tmp_path / "cache")]) == 0
    manifest = json.loads((old_report / "manifest.json").read_text())
    assert manifest["report"]["style"]["colormap"] == "viridis"
    after = files(old_report / "figures")
    assert after.keys() == before.keys()
    assert all(after[name] != before[name] for name in before)  # redrawn, new colours
    page = " ".join((old_report / "index.html").read_text().split())
    assert "share one colour scale" in page


def test_report_with_format_3_maps_without_heads_rerenders(analysis_params, tmp_path, execution):
    options = ReportOptions(
        slug="v3",
        date=parse_date("2025-01-01"),
        gallery=GallerySettings(gallery_threshold=2),
        formats=("html",),
        explorer_data="scripts",  # the data scripts say what the maps file holds
    )
    report = api.build(
        write_images(tmp_path / "images", 3),
        tmp_path / "site",
        analysis_params,
        options,
        execution=execution,
    )
    relative = "divided by its 99th percentile"  # how today's min is described
    assert relative in " ".join((report / "index.html").read_text().split())
    for maps_file in (report / "data" / "maps").iterdir():
        rewrite_as_format_3(maps_file, heads=False)
    figures = files(report / "figures")
    assert cli.main(["render", str(report), "--cache-dir", str(tmp_path / "cache")]) == 0
    assert files(report / "figures") == figures  # drawn from the maps, which did not change
    analysis = Analysis.load(report / "data")
    for image in analysis.images:
        assert analysis.record(image).cls_heads is None
        data = (report / explorer.files(image.id).data).read_text()
        assert '"heads":null' in data.replace(" ", "")
    page = " ".join((report / "index.html").read_text().split())
    assert "average attention over the" in page
    assert relative not in page  # format 3 made the plain min, and the page says so
    assert cli.main(["verify", str(report)]) == 0


def test_a_new_colormap_keeps_an_old_reports_figure_quality(old_report, tmp_path):
    argv = ["render", str(old_report), "--colormap", "viridis", "--cache-dir", str(tmp_path)]
    assert cli.main(argv) == 0
    style = json.loads((old_report / "manifest.json").read_text())["report"]["style"]
    assert style["colormap"] == "viridis"
    assert style["quality"] == 80  # as 0.1 drew it, not today's default (50)
