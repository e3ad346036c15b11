"""Deletion and insertion faithfulness through a model: a stand-in model whose right answer is
known (orders, curves, targets, shared and batched forwards, bad input), real tiny ViT-family
models (shapes, JSON, metric names, the plain computation, bfloat16, the fast attention path),
and a build that ranks the maps on the page and caches the scores."""

import json
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from conftest import tiny_model_dir

from reportgen.analysis import model
from reportgen.analysis.backends.huggingface import attention_implementation
from reportgen.analysis.extract import model_inputs, seen_images
from reportgen.analysis.faithfulness import (
    BACKBONE_METRIC,
    CLASSIFIER_METRIC,
    FaithfulnessItem,
    baseline_image,
    blur_sigma,
    faithfulness,
    pixel_masks,
)
from reportgen.analysis.model import LoadedModel, ModelRef
from reportgen.errors import ReportgenError
from reportgen.methods.faithfulness import FaithfulnessResult, area_under_curve, patch_order
from reportgen.record import ModelSummary

# --- a stand-in model whose right answer is known ----------------------------------------------

PATCH, GRID = 8, (4, 4)
# how much each patch matters to the stand-in: all distinct, in no particular spatial order
IMPORTANCE = np.random.default_rng(7).permutation(16).reshape(GRID) / 15.0


class PatchContrastModel(torch.nn.Module):
    """A model whose evidence is each patch's pixel contrast times a known importance.

    Backbone: the CLS embedding is the vector of evidence per patch. Classifier: class 0's logit
    is the summed evidence minus 4, class 1's is 0. A patch that shows a flat baseline has no
    contrast, so it gives no evidence: the importance map is the model's true patch order.
    """

    def __init__(self, classifier: bool):
        super().__init__()
        self.classifier = classifier
        self.weights = torch.tensor(IMPORTANCE, dtype=torch.float32).flatten()

    def forward(self, pixel_values):
        patches = pixel_values.unfold(2, PATCH, PATCH).unfold(3, PATCH, PATCH)
        contrast = patches.std(dim=(-2, -1), correction=0).mean(dim=1).flatten(1)
        evidence = contrast * self.weights
        if self.classifier:
            logits = torch.stack([evidence.sum(1) - 4.0, torch.zeros(len(evidence))], dim=1)
            return SimpleNamespace(logits=logits)
        return SimpleNamespace(last_hidden_state=evidence[:, None, :])


def stand_in(classifier: bool) -> LoadedModel:
    summary = ModelSummary(
        model_id="stand-in",
        source="local",
        revision=None,
        weights_sha256=None,
        family="stand-in",
        layers=1,
        heads=1,
        hidden_size=16,
        head_dim=16,
        patch_size=(PATCH, PATCH),
        image_size=(32, 32),
        grid=GRID,
        n_prefix=1,
        num_classes=2 if classifier else None,
    )
    processor = SimpleNamespace(
        do_rescale=True,
        rescale_factor=1 / 255,
        do_normalize=True,
        image_mean=[0.5] * 3,
        image_std=[0.5] * 3,
    )
    return LoadedModel(
        ref=ModelRef("stand-in", "local", "."),
        model=PatchContrastModel(classifier),
        processor=processor,
        device="cpu",
        summary=summary,
        labels={0: "yes", 1: "no"} if classifier else None,
    )


def checkerboard() -> np.ndarray:
    """Black and white pixels in a checkerboard: every patch has the same contrast."""
    rows, cols = np.indices((32, 32))
    return np.repeat((((rows + cols) % 2) * 255).astype(np.uint8)[..., None], 3, axis=2)


ITEM = FaithfulnessItem(
    checkerboard(), {"true": IMPORTANCE, "reversed": -IMPORTANCE, "flat": np.zeros(GRID)}
)


