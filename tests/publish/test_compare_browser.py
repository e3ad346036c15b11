"""A comparison's page in headless Chromium: every image (charts, movers' figures) loads, every
link and source resolves, nothing leaves 127.0.0.1, and hostile names run no script."""

from __future__ import annotations

import functools
import http.server
import threading

import pytest
from conftest import tiny_model_dir, write_images
from test_browser import (  # noqa: F401
    _assert_references_resolve,
    _load_every_image,
    _QuietHandler,
    browser,
    tab,
)
from test_compare import DATE, _with_hostile_names

from reportgen import api
from reportgen.analysis.execution import Execution
from reportgen.analysis.sources.folder import FolderSource
from reportgen.publish import comparison_site
from reportgen.publish.options import ReportOptions
from reportgen.results import AnalysisParams

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def served(tiny_vit_dir, tmp_path_factory):
    """Two runs of the same images (patch 8 and 16) and their comparison, served."""
    tmp = tmp_path_factory.mktemp("compare-browser")
    root = tmp / "site"
    images = _with_hostile_names(write_images(tmp / "images", 6), 4)
    execution = Execution(device="cpu", cache_dir=tmp / "cache")
    runs = [
        api.build(
            FolderSource(images, recursive=True),
            root,
            AnalysisParams(model=str(model)),
            ReportOptions(title=slug, slug=slug, date=DATE),
            execution,
        )
        for slug, model in (
            ("before", tiny_vit_dir),
            ("after", tiny_model_dir(tmp_path_factory, "vit", patch_size=16)),
        )
    ]
    comparison_site.build(runs, root, title="Before <script>alert(1)</script>", date=DATE)
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield f"http://{host}:{port}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_every_image_of_the_comparison_loads_and_every_link_resolves(served, tab):  # noqa: F811
    tab.goto(f"{served}comparisons/before-vs-after/index.html")
    images = tab.page.locator("img").count()
    assert images == 4 + 2 * min(8, 6 + 3)  # the charts; each mover's maps and difference
    assert _load_every_image(tab.page) == []
    checked = _assert_references_resolve(tab)
    assert f"{served}reports/before/index.html" in checked
    assert f"{served}comparisons/before-vs-after/compare.json" in checked
    explorers = [url for url in checked if "/explorer/" in url and url.endswith(".html")]
    assert len(explorers) == 2 * 9  # each run's explorer of every image in common
    tab.assert_clean()


def test_the_index_links_the_comparison_and_its_runs(served, tab):  # noqa: F811
    tab.goto(f"{served}index.html")
    checked = _assert_references_resolve(tab)
    assert f"{served}comparisons/before-vs-after/index.html" in checked
    assert f"{served}reports/after/index.html" in checked
    tab.assert_clean()
