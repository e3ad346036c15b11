"""A comparison of published runs over the same images: the runs read back from their reports
(any version, no model), their images matched, and per image and pair of runs the levels,
entropies and the rank correlation of the spread-by maps; written as ``compare.json`` and
``compare.parquet``. The math is :mod:`reportgen.methods.compare_runs`.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from reportgen import store
from reportgen.errors import DamagedFile, ReportgenError
from reportgen.manifest import ReportManifest
from reportgen.methods import compare_runs, panels
from reportgen.methods.panels import LAYERS
from reportgen.methods.spread import SpreadSpec
from reportgen.progress import track
from reportgen.publish import index
from reportgen.publish.folders import DATA_DIR, VERSIONS_DIR
from reportgen.record import ImageRecord
from reportgen.results import Analysis, ImageSummary
from reportgen.table import maps_file
from reportgen.workers import InlinePool, Pool

JSON_FILE = "compare.json"
TABLE_FILE = "compare.parquet"
FORMAT = 1
MOVERS = 8  # biggest movers shown
# What the summary of the runs lists of their parameters, in this order.
SUMMARY_PARAMETERS = ("spread_by", "levels", "artifacts", "head_fusion", "dtype")


@dataclass
class Run:
    """One published report (or an earlier version of one) read back for comparing."""

    folder: Path
    manifest: ReportManifest
    analysis: Analysis

    @property
    def slug(self) -> str:
        """The report's folder name (an earlier version's: its report's)."""
        if self.folder.parent.name == VERSIONS_DIR:
            return self.folder.parent.parent.name
        return self.folder.name

    @property
    def label(self) -> str:
        """How the page names it: slug and version."""
        return f"{self.slug} v{self.manifest.version}"

    @property
    def n_levels(self) -> int:
        return max([self.analysis.params.levels, *(image.level for image in self.analysis.images)])

    @functools.cached_property
    def _by_id(self) -> dict[str, ImageSummary]:
        return {image.id: image for image in self.analysis.images}

    def image(self, image_id: str) -> ImageSummary:
        """Its image of that id."""
        return self._by_id[image_id]


def load_run(folder: Path) -> Run:
    """A published report's manifest and results store; a one-line error if it is not one."""
    folder = Path(folder).resolve()
    manifest = index.read_manifest(folder)
    return Run(folder, manifest, Analysis.load(folder / DATA_DIR))


MATCH_KEYS = (
    lambda image: image.sha256,
    lambda image: image.source_id,
    lambda image: image.name,
)


@dataclass(frozen=True)
class ImageRow:
    """One image in common: its facts in each run, and its map correlation for each pair."""

    name: str
    sha256: str
    ids: tuple[str, ...]  # its id in each run
    levels: tuple[int, ...]
    entropies: tuple[float, ...]
    correlations: tuple[float, ...]  # by pair, in the order of Comparison.pairs


@dataclass
class Comparison:
    """What the page and the data files show."""

    runs: list[Run]
    grid: tuple[int, int]  # the grid maps are compared on
    images: list[ImageRow]
    only_in: list[list[str]]  # per run, the names of its images the others lack
    visited: dict[str, Any] = field(default_factory=dict)  # by id in the first run: see Visit

    @property
    def pairs(self) -> list[tuple[int, int]]:
        return list(itertools.combinations(range(len(self.runs)), 2))

    @property
    def resampled(self) -> bool:
        """Whether some run's maps were resampled to the common grid."""
        return any(run.analysis.model.grid != self.grid for run in self.runs)

    def levels(self) -> np.ndarray:
        return np.array([row.levels for row in self.images], dtype=np.int64)

    def entropies(self) -> np.ndarray:
        return np.array([row.entropies for row in self.images], dtype=np.float64)

    def transitions(self, pair: tuple[int, int]) -> np.ndarray:
        first, second = pair
        levels = self.levels()
        return compare_runs.transitions(
            levels[:, first],
            levels[:, second],
            self.runs[first].n_levels,
            self.runs[second].n_levels,
        )

    def correlations(self, pair: tuple[int, int]) -> np.ndarray:
        column = self.pairs.index(pair)
        return np.array([row.correlations[column] for row in self.images], dtype=np.float64)

    def layer_curves(self) -> list[np.ndarray]:
        """Per run, the mean entropy of each layer's map over the images in common."""
        curves = []
        for run_index, run in enumerate(self.runs):
            rows = [run.image(row.ids[run_index]).layer_entropies for row in self.images]
            curves.append(np.mean(np.array(rows, dtype=np.float64), axis=0))
        return curves

    def read_image(self, row: ImageRow) -> tuple[list[np.ndarray], np.ndarray]:
        """An image in common read again: each run's spread-by map, as stored, and the image as
        the first run saw it."""
        records = [
            _read_record(run.analysis.root / maps_file(image_id), row.name, run.label)
            for run, image_id in zip(self.runs, row.ids, strict=True)
        ]
        maps = [
            run.analysis.spread_spec.select(record.maps)
            for run, record in zip(self.runs, records, strict=True)
        ]
        return maps, records[0].seen_image

    def movers(self, k: int = MOVERS) -> list[int]:
        """The ``k`` images that moved most (level change first, then entropy change)."""
        return compare_runs.movers(self.levels(), self.entropies(), k)


