"""The example plugin package (examples/plugins), installed with pip as a user would, adds a
flavour and a map method that a build from the command line uses end to end."""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT, write_images

pytestmark = pytest.mark.slow

HOSTILE_TITLE = "Cats {{< shortcode >}} {% raw %} <b>bold</b> [link](x) *em*"


@pytest.fixture(scope="session")
def plugin_path(tmp_path_factory):
    """examples/plugins installed by pip into a folder of its own, put on PYTHONPATH by runs."""
    target = tmp_path_factory.mktemp("plugins")
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps"]
    command += ["--no-build-isolation", "--target", str(target), str(ROOT / "examples/plugins")]
    subprocess.run(command, check=True, capture_output=True)
    return target


def reportgen(plugin_path, *arguments):
    """Run the command line with the plugins installed; returns the finished process."""
    paths = [str(plugin_path), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    return subprocess.run(
        [sys.executable, "-m", "reportgen.cli", *[str(argument) for argument in arguments]],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


@pytest.fixture(scope="session")
def quarto_site(plugin_path, tiny_vit_dir, tmp_path_factory):
    """Two reports in the quarto flavour (and html, for the explorer) of 8 images: ``cats``
    with galleries and image pages, ``single`` on one page with collapsible blocks."""
    work = tmp_path_factory.mktemp("quarto")
    images = write_images(work / "images", 8)
    for slug, layout in (
        ("cats", ["--gallery-threshold", "4", "--page-size", "3"]),
        ("single", []),
    ):
        built = reportgen(
            plugin_path,
            *("build", images, "--out", work / "site", "--slug", slug, "--model", tiny_vit_dir),
            *("--device", "cpu", "--date", "2024-05-24", "--format", "quarto,html"),
            *("--title", HOSTILE_TITLE, *layout),
        )
        assert built.returncode == 0, built.stderr
    return work / "site" / "reports"


@pytest.fixture(scope="session")
def quarto_report(quarto_site):
    return quarto_site / "cats"


def test_the_help_lists_the_plugin_flavour(plugin_path):
    shown = reportgen(plugin_path, "build", "--help")
    assert shown.returncode == 0, shown.stderr
    assert "quarto (Quarto document)" in " ".join(shown.stdout.split())


def test_the_quarto_flavour_writes_a_quarto_document(quarto_report):
    page = (quarto_report / "report.qmd").read_text()
    front_matter = page.split("---\n")[1]
    assert front_matter.startswith('title: "Cats &#123;&#123;&#60; shortcode &#62;&#125;&#125;')
    assert "date: 2024-05-24" in front_matter
    assert page.count("::: {.reportgen-level style=") == 4  # the levels: coloured fenced divs
    figures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)\{fig-alt=", page)
    assert figures and all((quarto_report / figure).is_file() for figure in figures)


def test_a_single_page_report_collapses_each_level_in_a_callout(quarto_site):
    page = (quarto_site / "single" / "report.qmd").read_text()
    assert page.count('::: {.callout-note collapse="true"') == 4
    openings = len(re.findall(r"^::: \{", page, re.M))
    assert openings == 8 and len(re.findall(r"^:::$", page, re.M)) == openings


def test_the_quarto_flavour_writes_gallery_and_image_pages(quarto_report):
    galleries = sorted((quarto_report / "gallery").glob("*.qmd"))
    images = sorted((quarto_report / "images").glob("*.qmd"))
    assert galleries and len(images) == 8
    for page in [*galleries, *images]:
        text = page.read_text()
        assert text.startswith('---\ntitle: "')
        for target in re.findall(r"\]\(([^)#]+)\)", text):
            assert (page.parent / target).exists(), (page.name, target)


def test_user_text_is_inert_in_the_quarto_pages(quarto_site):
    for page in quarto_site.rglob("*.qmd"):
        text = page.read_text()
        assert "{{<" not in text and "{%" not in text and "<b>bold" not in text
        assert "[link](x)" not in text


@pytest.fixture(scope="session")
def head_max_report(plugin_path, tiny_vit_dir, tmp_path_factory):
    """A report whose levels use the plugin's map (artifacts kept: the map is the raw maximum)."""
    work = tmp_path_factory.mktemp("head-max")
    images = write_images(work / "images", 6)
    built = reportgen(
        plugin_path,
        *("build", images, "--out", work / "site", "--slug", "peaks", "--model", tiny_vit_dir),
        *("--device", "cpu", "--date", "2024-05-24", "--format", "html,gfm"),
        *("--spread-by", "head_max", "--artifacts", "keep"),
    )
    assert built.returncode == 0, built.stderr
    return work / "site" / "reports" / "peaks"


def test_the_plugin_method_is_computed_and_stored(head_max_report):
    from reportgen import store

    files = sorted((head_max_report / "data" / "maps").glob("*.npz"))
    assert len(files) == 6
    for file in files:
        heads = store.read_record(file, file.name).cls_heads  # 4-bit levels, read back
        with np.load(file) as data:
            low, high = data["cls_heads_range"][..., 0], data["cls_heads_range"][..., 1]
            step = float((high - low).max()) / (2**store.HEADS_BITS - 1)
            np.testing.assert_allclose(data["head_max"], heads.max(axis=(0, 1)), atol=step)


def test_the_plugin_method_sorts_the_levels_and_is_described(head_max_report):
    manifest = json.loads((head_max_report / "manifest.json").read_text())
    assert manifest["parameters"]["spread_by"] == "head_max"
    page = (head_max_report / "index.html").read_text()
    assert "use the spread of the head_max map" in page
    assert "<strong>Head max</strong> (a plugin's map)" in page
    readme = (head_max_report / "README.md").read_text()
    assert "**Head max** (a plugin" in readme
