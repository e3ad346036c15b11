"""The token-norm and feature views from real (tiny, random) models: what the hidden states say."""

import numpy as np
import pytest
import torch
from conftest import tiny_model_dir
from PIL import Image

from reportgen import api
from reportgen.analysis import model
from reportgen.analysis.execution import Execution
from reportgen.analysis.extract import extract
from reportgen.analysis.images import LoadedImage
from reportgen.methods import features, norms
from reportgen.publish.options import ReportOptions
from reportgen.results import AnalysisParams

PLANTED = (5, 20, 42)  # patches given a huge position embedding


def image(seed: int) -> LoadedImage:
    pixels = np.random.default_rng(seed).integers(0, 255, (64, 64, 3), np.uint8)
    return LoadedImage(f"{seed}.png", Image.fromarray(pixels), "0" * 64, 1)


def hidden_states(loaded, picture: LoadedImage) -> list[np.ndarray]:
    """Each layer's output over the patches, computed here from the model's own outputs."""
    pixels = loaded.processor(images=[picture.image], return_tensors="pt")["pixel_values"]
    with torch.inference_mode():
        states = loaded.model(pixel_values=pixels, output_hidden_states=True).hidden_states
    return [state[0, loaded.summary.n_prefix :].double().numpy() for state in states[1:]]


@pytest.mark.parametrize("family", ["vit", "deit", "dinov2_registers"])
def test_norms_and_features_are_those_of_the_hidden_states(tmp_path_factory, family):
    loaded = model.load(model.resolve(str(tiny_model_dir(tmp_path_factory, family))), "cpu")
    picture = image(0)
    (record,) = extract(loaded, [picture])
    states = hidden_states(loaded, picture)
    expected = np.stack([np.linalg.norm(state, axis=-1) for state in states]).reshape(2, 4, 4)
    np.testing.assert_allclose(record.maps["norms"], expected, rtol=1e-5)
    basis = features.fit_basis(states[-1])  # per image: fitted on its own tokens
    colours = features.colours(states[-1], basis).reshape(3, 4, 4)
    np.testing.assert_allclose(record.maps["features"], colours, atol=1e-4)


@pytest.fixture(scope="module")
def wide_vit(tmp_path_factory):
    """A tiny ViT over 8x8 patches."""
    return model.resolve(str(tiny_model_dir(tmp_path_factory, "vit", image_size=64)))


def with_planted_tokens(loaded: model.LoadedModel) -> model.LoadedModel:
    """``loaded`` with the PLANTED patches' position embeddings made huge: high-norm tokens."""
    with torch.no_grad():
        embeddings = loaded.model.vit.embeddings.position_embeddings
        for patch in PLANTED:  # position 0 is the CLS token's
            embeddings[0, 1 + patch] = 40 * torch.nn.functional.normalize(
                embeddings[0, 1 + patch], dim=0
            )
    return loaded


def test_planted_high_norm_tokens_are_found_and_a_plain_model_scores_zero(wide_vit):
    plain = model.load(wide_vit, "cpu")
    records = list(extract(plain, [image(seed) for seed in range(3)]))
    assert [record.artifact_score for record in records] == [0.0, 0.0, 0.0]

    planted = with_planted_tokens(model.load(wide_vit, "cpu"))
    for record in extract(planted, [image(seed) for seed in range(3)]):
        assert record.artifact_score == pytest.approx(len(PLANTED) / 64)
        found = norms.high_norm_tokens(record.maps["norms"][-1])
        assert sorted(np.flatnonzero(found)) == list(PLANTED)

    pictures = [image(seed) for seed in range(3)]
    by_norm = list(extract(planted, pictures, artifacts_by="norm"))
    by_attention = list(extract(planted, pictures, artifacts_by="attention"))
    by_both = list(extract(planted, pictures, artifacts_by="both"))
    for norm, attention, both in zip(by_norm, by_attention, by_both, strict=True):
        for layer in norm.artifact_mask:  # every layer: the planted norm is in the residual
            assert sorted(np.flatnonzero(layer)) == list(PLANTED)
        np.testing.assert_array_equal(
            both.artifact_mask, norm.artifact_mask | attention.artifact_mask
        )


@pytest.mark.parametrize("plant", [False, True])
def test_the_report_charts_artifact_scores_only_where_some_image_has_artifacts(
    wide_vit, tmp_path, plant
):
    loaded = model.load(wide_vit, "cpu")
    checkpoint = tmp_path / "model"
    (with_planted_tokens(loaded) if plant else loaded).model.save_pretrained(checkpoint)
    loaded.processor.save_pretrained(checkpoint)
    folder = tmp_path / "images"
    folder.mkdir()
    for seed in range(3):
        image(seed).image.save(folder / f"{seed}.png")
    report = api.build(
        folder,
        tmp_path / "site",
        AnalysisParams(model=str(checkpoint)),
        ReportOptions(slug="norms", formats=("html",)),
        Execution(device="cpu", workers=0, cache_dir=tmp_path / "cache"),
    )
    page = " ".join((report / "index.html").read_text().split())
    chart = report / "charts" / "artifact-scores.svg"
    if plant:
        assert "Here 3 of the 3 images score above 0" in page and chart.is_file()
        assert "charts/artifact-scores.svg" in page
    else:
        assert "Here every image scores 0, so no chart of the scores is drawn." in page
        assert not chart.exists() and "artifact-scores" not in page
