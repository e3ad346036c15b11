"""Class-specific relevance (Chefer et al. 2021): the propagation rule by hand, and the batched
model path against an independent per-image, per-layer, per-head implementation of eqs. 5-6."""

from contextlib import contextmanager

import numpy as np
import pytest
import torch
from conftest import tiny_model_dir

from reportgen.analysis import model
from reportgen.analysis.relevance import class_relevance, resolve_target, weighted_attention
from reportgen.errors import ReportgenError
from reportgen.methods.relevance import relevance_map
from reportgen.methods.spread import entropy

# --- the propagation rule, by hand ------------------------------------------------------------


def layers_with(t: int, *entries: dict[tuple[int, int], float]) -> np.ndarray:
    """(layers, t, t) zeros with the given (row, column) entries set, one dict per layer."""
    weighted = np.zeros((len(entries), t, t))
    for layer, values in zip(weighted, entries, strict=True):
        for index, value in values.items():
            layer[index] = value
    return weighted


def test_zero_weighted_attention_gives_a_zero_map():
    result = relevance_map(np.zeros((3, 5, 5)), 1, (2, 2))
    assert result.dtype == np.float64 and result.shape == (2, 2)
    np.testing.assert_array_equal(result, np.zeros((2, 2)))


def test_one_layer_gives_its_cls_row_over_the_patches():
    weighted = np.arange(25, dtype=float).reshape(1, 5, 5) / 100
    np.testing.assert_allclose(relevance_map(weighted, 1, (2, 2)), [[0.01, 0.02], [0.03, 0.04]])


def test_layers_apply_first_to_last():
    # Layer 1: CLS takes 1 from patch 1. Layer 2: CLS takes 0.5 from itself, so it rescales
    # what CLS already holds: row 0 = [1, 1, 0] + 0.5 * [1, 1, 0]. The reverse order gives 1.
    weighted = layers_with(3, {(0, 1): 1.0}, {(0, 0): 0.5})
    np.testing.assert_allclose(relevance_map(weighted, 1, (1, 2)), [[1.5, 0.0]])
    np.testing.assert_allclose(relevance_map(weighted[::-1], 1, (1, 2)), [[1.0, 0.0]])


def test_relevance_flows_through_patches():
    # Layer 1: patch 1 takes from patch 2; layer 2: CLS takes from patch 1, and so from both.
    weighted = layers_with(3, {(1, 2): 1.0}, {(0, 1): 1.0})
    np.testing.assert_allclose(relevance_map(weighted, 1, (1, 2)), [[1.0, 1.0]])


def test_prefix_tokens_stay_out_of_the_map():
    # CLS + distillation token + 1x2 patches: relevance on the distillation token is not shown.
    weighted = layers_with(4, {(0, 1): 0.7, (0, 3): 0.25})
    np.testing.assert_allclose(relevance_map(weighted, 2, (1, 2)), [[0.0, 0.25]])


@pytest.mark.parametrize(
    "shape, n_prefix, grid, message",
    [
        ((2, 2, 5, 5), 1, (2, 2), "must be \\(layers, T, T\\)"),
        ((2, 5, 4), 1, (2, 2), "must be \\(layers, T, T\\)"),
        ((2, 5, 5), 2, (2, 2), "do not split into 2 prefix tokens"),
        ((2, 5, 5), 0, (1, 5), "at least 1"),
    ],
)
def test_relevance_map_refuses_wrong_shapes(shape, n_prefix, grid, message):
    with pytest.raises(ValueError, match=message):
        relevance_map(np.zeros(shape), n_prefix, grid)


# --- class targets ----------------------------------------------------------------------------

LABELS = {0: "tench", 1: "Goldfish", 2: "tabby, tabby cat", 3: "goldfish", 4: "Egyptian cat"}


@pytest.mark.parametrize(
    "spec, expected",
    [
        (None, None),
        ("2", 2),
        (" 0 ", 0),
        ("tabby, tabby cat", 2),
        ("Goldfish", 1),  # an exact match wins over a case-insensitive one
        ("egyptian CAT", 4),
    ],
)
def test_resolve_target(spec, expected):
    assert resolve_target(spec, LABELS) == expected


@pytest.mark.parametrize(
    "spec, message",
    [
        ("9", "out of range.*5 classes.*0 \\('tench'\\)"),
        ("GOLDFISH", "ambiguous.*ids 1, 3"),
        ("shark", "unknown class 'shark'.*0 \\('tench'\\), 1 \\('Goldfish'\\)"),
        ("tabby", "unknown class"),
    ],
)
def test_resolve_target_refuses_unknown_classes(spec, message):
    with pytest.raises(ReportgenError, match=message):
        resolve_target(spec, LABELS)


