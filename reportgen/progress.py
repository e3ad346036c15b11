"""Progress of long loops: a tqdm bar on a terminal (or in a notebook), a plain line every few
seconds anywhere else.

Logs, CI and ``nohup`` get no bar (its carriage returns make a mess of a file) but still see
that a run of hours is moving::

    reportgen: attention 1200/2000 images, 35.1/s, about 23 s left
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import IO, TypeVar

Item = TypeVar("Item")
EVERY_SECONDS = 5.0


def _interactive(stream: IO[str]) -> bool:
    """A terminal, or a Jupyter kernel (where tqdm.auto draws a widget)."""
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) or _in_kernel()


def _in_kernel() -> bool:
    """Whether this process is a running Jupyter kernel; a process that only imported ipykernel
    (jupyter_client does, to start one) is not."""
    kernel_app = sys.modules.get("ipykernel.kernelapp")
    return kernel_app is not None and kernel_app.IPKernelApp.initialized()


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def _count(done: int, total: int | None) -> str:
    return f"{done}" if total is None else f"{done}/{total}"


def status_line(desc: str, done: int, total: int | None, unit: str, rate: float | None) -> str:
    """``attention 1200/2000 images, 35.1/s, about 23 s left``; without a known total,
    ``attention 1200 images, 35.1/s``; without a rate yet, ``attention 1/2000 images``."""
    line = f"{desc} {_count(done, total)} {unit}s"
    if rate is None:
        return line
    line += f", {rate:.1f}/s"
    if rate > 0 and total is not None and total > done:
        line += f", about {_duration((total - done) / rate)} left"
    return line


def track(
    items: Iterable[Item],
    *,
    total: int | None,
    desc: str,
    unit: str = "image",
    initial: int = 0,
    stream: IO[str] | None = None,
    every: float = EVERY_SECONDS,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[Item]:
    """Yield ``items``, showing progress towards ``total`` (``initial`` already done; None: not
    known in advance).

    On a terminal: a tqdm bar that disappears when done. Elsewhere: a line every ``every``
    seconds with count, rate and time left, and a last line when the loop took that long.
    """
    stream = sys.stderr if stream is None else stream
    if _interactive(stream):
        from tqdm.auto import tqdm

        yield from tqdm(
            items, total=total, initial=initial, desc=desc, unit=unit, leave=False, file=stream
        )
        return
    start = last = clock()
    done = initial
    said = False
    first: tuple[float, int] | None = None  # when the first item came, and the count then
    for item in items:
        yield item
        done += 1
        now = clock()
        first = first or (now, done)  # the rate counts from it: a model's loading is no rate
        if now - last >= every:
            last, said = now, True
            rate = (done - first[1]) / (now - first[0]) if done > first[1] else None
            print(f"reportgen: {status_line(desc, done, total, unit, rate)}", file=stream)
            stream.flush()
    if said:
        elapsed = clock() - start
        line = f"{desc} {_count(done, total)} {unit}s in {_duration(elapsed)}"
        print(f"reportgen: {line}", file=stream)
        stream.flush()
