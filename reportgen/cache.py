"""Managing the cache (:class:`reportgen.store.ContentCache`): what it holds by kind, and pruning
the least recently used entries without pulling files from under a running build.

Every command that uses the cache holds it shared for its whole run (:func:`in_use`); pruning
holds it exclusively, so it waits for no one and refuses while a build runs, and a build that
starts during a prune waits the few seconds until it ends. An entry is a file of the cache, or
a whole converted model folder in ``models/``; it was last used when it was last written or read
(reads of results, figures, charts, model summaries and models refresh its time).
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from filelock import ReadWriteLock, Timeout

from reportgen import store
from reportgen.errors import ReportgenError

LOCK_FILE = ".lock"
KINDS = ("results", "figures", "charts", "models", "templates", "hashes")  # the order of `info`
_FOLDER_ENTRIES = "models"  # kind whose sub-folders (other than shards) are one entry each
_SHARD = re.compile(r"[0-9a-f]{2}")
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([kmgt]?)(i?)b?", re.IGNORECASE)
_AGE = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])", re.IGNORECASE)
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def cache_root(cache_dir: Path | None) -> Path:
    return Path(cache_dir) if cache_dir else store.default_cache_dir()


def _lock(root: Path) -> ReadWriteLock:
    """The cache's lock; a cache folder that cannot hold it is a message, not a traceback."""
    try:
        _exists(root)
        root.mkdir(parents=True, exist_ok=True)
        return ReadWriteLock(root / LOCK_FILE, is_singleton=False)
    except (OSError, sqlite3.Error) as error:
        raise _unusable(root, error) from None


def _exists(root: Path) -> bool:
    """Whether the cache folder ``root`` exists (none yet is an empty cache); a file in its place
    is an error, not an empty cache (``info`` said 0 entries)."""
    if root.exists() and not root.is_dir():
        raise _unusable(root, NotADirectoryError(errno.ENOTDIR, "it is a file, not a folder"))
    return root.exists()


def _unusable(root: Path, error: Exception) -> ReportgenError:
    reason = getattr(error, "strerror", None) or str(error)
    return ReportgenError(
        f"cannot use the cache folder {root} ({reason}); give a writable one with --cache-dir "
        "or REPORTGEN_CACHE_DIR"
    )


@contextmanager
def in_use(cache_dir: Path | None, say: Callable[[str], None]) -> Iterator[None]:
    """Hold the cache shared while a command uses it, so ``prune`` leaves it alone."""
    root = cache_root(cache_dir)
    lock = _lock(root)
    try:
        try:
            lock.acquire_read(blocking=False)
        except Timeout:
            say(f"waiting for `reportgen cache prune` to finish with {root}")
            lock.acquire_read()
    except (OSError, sqlite3.Error) as error:
        lock.close()
        raise _unusable(root, error) from None
    try:
        yield
    finally:
        lock.close()


@dataclass(frozen=True)
class Entry:
    kind: str
    path: Path
    size: int
    last_used: float  # seconds since the epoch


def _file_entry(kind: str, path: Path) -> Entry:
    stat = path.stat()
    return Entry(kind, path, stat.st_size, max(stat.st_atime, stat.st_mtime))


def _folder_entry(kind: str, folder: Path) -> Entry:
    files = [_file_entry(kind, path) for path in _files(folder)]
    used = max([folder.stat().st_mtime, *(file.last_used for file in files)])
    return Entry(kind, folder, sum(file.size for file in files), used)


def entries(root: Path) -> list[Entry]:
    """Every entry of the cache in ``root`` (files that vanish meanwhile are left out)."""
    found = []
    for kind_dir in sorted(root.iterdir()) if root.is_dir() else []:
        if not kind_dir.is_dir() or kind_dir.name.startswith("."):
            continue
        kind = kind_dir.name
        for item in sorted(kind_dir.iterdir()):
            try:
                if not item.is_dir():
                    found.append(_file_entry(kind, item))
                elif kind == _FOLDER_ENTRIES and not _SHARD.fullmatch(item.name):
                    found.append(_folder_entry(kind, item))
                else:
                    found.extend(_file_entry(kind, path) for path in _files(item))
            except FileNotFoundError:
                continue
    return found


def _files(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if path.is_file()]


