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


def pack_nibbles(levels: np.ndarray) -> np.ndarray:
    """4-bit ``levels`` (..., grid_h, grid_w) two to a byte, each grid flattened in row-major
    order, the first of a pair in the high nibble and an odd count padded with a 0:
    (..., ceil(grid_h * grid_w / 2)) uint8, half the bytes, and deflate compresses it as well."""
    flat = np.asarray(levels, dtype=np.uint8).reshape(*levels.shape[:-2], -1)
    if flat.shape[-1] % 2:
        flat = np.concatenate([flat, np.zeros((*flat.shape[:-1], 1), np.uint8)], axis=-1)
    return (flat[..., 0::2] << 4) | flat[..., 1::2]


def unpack_nibbles(packed: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """The levels :func:`pack_nibbles` packed, as uint8 shaped (..., grid_h, grid_w)."""
    pairs = np.stack([packed >> 4, packed & 15], axis=-1).reshape(*packed.shape[:-1], -1)
    return pairs[..., : grid[0] * grid[1]].reshape(*packed.shape[:-1], *grid)
