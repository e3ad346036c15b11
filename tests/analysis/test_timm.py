"""The timm backend (--model timm:NAME) on tiny random timm models registered here: the maps
equal an independent computation from each layer's q and k, prefix tokens come from the model,
preprocessing is timm's, relevance and faithfulness work, and specs fail with clear messages."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch
from PIL import Image

timm = pytest.importorskip("timm")

from reportgen.analysis import model  # noqa: E402
from reportgen.analysis.backends import timm as timm_backend  # noqa: E402
from reportgen.analysis.extract import Extractor, model_inputs, seen_images  # noqa: E402
from reportgen.analysis.faithfulness import FaithfulnessItem, faithfulness  # noqa: E402
from reportgen.analysis.relevance import class_gradients  # noqa: E402
from reportgen.errors import ReportgenError  # noqa: E402

TINY = dict(embed_dim=32, depth=2, num_heads=2)
# registered name: (timm model it shrinks, its options, prefix tokens, classes)
TINY_MODELS = {
    "reportgen_tiny_vit": ("vit_tiny_patch16_224", dict(img_size=32, patch_size=8), 1, 7),
    "reportgen_tiny_deit_distilled": (
        "deit_tiny_distilled_patch16_224",
        dict(img_size=32, patch_size=8),
        2,
        5,
    ),
    "reportgen_tiny_dinov2_reg4": (
        "vit_small_patch14_reg4_dinov2",
        dict(img_size=28, patch_size=7, global_pool="token"),
        5,
        0,
    ),
}


def _register(name: str, base: str, options: dict, classes: int) -> None:
    size = options["img_size"]

    def create(pretrained: bool = False, **kwargs):
        overlay = {
            "input_size": (3, size, size),
            **(kwargs.pop("pretrained_cfg_overlay", None) or {}),
        }
        return timm.create_model(
            base,
            pretrained=pretrained,
            pretrained_cfg_overlay=overlay,
            **{"num_classes": classes, **TINY, **options, **kwargs},
        )

    create.__name__ = name
    create.__module__ = __name__
    timm.models.register_model(create)


for _name, (_base, _options, _, _classes) in TINY_MODELS.items():
    if not timm.is_model(_name):
        _register(_name, _base, _options, _classes)
if not timm.is_model("reportgen_tiny_eva02"):
    _register("reportgen_tiny_eva02", "eva02_tiny_patch14_224", dict(img_size=28, patch_size=7), 3)
if not timm.is_model("reportgen_tiny_siglip"):  # no CLS token: an AttentionPoolLatent head
    _register(
        "reportgen_tiny_siglip", "vit_base_patch16_siglip_224", dict(img_size=32, patch_size=8), 0
    )


def random_model(name: str) -> model.LoadedModel:
    return model.load(model.resolve(f"timm:{name}", random_weights=True), "cpu")


def photo(seed: int, size=(45, 37)) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray((rng.random((size[1], size[0], 3)) * 255).astype(np.uint8))


def attention_calls(net, pixels: torch.Tensor) -> list[tuple[tuple, dict]]:
    """The (args, kwargs) each block's attention module is called with in one forward pass."""
    calls = []
    hooks = [
        block.attn.register_forward_pre_hook(
            lambda _, args, kwargs: calls.append((args, kwargs)), with_kwargs=True
        )
        for block in net.blocks
    ]
    with torch.inference_mode():
        net.forward_features(pixels)
    for hook in hooks:
        hook.remove()
    return calls


def independent_attention(net, pixels: torch.Tensor) -> list[np.ndarray]:
    """Each block's softmax(q k^T / sqrt(d)) from the input its attention module receives,
    computed here from the module's own qkv weights (no timm attention code)."""
    inputs = [args[0] for args, _ in attention_calls(net, pixels)]
    with torch.no_grad():
        return [
            _softmax_qk(block.attn, x.clone()) for block, x in zip(net.blocks, inputs, strict=True)
        ]