def test_resolve_target_needs_a_classifier():
    assert resolve_target(None, None) is None
    with pytest.raises(ReportgenError, match="no classifier"):
        resolve_target("3", None)


# --- the model path against an independent implementation ------------------------------------


@pytest.fixture(scope="module", params=[("vit", 1, (4, 6)), ("deit", 2, (4, 4))], ids=str)
def classifier(request, tmp_path_factory):
    """A tiny random classifier (3 layers) loaded as reportgen loads models, with 4 images."""
    family, n_prefix, grid = request.param
    size = [32, 48] if family == "vit" else 32  # a non-square grid catches reshape mistakes
    folder = tiny_model_dir(tmp_path_factory, family, num_hidden_layers=3, image_size=size)
    loaded = model.load(model.resolve(str(folder)), "cpu")
    assert (loaded.summary.n_prefix, loaded.summary.grid) == (n_prefix, grid)
    pixels = torch.randn((4, 3, 32, grid[1] * 8), generator=torch.Generator().manual_seed(3))
    return loaded, pixels


@contextmanager
def softmax_outputs():
    """Collect every softmax output computed inside: in these models, only attention's."""
    original = torch.nn.functional.softmax
    outputs = []

    def spy(*args, **kwargs):
        outputs.append(original(*args, **kwargs))
        return outputs[-1]

    torch.nn.functional.softmax = spy
    try:
        yield outputs
    finally:
        torch.nn.functional.softmax = original


def reference_relevance(net, image: torch.Tensor, target: int, n_prefix: int, grid) -> np.ndarray:
    """Eqs. 5-6 for one image, from the softmax outputs themselves (not output_attentions):
    one gradient call per layer, heads summed one by one, R as the product of (I + A_bar)."""
    with softmax_outputs() as attentions:
        logit = net(pixel_values=image[None]).logits[0, target]
    assert len(attentions) == net.config.num_hidden_layers
    steps = []
    for attention in attentions:
        (gradient,) = torch.autograd.grad(logit, attention, retain_graph=True)
        probabilities, gradient = attention[0].detach().double(), gradient[0].double()
        heads = probabilities.shape[0]
        positive = sum(torch.relu(gradient[h] * probabilities[h]) for h in range(heads))
        steps.append(np.eye(probabilities.shape[-1]) + (positive / heads).numpy())
    relevance = np.linalg.multi_dot(steps[::-1])  # (I + A_L) ... (I + A_1)
    return relevance[0, n_prefix:].reshape(grid)


def test_maps_match_the_independent_implementation(classifier):
    loaded, pixels = classifier
    net, summary = loaded.model, loaded.summary
    with torch.no_grad():
        top1 = net(pixel_values=pixels).logits.argmax(dim=-1).tolist()
    fixed = next(index for index in range(7) if index != top1[0])

    for target, expected_targets in ((None, top1), (fixed, [fixed] * len(pixels))):
        maps, targets, _ = class_relevance(net, pixels, summary.n_prefix, summary.grid, target)
        assert targets == expected_targets
        assert maps.dtype == np.float32 and maps.shape == (len(pixels), *summary.grid)
        expected = np.stack(
            [
                reference_relevance(net, image, index, summary.n_prefix, summary.grid)
                for image, index in zip(pixels, targets, strict=True)
            ]
        )
        assert np.abs(expected).max() > 1e-3  # the gradients are not vanishingly small
        np.testing.assert_allclose(maps, expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())

    top1_maps, _, _ = class_relevance(net, pixels, summary.n_prefix, summary.grid, None)
    fixed_maps, _, _ = class_relevance(net, pixels, summary.n_prefix, summary.grid, fixed)
    assert not np.allclose(top1_maps[0], fixed_maps[0])  # the map depends on the class


def test_parameters_get_no_gradients_and_inference_mode_is_fine(classifier):
    loaded, pixels = classifier
    net, summary = loaded.model, loaded.summary
    plain, _, _ = class_relevance(net, pixels, summary.n_prefix, summary.grid, 1)
    with torch.inference_mode():
        inference_pixels = pixels.clone()
        inside, _, _ = class_relevance(net, inference_pixels, summary.n_prefix, summary.grid, 1)
    np.testing.assert_array_equal(inside, plain)
    assert all(parameter.grad is None for parameter in net.parameters())


