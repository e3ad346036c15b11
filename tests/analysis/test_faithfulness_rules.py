"""Deletion and insertion faithfulness without a model: patch orders and pixel masks, areas and
curves with their certainty, picking the images to score, the result (ranking, leads, JSON), and
the choices a run makes (the precision of its forwards, which maps it scores)."""

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from reportgen.analysis.faithfulness import (
    CLASSIFIER_METRIC,
    forward_precision,
    native_bfloat16,
    pixel_masks,
)
from reportgen.errors import ReportgenError
from reportgen.methods.faithfulness import (
    CERTAINTY,
    FaithfulnessResult,
    Lead,
    MapFaithfulness,
    area_under_curve,
    deviation,
    mean_curve,
    patch_order,
    perturbed_counts,
    pick_evenly,
    random_order,
    score_maps,
    standard_error,
    step_masks,
)

# --- orders and masks --------------------------------------------------------------------------


def test_patch_order_is_descending_with_ties_in_index_order():
    attention = np.array([[1.0, 3.0, 0.5], [3.0, 0.5, 1.0]])
    assert patch_order(attention).tolist() == [1, 3, 0, 5, 2, 4]


def test_patch_order_of_a_constant_map_is_the_index_order():
    assert patch_order(np.full((3, 3), 0.2)).tolist() == list(range(9))


@pytest.mark.parametrize("bad", [np.array([]), np.array([1.0, np.nan]), np.array([np.inf, 0])])
def test_patch_order_refuses_empty_or_non_finite_maps(bad):
    with pytest.raises(ValueError):
        patch_order(bad)


def test_random_order_is_a_seeded_permutation():
    order = random_order(50, (0, 3))
    assert sorted(order.tolist()) == list(range(50))
    assert order.tolist() == random_order(50, (0, 3)).tolist()
    assert order.tolist() != random_order(50, (0, 4)).tolist()  # each image its own order


def test_perturbed_counts_round_half_up():
    assert perturbed_counts(16, 16).tolist() == list(range(17))
    assert perturbed_counts(10, 4).tolist() == [0, 3, 5, 8, 10]  # 2.5 -> 3, 7.5 -> 8
    assert perturbed_counts(2, 4).tolist() == [0, 1, 1, 2, 2]  # 0.5 -> 1, 1.5 -> 2


@given(st.integers(1, 2000), st.integers(1, 64))
def test_perturbed_counts_go_from_none_to_all_within_half_a_patch(n_patches, steps):
    counts = perturbed_counts(n_patches, steps)
    assert counts[0] == 0 and counts[-1] == n_patches and len(counts) == steps + 1
    assert np.all(np.diff(counts) >= 0)
    nominal = np.arange(steps + 1) * n_patches / steps
    assert np.all(np.abs(counts - nominal) <= 0.5)


def test_step_masks_mark_the_first_patches_of_the_order():
    order = np.array([4, 0, 2, 1, 3, 5])
    masks = step_masks(order, 3)
    assert masks.shape == (4, 6)
    for row, count in zip(masks, [0, 2, 4, 6], strict=True):
        assert sorted(np.flatnonzero(row).tolist()) == sorted(order[:count].tolist())
    assert np.all(masks[:-1] <= masks[1:])  # each step keeps the previous step's patches


def test_step_masks_refuse_zero_steps():
    with pytest.raises(ValueError):
        step_masks(np.arange(4), 0)


def test_pixel_masks_cover_whole_patches_in_row_major_order():
    masks = pixel_masks(np.eye(6, dtype=bool)[[4]], (2, 3), (2, 3), (5, 9))
    expected = np.zeros((5, 9), dtype=bool)
    expected[2:4, 3:6] = True  # patch 4 = row 1, column 1; row 4 of pixels is outside the grid
    assert np.array_equal(masks[0], expected)


# --- areas and curves --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("curve", "area"),
    [
        ([0.7] * 17, 0.7),
        (np.linspace(0, 1, 9), 0.5),
        ([1.0, 0.0], 0.5),
        ([0.0, 1.0, 0.0], 0.5),
        ([1.0, 1.0, 0.0, 0.0, 0.0], 0.375),  # trapezoids of width 1/4: (1 + 0.5 + 0 + 0) / 4
    ],
)
def test_area_under_curve_is_the_trapezoid_rule_on_0_to_1(curve, area):
    assert area_under_curve(curve) == pytest.approx(area)


