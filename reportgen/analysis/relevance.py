"""Class-specific relevance maps from a classifier's attention gradients (Chefer et al. 2021).

One forward pass with gradients recorded, one ``torch.autograd.grad`` call for the whole batch,
then the pure propagation of ``reportgen.methods.relevance``. Gradients go to the attention
tensors only, never into the parameters' ``.grad``, so the model is left as it was.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from reportgen.errors import ReportgenError
from reportgen.methods.relevance import relevance_map

if TYPE_CHECKING:
    import torch

N_EXAMPLES = 3


def weighted_attention(
    attentions: Sequence[torch.Tensor], target_logits: torch.Tensor
) -> np.ndarray:
    """Per image and layer, mean over heads of (grad_A * A) clipped at 0: float32 (B, L, T, T).

    ``attentions`` are the (B, heads, T, T) softmax outputs a model returned with
    ``output_attentions=True`` (still in the autograd graph); ``target_logits`` is (B,), each
    image's target logit. Each image's logit depends on its own input only (no batch statistics
    in eval mode), so the gradient of their sum is every image's own gradient at once.
    """
    import torch

    if target_logits.ndim != 1 or target_logits.shape[0] != attentions[0].shape[0]:
        raise ValueError(
            f"target_logits must be (batch,) = ({attentions[0].shape[0]},), "
            f"got {tuple(target_logits.shape)}"
        )
    gradients = torch.autograd.grad(target_logits.sum(), tuple(attentions))
    weighted = [
        (gradient.float() * attention.detach().float()).clamp(min=0).mean(dim=1)
        for gradient, attention in zip(gradients, attentions, strict=True)
    ]
    return torch.stack(weighted, dim=1).cpu().numpy()


def _examples(labels: dict[int, str]) -> str:
    return ", ".join(f"{index} ({labels[index]!r})" for index in sorted(labels)[:N_EXAMPLES])


def resolve_target(spec: str | None, labels: dict[int, str] | None) -> int | None:
    """The class id ``spec`` names, or None (each image's top-1 class) when it is None.

    ``spec`` is a class id ("281") or a class name: an exact match first, else the one name
    that matches ignoring case. Anything else is a :class:`ReportgenError` with examples.
    """
    if spec is None:
        return None
    if not labels:
        raise ReportgenError(
            f"class {spec!r} was asked for, but the model has no classifier; class relevance "
            "needs a classification model"
        )
    text = spec.strip()
    if text.isascii() and text.isdigit():
        if int(text) in labels:
            return int(text)
        raise ReportgenError(
            f"class id {text} is out of range: the model has {len(labels)} classes, "
            f"ids {min(labels)}-{max(labels)}, e.g. {_examples(labels)}"
        )
    for matches in (
        [index for index, name in labels.items() if name == text],
        [index for index, name in labels.items() if name.casefold() == text.casefold()],
    ):
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise ReportgenError(
                f"class name {text!r} is ambiguous: it matches ids "
                f"{', '.join(map(str, sorted(matches)))}; give the id instead"
            )
    raise ReportgenError(
        f"unknown class {text!r}: give a class id or the exact name of one of the model's "
        f"{len(labels)} classes, e.g. {_examples(labels)}"
    )


def class_relevance(
    model: Any,
    pixel_values: torch.Tensor,
    n_prefix: int,
    grid: tuple[int, int],
    target: int | None,
) -> tuple[np.ndarray, list[int], Any]:
    """Relevance maps for a batch: float32 (B, grid_h, grid_w), each image's target class, and
    the model's outputs, as :func:`class_gradients` gives them."""
    weighted, targets, outputs = class_gradients(model, pixel_values, target)
    maps = np.stack([relevance_map(image, n_prefix, grid) for image in weighted])
    return maps.astype(np.float32), targets, outputs


def class_gradients(
    model: Any, pixel_values: torch.Tensor, target: int | None
) -> tuple[np.ndarray, list[int], Any]:
    """What class relevance is made from, for a batch: the gradient-weighted attention of
    :func:`weighted_attention`, float32 (B, layers, T, T), each image's target class, and the
    model's outputs (attentions and logits still in the graph: detach before use), so the
    caller needs no second forward pass for the attention maps.

    ``target`` is a class id, or None for each image's top-1 class. ``model`` is a classifier
    in eval mode with eager attention (as ``reportgen.analysis.model.load`` gives), so the
    attention it returns is the very softmax output its layers multiply with. Works inside
    ``torch.inference_mode`` or ``torch.no_grad`` too: gradients are switched on here.
    """
    import torch

    if model.training:
        raise ValueError("class_relevance needs the model in eval mode (model.eval())")
    if getattr(model.config, "_attn_implementation", "eager") != "eager":
        raise ValueError("class_relevance needs a model loaded with attn_implementation='eager'")
    with torch.inference_mode(False), torch.enable_grad():
        # A normal tensor even if made under inference mode; requiring its gradient keeps the
        # attention in the graph when the parameters are frozen.
        pixels = pixel_values.clone().requires_grad_(True)
        outputs = model(pixel_values=pixels, output_attentions=True, output_hidden_states=True)
        logits = getattr(outputs, "logits", None)
        if logits is None:
            raise ReportgenError(
                f"{type(model).__name__} has no classifier; class relevance needs class logits"
            )
        if target is None:
            targets = logits.argmax(dim=-1)
        elif 0 <= target < logits.shape[-1]:
            targets = torch.full((logits.shape[0],), target, device=logits.device)
        else:
            raise ReportgenError(
                f"class id {target} is out of range for a model with {logits.shape[-1]} classes"
            )
        target_logits = logits.gather(1, targets[:, None]).squeeze(1)
        weighted = weighted_attention(outputs.attentions, target_logits)
    return weighted, [int(index) for index in targets.tolist()], outputs