def _softmax_qk(attn, x: torch.Tensor) -> np.ndarray:
    batch, tokens, _ = x.shape
    qkv = torch.nn.functional.linear(x, attn.qkv.weight, attn.qkv.bias)
    q, k, _ = qkv.reshape(batch, tokens, 3, attn.num_heads, attn.head_dim).permute(2, 0, 3, 1, 4)
    q, k = attn.q_norm(q), attn.k_norm(k)
    logits = q.double() @ k.double().transpose(-2, -1) / np.sqrt(attn.head_dim)
    return torch.softmax(logits, dim=-1).numpy()


@pytest.mark.parametrize("name", list(TINY_MODELS))
def test_maps_equal_an_independent_computation_from_q_and_k(name):
    loaded = random_model(name)
    net = loaded.model.net
    summary = loaded.summary
    assert summary.n_prefix == net.num_prefix_tokens == TINY_MODELS[name][2]
    assert summary.grid == tuple(net.patch_embed.grid_size)
    assert (summary.layers, summary.heads) == (2, 2)
    assert summary.source == "random" and summary.weights_sha256 is None
    fused_before = [block.attn.fused_attn for block in net.blocks]
    pixels = loaded.processor(images=[photo(1), photo(2)])["pixel_values"]
    outputs = loaded.model(pixel_values=pixels, output_attentions=True)
    expected = independent_attention(net, pixels)
    for layer, attention in enumerate(outputs.attentions):
        np.testing.assert_allclose(attention.detach().numpy(), expected[layer], atol=1e-6)
    tensors = Extractor(loaded).forward(pixels)["tensors"]
    cls_rows = np.stack([layer[:, :, 0, summary.n_prefix :] for layer in expected], axis=1)
    np.testing.assert_allclose(tensors["cls_heads"].numpy(), cls_rows, atol=1e-6)
    with torch.no_grad():  # the token norms: each block's output, by the blocks run one by one
        tokens = net.norm_pre(net.patch_drop(net._pos_embed(net.patch_embed(pixels))))
        norms = []
        for block in net.blocks:
            tokens = block(tokens)
            norms.append(tokens[:, summary.n_prefix :].norm(dim=-1))
    np.testing.assert_allclose(tensors["norms"].numpy(), torch.stack(norms, 1), rtol=1e-5)
    np.testing.assert_allclose(tensors["tokens"].numpy(), tokens[:, summary.n_prefix :], atol=1e-5)
    assert [block.attn.fused_attn for block in net.blocks] == fused_before  # restored
    assert all(not block.attn.attn_drop._forward_hooks for block in net.blocks)


def rotated_pairs(x: torch.Tensor, rope: torch.Tensor) -> torch.Tensor:
    """Rotary embedding by its definition: each pair of features (2i, 2i+1) of every patch turned
    by that patch's angle, given as the concatenated (sin, cos) of each feature, which EVA-02
    repeats over the two features of a pair."""
    sin, cos = rope.double().chunk(2, dim=-1)
    np.testing.assert_array_equal(sin[..., 0::2], sin[..., 1::2])  # one angle per pair
    sin, cos = sin[..., 0::2], cos[..., 0::2]
    even, odd = x[..., 0::2], x[..., 1::2]
    turned = torch.stack([even * cos - odd * sin, even * sin + odd * cos], dim=-1)
    return turned.reshape(x.shape)


def independent_rope_attention(net, pixels: torch.Tensor) -> list[np.ndarray]:
    """Each EVA-02 block's softmax(q k^T / sqrt(d)) in float64, from the input and the rotary
    angles its attention module receives: q and k from the module's qkv weight and biases, the
    patches' q and k rotated (the prefix tokens' are not)."""
    calls = [(args[0], kwargs["rope"]) for args, kwargs in attention_calls(net, pixels)]
    with torch.no_grad():
        return [
            _rope_softmax_qk(block.attn, x.clone(), rope, net.num_prefix_tokens)
            for block, (x, rope) in zip(net.blocks, calls, strict=True)
        ]


