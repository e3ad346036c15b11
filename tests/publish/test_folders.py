"""Where things are in a report, and what it weighs (no model)."""

import os

import pytest

from reportgen.errors import ReportgenError
from reportgen.publish import folders


def test_a_report_weighs_its_distinct_files_without_its_earlier_versions(tmp_path):
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "a.webp").write_bytes(b"x" * 1000)
    (tmp_path / "jekyll").mkdir()
    os.link(tmp_path / "figures" / "a.webp", tmp_path / "jekyll" / "a.webp")
    (tmp_path / "index.html").write_bytes(b"y" * 300)
    (tmp_path / folders.MANIFEST_FILE).write_bytes(b"{}\n")
    (tmp_path / folders.VERSIONS_DIR / "1").mkdir(parents=True)
    (tmp_path / folders.VERSIONS_DIR / "1" / "index.html").write_bytes(b"z" * 5000)
    assert folders.distinct_bytes(tmp_path) == 1000 + 300 + 3


def test_hashes_come_from_the_manifest_unless_a_file_changed_after_it(tmp_path):
    from reportgen import digests

    for name in ("kept.html", "edited.html"):
        (tmp_path / name).write_text(name)
    (tmp_path / folders.MANIFEST_FILE).write_text("{}\n")
    written = (tmp_path / folders.MANIFEST_FILE).stat().st_mtime_ns
    os.utime(tmp_path / "edited.html", ns=(written + 10**9, written + 10**9))  # edited since
    recorded = {"kept.html": "a" * 64, "edited.html": "b" * 64, "gone.html": "c" * 64}
    folders.remember_hashes(tmp_path, recorded)
    linked = tmp_path / "version" / "kept.html"  # a later version's link to the same file
    linked.parent.mkdir()
    os.link(tmp_path / "kept.html", linked)
    assert folders.file_hashes(tmp_path / "version") == {"kept.html": "a" * 64}
    assert folders.file_hashes(tmp_path)["edited.html"] == digests.sha256_of(
        tmp_path / "edited.html"
    )


@pytest.mark.parametrize(
    ("name", "text", "said"),
    [
        ("index.html", "<!DOCTYPE html><title>My homepage</title>", "index.html reportgen did not"),
        ("_config.yml", "title: My blog\n", "a Jekyll site"),
        ("hugo.toml", "title = 'My site'\n", "a Hugo site"),
        ("mkdocs.yml", "site_name: My docs\n", "an MkDocs project"),
    ],
)
def test_someone_elses_site_is_not_a_site_to_publish_into(tmp_path, name, text, said):
    (tmp_path / name).write_text(text)
    with pytest.raises(ReportgenError, match=f"--out {tmp_path} is .*{said}"):
        folders.refuse_foreign_site(tmp_path)


@pytest.mark.parametrize(
    "index",
    [
        None,
        '<!DOCTYPE html><meta name="generator" content="reportgen"><title>Mine</title>',
        "<!DOCTYPE html><title>Vision Transformer attention reports</title>",  # earlier indexes
        "<!DOCTYPE html><title>A custom index template</title>",  # in a site with a report
    ],
)
def test_a_reportgen_site_or_a_new_folder_is_one(tmp_path, index):
    if index is not None:
        (tmp_path / "index.html").write_text(index)
    if index and "custom" in index:
        report = tmp_path / folders.REPORTS_DIR / "cats"
        report.mkdir(parents=True)
        (report / folders.MANIFEST_FILE).write_text("{}\n")
    folders.refuse_foreign_site(tmp_path)
    folders.refuse_foreign_site(tmp_path / "not-yet")
