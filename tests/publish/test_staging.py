"""Staging, atomic publishing and the site's lock: two builds into one site take turns."""

import json
import re
import subprocess
import sys
import time

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
