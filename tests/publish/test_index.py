"""The site index, from the manifests of the published reports; the links to each report's
other flavours, and the distill zip they link, from a report built in every flavour (a tiny
model)."""

import html
import re
import shutil
import zipfile
from dataclasses import replace

import pytest
from conftest import FIXTURE, write_images

from reportgen import api
from reportgen.manifest import ReportManifest
from reportgen.publish import distill_check, flavours, index
from reportgen.publish.flavours.distill import DistillOptions
from reportgen.publish.options import ReportOptions, parse_date
from reportgen.publish.verify import verify


def published(site, slug, *versions):
    """The 0.1.0 fixture published under ``slug``, with copies of it as earlier versions."""
    report = site / "reports" / slug
    shutil.copytree(FIXTURE, report)
    for number in versions:
        folder = report / "versions" / str(number)
        shutil.copytree(FIXTURE, folder)
        replace(ReportManifest.read(folder), version=number, archived=True).write(folder)
    return report


def test_history_lists_the_readable_earlier_versions_newest_first(tmp_path):
    report = published(tmp_path, "cats", 2, 10)
    (report / "versions/11").mkdir()  # no manifest: left out (verify reports it)
    entries = index.history(report)
    assert [(entry.number, entry.folder) for entry in entries] == [
        (10, "versions/10"),
        (2, "versions/2"),
    ]
    assert {entry.n_images for entry in entries} == {
        len(ReportManifest.read(FIXTURE).analysis.inputs.images)
    }


def test_the_index_lists_each_report_with_its_versions(tmp_path):
    published(tmp_path, "cats", 1)
    published(tmp_path, "dogs")
    (tmp_path / "reports" / "notes").mkdir()  # not a report: left out
    page = index.update_index(tmp_path).read_text()
    assert 'href="reports/cats/index.html"' in page and 'href="reports/dogs/index.html"' in page
    assert "notes" not in page
    assert page.count("(2 versions kept)") == 1
    assert 'src="reports/cats/thumbnail.webp"' in page
    assert (tmp_path / ".nojekyll").is_file()
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        ".nojekyll",
        "index.html",
        "reports",
    ]


ALL_FORMATS = ("html", "jekyll", "gfm", "distill", "hugo", "mkdocs")


@pytest.fixture(scope="module")
def two_sites(tmp_path_factory, tiny_vit_dir):
    """The same report built twice, in every built-in flavour, into two sites."""
    root = tmp_path_factory.mktemp("flavours")
    images = write_images(root / "images", 3)
    params = api.AnalysisParams(model=str(tiny_vit_dir))
    options = ReportOptions(
        slug="tiny",
        date=parse_date("2024-05-24"),
        formats=ALL_FORMATS,
        flavour_options={"distill": DistillOptions(post_date="2026-04-27")},
    )
    for site in ("a", "b"):
        api.build(images, root / site, params, options, api.Execution(device="cpu"))
    return root / "a", root / "b"


def test_the_index_links_every_other_flavour_of_a_report(two_sites):
    site = two_sites[0]
    page = (site / "index.html").read_text()
    (line,) = re.findall(r'<span class="meta flavours">Also as: (.*?)</span>', page)
    links = re.findall(r'<a href="([^"]+)">([^<]+)</a>', line)
    described = {flavours.get(name).description for name in ALL_FORMATS if name != "html"}
    assert {html.unescape(text).removesuffix(" (zip)") for _, text in links} == described
    for href, _ in links:
        assert (site / html.unescape(href)).is_file(), href
    assert "reports/tiny/distill-2026-04-27-tiny.zip" in dict(links)
    assert 'href="reports/tiny/index.html"' in page.split('class="meta flavours"')[0]
    assert verify(site).problems == []


def test_the_distill_zip_holds_the_distill_folder_and_builds_the_same_twice(two_sites):
    first, second = (site / "reports/tiny/distill-2026-04-27-tiny.zip" for site in two_sites)
    folder = two_sites[0] / "reports/tiny/distill"
    with zipfile.ZipFile(first) as archive:
        names = archive.namelist()
        assert names == sorted(folder_files(folder))
        for name in names:
            assert archive.read(name) == (folder / name).read_bytes(), name
            assert archive.getinfo(name).date_time == (1980, 1, 1, 0, 0, 0)
    assert distill_check.check_folder(folder)[1] == []
    assert first.read_bytes() == second.read_bytes()


def test_a_report_in_one_flavour_shows_no_other_flavours(tmp_path):
    report = published(tmp_path, "cats")
    manifest = ReportManifest.read(report)
    replace(manifest, report={**manifest.report, "formats": ["html"]}).write(report)
    page = index.update_index(tmp_path).read_text()
    assert 'href="reports/cats/index.html"' in page and "Also as" not in page


def folder_files(folder):
    return [p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()]
