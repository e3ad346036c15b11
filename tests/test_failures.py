"""Every OS failure is a one-line message (exit 2) naming the path and what to do, and the
published site stays as it was, with no staging folder left behind."""

import errno
import re
import shutil
import signal
import sqlite3
import sys

import pytest
from conftest import site_files, stop_build_half_way, write_images

from reportgen import api, cache, cli, store
from reportgen.analysis.sources import folder as folder_source
from reportgen.publish import pages, staging


@pytest.fixture
def folder(tmp_path):
    return write_images(tmp_path / "images", 4)


@pytest.fixture
def run(folder, tmp_path, tiny_vit_dir, capsys):
    """Run ``reportgen build`` like a user; returns (exit status, the lines it printed)."""

    def run(out=None, *extra, images=None):
        argv = ["build", images or folder, "--out", out or tmp_path / "site", "--slug", "tiny"]
        argv += ["--model", tiny_vit_dir, "--device", "cpu", "--date", "2024-05-24"]
        argv += ["--cache-dir", tmp_path / "cache", *extra]
        capsys.readouterr()
        status = cli.main([str(arg) for arg in argv])
        return status, capsys.readouterr().err.splitlines()

    return run


@pytest.fixture
def published(run, tmp_path):
    """A site with a published report, and its files."""
    out = tmp_path / "site"
    assert run(out, "--format", "gfm")[0] == 0
    return out, site_files(out)


def error_line(lines):
    """The one error line of a failed run (progress lines come before it)."""
    errors = [line for line in lines if line.startswith("reportgen: error: ")]
    assert len(errors) == 1, lines
    assert "Traceback" not in "\n".join(lines)
    return errors[0]


def no_staging_left(out):
    return not list(out.rglob(f"{staging.STAGING_PREFIX}*"))


def test_an_output_that_is_someone_elses_site_is_left_as_it_was(run, tmp_path):
    out = tmp_path / "homepage"
    out.mkdir()
    (out / "index.html").write_text("<h1>My own homepage</h1>")
    status, lines = run(out)
    assert status == 2
    assert lines[-1].startswith(f"reportgen: error: --out {out} is a site whose index.html")
    assert [path.name for path in out.iterdir()] == ["index.html"]  # no .nojekyll, no staging
    assert (out / "index.html").read_text() == "<h1>My own homepage</h1>"


def test_an_output_that_is_a_file(run, tmp_path):
    out = tmp_path / "site.txt"
    out.write_text("not a folder")
    status, lines = run(out)
    assert status == 2
    assert error_line(lines) == (
        f"reportgen: error: {out}: File exists; a file is where a folder is needed: move it, "
        "or use another --out; nothing was published: the site is as it was"
    )
    assert out.read_text() == "not a folder"
    status, lines = run(out / "site")
    assert status == 2 and "Not a directory; a file is where a folder is needed" in error_line(
        lines
    )


def test_an_unwritable_output(run, tmp_path, monkeypatch):
    out = tmp_path / "locked"

    def refused(*args, dir, **kwargs):  # what mkdtemp meets in a folder without write permission
        raise PermissionError(errno.EACCES, "Permission denied", dir)

    monkeypatch.setattr(staging.tempfile, "mkdtemp", refused)
    status, lines = run(out)
    assert status == 2
    assert error_line(lines) == (
        f"reportgen: error: {out}: Permission denied; check its permissions, or use another "
        "--out; nothing was published: the site is as it was"
    )


def test_a_full_disk_part_way_leaves_the_site_unchanged(run, published, monkeypatch):
    out, before = published
    real_write, calls = store.atomic_write, []

    def fills_up(path, data):  # the third file the writer stores finds the disk full
        calls.append(path)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real_write(path, data)

    monkeypatch.setattr(store, "atomic_write", fills_up)
    status, lines = run(out, "--no-cache", "--title", "Another title")
    assert status == 2
    message = error_line(lines)
    assert message.startswith(f"reportgen: error: {calls[2]}: No space left on device; ")
    assert message.endswith(
        "the disk is full: free some space ('reportgen cache prune' frees cache space); "
        "nothing was published: the site is as it was"
    )
    assert site_files(out) == before and no_staging_left(out)


