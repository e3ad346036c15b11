"""Maps as few-bit integers per grid (the maps file's heads and token norms, the explorer's
data): pure numpy."""

from __future__ import annotations

import numpy as np


def quantise(values: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``values`` (..., grid_h, grid_w) as unsigned integers of ``bits`` bits per grid, with each
    grid's ``low`` and ``high`` (float32, as stored): value = low + level / (2**bits - 1) *
    (high - low), within half a step of the input. A flat grid is all level 0."""
    grids = np.asarray(values, dtype=np.float64)
    low = grids.min(axis=(-2, -1)).astype(np.float32)
    high = grids.max(axis=(-2, -1)).astype(np.float32)
    top = 2**bits - 1
    span = np.where(high > low, high.astype(np.float64) - low, 1.0)[..., None, None]
    levels = np.clip(np.round((grids - low[..., None, None]) / span * top), 0, top)
    return levels.astype(np.uint8 if bits <= 8 else np.uint16), low, high


def dequantise(levels: np.ndarray, low: np.ndarray, high: np.ndarray, bits: int) -> np.ndarray:
    """The values :func:`quantise` encoded, as float32."""
    step = (high.astype(np.float64) - low) / (2**bits - 1)
    return (low[..., None, None] + levels * step[..., None, None]).astype(np.float32)