def test_frozen_parameters_still_give_maps(classifier):
    loaded, pixels = classifier
    net, summary = loaded.model, loaded.summary
    expected, _, _ = class_relevance(net, pixels, summary.n_prefix, summary.grid, 2)
    net.requires_grad_(False)
    try:
        frozen, _, _ = class_relevance(net, pixels, summary.n_prefix, summary.grid, 2)
    finally:
        net.requires_grad_(True)
    np.testing.assert_array_equal(frozen, expected)


def test_weighted_attention_clips_before_averaging_heads():
    # Two heads whose products cancel: clipping first keeps the positive half.
    attention = torch.full((1, 2, 2, 2), 0.5, requires_grad=True)
    signs = torch.tensor([1.0, -1.0]).reshape(1, 2, 1, 1)
    logit = (attention * signs).sum(dim=(1, 2, 3))
    np.testing.assert_allclose(weighted_attention([attention], logit), np.full((1, 1, 2, 2), 0.25))


def test_class_relevance_needs_a_classifier_in_eval_mode(tmp_path_factory, classifier):
    loaded, pixels = classifier
    encoder = model.load(model.resolve(str(tiny_model_dir(tmp_path_factory, "dinov2"))), "cpu")
    blank = torch.zeros((1, 3, 32, 32))
    with pytest.raises(ReportgenError, match="no classifier"):
        class_relevance(encoder.model, blank, 1, (4, 4), None)
    net, summary = loaded.model, loaded.summary
    with pytest.raises(ReportgenError, match="out of range"):
        class_relevance(net, pixels, summary.n_prefix, summary.grid, 7)
    net.train()
    try:
        with pytest.raises(ValueError, match="eval mode"):
            class_relevance(net, pixels, summary.n_prefix, summary.grid, None)
    finally:
        net.eval()


# --- in the pipeline: analyze stores relevance as a named map ---------------------------------


def _relevance(model_dir, **extra):
    from reportgen.results import AnalysisParams

    return AnalysisParams(model=str(model_dir), relevance=True, **extra)


def test_analyze_stores_relevance_for_the_top1_class(tiny_vit_dir, tmp_path, execution):
    from conftest import write_images

    from reportgen.analysis.analyze import analyze

    folder = write_images(tmp_path / "images", 3)
    params = _relevance(tiny_vit_dir, spread_by="relevance")
    analysis = analyze(folder, tmp_path / "out", params, execution)
    for image in analysis.images:
        record = analysis.record(image)
        assert record.maps["relevance"].shape == (4, 4)
        assert record.relevance_target == record.predictions[0].label
        assert image.entropy == pytest.approx(entropy(record.maps["relevance"]))
    assert analysis.manifest.parameters["relevance"] is True


def test_analyze_relevance_for_a_named_class(tiny_vit_dir, tmp_path, execution):
    from conftest import write_images

    from reportgen.analysis.analyze import analyze
    from reportgen.analysis.model import load, resolve

    labels = load(resolve(str(tiny_vit_dir)), "cpu").labels
    folder = write_images(tmp_path / "images", 2)
    params = _relevance(tiny_vit_dir, target_class=labels[3])
    analysis = analyze(folder, tmp_path / "out", params, execution)
    assert {analysis.record(i).relevance_target for i in analysis.images} == {labels[3]}


def test_relevance_on_a_backbone_is_refused_before_any_work(tmp_path_factory, tmp_path, execution):
    from conftest import write_images

    from reportgen.analysis.analyze import analyze

    backbone = tiny_model_dir(tmp_path_factory, "dinov2")
    folder = write_images(tmp_path / "images", 2)
    with pytest.raises(ReportgenError, match="--relevance needs a classifier"):
        analyze(folder, tmp_path / "out", _relevance(backbone), execution)
    assert not (tmp_path / "out" / "maps").exists()


def test_cli_relevance_errors_are_one_line(tiny_vit_dir, tmp_path, capsys):
    from conftest import write_images

    from reportgen import cli

    folder = write_images(tmp_path / "images", 2)
    base = ["analyze", str(folder), "--out", str(tmp_path / "o"), "--model", str(tiny_vit_dir)]
    assert cli.main([*base, "--target-class", "LABEL_1"]) == 2
    assert "--target-class needs --relevance" in capsys.readouterr().err
    assert cli.main([*base, "--relevance", "--target-class", "no such class"]) == 2
    err = capsys.readouterr().err
    assert "unknown class 'no such class'" in err and "Traceback" not in err
