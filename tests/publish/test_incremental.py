"""Incremental builds: a rebuild after adding images, or with another title, reuses what did not
change (from the cache and the version before) and gives the very files a cold build gives."""

import dataclasses
import os
import shutil
from pathlib import Path

import pytest
from conftest import site_files, write_images

from reportgen import api, table
from reportgen.analysis.execution import Execution
from reportgen.errors import ReportgenError
from reportgen.publish import explorer, flavours, pages, verify
from reportgen.publish.build import rerender
from reportgen.publish.folders import DATA_DIR


@pytest.fixture
def options(report_options):
    """Galleries and image pages from three images on, two thumbnails a gallery page."""
    return report_options.changed(gallery_threshold=2, page_size=2)


def grow(folder):
    """Add two images, one of them sorting before every other (the ids after it change)."""
    write_images(folder / "more", 2, seed=7)
    os.replace(folder / "more/img00.png", folder / "a-first.png")
    os.replace(folder / "more/img01.png", folder / "zz-last.png")
    (folder / "more").rmdir()


def twice(folder, site, cache_dirs, analysis_params, options):
    """Build the five images of ``folder``, add two, build again: each build with its cache."""
    for added in ("a-first.png", "zz-last.png"):
        (folder / added).unlink(missing_ok=True)
    for build, cache_dir in enumerate(cache_dirs):
        if build:
            grow(folder)
        execution = Execution(device="cpu", cache_dir=cache_dir)
        api.build(folder, site, analysis_params, options, execution)
    return site / "reports" / "tiny"


@pytest.mark.slow
def test_a_rebuild_after_adding_images_gives_the_files_of_a_cold_one(
    tmp_path, analysis_params, options
):
    folder, shared = write_images(tmp_path / "images", 5), tmp_path / "cache"
    incremental = twice(folder, tmp_path / "a", [shared, shared], analysis_params, options)
    fresh = [tmp_path / "cold-1", tmp_path / "cold-2"]  # nothing to reuse from a cache
    cold = twice(folder, tmp_path / "b", fresh, analysis_params, options)
    made, expected = site_files(incremental), site_files(cold)
    assert sorted(made) == sorted(expected)
    assert [name for name in expected if made[name] != expected[name]] == []
    assert "versions/1/index.html" in made and "images/000-a-first.html" in made
    checked = verify.verify(incremental.parent.parent)  # the report and its earlier version
    assert checked.problems == [] and checked.versions == 1


def test_an_unchanged_image_is_linked_not_rewritten(tmp_path, analysis_params, options):
    """With the default per-image feature components (per-report ones, fitted on a sample of
    the images, change with added images and with them every image's results)."""
    folder = write_images(tmp_path / "images", 5)
    execution = Execution(device="cpu", cache_dir=tmp_path / "cache")
    report = api.build(folder, tmp_path / "site", analysis_params, options, execution)
    names = ("figures/002-img02.webp", explorer.files("002-img02").page, "images/002-img02.html")
    before = {name: (report / name).stat().st_ino for name in names}
    grow(folder)
    api.build(folder, tmp_path / "site", analysis_params, options, execution)
    for name, inode in before.items():
        assert (report / "versions/1" / name).stat().st_ino == inode, name
    # the same files in the new version, where the image is 003 now
    assert (report / "figures/003-img02.webp").stat().st_ino == before[names[0]]
    assert (report / explorer.files("003-img02", maps=True).data).is_file()


def test_a_rebuild_with_another_title_links_the_results_table(
    tmp_path, analysis_params, options, monkeypatch
):
    """...of the version before, which holds the same rows, and builds none (pyarrow imports
    pandas to build one)."""
    folder = write_images(tmp_path / "images", 5)
    execution = Execution(device="cpu", cache_dir=tmp_path / "cache")
    report = api.build(folder, tmp_path / "site", analysis_params, options, execution)
    results = Path(DATA_DIR, table.TABLE_FILE)
    before = (report / results).stat().st_ino
    monkeypatch.setattr(table, "write", lambda *args: pytest.fail("a results table was built"))
    retitled = options.changed(title="Another title")
    api.build(folder, tmp_path / "site", analysis_params, retitled, execution)
    assert (report / "versions/1" / results).stat().st_ino == before
    assert (report / results).stat().st_ino == before
    assert verify.verify(report.parent.parent).problems == []


