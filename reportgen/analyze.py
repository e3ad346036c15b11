"""The analysis stage: images -> model -> records -> spread levels, written as a results store.

A store folder holds ``manifest.json`` (provenance), ``results.json`` (per image: entropy, level,
predictions, hashes) and ``maps/<id>.npz`` (the arrays). Records are streamed to disk as they are
made, and cached by content, so a rerun with unchanged inputs never loads the model.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import platform
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__, images, spread, store
from .errors import ReportgenError
from .extract import RolloutOptions, extract
from .maps import HEAD_FUSIONS
from .model import LoadedModel, ModelRef, load, resolve
from .record import ImageRecord, ModelSummary, Prediction, SkippedFile
from .slugs import image_id

log = logging.getLogger(__name__)

RESULTS_FILE = "results.json"
MANIFEST_FILE = "manifest.json"
MAPS_DIR = "maps"


@dataclass(frozen=True)
class AnalysisOptions:
    """Every parameter of an analysis; all of them are recorded in the manifest."""

    model: str = "auto"
    device: str = "auto"
    batch_size: int = 8
    levels: int = 4
    spread_by: str = "mean"
    head_fusion: str = "mean"
    discard_ratio: float = 0.0
    rollout_start_layer: int = 0
    cache_dir: Path | None = None
    use_cache: bool = True

    def validated(self) -> AnalysisOptions:
        """Check values users type, with messages instead of tracebacks deeper down."""
        problems = []
        if self.batch_size < 1:
            problems.append("--batch-size must be at least 1")
        if self.levels < 1:
            problems.append("--levels must be at least 1")
        if self.head_fusion not in HEAD_FUSIONS:
            problems.append(f"--head-fusion must be one of {', '.join(HEAD_FUSIONS)}")
        if not 0.0 <= self.discard_ratio < 1.0:
            problems.append("--discard-ratio must be in [0, 1)")
        if self.rollout_start_layer < 0:
            problems.append("--rollout-start-layer must be 0 or more")
        try:
            spread.SpreadSpec.parse(self.spread_by)
        except ValueError as error:
            problems.append(f"--spread-by: {error}")
        if problems:
            raise ReportgenError("; ".join(problems))
        return self

    def parameters(self) -> dict[str, Any]:
        """The parameters that shape the results (not where files go)."""
        data = asdict(self)
        for key in ("cache_dir", "use_cache", "device"):
            data.pop(key)
        return data

    def rollout(self) -> RolloutOptions:
        return RolloutOptions(self.head_fusion, self.discard_ratio, self.rollout_start_layer)


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

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["predictions"] = [[p.label, p.probability] for p in self.predictions]
        data["maps"] = f"{MAPS_DIR}/{self.id}.npz"
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ImageSummary:
        data = dict(data)
        data.pop("maps")
        data["original_size"] = tuple(data["original_size"])
        data["layer_entropies"] = tuple(data["layer_entropies"])
        data["predictions"] = tuple(Prediction(label, p) for label, p in data["predictions"])
        return cls(**data)


@dataclass
class Analysis:
    """A finished analysis: summaries in memory, arrays in ``root/maps``."""

    root: Path
    model: ModelSummary
    options: AnalysisOptions
    images: list[ImageSummary]
    skipped: list[SkippedFile]
    manifest: dict[str, Any]
    cache_hits: int = 0
    cache_misses: int = 0

    @property
    def spread_spec(self) -> spread.SpreadSpec:
        return spread.SpreadSpec.parse(self.options.spread_by)

    def record(self, image: ImageSummary) -> ImageRecord:
        return store.read_record(self.root / MAPS_DIR / f"{image.id}.npz", image.name)

    def featured(self) -> dict[int, ImageSummary]:
        """The featured image of each non-empty level."""
        entropies = np.array([image.entropy for image in self.images])
        levels = np.array([image.level for image in self.images])
        return {
            int(level): self.images[spread.featured_index(entropies, levels, int(level))]
            for level in np.unique(levels)
        }

    @classmethod
    def load(cls, root: Path) -> Analysis:
        """Read a results store written by :func:`analyze`; needs no model."""
        root = Path(root)
        try:
            manifest = json.loads((root / MANIFEST_FILE).read_text())
            results = json.loads((root / RESULTS_FILE).read_text())
        except (OSError, ValueError) as error:
            raise ReportgenError(f"{root} is not a reportgen results folder: {error}") from None
        options = dict(manifest["parameters"])
        return cls(
            root=root,
            model=ModelSummary.from_json(manifest["model"]),
            options=AnalysisOptions(**options),
            images=[ImageSummary.from_json(item) for item in results["images"]],
            skipped=[SkippedFile(**item) for item in results["skipped"]],
            manifest=manifest,
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


def library_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    versions = {"python": platform.python_version(), "reportgen": __version__}
    for package in ("torch", "transformers", "numpy", "Pillow"):
        try:
            versions[package.lower()] = version(package)
        except PackageNotFoundError:
            versions[package.lower()] = "not installed"
    return versions


def reportgen_commit() -> str | None:
    """Git commit of the reportgen source, when it runs from a checkout."""
    source = Path(__file__).resolve().parent.parent
    if not (source / ".git").exists():
        return None
    try:
        result = subprocess.run(
            ["git", "-C", str(source), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None


class _ModelSession:
    """Loads the model on first need only, so cache-only reruns never touch the weights."""

    def __init__(self, ref: ModelRef, device: str, cache: store.ResultCache | None):
        self.ref, self.device, self.cache = ref, device, cache
        self._loaded: LoadedModel | None = None

    @property
    def summary_key(self) -> str:
        return store.content_key({"model": self.ref.identity(), "format": store.FORMAT_VERSION})

    def cached_summary(self) -> ModelSummary | None:
        data = self.cache.get_json(self.summary_key) if self.cache else None
        return ModelSummary.from_json(data["summary"]) if data else None

    def preprocessing(self) -> dict[str, Any]:
        """The processor's settings, without loading weights (cheap)."""
        data = self.cache.get_json(self.summary_key) if self.cache else None
        if data:
            return data["preprocessing"]
        return self.loaded().processor.to_dict()

    def loaded(self) -> LoadedModel:
        if self._loaded is None:
            self._loaded = load(self.ref, self.device)
            if self.cache:
                self.cache.put_json(
                    self.summary_key,
                    {
                        "summary": self._loaded.summary.to_json(),
                        "preprocessing": self._loaded.processor.to_dict(),
                    },
                )
        return self._loaded

    @property
    def was_loaded(self) -> bool:
        return self._loaded is not None


