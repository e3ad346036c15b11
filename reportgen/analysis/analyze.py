"""The analysis stage: images -> model -> records -> spread levels, written as a results store
(:mod:`reportgen.results`). Records are streamed to disk as they are made, and cached by content,
so a rerun with unchanged inputs never loads the model.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import asdict, replace
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np

from reportgen import __version__, labels, store
from reportgen.analysis import backends, engines, features, pooling
from reportgen.analysis.backends.huggingface import FAST_ATTENTION
from reportgen.analysis.engines.base import Engine, Job, Stored
from reportgen.analysis.execution import Execution
from reportgen.analysis.extract import ExtractOptions, artifact_profile
from reportgen.analysis.faithfulness import FaithfulnessItem, faithfulness, forward_precision
from reportgen.analysis.model import LoadedModel, ModelRef, load, resolve
from reportgen.analysis.provenance import library_versions, reportgen_commit
from reportgen.analysis.relevance import resolve_target
from reportgen.analysis.sources import Source, as_source
from reportgen.errors import ReportgenError
from reportgen.manifest import (
    MANIFEST_FILE,
    AnalysisManifest,
    Artifacts,
    FeatureBasisNote,
    InputImage,
    Inputs,
    Program,
    Rollout,
    Spread,
)
from reportgen.methods import base, registry, spread
from reportgen.methods.artifacts import ATTENTION_RULE, AUTO_START_SHARE, auto_start_layer
from reportgen.methods.faithfulness import pick_evenly
from reportgen.methods.layers import LAYERS
from reportgen.methods.maps import RolloutOptions
from reportgen.methods.norms import NORM_RULE
from reportgen.progress import track
from reportgen.record import ImageRecord, ModelSummary, SkippedFile
from reportgen.results import (
    AUTO,
    MAPS_DIR,
    Analysis,
    AnalysisParams,
    ImageSummary,
    build_time,
    write_summary,
    write_table,
)
from reportgen.workers import Pool

log = logging.getLogger(__name__)


class _ModelSession:
    """Loads the model on first need only, so cache-only reruns never touch the weights. What
    the first load learns (summary, processor settings, artifact profile) is cached with the
    model, so later loads skip the probing forward passes."""

    def __init__(self, ref: ModelRef, device: str, dtype: str, cache: store.ContentCache | None):
        self.ref, self.device, self.dtype, self.cache = ref, device, dtype, cache
        self._loaded: LoadedModel | None = None
        key = store.content_key(
            {
                "model": ref.identity(),
                "dtype": dtype,
                "format": store.FORMAT_VERSION,
                "code": store.source_fingerprint(
                    "analysis.extract",
                    "analysis.model",
                    backends.BACKENDS[ref.backend],
                    "methods.artifacts",
                    "record",
                ),
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
            known = ModelSummary.from_json(self._cached["summary"]) if self._cached else None
            self._loaded = load(self.ref, self.device, self.dtype, known, self.cache)
            if not self._cached:
                self._cached = {
                    "summary": self._loaded.summary.to_json(),
                    "preprocessing": self._loaded.processor.to_dict(),
                    "artifact_profile": artifact_profile(self._loaded),
                }
                if self.cache:
                    self.cache.put_json("models", self._key, self._cached)
        return self._loaded


def analyze(
    source: Source | Path,
    out_dir: Path,
    params: AnalysisParams = AnalysisParams(),
    execution: Execution = Execution(),
    *,
    say: Callable[[str], None] = log.info,
    on_record: Callable[[ImageSummary, Callable[[], ImageRecord], str], None] | None = None,
    created: tuple[dt.datetime, str] | None = None,
    engine: Engine | None = None,
    earlier: Path | None = None,
    results_table: bool = True,
) -> Analysis:
    """Analyse every image of ``source`` (a folder's path is the folder source) and write the
    results store to ``out_dir``.

    ``say`` receives the lines a user should see (model chosen, cache use); ``on_record(summary,
    record, key)`` is called for each image as soon as its record is stored (the build draws
    figures there): ``record()`` returns the record (read from the cache only when called) and
    ``key`` identifies its content. It runs in the engine's workers (other processes, other
    machines), so it must be picklable and return nothing.
    ``created`` is the (UTC time, its source) to record, by default :func:`build_time`.
    ``engine`` runs the images; by default the one ``execution.engine`` names, closed at the end.
    ``earlier`` is the results store of the report's earlier build (by default ``out_dir``):
    with ``--pca per-report`` its feature basis is reused when it fits
    (:mod:`reportgen.analysis.features`).
    ``results_table`` False leaves the results table to the caller, which writes it with more: a
    build, with each image's figure.
    """
    params, execution = params.validated(), execution.validated()
    source, out_dir = as_source(source), Path(out_dir)
    total = source.count()  # before the model loads: a source that is not there says so first

    ref = resolve(params.model, cache_dir=execution.cache_dir, random_weights=params.random_weights)
    say(f"model: {ref.model_id} ({ref.reason})")
    cache = execution.cache()
    session = _ModelSession(ref, execution.device, params.dtype, cache)
    model_summary = session.summary()
    _check_against_model(params, model_summary)
    rollout = params.rollout(_rollout_start_layer(params, session))
    if params.rollout_start_layer == AUTO:
        say(f"rollout starts after layer {rollout.start_layer} (auto, from the model's artifacts)")
    result_parts = {
        "model": ref.identity(),
        "rollout": asdict(rollout),
        "artifacts": [params.artifacts, params.artifacts_by, params.norm_layer],
        "relevance": [params.relevance, params.target_class],
        "heads": params.keep_heads,
        "features": [params.pca, None],
        "preprocessing": session.preprocessing(),
        "dtype": params.dtype,
        "format": store.FORMAT_VERSION,
        "code": store.source_fingerprint(
            "analysis.images",
            "analysis.extract",
            backends.BACKENDS[ref.backend],
            "analysis.relevance",
            "methods.panels",
            *registry.code_modules(),
        ),
    }
    maps_dir = out_dir / MAPS_DIR
    maps_dir.mkdir(parents=True, exist_ok=True)
    job = Job(
        model=ref,
        model_summary=model_summary,
        device=execution.device,
        dtype=params.dtype,
        batch_size=params.batch_size,
        extract=ExtractOptions(
            rollout,
            mask_artifacts=params.artifacts == "mask",
            relevance=params.relevance,
            target_class=params.target_class,
            artifacts_by=params.artifacts_by,
            norm_layer=params.norm_layer,
        ),
        result_parts=result_parts,
        spread_by=params.spread_by,
        maps_dir=maps_dir.resolve(),
        cache_dir=cache.root.resolve() if cache else None,
        keep_heads=params.keep_heads,
        on_record=on_record,
    )

    def model() -> LoadedModel:
        loaded = session.loaded()
        say(f"running {loaded.summary.family} model on {loaded.device}")
        return loaded

    summaries: list[ImageSummary] = []
    record_keys: dict[int, str] = {}  # image index -> content key of its record
    skipped: list[SkippedFile] = []
    hits = 0
    with nullcontext(engine) if engine else engines.open_engine(execution) as running:
        basis, job, first, done = _feature_basis(
            params, session, source, job, model, cache, earlier or out_dir, running.pool
        )
        rest = features.Remaining(source, frozenset(done)) if done else source
        outcomes = chain(first, running.run(rest, job, model))
        for outcome in track(outcomes, total=total, desc="attention"):
            if isinstance(outcome, Stored):
                summaries.append(outcome.summary)
                record_keys[outcome.summary.index] = outcome.key
                hits += outcome.from_cache
            else:
                skipped.append(outcome)

    misses_count = len(summaries) - hits
    if not summaries:
        reasons = "; ".join(f"{item.name}: {item.reason}" for item in skipped[:5])
        raise ReportgenError(f"no readable image in {source} ({reasons})")
    say(
        f"{len(summaries)} images analysed: {hits} from the cache, {misses_count} by the model"
        + ("" if misses_count else " (model not run: every result came from the cache)")
        + (f"; {len(skipped)} skipped" if skipped else "")
    )
    summaries.sort(key=lambda item: item.index)
    skipped.sort(key=lambda item: item.name)
    levels = spread.assign_levels(np.array([s.entropy for s in summaries]), params.levels)
    summaries = [replace(s, level=int(level)) for s, level in zip(summaries, levels, strict=True)]
    summaries, _ = labels.judged(summaries, model_summary.class_names, params.label_map)
    faithfulness_scores = (
        _faithfulness(params, session, cache, maps_dir, summaries, record_keys, say)
        if params.faithfulness
        else None
    )

    manifest = _manifest(
        ref,
        model_summary,
        params,
        summaries,
        skipped,
        source,
        created or build_time(),
        _rollout_record(params, rollout, session),
        basis.note() if basis else None,
    )
    current = {f"{summary.id}.npz" for summary in summaries}
    for stale in maps_dir.glob("*.npz"):  # from an earlier analysis into the same folder
        if stale.name not in current:
            stale.unlink()
    basis_file = out_dir / features.BASIS_FILE
    if basis:
        store.write_json(basis_file, basis.to_json())
    else:
        basis_file.unlink(missing_ok=True)  # from an earlier analysis into the same folder
    manifest.write(out_dir / MANIFEST_FILE)
    if results_table:
        write_table(out_dir, summaries)
    write_summary(out_dir, skipped, faithfulness_scores)
    return Analysis(
        out_dir,
        model_summary,
        params,
        summaries,
        skipped,
        manifest,
        faithfulness=faithfulness_scores,
        cache_hits=hits,
        cache_misses=misses_count,
    )


def _feature_basis(
    params: AnalysisParams,
    session: _ModelSession,
    source: Source,
    job: Job,
    model: Callable[[], LoadedModel],
    cache: store.ContentCache | None,
    earlier: Path | None,
    pool: Pool,
) -> tuple[features.StoredBasis | None, Job, list[Stored | SkippedFile], set[int]]:
    """With ``--pca per-report``: the report's feature basis (the earlier build's when it fits,
    else a new one), the job that projects onto it, and the outcomes and indexes of the images
    analysed to fit it (see :func:`features.report_basis`)."""
    if params.pca != "per-report":
        return None, job, [], set()
    fits = features.fits_key(job.model.identity(), params.dtype, session.preprocessing())
    kept = features.earlier_basis(earlier, fits)
    if kept:
        return kept, features.with_basis(job, kept.basis), [], set()
    return features.report_basis(source, job, fits, model, cache, pool)


def _check_against_model(params: AnalysisParams, model: ModelSummary) -> None:
    """Options that only make sense once the model's depth is known."""
    spec = spread.SpreadSpec.parse(params.spread_by)
    if spec.kind == "layer" and spec.layer > model.layers:
        raise ReportgenError(f"--spread-by layer:{spec.layer}: the model has {model.layers} layers")
    method = registry.methods().get(spec.kind)
    if method and base.PROBE in method.inputs and model.pooling != pooling.ATTENTION_POOL:
        raise ReportgenError(
            f"--spread-by {spec.kind} needs a model that pools with an attention head: "
            f"{model.model_id} has a CLS token"
        )
    if params.relevance and not model.num_classes:
        raise ReportgenError(
            f"--relevance needs a classifier: {model.model_id} has no classification head "
            "(class relevance explains a class logit)"
        )
    if params.norm_layer is not None and params.norm_layer > model.layers:
        raise ReportgenError(
            f"--norm-layer {params.norm_layer}: the model has {model.layers} layers "
            f"(use 1 to {model.layers})"
        )
    if params.rollout_start_layer != AUTO and params.rollout_start_layer >= model.layers:
        raise ReportgenError(
            f"--rollout-start-layer {params.rollout_start_layer}: the model has "
            f"{model.layers} layers (use 0 to {model.layers - 1})"
        )


