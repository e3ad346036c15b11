"""Deletion and insertion faithfulness (Petsiuk et al. 2018, "RISE", BMVC): pure numpy, no I/O.

A map is faithful when the patches it ranks highest are the ones the model needs. Deletion
removes patches from the image in the map's order (a removed patch takes a baseline's pixels) and
follows the model's score down; insertion starts from the baseline and puts the original patches
back in the same order. A faithful map gives a fast drop (low deletion area) and a fast rise
(high insertion area). Here are the orders, the step masks, the areas and the result type; the
forward passes live in :mod:`reportgen.analysis.faithfulness`.

Rules:

- A map's order is its patches by descending value, ties broken by patch index (row-major), so
  equal values never depend on the sort algorithm.
- With ``steps`` = K, step k (k = 0..K) perturbs the first ``round(k * n / K)`` patches of the
  order (n patches, rounded half up): step 0 none, step K all of them.
- A curve's area is the trapezoid rule over x_k = k / K, the step's nominal fraction of patches,
  so it lies within the score's range (e.g. [0, 1] for a probability). When K does not divide n
  the patch count is rounded, and the actual fraction differs from k / K by at most 1 / (2n).
- Maps are ranked by insertion area minus deletion area, highest first (ties by name): a higher
  insertion and a lower deletion area are both better, and the difference puts them on one scale.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

RANDOM = "random"  # the name of the random-order baseline among the maps


def patch_order(attention_map: np.ndarray) -> np.ndarray:
    """Patch indices (row-major) by descending map value; equal values in index order."""
    values = np.asarray(attention_map, dtype=np.float64).ravel()
    if values.size == 0 or not np.all(np.isfinite(values)):
        raise ValueError("a map to order must be non-empty and finite")
    return np.argsort(-values, kind="stable")


def random_order(n_patches: int, seed: int | Sequence[int]) -> np.ndarray:
    """A random permutation of ``n_patches`` patch indices, the same for the same seed.

    ``seed`` may be a sequence (e.g. ``(seed, image_index)``) so each image gets its own order.
    """
    return np.random.default_rng(seed).permutation(n_patches)


def perturbed_counts(n_patches: int, steps: int) -> np.ndarray:
    """How many patches step k = 0..K perturbs: ``round(k * n / K)``, halves rounded up."""
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    k = np.arange(steps + 1)
    return (2 * k * n_patches + steps) // (2 * steps)


def step_masks(order: np.ndarray, steps: int) -> np.ndarray:
    """Boolean (K + 1, n): row k marks the first ``round(k * n / K)`` patches of ``order``."""
    order = np.asarray(order)
    counts = perturbed_counts(order.size, steps)
    rank = np.empty(order.size, dtype=np.int64)
    rank[order] = np.arange(order.size)  # rank[p] = position of patch p in the order
    return rank[None, :] < counts[:, None]


def area_under_curve(curve: Sequence[float]) -> float:
    """Trapezoid area of a curve sampled at x = 0, 1/K, ..., 1 (K + 1 values)."""
    values = np.asarray(curve, dtype=np.float64)
    if values.ndim != 1 or values.size < 2:
        raise ValueError("a curve needs at least two points")
    return float((values[:-1] + values[1:]).sum() / (2 * (values.size - 1)))


def mean_curve(curves: Sequence[Sequence[float]]) -> np.ndarray:
    """The point-wise mean of curves of equal length."""
    values = np.asarray(curves, dtype=np.float64)
    if values.ndim != 2 or values.shape[0] == 0:
        raise ValueError("need one or more curves of equal length")
    return values.mean(axis=0)


def pick_evenly(levels: Sequence[int], n: int) -> list[int]:
    """Indices of up to ``n`` images spread evenly across spread levels, in input order.

    Take one image from each level in turn (levels ascending, round-robin), within a level in
    input order, until ``n`` are taken or none are left; so a level with few images gives all of
    them and the others share the rest. Returned sorted, i.e. in input order.
    """
    by_level: dict[int, list[int]] = {}
    for index, level in enumerate(levels):
        by_level.setdefault(int(level), []).append(index)
    queues = [by_level[level] for level in sorted(by_level)]
    picked: list[int] = []
    for turn in range(max((len(queue) for queue in queues), default=0)):
        for queue in queues:
            if len(picked) >= n:
                return sorted(picked)
            if turn < len(queue):
                picked.append(queue[turn])
    return sorted(picked)


def standard_error(values: Sequence[float]) -> float | None:
    """The standard error of the mean of ``values``: sample deviation / sqrt(n); None below 2."""
    spread = deviation(values)
    return None if spread is None else spread / float(np.sqrt(len(values)))


def deviation(values: Sequence[float]) -> float | None:
    """The sample standard deviation of ``values`` (the spread across images); None below 2."""
    array = np.asarray(values, dtype=np.float64)
    return float(array.std(ddof=1)) if array.size >= 2 else None


@dataclass(frozen=True)
class MapFaithfulness:
    """One map's scores: areas (mean over images of each image's area), mean curves, and each
    image's areas (in the scored images' order; None in results written before they were kept)."""

    deletion_auc: float
    insertion_auc: float
    deletion_curve: list[float]
    insertion_curve: list[float]
    deletion_aucs: list[float] | None = None
    insertion_aucs: list[float] | None = None

    def image_scores(self) -> np.ndarray | None:
        """Each image's insertion area minus its deletion area; None without per-image areas."""
        if self.deletion_aucs is None or self.insertion_aucs is None:
            return None
        return np.asarray(self.insertion_aucs) - np.asarray(self.deletion_aucs)

    def certainty(self) -> dict[str, float | None]:
        """Standard errors of the deletion area, the insertion area and their difference (the
        score), and the score's spread across images; all None without per-image areas."""
        scores = self.image_scores()
        if scores is None:
            return dict.fromkeys(CERTAINTY)
        return {
            "deletion_se": standard_error(self.deletion_aucs),
            "insertion_se": standard_error(self.insertion_aucs),
            "score_se": standard_error(scores),
            "score_sd": deviation(scores),
        }


