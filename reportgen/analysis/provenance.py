"""What ran an analysis, for its manifest: the versions of the libraries that shape the results
and the commit of reportgen's checkout."""

from __future__ import annotations

import platform
import subprocess
from pathlib import Path

from reportgen import __version__


def library_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    versions = {"python": platform.python_version(), "reportgen": __version__}
    for package in ("torch", "transformers", "numpy", "Pillow"):
        try:
            versions[package.lower()] = version(package)
        except PackageNotFoundError:
            versions[package.lower()] = "not installed"
    return versions


def reportgen_commit() -> str | None:
    """Git commit of the reportgen source when it runs from a checkout, with ``-dirty`` when
    the package or its templates have uncommitted changes (as ``git describe --dirty``)."""
    source = Path(__file__).resolve().parents[2]
    if not (source / ".git").exists():
        return None

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(source), *args],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = git("status", "--porcelain", "--", "reportgen", "templates")
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{commit}-dirty" if commit and dirty else commit or None
