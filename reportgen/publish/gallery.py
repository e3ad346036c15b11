"""Galleries of large reports: which pages they have and what each shows. Plain data, no I/O.

A report with more images than its gallery threshold keeps the article's front page (levels,
charts, each level's typical images in full) and adds, per level, gallery pages of thumbnails in
two static orders (by entropy, focused first; by name), ``page_size`` a page, plus one page per
image. The front page links every gallery page of the entropy order and every thumbnail links its
image's page, so any image is at most two clicks from the front page.
"""

from __future__ import annotations

from collections.abc import Sequence

from reportgen.publish.page_model import GalleryPage, LevelMark, Thumb

ORDERS = ("entropy", "name")


def paginate(count: int, page_size: int) -> list[range]:
    """The index ranges of the pages holding ``count`` items, ``page_size`` a page (none for 0)."""
    if page_size < 1:
        raise ValueError("a page holds at least one item")
    return [range(start, min(start + page_size, count)) for start in range(0, count, page_size)]


def _ordered(thumbs: Sequence[Thumb], order: str) -> list[Thumb]:
    """``thumbs`` (given in entropy order) in ``order``; names compare without case first."""
    if order == "entropy":
        return list(thumbs)
    if order == "name":
        return sorted(thumbs, key=lambda thumb: (thumb.name.casefold(), thumb.name))
    raise ValueError(f"unknown gallery order {order!r}")


def level_pages(
    level: LevelMark, thumbs: Sequence[Thumb], levels: Sequence[int], page_size: int
) -> list[GalleryPage]:
    """Every gallery page of one level: each order, paginated. ``thumbs`` come in entropy order
    (focused first); ``levels`` are the report's level numbers, for links between levels."""
    pages = []
    for order in ORDERS:
        ordered = _ordered(thumbs, order)
        ranges = paginate(len(ordered), page_size)
        pages += [
            GalleryPage(
                level=level,
                level_size=len(ordered),
                order=order,
                number=number,
                count=len(ranges),
                first=positions.start + 1,
                thumbs=tuple(ordered[index] for index in positions),
                levels=tuple(levels),
            )
            for number, positions in enumerate(ranges, start=1)
        ]
    return pages