@pytest.mark.parametrize("bad", [[0.5], [], [[0.1, 0.2]]])
def test_area_needs_a_curve_of_two_or_more_points(bad):
    with pytest.raises(ValueError):
        area_under_curve(bad)


def test_mean_curve_is_point_wise():
    assert mean_curve([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]).tolist() == [0.5, 0.0, 0.5]
    with pytest.raises(ValueError):
        mean_curve([])


def test_score_maps_average_per_image_areas_and_curves():
    scores = score_maps(
        {"a": [[1.0, 0.0], [1.0, 1.0]]},
        {"a": [[0.0, 1.0], [0.0, 0.0]]},
    )
    assert scores["a"] == MapFaithfulness(
        0.75, 0.25, [1.0, 0.5], [0.0, 0.5], deletion_aucs=[0.5, 1.0], insertion_aucs=[0.5, 0.0]
    )


def test_standard_error_and_spread_are_the_sample_deviation_over_the_images():
    assert deviation([1.0, 3.0]) == pytest.approx(np.sqrt(2))
    assert standard_error([1.0, 3.0]) == pytest.approx(1.0)  # sqrt(2) / sqrt(2)
    assert standard_error([0.2, 0.2, 0.2]) == pytest.approx(0.0, abs=1e-15)
    assert standard_error([0.5]) is None and deviation([]) is None  # fewer than two images


def test_certainty_is_of_the_areas_and_of_their_per_image_difference():
    scores = MapFaithfulness(0.5, 0.5, [1.0, 0.0], [0.0, 1.0], [0.2, 0.4, 0.9], [0.3, 0.5, 1.0])
    certainty = scores.certainty()
    assert certainty["score_sd"] == pytest.approx(0.0, abs=1e-15)  # always ahead by 0.1
    assert certainty["deletion_se"] == pytest.approx(standard_error([0.2, 0.4, 0.9]))
    assert certainty["insertion_se"] == pytest.approx(certainty["deletion_se"])
    old = MapFaithfulness(0.5, 0.5, [1.0, 0.0], [0.0, 1.0])  # written before 0.x kept images
    assert old.certainty() == dict.fromkeys(CERTAINTY)


# --- picking images ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("levels", "n", "picked"),
    [
        ([], 4, []),  # no images
        ([1, 2, 3], 0, []),
        ([2, 1, 1], 5, [0, 1, 2]),  # fewer images than asked: all of them
        ([1, 1, 1, 1, 2, 3, 3], 4, [0, 1, 4, 5]),  # one per level, then level 1 again
        ([1, 1, 1, 1, 2, 3, 3], 6, [0, 1, 2, 4, 5, 6]),  # level 2 has run out
        ([3, 1, 2, 1], 3, [0, 1, 2]),  # levels in any input order
        ([4, 4, 4, 1], 2, [0, 3]),
    ],
)
def test_pick_evenly_takes_levels_in_turn(levels, n, picked):
    assert pick_evenly(levels, n) == picked


# --- the result --------------------------------------------------------------------------------


def _scores(deletion, insertion):
    return MapFaithfulness(deletion, insertion, [1.0, deletion], [0.0, insertion])


RESULT = FaithfulnessResult(
    metric=CLASSIFIER_METRIC,
    steps=1,
    images=3,
    baseline="blur",
    maps={
        "rollout": _scores(0.5, 1.0),  # +0.5
        "max": _scores(0.125, 0.5),  # +0.375: the lowest deletion, yet not first
        "mean": _scores(0.25, 0.75),  # +0.5, a tie with rollout: goes first by name
        "random": _scores(0.5, 0.5),
    },
)


def test_ranking_is_insertion_minus_deletion_descending():
    assert RESULT.ranking() == ["mean", "rollout", "max", "random"]


def _per_image(deletion_aucs, insertion_aucs):
    return MapFaithfulness(
        float(np.mean(deletion_aucs)),
        float(np.mean(insertion_aucs)),
        [1.0, 0.0],
        [0.0, 1.0],
        deletion_aucs,
        insertion_aucs,
    )


PER_IMAGE = FaithfulnessResult(
    metric=CLASSIFIER_METRIC,
    steps=1,
    images=3,
    baseline="blur",
    maps={
        "mean": _per_image([0.1, 0.2, 0.3], [0.9, 0.8, 0.7]),  # scores 0.8, 0.6, 0.4
        "max": _per_image([0.2, 0.3, 0.4], [0.8, 0.7, 0.6]),  # 0.6, 0.4, 0.2: always 0.2 behind
        "random": _per_image([0.5, 0.5, 0.5], [0.4, 0.8, 0.6]),  # -0.1, 0.3, 0.1
    },
)