def _rope_softmax_qk(attn, x: torch.Tensor, rope: torch.Tensor, n_prefix: int) -> np.ndarray:
    batch, tokens, width = x.shape
    weight = attn.qkv.weight.double()

    def heads(values: torch.Tensor) -> torch.Tensor:
        values = values.reshape(batch, tokens, attn.num_heads, attn.head_dim).transpose(1, 2)
        patches = rotated_pairs(values[:, :, n_prefix:], rope)
        return torch.cat([values[:, :, :n_prefix], patches], dim=2)

    q = heads(x.double() @ weight[:width].T + attn.q_bias.double())
    k = heads(x.double() @ weight[width : 2 * width].T + attn.k_bias.double())
    logits = q @ k.transpose(-2, -1) / np.sqrt(attn.head_dim)
    return torch.softmax(logits, dim=-1).numpy()


def test_eva02_maps_equal_an_independent_computation_with_the_rotary_embedding():
    """EVA-02 (rotary position embeddings inside its attention): the recorded attention equals
    softmax(q k^T / sqrt(d)) with the rotation applied here, and the unfused pass that records
    it gives the fused pass's tokens."""
    loaded = random_model("reportgen_tiny_eva02")
    net = loaded.model.net
    assert loaded.summary.n_prefix == net.num_prefix_tokens == 1
    assert loaded.summary.grid == (4, 4)
    assert all(isinstance(block.attn.q_norm, torch.nn.Identity) for block in net.blocks)
    pixels = loaded.processor(images=[photo(9), photo(10)])["pixel_values"]
    with torch.inference_mode():
        outputs = loaded.model(pixel_values=pixels, output_attentions=True)
        fused = net.forward_features(pixels)
    expected = independent_rope_attention(net, pixels)
    assert [attention.shape for attention in outputs.attentions] == [(2, 2, 17, 17)] * 2
    for attention, independent in zip(outputs.attentions, expected, strict=True):
        np.testing.assert_allclose(attention.numpy(), independent, atol=1e-6)
    unrotated = independent_attention(net, pixels)  # the rotation matters: without it, others
    assert max(np.abs(a - b).max() for a, b in zip(expected, unrotated, strict=True)) > 1e-3
    tensors = Extractor(loaded).forward(pixels)["tensors"]
    cls_rows = np.stack([layer[:, :, 0, 1:] for layer in expected], axis=1)
    np.testing.assert_allclose(tensors["cls_heads"].numpy(), cls_rows, atol=1e-6)
    np.testing.assert_allclose(outputs.last_hidden_state.numpy(), fused.numpy(), atol=1e-5)
    assert all(block.attn.fused_attn for block in net.blocks) == timm.layers.use_fused_attn()


def independent_probe(head, x: torch.Tensor) -> np.ndarray:
    """softmax(q k^T / sqrt(d)) of an AttentionPoolLatent head for its input ``x``, in float64
    from its own weights (q from the latent, k from the first half of kv; no timm code)."""
    batch, tokens, width = x.shape
    heads, dim = head.num_heads, width // head.num_heads
    with torch.no_grad():
        latent = head.latent.double()
        q = latent @ head.q.weight.double().T + head.q.bias.double()
        keys = x.double() @ head.kv.weight[:width].double().T + head.kv.bias[:width].double()
    q = q.reshape(1, 1, heads, dim).transpose(1, 2)
    k = keys.reshape(batch, tokens, heads, dim).transpose(1, 2)
    return torch.softmax(q @ k.transpose(-2, -1) / np.sqrt(dim), dim=-1)[:, :, 0].numpy()