def _faithfulness(
    params: AnalysisParams,
    session: _ModelSession,
    cache: store.ContentCache | None,
    maps_dir: Path,
    summaries: list[ImageSummary],
    record_keys: dict[int, str],
    say: Callable[[str], None],
) -> dict[str, Any]:
    """Deletion and insertion scores of the stored one-grid maps (and each layer's with
    ``--faithfulness-maps all``), on images picked evenly across the levels; cached by the picked
    records' content and how they are scored, so a rerun needs no model."""
    picked = [
        summaries[i] for i in pick_evenly([s.level for s in summaries], params.faithfulness_images)
    ]
    key = store.content_key(
        {
            "records": [record_keys[s.index] for s in picked],
            "steps": params.faithfulness_steps,
            "maps": params.faithfulness_maps,
            "target_class": params.target_class,
            "attention": FAST_ATTENTION,
            # as asked: resolving auto needs torch, which a rerun from the cache need not
            # import; the scores record the precision they were computed in
            "precision": params.faithfulness_precision,
            "code": store.source_fingerprint("analysis.faithfulness", "methods.faithfulness"),
        }
    )
    cached = cache.get_json("faithfulness", key) if cache else None
    if cached:
        return cached
    loaded = session.loaded()
    target = resolve_target(params.target_class, loaded.labels)
    say(f"faithfulness: deletion and insertion on {len(picked)} images")
    items = []
    for summary in picked:
        record = store.read_record(maps_dir / f"{summary.id}.npz", summary.name)
        items.append(FaithfulnessItem(record.seen_image, _scored_maps(record, params), target))
    precision = forward_precision(params.faithfulness_precision, params.dtype, loaded.device)
    scores = faithfulness(
        loaded, items, steps=params.faithfulness_steps, bfloat16=precision == "bfloat16"
    ).to_json()
    if cache:
        cache.put_json("faithfulness", key, scores)
    return scores