def test_leads_pair_each_map_with_the_next_over_the_same_images():
    leads = PER_IMAGE.leads()
    assert PER_IMAGE.ranking() == ["mean", "max", "random"]
    assert set(leads) == {"mean", "max"}  # the last map leads nothing
    assert leads["mean"].mean == pytest.approx(0.2)
    assert leads["mean"].se == pytest.approx(0.0, abs=1e-15)
    assert leads["mean"].sure  # ahead on every image by the same amount
    assert leads["max"].mean == pytest.approx(0.3)  # per image 0.6 + 0.1, 0.4 - 0.3, 0.2 - 0.1
    assert leads["max"].se == pytest.approx(standard_error([0.7, 0.1, 0.1]))  # 0.2
    assert not leads["max"].sure  # 0.3 is within two standard errors


def test_lead_is_sure_only_beyond_two_standard_errors():
    assert Lead(0.3, 0.1).sure and not Lead(0.2, 0.1).sure and not Lead(0.5, None).sure


def test_results_without_per_image_areas_have_no_leads():
    assert RESULT.leads() == {}


def test_json_has_exactly_the_documented_keys_and_round_trips():
    data = json.loads(json.dumps(PER_IMAGE.to_json()))
    assert set(data) == {"metric", "steps", "images", "baseline", "precision", "maps"}
    assert set(data["maps"]["max"]) == {
        "deletion_auc",
        "insertion_auc",
        "deletion_curve",
        "insertion_curve",
        "deletion_aucs",
        "insertion_aucs",
        *CERTAINTY,
    }
    assert data["maps"]["max"]["score_sd"] == pytest.approx(0.2)
    assert FaithfulnessResult.from_json(data) == PER_IMAGE


def test_json_of_earlier_versions_reads_back_without_per_image_areas():
    data = json.loads(json.dumps(RESULT.to_json()))
    for scores in data["maps"].values():  # as results.json was before per-image areas
        for key in ("deletion_aucs", "insertion_aucs", *CERTAINTY):
            del scores[key]
    del data["precision"]  # and before bfloat16 forwards: float32
    assert FaithfulnessResult.from_json(data) == RESULT
    assert RESULT.precision == "float32"


# --- the choices of a run: forward precision, the maps scored ----------------------------------


@pytest.mark.parametrize(
    ("choice", "dtype", "native", "used"),
    [
        ("auto", "float32", True, "bfloat16"),
        ("auto", "float32", False, "float32"),
        ("float32", "float32", True, "float32"),
        ("bfloat16", "float32", False, "bfloat16"),  # asked for: emulated, slow, but as asked
        ("auto", "float16", True, "float16"),  # --dtype float16: the model's own
        ("float32", "bfloat16", False, "bfloat16"),
    ],
)
def test_forward_precision(monkeypatch, choice, dtype, native, used):
    from reportgen.analysis import faithfulness as module

    monkeypatch.setattr(module, "native_bfloat16", lambda device: native)
    assert forward_precision(choice, dtype, "cpu") == used


def test_native_bfloat16_asks_the_cpu(monkeypatch):
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True)
    assert native_bfloat16("cpu")
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)
    assert not native_bfloat16("cpu")
    assert not native_bfloat16("mps")


@pytest.mark.parametrize(
    ("maps", "scored"),
    [("aggregates", ["max", "rollout"]), ("all", ["max", "rollout", "layer:1", "layer:2"])],
)
def test_layer_maps_are_scored_on_request(maps, scored):
    from reportgen.analysis.analyze import _scored_maps
    from reportgen.results import AnalysisParams

    layers = np.arange(32.0).reshape(2, 4, 4)
    record = SimpleNamespace(maps={"layers": layers, "max": layers[1], "rollout": layers[0]})
    chosen = _scored_maps(record, AnalysisParams(faithfulness_maps=maps))
    assert list(chosen) == scored
    if maps == "all":
        assert np.array_equal(chosen["layer:2"], layers[1])


def test_an_unknown_choice_of_maps_is_a_message():
    from reportgen.results import AnalysisParams

    with pytest.raises(ReportgenError, match="--faithfulness-maps must be one of aggregates, all"):
        AnalysisParams(faithfulness_maps="layers").validated()
