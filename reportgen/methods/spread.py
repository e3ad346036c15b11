"""Spread levels: how focused or spread an image's attention is. Pure numpy, no I/O.

Rules (documented in docs/maps.md and stated in every report):

- The spread of a map is its normalised Shannon entropy: the map is scaled to sum 1 and
  H = -sum p log p is divided by log(number of patches), so 0 means all attention on one patch and
  1 means uniform attention, comparable across models and resolutions.
- Levels are quantiles of the set: images are ranked by entropy (ties in entropy broken by their
  position in the input order) and rank r of n goes to level 1 + floor(r * N / n), so level 1
  holds the most focused images and level N the most spread, in groups whose sizes differ by at
  most one. Images with exactly equal entropy always share a level: each takes the level of the
  first-ranked image of its tie, so a level can end up empty only when ties fill it.
- With fewer images than levels, N becomes the number of images (one image per level).
- A level's featured image is the one whose entropy is nearest the level's median; on a tie,
  the more focused (earlier ranked) one. Its K typical images are the K nearest the median, by
  the same rule; the featured image is always the first of them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from reportgen.methods import registry
from reportgen.methods.layers import LAYERS
from reportgen.record import ImageRecord

LAYER = "layer"  # the kind of ``layer:K``: one of the layer maps
_LAYER_SPEC = re.compile(r"layer:(\d+)")


def spread_maps() -> list[str]:
    """The maps ``--spread-by`` can name besides ``layer:K``: every one-grid map method."""
    return [method.name for method in registry.grid_methods()]


def choices_text() -> str:
    """The choices of ``--spread-by`` in words, for help and error messages."""
    return f"{', '.join(spread_maps())} or layer:K (K >= 1)"


def entropy(attention_map: np.ndarray) -> float:
    """Normalised Shannon entropy of a non-negative map, in [0, 1]."""
    values = np.asarray(attention_map, dtype=np.float64).ravel()
    if values.size == 0:
        raise ValueError("cannot take the entropy of an empty map")
    if np.any(values < 0) or not np.all(np.isfinite(values)):
        raise ValueError("attention maps must be finite and non-negative")
    total = values.sum()
    if total <= 0:
        raise ValueError("cannot take the entropy of an all-zero map")
    if values.size == 1:
        return 0.0
    p = values / total
    p = p[p > 0]  # 0 log 0 = 0; also drops values that underflow when divided
    return float(np.clip(-(p * np.log(p)).sum() / np.log(values.size), 0.0, 1.0))


@dataclass(frozen=True)
class SpreadSpec:
    """Which map the spread levels are computed from: a one-grid map method, or one layer."""

    kind: str  # a method's name ("max", "min", "mean", "rollout", "relevance"...) or "layer"
    layer: int | None = None  # 1-based, for kind == "layer"

    @classmethod
    def parse(cls, text: str) -> SpreadSpec:
        """Parse the name of a one-grid map method or ``layer:K`` (K >= 1)."""
        if text in spread_maps():
            return cls(text)
        match = _LAYER_SPEC.fullmatch(text)
        if match and int(match.group(1)) >= 1:
            return cls(LAYER, int(match.group(1)))
        raise ValueError(f"unknown spread map {text!r}; use one of {choices_text()}")

    def __str__(self) -> str:
        return f"layer:{self.layer}" if self.kind == LAYER else self.kind

    def describe(self, rollout_start_layer: int = 0, cls: bool = True) -> str:
        """Plain words for the report: which map the levels use. Without a CLS token (``cls``
        False) the layer maps are the attention each patch receives, and the words say so."""
        if self.kind == LAYER:
            words = f"the CLS attention of layer {self.layer} (heads averaged)"
        else:
            words = registry.methods()[self.kind].spread_words(rollout_start_layer)
        return words if cls else words.replace("CLS attention", "received attention")

    def select(self, maps: Mapping[str, np.ndarray]) -> np.ndarray:
        """The chosen map among one image's stored maps (see :mod:`reportgen.methods.panels`)."""
        if self.kind == LAYER:
            layers = maps[LAYERS]
            if self.layer > len(layers):
                raise ValueError(f"layer:{self.layer} asked, the model has {len(layers)}")
            return np.asarray(layers[self.layer - 1], dtype=np.float64)
        if self.kind not in maps:
            raise ValueError(f"the {self.kind} map was not computed for this analysis")
        return np.asarray(maps[self.kind], dtype=np.float64)


