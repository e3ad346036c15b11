"""The analysis stage: images -> model -> records -> spread levels, written as a results store
(:mod:`reportgen.results`). Records are streamed to disk as they are made, and cached by content,
so a rerun with unchanged inputs never loads the model.
"""

from __future__ import annotations

import datetime as dt
import logging
import platform
import subprocess
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from reportgen import __version__, store
from reportgen.analysis import images
from reportgen.analysis.extract import artifact_profile, extract
from reportgen.analysis.faithfulness import FaithfulnessItem, faithfulness
from reportgen.analysis.model import LoadedModel, ModelRef, load, resolve
from reportgen.analysis.relevance import resolve_target
from reportgen.errors import ReportgenError
from reportgen.methods import panels, spread
from reportgen.methods.artifacts import AUTO_START_SHARE, ISOLATION, SHARE, auto_start_layer
from reportgen.methods.faithfulness import pick_evenly
from reportgen.methods.maps import RolloutOptions
from reportgen.progress import track
from reportgen.record import ImageRecord, ModelSummary, Prediction, SkippedFile
from reportgen.results import (
    AUTO,
    MANIFEST_FILE,
    MAPS_DIR,
    Analysis,
    AnalysisOptions,
    ImageSummary,
    build_time,
    write_results,
)
from reportgen.slugs import image_id

log = logging.getLogger(__name__)


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
    """Git commit of the reportgen source when it runs from a checkout, with ``-dirty`` when
    the package or its templates have uncommitted changes (as ``git describe --dirty``)."""
    source = Path(__file__).resolve().parents[2]
    if not (source / ".git").exists():
        return None

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(source), *args],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = git("status", "--porcelain", "--", "reportgen", "templates")
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{commit}-dirty" if commit and dirty else commit or None


class _ModelSession:
    """Loads the model on first need only, so cache-only reruns never touch the weights."""

    def __init__(self, ref: ModelRef, device: str, cache: store.ContentCache | None):
        self.ref, self.device, self.cache = ref, device, cache
        self._loaded: LoadedModel | None = None
        key = store.content_key(
            {
                "model": ref.identity(),
                "format": store.FORMAT_VERSION,
                "code": store.source_fingerprint("analysis.extract", "methods.artifacts"),
            }
        )
        self._key = key
        self._cached = cache.get_json("models", key) if cache else None

    def summary(self) -> ModelSummary:
        if self._cached:
            return ModelSummary.from_json(self._cached["summary"])
        return self.loaded().summary

    def preprocessing(self) -> dict[str, Any]:
        """The processor's settings (from the cache when known: no weights loaded)."""
        if self._cached:
            return self._cached["preprocessing"]
        return self.loaded().processor.to_dict()

    def artifact_profile(self) -> list[float]:
        """Per layer, the share of CLS attention on artifacts in probe images (cached)."""
        if self._cached:
            return self._cached["artifact_profile"]
        self.loaded()
        return self._cached["artifact_profile"]

    def loaded(self) -> LoadedModel:
        if self._loaded is None:
            self._loaded = load(self.ref, self.device, self.cache)
            self._cached = {
                "summary": self._loaded.summary.to_json(),
                "preprocessing": self._loaded.processor.to_dict(),
                "artifact_profile": artifact_profile(self._loaded),
            }
            if self.cache:
                self.cache.put_json("models", self._key, self._cached)
        return self._loaded

    @property
    def was_loaded(self) -> bool:
        return self._loaded is not None


class _Writer:
    """Runs the per-record work (store, cache, the caller's ``on_record``) in one worker
    thread, so encoding and writing one batch overlaps the next batch's forward pass."""

    def __init__(self, accept: Callable[..., None], max_pending: int):
        self._accept, self._max_pending = accept, max_pending
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="reportgen-writer")
        self._pending: deque[Future] = deque()

    def submit(self, *args: Any) -> None:
        self._pending.append(self._pool.submit(self._accept, *args))
        while len(self._pending) > self._max_pending:
            self._pending.popleft().result()  # re-raises a failure of the worker

    def __enter__(self) -> _Writer:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        try:
            while exc_type is None and self._pending:
                self._pending.popleft().result()
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)


@dataclass(frozen=True)
class _Result:
    """One image's result on its way to the store: a record made by the model or read from the
    cache, or (``record`` None) a cache hit known by its cached summary ``facts`` alone."""

    index: int
    name: str
    key: str
    record: ImageRecord | None
    facts: dict[str, Any] | None
    from_cache: bool


