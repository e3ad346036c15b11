"""Each supported family loads from a local folder, and its token layout is derived correctly."""

import numpy as np
import pytest
import torch
from conftest import tiny_model_dir
from PIL import Image

from reportgen.analysis import model
from reportgen.analysis.backends import huggingface
from reportgen.analysis.extract import extract
from reportgen.analysis.images import LoadedImage
from reportgen.errors import ReportgenError
from reportgen.methods import maps

FAMILIES = {
    # family: (expected prefix tokens, has a classifier head)
    "vit": (1, True),
    "deit": (2, True),  # CLS + distillation token
    "dinov2": (1, False),
    "dinov2_registers": (5, False),  # CLS + 4 registers
    "beit": (1, True),
    "clip": (1, False),
}


def load_local(folder):
    return model.load(model.resolve(str(folder)), "cpu")


@pytest.mark.parametrize("family", FAMILIES)
def test_family_summary(tmp_path_factory, family):
    loaded = load_local(tiny_model_dir(tmp_path_factory, family))
    summary = loaded.summary
    n_prefix, has_head = FAMILIES[family]
    assert summary.n_prefix == n_prefix
    assert summary.grid == (4, 4) and summary.image_size == (32, 32)
    assert (summary.layers, summary.heads, summary.head_dim) == (2, 2, 16)
    assert summary.source == "local" and len(summary.weights_sha256) == 64
    assert (summary.num_classes == 7) if has_head else summary.num_classes is None


@pytest.mark.parametrize("family", FAMILIES)
def test_records_read_the_cls_row_over_patches_only(tmp_path_factory, family):
    loaded = load_local(tiny_model_dir(tmp_path_factory, family))
    image = Image.fromarray(np.random.default_rng(1).integers(0, 255, (40, 50, 3), np.uint8))
    (record,) = extract(loaded, [LoadedImage("x.png", image, "0" * 64, 1)], mask_artifacts=False)
    pixels = loaded.processor(images=[image], return_tensors="pt")["pixel_values"]
    with torch.inference_mode():
        attentions = loaded.model(pixel_values=pixels, output_attentions=True).attentions
    attn = torch.stack(attentions, 1)[0].numpy()
    n_prefix = loaded.summary.n_prefix
    expected = attn[:, :, 0, n_prefix:].reshape(2, 2, 4, 4)
    np.testing.assert_allclose(record.cls_heads, expected, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(
        record.maps["rollout"], maps.rollout(attn, n_prefix, (4, 4)), rtol=1e-5, atol=1e-7
    )
    np.testing.assert_allclose(record.maps["layers"], expected.mean(axis=1), rtol=1e-5, atol=1e-7)
    assert record.artifact_mask.shape == (2, 4, 4) and record.artifact_mask.dtype == bool
    assert record.seen_image.shape == (32, 32, 3) and record.seen_image.dtype == np.uint8
    assert len(record.predictions) == (5 if FAMILIES[family][1] else 0)


def test_seen_image_is_the_denormalised_model_input(tiny_vit_dir):
    loaded = load_local(tiny_vit_dir)
    image = Image.new("RGB", (64, 48), (200, 40, 90))
    (record,) = extract(loaded, [LoadedImage("x.png", image, "0" * 64, 1)])
    assert record.seen_image.shape == (32, 32, 3)
    assert np.abs(record.seen_image.astype(int) - [200, 40, 90]).max() <= 1
    assert record.geometry["original_size"] == [64, 48]
    assert record.geometry["model_input_size"] == [32, 32]


def test_non_square_grid(tmp_path_factory):
    loaded = load_local(tiny_model_dir(tmp_path_factory, "vit", image_size=[32, 48]))
    assert loaded.summary.grid == (4, 6) and loaded.summary.image_size == (32, 48)
    (record,) = extract(loaded, [LoadedImage("x.png", Image.new("RGB", (60, 40)), "0" * 64, 1)])
    assert record.cls_heads.shape == (2, 2, 4, 6) and record.maps["rollout"].shape == (4, 6)


def test_batches_match_single_images(tiny_vit_dir):
    loaded = load_local(tiny_vit_dir)
    rng = np.random.default_rng(2)
    items = [
        LoadedImage(
            f"{i}.png", Image.fromarray(rng.integers(0, 255, (30, 30, 3), np.uint8)), "0" * 64, 1
        )
        for i in range(5)
    ]
    batched = list(extract(loaded, items, batch_size=2))
    single = list(extract(loaded, items, batch_size=1))
    assert [r.name for r in batched] == [i.name for i in items]
    for a, b in zip(batched, single, strict=True):
        np.testing.assert_allclose(a.cls_heads, b.cls_heads, rtol=1e-4, atol=1e-6)


def test_model_without_cls_token_or_pooling_head_is_refused(tmp_path_factory):
    folder = tiny_model_dir(tmp_path_factory, "siglip", vision_use_head=False)
    with pytest.raises(ReportgenError, match="no \\[CLS\\] token, and the model has no attention"):
        load_local(folder)


def test_model_without_patches_is_refused(tmp_path):
    import transformers as tf

    config = tf.ResNetConfig(embedding_size=8, hidden_sizes=[8, 8], depths=[1, 1])
    tf.ResNetModel(config).save_pretrained(tmp_path)
    tf.ConvNextImageProcessor().save_pretrained(tmp_path)
    with pytest.raises(ReportgenError, match="not a ViT-family model"):
        load_local(tmp_path)


def test_bad_model_folders_are_clear_errors(tmp_path):
    with pytest.raises(ReportgenError, match="no config.json"):
        model.resolve(str(tmp_path))
    with pytest.raises(ReportgenError, match="not found"):
        model.resolve(str(tmp_path / "missing"))
    (tmp_path / "config.json").write_text("{not json")
    (tmp_path / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(ReportgenError, match="cannot load model"):
        load_local(tmp_path)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "the model name is empty"),  # not '. has no config.json' (the working folder)
        ("  ", "the model name is empty"),
        ("a b", "is no model folder here, nor a HuggingFace hub id"),  # not HFValidationError
        ("x--y", "is no model folder here, nor a HuggingFace hub id"),
    ],
)
def test_model_names_no_model_can_have_are_clear_errors(spec, message, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ReportgenError, match=message):
        model.resolve(spec)