@dataclass(frozen=True)
class _Image:
    """What comparing one image in common needs, picklable for a worker process: each run's
    maps file, label and spread-by map, the image's name, the common grid and the pairs."""

    files: tuple[Path, ...]
    labels: tuple[str, ...]
    specs: tuple[SpreadSpec, ...]
    name: str
    stem: str  # its id in the first run, which names its pictures
    grid: tuple[int, int]
    pairs: tuple[tuple[int, int], ...]


# Called with each image in common as it is compared, where it is compared (a worker): its id
# in the first run, each run's spread-by map (as stored) and the image as the first run saw it,
# so that its pictures need no second read. Its result is kept in Comparison.visited.
Visit = Callable[[str, list[np.ndarray], np.ndarray], Any]


def _read_record(path: Path, name: str, label: str) -> ImageRecord:
    try:
        return store.read_record(path, name)
    except (OSError, DamagedFile) as error:
        raise _unreadable(name, label, error) from None


def _unreadable(name: str, label: str, error: OSError | DamagedFile) -> ReportgenError:
    """The maps of ``name`` in the run ``label`` do not read: the file and why."""
    reason = f"{error.path}: {error.reason}" if isinstance(error, DamagedFile) else error
    return ReportgenError(f"{label}: cannot read the maps of {name}: {reason}")


