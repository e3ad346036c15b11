"""Version numbering of a report published again under its slug: pure decisions, no files.

The report already published becomes an earlier version of the new one (unless it is replaced),
earlier versions beyond ``--keep-versions`` are dropped, and the new report takes the next number:
one more than any number the slug has used, so a number never names two reports.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from reportgen.publish import page_model


@dataclass(frozen=True)
class VersionPlan:
    """What publishing a new report under a slug does to its versions."""

    number: int  # the new report's version
    archived: int | None  # the current report's number when it is kept as an earlier version
    kept: frozenset[int]  # earlier versions (the archived one included) the new report keeps
    dropped: tuple[int, ...]  # earlier versions removed by the --keep-versions bound, ascending


def plan(
    current: int | None, earlier: Iterable[int], *, replace: bool, keep: int | None
) -> VersionPlan:
    """The versions after publishing a new report where ``current`` is the published one's
    number (None: nothing is published) and ``earlier`` the numbers of the versions it keeps.

    ``replace``: the new report takes the current one's place and number instead of keeping it;
    ``keep``: at most this many earlier versions, the newest (None: all).
    """
    archived = None if current is None or replace else current
    numbers = set(earlier) | ({archived} if archived is not None else set())
    kept = frozenset(sorted(numbers, reverse=True)[:keep])
    replacing = current is not None and replace  # the new report takes its place and number
    number = current if replacing else 1 + max([current or 0, *numbers])
    return VersionPlan(
        number, archived if archived in kept else None, kept, tuple(sorted(numbers - kept))
    )


class Numbered(Protocol):
    @property
    def number(self) -> int: ...


N = TypeVar("N", bound=Numbered)


def newest_first(entries: Iterable[N]) -> tuple[N, ...]:
    """Versions in the order a report lists them: the highest number first."""
    return tuple(sorted(entries, key=lambda entry: entry.number, reverse=True))


def plan_notes(version_plan: VersionPlan, versions_dir: str) -> list[str]:
    """What the build says about the earlier versions, beside the new number."""
    notes = []
    if version_plan.archived is not None:
        notes.append(
            f"version {version_plan.archived} kept in {versions_dir}/{version_plan.archived}"
        )
    if version_plan.dropped:
        notes.append("removed version " + ", ".join(map(str, version_plan.dropped)))
    return notes


@dataclass(frozen=True)
class ReportVersion:
    """Which version of its report a rendering is, and the earlier ones it lists."""

    number: int
    archived: bool = False  # an earlier version, in the current one's versions/ folder
    history: tuple[page_model.VersionEntry, ...] = ()