def test_unreachable_hub_fails_fast_with_remedies(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface, "_cached_revision", lambda repo: None)
    with pytest.raises(ReportgenError, match="HF_HUB_OFFLINE"):
        model.resolve("someone/some-vit")
    monkeypatch.setattr(huggingface.offline, "offline_available", lambda name: False)
    with pytest.raises(ReportgenError, match="reportgen\\[offline\\]"):
        model.resolve("auto")


def test_auto_prefers_a_cached_hub_model(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface, "_cached_revision", lambda repo: "abc123")
    ref = model.resolve("auto")
    expected = (huggingface.DEFAULT_HUB_MODEL, "hub", "abc123")
    assert (ref.model_id, ref.source, ref.revision) == expected
    assert ref.local_files_only


def test_unknown_device_is_refused():
    with pytest.raises(ReportgenError, match="unknown device"):
        model.pick_device("tpu")
    with pytest.raises(ReportgenError, match="not available"):
        model.pick_device("cuda") if not torch.cuda.is_available() else model.pick_device("tpu")


def test_hub_weights_hash_is_read_from_the_huggingface_cache(tiny_vit_dir, tmp_path, monkeypatch):
    """A hub model's provenance gets the sha256 of the weights file it was loaded from."""
    import hashlib
    import shutil

    import huggingface_hub.constants

    revision = "0" * 40
    snapshot = tmp_path / "models--someone--tiny-vit" / "snapshots" / revision
    shutil.copytree(tiny_vit_dir, snapshot)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    ref = model.ModelRef("someone/tiny-vit", "hub", "someone/tiny-vit", revision)
    expected = hashlib.sha256((tiny_vit_dir / "model.safetensors").read_bytes()).hexdigest()
    assert huggingface.hub_weights_sha256(ref) == expected
    missing = model.ModelRef("someone/absent", "hub", "someone/absent", revision)
    assert huggingface.hub_weights_sha256(missing) is None


def test_a_local_model_is_named_by_a_path_that_shows_no_home_or_disk_layout(
    tiny_vit_dir, monkeypatch
):
    """As the sources' paths are recorded: relative to the working folder, else from ~."""
    folder = tiny_vit_dir.resolve()
    monkeypatch.chdir(folder.parent)
    ref = model.resolve(str(folder))
    assert (ref.model_id, ref.location) == (folder.name, str(folder))
    (folder.parent / "elsewhere").mkdir(exist_ok=True)
    monkeypatch.chdir(folder.parent / "elsewhere")
    monkeypatch.setenv("HOME", str(folder.parent.parent))
    assert model.resolve(str(folder)).model_id == f"~/{folder.parent.name}/{folder.name}"