@pytest.mark.parametrize("baseline", ["mean", "blur"])
@pytest.mark.parametrize("classifier", [True, False], ids=["classifier", "backbone"])
def test_the_models_own_order_beats_random_and_its_reverse_is_worst(classifier, baseline):
    result = faithfulness(stand_in(classifier), [ITEM, ITEM], steps=8, baseline=baseline)
    scores = result.maps
    assert list(scores) == ["true", "reversed", "flat", "random"]
    assert scores["true"].deletion_auc < scores["random"].deletion_auc
    assert scores["random"].deletion_auc < scores["reversed"].deletion_auc
    assert scores["true"].insertion_auc > scores["random"].insertion_auc
    assert scores["random"].insertion_auc > scores["reversed"].insertion_auc
    ranking = result.ranking()
    assert ranking[0] == "true" and ranking[-1] == "reversed"
    assert result.metric == (CLASSIFIER_METRIC if classifier else BACKBONE_METRIC)
    assert (result.images, result.steps, result.baseline) == (2, 8, baseline)


def test_backbone_curves_follow_the_evidence_left():
    """Mean baseline: a perturbed patch's evidence is 0, so the cosine to the unperturbed CLS is
    |evidence kept| / |all evidence| at every step."""
    result = faithfulness(stand_in(False), [ITEM], steps=4, baseline="mean")
    order = np.argsort(-IMPORTANCE.ravel())  # importances are distinct: no ties
    weights = IMPORTANCE.ravel()
    total = np.linalg.norm(weights)
    kept_after = [np.linalg.norm(weights[order[count:]]) / total for count in (0, 4, 8, 12, 16)]
    kept_first = [np.linalg.norm(weights[order[:count]]) / total for count in (0, 4, 8, 12, 16)]
    np.testing.assert_allclose(result.maps["true"].deletion_curve, kept_after, atol=1e-6)
    np.testing.assert_allclose(result.maps["true"].insertion_curve, kept_first, atol=1e-6)


def test_classifier_scores_the_given_target_else_the_top_class():
    loaded = stand_in(True)
    top = faithfulness(loaded, [ITEM], steps=4, baseline="mean").maps["true"]
    other = faithfulness(
        loaded, [FaithfulnessItem(ITEM.seen_image, ITEM.maps, target=1)], steps=4, baseline="mean"
    ).maps["true"]
    assert top.deletion_curve[0] == pytest.approx(1 / (1 + np.exp(-4.0)))  # class 0, unperturbed
    np.testing.assert_allclose(other.deletion_curve, 1 - np.array(top.deletion_curve), atol=1e-6)


class CountingModel(PatchContrastModel):
    """The stand-in, recording the size of every batch it runs."""

    def __init__(self, classifier: bool):
        super().__init__(classifier)
        self.batches: list[int] = []

    def forward(self, pixel_values):
        self.batches.append(len(pixel_values))
        return super().forward(pixel_values)


def counting(classifier: bool = False) -> LoadedModel:
    loaded = stand_in(classifier)
    loaded.model = CountingModel(classifier)
    return loaded


def test_random_insertion_reuses_its_deletion_images():
    """One map at 8 steps of 16 patches: the unperturbed and the baseline image, 7 more for each
    of the map's curves, and 7 for random, whose insertion (its order reversed) adds none."""
    loaded = counting()
    item = FaithfulnessItem(checkerboard(), {"true": IMPORTANCE})
    result = faithfulness(loaded, [item], steps=8, baseline="mean", batch_size=64)
    assert sum(loaded.model.batches) == 2 + 3 * 7
    shuffled = result.maps["random"]
    # deletion after k steps shows what insertion shows after 8 - k: the same images
    np.testing.assert_allclose(shuffled.insertion_curve, shuffled.deletion_curve[::-1])


def test_batches_run_across_images_with_the_same_scores():
    loaded = counting()
    other = FaithfulnessItem(checkerboard()[::-1].copy(), ITEM.maps)  # the same contrasts
    together = faithfulness(loaded, [ITEM, other, ITEM], steps=4, baseline="blur", batch_size=64)
    assert loaded.model.batches == [3 * 17]  # 17 distinct images each, in one batch
    loaded.model.batches.clear()
    small = faithfulness(loaded, [ITEM, other, ITEM], steps=4, baseline="blur", batch_size=5)
    assert loaded.model.batches == [5] * 10 + [1]  # batches run on from one image to the next
    assert small == together  # how the rows are batched changes nothing
    for name in ("true", "reversed", "flat"):  # each image on its own gives its own curves
        alone = faithfulness(counting(), [ITEM], steps=4, baseline="blur").maps[name]
        assert together.maps[name].deletion_aucs[0] == pytest.approx(alone.deletion_auc)
        assert together.maps[name].deletion_aucs[2] == pytest.approx(alone.deletion_auc)