class _LazyRecord:
    """A result's record, read from the cache only when something asks for it."""

    def __init__(self, result: _Result, cache: store.ContentCache | None):
        self._result, self._cache = result, cache
        self._record = result.record

    def __call__(self) -> ImageRecord:
        if self._record is None:
            path = self._cache.path("results", self._result.key, ".npz")
            self._record = store.read_record(path, self._result.name)
        return self._record


def _facts(summary: ImageSummary) -> dict[str, Any]:
    """What a summary owes to the record alone (not to its place in the folder): cached."""
    data = asdict(summary)
    for key in ("index", "id", "name", "level"):
        data.pop(key)
    data["predictions"] = [[p.label, p.probability] for p in summary.predictions]
    return data


def _summary_from_facts(index: int, name: str, facts: dict[str, Any]) -> ImageSummary:
    return ImageSummary(
        index=index,
        id=image_id(index, name),
        name=name,
        sha256=facts["sha256"],
        size_bytes=facts["size_bytes"],
        original_size=tuple(facts["original_size"]),
        entropy=facts["entropy"],
        layer_entropies=tuple(facts["layer_entropies"]),
        predictions=tuple(Prediction(label, p) for label, p in facts["predictions"]),
        artifact_counts=tuple(facts["artifact_counts"]),
    )


def _summarise(index: int, record: ImageRecord, spec: spread.SpreadSpec) -> ImageSummary:
    entropy, layer_entropies = spread.record_entropies(record, spec)
    return ImageSummary(
        index=index,
        id=image_id(index, record.name),
        name=record.name,
        sha256=record.sha256,
        size_bytes=record.size_bytes,
        original_size=tuple(record.original_size),
        entropy=entropy,
        layer_entropies=layer_entropies,
        predictions=tuple(record.predictions),
        artifact_counts=tuple(int(count) for count in record.artifact_mask.sum(axis=(1, 2))),
    )


