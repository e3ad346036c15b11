"""Where things are in a report, and what it weighs (no model)."""

import os

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