def test_a_read_only_cache(run, tmp_path, published, monkeypatch):
    out, before = published

    class ReadOnly:  # what the lock meets in a cache on a read-only file system
        def __init__(self, *args, **kwargs):
            pass

        def acquire_read(self, *args, **kwargs):
            raise sqlite3.OperationalError("attempt to write a readonly database")

        def close(self):
            pass

    monkeypatch.setattr(cache, "ReadWriteLock", ReadOnly)
    status, lines = run(out, "--title", "Another title")
    assert status == 2
    assert error_line(lines) == (
        f"reportgen: error: cannot use the cache folder {tmp_path / 'cache'} (attempt to write "
        "a readonly database); give a writable one with --cache-dir or REPORTGEN_CACHE_DIR"
    )
    monkeypatch.undo()

    def read_only(self, namespace, key, suffix, payload):  # a cache that became read-only
        path = self.path(namespace, key, suffix)
        raise OSError(errno.EROFS, "Read-only file system", str(path))

    monkeypatch.setattr(store.ContentCache, "put", read_only)
    # --workers 0: the figures are drawn in this process, where the patch is
    status, lines = run(out, "--title", "Another title", "--colormap", "viridis", "--workers", "0")
    assert status == 2
    assert error_line(lines).endswith(
        ": Read-only file system; it is on a read-only file system: use another --cache-dir; "
        "nothing was published: the site is as it was"
    )
    assert site_files(out) == before and no_staging_left(out)


def test_a_missing_cache_folder_is_made(run, tmp_path):
    assert run(None, "--cache-dir", tmp_path / "new" / "cache")[0] == 0
    assert (tmp_path / "new" / "cache" / "results").is_dir()
    shutil.rmtree(tmp_path / "new")
    assert run(None, "--cache-dir", tmp_path / "new" / "cache", "--replace")[0] == 0


def test_an_input_that_vanishes_mid_run(run, published, folder, monkeypatch):
    out, before = published
    real_discover = folder_source.discover

    def then_one_goes(path, recursive):
        found = real_discover(path, recursive)
        found[1].unlink()  # removed after the folder was listed, before it is read
        return found

    monkeypatch.setattr(folder_source, "discover", then_one_goes)
    status, lines = run(out, "--title", "Another title")
    assert status == 2
    assert error_line(lines) == (
        f"reportgen: error: {folder / 'img01.png'} was removed while reportgen ran; run again "
        "once the folder is settled"
    )
    assert site_files(out) == before and no_staging_left(out)


def test_a_failed_index_update_says_the_report_is_published(run, published, monkeypatch):
    out, _ = published

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(out / "index.html"))

    monkeypatch.setattr(pages, "render_index", full)
    status, lines = run(out, "--format", "gfm", "--title", "Another title")
    assert status == 2
    report = out / "reports/tiny"
    assert error_line(lines).endswith(
        f"{report} was published, but the site index was not updated; "
        f"'reportgen render {report}' updates it"
    )
    assert "Another title" in (report / "README.md").read_text()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("signal_number", "whole_group"), [(signal.SIGTERM, False), (signal.SIGINT, True)]
)
def test_a_stopped_build_removes_its_staging_folder_and_says_one_line(
    tmp_path, tiny_vit_dir, published, signal_number, whole_group
):
    """SIGTERM to the build, or Ctrl-C in a terminal (SIGINT to its workers too)."""
    out, before = published
    big = write_images(tmp_path / "big", 300, size=(64, 64), seed=5)
    command = [sys.executable, "-m", "reportgen.cli", "build", big, "--out", out, "--slug"]
    command += ["tiny", "--model", tiny_vit_dir, "--device", "cpu", "--batch-size", "2"]
    command += ["--cache-dir", tmp_path / "cache", "--date", "2024-05-24"]
    status, stderr = stop_build_half_way(command, out, signal_number, whole_group)
    assert status == 130
    assert stderr.strip().splitlines()[-1] == (
        "reportgen: interrupted; published files were left as they were"
    )
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr
    assert no_staging_left(out) and site_files(out) == before


def test_ctrl_c_while_the_command_line_is_read_is_one_line(monkeypatch, capsys):
    """The parser finds the plugins' commands first, which takes a moment."""

    def interrupted():
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "build_parser", interrupted)
    assert cli.main(["verify", "site"]) == 130
    assert capsys.readouterr().err == (
        "reportgen: interrupted; published files were left as they were\n"
    )


@pytest.mark.parametrize("images", ["empty", "missing"])
def test_a_build_whose_inputs_fail_creates_and_starts_nothing(run, tmp_path, monkeypatch, images):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no image here")
    monkeypatch.setattr(api, "open_engine", lambda *args, **kwargs: pytest.fail("engine started"))
    monkeypatch.setattr(api, "ReportBuild", lambda *args, **kwargs: pytest.fail("build staged"))
    status, lines = run(tmp_path / "site", images=tmp_path / images)
    assert status == 2
    assert ("no image files in" if images == "empty" else "not found") in error_line(lines)
    assert not (tmp_path / "site").exists()


