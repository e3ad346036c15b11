"""Attention maps from raw attention: pure numpy, no I/O, no torch.

Shapes: ``attn`` is one image's attention, (layers, heads, tokens, tokens), where the first
``n_prefix`` tokens are CLS (index 0) plus any distillation or register tokens and the rest are
the patches of a ``grid = (grid_h, grid_w)`` patch grid in row-major order. Results are float64
maps shaped ``grid``, not rescaled for display.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

AGGREGATES: dict[str, Callable[..., np.ndarray]] = {"max": np.max, "min": np.min, "mean": np.mean}
# How rollout may combine a layer's heads: their own list, not the layer aggregates, so a new
# aggregate over layers is never taken for a head fusion (the device side computes only these).
_HEAD_REDUCTIONS: dict[str, Callable[..., np.ndarray]] = {
    "mean": np.mean,
    "max": np.max,
    "min": np.min,
}
HEAD_FUSIONS = tuple(_HEAD_REDUCTIONS)


@dataclass(frozen=True)
class RolloutOptions:
    """The parameters of :func:`rollout` after the attention itself."""

    head_fusion: str = "mean"
    discard_ratio: float = 0.0
    start_layer: int = 0


def check_tokens(n_tokens: int, n_prefix: int, grid: tuple[int, int], cls: bool = True) -> None:
    """Refuse shapes where prefix + patch grid does not account for every token; ``cls``: the
    first token must be a CLS token (no prefix tokens at all is fine otherwise)."""
    grid_h, grid_w = grid
    if n_prefix < 1 and (cls or n_prefix < 0):
        raise ValueError(
            "n_prefix must be at least 1 (the CLS token)" if cls else "n_prefix must be >= 0"
        )
    if n_prefix + grid_h * grid_w != n_tokens:
        raise ValueError(
            f"{n_tokens} tokens do not split into {n_prefix} prefix tokens "
            f"+ a {grid_h}x{grid_w} patch grid"
        )


def cls_rows(attn: np.ndarray, n_prefix: int, grid: tuple[int, int]) -> np.ndarray:
    """Per layer and head, the CLS token's attention to the patches: (layers, heads, gh, gw)."""
    attn = np.asarray(attn)
    if attn.ndim != 4 or attn.shape[-1] != attn.shape[-2]:
        raise ValueError(f"attention must be (layers, heads, T, T), got {attn.shape}")
    check_tokens(attn.shape[-1], n_prefix, grid)
    rows = attn[:, :, 0, n_prefix:]
    return rows.reshape(attn.shape[0], attn.shape[1], *grid).astype(np.float64)


def layer_maps(attn: np.ndarray, n_prefix: int, grid: tuple[int, int]) -> np.ndarray:
    """Per layer, the CLS row averaged over heads, patch columns only: (layers, gh, gw)."""
    return cls_rows(attn, n_prefix, grid).mean(axis=1)


def received_maps(attn: np.ndarray, n_prefix: int, grid: tuple[int, int]) -> np.ndarray:
    """Per layer, the mean attention each patch receives, over heads and query tokens:
    (layers, gh, gw). The layer maps of a model without a CLS token (a stand-in for the CLS
    row: it says which patches the layer's tokens draw on)."""
    attn = np.asarray(attn)
    check_tokens(attn.shape[-1], n_prefix, grid, cls=False)
    received = attn.mean(axis=(1, 2), dtype=np.float64)[:, n_prefix:]
    return received.reshape(attn.shape[0], *grid)


def aggregate(layer_maps: np.ndarray, how: str) -> np.ndarray:
    """Element-wise ``max``, ``min`` or ``mean`` of the per-layer maps across layers."""
    if how not in AGGREGATES:
        raise ValueError(f"unknown aggregate {how!r}; choose from {', '.join(AGGREGATES)}")
    return AGGREGATES[how](np.asarray(layer_maps, dtype=np.float64), axis=0)


PEAK_PERCENTILE = 99.0


def relative_to_peak(layer_maps: np.ndarray) -> np.ndarray:
    """Each layer map (layers, gh, gw) divided by its :data:`PEAK_PERCENTILE`-th percentile over
    the patches, float64: layers in units of their own peak, so a flat layer does not decide a
    minimum over layers by its height, and one spiking patch does not set a layer's scale. A
    layer whose percentile is 0 is kept as it is."""
    layer_maps = np.asarray(layer_maps, dtype=np.float64)
    peaks = np.percentile(layer_maps, PEAK_PERCENTILE, axis=(-2, -1), keepdims=True)
    return np.divide(layer_maps, peaks, out=layer_maps.copy(), where=peaks > 0)


def fuse_heads(attn: np.ndarray, head_fusion: str = "mean") -> np.ndarray:
    """Combine the heads of every layer: (layers, heads, T, T) -> (layers, T, T)."""
    if head_fusion not in HEAD_FUSIONS:
        raise ValueError(
            f"unknown head fusion {head_fusion!r}; choose from {', '.join(HEAD_FUSIONS)}"
        )
    # Reduce in the input precision (float32 from the model), then widen: the copy is 1/heads.
    return _HEAD_REDUCTIONS[head_fusion](np.asarray(attn), axis=1).astype(np.float64)