def _read_spread(
    path: Path, spec: SpreadSpec, name: str, label: str, with_image: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    """An image's spread-by map as the record gives it and, ``with_image``, the image as the run
    saw it, from a fraction of the file (format 3 on): the layer maps, and the map itself where
    it is not made from them, not the heads nor the other maps; older files are read whole."""
    try:
        with store.open_record(path) as (meta, data):
            if meta["format"] >= 3:
                wanted = {LAYERS, spec.kind} & set(data.files)
                stored = {key: store.read_map(data, key) for key in sorted(wanted)}
                image = store.seen_image(meta, data) if with_image else None
                relative_min = meta["format"] >= store.MIN_RELATIVE_FORMAT
                return spec.select(panels.complete(stored, np.float32, relative_min)), image
    except (OSError, DamagedFile) as error:
        raise _unreadable(name, label, error) from None
    record = _read_record(path, name, label)
    return spec.select(record.maps), record.seen_image


def _measure(image: _Image, visit: Visit | None) -> tuple[tuple[float, ...], Any]:
    """One image's map correlation for each pair, and what ``visit`` made of it."""
    read = [
        _read_spread(path, spec, image.name, label, with_image=not position and bool(visit))
        for position, (path, spec, label) in enumerate(
            zip(image.files, image.specs, image.labels, strict=True)
        )
    ]
    stored = [values for values, _ in read]
    maps = [compare_runs.resample(values, image.grid) for values in stored]
    correlations = tuple(compare_runs.rank_correlation(maps[a], maps[b]) for a, b in image.pairs)
    return correlations, visit and visit(image.stem, stored, read[0][1])


def compare(runs: list[Run], visit: Visit | None = None, pool: Pool | None = None) -> Comparison:
    """Match the runs' images and compare them, each record read once, in ``pool`` (default:
    here); ``visit`` sees each image in common. No image in common is a one-line error."""
    matched, unmatched = compare_runs.match([run.analysis.images for run in runs], MATCH_KEYS)
    if not matched:
        labels = ", ".join(run.label for run in runs)
        raise ReportgenError(f"the runs {labels} have no image in common (by content or name)")
    grid = compare_runs.common_grid([run.analysis.model.grid for run in runs])
    pairs = tuple(itertools.combinations(range(len(runs)), 2))
    images = (
        (
            _Image(
                files=tuple(
                    run.analysis.root / maps_file(image.id)
                    for run, image in zip(runs, group, strict=True)
                ),
                labels=tuple(run.label for run in runs),
                specs=tuple(run.analysis.spread_spec for run in runs),
                name=group[0].name,
                stem=group[0].id,
                grid=grid,
                pairs=pairs,
            ),
            visit,
        )
        for group in matched
    )
    measured = (pool or InlinePool()).imap(_measure, images)
    rows, visited = [], {}
    for group, (correlations, made) in zip(
        matched, track(measured, total=len(matched), desc="compared"), strict=True
    ):
        rows.append(
            ImageRow(
                name=group[0].name,
                sha256=group[0].sha256,
                ids=tuple(image.id for image in group),
                levels=tuple(image.level for image in group),
                entropies=tuple(image.entropy for image in group),
                correlations=correlations,
            )
        )
        visited[group[0].id] = made
    only_in = [[image.name for image in images] for images in unmatched]
    return Comparison(runs, grid, rows, only_in, visited)


def _finite(value: float) -> float | None:
    """JSON has no NaN: a constant map's correlation is null."""
    return value if np.isfinite(value) else None


def to_json(comparison: Comparison, run_folders: list[str]) -> dict[str, Any]:
    """``compare.json``: the runs, the grid, the transitions of each pair, and every image."""
    return {
        "format": FORMAT,
        "runs": [
            {
                "label": run.label,
                "folder": folder,
                "model": run.analysis.model.model_id,
                "grid": list(run.analysis.model.grid),
                "version": run.manifest.version,
                "spread_by": run.analysis.params.spread_by,
                "only_here": only,
            }
            for run, folder, only in zip(
                comparison.runs, run_folders, comparison.only_in, strict=True
            )
        ],
        "grid": list(comparison.grid),
        "pairs": [
            {
                "runs": list(pair),
                "transitions": comparison.transitions(pair).tolist(),
                "median_correlation": _finite(float(np.nanmedian(comparison.correlations(pair))))
                if np.isfinite(comparison.correlations(pair)).any()
                else None,
            }
            for pair in comparison.pairs
        ],
        "images": [
            {
                "name": row.name,
                "sha256": row.sha256,
                "ids": list(row.ids),
                "levels": list(row.levels),
                "entropies": list(row.entropies),
                "correlations": [_finite(value) for value in row.correlations],
            }
            for row in comparison.images
        ],
    }


def table(comparison: Comparison) -> pa.Table:
    """One row per image in common: name, sha256, ``runK_level`` and ``runK_entropy`` for run
    K (1-based, in the order given), ``correlation_J_K`` for each pair."""
    columns: dict[str, Any] = {
        "name": [row.name for row in comparison.images],
        "sha256": [row.sha256 for row in comparison.images],
    }
    for run in range(len(comparison.runs)):
        columns[f"run{run + 1}_level"] = pa.array(
            [row.levels[run] for row in comparison.images], pa.int64()
        )
        columns[f"run{run + 1}_entropy"] = pa.array(
            [row.entropies[run] for row in comparison.images], pa.float64()
        )
    for column, (first, second) in enumerate(comparison.pairs):
        columns[f"correlation_{first + 1}_{second + 1}"] = pa.array(
            [row.correlations[column] for row in comparison.images], pa.float64()
        )
    return pa.table(columns)


def write_data(comparison: Comparison, folder: Path, run_folders: list[str]) -> None:
    """``compare.json`` and ``compare.parquet`` in ``folder``, with deterministic bytes."""
    store.atomic_write(folder / JSON_FILE, store.canonical_json(to_json(comparison, run_folders)))
    pq.write_table(table(comparison), folder / TABLE_FILE, compression="zstd")