@pytest.mark.parametrize("title", [None, "Another title"])
def test_a_build_says_what_the_report_weighs(run, tmp_path, title):
    from reportgen.publish import folders

    status, lines = run(tmp_path / "site")
    if title:  # a rebuild that keeps the first as versions/1: not counted
        status, lines = run(tmp_path / "site", "--title", title)
    assert status == 0
    report = tmp_path / "site" / "reports" / "tiny"
    assert (report / "versions/1").is_dir() == bool(title)
    weight = folders.distinct_bytes(report)
    size, per_image = cache.format_size(weight), cache.format_size(weight // 4)
    assert f"reportgen: report size: {size}, {per_image} per image (distinct files)" in lines
    # the jekyll flavour's figures are links to the report's: counted once
    every_name = sum(
        path.stat().st_size
        for path in report.rglob("*")
        if path.is_file() and path.relative_to(report).parts[0] != "versions"
    )
    assert weight < every_name


def test_a_build_over_the_site_budget_warns_before_publishing(run, tmp_path):
    out = tmp_path / "site"
    assert run(out, "--max-site-size", "1GB")[0] == 0
    status, lines = run(out, "--max-site-size", "10kB", "--slug", "second")
    assert status == 0
    warnings = [line for line in lines if "--max-site-size" in line]
    assert len(warnings) == 1, lines
    warning = warnings[0]
    assert warning.startswith("reportgen: warning: the site will weigh ")
    assert "over --max-site-size 10.0 kB" in warning
    assert "the jekyll flavour (--format)" in warning
    savings = warning.split("; dropping would save: ")[1]  # each names the option that saves it
    saving = r"the [a-z' ]+ \(--[^)]+\) [\d.]+ [kMG]?B"
    assert re.fullmatch(f"{saving}(, {saving})*", savings), savings
    assert "layer rows" not in warning  # no option drops them
    # said before the report was published: the line that says so comes after it
    published = next(i for i, line in enumerate(lines) if line.startswith("reportgen: published"))
    assert lines.index(warning) < published
    assert (out / "reports" / "second" / "index.html").is_file()  # a warning, not a refusal


def damage(path):
    """Write over a record file in place, as a failing disk would: a hard link to it (the
    cache's copy, or the report's) is damaged too."""
    with path.open("r+b") as stream:
        stream.truncate(0)
        stream.write(b"garbage")


def test_a_damaged_maps_file_is_named_by_render(published, capsys):
    out, _ = published
    report = out / "reports" / "tiny"
    maps = sorted((report / "data" / "maps").iterdir())[0]
    damage(maps)
    for workers in ("0", "2"):
        assert cli.main(["render", str(report), "--colormap", "magma", "--workers", workers]) == 2
        assert error_line(capsys.readouterr().err.splitlines()) == (
            f"reportgen: error: {maps}: damaged, it does not read (not an .npz file); "
            "build the report again"
        )
    assert no_staging_left(out)


def test_a_damaged_cached_record_is_named_by_build(published, run, tmp_path):
    out, files = published
    for entry in (tmp_path / "cache" / "results").rglob("*.npz"):
        damage(entry)
    status, lines = run(tmp_path / "other", "--format", "gfm", "--replace")
    assert status == 2
    line = error_line(lines)
    assert line.startswith("reportgen: error: data/maps/") and "(not an .npz file)" in line
    assert line.endswith(
        "it is the cache's copy: build with --no-cache, or empty the cache "
        "('reportgen cache prune --max-size 0')"
    )
    assert no_staging_left(tmp_path / "other")


@pytest.mark.parametrize(
    ("file", "content", "problem"),
    [
        ("results.json", b'{"table": "results.parquet"', "its results.json is not JSON ("),
        (
            "results.json",
            b'{"table": "results.parquet"}',
            'not a reportgen results file: no "skipped"',
        ),
        (
            "results.json",
            b"[1]",
            "its results.json is not a reportgen results file: not a JSON object",
        ),
        ("results.parquet", b"not a table", "its results.parquet is damaged (Parquet magic bytes"),
    ],
)
def test_a_damaged_results_file_is_named_by_render_in_the_report(
    published, capsys, file, content, problem
):
    """One line that names the report's data folder, not the staged copy it was read from."""
    out, files = published
    report = out / "reports" / "tiny"
    (report / "data" / file).unlink()  # not written through: a hard link of the cache's
    (report / "data" / file).write_bytes(content)
    assert cli.main(["render", str(report)]) == 2
    line = error_line(capsys.readouterr().err.splitlines())
    assert line.startswith(
        f"reportgen: error: {report / 'data'} is not a reportgen results folder: "
    )
    assert problem in line
    assert no_staging_left(out)
