"""The sha256 of files, remembered by file identity, so that an unchanged file is not read again.

A build links most of a report from the cache or from the version before; a file's inode, size
and time tell it apart without reading it, so each digest is computed once per process and, with
a cache, once across runs. The input images of a rebuild are told apart the same way, with the
time of their last change besides (:func:`input_identity`): an unchanged image finds its cached
result without being read.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from reportgen.store import ContentCache, content_key


def sha256_of(path: Path) -> str:
    """sha256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


FileIdentity = tuple[int, int, int, int]  # device, inode, size, mtime in ns
InputIdentity = tuple[int, int, int, int, int]  # device, inode, size, mtime and ctime in ns
_FILE_HASHES: dict[FileIdentity | InputIdentity, str] = {}
# The digests kept in a process, oldest forgotten first: a build of 100,000 images touches about
# a million files, and a long notebook session must not keep every digest it ever saw (~200 B).
_FILE_HASHES_KEPT = 1 << 20
_REMEMBERING = threading.Lock()


def file_identity(info: os.stat_result) -> FileIdentity:
    """What tells a file's content apart without reading it: its inode, size and time. Hard links
    share it, and reportgen never writes a file in place (a new file is a new inode), so a
    report's file linked from the cache or from the version before has the digest known for it.
    """
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)


def remember_sha256(info: os.stat_result, digest: str) -> None:
    """Record the sha256 of the file ``info`` describes (read from a manifest that lists it)."""
    _remember(file_identity(info), digest)


def _remember(identity: FileIdentity | InputIdentity, digest: str) -> None:
    with _REMEMBERING:  # intake threads and the scout remember at once
        if len(_FILE_HASHES) >= _FILE_HASHES_KEPT:
            del _FILE_HASHES[next(iter(_FILE_HASHES))]
        _FILE_HASHES[identity] = digest


_COLLECTING = threading.local()  # .written: the list :func:`wrote` adds to, in this thread


@contextmanager
def collecting_written() -> Iterator[list[tuple[FileIdentity, str]]]:
    """Within it, in this thread, :func:`wrote` remembers the sha256 of each file written and
    adds it with its identity to the list yielded: a worker's task hands them back, so that the
    process that lists the files in a manifest does not read them again (:func:`remember_all`)."""
    saved = getattr(_COLLECTING, "written", None)
    _COLLECTING.written = written = []
    try:
        yield written
    finally:
        _COLLECTING.written = saved


def wrote(path: Path | str, data: bytes | str) -> None:
    """``data`` was just written to the file ``path``: while :func:`collecting_written`, remember
    its sha256 and collect it; else nothing (hashing what no one will list would be wasted)."""
    written = getattr(_COLLECTING, "written", None)
    if written is not None:
        identity = file_identity(os.stat(path))
        digest = hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()
        _remember(identity, digest)
        written.append((identity, digest))


def remember_all(written: list[tuple[FileIdentity, str]]) -> None:
    """Remember what a task collected (:func:`collecting_written`) in another process."""
    for identity, digest in written:
        _remember(identity, digest)


def file_sha256(
    path: Path | str, cache: ContentCache | None = None, info: os.stat_result | None = None
) -> str:
    """sha256 of a file, streamed; remembered per :func:`file_identity` in this process and,
    when a cache is given, across runs (weights of hundreds of MB are not re-read every build,
    nor a report's maps files, linked from the cache, every rebuild). ``info``: the file's
    ``os.stat``, when taken already."""
    identity = file_identity(info or os.stat(path))
    if identity in _FILE_HASHES:
        return _FILE_HASHES[identity]
    memo_key = content_key({"file": identity})
    remembered = cache.get_json("hashes", memo_key) if cache else None
    if remembered:
        digest = remembered["sha256"]
    else:
        digest = sha256_of(path)
        if cache:
            cache.put_json("hashes", memo_key, {"path": str(path), "sha256": digest})
    _remember(identity, digest)
    return digest


# An input's digest is remembered only once its last change is this old: a second change within
# the same tick of the file system's clock would leave all of its times as they were.
SETTLED_NS = 2 * 10**9


def input_identity(path: str) -> InputIdentity | None:
    """What tells an input image's content apart without reading it: its inode, size and the
    times of its last write and last change (the ctime, which no tool sets back: a file rewritten
    in place and given its old mtime still differs). None for a file changed in the last
    :data:`SETTLED_NS`, or one that cannot be looked at (reading it says why): it is read."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    if time.time_ns() - info.st_ctime_ns < SETTLED_NS:
        return None
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


def _input_key(identity: InputIdentity) -> str:
    """The cache key (``hashes``) of the sha256 of the input file ``identity`` describes."""
    return content_key({"input": identity})


def remembers_input(identity: InputIdentity, cache: ContentCache) -> bool:
    """Whether the sha256 of the input file ``identity`` describes is remembered (a look,
    without reading it)."""
    return identity in _FILE_HASHES or cache.path("hashes", _input_key(identity), ".json").is_file()


def remembered_input(identity: InputIdentity, cache: ContentCache) -> str | None:
    """The sha256 remembered for the input file ``identity`` describes; None: read it."""
    if identity in _FILE_HASHES:
        return _FILE_HASHES[identity]
    remembered = cache.get_json("hashes", _input_key(identity))
    if not remembered:
        return None
    _remember(identity, remembered["sha256"])
    return remembered["sha256"]


def remember_input(identity: InputIdentity, digest: str, cache: ContentCache) -> None:
    """Remember the sha256 of the input file ``identity`` describes, read before its bytes."""
    if _FILE_HASHES.get(identity) != digest:
        cache.put_json("hashes", _input_key(identity), {"sha256": digest})
        _remember(identity, digest)