def test_each_map_costs_two_forwards_a_step_and_random_one():
    """Three maps at 4 steps: per image the unperturbed and the fully blurred image once, then 3
    deletion and 3 insertion images per map and 3 for random: 2 + (2 * 3 + 1) * 3 = 23."""
    loaded = counting()
    rng = np.random.default_rng(3)  # orders that share no perturbed image but the two ends
    maps = {"true": IMPORTANCE, "b": rng.random(GRID), "c": rng.random(GRID)}
    faithfulness(loaded, [FaithfulnessItem(checkerboard(), maps)] * 2, steps=4, batch_size=64)
    assert sum(loaded.model.batches) == 2 * 23


@pytest.mark.parametrize(
    "change",
    [
        {"baseline": "black"},
        {"steps": 0},
        {"batch_size": 0},
        {"items": []},
        {"items": [FaithfulnessItem(checkerboard()[:16], {"a": np.zeros(GRID)})]},
        {"items": [FaithfulnessItem(checkerboard(), {"a": np.zeros((3, 4))})]},
        {"items": [FaithfulnessItem(checkerboard(), {"random": np.zeros(GRID)})]},
        {"items": [FaithfulnessItem(checkerboard(), {}, target=2)]},
    ],
)
def test_bad_input_is_a_message(change):
    arguments = {"items": [ITEM], "steps": 2, "baseline": "mean", "batch_size": 4, **change}
    with pytest.raises(ReportgenError, match="faithfulness"):
        faithfulness(stand_in(True), arguments.pop("items"), **arguments)


def test_a_target_needs_a_classifier():
    with pytest.raises(ReportgenError, match="not a class"):
        faithfulness(stand_in(False), [FaithfulnessItem(checkerboard(), {}, target=0)])


# --- real tiny models --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("family", "metric"), [("vit", CLASSIFIER_METRIC), ("dinov2", BACKBONE_METRIC)]
)
def test_tiny_models_give_full_results(tmp_path_factory, family, metric):
    loaded = model.load(model.resolve(str(tiny_model_dir(tmp_path_factory, family))), "cpu")
    rng = np.random.default_rng(0)
    items = [
        FaithfulnessItem(
            rng.integers(0, 256, (32, 32, 3), dtype=np.uint8),
            {
                "mean": rng.random((4, 4)),
                "rollout": rng.random((4, 4)),
                "extra": rng.random((4, 4)),
            },
        )
        for _ in range(2)
    ]
    del items[1].maps["extra"]  # only the maps every image has are scored
    result = faithfulness(loaded, items, steps=4, batch_size=7)
    data = json.loads(json.dumps(result.to_json()))
    assert (data["metric"], data["steps"], data["images"], data["baseline"]) == (
        metric,
        4,
        2,
        "blur",
    )
    assert list(data["maps"]) == ["mean", "rollout", "random"]
    assert sorted(result.ranking()) == ["mean", "random", "rollout"]
    for scores in result.maps.values():
        assert len(scores.deletion_curve) == len(scores.insertion_curve) == 5
        # both curves start or end at the unperturbed image, and at the full baseline
        assert scores.deletion_curve[0] == pytest.approx(scores.insertion_curve[-1])
        assert scores.deletion_curve[-1] == pytest.approx(scores.insertion_curve[0])
        low = 0.0 if metric == CLASSIFIER_METRIC else -1.0  # a probability, or a cosine
        for curve in (scores.deletion_curve, scores.insertion_curve):
            assert low - 1e-6 <= min(curve) and max(curve) <= 1.0 + 1e-6
        if metric == BACKBONE_METRIC:
            assert scores.deletion_curve[0] == pytest.approx(1.0)  # the CLS against itself
    assert FaithfulnessResult.from_json(data) == result


