"""The per-report feature basis: fitted once on the first images in the main forward pass, stored
with the report, kept by its rebuilds (earlier images stay cache hits, their colours unchanged)."""

from dataclasses import replace

import numpy as np
import pytest
import torch
from conftest import tiny_model_dir, write_images
from PIL import Image

from reportgen import api
from reportgen.analysis import features, images, model
from reportgen.analysis.analyze import analyze
from reportgen.analysis.execution import Execution
from reportgen.analysis.extract import Extractor
from reportgen.analysis.sources.folder import FolderSource
from reportgen.methods import features as feature_view
from reportgen.results import Analysis, AnalysisParams


@pytest.fixture
def params(tiny_vit_dir):
    return AnalysisParams(model=str(tiny_vit_dir), batch_size=2)


@pytest.fixture
def seen(monkeypatch):
    """How many images went through the model's forward pass."""
    counted = {"images": 0}
    forward = Extractor.forward

    def counting(self, pixels):
        counted["images"] += len(pixels)
        return forward(self, pixels)

    monkeypatch.setattr(Extractor, "forward", counting)
    return counted


def features_of(analysis: Analysis) -> dict[str, np.ndarray]:
    return {image.name: analysis.record(image).maps["features"] for image in analysis.images}


def last_tokens(model_dir, files) -> list[np.ndarray]:
    """The last layer's patch tokens of each image file, computed here from the model."""
    loaded = model.load(model.resolve(str(model_dir)), "cpu")
    pictures = [Image.open(file).convert("RGB") for file in files]
    pixels = loaded.processor(images=pictures, return_tensors="pt")["pixel_values"]
    with torch.inference_mode():
        states = loaded.model(pixel_values=pixels, output_hidden_states=True).hidden_states
    return list(states[-1][:, loaded.summary.n_prefix :].double().numpy())


def test_the_basis_is_fitted_on_the_first_images_in_the_one_forward_pass(
    tmp_path, params, seen, monkeypatch
):
    monkeypatch.setattr(features, "FITTED_IMAGES", 3)
    folder = write_images(tmp_path / "images", 7)
    (folder / "img01.png").write_bytes(b"not an image")  # skipped: the fourth image is fitted
    execution = Execution(device="cpu", cache_dir=tmp_path / "cache")
    analysis = analyze(folder, tmp_path / "out", params, execution)
    assert seen["images"] == 6 and analysis.cache_misses == 6  # each image seen once
    assert [skipped.name for skipped in analysis.skipped] == ["img01.png"]
    stored = features.StoredBasis.read(tmp_path / "out" / features.BASIS_FILE)
    assert (stored.images, stored.tokens) == (3, 3 * 16)
    assert analysis.manifest.features == stored.note()

    names = [image.name for image in analysis.images]
    assert names[:3] == ["img00.png", "img02.png", "img03.png"]
    tokens = last_tokens(params.model, [folder / name for name in names])
    expected = feature_view.fit_basis(np.concatenate(tokens[:3]))
    np.testing.assert_allclose(stored.basis.components, expected.components, atol=1e-5)
    for image, image_tokens in zip(analysis.images, tokens, strict=True):
        colours = feature_view.colours(image_tokens, stored.basis).reshape(3, 4, 4)
        np.testing.assert_allclose(analysis.record(image).maps["features"], colours, atol=0.01)


def test_a_rebuild_keeps_the_basis_and_projects_only_added_images(
    tmp_path, params, seen, report_options
):
    folder = write_images(tmp_path / "images", 5)
    site, execution = tmp_path / "site", Execution(device="cpu", cache_dir=tmp_path / "cache")
    report = api.build(folder, site, params, report_options, execution)
    first = Analysis.load(report / "data")
    before = features_of(first)
    write_images(tmp_path / "more", 3, seed=9)
    for added in (tmp_path / "more").iterdir():
        added.rename(folder / f"a-{added.name}")  # sorted first: the first images are others
    seen["images"] = 0
    report = api.build(folder, site, params, report_options, execution)
    second = Analysis.load(report / "data")
    assert seen["images"] == 3  # the added images alone
    assert second.manifest.features == first.manifest.features is not None
    assert (report / "data" / features.BASIS_FILE).read_bytes() == (
        report / "versions/1/data" / features.BASIS_FILE
    ).read_bytes()
    after = features_of(second)
    for name, colours in before.items():
        np.testing.assert_array_equal(after[name], colours)
    assert "kept by its rebuilds" in (report / "index.html").read_text()


def test_a_fresh_report_or_another_model_fits_its_own(tmp_path, params, tmp_path_factory):
    folder = write_images(tmp_path / "images", 4)
    execution = Execution(device="cpu", use_cache=False)
    analyze(folder, tmp_path / "out", params, execution)
    kept = features.StoredBasis.read(tmp_path / "out" / features.BASIS_FILE)
    assert features.earlier_basis(tmp_path / "out", kept.fits).note() == kept.note()
    assert features.earlier_basis(tmp_path / "out", "another model") is None
    assert features.earlier_basis(tmp_path / "nothing", kept.fits) is None

    other = replace(params, model=str(tiny_model_dir(tmp_path_factory, "deit")))
    analysis = analyze(folder, tmp_path / "out", other, execution)  # into the same folder
    assert analysis.manifest.features.basis != kept.note().basis
    per_image = analyze(folder, tmp_path / "out", replace(params, pca="per-image"), execution)
    assert per_image.manifest.features is None
    assert not (tmp_path / "out" / features.BASIS_FILE).exists()


def test_remaining_leaves_out_what_was_analysed(tmp_path):
    source = FolderSource(write_images(tmp_path / "images", 4))
    rest = features.Remaining(source, frozenset({0, 2}))
    assert [item.name for item in rest.items()] == ["img01.png", "img03.png"]
    assert rest.count() == 2 and rest.describe() == source.describe()


@pytest.mark.parametrize("unreadable", [None, "img01.png"])
def test_a_cached_basis_is_found_without_decoding_the_first_images_again(
    tmp_path, params, seen, monkeypatch, unreadable
):
    """The first files are looked up by their hashes before they are decoded: a warm cache
    decodes nothing more here (the basis of the ones that decode, when one does not)."""
    monkeypatch.setattr(features, "FITTED_IMAGES", 3)
    folder = write_images(tmp_path / "images", 5)
    if unreadable:
        (folder / unreadable).write_bytes(b"not an image")
    execution = Execution(device="cpu", cache_dir=tmp_path / "cache")
    first = analyze(folder, tmp_path / "first", params, execution)
    decoded = []
    decode = images.decode
    monkeypatch.setattr(images, "decode", lambda data: decoded.append(data) or decode(data))
    seen["images"] = 0
    again = analyze(folder, tmp_path / "again", params, execution)  # no earlier basis there
    assert seen["images"] == 0 and again.cache_misses == 0
    assert again.manifest.features == first.manifest.features is not None
    images_decoded = [data for data in decoded if data != b"not an image"]
    assert len(images_decoded) == (3 if unreadable else 0)  # with a bad one: those fitted
    before = features_of(first)
    for name, colours in features_of(again).items():
        np.testing.assert_array_equal(colours, before[name])
