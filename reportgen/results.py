"""The results store an analysis writes, and how to read it back without a model.

A store folder holds ``manifest.json`` (provenance), ``results.parquet`` (one row per image:
entropy, level, predictions, hashes; see :mod:`reportgen.table`), ``results.json`` (what is
small: the skipped files), ``maps/<id>.npz`` (the arrays, see :mod:`reportgen.store`) and, with
the per-report feature view, ``features.json`` (its basis, :mod:`reportgen.analysis.features`). The
analysis wing writes it, a report rewrites the table with its figures' paths (a build leaves
the table to the report alone), both through :func:`write_results`; the publish wing and the
CLI read it through :class:`Analysis`.

Stores written before the table (reportgen 0.1.0) list every image in ``results.json``; they
are still read, and re-rendering a report rewrites its store in the current form.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa

from reportgen import store, table
from reportgen.errors import ReportgenError
from reportgen.manifest import (
    MANIFEST_FILE,
    READ_ERRORS,
    AnalysisManifest,
    read_json,
    unreadable,
)
from reportgen.methods import base, registry, spread
from reportgen.methods.artifacts import ARTIFACT_MODES, ARTIFACT_RULES
from reportgen.methods.features import PCA_MODES
from reportgen.methods.maps import HEAD_FUSIONS, RolloutOptions
from reportgen.record import ImageRecord, ModelSummary, Prediction, SkippedFile

AUTO = "auto"
DTYPES = ("float32", "float16", "bfloat16")
# Which maps faithfulness scores: the one-grid maps the report shows (max, min, mean, rollout,
# relevance, plugins), or those and each layer's map too.
FAITHFULNESS_MAPS = ("aggregates", "all")
FAITHFULNESS_STEPS = 4  # chosen by measurement against 16 steps: docs/faithfulness.md
# The precision of faithfulness's forwards: bfloat16 where the device computes it natively (auto),
# or as asked; a model loaded in reduced precision (--dtype) runs in its own.
FAITHFULNESS_PRECISIONS = ("auto", "float32", "bfloat16")
RESULTS_FILE = "results.json"
RESULTS_FORMAT = 2  # 1 (0.1.0): every image in results.json; 2: images in results.parquet
MAPS_DIR = "maps"


@dataclass(frozen=True)
class AnalysisParams:
    """What an analysis computes: every field shapes the results, and all of them are recorded in
    the manifest (:meth:`parameters`). Where it runs (device, engine, workers, cache) is
    :class:`~reportgen.analysis.execution.Execution`, and is not recorded."""

    model: str = "auto"
    dtype: str = "float32"  # precision of the forward pass; the maps are computed in float32+
    batch_size: int = 8  # batched forward passes may differ from single ones in the last bits
    levels: int = 4
    spread_by: str = "mean"
    head_fusion: str = "mean"
    discard_ratio: float = 0.0
    rollout_start_layer: int | str = "auto"  # a layer count, or "auto" (artifacts.auto_start_layer)
    artifacts: str = "mask"  # "mask": fill artifact patches in every map; "keep"
    artifacts_by: str = "attention"  # what finds them: "attention", "norm" or "both"
    norm_layer: int | None = None  # the layer (from 1) whose token norms give the artifact
    # score; None: the last
    relevance: bool = False  # class-specific relevance (Chefer et al. 2021): a backward pass
    target_class: str | None = None  # relevance target, a class name or id; None: top-1
    faithfulness: bool = False  # deletion/insertion scores of the maps
    faithfulness_images: int = 32
    faithfulness_steps: int = FAITHFULNESS_STEPS
    faithfulness_maps: str = "aggregates"  # one of FAITHFULNESS_MAPS
    faithfulness_precision: str = AUTO  # one of FAITHFULNESS_PRECISIONS
    keep_heads: bool = False  # store every head's CLS attention as float16, not 4-bit
    pca: str = "per-report"  # the feature view's components: fitted on the report or per image
    label_map: dict[str, str] | None = None  # source label -> model class name (--label-map)
    random_weights: bool = False  # a timm model with random weights (--random-weights)

    # What 0.1 did for parameters its manifests do not record.
    LEGACY_DEFAULTS: ClassVar[dict[str, Any]] = {
        "artifacts": "keep",
        "rollout_start_layer": 0,
        "keep_heads": True,
    }

    def validated(self) -> AnalysisParams:
        """Check values users type, with messages instead of tracebacks deeper down."""
        problems = []
        if self.batch_size < 1:
            problems.append("--batch-size must be at least 1")
        if self.dtype not in DTYPES:
            problems.append(f"--dtype must be one of {', '.join(DTYPES)}")
        if self.levels < 1:
            problems.append("--levels must be at least 1")
        if self.head_fusion not in HEAD_FUSIONS:
            problems.append(f"--head-fusion must be one of {', '.join(HEAD_FUSIONS)}")
        if not 0.0 <= self.discard_ratio < 1.0:
            problems.append("--discard-ratio must be in [0, 1)")
        if self.rollout_start_layer != AUTO and not (
            isinstance(self.rollout_start_layer, int) and self.rollout_start_layer >= 0
        ):
            problems.append("--rollout-start-layer must be auto or a whole number, 0 or more")
        if self.artifacts not in ARTIFACT_MODES:
            problems.append(f"--artifacts must be one of {', '.join(ARTIFACT_MODES)}")
        if self.artifacts_by not in ARTIFACT_RULES:
            problems.append(f"--artifacts-by must be one of {', '.join(ARTIFACT_RULES)}")
        if self.norm_layer is not None and self.norm_layer < 1:
            problems.append("--norm-layer must be a layer number, 1 or more")
        if self.pca not in PCA_MODES:
            problems.append(f"--pca must be one of {', '.join(PCA_MODES)}")
        if self.target_class is not None and not self.relevance:
            problems.append("--target-class needs --relevance")
        if self.faithfulness_images < 1:
            problems.append("--faithfulness-images must be at least 1")
        if self.faithfulness_steps < 2:
            problems.append("--faithfulness-steps must be at least 2")
        if self.faithfulness_maps not in FAITHFULNESS_MAPS:
            problems.append(f"--faithfulness-maps must be one of {', '.join(FAITHFULNESS_MAPS)}")
        if self.faithfulness_precision not in FAITHFULNESS_PRECISIONS:
            choices = ", ".join(FAITHFULNESS_PRECISIONS)
            problems.append(f"--faithfulness-precision must be one of {choices}")
        method = registry.methods().get(self.spread_by)
        if method is not None and base.GRADIENTS in method.inputs and not self.relevance:
            problems.append(f"--spread-by {self.spread_by} needs --relevance")
        try:
            spread.SpreadSpec.parse(self.spread_by)
        except ValueError as error:
            problems.append(f"--spread-by: {error}")
        if problems:
            raise ReportgenError("; ".join(problems))
        return self

    def parameters(self) -> dict[str, Any]:
        """Every parameter, as the manifest records them; ``random_weights`` only when set (the
        model's source says it too) and ``norm_layer`` only when chosen, so reports read as they
        did."""
        recorded = asdict(self)
        if not self.random_weights:
            del recorded["random_weights"]
        if self.norm_layer is None:
            del recorded["norm_layer"]
        return recorded

    def rollout(self, start_layer: int) -> RolloutOptions:
        """Rollout options with the start layer resolved (``auto`` decided by the caller)."""
        return RolloutOptions(self.head_fusion, self.discard_ratio, start_layer)

    @classmethod
    def from_parameters(cls, parameters: dict[str, Any]) -> AnalysisParams:
        """Parameters as a manifest recorded them; older manifests lack some, see
        LEGACY_DEFAULTS."""
        return cls(**{**cls.LEGACY_DEFAULTS, **parameters})


@dataclass(frozen=True)
class ImageSummary:
    """The small per-image facts a report needs; the arrays stay on disk."""

    index: int
    id: str
    name: str
    sha256: str
    size_bytes: int
    original_size: tuple[int, int]
    entropy: float
    layer_entropies: tuple[float, ...]
    predictions: tuple[Prediction, ...] = ()
    level: int = 0
    artifact_counts: tuple[int, ...] = ()  # masked patches per layer; () before 0.2
    label: str | None = None  # its class in the source, for sources with labels
    source_id: str | None = None  # where the source keeps it; None before 0.3
    correct: bool | None = None  # top-1 prediction equals the label (see reportgen.labels)
    artifact_score: float | None = None  # share of high-norm patch tokens (methods.norms)

    @property
    def predicted(self) -> str | None:
        """The model's top-1 class, for classifiers."""
        return self.predictions[0].label if self.predictions else None

    def to_row(self) -> dict[str, Any]:
        """The image's row of the results table, without the file paths."""
        return {
            "index": self.index,
            "id": self.id,
            "name": self.name,
            "source_id": self.source_id,
            "label": self.label,
            "predicted": self.predicted,
            "correct": self.correct,
            "sha256": self.sha256,
            "size_bytes": self.size_bytes,
            "width": self.original_size[0],
            "height": self.original_size[1],
            "level": self.level,
            "entropy": self.entropy,
            "layer_entropies": list(self.layer_entropies),
            "labels": [p.label for p in self.predictions],
            "probabilities": [p.probability for p in self.predictions],
            "artifact_counts": list(self.artifact_counts),
            "artifact_score": self.artifact_score,
        }

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> ImageSummary:
        return cls(
            index=row["index"],
            id=row["id"],
            name=row["name"],
            sha256=row["sha256"],
            size_bytes=row["size_bytes"],
            original_size=(row["width"], row["height"]),
            entropy=row["entropy"],
            layer_entropies=tuple(row["layer_entropies"]),
            predictions=tuple(
                Prediction(label, probability)
                for label, probability in zip(row["labels"], row["probabilities"], strict=True)
            ),
            level=row["level"],
            artifact_counts=tuple(row["artifact_counts"]),
            label=row["label"],
            source_id=row["source_id"],
            correct=row["correct"],
            artifact_score=row["artifact_score"],
        )

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ImageSummary:
        """An image as results.json listed it before the table (format 1)."""
        data = dict(data)
        data.pop("maps")
        data["original_size"] = tuple(data["original_size"])
        data["layer_entropies"] = tuple(data["layer_entropies"])
        data["artifact_counts"] = tuple(data.get("artifact_counts", ()))
        data["predictions"] = tuple(Prediction(label, p) for label, p in data["predictions"])
        return cls(**data)


def write_results(
    root: Path,
    images: list[ImageSummary],
    skipped: list[SkippedFile],
    figure_files: dict[str, str] | None = None,
    faithfulness: dict[str, Any] | None = None,
    earlier: Path | None = None,
) -> None:
    """Write the results table (:func:`write_table`) and results.json
    (:func:`write_summary`) of a store."""
    write_table(root, images, figure_files, earlier)
    write_summary(root, skipped, faithfulness)


def write_table(
    root: Path,
    images: list[ImageSummary],
    figure_files: dict[str, str] | None = None,
    earlier: Path | None = None,
) -> None:
    """Write the results table of a store, unless it already holds these rows
    (:func:`table.holds`); ``figure_files`` maps image ids to their figures, relative to the
    report folder (a bare store has none). The table of the ``earlier`` store (a report's
    version this one replaces) is linked instead when it holds the same rows: building a table
    costs more than comparing one (pyarrow imports pandas for it, 0.2 s)."""
    path = root / table.TABLE_FILE

    def rows() -> Iterator[dict[str, Any]]:
        return (image.to_row() for image in images)

    if table.holds(path, rows(), figure_files):
        return
    like = earlier / table.TABLE_FILE if earlier else None
    if like and table.holds(like, rows(), figure_files):
        store.link_or_copy(like, path)
    else:
        table.write(path, rows(), figure_files)


def write_summary(
    root: Path, skipped: list[SkippedFile], faithfulness: dict[str, Any] | None = None
) -> None:
    """Write results.json: what is small (the skipped files, the faithfulness scores)."""
    summary = {
        "format": RESULTS_FORMAT,
        "table": table.TABLE_FILE,
        "skipped": [asdict(item) for item in skipped],
    }
    if faithfulness is not None:
        summary["faithfulness"] = faithfulness
    store.atomic_write(root / RESULTS_FILE, store.canonical_json(summary))


@dataclass
class Analysis:
    """A finished analysis: summaries in memory, arrays in ``root/maps``."""

    root: Path
    model: ModelSummary
    params: AnalysisParams
    images: list[ImageSummary]
    skipped: list[SkippedFile]
    manifest: AnalysisManifest
    faithfulness: dict[str, Any] | None = None  # see analysis.faithfulness, when computed
    cache_hits: int = 0
    cache_misses: int = 0

    @property
    def spread_spec(self) -> spread.SpreadSpec:
        """The map the levels use; one a plugin made needs that plugin installed."""
        try:
            return spread.SpreadSpec.parse(self.params.spread_by)
        except ValueError as error:
            raise ReportgenError(
                f"the levels of this analysis use the {self.params.spread_by!r} map: {error} "
                "(is the plugin that made it installed?)"
            ) from None

    @property
    def rollout_start_layer(self) -> int:
        """The start layer rollout used, ``auto`` resolved (0.1 manifests: the option)."""
        rollout = self.manifest.rollout
        return int(self.params.rollout_start_layer if rollout is None else rollout.start_layer)

    def record(self, image: ImageSummary) -> ImageRecord:
        return store.read_record(self.root / MAPS_DIR / f"{image.id}.npz", image.name)

    def maps_format(self) -> int:
        """The format of its maps files, written by one version (read from the first), which
        says what its ``min`` is (store.MIN_RELATIVE_FORMAT, store.MIN_KEPT_FORMAT)."""
        if not self.images:
            return store.FORMAT_VERSION
        with store.open_record(self.root / MAPS_DIR / f"{self.images[0].id}.npz") as (meta, _):
            return int(meta["format"])

    def featured(self) -> dict[int, ImageSummary]:
        """The featured image of each non-empty level."""
        entropies = np.array([image.entropy for image in self.images])
        levels = np.array([image.level for image in self.images])
        return {
            int(level): self.images[spread.featured_index(entropies, levels, int(level))]
            for level in np.unique(levels)
        }

    def table(self) -> pa.Table:
        """The results table; built from the summaries for stores written before it existed."""
        path = self.root / table.TABLE_FILE
        if path.is_file():
            return table.read(path)
        return table.to_table([image.to_row() for image in self.images])

    @classmethod
    def load(cls, root: Path, called: Path | None = None) -> Analysis:
        """Read a results store written by :func:`analyze`; needs no model. ``called``: the
        folder its errors name (the one a staged copy was linked from), by default ``root``."""
        root = Path(root)
        what = f"{called or root} is not a reportgen results folder"
        try:
            manifest = AnalysisManifest.read(root / MANIFEST_FILE)
        except READ_ERRORS as error:
            raise ReportgenError(f"{what}: {unreadable(error)}") from None
        try:
            results = read_json(root / RESULTS_FILE)
            skipped = [SkippedFile(**item) for item in results["skipped"]]
            if "images" in results:  # format 1
                images = [ImageSummary.from_json(item) for item in results["images"]]
            else:
                images, table_file = None, str(results["table"])
        except READ_ERRORS as error:
            problem = unreadable(error, RESULTS_FILE, "results file")
            raise ReportgenError(f"{what}: {problem}") from None
        if images is None:
            try:
                rows = table.rows(table.read(root / table_file))
                images = [ImageSummary.from_row(row) for row in rows]
            except READ_ERRORS as error:
                problem = (
                    unreadable(error, table_file)
                    if isinstance(error, OSError)
                    else f"its {table_file} is damaged ({error})"
                )
                raise ReportgenError(f"{what}: {problem}") from None
        return cls(
            root=root,
            model=manifest.model,
            params=AnalysisParams.from_parameters(manifest.parameters),
            images=images,
            skipped=skipped,
            manifest=manifest,
            faithfulness=results.get("faithfulness"),
        )


def build_time() -> tuple[dt.datetime, str]:
    """UTC time to record, and where it came from (``SOURCE_DATE_EPOCH`` wins, for
    reproducible builds)."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch:
        try:
            return dt.datetime.fromtimestamp(int(epoch), dt.UTC), "SOURCE_DATE_EPOCH"
        except ValueError:
            raise ReportgenError(f"SOURCE_DATE_EPOCH must be an integer, got {epoch!r}") from None
    return dt.datetime.now(dt.UTC).replace(microsecond=0), "clock"