CERTAINTY = ("deletion_se", "insertion_se", "score_se", "score_sd")  # MapFaithfulness.certainty


def score_maps(
    deletion: Mapping[str, Sequence[Sequence[float]]],
    insertion: Mapping[str, Sequence[Sequence[float]]],
) -> dict[str, MapFaithfulness]:
    """Per map name, from its per-image deletion and insertion curves: areas and mean curves."""
    scores = {}
    for name in deletion:
        deletion_aucs = [area_under_curve(curve) for curve in deletion[name]]
        insertion_aucs = [area_under_curve(curve) for curve in insertion[name]]
        scores[name] = MapFaithfulness(
            deletion_auc=float(np.mean(deletion_aucs)),
            insertion_auc=float(np.mean(insertion_aucs)),
            deletion_curve=mean_curve(deletion[name]).tolist(),
            insertion_curve=mean_curve(insertion[name]).tolist(),
            deletion_aucs=deletion_aucs,
            insertion_aucs=insertion_aucs,
        )
    return scores


@dataclass(frozen=True)
class Lead:
    """How far a map is ahead of the next one in the ranking, paired over the same images."""

    mean: float  # mean over images of (this map's score - the next map's score)
    se: float | None  # its standard error; None below two images

    @property
    def sure(self) -> bool:
        """Ahead by more than two standard errors (about 95% for a roughly normal mean)."""
        return self.se is not None and self.mean > 2 * self.se


@dataclass(frozen=True)
class FaithfulnessResult:
    """Deletion and insertion scores of every map over a set of images, with a random baseline.

    ``metric`` names the score the curves follow ("target probability" for classifiers, "CLS
    cosine similarity" for backbones); ``maps`` includes ``random``; ``precision`` is the
    forwards' (``float32``, or ``bfloat16`` where the device computes it natively).
    """

    metric: str
    steps: int
    images: int
    baseline: str
    maps: dict[str, MapFaithfulness]
    precision: str = "float32"  # of the forward passes; results written before were float32

    def ranking(self) -> list[str]:
        """Map names, most faithful first: by insertion AUC minus deletion AUC, descending.

        Higher insertion and lower deletion areas are both better; ties go by name.
        """
        return sorted(
            self.maps,
            key=lambda name: (self.maps[name].deletion_auc - self.maps[name].insertion_auc, name),
        )

    def leads(self) -> dict[str, Lead]:
        """Per map but the last in the ranking, its paired lead over the next map; empty when
        the per-image areas were not kept."""
        ranked = self.ranking()
        leads = {}
        for name, following in zip(ranked, ranked[1:], strict=False):
            ours, theirs = self.maps[name].image_scores(), self.maps[following].image_scores()
            if ours is None or theirs is None:
                return {}
            leads[name] = Lead(float(np.mean(ours - theirs)), standard_error(ours - theirs))
        return leads

    def to_json(self) -> dict[str, Any]:
        """The scores, each map's with its certainty (see :meth:`MapFaithfulness.certainty`)."""
        return {
            "metric": self.metric,
            "steps": self.steps,
            "images": self.images,
            "baseline": self.baseline,
            "precision": self.precision,
            "maps": {
                name: {**asdict(scores), **scores.certainty()} for name, scores in self.maps.items()
            },
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FaithfulnessResult:
        """Read :meth:`to_json`'s data, or an earlier version's (no per-image areas, or no
        precision: float32)."""
        kept = {field.name for field in fields(MapFaithfulness)}
        return cls(
            metric=str(data["metric"]),
            steps=int(data["steps"]),
            images=int(data["images"]),
            baseline=str(data["baseline"]),
            maps={
                name: MapFaithfulness(**{key: scores[key] for key in kept if key in scores})
                for name, scores in data["maps"].items()
            },
            precision=str(data.get("precision", "float32")),
        )