def _summarise(index: int, record: ImageRecord, spec: spread.SpreadSpec) -> ImageSummary:
    layer_maps = record.cls_heads.astype(np.float64).mean(axis=1)
    return ImageSummary(
        index=index,
        id=image_id(index, record.name),
        name=record.name,
        sha256=record.sha256,
        size_bytes=record.size_bytes,
        original_size=tuple(record.original_size),
        entropy=spread.entropy(spec.select(layer_maps, record.rollout)),
        layer_entropies=tuple(spread.entropy(layer) for layer in layer_maps),
        predictions=tuple(record.predictions),
    )


def analyze(
    images_dir: Path,
    out_dir: Path,
    options: AnalysisOptions = AnalysisOptions(),
    *,
    say: Callable[[str], None] = log.info,
    on_record: Callable[[ImageSummary, ImageRecord], None] | None = None,
    created: tuple[dt.datetime, str] | None = None,
) -> Analysis:
    """Analyse every image of ``images_dir`` and write the results store to ``out_dir``.

    ``say`` receives the lines a user should see (model chosen, cache use); ``on_record`` is
    called for each image as soon as its record exists (the build renders figures there);
    ``created`` is the (UTC time, its source) to record, by default :func:`build_time`.
    """
    options = options.validated()
    spec = spread.SpreadSpec.parse(options.spread_by)
    images_dir, out_dir = Path(images_dir), Path(out_dir)
    image_paths = images.discover(images_dir)

    ref = resolve(options.model, cache_dir=options.cache_dir)
    say(f"model: {ref.model_id} ({ref.reason})")
    cache = (
        store.ResultCache(options.cache_dir or store.default_cache_dir())
        if options.use_cache
        else None
    )
    session = _ModelSession(ref, options.device, cache)
    result_parts = {
        "model": ref.identity(),
        "rollout": asdict(options.rollout()),
        "format": store.FORMAT_VERSION,
    }

    summaries: list[ImageSummary] = []
    skipped: list[SkippedFile] = []
    hits = 0
    maps_dir = out_dir / MAPS_DIR
    maps_dir.mkdir(parents=True, exist_ok=True)

    def accept(index: int, record: ImageRecord, payload: bytes | None, key: str) -> None:
        summary = _summarise(index, record, spec)
        destination = maps_dir / f"{summary.id}.npz"
        copied_from_cache = payload is None and cache.copy_to(key, destination)
        if not copied_from_cache:
            payload = payload or store.record_bytes(record)
            store.atomic_write(destination, payload)
            if cache:
                cache.put(key, payload)
        summaries.append(summary)
        if on_record:
            on_record(summary, record)

    def misses() -> Iterator[tuple[int, images.LoadedImage, str]]:
        """Images the cache cannot answer; cache hits are accepted on the way."""
        nonlocal hits
        for index, path in enumerate(image_paths):
            name = path.relative_to(images_dir).as_posix()
            try:
                data = path.read_bytes()
            except OSError as error:
                skipped.append(SkippedFile(name, f"cannot read file: {error.strerror or error}"))
                continue
            digest = hashlib.sha256(data).hexdigest()
            key = ""
            if cache and cache.has(key := _key(digest)):
                try:
                    record = store.read_record(cache.path(key), name)
                except (OSError, ValueError, KeyError):
                    record = None  # a damaged cache entry is recomputed
                if record is not None:
                    hits += 1
                    accept(index, record, None, key)
                    continue
            try:
                loaded = images.LoadedImage(name, images.decode(data), digest, len(data))
            except images.ImageLoadError as error:
                skipped.append(SkippedFile(name, str(error)))
                continue
            yield index, loaded, key or _key(digest)

    def _key(digest: str) -> str:
        return store.content_key(
            {**result_parts, "image": digest, "preprocessing": session.preprocessing()}
        )

    model_summary = session.cached_summary() or session.loaded().summary
    _check_spread_layer(spec, model_summary)
    pending = misses()
    first = next(pending, None)
    if first is not None:
        loaded_model = session.loaded()
        say(f"running {loaded_model.summary.family} model on {loaded_model.device}")
        queue = _chain(first, pending)
        keyed: dict[str, tuple[int, str]] = {}

        def feed() -> Iterator[images.LoadedImage]:
            for index, item, key in queue:
                keyed[item.name] = (index, key)
                yield item

        for record in _progress(
            extract(loaded_model, feed(), batch_size=options.batch_size, rollout=options.rollout()),
            total=len(image_paths),
            initial=hits,
        ):
            index, key = keyed.pop(record.name)
            accept(index, record, store.record_bytes(record), key)

    misses_count = len(summaries) - hits
    if not summaries:
        reasons = "; ".join(f"{item.name}: {item.reason}" for item in skipped[:5])
        raise ReportgenError(f"no readable image in {images_dir} ({reasons})")
    say(
        f"{len(summaries)} images analysed: {hits} from the cache, {misses_count} by the model"
        + ("" if session.was_loaded else " (model not run: every result came from the cache)")
        + (f"; {len(skipped)} skipped" if skipped else "")
    )
    summaries.sort(key=lambda item: item.index)
    skipped.sort(key=lambda item: item.name)
    levels = spread.assign_levels(np.array([s.entropy for s in summaries]), options.levels)
    summaries = [replace(s, level=int(level)) for s, level in zip(summaries, levels, strict=True)]

    manifest = _manifest(
        ref, model_summary, options, spec, summaries, skipped, images_dir, created or build_time()
    )
    store.atomic_write(out_dir / MANIFEST_FILE, store.canonical_json(manifest))
    store.atomic_write(
        out_dir / RESULTS_FILE,
        store.canonical_json(
            {
                "images": [s.to_json() for s in summaries],
                "skipped": [asdict(item) for item in skipped],
            }
        ),
    )
    return Analysis(
        out_dir, model_summary, options, summaries, skipped, manifest, hits, misses_count
    )


