"""Runs compared image by image: matching their images, resampling their maps to one grid, the
rank correlation of two maps, level transitions and the images that moved most. Pure numpy.

Two runs of the same images differ in model, options or checkpoint; their maps may have
different patch grids (patch 14 against 16, other resolutions), so maps are compared on the
finest grid of the runs, each resampled bilinearly with patch centres aligned.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import TypeVar

import numpy as np

Item = TypeVar("Item")


def match(
    runs: Sequence[Sequence[Item]], keys: Sequence[Callable[[Item], Hashable | None]]
) -> tuple[list[tuple[Item, ...]], list[list[Item]]]:
    """The items present in every run, matched by the first of ``keys`` that pairs them (a key
    of None never matches), in the first run's order; and, per run, the items left unmatched.

    Each key is tried on what the earlier keys left: content hash first, then source id, then
    name. Within a run, the first item with a key takes it.
    """
    remaining = [list(items) for items in runs]
    matched: list[tuple[Item, ...]] = []
    for key in keys:
        by_key = []
        for items in remaining:
            found: dict[Hashable, Item] = {}
            for item in items:
                value = key(item)
                if value is not None:
                    found.setdefault(value, item)
            by_key.append(found)
        common = [value for value in by_key[0] if all(value in found for found in by_key[1:])]
        groups = [tuple(found[value] for found in by_key) for value in common]
        taken = [{id(group[run]) for group in groups} for run in range(len(remaining))]
        remaining = [
            [item for item in items if id(item) not in taken[run]]
            for run, items in enumerate(remaining)
        ]
        matched += groups
    order = {id(item): index for index, item in enumerate(runs[0])}
    matched.sort(key=lambda group: order[id(group[0])])
    return matched, remaining


def common_grid(grids: Sequence[tuple[int, int]]) -> tuple[int, int]:
    """The grid maps are compared on: the finest rows and columns among ``grids``."""
    return max(rows for rows, _ in grids), max(columns for _, columns in grids)


def _axis_weights(source: int, target: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lower index, upper index and upper weight of each target cell along one axis, patch
    centres aligned (target cell centre (i + 0.5) * source / target - 0.5, clamped)."""
    position = np.clip((np.arange(target) + 0.5) * source / target - 0.5, 0, source - 1)
    lower = np.floor(position).astype(np.int64)
    upper = np.minimum(lower + 1, source - 1)
    return lower, upper, position - lower


def resample(grid_map: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A (rows, columns) map bilinearly resampled to ``shape``, float64; unchanged (as float64)
    when it already has that shape."""
    values = np.asarray(grid_map, dtype=np.float64)
    if values.shape == tuple(shape):
        return values
    top, bottom, row_weight = _axis_weights(values.shape[0], shape[0])
    left, right, column_weight = _axis_weights(values.shape[1], shape[1])
    rows = values[top] * (1 - row_weight)[:, None] + values[bottom] * row_weight[:, None]
    return rows[:, left] * (1 - column_weight) + rows[:, right] * column_weight


def ranks(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n of ``values`` (flattened), ties given their average rank."""
    flat = np.asarray(values, dtype=np.float64).ravel()
    order = np.argsort(flat, kind="stable")
    ordered = flat[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    ends = np.r_[starts[1:], flat.size]
    average = (starts + ends + 1) / 2.0  # mean of the 1-based ranks start+1 .. end
    result = np.empty(flat.size)
    result[order] = np.repeat(average, ends - starts)
    return result


def rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation of two maps of one shape (Pearson's on their average ranks);
    NaN when either map is constant, as scipy's ``spearmanr`` gives."""
    rank_a, rank_b = ranks(a), ranks(b)
    if rank_a.size != rank_b.size:
        raise ValueError(f"maps of {rank_a.size} and {rank_b.size} values cannot be correlated")
    rank_a -= rank_a.mean()
    rank_b -= rank_b.mean()
    scale = np.sqrt((rank_a * rank_a).sum() * (rank_b * rank_b).sum())
    if scale == 0:
        return float("nan")
    return float(np.clip((rank_a * rank_b).sum() / scale, -1.0, 1.0))


def as_distribution(grid_map: np.ndarray) -> np.ndarray:
    """A non-negative map scaled to sum 1 (as the spread entropy reads it); zeros stay zeros."""
    values = np.asarray(grid_map, dtype=np.float64)
    total = values.sum()
    return values / total if total > 0 else values


def transitions(levels_a: Sequence[int], levels_b: Sequence[int], n_a: int, n_b: int) -> np.ndarray:
    """(n_a, n_b) counts: row i, column j holds the images at level i+1 in A and j+1 in B."""
    counts = np.zeros((n_a, n_b), dtype=np.int64)
    np.add.at(counts, (np.asarray(levels_a) - 1, np.asarray(levels_b) - 1), 1)
    return counts


def movers(levels: np.ndarray, entropies: np.ndarray, k: int) -> list[int]:
    """Indices of the ``k`` images that moved most across runs: the widest spread of levels
    first, then of entropies; ties by position. ``levels`` and ``entropies`` are
    (n_images, n_runs)."""
    level_change = np.ptp(np.asarray(levels), axis=1)
    entropy_change = np.ptp(np.asarray(entropies, dtype=np.float64), axis=1)
    order = np.lexsort((np.arange(level_change.size), -entropy_change, -level_change))
    return [int(index) for index in order[:k]]