@dataclass(frozen=True)
class Usage:
    root: Path
    by_kind: dict[str, tuple[int, int]]  # kind -> (bytes, entries)

    @property
    def total(self) -> int:
        return sum(size for size, _ in self.by_kind.values())

    def lines(self) -> list[str]:
        """What ``reportgen cache info`` prints: the location, then a line per kind."""
        rows = [
            *self.by_kind.items(),
            ("total", (self.total, sum(n for _, n in self.by_kind.values()))),
        ]
        width = max(len(kind) for kind, _ in rows)  # "faithfulness" is the longest so far
        return [f"cache: {self.root}"] + [
            f"  {kind:<{width}} {format_size(size):>9}  {_entries(count):>13}"
            for kind, (size, count) in rows
        ]


def usage(cache_dir: Path | None = None) -> Usage:
    """Size and number of entries of each kind of the cache."""
    root = cache_root(cache_dir)
    by_kind: dict[str, tuple[int, int]] = {}
    for entry in entries(root) if _exists(root) else []:
        size, count = by_kind.get(entry.kind, (0, 0))
        by_kind[entry.kind] = (size + entry.size, count + 1)
    order = {kind: position for position, kind in enumerate(KINDS)}
    ordered = sorted(by_kind, key=lambda kind: (order.get(kind, len(KINDS)), kind))
    return Usage(root, {kind: by_kind[kind] for kind in ordered})


@dataclass(frozen=True)
class Pruned:
    root: Path
    removed: int  # entries
    freed: int  # bytes
    left: int  # bytes

    def summary(self) -> str:
        return (
            f"removed {_entries(self.removed)} ({format_size(self.freed)}) from {self.root}; "
            f"{format_size(self.left)} left"
        )


def prune(
    cache_dir: Path | None = None,
    *,
    max_size: int | None = None,
    older_than: float | None = None,
    now: float | None = None,
) -> Pruned:
    """Remove the least recently used entries: all those unused for ``older_than`` seconds,
    then more until the cache holds at most ``max_size`` bytes. Refused while a command uses
    the cache."""
    if max_size is None and older_than is None:
        raise ReportgenError("say what to remove: --max-size SIZE, --older-than AGE or both")
    root = cache_root(cache_dir)
    if not _exists(root):
        return Pruned(root, 0, 0, 0)
    lock = _lock(root)
    try:
        lock.acquire_write(blocking=False)
    except Timeout:
        lock.close()
        raise ReportgenError(
            f"the cache {root} is in use by a running reportgen command; prune it once that "
            "has finished"
        ) from None
    try:
        cutoff = (time.time() if now is None else now) - (older_than or 0)
        candidates = sorted(entries(root), key=lambda entry: entry.last_used)
        left = sum(entry.size for entry in candidates)
        removed = freed = 0
        for entry in candidates:
            stale = older_than is not None and entry.last_used < cutoff
            if not (stale or (max_size is not None and left > max_size)):
                continue
            _remove(entry.path)
            left -= entry.size
            removed, freed = removed + 1, freed + entry.size
        _remove_empty_folders(root)
    finally:
        lock.close()
    return Pruned(root, removed, freed, left)


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def _remove_empty_folders(root: Path) -> None:
    for folder, _, _ in sorted(os.walk(root), key=lambda item: len(item[0]), reverse=True):
        if Path(folder) != root and not any(Path(folder).iterdir()):
            Path(folder).rmdir()


# --- the sizes and ages users type -----------------------------------------------------------


def parse_size(text: str) -> int:
    """``2GB``, ``500M``, ``1.5GiB``, ``4096``: bytes (k, M, G, T are powers of 1000; with an
    ``i``, of 1024)."""
    match = _SIZE.fullmatch(text.strip())
    if not match:
        raise ValueError(f"not a size: {text!r} (examples: 2GB, 500MB, 1.5GiB)")
    number, prefix, binary = match.groups()
    base = 1024 if binary else 1000
    return round(float(number) * base ** " kmgt".index(prefix.lower() or " "))


def parse_age(text: str) -> float:
    """``30d``, ``12h``, ``2w``, ``90m``, ``45s``: seconds."""
    match = _AGE.fullmatch(text.strip())
    if not match:
        raise ValueError(f"not an age: {text!r} (examples: 30d, 12h, 2w)")
    return float(match.group(1)) * _SECONDS[match.group(2).lower()]


def _entries(count: int) -> str:
    return f"{count} entr{'y' if count == 1 else 'ies'}"


def format_size(size: int) -> str:
    """Bytes for people: ``1.2 GB``, ``340 kB``, ``12 B`` (powers of 1000)."""
    if size < 1000:
        return f"{size} B"
    value = float(size)
    for unit in ("kB", "MB", "GB", "TB"):
        value /= 1000
        if value < 1000 or unit == "TB":
            return f"{value:.1f} {unit}"