def test_siglip_probe_attention_equals_an_independent_computation():
    loaded = random_model("reportgen_tiny_siglip")
    net, summary = loaded.model.net, loaded.summary
    assert summary.n_prefix == net.num_prefix_tokens == 0
    assert summary.pooling == "attention pool" and loaded.pooler is loaded.model.probe_recorder
    pixels = loaded.processor(images=[photo(11), photo(12)])["pixel_values"]
    head_inputs = []
    hook = net.attn_pool.register_forward_pre_hook(lambda _, args: head_inputs.append(args[0]))
    tensors = Extractor(loaded).forward(pixels)["tensors"]
    hook.remove()
    expected = independent_probe(net.attn_pool, head_inputs[0])
    np.testing.assert_allclose(tensors["probe"].numpy(), expected.mean(axis=1), atol=1e-6)
    with record_probe(loaded) as recorded, torch.inference_mode():
        outputs = loaded.model(pixel_values=pixels)
    np.testing.assert_allclose(recorded[0].numpy(), expected, atol=1e-6)  # every head's
    with torch.inference_mode():  # the pooled embedding is the head's, by timm's own forward
        pooled = net.forward_head(net.forward_features(pixels), pre_logits=True)
    np.testing.assert_allclose(outputs.pooler_output.numpy(), pooled.numpy(), atol=1e-6)
    assert not net.attn_pool._forward_hooks  # the recorder leaves no hook behind


def record_probe(loaded):
    from reportgen.analysis.pooling import recorded_probe

    return recorded_probe(loaded.pooler)


def test_a_siglip_head_that_computes_otherwise_is_refused_in_one_line(monkeypatch):
    loaded = random_model("reportgen_tiny_siglip")
    head = loaded.model.net.attn_pool
    forward = head.forward
    monkeypatch.setattr(head, "forward", lambda x, attn_mask=None: forward(x) * 1.5)
    pixels = loaded.processor(images=[photo(13)])["pixel_values"]
    with pytest.raises(ReportgenError, match=r"^timm [\d.]+: the attention-pooling head's output "):
        Extractor(loaded).forward(pixels)
    monkeypatch.delattr(type(head), "forward", raising=False)
    del head.kv
    with pytest.raises(ReportgenError, match=r"\(AttentionPoolLatent: no kv\) is not the one"):
        timm_backend.TimmModel(loaded.model.net, "siglip")


def random_weights_report(tmp_path, name, photos, *options):
    """A report of ``photos`` photos by the registered timm model ``name`` with random weights
    and faithfulness on two of them, built by the CLI: its folder and manifest."""
    import json

    from conftest import write_images

    from reportgen import cli

    write_images(tmp_path / "photos", photos)
    site = tmp_path / "site"
    command = ["build", str(tmp_path / "photos"), "--out", str(site), "--device", "cpu"]
    command += ["--model", f"timm:{name}", "--random-weights", *options]
    command += ["--faithfulness", "--faithfulness-images", "2"]
    command += ["--date", "2024-05-24", "--cache-dir", str(tmp_path / "c")]
    assert cli.main(command) == 0
    report = site / "reports" / "photos"
    return report, json.loads((report / "data" / "manifest.json").read_text())


def test_a_siglip_report_builds(tmp_path):
    report, manifest = random_weights_report(
        tmp_path, "reportgen_tiny_siglip", 2, "--format", "html"
    )
    assert manifest["model"]["n_prefix"] == 0 and manifest["model"]["pooling"] == "attention pool"
    assert "probe" in " ".join((report / "index.html").read_text().split())


def test_random_weights_are_seeded_and_leave_the_global_generator_alone():
    state = torch.random.get_rng_state()
    first, second = (random_model("reportgen_tiny_vit") for _ in range(2))
    assert torch.equal(torch.random.get_rng_state(), state)
    for a, b in zip(first.model.parameters(), second.model.parameters(), strict=True):
        assert torch.equal(a, b)


def test_preprocessing_is_timms_own_transform():
    loaded = random_model("reportgen_tiny_vit")
    config = timm.data.resolve_model_data_config(loaded.model.net)
    transform = timm.data.create_transform(**config, is_training=False)
    image = photo(3)
    pixels = loaded.processor(images=[image])["pixel_values"]
    assert torch.equal(pixels[0], transform(image))
    processor = loaded.processor
    assert processor.crop_size == {"height": 32, "width": 32}
    assert processor.size == {"shortest_edge": int(32 / config["crop_pct"])}
    seen = seen_images(pixels.numpy(), processor)
    assert seen.shape == (1, 32, 32, 3)
    np.testing.assert_allclose(model_inputs(seen, processor), pixels.numpy(), atol=0.03)
    assert processor.to_dict()["data_config"]["input_size"] == [3, 32, 32]


