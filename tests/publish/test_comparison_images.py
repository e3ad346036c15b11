"""A comparison's galleries planned without a model: the three static orders, pagination edges
and which page shows each image."""

from __future__ import annotations

import math

import pytest

from reportgen.publish import comparison_images
from reportgen.publish.comparison import ImageRow
from reportgen.publish.comparison_figures import Drawn


def _row(name, entropies, correlations):
    return ImageRow(
        name=name,
        sha256=name,
        ids=(f"id-{name}", f"other-{name}"),
        levels=(1,) * len(entropies),
        entropies=tuple(entropies),
        correlations=tuple(correlations),
    )


def _thumbs(rows):
    drawn = Drawn("figure.webp", 10, 10, None, "thumb.webp", 5, 5)
    return [comparison_images.thumb(row, drawn) for row in rows]


ROWS = [
    _row("b.png", (0.5, 0.6), (0.9,)),
    _row("C.png", (0.5, 0.9), (math.nan,)),
    _row("a.png", (0.7, 0.5), (0.1,)),
    _row("d.png", (0.2, 0.2), (0.5,)),
]


def test_the_orders_sort_by_change_correlation_and_name():
    names = {
        order: [ROWS[at].name for at in comparison_images.ordered(ROWS, order)]
        for order in comparison_images.ORDERS
    }
    assert names["change"] == ["C.png", "a.png", "b.png", "d.png"]  # widest spread first
    assert names["correlation"] == ["a.png", "d.png", "b.png", "C.png"]  # none last
    assert names["name"] == ["a.png", "b.png", "C.png", "d.png"]  # case folded


def test_three_runs_take_the_widest_spread_and_the_least_correlation():
    row = _row("x", (0.2, 0.9, 0.4), (0.8, math.nan, -0.3))
    assert comparison_images.entropy_change(row) == pytest.approx(0.7)
    assert comparison_images.least_correlation(row) == -0.3
    assert math.isnan(comparison_images.least_correlation(_row("y", (0, 0), (math.nan,))))


@pytest.mark.parametrize(
    ("count", "page_size", "pages"),
    [(0, 2, 0), (1, 2, 1), (2, 2, 1), (3, 2, 2)],  # none, one, exactly a page, one more
)
def test_galleries_paginate_each_order(count, page_size, pages):
    rows = [_row(f"{index}.png", (index / 10, 0.5), (0.5,)) for index in range(count)]
    galleries = comparison_images.galleries(rows, _thumbs(rows), page_size)
    assert len(galleries) == pages * len(comparison_images.ORDERS)
    for order in comparison_images.ORDERS:
        ordered = [page for page in galleries if page.order == order]
        assert [page.number for page in ordered] == list(range(1, pages + 1))
        assert sum(len(page.thumbs) for page in ordered) == count
        assert all(page.count == pages and page.total == count for page in ordered)
        assert [page.first for page in ordered] == list(range(1, count + 1, page_size))


def test_each_image_is_found_on_the_first_orders_page_that_shows_it():
    galleries = comparison_images.galleries(ROWS, _thumbs(ROWS), 3)
    where = comparison_images.gallery_of_each(galleries)
    assert where == {
        "id-C.png": "by-change-1",
        "id-a.png": "by-change-1",
        "id-b.png": "by-change-1",
        "id-d.png": "by-change-2",
    }
    first = galleries[0]
    assert first.title == "Every image by entropy change, largest first: page 1 of 2"
    assert first.sibling(2, "name") == "by-name-2"


def test_sort_keys_are_numbers_or_empty_for_none():
    thumb_c, thumb_a = _thumbs(ROWS[1:3])
    assert thumb_c.sort_keys() == {"change": "0.400000", "correlation": ""}
    assert thumb_a.sort_keys() == {"change": "0.200000", "correlation": "0.100000"}
    assert (thumb_c.entropies, thumb_c.correlation) == ("0.500 -> 0.900", "none")
