"""oneDNN linear layers: the same float32 results as PyTorch's own, only where they apply."""

from __future__ import annotations

import pytest
import torch

from reportgen.analysis import kernels
from reportgen.analysis.model import load, resolve

needs_onednn = pytest.mark.skipif(
    not kernels.onednn_linear_available(), reason="this PyTorch has no oneDNN linear kernel"
)


def linear(seed: int = 0, features: tuple[int, int] = (48, 24)) -> torch.nn.Linear:
    torch.manual_seed(seed)
    return torch.nn.Linear(*features)


@needs_onednn
def test_a_linear_layer_gives_pytorchs_result_through_onednn():
    layer, reference = linear(), linear()
    assert kernels.use_onednn_linears(torch.nn.Sequential(layer), "cpu") == 1
    inputs = torch.randn(3, 5, 48)
    with torch.inference_mode():
        ours, theirs = layer(inputs), reference(inputs)
    assert "forward" in vars(layer)  # it took the kernel
    assert ours.shape == theirs.shape == (3, 5, 24)
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)


@needs_onednn
def test_gradients_and_autocast_take_the_layers_own_path():
    layer, reference = linear(), linear()
    kernels.use_onednn_linears(torch.nn.Sequential(layer), "cpu")
    inputs = torch.randn(4, 48, requires_grad=True)
    layer(inputs).sum().backward()  # relevance: the kernel has no backward
    expected = inputs.grad.clone()
    inputs.grad = None
    reference(inputs).sum().backward()
    torch.testing.assert_close(expected, inputs.grad)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        assert layer(torch.randn(4, 48)).dtype == torch.bfloat16  # faithfulness in bfloat16


def test_only_float32_layers_on_the_cpu_take_it():
    half = torch.nn.Sequential(linear()).to(torch.bfloat16)
    assert kernels.use_onednn_linears(half, "cpu") == 0
    assert kernels.use_onednn_linears(torch.nn.Sequential(linear()), "cuda") == 0
    assert "forward" not in vars(half[0])


@needs_onednn
def test_a_loaded_model_gives_the_same_attention_and_logits(tiny_vit_dir, tmp_path):
    import transformers

    loaded = load(resolve(str(tiny_vit_dir), cache_dir=tmp_path), device="cpu")
    taken = [module for module in loaded.model.modules() if "forward" in vars(module)]
    assert taken and all(type(module) is torch.nn.Linear for module in taken)
    reference = transformers.ViTForImageClassification.from_pretrained(
        tiny_vit_dir, attn_implementation="eager"
    ).eval()
    assert loaded.model.state_dict().keys() == reference.state_dict().keys()
    pixels = torch.randn(2, 3, 32, 32)
    with torch.inference_mode():
        ours = loaded.model(pixel_values=pixels, output_attentions=True)
        theirs = reference(pixel_values=pixels, output_attentions=True)
    for mine, other in zip(ours.attentions, theirs.attentions, strict=True):
        torch.testing.assert_close(mine, other, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(ours.logits, theirs.logits, rtol=1e-5, atol=1e-5)


@needs_onednn
def test_inputs_the_kernel_refuses_take_the_layers_own_path(monkeypatch):
    layer, reference = linear(), linear()
    kernels.use_onednn_linears(torch.nn.Sequential(layer), "cpu")

    def refuse(*args):
        raise RuntimeError("mkldnn: unsupported layout")

    monkeypatch.setattr(torch.ops.mkldnn, "_linear_pointwise", refuse)
    inputs = torch.randn(2, 48)
    with torch.inference_mode():
        torch.testing.assert_close(layer(inputs), reference(inputs))
