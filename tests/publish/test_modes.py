"""Published files get the modes the user's umask gives new files and folders, so a web server
running as another user, or a copy made with ``rsync -a``, can read every one of them."""

import os
import pwd
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import write_images


def build(images, out, cache, model, umask, *extra):
    """``reportgen build`` in a process of its own running under ``umask``."""
    command = [sys.executable, "-m", "reportgen.cli", "build", images, "--out", out]
    command += ["--model", model, "--device", "cpu", "--date", "2024-05-24", "--slug", "tiny"]
    command += ["--cache-dir", cache, "--gallery-threshold", "4", "--page-size", "3", *extra]
    result = subprocess.run(
        [str(part) for part in command],
        capture_output=True,
        text=True,
        preexec_fn=lambda: os.umask(umask),
        timeout=300,
    )
    assert result.returncode == 0, result.stderr


def wrong_modes(root: Path, umask: int, private: tuple[str, ...] = ()) -> list[str]:
    """Every file or folder below ``root`` whose mode is not the one ``umask`` gives, but those
    whose relative path starts with one of ``private``."""
    wrong = []
    for path in [root, *root.rglob("*")]:
        if path.relative_to(root).as_posix().startswith(private):
            continue
        mode = path.lstat().st_mode
        if stat.S_ISLNK(mode):
            continue
        expected = (0o777 if stat.S_ISDIR(mode) else 0o666) & ~umask
        if stat.S_IMODE(mode) != expected:
            wrong.append(f"{path.relative_to(root)} {oct(stat.S_IMODE(mode))}")
    return wrong


@pytest.mark.slow
@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_every_published_and_cached_file_has_the_umask_mode(tmp_path, tiny_vit_dir, umask):
    images = write_images(tmp_path / "images", 6)
    out, cache = tmp_path / "site", tmp_path / "cache"
    build(images, out, cache, tiny_vit_dir, umask)
    build(images, out, cache, tiny_vit_dir, umask, "--title", "Again")  # from the cache: links
    assert (out / "reports" / "tiny" / "versions").is_dir()
    assert wrong_modes(out, umask) == []
    # Jinja2 keeps its compiled templates owner-only on purpose; the lock file is filelock's
    assert wrong_modes(cache, umask, private=("templates/", ".lock")) == []


def test_a_cache_file_of_an_earlier_version_is_made_readable_when_linked(tmp_path):
    from reportgen import store

    cached = tmp_path / "cache" / "figure.webp"
    cached.parent.mkdir()
    cached.write_bytes(b"figure")
    cached.chmod(0o600)  # as reportgen 0.2 left its cache files
    store.link_or_copy(cached, tmp_path / "report" / "figure.webp")
    assert stat.S_IMODE((tmp_path / "report" / "figure.webp").stat().st_mode) == store.file_mode()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def status_of(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


# the server runs as nobody, who cannot read a Python below /root (pyenv's, the venv's)
SYSTEM_PYTHON = "/usr/bin/python3"


@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0, reason="serving as another user needs root")
@pytest.mark.skipif(not os.access(SYSTEM_PYTHON, os.X_OK), reason="no system Python to serve")
def test_a_server_running_as_nobody_serves_every_file(tiny_vit_dir):
    nobody = pwd.getpwnam("nobody")
    root = Path(tempfile.mkdtemp(prefix="reportgen-served-"))  # not below pytest's 0700 folder
    try:
        root.chmod(0o755)
        images = write_images(root / "images", 6)
        out = root / "site"
        build(images, out, root / "cache", tiny_vit_dir, 0o022)
        port = free_port()

        def as_nobody():
            os.setgid(nobody.pw_gid)
            os.setgroups([])
            os.setuid(nobody.pw_uid)

        command = [SYSTEM_PYTHON, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
        server = subprocess.Popen(
            command + ["--directory", str(out)],
            preexec_fn=as_nobody,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    assert time.monotonic() < deadline, "the server did not start"
                    time.sleep(0.1)
            files = [path for path in out.rglob("*") if path.is_file()]
            assert len(files) > 50
            statuses = {
                path.relative_to(out).as_posix(): status_of(
                    f"http://127.0.0.1:{port}/"
                    + urllib.request.pathname2url(path.relative_to(out).as_posix())
                )
                for path in files
            }
            assert {name: code for name, code in statuses.items() if code != 200} == {}
        finally:
            server.terminate()
            server.wait(timeout=10)
    finally:
        shutil.rmtree(root, ignore_errors=True)