def _check_spread_layer(spec: spread.SpreadSpec, model: ModelSummary) -> None:
    if spec.kind == "layer" and spec.layer > model.layers:
        raise ReportgenError(f"--spread-by layer:{spec.layer}: the model has {model.layers} layers")


def _chain(first: Any, rest: Iterator[Any]) -> Iterator[Any]:
    yield first
    yield from rest


def _progress(iterable: Iterator[ImageRecord], total: int, initial: int) -> Iterator[ImageRecord]:
    from tqdm.auto import tqdm

    yield from tqdm(
        iterable,
        total=total,
        initial=initial,
        unit="img",
        desc="attention",
        disable=None,
        leave=False,
    )


def _manifest(
    ref: ModelRef,
    model: ModelSummary,
    options: AnalysisOptions,
    spec: spread.SpreadSpec,
    summaries: list[ImageSummary],
    skipped: list[SkippedFile],
    images_dir: Path,
    created: tuple[dt.datetime, str],
) -> dict[str, Any]:
    return {
        "reportgen": {"version": __version__, "commit": reportgen_commit()},
        "created_utc": created[0].strftime("%Y-%m-%dT%H:%M:%SZ"),
        "time_source": created[1],
        "versions": library_versions(),
        "model": model.to_json(),
        "model_choice": ref.reason,
        "parameters": options.parameters(),
        "spread": {
            "map": str(spec),
            "description": spec.describe(options.rollout_start_layer),
            "levels_asked": options.levels,
            "levels_used": int(max(s.level for s in summaries)),
        },
        "inputs": {
            "folder": images_dir.resolve().name,
            "images": [
                {"name": s.name, "sha256": s.sha256, "size_bytes": s.size_bytes} for s in summaries
            ],
            "skipped": [asdict(item) for item in skipped],
        },
    }
