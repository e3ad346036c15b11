"""A report's weight by kind of file, links counted once (reportgen.publish.weight)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reportgen.publish import folders, weight


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("figures/000-cat.webp", "figures"),
        ("jekyll/assets/img/cats/figures/000-cat.webp", "figures"),
        ("explorer/000-cat.js", "explorer data"),
        ("explorer/000-cat.html", "explorer pages"),
        ("explorer/explorer.js", "scripts"),
        ("explorer/colormaps.js", "scripts"),
        ("explorer/page.css", "scripts"),
        ("explorer/slider.js", "scripts"),
        ("jekyll/assets/img/cats/explorer/table-sort.js", "scripts"),
        ("data/maps/000-cat.npz", "maps files"),
        ("data/results.parquet", "data tables"),
        ("sprites/000-cat.webp", "sprites"),
        ("thumbs/000-cat.webp", "thumbnails"),
        ("thumbnail.webp", "thumbnails"),
        ("charts/entropy-histogram.svg", "charts"),
        ("images/000-cat.html", "pages"),
        ("jekyll/reports/cats/images/000-cat.md", "pages"),
        ("index.html", "pages"),
        ("README.md", "pages"),
        ("slider.js", "scripts"),
        ("manifest.json", "manifest"),
    ],
)
def test_every_file_has_its_kind(name, kind):
    assert weight.kind(name) == kind


def _write(root: Path, name: str, size: int) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    return path


def _link(root: Path, source: str, name: str) -> None:
    (root / name).parent.mkdir(parents=True, exist_ok=True)
    os.link(root / source, root / name)


@pytest.fixture
def report(tmp_path) -> Path:
    """A small report: html and gfm pages, jekyll linking the figure and adding its own page."""
    _write(tmp_path, "figures/000-cat.webp", 1000)
    _write(tmp_path, "data/maps/000-cat.npz", 400)
    _write(tmp_path, "explorer/000-cat.js", 300)
    _write(tmp_path, "index.html", 50)
    _write(tmp_path, "README.md", 20)
    _write(tmp_path, "manifest.json", 7)
    _write(tmp_path, "versions/1/figures/000-cat.webp", 999)  # an earlier version: not counted
    _link(tmp_path, "figures/000-cat.webp", "jekyll/assets/img/cats/figures/000-cat.webp")
    _write(tmp_path, "jekyll/_posts/2024-05-24-cats.md", 30)
    return tmp_path


def test_the_kinds_add_up_to_the_distinct_bytes(report):
    sizes = weight.breakdown(report)
    assert sizes == {
        "figures": 1000,
        "explorer data": 300,
        "maps files": 400,
        "pages": 100,
        "manifest": 7,
    }
    assert sum(sizes.values()) == folders.distinct_bytes(report)


def test_a_flavour_saves_only_what_no_other_flavour_links(report):
    assert weight.flavour_only_bytes(report, {"jekyll": "jekyll"}) == {"jekyll": 30, "gfm": 20}


def test_the_site_after_a_build_counts_the_staged_report_and_not_the_one_it_replaces(tmp_path):
    site = tmp_path / "site"
    _write(site, "index.html", 10)
    _write(site, "reports/other/figures/a.webp", 100)
    _write(site, "reports/cats/figures/old.webp", 1000)  # replaced by the staged report
    staging = site / ".reportgen-staging-1-x"
    _write(staging, "report/figures/new.webp", 300)
    os.link(site / "reports/other/figures/a.webp", staging / "report/kept.webp")  # counted once
    staged, target = staging / "report", site / "reports" / "cats"
    assert weight.site_bytes_after(site, staged, target, staging) == 10 + 100 + 300
    _write(site, "reports/cats/versions/1/figures/kept.webp", 5000)  # kept, moved over
    _write(site, "reports/cats/versions/2/figures/dropped.webp", 7000)
    after = weight.site_bytes_after(site, staged, target, staging, ["versions/1"])
    assert after == 10 + 100 + 300 + 5000


def test_over_budget_names_what_to_drop_largest_first_and_the_option_that_drops_it():
    sizes = {"figures": 1_000_000, "explorer data": 300_000, "explorer pages": 50_000}
    over = "warning: the site will weigh 2.5 MB with this report, over --max-site-size 2.0 MB by "
    assert weight.over_budget(2_000_000, 2_000_000, sizes, {}) is None
    warning = weight.over_budget(2_500_000, 2_000_000, sizes, {"jekyll": 400_000}, ("jekyll",))
    assert warning == over + (
        "500.0 kB; dropping would save: the jekyll flavour (--format) 400.0 kB, the explorer's "
        "data scripts (--explorer-data maps) 300.0 kB"
    )
    warning = weight.over_budget(2_500_000, 2_000_000, sizes, {}, ("html", "distill"))
    assert warning == over + (
        "500.0 kB; dropping would save: the explorer's data scripts (--explorer-data maps, "
        "without distill) 300.0 kB"
    )
    nothing_to_drop = {"figures": 1_000_000, "explorer pages": 50_000}  # no option drops them
    assert weight.over_budget(2_500_000, 2_000_000, nothing_to_drop, {}) == over + "500.0 kB"
