"""What every engine shares: the job, the steps an image goes through, and the interface.

An image goes through three steps, each a plain function or class that an engine runs where it
fits (a thread, a process pool, a Ray stage):

1. :func:`intake_batch`: read and hash each item of a batch (from any source,
   :mod:`reportgen.analysis.sources`), answer from the cache or decode it,
   and preprocess the misses together (:func:`intake` for one item);
2. :class:`~reportgen.analysis.extract.Extractor` (which holds the model): the misses' forward
   pass;
3. :func:`deliver`: finish the record's maps, store it (results store and cache), summarise it
   and hand it to the caller's ``on_record`` (the build draws the figure there).

An engine only decides where these run. Adding one (Spark, Dask...) is one module with one
:class:`Engine` subclass, registered in :mod:`reportgen.analysis.engines`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reportgen import store
from reportgen.analysis import images
from reportgen.analysis.execution import Execution
from reportgen.analysis.extract import ExtractOptions, PreparedBatch, RawRecord, finish, prepare
from reportgen.analysis.model import LoadedModel, ModelRef, load_processor
from reportgen.analysis.sources.base import Item, ItemTag, Source
from reportgen.analysis.summaries import summarise, summary_facts, summary_from_facts
from reportgen.errors import DamagedFile, ReportgenError
from reportgen.methods import spread
from reportgen.record import ImageRecord, ModelSummary, SkippedFile
from reportgen.results import ImageSummary
from reportgen.workers import Pool


@dataclass(frozen=True)
class Job:
    """Everything needed to turn images into stored records. Picklable: it travels to worker
    processes and Ray actors, so the output and cache folders must be reachable from them."""

    model: ModelRef
    model_summary: ModelSummary  # known before any image: actors load without probing
    device: str
    dtype: str
    batch_size: int
    extract: ExtractOptions
    result_parts: dict[str, Any]  # what identifies a result besides the image (cache key)
    spread_by: str
    maps_dir: Path
    cache_dir: Path | None  # None: no cache
    keep_heads: bool = False  # store every head's CLS attention as float16
    on_record: Callable[[ImageSummary, Callable[[], ImageRecord], str], None] | None = None

    def key(self, sha256: str) -> str:
        return store.content_key({**self.result_parts, "image": sha256})

    def summary_key(self, key: str) -> str:
        """The cache key of the summary facts of the record under ``key``."""
        code = store.source_fingerprint("methods.spread", "record", "analysis.summaries")
        return store.content_key({"record": key, "spread": self.spread_by, "code": code})

    def cache(self) -> store.ContentCache | None:
        return store.ContentCache(self.cache_dir) if self.cache_dir else None


@dataclass
class Hit:
    """An image the cache answered: with its record, or (``record`` None) by its cached summary
    ``facts`` alone, so that its file is placed as it is, never read."""

    tag: ItemTag
    key: str
    record: ImageRecord | None
    facts: dict[str, Any] | None = None


@dataclass
class Miss:
    """An image the model must see."""

    tag: ItemTag
    key: str
    image: images.LoadedImage


@dataclass
class Made:
    """An image the model saw, before its maps are finished."""

    tag: ItemTag
    key: str
    raw: RawRecord


@dataclass(frozen=True)
class Stored:
    """An image in the results store."""

    summary: ImageSummary
    key: str  # the content key of its record
    from_cache: bool


def intake(item: Item, job: Job) -> Hit | Miss | SkippedFile:
    """Read and hash one item; a cache hit comes back with its record, anything unreadable
    as skipped with the reason. A damaged cache entry counts as a miss. A file whose digest
    the cache remembers (:meth:`Item.remembered_sha256`) is a hit without being read."""
    cache = job.cache()
    remembered = item.remembered_sha256(cache)
    if remembered and (hit := _answer(item, job.key(remembered), job, cache)):
        return hit
    try:
        file = item.hashed(cache)
    except images.ImageLoadError as error:
        return SkippedFile(item.name, str(error))
    key = job.key(file.sha256)
    if file.sha256 != remembered and (hit := _answer(item, key, job, cache)):
        return hit
    try:
        return Miss(item.tag, key, images.load(file))
    except images.ImageLoadError as error:
        return SkippedFile(file.name, str(error))


def _answer(item: Item, key: str, job: Job, cache: store.ContentCache | None) -> Hit | None:
    """The cache's answer for ``item``, whose record is under ``key``: by its cached summary, or
    by its record; None without a cache, or when it has none (or a damaged one)."""
    found = cache.existing("results", key, ".npz") if cache else None
    if not found:
        return None
    facts = cache.get_json("summaries", job.summary_key(key))
    if facts is not None:
        return Hit(item.tag, key, None, facts)
    try:
        return Hit(item.tag, key, store.read_record(found, item.name))
    except (OSError, DamagedFile):
        return None  # computed again


@dataclass
class Intake:
    """A batch of items after intake: what needs no model, and the misses ready for it."""

    found: list[Hit | SkippedFile]  # cache hits and unreadable items
    misses: list[tuple[ItemTag, str]]  # (tag, key) of each image of ``prepared``, in order
    prepared: PreparedBatch | None  # the misses through the processor; None when none missed


def intake_batch(items: Sequence[Item], job: Job, pin: bool = False) -> Intake:
    """:func:`intake` for each item, then the misses preprocessed together by the checkpoint's
    processor (loaded once per process, without the weights); ``pin``: page-locked pixels."""
    found: list[Hit | SkippedFile] = []
    misses: list[Miss] = []
    for item in items:
        outcome = intake(item, job)
        (misses if isinstance(outcome, Miss) else found).append(outcome)
    prepared = None
    if misses:
        prepared = prepare([miss.image for miss in misses], load_processor(job.model), pin)
    return Intake(found, [(miss.tag, miss.key) for miss in misses], prepared)


def deliver(item: Hit | Made | SkippedFile, job: Job) -> Stored | SkippedFile:
    """Store one image's record in the results store (and the cache when it is new), then
    hand it to ``job.on_record``. A new record goes on as its file reads back, so what is
    drawn now is what a re-render draws; a cached one is read only if something needs it.
    Skipped files pass through."""
    if isinstance(item, SkippedFile):
        return item
    if not job.maps_dir.is_dir():  # a failed run's staging, removed while this image was made
        raise ReportgenError(f"{job.maps_dir} was removed while reportgen ran; nothing stored")
    cache = job.cache()
    payload = None
    from_cache = isinstance(item, Hit)
    if from_cache:
        record = functools.cache(
            lambda: item.record or store.read_record(cache.path(*_cached(item)), item.tag.name)
        )
    else:
        payload, stored = store.as_stored(finish(item.raw, job.extract), job.keep_heads)
        record = functools.cache(lambda: stored)
    if from_cache and item.facts is not None:
        summary = summary_from_facts(item.tag, item.facts)
    else:
        summary = summarise(item.tag, record(), spread.SpreadSpec.parse(job.spread_by))
        if cache:
            cache.put_json("summaries", job.summary_key(item.key), summary_facts(summary))
    destination = job.maps_dir / f"{summary.id}.npz"
    if not (from_cache and cache.place(*_cached(item), destination)):
        payload = payload or store.record_bytes(record(), job.keep_heads)
        store.keep(cache, *_cached(item), destination, payload)
    if job.on_record:
        job.on_record(summary, record, item.key)
    return Stored(summary, item.key, from_cache)


def deliver_all(items: list[Hit | Made | SkippedFile], job: Job) -> list[Stored | SkippedFile]:
    """:func:`deliver` each of ``items``: a worker's task takes the cache hits of a batch
    together, as each costs less than sending it there."""
    return [deliver(item, job) for item in items]


def _cached(item: Hit | Made) -> tuple[str, str, str]:
    """(namespace, key, suffix) of an item's record file in the cache."""
    return "results", item.key, ".npz"


class Engine:
    """Turns a source's items into records in the results store. Use as a context manager: it
    holds its workers (and cluster connection) from ``__enter__`` to ``__exit__``."""

    name: str = ""

    @classmethod
    def open(cls, execution: Execution, warm_up: Sequence[Callable[[], Any]] = ()) -> Engine:
        """The engine for ``execution``, started; ``warm_up`` functions run in each of its
        worker processes as it starts (imports, tables), where it has such processes."""
        raise NotImplementedError

    @property
    def pool(self) -> Pool:
        """Where other per-report work (charts, thumbnails, re-drawn figures) can run."""
        raise NotImplementedError

    def run(
        self, source: Source, job: Job, model: Callable[[], LoadedModel]
    ) -> Iterator[Stored | SkippedFile]:
        """Analyse the items of ``source`` (read as they come) and yield one outcome per item,
        in any order. ``model()`` gives the model loaded in this process, for engines that run
        it here; it is called only when some image misses the cache."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