def direct(loaded: LoadedModel, item: FaithfulnessItem, steps: int) -> dict[str, tuple]:
    """Per map, (deletion area, insertion area) computed the plain way: every point of every
    curve a perturbed image of its own, run through the model alone."""
    image = item.seen_image.astype(np.float32)
    blurred = baseline_image(item.seen_image, "blur", blur_sigma(loaded.summary.patch_size))
    summary = loaded.summary
    n_patches = summary.grid[0] * summary.grid[1]

    def score(removed: np.ndarray, reference: np.ndarray | None) -> tuple[float, np.ndarray]:
        mask = pixel_masks(removed[None], summary.grid, summary.patch_size, summary.image_size)
        pixels = np.where(mask[0][..., None], blurred, image)
        with torch.inference_mode():
            output = loaded.outputs(model_inputs(pixels[None], loaded.processor), fast=False)[0]
        if reference is None:
            return 1.0, output
        return float(
            output @ reference / np.linalg.norm(output) / np.linalg.norm(reference)
        ), output

    _, reference = score(np.zeros(n_patches, dtype=bool), None)
    areas = {}
    orders = {name: patch_order(values) for name, values in item.maps.items()}
    for name, order in orders.items():
        counts = [int(round(k * n_patches / steps)) for k in range(steps + 1)]
        deletion = [score(np.isin(np.arange(n_patches), order[:c]), reference)[0] for c in counts]
        insertion = [score(~np.isin(np.arange(n_patches), order[:c]), reference)[0] for c in counts]
        areas[name] = (area_under_curve(deletion), area_under_curve(insertion))
    return areas


def test_shared_forwards_give_what_the_plain_computation_gives(tmp_path_factory):
    """The deduplicated, batched, fast-path scores equal each curve point computed on its own
    (eager attention, one image per forward), area by area and in the ranking."""
    loaded = model.load(model.resolve(str(tiny_model_dir(tmp_path_factory, "dinov2"))), "cpu")
    rng = np.random.default_rng(5)
    item = FaithfulnessItem(
        rng.integers(0, 256, (32, 32, 3), dtype=np.uint8),
        {"a": rng.random((4, 4)), "b": rng.random((4, 4)), "c": -np.arange(16.0).reshape(4, 4)},
    )
    result = faithfulness(loaded, [item], steps=4, batch_size=5)
    expected = direct(loaded, item, steps=4)
    for name, (deletion, insertion) in expected.items():
        assert result.maps[name].deletion_auc == pytest.approx(deletion, abs=1e-5)
        assert result.maps[name].insertion_auc == pytest.approx(insertion, abs=1e-5)
    plain = sorted(expected, key=lambda name: (expected[name][0] - expected[name][1], name))
    assert [name for name in result.ranking() if name != "random"] == plain


def test_bfloat16_forwards_stay_close_to_float32_and_say_so(tmp_path_factory):
    loaded = model.load(model.resolve(str(tiny_model_dir(tmp_path_factory, "dinov2"))), "cpu")
    rng = np.random.default_rng(6)
    items = [
        FaithfulnessItem(
            rng.integers(0, 256, (32, 32, 3), dtype=np.uint8), {"a": rng.random((4, 4))}
        )
        for _ in range(2)
    ]
    seen = []
    linear = next(part for part in loaded.model.modules() if isinstance(part, torch.nn.Linear))
    hook = linear.register_forward_hook(lambda module, args, output: seen.append(output.dtype))
    full, half = faithfulness(loaded, items), faithfulness(loaded, items, bfloat16=True)
    hook.remove()
    assert set(seen) == {torch.float32, torch.bfloat16}  # autocast: the weights stay float32
    assert next(loaded.model.parameters()).dtype == torch.float32
    assert (full.precision, half.precision) == ("float32", "bfloat16")
    for name in ("a", "random"):
        for area in ("deletion_auc", "insertion_auc"):
            assert getattr(half.maps[name], area) == pytest.approx(
                getattr(full.maps[name], area), abs=0.02
            )


def test_a_model_loaded_in_reduced_precision_scores_in_its_own(tmp_path_factory):
    path = str(tiny_model_dir(tmp_path_factory, "dinov2"))
    loaded = model.load(model.resolve(path), "cpu", dtype="bfloat16")
    item = FaithfulnessItem(np.zeros((32, 32, 3), dtype=np.uint8), {"a": np.eye(4)})
    assert faithfulness(loaded, [item]).precision == "bfloat16"
    assert faithfulness(loaded, [item], bfloat16=True).precision == "bfloat16"


