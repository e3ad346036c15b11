"""timm's attention-pooling head (``AttentionPoolLatent``: the SigLIP ViTs, ``global_pool='map'``):
its probe's attention to the patches.

The head computes its softmax inside its own forward (fused, or as a plain tensor), never through
a module a hook could read. So its attention is recomputed from the head's input as timm (1.0)
computes it: the input plus the head's ``pos_embed`` if any; q from the learnt ``latent`` through
``q``, k from the input through ``kv``, split into heads, through ``q_norm`` and ``k_norm``;
``softmax(q k^T * scale)``. Before a map is trusted, the head's output is recomputed from that
attention (``attn @ v``, ``proj``, the residual MLP, the token pool) and must equal what the head
returned: a timm version whose head works otherwise is refused in one line, never drawn wrong.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch

from reportgen.errors import ReportgenError

# What the recomputation reads from the head; a head without any of them is not the one it knows.
PARTS = (
    "latent",
    "latent_len",
    "num_heads",
    "head_dim",
    "scale",
    "pos_embed",
    "q",
    "kv",
    "q_norm",
    "k_norm",
    "proj",
    "norm",
    "mlp",
    "pool",
)
TOLERANCE = {torch.float32: 1e-4, torch.float64: 1e-8}  # of the output's largest value
LOW_PRECISION_TOLERANCE = 3e-2  # float16, bfloat16


class LatentProbe:
    """The probe of one ``AttentionPoolLatent`` head: :meth:`recorded` gives its attention."""

    def __init__(self, head: Any):
        missing = [part for part in PARTS if not hasattr(head, part)]
        if missing or head.latent_len != 1 or head.pool not in ("token", "avg", ""):
            found = f"no {', '.join(missing)}" if missing else f"latent_len {head.latent_len}"
            raise ReportgenError(
                f"timm {_timm_version()}: its attention-pooling head "
                f"({type(head).__name__}: {found}) is not the one reportgen reads; "
                "reportgen cannot show its attention"
            )
        self.head = head

    def attention(self, x: Any) -> tuple[Any, Any]:
        """The head's attention (B, heads, 1, N) for its input ``x`` (B, N, C), and the head's
        output recomputed from it (as the head returns it)."""
        head = self.head
        batch, tokens, channels = x.shape
        if head.pos_embed is not None:
            x = x + head.pos_embed.unsqueeze(0).to(x.dtype)
        q = head.q(head.latent.expand(batch, -1, -1))
        q = q.reshape(batch, 1, head.num_heads, head.head_dim).transpose(1, 2)
        kv = head.kv(x).reshape(batch, tokens, 2, head.num_heads, head.head_dim)
        k, v = kv.permute(2, 0, 3, 1, 4).unbind(0)
        q, k = head.q_norm(q), head.k_norm(k)
        attention = ((q * head.scale) @ k.transpose(-2, -1)).softmax(dim=-1)
        pooled = head.proj((attention @ v).transpose(1, 2).reshape(batch, 1, channels))
        if head.mlp is not None:
            pooled = pooled + head.mlp(head.norm(pooled))
        return attention, pooled if head.pool == "" else pooled[:, 0]

    @contextmanager
    def recorded(self) -> Iterator[list[Any]]:
        """While inside, the list receives the probe's attention (B, heads, N) of each forward
        pass through the head, once its output is reproduced from it."""
        recorded: list[Any] = []

        def record(_: Any, args: tuple, output: Any) -> None:
            with torch.no_grad():
                attention, pooled = self.attention(args[0])
                output = output.detach()
                scale = 1.0 + float(output.abs().max())
                tolerance = TOLERANCE.get(output.dtype, LOW_PRECISION_TOLERANCE)
                if (
                    pooled.shape != output.shape
                    or (pooled - output).abs().max() > tolerance * scale
                ):
                    raise ReportgenError(
                        f"timm {_timm_version()}: the attention-pooling head's output differs "
                        "from the one reportgen recomputes from its weights; reportgen cannot "
                        "show its attention for this timm version"
                    )
            recorded.append(attention[:, :, 0])

        hook = self.head.register_forward_hook(record)
        try:
            yield recorded
        finally:
            hook.remove()


def _timm_version() -> str:
    import timm

    return timm.__version__


def latent_probe(net: Any) -> LatentProbe | None:
    """The probe of the model's attention-pooling head (``attn_pool``), or None without one."""
    head = getattr(net, "attn_pool", None)
    return None if head is None else LatentProbe(head)
