"""The earlier versions a new report keeps: the versions the published report keeps, carried
over as they are when it is published (:func:`staging.publish`), and that report itself, staged
as ``versions/<n>/``, its front pages rendered again to say which version they are (every page,
unless the cache remembers that this code and these templates rendered it).

None of it depends on the new analysis, so a build stages them in a worker while the analysis
runs (:func:`stage`, without the site's lock). Publishing, with the lock, reads which versions
the new report keeps (:func:`kept_versions`: a few manifests) and renders it while that staging
ends; it takes what was staged only if the published report is still the one it was staged
from (:func:`published_state`: another build or a re-render may have published in between),
and stages them again otherwise. A build that finds its report unchanged, or fails, publishes
nothing: it asks the staging to stop (:class:`StopFile`) rather than wait for it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reportgen import digests, store
from reportgen.errors import ReportgenError
from reportgen.manifest import MANIFEST_FILE, ReportManifest
from reportgen.publish import index, versions
from reportgen.publish.folders import VERSIONS_DIR, remember_hashes
from reportgen.publish.options import ReportOptions
from reportgen.publish.page_model import VersionEntry
from reportgen.publish.render_job import render_from_store, render_front_pages, rendered_here
from reportgen.publish.templates import Templates
from reportgen.publish.versions import ReportVersion, VersionPlan
from reportgen.workers import InlinePool, Pool

PublishedState = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class KeptVersions:
    """The earlier versions a new report keeps of the report published at its target, as read
    from there: what :func:`stage` stages, and what the new report lists."""

    source: PublishedState  # the published report they are read from
    plan: VersionPlan
    history: tuple[VersionEntry, ...]  # as the new report lists them, newest first

    @property
    def carried(self) -> tuple[str, ...]:
        """The folders of the published report's versions kept as they are."""
        return tuple(entry.folder for entry in self.history if entry.number != self.plan.archived)


class Stopped(Exception):
    """Staging stopped on request: the build it was for publishes nothing."""


@dataclass(frozen=True)
class StopFile:
    """Staging in a worker stops between its steps once the file ``path`` exists: a build whose
    report turns out unchanged asks for it (:meth:`request`), rather than wait for the staging
    it will delete. Picklable: the staging runs in a worker."""

    path: Path

    def request(self) -> None:
        """Ask; one that cannot be made (its folder gone) leaves the staging to finish."""
        with contextlib.suppress(OSError):
            self.path.touch()

    def check(self) -> None:
        if self.path.exists():
            raise Stopped


class _StoppablePool(InlinePool):
    """Runs each task here after :meth:`StopFile.check`: the archived version's pages and
    explorer data, a chunk a task."""

    def __init__(self, stop: StopFile):
        self.stop = stop

    def submit(self, function: Callable[..., Any], *args: Any) -> Future:
        self.stop.check()
        return super().submit(function, *args)


def published_state(target: Path) -> PublishedState:
    """The sha256 of every manifest of the report published at ``target``, its own and its
    versions' (each lists the sha256 of its files), by path: equal states, equal reports."""
    manifests = [target / MANIFEST_FILE, *sorted(target.glob(f"{VERSIONS_DIR}/*/{MANIFEST_FILE}"))]
    return tuple(
        (path.relative_to(target).as_posix(), digests.sha256_of(path))
        for path in manifests
        if path.is_file()
    )


def published_manifest(target: Path, replace: bool) -> ReportManifest | None:
    """The manifest of the report published at ``target`` (None: nothing there, or an
    unreadable one that ``replace`` overwrites)."""
    if not target.exists():
        return None
    try:
        return index.read_manifest(target)
    except ReportgenError as error:
        if replace:
            return None
        raise ReportgenError(f"{error}; move it away, or build with --replace") from None


def stage(
    target: Path,
    staged: Path,
    templates: Templates,
    cache: store.ContentCache | None,
    *,
    replace: bool,
    keep: int | None,
    pool: Pool | None = None,
    stop: StopFile | None = None,
) -> KeptVersions:
    """Stage in ``staged`` (a new report's staging folder) the report published at ``target``
    as the earlier version the new one keeps, if it keeps it (``replace`` and ``keep`` as in
    :func:`versions.plan`); the versions it keeps of that report are carried over when it is
    published (``carried`` of what this returns). ``pool`` renders the archived version's pages
    (None: here). ``stop`` can end it early, by :class:`Stopped`, between the pages' chunks."""
    state = published_state(target)
    current = published_manifest(target, replace)
    kept = kept_versions(target, current, replace=replace, keep=keep, state=state)
    plan = kept.plan
    if current and plan.archived is not None:
        remember_hashes(target, current.files)  # what the archived version links of it
        archived = staged / VERSIONS_DIR / str(plan.archived)
        if stop:
            stop.check()
            pool = pool or _StoppablePool(stop)
        _archive(target, current, archived, templates, cache, pool)
    return kept


def kept_versions(
    target: Path,
    current: ReportManifest | None,
    *,
    replace: bool,
    keep: int | None,
    state: PublishedState | None = None,
) -> KeptVersions:
    """The earlier versions a new report keeps of the report published at ``target``, whose
    manifest is ``current`` (``replace`` and ``keep`` as in :func:`versions.plan`): the
    versions it keeps as they are listed there, and that report itself archived. ``state``:
    :func:`published_state`, when read already."""
    earlier = index.history(target)
    plan = versions.plan(
        current.version if current else None,
        [entry.number for entry in earlier],
        replace=replace,
        keep=keep,
    )
    history = [entry for entry in earlier if entry.number in plan.kept]
    if current and plan.archived is not None:
        history.append(index.version_entry(current, f"{VERSIONS_DIR}/{plan.archived}"))
    source = published_state(target) if state is None else state
    return KeptVersions(source, plan, versions.newest_first(history))


def _archive(
    target: Path,
    current: ReportManifest,
    destination: Path,
    templates: Templates,
    cache: store.ContentCache | None,
    pool: Pool | None,
) -> None:
    """Stage the published report as the earlier version ``destination``: its data and
    figures as they are, its pages rendered again to say which version they are; only its front
    pages and manifest when this code rendered it (:func:`render_job.rendered_here`), the other
    files linked as they are, since rendering them again would give the same bytes."""
    number = current.version
    try:
        options = ReportOptions.from_json(current.report)
        destination.mkdir(parents=True)
        version = ReportVersion(number, archived=True)
        arguments = (target, destination, options, templates, cache, version, pool)
        if rendered_here(target, templates, cache):
            render_front_pages(*arguments)
        else:
            render_from_store(target, destination, options, *arguments[2:])
    except ReportgenError as error:
        raise ReportgenError(
            f"cannot keep the current report as version {number} ({error}); "
            "build with --replace to overwrite it"
        ) from None
