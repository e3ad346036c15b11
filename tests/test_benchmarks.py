"""The benchmark harness runs end to end (quick mode). No timing is asserted: benchmarks are
measured, not tested."""

import json

import numpy as np
import pytest

from benchmarks import compare, faithfulness, incremental, run, shards, storage

pytestmark = pytest.mark.slow


def test_quick_benchmark_runs_and_reports_every_figure(tmp_path, capsys):
    results = run.main(["--quick", "--json", str(tmp_path / "bench.json")])
    written = json.loads((tmp_path / "bench.json").read_text())
    assert written == json.loads(json.dumps(results))
    for key in (
        "bare_images_per_s",
        "build_images_per_s",
        "build_over_bare",
        "rerender_fraction",
        "cached_rebuild_fraction",
        "speedup_over_naive",
        "rss_ratio",
        "build_over_bare_process",
        "speedup_over_naive_process",
        "maps_bytes_per_image",
    ):
        assert results[key] > 0, key
    assert len(results["bare_process_s"]) == len(results["build_process_s"]) == 1
    assert set(results["stages_images_per_s"]) == {
        "preprocess_images_per_s",
        "forward_images_per_s",
        "transfer_images_per_s",
        "deliver_images_per_s",
    }
    assert all(rate > 0 for rate in results["stages_images_per_s"].values())
    assert "1" in results["render_images_per_s"]
    assert set(results["peak_rss_mib"]) == {"10", "40"}
    assert set(results["trust_costs"]) == {
        "plain_s_per_image",
        "relevance_extra_s_per_image",
        "faithfulness_s_per_scored_image",
    }
    # a difference of two timings of a tiny model: its sign is noise, so only its presence
    assert all(np.isfinite(value) for value in results["trust_costs"].values())
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1].startswith("ratios: build/bare=")


def test_scale_benchmark_runs_and_reports_every_figure(tmp_path, capsys):
    results = run.main(["--scale", "51,53", "--json", str(tmp_path / "scale.json")])
    assert json.loads((tmp_path / "scale.json").read_text()) == json.loads(json.dumps(results))
    for point in results["counts"].values():
        assert point["cold_build_s"] > 0 and point["incremental_fraction"] > 0
        assert point["maps_bytes_per_image"] > 0 and point["peak_rss_mib"] > 0
        weights = point["heaviest_page_bytes"]
        assert set(weights) == {"html", "gfm", "jekyll", "html, control used"}
        assert all(weight > 0 for kinds in weights.values() for weight in kinds.values())
        assert weights["html, control used"]["gallery"] > weights["html"]["gallery"]  # sprites
        assert point["clicks_to_every_image"] == {"html": 2, "gfm": 2}
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("scale: rss 53/51=")


def test_storage_benchmark_measures_both_head_encodings(tiny_vit_dir, capsys):
    results = storage.main(["--model", str(tiny_vit_dir), "--images", "3"])
    quantised, float16 = results["4-bit heads (default)"], results["float16 heads (keep_heads)"]
    assert "cls_heads_range.npy" in quantised["member_bytes_per_image"]
    assert quantised["head_error_over_grid_range"] <= 1 / 30 * (1 + 1e-5)  # 4 bits
    assert float16["layer_map_error_over_its_max"] <= 2**-11  # half a float16 ulp
    assert "float16 heads (keep_heads)" in capsys.readouterr().out


def test_shards_benchmark_times_both_builds_and_prints_the_ratio(tmp_path, capsys):
    results = shards.main(["--rows", "12", "--shards", "2", "--rounds", "1"])
    assert set(results["images_per_s"]) == {"folder", "shards"}
    assert all(rate > 0 for rate in results["images_per_s"].values())
    assert results["shards_over_folder"] > 0
    assert len(results["shards_over_folder_by_round"]) == 1
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith(f"shards: shards/folder={results['shards_over_folder']:.3f} per image")


def test_compare_benchmark_times_the_builds_and_the_comparison(capsys):
    results = compare.main(["--rows", "12", "--rounds", "2"])
    assert set(results["seconds"]) == {"build patch8", "build patch16", "compare"}
    assert len(results["compare_over_build_by_round"]) == len(results["seconds_by_round"]) == 2
    assert all(value > 0 for value in results["seconds"].values())
    weights = results["heaviest_page_bytes"]
    assert set(weights) == {"html", "gfm", "jekyll"}
    assert all(set(kinds) == {"front", "gallery", "image"} for kinds in weights.values())
    # an html image page frames a run's explorer: its data and scripts count
    assert weights["html"]["image"] > weights["gfm"]["image"] + 10_000
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith(f"compare: compare/build={results['compare_over_build']:.3f}")


def test_storage_benchmark_weighs_a_report_by_kind(tiny_vit_dir, capsys):
    results = storage.main(["--model", str(tiny_vit_dir), "--report", "3"])
    sizes = results["bytes_by_kind"]
    assert {"figures", "explorer pages", "maps files", "pages", "sprites"} <= set(sizes)
    assert "explorer data" not in sizes  # by default the explorer reads the maps files
    assert all(size > 0 for size in sizes.values())
    assert set(results["flavour_only_bytes"]) == {"jekyll", "gfm"}
    first = capsys.readouterr().out.splitlines()[0]
    assert f"{sum(sizes.values()) / 3 / 1000:.1f} kB per image" in first


