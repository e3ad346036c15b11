"""The local engine: one machine. Background threads read, decode and preprocess the next
batches, the calling thread runs the model, and a process pool finishes, stores and draws each
record (``--workers``), fed through a bounded queue. A scout thread looks ahead for the first
image the cache lacks (new and changed files first) and starts loading the model's processor
then (importing transformers takes seconds), while the cache hits are still being delivered.
Before the engine opens, :func:`import_torch_if_new` imports torch when an input is new."""

from __future__ import annotations

import importlib
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import partial
from typing import Any

from reportgen import digests
from reportgen.analysis import images
from reportgen.analysis.engines import base
from reportgen.analysis.engines.base import (
    Engine,
    Hit,
    Intake,
    Job,
    Made,
    Stored,
    deliver_all,
    intake_batch,
)
from reportgen.analysis.execution import Execution
from reportgen.analysis.extract import Extractor, PreparedBatch, batched
from reportgen.analysis.model import LoadedModel, load_processor
from reportgen.analysis.sources.base import Item, ItemTag, Source
from reportgen.errors import ReportgenError
from reportgen.record import SkippedFile
from reportgen.workers import DRAIN, Imports, Pool, available_cores, open_pool, threaded_map


class LocalEngine(Engine):
    name = "local"

    def __init__(self, workers: int | None = None, warm_up: Sequence[Callable[[], Any]] = ()):
        self._pool = open_pool(workers, (Imports((base.__name__,)), *warm_up))

    @classmethod
    def open(cls, execution: Execution, warm_up: Sequence[Callable[[], Any]] = ()) -> Engine:
        if execution.ray_address or execution.ray_actors:
            raise ReportgenError("--ray-address and --ray-actors need --engine ray")
        return cls(execution.workers, warm_up)

    @property
    def pool(self) -> Pool:
        return self._pool

    def run(
        self, source: Source, job: Job, model: Callable[[], LoadedModel]
    ) -> Iterator[Stored | SkippedFile]:
        stop = threading.Event()
        scout = threading.Thread(
            target=_load_at_first_miss, args=(source, job, stop), name="reportgen-scout"
        )
        scout.start()
        try:
            deliveries = _deliveries(source.items(), job, model)
            for delivered in self._pool.imap(partial(deliver_all, job=job), deliveries):
                yield from delivered
        finally:
            stop.set()
            scout.join()  # an import still running is finished, not cut off at exit

    def close(self) -> None:
        self._pool.close()


def import_torch_if_new(source: Source, execution: Execution) -> None:
    """Import torch here, now, if ``source`` has a file the cache remembers no digest of (a new
    or changed file, which the model will likely see; every file without a cache). The scout
    would import it later in a thread, beside the intake: two threads that read files and
    import modules pass the interpreter's lock to and fro, and a rebuild after adding 20 images
    to 2,000 took 7.6 s this way against 7.9 s (8.3 s with this import in a thread of its
    own). Only for this engine (Ray's actors run the model); items that are not files tell
    nothing without being read, so they import nothing. Only a head start: what goes wrong here
    is left for the analysis to meet and report."""
    if execution.engine != LocalEngine.name:
        return
    cache = execution.cache()
    try:
        for item in source.items():
            if not item.file:
                continue
            identity = digests.input_identity(item.file)
            if cache is None or identity is None or not digests.remembers_input(identity, cache):
                importlib.import_module("torch")
                return
    except Exception:  # the analysis meets the same failure and reports it
        return


def _load_at_first_miss(source: Source, job: Job, stop: threading.Event) -> None:
    """Load the model's processor as soon as :func:`_finds_a_miss` (the intake then waits for
    it rather than loading it again). Only a head start: anything that goes wrong here is left
    for the intake to meet and report."""
    try:
        if _finds_a_miss(source, job, stop) and not stop.is_set():
            load_processor(job.model)
    except Exception:  # the intake meets the same failure and reports it
        return


def _finds_a_miss(source: Source, job: Job, stop: threading.Event) -> bool:
    """Whether some item's record is not cached; False once ``stop`` is set. The files whose
    digest the cache remembers (:func:`digests.remembers_input`) are looked up last; the other
    items, new or changed files the likely misses, first, read and hashed ahead of the intake."""
    cache = job.cache()
    if cache is None:
        return True

    def cached(digest: str | None) -> bool:
        return digest is not None and cache.path("results", job.key(digest), ".npz").is_file()

    remembered = []
    for item in source.items():
        if stop.is_set():
            return False
        identity = digests.input_identity(item.file) if item.file else None
        if identity and digests.remembers_input(identity, cache):
            remembered.append(identity)
            continue
        try:
            if not cached(item.hashed(cache).sha256):
                return True
        except images.ImageLoadError:
            continue
    return not all(cached(digests.remembered_input(each, cache)) for each in remembered)


def _deliveries(
    items: Iterable[Item], job: Job, model: Callable[[], LoadedModel]
) -> Iterator[tuple[list[Hit | Made | SkippedFile]] | object]:
    """What to deliver, as soon as it exists, as the tasks of :func:`deliver_all`: cache hits
    and skipped files as intake finds them, a batch's in one task (those before the first miss
    too, while intake looks for it: a rebuild after adding images finds them last), each miss
    in a task of its own once the model has seen it. Intake runs a batch ahead in a thread;
    once the model turns out to run on an accelerator, in one thread per core."""
    found: deque[Hit | SkippedFile] = deque()
    order: deque[tuple[ItemTag, str]] = deque()
    extractor: list[Extractor] = []  # made when the first miss needs the model

    def accelerated() -> bool:
        return bool(extractor) and extractor[0].transfers.accelerated

    def intake(chunk: list[Item]) -> Intake:
        return intake_batch(chunk, job, pin=bool(extractor) and extractor[0].transfers.cuda)

    def ahead() -> int:
        return available_cores() if accelerated() else 1

    def prepared() -> Iterator[PreparedBatch | None]:
        """Each batch's misses ready for the model; None for a batch without any."""
        for batch in threaded_map(intake, batched(items, job.batch_size), ahead):
            found.extend(batch.found)
            if batch.prepared is not None:
                order.extend(batch.misses)
            yield batch.prepared

    batches = prepared()
    first = None
    for first in batches:
        if found:
            yield (_taken(found),)
        if first is not None:
            break
    if first is not None:
        batches = (batch for batch in batches if batch is not None)
        extractor.append(Extractor(model(), job.extract))
        # On the CPU the forward pass already keeps every core busy: workers running next to
        # it slow it down more than they gain, so each batch is finished between passes.
        between_passes = not accelerated()
        for batch in extractor[0].run(_chain(first, batches)):
            if found:
                yield (_taken(found),)
            for raw in batch:
                tag, key = order.popleft()
                yield ([Made(tag, key, raw)],)
            if between_passes:
                yield DRAIN
    if found:
        yield (_taken(found),)


def _taken(found: deque[Hit | SkippedFile]) -> list[Hit | SkippedFile]:
    """Everything in ``found``, which is left empty."""
    taken = list(found)
    found.clear()
    return taken


def _chain(first: Any, rest: Iterator[Any]) -> Iterator[Any]:
    yield first
    yield from rest