def test_classifier_gets_predictions_relevance_and_faithfulness():
    loaded = random_model("reportgen_tiny_deit_distilled")
    assert loaded.labels == {index: str(index) for index in range(5)}
    pixels = loaded.processor(images=[photo(4), photo(5)])["pixel_values"]
    weighted, targets, outputs = class_gradients(loaded.model, pixels, None)
    n_tokens = loaded.summary.n_tokens
    assert weighted.shape == (2, 2, n_tokens, n_tokens) and np.isfinite(weighted).all()
    assert weighted.any()
    assert targets == outputs.logits.argmax(dim=-1).tolist()
    seen = seen_images(pixels.numpy(), loaded.processor)
    grid = loaded.summary.grid
    items = [
        FaithfulnessItem(image, {"ramp": np.arange(grid[0] * grid[1]).reshape(grid)})
        for image in seen
    ]
    result = faithfulness(loaded, items, steps=4, batch_size=8)
    assert result.metric == "target probability" and result.images == 2


def test_backbone_faithfulness_scores_the_final_cls_embedding():
    loaded = random_model("reportgen_tiny_dinov2_reg4")
    assert loaded.labels is None and loaded.summary.num_classes is None
    seen = seen_images(
        loaded.processor(images=[photo(6)])["pixel_values"].numpy(), loaded.processor
    )
    grid = loaded.summary.grid
    item = FaithfulnessItem(seen[0], {"ramp": np.arange(grid[0] * grid[1]).reshape(grid)})
    result = faithfulness(loaded, [item], steps=4)
    assert result.metric == "CLS cosine similarity"
    in_bfloat16 = faithfulness(loaded, [item], steps=4, bfloat16=True)  # autocast on timm too
    assert in_bfloat16.precision == "bfloat16"
    for name in ("ramp", "random"):
        assert in_bfloat16.maps[name].deletion_auc == pytest.approx(
            result.maps[name].deletion_auc, abs=0.02
        )


def test_weights_from_a_safetensors_file(tmp_path):
    from safetensors.torch import save_file

    torch.manual_seed(3)
    net = timm.create_model("reportgen_tiny_vit")
    path = tmp_path / "tiny.safetensors"
    save_file(net.state_dict(), str(path))
    ref = model.resolve(f"timm:reportgen_tiny_vit@{path}")
    assert (ref.model_id, ref.source, ref.backend) == ("timm:reportgen_tiny_vit", "file", "timm")
    assert ref.weights_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    loaded = model.load(ref, "cpu")
    for name, value in net.state_dict().items():
        assert torch.equal(loaded.model.net.state_dict()[name], value), name


