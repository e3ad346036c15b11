"""The site index, from the manifests of the published reports (no model)."""

import shutil
from dataclasses import replace

from conftest import FIXTURE

from reportgen.manifest import ReportManifest
from reportgen.publish import index


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
