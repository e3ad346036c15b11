"""The analyze stage end to end on a tiny model: store contents, manifest, cache, errors, CLI."""

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
from conftest import write_images

from reportgen import cli
from reportgen.analysis import analyze as analyze_module
from reportgen.analysis.analyze import analyze
from reportgen.errors import ReportgenError
from reportgen.results import Analysis, AnalysisParams
from reportgen.store import HEADS_BITS


@pytest.fixture
def params(tiny_vit_dir):
    return AnalysisParams(model=str(tiny_vit_dir), batch_size=3)


@pytest.fixture
def folder(tmp_path):
    folder = write_images(tmp_path / "images", 7)
    (folder / "broken.jpg").write_bytes(b"\xff\xd8 truncated")
    return folder


def test_store_contents(folder, params, execution, tmp_path):
    analysis = analyze(folder, tmp_path / "out", params, execution)
    out = tmp_path / "out"
    results = json.loads((out / "results.json").read_text())
    rows = pq.read_table(out / "results.parquet").to_pylist()
    manifest = json.loads((out / "manifest.json").read_text())
    assert [row["name"] for row in rows] == [f"img{i:02d}.png" for i in range(7)]
    assert results["skipped"] == [{"name": "broken.jpg", "reason": results["skipped"][0]["reason"]}]
    assert "not an image" in results["skipped"][0]["reason"]
    assert "images" not in results  # one row per image lives in the table, not in JSON
    for row in rows:
        assert (out / row["maps_file"]).is_file() and row["figure_file"] is None
        assert 0 <= row["entropy"] <= 1 and 1 <= row["level"] <= 4
        assert len(row["labels"]) == len(row["probabilities"]) == 5
        assert len(row["layer_entropies"]) == len(row["artifact_counts"]) == 2
        assert (row["width"], row["height"]) == (48, 40)
    assert sorted(row["level"] for row in rows) == [1, 1, 2, 2, 3, 3, 4]
    assert manifest["model"]["n_prefix"] == 1 and manifest["model"]["grid"] == [4, 4]
    assert manifest["parameters"]["spread_by"] == "mean"
    assert set(manifest["versions"]) >= {"python", "torch", "transformers", "reportgen"}
    assert [i["sha256"] for i in manifest["inputs"]["images"]] == [row["sha256"] for row in rows]
    assert manifest["inputs"]["skipped"][0]["name"] == "broken.jpg"
    assert analysis.cache_misses == 7 and analysis.cache_hits == 0

    reloaded = Analysis.load(out)
    assert reloaded.images == analysis.images and reloaded.model == analysis.model
    record = reloaded.record(reloaded.images[0])
    assert record.cls_heads.shape == (2, 2, 4, 4)  # every head, kept by default (HEADS_BITS)
    error = np.abs(record.cls_heads.mean(axis=1) - record.maps["layers"])
    levels = 2**HEADS_BITS - 1  # each head grid is quantised between its own low and high
    half_steps = np.ptp(record.cls_heads, axis=(2, 3)).mean(axis=1) / (2 * levels)  # per layer
    float16 = np.abs(record.maps["layers"]) * 2.0**-11  # the layer maps are stored as float16
    kept = ~record.artifact_mask  # artifact patches are filled in the maps, not in the heads
    assert np.all((error <= half_steps[:, None, None] + float16 + 1e-7)[kept])
    assert record.maps["layers"].shape == (2, 4, 4) and record.maps["layers"].dtype == np.float32
    assert record.seen_image.shape == (32, 32, 3) and record.seen_image.dtype == np.uint8


def test_second_run_hits_the_cache_without_loading_the_model(
    folder, params, execution, tmp_path, monkeypatch
):
    first = analyze(folder, tmp_path / "a", params, execution)
    said = []

    def no_model(*args, **kwargs):
        raise AssertionError("the model must not be loaded on a full cache hit")

    monkeypatch.setattr(analyze_module, "load", no_model)
    second = analyze(folder, tmp_path / "b", params, execution, say=said.append)
    assert second.cache_hits == 7 and second.cache_misses == 0
    assert any("model not run" in line for line in said)
    assert second.images == first.images
    for item in first.images:
        assert (tmp_path / "a/maps" / f"{item.id}.npz").read_bytes() == (
            tmp_path / "b/maps" / f"{item.id}.npz"
        ).read_bytes()