def _rollout_layers(fused: np.ndarray, discard_ratio: float, start_layer: int) -> np.ndarray:
    """The head-fused layers rollout multiplies, after checking its parameters."""
    fused = np.asarray(fused)
    n_layers = fused.shape[0]
    if not 0.0 <= discard_ratio < 1.0:
        raise ValueError(f"discard_ratio must be in [0, 1), got {discard_ratio}")
    if not 0 <= start_layer < n_layers:
        raise ValueError(f"start_layer must be in [0, {n_layers - 1}], got {start_layer}")
    return fused[start_layer:]


def _discard_lowest(layer: np.ndarray, discard_ratio: float, cls: bool = True) -> np.ndarray:
    """A float64 copy of a fused (T, T) layer with its ``int(T*T*discard_ratio)`` lowest
    entries zeroed in one global selection; with a CLS token (``cls``) the CLS-to-CLS entry is
    kept even when selected (without one, entry 0 is a patch's and goes like any other)."""
    layer = np.array(layer, dtype=np.float64)
    n_discard = int(layer.size * discard_ratio)
    if n_discard:
        flat = layer.reshape(-1)
        lowest = np.argpartition(flat, n_discard - 1)[:n_discard]
        flat[lowest[lowest != 0] if cls else lowest] = 0.0  # index 0 is CLS->CLS: it stays
    return layer


def rollout_matrix(
    fused: np.ndarray, discard_ratio: float = 0.0, start_layer: int = 0
) -> np.ndarray:
    """The joint attention R (T, T) of rollout over head-fused attention (layers, T, T).

    Every row of R is a distribution over tokens; see :func:`rollout` for the definition.
    """
    layers = _rollout_layers(fused, discard_ratio, start_layer)
    identity = np.eye(layers.shape[-1])
    joint = identity
    for layer in layers:
        step = 0.5 * _discard_lowest(layer, discard_ratio) + 0.5 * identity
        step /= step.sum(axis=-1, keepdims=True)
        joint = step @ joint
    return joint


def rollout_row(
    fused: np.ndarray,
    discard_ratio: float = 0.0,
    start_layer: int = 0,
    row: int = 0,
    query: np.ndarray | None = None,
) -> np.ndarray:
    """Row ``row`` (0: CLS) of :func:`rollout_matrix`, float64 (T,), without forming R; or,
    given a ``query`` (T,), the distribution over tokens ``query @ R``: an attention-pooling
    head's probe attention followed back through the layers.

    R = A'_L ... A'_(s+1), so its row is a row vector times each layer's step, last layer
    first: O(layers * T^2) instead of O(layers * T^3). Each step ``(0.5 A + 0.5 I)`` divided
    by its row sums is applied as ``v/r @ (0.5 A) + 0.5 v/r``, so no T x T step is built.
    Accepts float32 layers (read once, accumulated in float64).
    """
    layers = _rollout_layers(fused, discard_ratio, start_layer)
    if query is None:
        vector = np.zeros(layers.shape[-1])
        vector[row] = 1.0
    else:
        vector = np.asarray(query, dtype=np.float64)
    for layer in layers[::-1]:
        if discard_ratio:
            layer = _discard_lowest(layer, discard_ratio, cls=query is None)
        row_sums = 0.5 * layer.sum(axis=-1, dtype=np.float64) + 0.5
        half = 0.5 * vector / row_sums
        vector = half @ layer + half
    return vector


def rollout_fused(
    fused: np.ndarray,
    n_prefix: int,
    grid: tuple[int, int],
    discard_ratio: float = 0.0,
    start_layer: int = 0,
    query: np.ndarray | None = None,
) -> np.ndarray:
    """Attention rollout over head-fused attention (layers, T, T); see :func:`rollout`. With a
    ``query`` (T,), the probe of an attention-pooling head, it is ``query @ R`` instead of the
    CLS row."""
    check_tokens(np.shape(fused)[-1], n_prefix, grid, cls=query is None)
    joint = rollout_row(fused, discard_ratio, start_layer, query=query)
    return joint[n_prefix:].reshape(grid)


def rollout(
    attn: np.ndarray,
    n_prefix: int,
    grid: tuple[int, int],
    head_fusion: str = "mean",
    discard_ratio: float = 0.0,
    start_layer: int = 0,
) -> np.ndarray:
    """Attention rollout (Abnar & Zuidema 2020, arXiv 2005.00928): the CLS row over patches.

    Per layer: fuse heads; if ``discard_ratio`` > 0 zero the ``int(T*T*discard_ratio)`` lowest
    entries of the fused T x T matrix (one global selection per layer; the CLS-to-CLS entry is
    kept even when selected); A' = 0.5 A + 0.5 I; normalise each row to sum 1. Then
    R = A'_L ... A'_(s+1) with the last layer leftmost, where ``start_layer`` = s layers are left
    out (0 uses every layer, the paper's definition).
    """
    return rollout_fused(fuse_heads(attn, head_fusion), n_prefix, grid, discard_ratio, start_layer)
