"""The Ray engine (``--engine ray``): the analysis as a Ray Data pipeline, on this machine or on
a cluster. It has the shape of Ray Data's batch-inference example::

    source items -> intake (tasks: read, hash, cache, decode, preprocess)
                 -> model (an actor pool, each actor holding the model; a GPU each when the
                    cluster has GPUs)
                 -> deliver (tasks: finish the maps, store the record, draw the figure)
                 -> the driver collects the small per-image summaries

Each stage calls the same functions as the local engine (:mod:`.base`,
:mod:`reportgen.analysis.extract`), so the results are the same. Workers write the results
store, the report's staging folder and the cache themselves: on a cluster these folders must be
on storage every node sees under the same path, and every node needs reportgen and the model
(the same local folder, or the HuggingFace cache). Items are read on the workers: a folder
source's files must be there too, and a plugin source's package installed. A source with Ray
Data readers of its own (:meth:`~reportgen.analysis.sources.base.Source.ray_dataset`: the
shards) is read by them on the cluster; any other's items (not their bytes) are listed by the
driver before the pipeline starts. Ray retries a task or restarts an
actor whose worker dies. ``ray[data]`` is an optional extra: ``pip install "reportgen[ray]"``.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from reportgen.analysis.engines.base import (
    Engine,
    Job,
    Made,
    Stored,
    deliver,
    intake_batch,
)
from reportgen.analysis.execution import Execution
from reportgen.analysis.extract import Extractor, ImageFacts, PreparedBatch
from reportgen.analysis.model import LoadedModel, load
from reportgen.analysis.sources.base import ITEM_COLUMN, Item, ItemTag, Source
from reportgen.analysis.sources.base import pack_items as _pack
from reportgen.analysis.sources.base import unpack_items as _unpack
from reportgen.errors import ReportgenError
from reportgen.record import SkippedFile
from reportgen.workers import Pool


def _ray() -> Any:
    try:
        import ray
        import ray.data
    except ImportError:
        raise ReportgenError(
            '--engine ray needs Ray Data: pip install "reportgen[ray]" (ray[data] 2.x)'
        ) from None
    return ray


class RayEngine(Engine):
    name = "ray"

    def __init__(self, address: str | None, actors: int | None, cpus: int | None):
        ray = _ray()
        self._started = False
        if not ray.is_initialized():
            try:
                if address:
                    ray.init(address=address, logging_level=logging.ERROR)
                else:
                    ray.init(num_cpus=cpus, include_dashboard=False, logging_level=logging.ERROR)
            except (ConnectionError, RuntimeError, ValueError) as error:
                where = f"the Ray cluster at {address}" if address else "a local Ray instance"
                raise ReportgenError(f"cannot start {where}: {_first_line(error)}") from None
            self._started = True
        # The driver shows its own progress; Ray Data's plan and timing lines stay in its logs.
        ray.data.DataContext.get_current().enable_progress_bars = False
        logging.getLogger("ray.data").setLevel(logging.ERROR)
        # Ray Data warns that the model's actor pool has no input yet as the pipeline starts.
        warnings.filterwarnings(
            "ignore", "The minimum number of concurrent actors", UserWarning, "ray.data"
        )
        self._actors = actors
        self._pool = RayPool(max_pending=4 * max(1, int(ray.cluster_resources().get("CPU", 1))))

    @classmethod
    def open(cls, execution: Execution, warm_up: Sequence[Callable[[], Any]] = ()) -> Engine:
        """``warm_up`` is not needed: Ray keeps its workers between tasks."""
        return cls(execution.ray_address, execution.ray_actors, execution.workers or None)

    @property
    def pool(self) -> Pool:
        return self._pool

    def run(
        self, source: Source, job: Job, model: Callable[[], LoadedModel]
    ) -> Iterator[Stored | SkippedFile]:
        ray = _ray()
        gpus = int(ray.cluster_resources().get("GPU", 0))
        if job.device == "cuda" and not gpus:
            raise ReportgenError("--device cuda: the Ray cluster has no GPU")
        gpus_per_actor = 1 if gpus and job.device in ("auto", "cuda") else 0
        actors = self._actors or max(1, gpus if gpus_per_actor else 1)
        dataset = (
            _items_dataset(ray, source)
            .map_batches(_intake_batch, fn_kwargs={"job": job}, batch_size=job.batch_size)
            .map_batches(
                _ModelStage,
                fn_constructor_args=(job,),
                batch_size=job.batch_size,
                compute=ray.data.ActorPoolStrategy(size=actors),
                num_gpus=gpus_per_actor,
            )
            .map_batches(_deliver_batch, fn_kwargs={"job": job}, batch_size=job.batch_size)
        )
        # One iterator for the run and for _stop: Ray ends a pipeline as its iterator goes, and
        # kills the tasks still running (which may then be writing) without waiting for them.
        batches = iter(dataset.iter_batches(batch_size=None, batch_format="numpy"))
        try:
            for batch in batches:
                for item in _unpack(batch):
                    if isinstance(item, _Failure):
                        raise item.error
                    yield item
        except ray.exceptions.RayError as error:
            raise _reportable(error) from None
        except (Exception, GeneratorExit):
            _stop(batches, job)
            raise
        finally:
            batches.close()  # now, not when a kept traceback lets go of it (after ray.shutdown)

    def close(self) -> None:
        if self._started:
            _ray().shutdown()


class RayPool(Pool):
    """Runs functions as Ray tasks (charts, thumbnails: anything picklable)."""

    def __init__(self, max_pending: int):
        self.max_pending = max_pending
        self._remote = None

    def submit(self, function: Callable[..., Any], *args: Any) -> Future:
        if self._remote is None:
            self._remote = _ray().remote(_call)
        return self._remote.remote(function, *args).future()

    @staticmethod
    def _result(future: Future) -> Any:
        try:
            return future.result()
        except _ray().exceptions.RayError as error:
            raise _reportable(error) from None

    def abandon(self, pending: Iterable[Future]) -> None:
        """Wait for them: a Ray task runs on when its future is cancelled, and these write
        into a failed build's staging folder, which is removed next."""
        concurrent.futures.wait(list(pending))