def analyze(
    images_dir: Path,
    out_dir: Path,
    options: AnalysisOptions = AnalysisOptions(),
    *,
    say: Callable[[str], None] = log.info,
    on_record: Callable[[ImageSummary, Callable[[], ImageRecord], str], None] | None = None,
    created: tuple[dt.datetime, str] | None = None,
) -> Analysis:
    """Analyse every image of ``images_dir`` and write the results store to ``out_dir``.

    ``say`` receives the lines a user should see (model chosen, cache use); ``on_record(summary,
    record, key)`` is called for each image, in a worker thread, as soon as its result exists
    (the build renders figures there): ``record()`` returns the record (read from the cache
    only when called) and ``key`` identifies its content;
    ``created`` is the (UTC time, its source) to record, by default :func:`build_time`.
    """
    options = options.validated()
    spec = spread.SpreadSpec.parse(options.spread_by)
    images_dir, out_dir = Path(images_dir), Path(out_dir)
    image_paths = images.discover(images_dir)

    ref = resolve(options.model, cache_dir=options.cache_dir)
    say(f"model: {ref.model_id} ({ref.reason})")
    cache = (
        store.ContentCache(options.cache_dir or store.default_cache_dir())
        if options.use_cache
        else None
    )
    session = _ModelSession(ref, options.device, cache)
    model_summary = session.summary()
    _check_against_model(options, model_summary)
    rollout = options.rollout(_rollout_start_layer(options, session))
    if options.rollout_start_layer == AUTO:
        say(f"rollout starts after layer {rollout.start_layer} (auto, from the model's artifacts)")
    result_parts = {
        "model": ref.identity(),
        "rollout": asdict(rollout),
        "artifacts": options.artifacts,
        "relevance": [options.relevance, options.target_class],
        "heads": options.keep_heads,
        "preprocessing": session.preprocessing(),
        "format": store.FORMAT_VERSION,
        "code": store.source_fingerprint(
            "analysis.images",
            "analysis.extract",
            "methods.maps",
            "methods.artifacts",
            "methods.panels",
            "analysis.relevance",
            "methods.relevance",
        ),
    }

    summaries: list[ImageSummary] = []
    record_keys: dict[int, str] = {}  # image index -> content key of its record
    skipped: list[SkippedFile] = []
    hits = 0
    maps_dir = out_dir / MAPS_DIR
    maps_dir.mkdir(parents=True, exist_ok=True)

    summary_code = store.source_fingerprint("methods.spread", "record", "analysis.analyze")

    def summary_key(key: str) -> str:
        return store.content_key({"record": key, "spread": str(spec), "code": summary_code})

    def accept(result: _Result) -> None:
        """Store one result (from the cache when it came from there) and cache what is new,
        then hand it to ``on_record``. A new record goes on as its file reads back, so what is
        drawn now is what a re-render draws."""
        payload = None
        if result.from_cache:
            record = _LazyRecord(result, cache)
        else:
            payload, stored = store.as_stored(result.record, options.keep_heads)
            record = _LazyRecord(replace(result, record=stored), cache)
        if result.facts is not None:
            summary = _summary_from_facts(result.index, result.name, result.facts)
        else:
            summary = _summarise(result.index, record(), spec)
            if cache:
                cache.put_json("summaries", summary_key(result.key), _facts(summary))
        destination = maps_dir / f"{summary.id}.npz"
        if not (result.from_cache and cache.place("results", result.key, ".npz", destination)):
            payload = payload or store.record_bytes(record(), options.keep_heads)
            store.keep(cache, "results", result.key, ".npz", destination, payload)
        summaries.append(summary)
        record_keys[result.index] = result.key
        if on_record:
            on_record(summary, record, result.key)

    def misses(writer: _Writer) -> Iterator[tuple[int, images.LoadedImage, str]]:
        """Images the cache cannot answer; cache hits go to the writer on the way. A hit whose
        summary is cached too is not even read: its file is placed as it is."""
        nonlocal hits
        for index, file in images.read_files(images_dir, image_paths):
            if isinstance(file, SkippedFile):
                skipped.append(file)
                continue
            key = store.content_key({**result_parts, "image": file.sha256})
            cached = cache.existing("results", key, ".npz") if cache else None
            if cached:
                facts = cache.get_json("summaries", summary_key(key))
                record = None
                if facts is None:
                    try:
                        record = store.read_record(cached, file.name)
                    except (OSError, ValueError, KeyError):
                        cached = None  # a damaged cache entry is recomputed
                if cached:
                    hits += 1
                    writer.submit(_Result(index, file.name, key, record, facts, True))
                    continue
            try:
                loaded = images.load(file)
            except images.ImageLoadError as error:
                skipped.append(SkippedFile(file.name, str(error)))
                continue
            yield index, loaded, key

    with _Writer(accept, max_pending=2 * options.batch_size) as writer:
        pending = misses(writer)
        first = next(pending, None)
        if first is not None:
            loaded_model = session.loaded()
            say(f"running {loaded_model.summary.family} model on {loaded_model.device}")
            keyed: dict[str, tuple[int, str]] = {}

            def feed() -> Iterator[images.LoadedImage]:
                for index, item, key in _chain(first, pending):
                    keyed[item.name] = (index, key)
                    yield item

            records = extract(
                loaded_model,
                feed(),
                batch_size=options.batch_size,
                rollout=rollout,
                mask_artifacts=options.artifacts == "mask",
                relevance=options.relevance,
                target_class=resolve_target(options.target_class, loaded_model.labels),
            )
            progress = track(records, total=len(image_paths), initial=hits, desc="attention")
            for record in progress:
                index, key = keyed.pop(record.name)
                writer.submit(_Result(index, record.name, key, record, None, False))

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
    faithfulness_scores = (
        _faithfulness(options, session, cache, maps_dir, summaries, record_keys, say)
        if options.faithfulness
        else None
    )

    manifest = _manifest(
        ref,
        model_summary,
        options,
        summaries,
        skipped,
        images_dir,
        created or build_time(),
        _rollout_record(options, rollout, session),
    )
    current = {f"{summary.id}.npz" for summary in summaries}
    for stale in maps_dir.glob("*.npz"):  # from an earlier analysis into the same folder
        if stale.name not in current:
            stale.unlink()
    store.atomic_write(out_dir / MANIFEST_FILE, store.canonical_json(manifest))
    write_results(out_dir, summaries, skipped, faithfulness=faithfulness_scores)
    return Analysis(
        out_dir,
        model_summary,
        options,
        summaries,
        skipped,
        manifest,
        faithfulness=faithfulness_scores,
        cache_hits=hits,
        cache_misses=misses_count,
    )


