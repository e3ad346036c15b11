"""Staging, atomic publishing and the site's lock: two builds into one site take turns."""

import json
import re
import subprocess
import sys
import time

import pytest
from conftest import write_images

from reportgen.publish import staging


def test_publish_swaps_a_report_in_whole(tmp_path):
    target = tmp_path / "reports" / "cats"
    for text in ("first", "second"):
        with staging.Staging(tmp_path) as stage:
            (stage.report / "index.html").write_text(text)
            staging.publish(stage.report, target)
        assert (target / "index.html").read_text() == text
    assert [path.name for path in tmp_path.iterdir()] == ["reports"]  # no staging left


def _published_with_versions(site):
    """A published report with two earlier versions, and a new one staged by a build whose
    process is gone (a killed one's staging folder)."""
    target = site / "reports/cats"
    for folder in ("", "versions/1/", "versions/2/"):
        (target / folder).mkdir(parents=True, exist_ok=True)
        (target / f"{folder}manifest.json").write_text(f"old {folder}")
    ended = subprocess.Popen([sys.executable, "-c", ""])
    ended.wait()
    staged = site / f"{staging.STAGING_PREFIX}{ended.pid}-x1y2/report"
    (staged / "versions/3").mkdir(parents=True)
    (staged / "manifest.json").write_text("new")
    return target, staged


def _inodes(folder):
    """The inodes of ``folder`` and of all below it: a folder moved keeps them all."""
    return {path.relative_to(folder): path.stat().st_ino for path in [folder, *folder.rglob("*")]}


def test_publish_moves_the_kept_versions_over_from_the_report_it_replaces(tmp_path):
    """Not a file linked: the folders themselves change reports, in one rename each."""
    target, staged = _published_with_versions(tmp_path)
    kept = {folder: _inodes(target / folder) for folder in ("versions/1", "versions/2")}
    staging.publish(staged, target, ["versions/1", "versions/2"])
    assert (target / "manifest.json").read_text() == "new"
    assert sorted(path.name for path in (target / "versions").iterdir()) == ["1", "2", "3"]
    assert {folder: _inodes(target / folder) for folder in kept} == kept
    assert not staged.parent.exists() or not list(staged.parent.iterdir())


class Killed(BaseException):
    """Stands for SIGKILL: nothing after it runs (the test does not let the staging clean up)."""


def test_versions_left_by_a_build_killed_while_publishing_are_moved_back(tmp_path, monkeypatch):
    """Killed between the swap and the moves: the new report is published without its earlier
    versions, which sit in the staging folder; nothing deletes that folder but the next holder
    of the site's lock, which moves them back first."""
    target, staged = _published_with_versions(tmp_path)
    carry = staging._carry
    monkeypatch.setattr(staging, "_carry", lambda *args: (_ for _ in ()).throw(Killed()))
    with pytest.raises(Killed):
        staging.publish(staged, target, ["versions/1", "versions/2"])
    monkeypatch.setattr(staging, "_carry", carry)
    assert (target / "manifest.json").read_text() == "new"
    assert not (target / "versions/1").exists()
    staging.remove_stale_staging(tmp_path)  # what a build does first, without the lock
    assert (staged / "versions/1/manifest.json").read_text() == "old versions/1/"
    said = []
    with staging.site_lock(tmp_path, said.append):
        assert (target / "versions/1/manifest.json").read_text() == "old versions/1/"
        assert (target / "versions/2/manifest.json").read_text() == "old versions/2/"
    assert said == [
        f"moved reports/cats/versions/{n} back into its report (a build stopped while "
        "publishing left it)"
        for n in (1, 2)
    ]
    assert not staged.parent.exists()


_FAILING_PUBLISH = """
import sys
from pathlib import Path
from reportgen.errors import ReportgenError
from reportgen.publish import staging

def fails(*args):
    raise OSError(5, "Input/output error")

staging._carry = fails
site = Path(sys.argv[1])
try:
    with staging.Staging(site) as stage:
        (stage.report / "manifest.json").write_text("new")
        staging.publish(stage.report, site / "reports/cats", ["versions/1"])
except ReportgenError as error:
    print(error)
"""


def _python(code, *arguments):
    command = [sys.executable, "-c", code, *map(str, arguments)]
    return subprocess.run(command, text=True, capture_output=True, check=True).stdout