def _scored_maps(record: ImageRecord, params: AnalysisParams) -> dict[str, np.ndarray]:
    """The one-grid maps of a record, and with ``--faithfulness-maps all`` each layer's map
    (``layer:1`` for the first)."""
    grids = registry.grid_maps(record.maps)
    if params.faithfulness_maps == "all":
        layers = record.maps[LAYERS]
        grids.update({f"layer:{index + 1}": layer for index, layer in enumerate(layers)})
    return grids


def _rollout_start_layer(params: AnalysisParams, session: _ModelSession) -> int:
    """The start layer asked for, or the one ``auto`` picks from the model's artifact profile."""
    if params.rollout_start_layer == AUTO:
        return auto_start_layer(np.array(session.artifact_profile()))
    return int(params.rollout_start_layer)


def _rollout_record(
    params: AnalysisParams, rollout: RolloutOptions, session: _ModelSession
) -> Rollout:
    """How rollout was configured, for the manifest: the start layer and why."""
    if params.rollout_start_layer != AUTO:
        return Rollout(**asdict(rollout), chosen_by="option")
    return Rollout(
        **asdict(rollout),
        chosen_by=(
            "auto: after the last layer in the first half of the depth where artifact patches "
            f"take >= {AUTO_START_SHARE:g} of the "
            f"{'CLS' if session.summary().has_cls else 'received'} attention on seeded noise "
            "probe images"
        ),
        artifact_profile=tuple(session.artifact_profile()),
    )