def test_faithfulness_benchmark_times_before_and_after_on_the_same_images(
    tmp_path, tiny_vit_dir, capsys
):
    from conftest import write_images

    folder = write_images(tmp_path / "images", 3)
    arguments = ["--model", str(tiny_vit_dir), "--folder", str(folder), "--images", "2"]
    results = faithfulness.main([*arguments, "--rounds", "1", "--json", str(tmp_path / "f.json")])
    assert json.loads((tmp_path / "f.json").read_text()) == json.loads(json.dumps(results))
    assert results["images"] == 2
    assert results["steps"] == {"before": 16, "after": 4, "after, float32": 4}
    assert results["precision"]["before"] == results["precision"]["after, float32"] == "float32"
    assert results["precision"]["after"] in ("float32", "bfloat16")  # as this CPU allows
    # at most 2 + 9 * (steps - 1) forwards: 4 maps and random; fewer where masks coincide
    forwards = results["forwards_per_scored_image"]
    assert 29 < forwards["before"] <= 137 and 11 < forwards["after"] <= 29
    assert forwards["after"] == forwards["after, float32"]
    assert all(len(times) == 1 for times in results["s_per_scored_image"].values())
    assert sorted(results["ranking"]["before"]) == sorted(results["ranking"]["after"])
    assert (
        capsys.readouterr()
        .out.strip()
        .splitlines()[-1]
        .startswith("faithfulness before/after per scored image: ")
    )


def test_faithfulness_steps_study_compares_fewer_steps_with_16(tmp_path, tiny_vit_dir, capsys):
    from conftest import write_images

    folder = write_images(tmp_path / "images", 2)
    studies = faithfulness.main(["--model", str(tiny_vit_dir), "--steps-study", str(folder)])
    study = studies[str(folder)]
    candidates = ("2 steps", "3 steps", "4 steps", "8 steps")
    assert study["images"] == 2 and set(study) == {"images", "reference", *candidates}
    assert all(0.0 <= study[steps]["difference"] <= 1.0 for steps in candidates)
    assert sorted(study["4 steps"]["ranking"]) == sorted(study["reference"])
    assert "4 steps: largest difference of a mean area" in capsys.readouterr().out


def test_faithfulness_precision_study_compares_bfloat16_with_float32(
    tmp_path, tiny_vit_dir, capsys
):
    from conftest import write_images

    folder = write_images(tmp_path / "images", 2)
    studies = faithfulness.main(["--model", str(tiny_vit_dir), "--precision-study", str(folder)])
    study = studies[str(folder)]
    assert set(study) == {"images", "reference", "bfloat16"}
    assert 0.0 <= study["bfloat16"]["difference"] <= 0.05  # a tiny random model's probabilities
    assert "against float32" in capsys.readouterr().out


def test_incremental_benchmark_runs_and_reports_every_figure(tmp_path, capsys):
    results = incremental.main(["--images", "52", "--added", "2", "--json", str(tmp_path / "i")])
    assert json.loads((tmp_path / "i").read_text()) == json.loads(json.dumps(results))
    for clock in ("wall", "cpu"):
        assert set(results[f"{clock}_fractions"]) == {"added", "title_rebuild", "title_render"}
        assert all(seconds > 0 for seconds in results[f"{clock}_s"].values())
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("incremental: added/cold=")


def test_targets_table_says_which_figures_meet_their_targets(capsys):
    from benchmarks import targets

    results = {
        "faithfulness": {"speedup": 12.5},
        "incremental": {"wall_fractions": {"added": 0.31, "title_render": 0.05}},
    }
    targets.print_targets(results)
    rows = {line[:45].strip(): line for line in capsys.readouterr().out.splitlines()[1:]}
    assert rows["faithfulness, old settings / defaults"].endswith("yes")
    assert rows["rebuild after +20 of 2,000 / cold"].endswith("NO")
    assert "0.310" in rows["rebuild after +20 of 2,000 / cold"]
    assert rows["reportgen render --title / cold"].endswith("yes")
    assert rows["build / fast-vit-rollout, whole processes"].endswith("not measured")


def test_targets_table_prints_the_reports_own_cost_beside_the_peer_figures(capsys):
    from benchmarks import targets

    peer = {"build_over_peer": 1.04, "build_over_bare": 0.87, "build_over_bare_onednn": 0.71}
    targets.print_targets({"peer": peer})
    rows = {line[:45].strip(): line for line in capsys.readouterr().out.splitlines()[1:]}
    assert rows["build / fast-vit-rollout, whole processes"].endswith("yes")
    assert rows["build / bare script, whole processes"].endswith("NO")
    cost = rows["build / bare script with oneDNN linears"]
    assert "0.710" in cost and cost.endswith("no target: the report's own cost")