@pytest.mark.parametrize("pooled", [False, True], ids=["pages-here", "pages-in-workers"])
def test_render_with_another_title_gives_the_files_of_a_cold_build(
    tmp_path, analysis_params, options, pooled, monkeypatch
):
    """Also with the pages rendered in worker processes, as a large report's are."""
    monkeypatch.setattr(pages, "POOLED_IMAGES", 1 if pooled else 10**9)
    folder = write_images(tmp_path / "images", 5)
    execution = Execution(device="cpu", cache_dir=tmp_path / "cache")
    report = api.build(folder, tmp_path / "site", analysis_params, options, execution)
    table = (report / "data/results.parquet").stat().st_ino
    rerender(report, title="Another <i>title</i>", cache_dir=tmp_path / "cache", workers=2)
    assert (report / "data/results.parquet").stat().st_ino == table  # the same rows: kept
    retitled = options.changed(title="Another <i>title</i>")
    fresh = Execution(device="cpu", cache_dir=tmp_path / "fresh-cache")
    cold = api.build(folder, tmp_path / "cold-site", analysis_params, retitled, fresh)
    assert site_files(report) == site_files(cold)
    assert "Another &lt;i&gt;title&lt;/i&gt;" in (report / "images/000-img00.html").read_text()


@pytest.mark.slow
@pytest.mark.parametrize(
    "title",
    [
        "Cats & <b>dogs</b> {{ page.title }} {% include x %} 'single' \"double\"",
        "1. *Bold* _it_ `code` [link](x) \\ {{< shortcode >}} | pipe - ünï ✓ ",
    ],
    ids=["html-liquid", "markdown-hugo"],
)
def test_pages_cached_with_a_slot_for_the_title_read_as_rendered_with_it(
    tmp_path, analysis_params, options, title
):
    """The cache keeps gallery and image pages with a slot where the title goes (a retitled
    report renders none again): filled in, every flavour's pages are the bytes a build without
    the cache renders."""
    options = options.changed(formats=tuple(flavours.BUILT_IN))
    folder = write_images(tmp_path / "images", 5)
    report = api.build(
        folder, tmp_path / "site", analysis_params, options, Execution(cache_dir=tmp_path / "c")
    )
    rerender(report, title=title, cache_dir=tmp_path / "c", workers=0)
    uncached = Execution(cache_dir=tmp_path / "unused", use_cache=False)
    cold = api.build(
        folder, tmp_path / "cold", analysis_params, options.changed(title=title), uncached
    )
    made, expected = site_files(report), site_files(cold)
    assert sorted(made) == sorted(expected) and "images/000-img00.html" in made
    assert [name for name in expected if made[name] != expected[name]] == []
    assert not any(pages.TITLE_SLOT in data for data in made.values())


def test_a_failed_rebuild_leaves_the_site_and_its_files_as_they_were(
    tmp_path, analysis_params, options, monkeypatch
):
    folder = write_images(tmp_path / "images", 5)
    execution = Execution(device="cpu", cache_dir=tmp_path / "cache", workers=0)
    site = tmp_path / "site"
    api.build(folder, site, analysis_params, options, execution)
    before = site_files(site)
    grow(folder)

    def fails(*args, **kwargs):  # late: every reused file is linked by now
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("reportgen.publish.render_job._write_manifest", fails)
    with pytest.raises(ReportgenError, match="nothing was published: the site is as it was"):
        api.build(folder, site, analysis_params, options, execution)
    with pytest.raises(ReportgenError, match="the report is as it was"):
        api.rerender(site / "reports/tiny", title="Another title", cache_dir=tmp_path / "cache")
    assert site_files(site) == before
    assert not [path for path in site.rglob(".reportgen-staging-*")]
    shutil.rmtree(tmp_path / "cache")  # published files do not depend on the cache
    assert site_files(site) == before


def test_a_rebuild_reads_only_the_new_images(tmp_path, analysis_params, options, monkeypatch):
    """An unchanged image is known by its file's identity: its cached result is found unread.
    (With per-image feature components: a per-report basis reads the files it is fitted on,
    and here a new image is one of them, which changes every image's results.)"""
    from reportgen import digests
    from reportgen.analysis.sources import folder as folder_source

    monkeypatch.setattr(digests, "SETTLED_NS", 0)  # the test's images are seconds old
    read = []

    def counted(path):
        read.append(os.path.basename(path))
        return reading(path)

    reading = folder_source.read_file
    monkeypatch.setattr(folder_source, "read_file", counted)
    folder = write_images(tmp_path / "images", 5)
    execution = Execution(device="cpu", cache_dir=tmp_path / "cache")
    params = dataclasses.replace(analysis_params, pca="per-image")
    api.build(folder, tmp_path / "site", params, options, execution)
    grow(folder)
    read.clear()
    api.build(folder, tmp_path / "site", params, options, execution)
    assert sorted(set(read)) == ["a-first.png", "zz-last.png"]
