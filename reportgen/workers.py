"""Worker processes for the per-image CPU work: finishing records, drawing figures, charts.

A pool runs picklable functions on other cores, or in the calling thread with 0 workers (the
serial reference, same bytes). :meth:`Pool.imap` keeps at most ``max_pending`` tasks in flight,
so a fast producer (the model) waits for the workers instead of filling memory.

Worker processes run at a lower priority with one thread each for the numerical libraries:
where the model shares the cores with them (a CPU-only machine), the forward pass goes first and
the workers fill the gaps; on a GPU machine they use the cores the model leaves free.
"""

from __future__ import annotations

import functools
import gc
import importlib
import multiprocessing
import multiprocessing.forkserver
import os
import pickle
import select
import signal
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from reportgen import digests
from reportgen.errors import ReportgenError
from reportgen.progress import track

WORKER_NICENESS = 10
DRAIN = object()  # an item of Pool.imap: finish every task so far before taking more items
SINGLE_THREAD = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
NEW_OBJECTS_PER_COLLECTION = 10_000  # CPython's 700 suits small programs
PAGES_PER_TASK = 32  # gallery and image pages a worker renders per task


def collect_less_often() -> None:
    """Look for garbage cycles after 10,000 new objects instead of 700. A build's processes
    hold hundreds of thousands of objects that live to the end (torch, the analysis, page
    models), and the collections this sets off walk them all: 1.4 s of a 2,000-image rebuild."""
    gc.set_threshold(NEW_OBJECTS_PER_COLLECTION, *gc.get_threshold()[1:])


def threaded_map(
    function: Callable[[Any], Any], items: Iterable[Any], ahead: Callable[[], int]
) -> Iterator[Any]:
    """``function(item)`` for each item, in order, computed in background threads with up to
    ``ahead()`` items in flight (asked again at each step, so it can grow once a caller knows
    more). For I/O and work that releases the GIL: decoding, resizing, hashing."""
    iterator = iter(items)
    pending: deque[Future] = deque()
    with ThreadPoolExecutor(available_cores(), thread_name_prefix="reportgen-intake") as pool:
        try:
            while True:
                while len(pending) < max(1, ahead()):
                    item = next(iterator, _END)
                    if item is _END:
                        break
                    pending.append(pool.submit(function, item))
                if not pending:
                    return
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()


_END = object()