def _call(function: Callable[..., Any], *args: Any) -> Any:
    return function(*args)


def _reportable(error: BaseException) -> ReportgenError:
    """An unexpected failure of a Ray task as a one-line message (the expected ones, with
    messages for users, travel as :class:`_Failure` items)."""
    return ReportgenError(f"a Ray task failed: {_first_line(getattr(error, 'cause', error))}")


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


# --- the stages: picklable items in a binary column -------------------------------------------


def _items_dataset(ray: Any, source: Source) -> Any:
    """The source's items as a Ray dataset: read on the cluster by Ray Data's readers where the
    source has them (:meth:`Source.ray_dataset`), else listed here on the driver."""
    dataset = source.ray_dataset(ray)
    if dataset is None:
        dataset = ray.data.from_items(_pack(list(source.items()))[ITEM_COLUMN].tolist())
    return dataset


@dataclass
class _Failure:
    """An error meant for the user (ReportgenError, OSError), carried to the driver as an item:
    Ray's wrappers would keep only its traceback as text."""

    error: Exception


def _stop_file(job: Job) -> Path:
    """Present while a failed run's pipeline is stopping: its stages then drop their batches."""
    return job.maps_dir.with_name(f"{job.maps_dir.name}.stopping")


def _stop(batches: Iterator[Any], job: Job) -> None:
    """Stop a failed run's pipeline and wait for its tasks to end: they write into the run's
    staging folder, which is removed next, and Ray does not wait for the tasks it cancels (a
    late write would create the folder again). Drains what is in flight, which is quick: every
    stage drops its batches while the stop file is there."""
    stop = _stop_file(job)
    with contextlib.suppress(OSError):
        stop.touch()
    try:
        for _ in batches:
            pass
    except _ray().exceptions.RayError:
        pass  # the pipeline ended by failing; its tasks are over all the same
    finally:
        stop.unlink(missing_ok=True)


def _stage(batch: dict[str, np.ndarray], job: Job, work: Callable[[list[Any]], list[Any]]) -> Any:
    """One stage's batch: its items through ``work``; a user-facing error becomes a
    :class:`_Failure` item, and a failure from an earlier stage passes on. Nothing while the
    run is stopping (:func:`_stop`)."""
    if _stop_file(job).exists():
        return _pack([])
    items = _unpack(batch)
    failures = [item for item in items if isinstance(item, _Failure)]
    if failures:
        return _pack(failures[:1])
    try:
        return _pack(work(items))
    except (ReportgenError, OSError) as error:
        return _pack([_Failure(error)])


@dataclass
class _Prepared:
    """A miss through the processor, on its way to the model."""

    tag: ItemTag
    key: str
    facts: ImageFacts
    pixels: np.ndarray  # float32 (3, H, W)


def _intake_batch(batch: dict[str, np.ndarray], job: Job) -> dict[str, np.ndarray]:
    """Read, hash and look up each file; decode and preprocess the misses together."""
    return _stage(batch, job, lambda items: _intake(items, job))


def _intake(items: list[Item], job: Job) -> list[Any]:
    batch = intake_batch(items, job)
    if batch.prepared is None:
        return batch.found
    pixels = batch.prepared.pixels.numpy()
    ready = [
        _Prepared(tag, key, facts, pixels[position])
        for position, ((tag, key), facts) in enumerate(
            zip(batch.misses, batch.prepared.facts, strict=True)
        )
    ]
    return [*batch.found, *ready]


class _ModelStage:
    """An actor holding the model (loaded at its first miss); hits and skipped files pass."""

    def __init__(self, job: Job):
        self.job = job
        self._extractor: Extractor | None = None

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return _stage(batch, self.job, self._run)

    def _run(self, items: list[Any]) -> list[Any]:
        import torch

        prepared = [item for item in items if isinstance(item, _Prepared)]
        if not prepared:
            return items
        if self._extractor is None:
            job = self.job
            loaded = load(job.model, job.device, job.dtype, job.model_summary)
            self._extractor = Extractor(loaded, job.extract)
        pixels = torch.from_numpy(np.stack([item.pixels for item in prepared]))
        (raws,) = self._extractor.run([PreparedBatch([item.facts for item in prepared], pixels)])
        made = {
            item.tag.index: Made(item.tag, item.key, raw)
            for item, raw in zip(prepared, raws, strict=True)
        }
        return [made[item.tag.index] if isinstance(item, _Prepared) else item for item in items]


def _deliver_batch(batch: dict[str, np.ndarray], job: Job) -> dict[str, np.ndarray]:
    """Finish, store and draw each record; the driver gets summaries and skipped files."""
    return _stage(batch, job, lambda items: [deliver(item, job) for item in items])