def _manifest(
    ref: ModelRef,
    model: ModelSummary,
    params: AnalysisParams,
    summaries: list[ImageSummary],
    skipped: list[SkippedFile],
    source: Source,
    created: tuple[dt.datetime, str],
    rollout: Rollout,
    feature_basis: FeatureBasisNote | None,
) -> AnalysisManifest:
    spec = spread.SpreadSpec.parse(params.spread_by)
    masked_per_layer = np.sum([s.artifact_counts for s in summaries], axis=0)
    return AnalysisManifest(
        program=Program(__version__, reportgen_commit()),
        created_utc=created[0].strftime("%Y-%m-%dT%H:%M:%SZ"),
        time_source=created[1],
        libraries=library_versions(),
        model=model,
        model_choice=ref.reason,
        parameters=params.parameters(),
        rollout=rollout,
        artifacts=Artifacts(
            mode=params.artifacts,
            rule=" or ".join(
                rule
                for by, rule in (("attention", ATTENTION_RULE), ("norm", NORM_RULE))
                if params.artifacts_by in (by, "both")
            ),
            masked_per_layer=tuple(int(count) for count in masked_per_layer),
        ),
        spread=Spread(
            map=str(spec),
            description=spec.describe(rollout.start_layer, model.has_cls),
            levels_asked=params.levels,
            levels_used=int(max(s.level for s in summaries)),
        ),
        features=feature_basis,
        inputs=Inputs(
            source=source.describe(),
            images=tuple(InputImage(s.name, s.sha256, s.size_bytes) for s in summaries),
            skipped=tuple(skipped),
        ),
    )
