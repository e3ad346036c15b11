"""Inline explorers below the figures of a single-page report, in headless Chromium: each loads
only its own image's data and draws the Python overlay, the gfm page links each one, and the
standalone explorer page and the notebook's sandboxed frame draw with nothing but themselves.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from explorer_pages import (
    _image_ids,
    _record,
    assert_framed_explorer_follows_its_slider,
    browser_tab,
    fixture_reports,  # noqa: F401 (the fixture reports)
    fixture_tab,  # noqa: F401 (the fixture tab)
    open_inline_explorer,
)
from served_reports import HOSTILE_NAMES, browser  # noqa: F401

from reportgen.publish import explorer, render
from reportgen.publish.figures import FigureStyle
from reportgen.publish.templates import Templates
from reportgen.results import Analysis

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_an_inline_explorer_loads_only_its_image_and_draws_it(tab, reports):
    ids = _image_ids(reports.single)
    tab.open(reports.single / "index.html")
    assert tab.page.locator(".explorer-inline").count() == len(ids)
    assert tab.page.locator(".explorer-inline:visible").count() >= 1  # shown by the script
    assert tab.explorer_data() == []
    hostile = next(
        image.id
        for image in Analysis.load(reports.single / "data").images
        if image.name == HOSTILE_NAMES[0]
    )
    for image_id in (ids[0], hostile):
        section = open_inline_explorer(tab, image_id)
        record = _record(reports.single, image_id)
        tab.page.fill(f"#{section}-layer", "1")
        expected = render.overlay(record.seen_image, record.maps["layers"][0], "jet", 0.5)
        if record.artifact_mask is not None and record.artifact_mask[0].any():
            expected = render.outline_cells(expected, record.artifact_mask[0])
        assert np.abs(tab.pixels(section) - expected.astype(int)).max() <= 2
    assert tab.explorer_data() == [ids[0], hostile]
    button = tab.page.locator(f"[aria-controls={section}-panel]")
    button.click()
    assert button.get_attribute("aria-expanded") == "false"
    assert tab.page.is_hidden(f"#{section}")
    scripts = tab.page.locator("script[src]").evaluate_all("all => all.map(s => s.src)")
    assert sorted(src.rsplit("/", 1)[-1] for src in scripts) == sorted(
        ["slider.js", "explorer.js", "colormaps.js", f"{ids[0]}.js", f"{hostile}.js"]
    )
    tab.assert_clean()


def test_the_gfm_page_links_each_inline_explorer_which_the_link_opens(tab, reports):
    readme = (reports.single / "README.md").read_text()
    links = re.findall(r"\]\(index\.html#(explorer-[a-z0-9-]+)\)", readme)
    ids = _image_ids(reports.single)
    assert sorted(links) == sorted(f"explorer-{image_id}" for image_id in ids)
    tab.open((reports.single / "index.html").as_uri() + f"#explorer-{ids[-1]}")
    tab.ready(f"explorer-{ids[-1]}")
    assert tab.page.locator(f"#explorer-{ids[-1]}").is_visible()
    assert tab.explorer_data() == [ids[-1]]
    tab.assert_clean()


def test_the_standalone_explorer_draws_with_no_file_but_itself(browser, reports, tmp_path):  # noqa: F811
    """The page the notebook frames: scripts and image inline, the canvas the Python overlay,
    the hostile name shown as text."""
    analysis = Analysis.load(reports.single / "data")
    image = next(image for image in analysis.images if image.name == HOSTILE_NAMES[0])
    page = tmp_path / "standalone.html"
    page.write_text(explorer.standalone_page(analysis, image, FigureStyle(), Templates()))
    with browser_tab(browser, page.as_uri()) as tab:
        tab.open(page)
        tab.ready()
        record = analysis.record(image)
        tab.page.fill("#explorer-layer", "1")
        expected = render.overlay(record.seen_image, record.maps["layers"][0], "jet", 0.5)
        if record.artifact_mask is not None and record.artifact_mask[0].any():
            expected = render.outline_cells(expected, record.artifact_mask[0])
        assert np.abs(tab.pixels() - expected.astype(int)).max() <= 2
        assert tab.page.inner_text(".meta") == HOSTILE_NAMES[0]
        assert [url for url in tab.requests if not url.startswith("data:")] == [page.as_uri()]
        tab.assert_clean()


def test_the_notebook_explorer_works_in_its_sandboxed_frame(browser, reports, tmp_path):  # noqa: F811
    """Report.explorer's HTML in a page, as a notebook shows it: the frame's explorer draws and
    its layer slider changes the canvas."""
    from reportgen.notebook import Report

    report = Report.load(reports.single)
    image_id = report.analysis.images[0].id
    page = tmp_path / "cell.html"
    page.write_text(f"<!DOCTYPE html><html><body>{report.explorer(image_id).data}</body></html>")
    with browser_tab(browser, page.as_uri()) as tab:
        tab.open(page)
        assert_framed_explorer_follows_its_slider(tab)
        tab.assert_clean()
