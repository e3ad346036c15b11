"""A comparison's gallery and image pages: which pages there are and what each shows. Plain data,
no I/O.

Every image in common has a page (every run's map side by side, the difference for two runs,
its facts in each run, and each run's explorer) and a thumbnail in the galleries, which list
every image in three static orders, ``page_size`` a page: by entropy change (the widest spread of
the runs' entropies first), by map correlation (the least alike first: the lowest correlation of
any pair; constant maps, which have none, last) and by name. The front page links every gallery
page, so every image is two clicks from it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from reportgen.publish.comparison import Comparison, ImageRow
from reportgen.publish.comparison_figures import Drawn
from reportgen.publish.gallery import paginate
from reportgen.publish.page_model import pager

ORDERS = {
    "change": "entropy change, largest first",
    "correlation": "map correlation, least alike first",
    "name": "name",
}
PAGE_SIZE = 200  # thumbnails per gallery page


def entropy_change(row: ImageRow) -> float:
    """How far the runs' spread entropies of an image lie apart (B - A for two runs, as a
    magnitude)."""
    return float(np.ptp(row.entropies))


def least_correlation(row: ImageRow) -> float:
    """The lowest map correlation of any pair of runs; NaN where no pair has one."""
    finite = [value for value in row.correlations if np.isfinite(value)]
    return min(finite) if finite else float("nan")


def ordered(rows: Sequence[ImageRow], order: str) -> list[int]:
    """The positions of ``rows`` in a gallery ``order`` (ties keep the rows' order)."""
    positions = range(len(rows))
    if order == "change":
        return sorted(positions, key=lambda at: -entropy_change(rows[at]))
    if order == "correlation":
        values = [least_correlation(row) for row in rows]
        return sorted(positions, key=lambda at: (np.isnan(values[at]), values[at]))
    if order == "name":
        return sorted(positions, key=lambda at: (rows[at].name.casefold(), rows[at].name))
    raise ValueError(f"unknown gallery order {order!r}")


def gallery_name(order: str, number: int) -> str:
    """File name (no extension) of a gallery page: ``by-change-2``."""
    return f"by-{order}-{number}"


@dataclass(frozen=True)
class ComparedThumb:
    """An image on a gallery page, linking its page. ``name`` is untrusted."""

    id: str
    name: str
    file: str
    width: int
    height: int
    entropies: str  # each run's, "0.512 -> 0.634"
    correlation: str  # the least of any pair, or "none"
    change: float  # for the html page's own sorting
    least_correlation: float

    def sort_keys(self) -> dict[str, str]:
        """What the html gallery sorts its page by, as data attributes (numbers only)."""
        correlation = self.least_correlation
        return {
            "change": f"{self.change:.6f}",
            "correlation": f"{correlation:.6f}" if np.isfinite(correlation) else "",
        }


@dataclass(frozen=True)
class ComparedGallery:
    """One page of the gallery in one order."""

    order: str
    number: int  # 1-based
    count: int  # pages in this order
    first: int  # 1-based position of its first thumbnail
    total: int  # images in common
    thumbs: tuple[ComparedThumb, ...]

    @property
    def name(self) -> str:
        return gallery_name(self.order, self.number)

    @property
    def title(self) -> str:
        return f"Every image by {ORDERS[self.order]}: page {self.number} of {self.count}"

    def sibling(self, number: int, order: str | None = None) -> str:
        return gallery_name(order or self.order, number)

    def pager(self) -> list[int | None]:
        return pager(self.number, self.count)


@dataclass(frozen=True)
class RunFacts:
    label: str
    level: int
    entropy: str


@dataclass(frozen=True)
class ComparedImage:
    """The page of one image in common. ``name`` is untrusted."""

    id: str
    name: str
    sha256: str
    facts: tuple[RunFacts, ...]  # per run
    correlations: tuple[tuple[str, str], ...]  # per pair: its runs' labels, the value
    drawn: Drawn
    explorers: tuple[tuple[str, str], ...]  # each run's explorer (label, link), where linked
    carried: tuple[tuple[str, str], ...]  # (label, file) in the comparison: comparison_explorers
    gallery: str  # the gallery page (by entropy change) that shows it


def _entropies(row: ImageRow) -> str:
    return " -> ".join(f"{value:.3f}" for value in row.entropies)


def _correlation(value: float) -> str:
    return f"{value:.3f}" if np.isfinite(value) else "none"


def thumb(row: ImageRow, drawn: Drawn) -> ComparedThumb:
    return ComparedThumb(
        id=row.ids[0],
        name=row.name,
        file=drawn.thumb,
        width=drawn.thumb_width,
        height=drawn.thumb_height,
        entropies=_entropies(row),
        correlation=_correlation(least_correlation(row)),
        change=entropy_change(row),
        least_correlation=least_correlation(row),
    )


def galleries(
    rows: Sequence[ImageRow], thumbs: Sequence[ComparedThumb], page_size: int = PAGE_SIZE
) -> list[ComparedGallery]:
    """Every gallery page: each order, paginated (none without images)."""
    pages = []
    for order in ORDERS:
        positions = ordered(rows, order)
        ranges = paginate(len(positions), page_size)
        pages += [
            ComparedGallery(
                order=order,
                number=number,
                count=len(ranges),
                first=span.start + 1,
                total=len(rows),
                thumbs=tuple(thumbs[positions[at]] for at in span),
            )
            for number, span in enumerate(ranges, start=1)
        ]
    return pages


def image_page(
    comparison: Comparison,
    row: ImageRow,
    drawn: Drawn,
    explorers: tuple[tuple[str, str], ...],
    carried: tuple[tuple[str, str], ...],
    gallery: str,
) -> ComparedImage:
    labels = [run.label for run in comparison.runs]
    return ComparedImage(
        id=row.ids[0],
        name=row.name,
        sha256=row.sha256,
        facts=tuple(
            RunFacts(label, level, f"{entropy:.4f}")
            for label, level, entropy in zip(labels, row.levels, row.entropies, strict=True)
        ),
        correlations=tuple(
            (f"{labels[first]} and {labels[second]}", _correlation(value))
            for (first, second), value in zip(comparison.pairs, row.correlations, strict=True)
        ),
        drawn=drawn,
        explorers=explorers,
        carried=carried,
        gallery=gallery,
    )


def gallery_of_each(pages: Sequence[ComparedGallery]) -> dict[str, str]:
    """Per image id, the page of the first order (entropy change) that shows it."""
    first_order = next(iter(ORDERS))
    return {
        thumb.id: page.name for page in pages if page.order == first_order for thumb in page.thumbs
    }
