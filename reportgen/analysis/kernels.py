"""Faster CPU kernels for the model's linear layers, with the same float32 results.

PyTorch's CPU ``nn.Linear`` multiplies through its BLAS (Intel MKL in the x86 wheels). On AMD
CPUs MKL does not take its AVX-512 paths; oneDNN, which PyTorch also ships (``torch.ops.mkldnn``,
the kernel its own compiler's CPU backend emits for linear layers), does: on this project's AMD
EPYC machine it multiplies ViT-B's linear layers 1.8 to 2.7x faster, and a whole ViT-B forward
pass with attentions takes 0.75 of the time. The results are float32 as before; they differ
from MKL's only in the order of the sums (attention weights by about 1e-8, logits by 1e-6), as
results from two BLAS libraries or two CPUs do. See docs/performance.md.

Only forwards without gradients and without autocast take it (the kernel has no backward and
no bfloat16 casts), only float32 weights on the CPU, and only where the kernel answers a probe;
anywhere else the layers run as they are.
"""

from __future__ import annotations

from functools import cache, partial
from typing import Any


@cache
def onednn_linear_available() -> bool:
    """Whether this PyTorch has oneDNN's linear kernel and it computes a small product right."""
    import torch

    kernel = getattr(getattr(torch.ops, "mkldnn", None), "_linear_pointwise", None)
    if kernel is None or not torch.backends.mkldnn.is_available():
        return False
    inputs, weight, bias = torch.ones(2, 3), torch.ones(4, 3), torch.zeros(4)
    try:
        with torch.inference_mode():
            product = kernel(inputs, weight, bias, "none", [], "")
    except (RuntimeError, TypeError):
        return False
    return bool(torch.equal(product, torch.full((2, 4), 3.0)))


def _onednn_linear(layer: Any, inputs: Any) -> Any:
    """``layer``'s forward through oneDNN where it applies, else the layer's own."""
    import torch

    if (
        torch.is_grad_enabled()  # relevance's backward pass
        or torch.is_autocast_enabled(inputs.device.type)  # faithfulness in bfloat16
        or inputs.dtype != torch.float32
        or inputs.device.type != "cpu"
    ):
        return type(layer).forward(layer, inputs)
    try:
        return torch.ops.mkldnn._linear_pointwise(inputs, layer.weight, layer.bias, "none", [], "")
    except RuntimeError:  # a shape or layout the kernel does not take: PyTorch's own path
        return type(layer).forward(layer, inputs)


def use_onednn_linears(model: Any, device: str) -> int:
    """Make ``model``'s float32 ``nn.Linear`` layers on the CPU compute through oneDNN in
    forwards without gradients (:func:`onednn_linear_available`); the weights and the module
    tree stay as they are. Elsewhere (a GPU, reduced precision, no kernel) nothing changes.
    Returns how many layers take it."""
    import torch

    if device != "cpu" or not onednn_linear_available():
        return 0
    layers = [
        module
        for module in model.modules()
        if type(module) is torch.nn.Linear and module.weight.dtype == torch.float32
    ]
    for layer in layers:
        layer.forward = partial(_onednn_linear, layer)
    return len(layers)
