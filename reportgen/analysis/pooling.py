"""Models without a CLS token that pool with an attention head (SigLIP's vision tower and any
model of that kind): where their attention to the patches comes from.

Such a head holds a learnt query, the probe, and a ``torch.nn.MultiheadAttention`` in which the
probe attends to the last layer's tokens. While :func:`recorded_probe` is active, that module
returns every head's weights and a forward hook records them: the probe's attention, the model's
own answer to "which patches make the embedding", as the CLS row is for a CLS model. A backend
whose head exposes no such module gives its model a ``probe_recorder`` instead: an object whose
``recorded()`` does the same (timm's: :mod:`reportgen.analysis.backends.timm_pool`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

CLS = "cls"  # ModelSummary.pooling of a model with a CLS token
ATTENTION_POOL = "attention pool"  # of a model whose pooler is an attention head


def attention_pooler(model: Any) -> Any | None:
    """The model's ``probe_recorder``, else the ``MultiheadAttention`` of its attention-pooling
    head (a module with a ``probe`` parameter and an ``attention`` of that type), else None."""
    import torch

    recorder = getattr(model, "probe_recorder", None)
    if recorder is not None:
        return recorder
    for module in model.modules():
        attention = getattr(module, "attention", None)
        if isinstance(getattr(module, "probe", None), torch.nn.Parameter) and isinstance(
            attention, torch.nn.MultiheadAttention
        ):
            return attention
    return None


@contextmanager
def recorded_probe(pooler: Any | None) -> Iterator[list[Any]]:
    """While inside, the list receives the probe's attention of each forward pass through
    ``pooler``: (B, heads, T), every head's weights (nothing when ``pooler`` is None)."""
    if pooler is None:
        yield []
        return
    if hasattr(pooler, "recorded"):  # a backend's probe_recorder
        with pooler.recorded() as recorded:
            yield recorded
        return
    recorded: list[Any] = []

    def every_head(_: Any, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
        return args, {**kwargs, "need_weights": True, "average_attn_weights": False}

    def record(_: Any, args: tuple, kwargs: dict, output: tuple) -> None:
        recorded.append(output[1][:, :, 0])  # (B, heads, queries=1, T) -> (B, heads, T)

    hooks = [
        pooler.register_forward_pre_hook(every_head, with_kwargs=True),
        pooler.register_forward_hook(record, with_kwargs=True),
    ]
    try:
        yield recorded
    finally:
        for hook in hooks:
            hook.remove()
