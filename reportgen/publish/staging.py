"""Staging and atomic publishing: a report is assembled in a hidden folder of the site and
swapped in with one rename, so a build that fails or is killed leaves the site as it was.

The earlier versions the new report keeps as they are (``carried``) are not linked into it file
by file: just after the swap they are moved over from the report it replaced, one rename each,
however many files they hold. A journal in the staging folder names them until then; a build
killed in between leaves them there, and the next one to take the site's lock moves them back
(:func:`recover_carried`).

Two builds (or re-renders) publishing into one site at the same time take turns: each holds the
site's lock (:func:`site_lock`) from reading what is published to updating the index, so the
second one sees the first one's report, keeps it as an earlier version and publishes the next.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from reportgen import store
from reportgen.errors import DamagedFile, os_error
from reportgen.manifest import MANIFEST_FILE
from reportgen.publish.folders import REPORTS_DIR, VERSIONS_DIR
from reportgen.workers import process_alive

STAGING_PREFIX = ".reportgen-staging-"
# In a staging folder while publishing: the published report's folders its report takes over.
CARRIED_FILE = "carried.json"


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


def publish(staged: Path, target: Path, carried: Sequence[str] = ()) -> None:
    """Move a complete report into place; an existing one is replaced in a single step, and its
    folders ``carried`` (relative paths: the earlier versions the new one keeps) are moved into
    the new one right after."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        os.rename(staged, target)
        return
    journal = staged.parent / CARRIED_FILE
    if carried:
        where = os.path.relpath(target, staged.parent)
        store.atomic_write(journal, json.dumps({"target": where, "folders": list(carried)}))
    if not _exchange(staged, target):
        # No atomic exchange here: move the old one aside first (a window of microseconds).
        aside = staged.with_name(staged.name + _ASIDE)
        os.rename(target, aside)
        os.rename(staged, target)
        staged = aside
    try:
        _carry(staged, target, carried)
    except OSError as error:  # published: the next holder of the site's lock moves them
        outcome = (
            f"{target} was published, but not yet the earlier versions it keeps: the next build "
            "or render into the site moves them in"
        )
        raise os_error(error, outcome=outcome) from None
    journal.unlink(missing_ok=True)
    # Published: a report replaced that will not go is left to the staging's own removal, then
    # to the next build (verify shows it), not reported as a failure to publish.
    shutil.rmtree(staged, ignore_errors=True)


_ASIDE = "-old"  # the suffix of the replaced report's folder where there is no exchange


def _carry(old: Path, new: Path, folders: Sequence[str]) -> list[str]:
    """Move each of ``folders`` of the report ``old`` into the report ``new`` that lacks it;
    returns those moved."""
    moved = []
    for folder in folders:
        source, destination = old / folder, new / folder
        if source.is_dir() and not destination.exists():
            destination.parent.mkdir(parents=True, exist_ok=True)
            os.rename(source, destination)
            moved.append(folder)
    return moved


def carried_journal(folder: Path) -> dict | None:
    """What the staging ``folder`` of a build stopped while publishing still holds of the
    report it published (``{"target": path relative to it, "folders": [...]}``), else None."""
    try:
        return json.loads((folder / CARRIED_FILE).read_text())
    except (OSError, ValueError):
        return None


def recover_carried(site_dir: Path) -> list[str]:
    """Move back into their report the folders that builds stopped between publishing and
    carrying left in their staging folders below ``site_dir``, then remove those folders;
    returns what was moved back (paths relative to ``site_dir``). With the site's lock held."""
    return [
        os.path.relpath(path, site_dir)
        for folder in stale_staging(site_dir)
        for path in _carry_back(folder)
    ]


def _carry_back(folder: Path) -> list[Path]:
    """Move the folders the staging ``folder``'s journal names back into their report, then
    remove ``folder``; returns where they went (nothing for a folder without a journal). Where
    one cannot be moved, ``folder`` stays as it is (its journal too), for a later try and for
    verify to show."""
    journal = carried_journal(folder)
    target = (folder / journal["target"]).resolve() if journal else None
    if target is None or not (target / MANIFEST_FILE).is_file():
        return []  # no report there to carry them into
    olds, moved = (folder / "report", folder / ("report" + _ASIDE)), []
    with contextlib.suppress(OSError):
        for old in olds:
            moved += [target / name for name in _carry(old, target, journal["folders"])]
    if not any((old / name).is_dir() for old in olds for name in journal["folders"]):
        shutil.rmtree(folder, ignore_errors=True)
    return moved


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
    """Delete the staging folders killed builds and re-renders left in ``site_dir``, except
    those holding folders of a published report (:func:`recover_carried` moves them back)."""
    for folder in stale_staging(site_dir):
        if carried_journal(folder) is None:
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
        # Publishing stopped before the report it replaced gave up the earlier versions the new
        # one keeps: they are moved by the next holder of the site's lock (not here, where this
        # build may hold it no longer), so the folder stays.
        if carried_journal(self.root) is None:
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
        for folder in recover_carried(site_dir):
            say(f"moved {folder} back into its report (a build stopped while publishing left it)")
        yield
    finally:
        os.close(descriptor)  # releases the lock
