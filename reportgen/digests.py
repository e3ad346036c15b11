"""The sha256 of files, remembered by file identity, so that an unchanged file is not read again.

A build links most of a report from the cache or from the version before; a file's inode, size
and time tell it apart without reading it, so each digest is computed once per process and, with
a cache, once across runs.
"""

from __future__ import annotations

import hashlib
import os
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
_FILE_HASHES: dict[FileIdentity, str] = {}
# The digests kept in a process, oldest forgotten first: a build of 100,000 images touches about
# a million files, and a long notebook session must not keep every digest it ever saw (~200 B).
_FILE_HASHES_KEPT = 1 << 20


def file_identity(info: os.stat_result) -> FileIdentity:
    """What tells a file's content apart without reading it: its inode, size and time. Hard links
    share it, and reportgen never writes a file in place (a new file is a new inode), so a
    report's file linked from the cache or from the version before has the digest known for it.
    """
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)


def remember_sha256(info: os.stat_result, digest: str) -> None:
    """Record the sha256 of the file ``info`` describes (read from a manifest that lists it)."""
    _remember(file_identity(info), digest)


def _remember(identity: FileIdentity, digest: str) -> None:
    if len(_FILE_HASHES) >= _FILE_HASHES_KEPT:
        del _FILE_HASHES[next(iter(_FILE_HASHES))]
    _FILE_HASHES[identity] = digest


def file_sha256(path: Path | str, cache: ContentCache | None = None) -> str:
    """sha256 of a file, streamed; remembered per :func:`file_identity` in this process and,
    when a cache is given, across runs (weights of hundreds of MB are not re-read every build,
    nor a report's maps files, linked from the cache, every rebuild)."""
    identity = file_identity(os.stat(path))
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