def _check_against_model(options: AnalysisOptions, model: ModelSummary) -> None:
    """Options that only make sense once the model's depth is known."""
    spec = spread.SpreadSpec.parse(options.spread_by)
    if spec.kind == "layer" and spec.layer > model.layers:
        raise ReportgenError(f"--spread-by layer:{spec.layer}: the model has {model.layers} layers")
    if options.relevance and not model.num_classes:
        raise ReportgenError(
            f"--relevance needs a classifier: {model.model_id} has no classification head "
            "(class relevance explains a class logit)"
        )
    if options.rollout_start_layer != AUTO and options.rollout_start_layer >= model.layers:
        raise ReportgenError(
            f"--rollout-start-layer {options.rollout_start_layer}: the model has "
            f"{model.layers} layers (use 0 to {model.layers - 1})"
        )


def _faithfulness(
    options: AnalysisOptions,
    session: _ModelSession,
    cache: store.ContentCache | None,
    maps_dir: Path,
    summaries: list[ImageSummary],
    record_keys: dict[int, str],
    say: Callable[[str], None],
) -> dict[str, Any]:
    """Deletion and insertion scores of every stored one-grid map, on images picked evenly
    across the levels; cached by the picked records' content, so a rerun needs no model."""
    picked = [
        summaries[i] for i in pick_evenly([s.level for s in summaries], options.faithfulness_images)
    ]
    key = store.content_key(
        {
            "records": [record_keys[s.index] for s in picked],
            "steps": options.faithfulness_steps,
            "target_class": options.target_class,
            "code": store.source_fingerprint("analysis.faithfulness", "methods.faithfulness"),
        }
    )
    cached = cache.get_json("faithfulness", key) if cache else None
    if cached:
        return cached
    loaded = session.loaded()
    target = resolve_target(options.target_class, loaded.labels)
    say(f"faithfulness: deletion and insertion on {len(picked)} images")
    items = []
    for summary in picked:
        record = store.read_record(maps_dir / f"{summary.id}.npz", summary.name)
        grids = {name: values for name, values in record.maps.items() if name != panels.LAYERS}
        items.append(FaithfulnessItem(record.seen_image, grids, target))
    scores = faithfulness(loaded, items, steps=options.faithfulness_steps).to_json()
    if cache:
        cache.put_json("faithfulness", key, scores)
    return scores


def _rollout_start_layer(options: AnalysisOptions, session: _ModelSession) -> int:
    """The start layer asked for, or the one ``auto`` picks from the model's artifact profile."""
    if options.rollout_start_layer == AUTO:
        return auto_start_layer(np.array(session.artifact_profile()))
    return int(options.rollout_start_layer)


def _chain(first: Any, rest: Iterator[Any]) -> Iterator[Any]:
    yield first
    yield from rest


def _rollout_record(
    options: AnalysisOptions, rollout: RolloutOptions, session: _ModelSession
) -> dict[str, Any]:
    """How rollout was configured, for the manifest: the start layer and why."""
    record: dict[str, Any] = {**asdict(rollout), "chosen_by": "option"}
    if options.rollout_start_layer == AUTO:
        record["chosen_by"] = (
            "auto: after the last layer in the first half of the depth where artifact patches "
            f"take >= {AUTO_START_SHARE:g} of the CLS attention on seeded noise probe images"
        )
        record["artifact_profile"] = session.artifact_profile()
    return record


def _manifest(
    ref: ModelRef,
    model: ModelSummary,
    options: AnalysisOptions,
    summaries: list[ImageSummary],
    skipped: list[SkippedFile],
    images_dir: Path,
    created: tuple[dt.datetime, str],
    rollout: dict[str, Any],
) -> dict[str, Any]:
    spec = spread.SpreadSpec.parse(options.spread_by)
    masked_per_layer = np.sum([s.artifact_counts for s in summaries], axis=0)
    return {
        "reportgen": {"version": __version__, "commit": reportgen_commit()},
        "created_utc": created[0].strftime("%Y-%m-%dT%H:%M:%SZ"),
        "time_source": created[1],
        "versions": library_versions(),
        "model": model.to_json(),
        "model_choice": ref.reason,
        "parameters": options.parameters(),
        "rollout": rollout,
        "artifacts": {
            "mode": options.artifacts,
            "rule": (
                f"received attention >= {SHARE:g}x a uniform share and > {ISOLATION:g}x the "
                "median of the neighbouring patches"
            ),
            "masked_per_layer": [int(count) for count in masked_per_layer],
        },
        "spread": {
            "map": str(spec),
            "description": spec.describe(rollout["start_layer"]),
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