def available_cores() -> int:
    """Cores this process may run on (its affinity, where the OS tells)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


class Shared:
    """State that many tasks of a pool take (a page renderer with its report): ``value``."""

    def __init__(self, value: Any):
        self._value = value

    @property
    def value(self) -> Any:
        return self._value


_SHIPPED: dict[str, Any] = {}  # in a worker process: the values of Shipped states, by token
SHIPPED_KEPT = 8  # a worker keeps this many; a task of an older one unpickles it again


class Shipped(Shared):
    """Shared state for tasks run in other processes: pickled once here, unpickled once in each
    worker that runs them, which keeps it by a random token. Sent with every chunk instead, the
    page renderers of a 2,000-image rebuild took 0.4 s of pickling here, and each worker made
    the variables its pages share again for every chunk."""

    def __init__(self, value: Any):
        self.token = uuid.uuid4().hex
        self.payload = pickle.dumps(value, pickle.HIGHEST_PROTOCOL)

    @property
    def value(self) -> Any:
        if self.token not in _SHIPPED:
            while len(_SHIPPED) >= SHIPPED_KEPT:
                del _SHIPPED[next(iter(_SHIPPED))]
            _SHIPPED[self.token] = pickle.loads(self.payload)
        return _SHIPPED[self.token]


class Pool:
    """Runs functions somewhere else; subclasses say where (:meth:`submit`)."""

    max_pending: int = 1

    def submit(self, function: Callable[..., Any], *args: Any) -> Future:
        raise NotImplementedError

    def share(self, value: Any) -> Shared:
        """``value`` for many tasks of this pool, which take ``.value`` of what this returns."""
        return Shipped(value)

    def imap(self, function: Callable[..., Any], items: Iterable[Any]) -> Iterator[Any]:
        """``function(*args)`` for each ``args`` of ``items``, results in the order of
        ``items``; at most ``max_pending`` tasks are in flight and ``items`` is pulled lazily,
        so memory stays flat however many items there are. An item :data:`DRAIN` waits for
        every task so far before the next item is pulled (and so made). Left early (an error),
        the tasks in flight are given up (:meth:`abandon`)."""
        pending: deque[Future] = deque()
        try:
            for args in items:
                if args is DRAIN:
                    while pending:
                        yield self._result(pending.popleft())
                    continue
                pending.append(self.submit(function, *args))
                while pending and (len(pending) > self.max_pending or pending[0].done()):
                    yield self._result(pending.popleft())
            while pending:
                yield self._result(pending.popleft())
        finally:
            self.abandon(pending)

    def abandon(self, pending: Iterable[Future]) -> None:
        """Give up tasks whose results are not wanted: those not started are cancelled (a
        process pool's running ones end before it closes)."""
        for future in pending:
            future.cancel()

    @staticmethod
    def _result(future: Future) -> Any:
        return future.result()

    def close(self) -> None:
        """Release the workers; pending tasks are cancelled."""

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class InlinePool(Pool):
    """Runs every task at once in the calling thread: the serial reference."""

    def share(self, value: Any) -> Shared:
        return Shared(value)

    def submit(self, function: Callable[..., Any], *args: Any) -> Future:
        future: Future = Future()
        try:
            future.set_result(function(*args))
        except BaseException as error:  # delivered by result(), as from a worker
            future.set_exception(error)
        return future


def _exit_with(pid: int) -> None:
    """End this worker as soon as process ``pid`` (the pool's owner) is gone, so a killed
    build leaves no worker writing into its staging folder. A daemon thread waits on the
    process (a pidfd on Linux, else polling once a second)."""

    def wait() -> None:
        try:
            select.select([os.pidfd_open(pid)], [], [])
        except (AttributeError, OSError):
            while process_alive(pid):
                time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=wait, name="reportgen-owner-watch", daemon=True).start()


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` exists (one of another user counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class Imports:
    """A warm-up that imports ``modules``. A pool whose workers start from a fork server has
    the server import them once, before it starts any, so its workers begin with them imported
    (where the server was already running, or there is none, each worker imports them): on
    two cores, a 2,000-image rebuild with another title took 14% less CPU than with each
    worker importing matplotlib and the page code itself."""

    modules: tuple[str, ...]

    def __call__(self) -> None:
        for name in self.modules:
            importlib.import_module(name)


def start_fork_server(modules: Iterable[str]) -> None:
    """Start the fork server that this process's pools start their workers from, where there is
    one and it is not running yet, importing ``modules``, with one thread per numerical library
    like a worker (numpy is among them, and reads that when it is imported). It returns at once:
    the server imports while this process goes on, until the first worker is asked for."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return
    multiprocessing.get_context("forkserver").set_forkserver_preload(list(modules))
    saved = {name: os.environ.get(name) for name in SINGLE_THREAD}
    os.environ.update(dict.fromkeys(SINGLE_THREAD, "1"))
    try:
        multiprocessing.forkserver.ensure_running()
    finally:
        for name, value in saved.items():
            if value is None:
                del os.environ[name]
            else:
                os.environ[name] = value


def _start_worker(owner: int, niceness: int, warm_up: bytes) -> None:
    """In each new worker: deaf to Ctrl-C (it reaches the whole process group from a terminal;
    the owner stops its workers itself, and a worker's own KeyboardInterrupt would print a
    traceback), watch the owner, fewer garbage collections, one thread per numerical library
    (set before any is imported), lower priority, then the caller's warm-up."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _exit_with(owner)
    collect_less_often()
    for name in SINGLE_THREAD:
        os.environ[name] = "1"
    if niceness and hasattr(os, "nice"):
        os.nice(niceness)
    for function in pickle.loads(warm_up):
        function()


class ProcessPool(Pool):
    """``workers`` processes, started at once so their warm-up overlaps the caller's own start
    (loading the model). ``warm_up`` functions run in each worker when it starts."""

    def __init__(
        self,
        workers: int,
        *,
        max_pending: int | None = None,
        warm_up: Iterable[Callable[[], Any]] = (),
        niceness: int = WORKER_NICENESS,
    ):
        warm_up = tuple(warm_up)
        methods = multiprocessing.get_all_start_methods()
        # forkserver: no copy of the parent's threads or locks (torch's), cheap starts.
        context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
        start_fork_server(
            name for step in warm_up if isinstance(step, Imports) for name in step.modules
        )
        self.workers = workers
        self.max_pending = max_pending or 4 * workers
        self._executor = ProcessPoolExecutor(
            workers,
            mp_context=context,
            initializer=_start_worker,
            initargs=(os.getpid(), niceness, pickle.dumps(warm_up)),
        )
        for _ in range(workers):  # start them all now, not on the first tasks
            self._executor.submit(int)

    def submit(self, function: Callable[..., Any], *args: Any) -> Future:
        try:
            return self._executor.submit(function, *args)
        except BrokenProcessPool:
            raise _died() from None

    @staticmethod
    def _result(future: Future) -> Any:
        try:
            return future.result()
        except BrokenProcessPool:
            raise _died() from None

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)


def _died() -> ReportgenError:
    return ReportgenError(
        "a worker process died (out of memory? a script that calls reportgen needs the "
        '`if __name__ == "__main__":` guard, as workers import it); try fewer --workers, or '
        "--workers 0 to run everything in one process"
    )


def open_pool(workers: int | None, warm_up: Iterable[Callable[[], Any]] = ()) -> Pool:
    """A pool of ``workers`` processes (None: one per core; 0: inline, no processes)."""
    if workers is None:
        workers = available_cores()
    if workers < 0:
        raise ReportgenError("--workers must be 0 or more")
    return ProcessPool(workers, warm_up=warm_up) if workers else InlinePool()


def in_chunks(
    pool: Pool | None,
    task: Callable[[Any, list], int],
    work: Iterable[tuple[Any, list]],
    desc: str,
    *,
    total: int,
    unit: str = "page",
) -> None:
    """``task(state, chunk)`` for each :data:`PAGES_PER_TASK` of ``pages`` of each ``(state,
    pages)`` of ``work`` in ``pool`` (here without one), each returning how many pages
    (``unit``, ``total`` in all) it wrote, behind one progress bar. ``work`` is pulled as the
    pool takes tasks: a generator can prepare its next state while the workers run the last.
    Each state travels to a worker once (:meth:`Pool.share`), not with every chunk."""
    pool = pool or InlinePool()
    chunks = (
        (shared, pages[start : start + PAGES_PER_TASK])
        for state, pages in work
        for shared in [pool.share(state)]
        for start in range(0, len(pages), PAGES_PER_TASK)
    )
    done = pool.imap(functools.partial(_with_shared, task), chunks)
    for _ in track(_remembered(done), total=total, desc=desc, unit=unit):
        pass


def _with_shared(
    task: Callable[[Any, list], int], shared: Shared, chunk: list
) -> tuple[int, list[tuple[digests.FileIdentity, str]]]:
    """``task`` on the value of ``shared``, as a worker's task: how many it did, and the
    sha256 of the files it wrote that it knew (:func:`digests.wrote`)."""
    with digests.collecting_written() as written:
        return task(shared.value, chunk), written


def _remembered(done: Iterable[tuple[int, list]]) -> Iterator[None]:
    """One item for each unit ``done`` counts, its files' digests remembered here."""
    for count, written in done:
        digests.remember_all(written)
        yield from (None for _ in range(count))
