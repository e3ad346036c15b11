"""Staging and atomic publishing: a report is assembled in a hidden folder of the site and
swapped in with one rename, so a build that fails or is killed leaves the site as it was.

Two builds (or re-renders) publishing into one site at the same time take turns: each holds the
site's lock (:func:`site_lock`) from reading what is published to updating the index, so the
second one sees the first one's report, keeps it as an earlier version and publishes the next.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import fcntl
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from reportgen import store
from reportgen.errors import DamagedFile
from reportgen.publish.folders import REPORTS_DIR, VERSIONS_DIR
from reportgen.workers import process_alive

STAGING_PREFIX = ".reportgen-staging-"


def link_tree(source: Path, destination: Path) -> None:
    """Make ``destination`` hold the files of ``source`` as hard links (copies where links cannot
    be made). Safe because published files are never written in place: every change to a report
    is staged in new files and swapped in."""
    shutil.copytree(source, destination, copy_function=store.link_or_copy)


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux renameat2 RENAME_EXCHANGE); False if unsupported."""
    libc_name = ctypes.util.find_library("c")
    if not libc_name:
        return False
    libc = ctypes.CDLL(libc_name, use_errno=True)
    if not hasattr(libc, "renameat2"):
        return False
    at_fdcwd, rename_exchange = -100, 2
    result = libc.renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    return result == 0


def publish(staged: Path, target: Path) -> None:
    """Move a complete report into place; an existing one is replaced in a single step."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        os.rename(staged, target)
        return
    if not _exchange(staged, target):
        # No atomic exchange here: move the old one aside first (a window of microseconds).
        aside = staged.with_name(staged.name + "-old")
        os.rename(target, aside)
        os.rename(staged, target)
        staged = aside
    shutil.rmtree(staged)


def staging_prefix() -> str:
    """Names of staging folders start with this, so a later build can tell whose they are."""
    return f"{STAGING_PREFIX}{os.getpid()}-"


# Where builds stage (the site) and re-renders (beside the reports and their earlier versions).
SITE_STAGING = ("", f"{REPORTS_DIR}/", f"{REPORTS_DIR}/*/{VERSIONS_DIR}/")


def stale_staging(folder: Path, places: tuple[str, ...] = SITE_STAGING) -> list[Path]:
    """The staging folders below ``folder`` (in ``places``, relative to it) of builds and
    re-renders whose process is gone (killed ones); not those of one that still runs."""
    stale = []
    for path in sorted(
        path for place in places for path in folder.glob(f"{place}{STAGING_PREFIX}*")
    ):
        pid = path.name[len(STAGING_PREFIX) :].split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not process_alive(int(pid)):
            stale.append(path)
    return stale


def remove_stale_staging(site_dir: Path) -> None:
    """Delete the staging folders killed builds and re-renders left in ``site_dir``."""
    for folder in stale_staging(site_dir):
        shutil.rmtree(folder, ignore_errors=True)


class Staging:
    """A hidden folder in the site for one build; removed unless published."""

    def __init__(self, site_dir: Path):
        site_dir.mkdir(parents=True, exist_ok=True)
        remove_stale_staging(site_dir)
        self.root = Path(tempfile.mkdtemp(prefix=staging_prefix(), dir=site_dir))
        self.report = self.root / "report"
        self.report.mkdir()

    def __enter__(self) -> Staging:
        return self

    def __exit__(self, *exc_info: object) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


@contextmanager
def damaged_files(staged: Path, source: Path | None, advice: str) -> Iterator[None]:
    """A damaged file read while a report is staged, named where the user can find it: a path
    below ``staged`` (a folder of the staged report) as below ``source``, the folder linked in
    there (None: the cache's copy, named from the report), with ``advice``."""
    try:
        yield
    except DamagedFile as error:
        path = Path(error.path)
        if path.is_relative_to(staged):
            below = path.relative_to(staged)
            path = (source or Path(staged.name)) / below
        raise DamagedFile(path, error.reason, advice) from None


def site_of(report_dir: Path) -> Path | None:
    """The site a report folder (or an earlier version in one) is published in, if any."""
    report_dir = Path(report_dir).resolve()
    for folder in (report_dir, *report_dir.parents):
        if folder.parent.name == REPORTS_DIR:
            return folder.parent.parent
    return None


@contextmanager
def site_lock(site_dir: Path, say: Callable[[str], None] = lambda message: None) -> Iterator[None]:
    """Hold the site's lock: an exclusive ``flock`` on its folder, so no file is added to what
    is published, and a build killed while holding it releases it. When another build or
    re-render holds it, ``say`` so, then wait for it."""
    descriptor = os.open(site_dir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say(f"waiting for another build or re-render to finish publishing into {site_dir} ...")
            fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # releases the lock
