"""The local engine: one machine. A background thread reads, decodes and preprocesses the next
batch, the calling thread runs the model, and a process pool finishes, stores and draws each
record (``--workers``), fed through a bounded queue."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from importlib import import_module
from typing import Any

from reportgen.analysis.engines import base
from reportgen.analysis.engines.base import (
    Engine,
    Hit,
    ImageTask,
    Job,
    Made,
    Miss,
    Stored,
    deliver,
    intake,
)
from reportgen.analysis.extract import Extractor, PreparedBatch, batched, prefetched
from reportgen.analysis.model import LoadedModel
from reportgen.errors import ReportgenError
from reportgen.record import SkippedFile
from reportgen.results import AnalysisOptions
from reportgen.workers import DRAIN, Pool, open_pool


class LocalEngine(Engine):
    name = "local"

    def __init__(self, workers: int | None = None, warm_up: Sequence[Callable[[], Any]] = ()):
        self._pool = open_pool(workers, (partial(import_module, base.__name__), *warm_up))

    @classmethod
    def open(cls, options: AnalysisOptions, warm_up: Sequence[Callable[[], Any]] = ()) -> Engine:
        if options.ray_address or options.ray_actors:
            raise ReportgenError("--ray-address and --ray-actors need --engine ray")
        return cls(options.workers, warm_up)

    @property
    def pool(self) -> Pool:
        return self._pool

    def run(
        self, tasks: Sequence[ImageTask], job: Job, model: Callable[[], LoadedModel]
    ) -> Iterator[Stored | SkippedFile]:
        yield from self._pool.imap(partial(deliver, job=job), _deliveries(tasks, job, model))

    def close(self) -> None:
        self._pool.close()


def _deliveries(
    tasks: Sequence[ImageTask], job: Job, model: Callable[[], LoadedModel]
) -> Iterator[tuple[Hit | Made | SkippedFile]]:
    """What to deliver, as soon as it exists: cache hits and skipped files as the reading
    thread finds them, misses once the model has seen them."""
    found: deque[Hit | SkippedFile] = deque()  # filled by the reading thread
    extractor: list[Extractor] = []  # made when the first miss needs the model

    def misses() -> Iterator[Miss]:
        for task in tasks:
            item = intake(task, job)
            if isinstance(item, Miss):
                yield item
            else:
                found.append(item)

    def prepare(batch: list[Miss]) -> tuple[list[Miss], PreparedBatch]:
        if not extractor:
            extractor.append(Extractor(model(), job.extract))
        return batch, extractor[0].prepare([miss.image for miss in batch])

    order: deque[Miss] = deque()
    feed = prefetched(batched(misses(), job.batch_size), prepare)

    def prepared() -> Iterator[PreparedBatch]:
        for batch, ready in feed:
            order.extend(batch)
            yield ready

    batches = prepared()
    first = next(batches, None)
    if first is not None:
        # On the CPU the forward pass already keeps every core busy: workers running next to
        # it slow it down more than they gain, so each batch is finished between passes.
        between_passes = extractor[0].loaded.device == "cpu"
        for batch in extractor[0].run(_chain(first, batches)):
            while found:
                yield (found.popleft(),)
            for raw in batch:
                miss = order.popleft()
                yield (Made(miss.index, miss.key, raw),)
            if between_passes:
                yield DRAIN
    while found:
        yield (found.popleft(),)


def _chain(first: Any, rest: Iterator[Any]) -> Iterator[Any]:
    yield first
    yield from rest
