"""Models without a CLS token that pool with an attention head (a tiny random SigLIP vision
tower): the probe's attention equals an independent computation, the maps follow the documented
definitions, and the report builds in every flavour. (A model with neither a CLS token nor such a
head is refused: tests/analysis/test_families.py.)"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch
from conftest import tiny_model_dir, write_images
from PIL import Image

from reportgen import cli
from reportgen.analysis import model, pooling
from reportgen.analysis.extract import Extractor, artifact_profile, extract
from reportgen.analysis.images import LoadedImage
from reportgen.methods import maps

FLAVOURS = "html,jekyll,gfm,distill,hugo,mkdocs"


@pytest.fixture(scope="module")
def siglip_dir(tmp_path_factory):
    return tiny_model_dir(tmp_path_factory, "siglip")


@pytest.fixture(scope="module")
def siglip(siglip_dir):
    return model.load(model.resolve(str(siglip_dir)), "cpu")


def photos(count: int) -> list[Image.Image]:
    rng = np.random.default_rng(0)
    return [Image.fromarray((rng.random((40, 48, 3)) * 255).astype(np.uint8)) for _ in range(count)]


def independent_probe_attention(net, pixels: torch.Tensor) -> np.ndarray:
    """softmax(q k^T / sqrt(d)) of the head's probe against the last hidden state, per head,
    from the MultiheadAttention's own projection weights: (B, heads, T)."""
    head = net.head
    attention = head.attention
    with torch.no_grad():
        hidden = net(pixel_values=pixels).last_hidden_state.double()
        dim, heads = hidden.shape[-1], attention.num_heads
        w_q, w_k, _ = attention.in_proj_weight.double().split(dim)
        b_q, b_k, _ = attention.in_proj_bias.double().split(dim)
        query = head.probe.double() @ w_q.T + b_q  # (1, 1, D)
        keys = hidden @ w_k.T + b_k  # (B, T, D)
        query = query.reshape(1, 1, heads, -1).transpose(1, 2)
        keys = keys.reshape(keys.shape[0], keys.shape[1], heads, -1).transpose(1, 2)
        logits = query @ keys.transpose(-2, -1) / np.sqrt(dim // heads)
    return torch.softmax(logits, dim=-1)[:, :, 0].numpy()


def test_a_model_without_cls_token_is_described_by_its_pooling_head(siglip):
    summary = siglip.summary
    assert (summary.n_prefix, summary.grid, summary.pooling) == (0, (4, 4), pooling.ATTENTION_POOL)
    assert siglip.pooler is siglip.model.head.attention
    assert summary.to_json()["pooling"] == "attention pool"


def test_probe_attention_equals_an_independent_computation(siglip):
    pixels = siglip.processor(images=photos(2), return_tensors="pt")["pixel_values"]
    tensors = Extractor(siglip).forward(pixels)["tensors"]
    expected = independent_probe_attention(siglip.model, pixels)
    np.testing.assert_allclose(tensors["probe"].numpy(), expected.mean(axis=1), atol=1e-6)
    assert not siglip.pooler._forward_hooks and not siglip.pooler._forward_pre_hooks


def test_maps_follow_the_documented_definitions(siglip):
    images = [LoadedImage(f"p{i}.png", image, "0" * 64, 1) for i, image in enumerate(photos(2))]
    records = list(extract(siglip, images, mask_artifacts=False))
    pixels = siglip.processor(images=photos(2), return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        attentions = siglip.model(pixel_values=pixels, output_attentions=True).attentions
    attention = torch.stack(attentions, dim=1).numpy()  # (B, L, heads, T, T)
    probe = independent_probe_attention(siglip.model, pixels).mean(axis=1)
    for index, record in enumerate(records):
        received = attention[index].mean(axis=(1, 2)).reshape(2, 4, 4)
        np.testing.assert_allclose(record.maps["layers"], received, atol=1e-6)
        np.testing.assert_allclose(record.maps["probe"], probe[index].reshape(4, 4), atol=1e-6)
        fused = attention[index].mean(axis=1)
        joint = maps.rollout_matrix(fused, start_layer=0)
        np.testing.assert_allclose(
            record.maps["rollout"], (probe[index] @ joint).reshape(4, 4), atol=1e-6
        )
    assert len(artifact_profile(siglip)) == 2


def test_the_report_builds_in_every_flavour_and_says_which_definition(siglip_dir, tmp_path):
    write_images(tmp_path / "photos", 3)
    site = tmp_path / "site"
    command = ["build", str(tmp_path / "photos"), "--out", str(site), "--device", "cpu"]
    command += ["--model", str(siglip_dir), "--format", FLAVOURS, "--date", "2024-05-24"]
    command += ["--faithfulness", "--faithfulness-images", "2"]
    command += ["--cache-dir", str(tmp_path / "cache")]
    assert cli.main(command) == 0
    report = site / "reports" / "photos"
    manifest = json.loads((report / "data" / "manifest.json").read_text())
    assert manifest["model"]["pooling"] == "attention pool"
    page = " ".join((report / "index.html").read_text().split())
    assert "the mean attention each of the 16 image patches receives" in page
    assert "followed back through the layers" in page
    assert "pooled embedding cosine similarity" in page
    assert "The pooling head" in page
    assert "it pools its tokens with an attention head" in page
    for text in report.rglob("*"):  # pages, figure descriptions, the manifest
        if text.suffix in (".html", ".md", ".json") and "data" not in text.parts:
            words = " ".join(text.read_text().split())
            said = re.findall(r"(\S+) (?:<code>)?CLS\b", words)
            assert set(said) <= {"no", "(no"}, (text, said)  # only "has no CLS token"


def test_spread_by_probe_needs_a_model_that_pools_with_an_attention_head(
    tiny_vit_dir, tmp_path, capsys
):
    write_images(tmp_path / "photos", 1)
    command = ["analyze", str(tmp_path / "photos"), "--out", str(tmp_path / "out")]
    command += ["--model", str(tiny_vit_dir), "--spread-by", "probe", "--device", "cpu"]
    assert cli.main([*command, "--cache-dir", str(tmp_path / "cache")]) != 0
    assert "--spread-by probe needs a model that pools with an attention head" in (
        capsys.readouterr().err
    )