def test_an_error_while_publishing_leaves_the_versions_for_the_next_command(tmp_path):
    """An error between the swap and the moves says the report is published; the staging folder
    stays (moving them as the command ends, when it may hold the site's lock no longer, could
    race another build), and the next command to take the lock moves them in."""
    target = tmp_path / "reports/cats"
    (target / "versions/1").mkdir(parents=True)
    (target / "manifest.json").write_text("old")
    said = _python(_FAILING_PUBLISH, tmp_path)
    assert f"; {target} was published, but not yet the earlier versions it keeps: the next" in said
    assert (target / "manifest.json").read_text() == "new"
    assert not (target / "versions/1").exists()
    [left] = tmp_path.glob(f"{staging.STAGING_PREFIX}*")
    assert (left / "report/versions/1").is_dir()
    lock = "import sys; from pathlib import Path; from reportgen.publish import staging\n"
    lock += "with staging.site_lock(Path(sys.argv[1]), print): pass"
    assert _python(lock, tmp_path).startswith("moved reports/cats/versions/1 back into its report")
    assert (target / "versions/1").is_dir() and not left.exists()


def test_site_of_a_report_and_of_its_earlier_versions(tmp_path):
    site = tmp_path / "site"
    (site / "reports/cats/versions/2").mkdir(parents=True)
    assert staging.site_of(site / "reports/cats") == site.resolve()
    assert staging.site_of(site / "reports/cats/versions/2") == site.resolve()
    assert staging.site_of(tmp_path / "loose-report") is None


def test_the_lock_is_one_holder_at_a_time_and_says_when_it_waits(tmp_path):
    """A second process asking for a held lock says so and waits until it is released."""
    waiter = [
        sys.executable,
        "-c",
        "import sys; from pathlib import Path; from reportgen.publish import staging\n"
        "with staging.site_lock(Path(sys.argv[1]), print): print('acquired', flush=True)",
        str(tmp_path),
    ]
    with staging.site_lock(tmp_path, lambda message: None):
        process = subprocess.Popen(waiter, stdout=subprocess.PIPE, text=True)
        assert process.stdout.readline().startswith("waiting for another build or re-render")
        time.sleep(0.5)
        assert process.poll() is None  # still waiting
    assert process.communicate(timeout=30)[0] == "acquired\n"
    assert list(tmp_path.iterdir()) == []  # the lock leaves no file in the site


def test_two_builds_into_one_slug_at_the_same_time_both_publish(tmp_path, tiny_vit_dir):
    """Both builds run while the site is locked, so both reach publishing before either can: the
    one that gets the lock first is version 1, the other keeps it and publishes version 2."""
    out, cache = tmp_path / "site", tmp_path / "cache"
    out.mkdir()
    logs = [tmp_path / "first.log", tmp_path / "second.log"]
    processes = []
    with staging.site_lock(out):
        for number, log in enumerate(logs):
            images = write_images(tmp_path / f"images-{number}", 3 + number, seed=number)
            command = [sys.executable, "-m", "reportgen.cli", "build", images, "--out", out]
            command += ["--model", tiny_vit_dir, "--device", "cpu", "--cache-dir", cache]
            command += ["--slug", "cats", "--format", "html", "--workers", "0"]
            with log.open("w") as stream:
                processes.append(subprocess.Popen([str(part) for part in command], stderr=stream))
        deadline = time.monotonic() + 300
        while not all("waiting for another build" in log.read_text() for log in logs):
            assert all(process.poll() is None for process in processes), _text(logs)
            assert time.monotonic() < deadline, _text(logs)
            time.sleep(0.1)
    assert [process.wait(timeout=300) for process in processes] == [0, 0], _text(logs)

    said = sorted(re.search(r"as version (\d)", log.read_text()).group(1) for log in logs)
    assert said == ["1", "2"]
    report = out / "reports/cats"
    manifest = json.loads((report / "manifest.json").read_text())
    kept = json.loads((report / "versions/1/manifest.json").read_text())
    assert (manifest["version"], kept["version"]) == (2, 1)
    assert {len(manifest["inputs"]["images"]), len(kept["inputs"]["images"])} == {3, 4}
    index = (out / "index.html").read_text()
    assert 'href="reports/cats/index.html"' in index and "version 2 (2 versions kept)" in index
    assert not list(out.rglob(f"{staging.STAGING_PREFIX}*"))


def _text(logs):
    return "\n".join(log.read_text() for log in logs)