def record_entropies(record: ImageRecord, spec: SpreadSpec) -> tuple[float, tuple[float, ...]]:
    """A record's spread entropy and the entropy of each of its layer maps: what the results
    store records per image, and what ``verify`` re-derives from the stored maps."""
    layers = tuple(entropy(layer) for layer in record.maps[LAYERS])
    return entropy(spec.select(record.maps)), layers


def assign_levels(entropies: np.ndarray, n_levels: int) -> np.ndarray:
    """Spread level (1 = focused ... N = spread) of each image, by the rules in the module doc."""
    values = np.asarray(entropies, dtype=np.float64)
    if n_levels < 1:
        raise ValueError("the number of levels must be at least 1")
    n = values.size
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    n_eff = min(n_levels, n)
    order = np.argsort(values, kind="stable")
    levels = np.empty(n, dtype=np.int64)
    first_of_tie_level = 0
    for rank, index in enumerate(order):
        level = 1 + (rank * n_eff) // n
        if rank and values[index] == values[order[rank - 1]]:
            level = first_of_tie_level
        else:
            first_of_tie_level = level
        levels[index] = level
    return levels


def _nearest_the_median(
    entropies: np.ndarray, levels: np.ndarray, level: int
) -> tuple[np.ndarray, np.ndarray]:
    """The images of ``level``, nearest the level's median entropy first (on a tie, the more
    focused first), as (indices, entropy rank within the level)."""
    values = np.asarray(entropies, dtype=np.float64)
    members = np.flatnonzero(np.asarray(levels) == level)
    if members.size == 0:
        raise ValueError(f"level {level} has no images")
    members = members[np.argsort(values[members], kind="stable")]
    distance = np.abs(values[members] - np.median(values[members]))
    ranks = np.argsort(distance, kind="stable")
    return members[ranks], ranks


def featured_index(entropies: np.ndarray, levels: np.ndarray, level: int) -> int:
    """Index of the image featured for ``level``: nearest the level's median entropy."""
    return int(_nearest_the_median(entropies, levels, level)[0][0])


def typical_indices(entropies: np.ndarray, levels: np.ndarray, level: int, k: int) -> list[int]:
    """Indices of the ``k`` images of ``level`` nearest its median entropy (the featured image
    and the next nearest), listed from the most focused to the most spread."""
    if k < 1:
        raise ValueError("k must be at least 1")
    indices, ranks = _nearest_the_median(entropies, levels, level)
    nearest = np.argsort(ranks[:k], kind="stable")
    return [int(index) for index in indices[:k][nearest]]


def level_ranges(entropies: np.ndarray, levels: np.ndarray) -> dict[int, tuple[float, float]]:
    """Lowest and highest entropy of each non-empty level."""
    values = np.asarray(entropies, dtype=np.float64)
    levels = np.asarray(levels)
    return {
        int(level): (float(values[levels == level].min()), float(values[levels == level].max()))
        for level in np.unique(levels)
    }


def level_boundaries(entropies: np.ndarray, levels: np.ndarray) -> list[float]:
    """Entropy thresholds between consecutive non-empty levels (midpoints), for charts."""
    ranges = level_ranges(entropies, levels)
    ordered = [ranges[level] for level in sorted(ranges)]
    return [(lower[1] + upper[0]) / 2 for lower, upper in zip(ordered, ordered[1:], strict=False)]