def test_reanalysing_into_the_same_folder_leaves_no_stale_maps(folder, params, execution, tmp_path):
    analyze(folder, tmp_path / "out", params, execution)
    (folder / "img00.png").unlink()
    again = analyze(folder, tmp_path / "out", params, execution)
    on_disk = sorted(p.name for p in (tmp_path / "out/maps").iterdir())
    assert on_disk == sorted(f"{image.id}.npz" for image in again.images)
    assert len(on_disk) == 6


def test_changed_parameters_miss_the_cache(folder, params, execution, tmp_path):
    analyze(folder, tmp_path / "a", params, execution)
    from dataclasses import replace

    again = analyze(folder, tmp_path / "b", replace(params, rollout_start_layer=1), execution)
    assert again.cache_misses == 7


def test_spread_options_do_not_need_the_model_again(folder, params, execution, tmp_path):
    from dataclasses import replace

    analyze(folder, tmp_path / "a", params, execution)
    by_rollout = analyze(
        folder, tmp_path / "b", replace(params, spread_by="rollout", levels=2), execution
    )
    assert by_rollout.cache_hits == 7
    assert sorted({i.level for i in by_rollout.images}) == [1, 2]


def test_two_runs_write_identical_files(folder, params, execution, tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    analyze(folder, tmp_path / "a", params, execution)
    analyze(folder, tmp_path / "b", params, execution)
    files = sorted(
        p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file()
    )
    assert files
    for path in files:
        assert (tmp_path / "a" / path).read_bytes() == (tmp_path / "b" / path).read_bytes(), path
    manifest = json.loads((tmp_path / "a/manifest.json").read_text())
    assert manifest["created_utc"] == "2023-11-14T22:13:20Z"
    assert manifest["time_source"] == "SOURCE_DATE_EPOCH"


def test_folder_of_broken_files_is_an_error(tmp_path, params, execution):
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "a.png").write_bytes(b"")
    (folder / "b.jpg").write_bytes(b"nope")
    with pytest.raises(ReportgenError, match="no readable image"):
        analyze(folder, tmp_path / "out", params, execution)


@pytest.mark.parametrize(
    "bad, message",
    [
        (dict(levels=0), "--levels"),
        (dict(batch_size=0), "--batch-size"),
        (dict(discard_ratio=1.5), "--discard-ratio"),
        (dict(spread_by="median"), "--spread-by"),
        (dict(spread_by="layer:9"), "layer:9"),
        (dict(rollout_start_layer=2), "--rollout-start-layer 2: the model has 2 layers"),
        (dict(norm_layer=3), "--norm-layer 3: the model has 2 layers"),
        (dict(norm_layer=0), "--norm-layer must be a layer number"),
    ],
)
def test_bad_options_are_clear_errors(folder, params, execution, tmp_path, bad, message):
    from dataclasses import replace

    with pytest.raises(ReportgenError, match=message):
        analyze(folder, tmp_path / "out", replace(params, **bad), execution)


def run_cli(*argv):
    return cli.main([str(a) for a in argv])


def test_cli_errors_are_messages_not_tracebacks(tmp_path, capsys, tiny_vit_dir, folder):
    assert run_cli("analyze", tmp_path / "missing", "--out", tmp_path / "o") == 2
    err = capsys.readouterr().err
    assert "reportgen: error: image folder not found" in err and "Traceback" not in err
    assert run_cli("analyze", folder, "--out", tmp_path / "o", "--model", tmp_path / "nomodel") == 2
    assert "model folder not found" in capsys.readouterr().err


def test_cli_analyze_reports_cache_use(tmp_path, capsys, tiny_vit_dir, folder):
    argv = [
        "analyze",
        folder,
        "--out",
        tmp_path / "o",
        "--model",
        tiny_vit_dir,
        "--device",
        "cpu",
        "--cache-dir",
        tmp_path / "cache",
    ]
    assert run_cli(*argv) == 0
    assert "7 by the model" in capsys.readouterr().err
    assert run_cli(*argv) == 0
    assert "model not run" in capsys.readouterr().err
