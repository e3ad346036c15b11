"""Artifact tokens: lone patches that soak up attention from every token. Pure numpy, no I/O.

Large ViTs trained without registers (DINOv2, DeiT-III, OpenCLIP...) repurpose a few redundant
background patches as global "sinks" (Darcet et al., "Vision Transformers Need Registers",
ICLR 2024). The CLS token attends to them strongly, so the max over layers and attention rollout
point at background. An artifact is attended by nearly every token; an object is attended mostly
by its own patches and the CLS token. The rule therefore reads the attention each patch
*receives from all tokens*, never the CLS row alone (a threshold on the CLS row masks the object
itself).

Rule (chosen by measurement on the offline DINOv2 model, see docs/maps.md): in layer ``l`` a
patch is an artifact when both

1. it receives at least ``SHARE`` times its fair share of the layer's attention: the column
   mean over every query token of the head-averaged attention, times the number of tokens, is
   >= ``SHARE`` (1 = what a token gets under uniform attention);
2. it is a lone spike: it receives more than ``ISOLATION`` times the median of what its (up
   to eight) neighbouring patches receive. An object is a region whose patches are all
   attended, so its patches do not pass this test.

Masked patches are then filled with the median of their non-masked neighbours, widening the
neighbourhood ring by ring until one is found.
"""

from __future__ import annotations

import numpy as np

from reportgen.methods.maps import check_tokens

SHARE = 2.0
ISOLATION = 3.0
AUTO_START_SHARE = 0.2  # share of CLS attention on artifacts that makes a layer "artifact-led"
ARTIFACT_MODES = ("mask", "keep")
# What finds the artifacts (--artifacts-by): the rule above, the token norms
# (methods.norms.high_norm_layers), or either.
ARTIFACT_RULES = ("attention", "norm", "both")
ATTENTION_RULE = (
    f"received attention >= {SHARE:g}x a uniform share and > {ISOLATION:g}x the median of the "
    "neighbouring patches"
)


def received_attention(attn: np.ndarray, n_prefix: int, grid: tuple[int, int]) -> np.ndarray:
    """Per layer, what each patch receives from all tokens, in units of a uniform share.

    ``attn`` is (layers, heads, T, T); the result is float64 (layers, grid_h, grid_w): the
    head-averaged column mean over every query token, times T.
    """
    attn = np.asarray(attn)
    check_tokens(attn.shape[-1], n_prefix, grid, cls=False)
    return received_from_column_means(attn.mean(axis=(1, 2), dtype=np.float64), n_prefix, grid)


def received_from_column_means(
    column_means: np.ndarray, n_prefix: int, grid: tuple[int, int]
) -> np.ndarray:
    """:func:`received_attention` from per-layer column means over heads and queries (layers,
    T), the one reduction of the full attention it needs (made where the attention is)."""
    column_means = np.asarray(column_means, dtype=np.float64)
    n_tokens = column_means.shape[-1]
    check_tokens(n_tokens, n_prefix, grid, cls=False)
    return (column_means[:, n_prefix:] * n_tokens).reshape(column_means.shape[0], *grid)


def _neighbour_median(values: np.ndarray) -> np.ndarray:
    """For each cell of the 2-D grids in ``values`` (..., gh, gw), the median of its up to
    eight neighbours (edges: fewer)."""
    grid_h, grid_w = values.shape[-2:]
    padding = [(0, 0)] * (values.ndim - 2) + [(1, 1), (1, 1)]
    padded = np.pad(values.astype(np.float64), padding, constant_values=np.nan)
    shifts = [
        padded[..., 1 + dr : 1 + dr + grid_h, 1 + dc : 1 + dc + grid_w]
        for dr in (-1, 0, 1)
        for dc in (-1, 0, 1)
        if dr or dc
    ]
    return np.nanmedian(np.stack(shifts), axis=0)


def detect(received: np.ndarray, share: float = SHARE, isolation: float = ISOLATION) -> np.ndarray:
    """Artifact mask, bool (layers, grid_h, grid_w), from :func:`received_attention`."""
    received = np.asarray(received, dtype=np.float64)
    if received.ndim != 3:
        raise ValueError(f"received attention must be (layers, gh, gw), got {received.shape}")
    if received.shape[1] * received.shape[2] < 2:
        return np.zeros(received.shape, dtype=bool)
    return (received >= share) & (received > isolation * _neighbour_median(received))


def fill_masked(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """A copy of a 2-D map whose masked cells hold the median of their nearest non-masked
    neighbours (the 3x3 ring first, then 5x5, ...). All masked: returned unchanged."""
    values = np.asarray(values, dtype=np.float64)
    mask = np.asarray(mask, dtype=bool)
    if values.shape != mask.shape:
        raise ValueError(f"map {values.shape} and mask {mask.shape} differ in shape")
    filled = values.copy()
    if not mask.any() or mask.all():
        return filled
    grid_h, grid_w = values.shape
    for row, col in zip(*np.nonzero(mask), strict=True):
        for radius in range(1, max(grid_h, grid_w)):
            rows = slice(max(0, row - radius), row + radius + 1)
            cols = slice(max(0, col - radius), col + radius + 1)
            kept = values[rows, cols][~mask[rows, cols]]
            if kept.size:
                filled[row, col] = np.median(kept)
                break
    return filled


def fill_layers(layer_maps: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """:func:`fill_masked` applied layer by layer: (layers, gh, gw) maps and mask."""
    return np.stack(
        [fill_masked(layer, layer_mask) for layer, layer_mask in zip(layer_maps, mask, strict=True)]
    )


def cls_share(layer_maps: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per layer, the share of the CLS attention to patches that falls on masked patches."""
    layer_maps = np.asarray(layer_maps, dtype=np.float64)
    totals = layer_maps.sum(axis=(1, 2))
    on_mask = (layer_maps * np.asarray(mask, dtype=bool)).sum(axis=(1, 2))
    return np.divide(on_mask, totals, out=np.zeros_like(totals), where=totals > 0)


def auto_start_layer(shares: np.ndarray, threshold: float = AUTO_START_SHARE) -> int:
    """Rollout start layer for ``--rollout-start-layer auto``, from per-layer artifact shares.

    Rollout leaves out every layer up to the last one, in the first half of the depth, whose
    CLS attention puts at least ``threshold`` of its mass on artifact patches: those early
    spikes would otherwise be multiplied through every later layer. No such layer: 0, the
    paper's definition.
    """
    shares = np.asarray(shares, dtype=np.float64)
    early = np.flatnonzero(shares[: len(shares) // 2] >= threshold)
    return int(early[-1]) + 1 if early.size else 0