@pytest.mark.parametrize("family", ["vit", "dinov2"])
def test_outputs_take_the_fast_attention_path_and_switch_back(tmp_path_factory, family):
    loaded = model.load(model.resolve(str(tiny_model_dir(tmp_path_factory, family))), "cpu")
    seen = []
    hook = loaded.model.register_forward_pre_hook(
        lambda module, args: seen.append(module.config._attn_implementation)
    )
    pixels = model_inputs(
        np.random.default_rng(2).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8),
        loaded.processor,
    )
    with torch.inference_mode():
        fast, eager = loaded.outputs(pixels), loaded.outputs(pixels, fast=False)
    hook.remove()
    assert seen == ["sdpa", "eager"]
    assert loaded.model.config._attn_implementation == "eager"  # the maps need the weights
    np.testing.assert_allclose(fast, eager, atol=1e-5)


def test_attention_implementation_leaves_a_model_that_cannot_switch_alone():
    plain = torch.nn.Linear(2, 2)
    with attention_implementation(plain, "sdpa"):
        assert not hasattr(plain, "config")


def test_model_inputs_are_what_the_processor_sends(tmp_path_factory):
    """The seen image re-normalised is the processor's own input for it (no resize needed)."""
    loaded = model.load(model.resolve(str(tiny_model_dir(tmp_path_factory, "vit"))), "cpu")
    seen = np.random.default_rng(1).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    expected = loaded.processor(images=list(seen), return_tensors="np")["pixel_values"]
    np.testing.assert_allclose(model_inputs(seen, loaded.processor), expected, atol=1e-5)
    assert np.array_equal(seen_images(model_inputs(seen, loaded.processor), loaded.processor), seen)


# --- in a build: results.json, the "Which map to trust" section, the cache ---------------------


def test_build_with_faithfulness_ranks_the_maps_on_the_page(
    tiny_vit_dir, tmp_path, execution, monkeypatch
):
    from conftest import write_images

    from reportgen import api
    from reportgen.analysis import analyze as analyze_module
    from reportgen.publish.options import ReportOptions, parse_date
    from reportgen.results import AnalysisParams

    folder = write_images(tmp_path / "images", 5)
    params = AnalysisParams(
        model=str(tiny_vit_dir),
        faithfulness=True,
        faithfulness_images=3,
        faithfulness_steps=4,
        faithfulness_precision="float32",
    )
    report_options = ReportOptions(slug="faith", date=parse_date("2024-05-24"))
    report = api.build(folder, tmp_path / "site", params, report_options, execution)
    stored = json.loads((report / "data" / "results.json").read_text())["faithfulness"]
    assert stored["images"] == 3 and stored["steps"] == 4 and stored["precision"] == "float32"
    assert stored["metric"] == CLASSIFIER_METRIC
    assert set(stored["maps"]) == {"max", "min", "mean", "rollout", "random"}
    ranking = FaithfulnessResult.from_json(stored).ranking()
    page = (report / "index.html").read_text()
    assert "Which map to trust" in page and 'src="charts/faithfulness.svg"' in page
    rows = [page.index(f"<code>{name}</code></td>") for name in ranking]
    assert rows == sorted(rows)  # the table lists the maps best first
    assert all(len(scores["deletion_aucs"]) == 3 for scores in stored["maps"].values())
    assert "Lead over the next map" in page and page.count(" ± ") >= 3 * len(ranking)
    assert "charts/faithfulness.svg" in json.loads((report / "manifest.json").read_text())["files"]
    assert "Which map to trust" in (report / "README.md").read_text()

    def no_model(*args, **kwargs):
        raise AssertionError("the model was loaded although every score is cached")

    monkeypatch.setattr(analyze_module, "load", no_model)
    again = api.build(folder, tmp_path / "site", params, report_options, execution)
    assert json.loads((again / "data" / "results.json").read_text())["faithfulness"] == stored
    assert "forward passes in" not in page  # float32 goes unsaid, as in earlier reports

    monkeypatch.undo()
    in_bfloat16 = replace(params, faithfulness_precision="bfloat16")
    report = api.build(folder, tmp_path / "site", in_bfloat16, report_options, execution)
    scored = json.loads((report / "data" / "results.json").read_text())["faithfulness"]
    assert scored["precision"] == "bfloat16"  # not the float32 scores: the cache key has it
    assert "(forward passes in bfloat16)." in (report / "index.html").read_text()