def test_weights_from_the_local_huggingface_cache(tmp_path, monkeypatch):
    import huggingface_hub.constants
    from safetensors.torch import save_file

    revision = "1" * 40
    snapshot = tmp_path / "models--timm--reportgen_tiny_vit"
    (snapshot / "snapshots" / revision).mkdir(parents=True)
    (snapshot / "refs").mkdir()
    (snapshot / "refs" / "main").write_text(revision)
    torch.manual_seed(4)
    net = timm.create_model("reportgen_tiny_vit")
    save_file(net.state_dict(), str(snapshot / "snapshots" / revision / "model.safetensors"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    ref = model.resolve("timm:reportgen_tiny_vit")
    assert (ref.source, ref.revision) == ("hub", revision)
    assert "hf-hub:timm/reportgen_tiny_vit" in ref.reason
    loaded = model.load(ref, "cpu")
    assert torch.equal(loaded.model.net.cls_token, net.cls_token)


@pytest.mark.parametrize(
    ("spec", "random_weights", "message"),
    [
        ("timm:no_such_model_here", False, "timm has no model called 'no_such_model_here'"),
        ("timm:", False, "name a timm model"),
        ("timm:vit_tiny_patch16_224", False, "not in the local HuggingFace cache"),
        ("timm:vit_tiny_patch16_224@/nowhere/w.bin", False, "is not a .safetensors file"),
        ("timm:vit_tiny_patch16_224@/nowhere/w.safetensors", True, "exclude"),
        ("offline:dinov2-small", True, "--random-weights is for timm models"),
    ],
)
def test_bad_timm_specs_are_clear_errors(spec, random_weights, message, tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(ReportgenError, match=message.replace(".", "\\.").replace("'", "'")):
        model.resolve(spec, random_weights=random_weights)


def test_a_model_without_attention_blocks_is_refused():
    with pytest.raises(ReportgenError, match="not a ViT-family timm model"):
        model.load(model.resolve("timm:resnet18", random_weights=True), "cpu")


def test_hub_form_of_the_name_is_accepted():
    assert (
        timm_backend.parse("timm:hf-hub:timm/vit_small_patch14_dinov2.lvd142m@/w.safetensors")[0]
        == "vit_small_patch14_dinov2.lvd142m"
    )


def test_build_with_random_weights_says_so_on_the_front_page(tmp_path):
    report, manifest = random_weights_report(
        tmp_path, "reportgen_tiny_deit_distilled", 3, "--relevance", "--format", "html,gfm"
    )
    assert manifest["model"]["source"] == "random" and manifest["model"]["n_prefix"] == 2
    assert manifest["parameters"]["random_weights"] is True
    for page in ("index.html", "README.md"):
        assert "The model has random weights" in " ".join((report / page).read_text().split())


def hf_dinov2_to_timm(weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A transformers Dinov2Model's state dict in timm's vit_*_dinov2 names (q, k and v
    concatenated into qkv; the mask token, used only in training, dropped)."""
    renames = {
        "embeddings.cls_token": "cls_token",
        "embeddings.position_embeddings": "pos_embed",
        "embeddings.patch_embeddings.projection.": "patch_embed.proj.",
        "encoder.layer.": "blocks.",
        "attention.o_proj.": "attn.proj.",
        "layer_scale1.lambda1": "ls1.gamma",
        "layer_scale2.lambda1": "ls2.gamma",
        "layernorm.": "norm.",
    }
    converted = {}
    for name, value in weights.items():
        if name == "embeddings.mask_token" or ".attention.q_proj." in name:
            continue
        if ".attention.k_proj." in name or ".attention.v_proj." in name:
            continue
        for old, new in renames.items():
            name = name.replace(old, new)
        converted[name] = value
    layers = {name.split(".")[2] for name in weights if name.startswith("encoder.layer.")}
    for layer in layers:
        for kind in ("weight", "bias"):
            converted[f"blocks.{layer}.attn.qkv.{kind}"] = torch.cat(
                [weights[f"encoder.layer.{layer}.attention.{p}_proj.{kind}"] for p in "qkv"]
            )
    return converted


@pytest.mark.slow
def test_offline_dinov2_converted_into_timm_gives_the_same_maps(tmp_path):
    """The offline DINOv2-S weights in timm's vit_small_patch14_dinov2: the same pixels (at the
    37x37 grid both position embeddings are made for) give the same maps within 1e-4."""
    from safetensors.torch import load_file, save_file

    hf = model.load(model.resolve("offline:dinov2-small"), "cpu")
    weights = load_file(f"{hf.ref.location}/model.safetensors")
    path = tmp_path / "dinov2_small_timm.safetensors"
    save_file(hf_dinov2_to_timm(weights), str(path))
    converted = model.load(model.resolve(f"timm:vit_small_patch14_dinov2@{path}"), "cpu")
    assert converted.summary.grid == (37, 37) and converted.summary.n_prefix == 1
    pixels = converted.processor(images=[photo(7, (80, 60)), photo(8, (50, 70))])["pixel_values"]
    ours = Extractor(converted).forward(pixels)["tensors"]
    theirs = Extractor(hf).forward(pixels)["tensors"]
    for name in ("cls_heads", "fused", "column_means"):
        np.testing.assert_allclose(ours[name].numpy(), theirs[name].numpy(), atol=1e-4)
