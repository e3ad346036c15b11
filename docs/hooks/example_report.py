"""MkDocs hook: the docs show the example report through reportgen's own ``mkdocs`` flavour.

At each build the committed example report (``site/reports/example``) is copied to a temporary
folder and re-rendered there by ``reportgen render --format mkdocs``, from its stored data and
without the model; the pages and images it writes join the docs as ``example/``. The committed
site is left as it is, and the pages are always those the current code writes.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

from reportgen.cli import main as reportgen

SLUG = "example"
_work: tempfile.TemporaryDirectory | None = None


def on_files(files: Files, config: MkDocsConfig) -> Files:
    global _work
    _work = tempfile.TemporaryDirectory(prefix="reportgen-docs-")
    work = Path(_work.name)
    report = work / SLUG
    shutil.copytree(Path(config.config_file_path).parent / "site" / "reports" / SLUG, report)
    cache = work / "cache"  # the figures are in the report: nothing is drawn again
    status = reportgen(["render", str(report), "--format", "mkdocs", "--cache-dir", str(cache)])
    if status:
        raise PluginError(f"reportgen render of the example report failed (status {status})")
    pages = report / "mkdocs"
    for path in sorted((pages / SLUG).rglob("*")):
        if path.is_file():
            uri = path.relative_to(pages).as_posix()
            files.append(File(uri, str(pages), config.site_dir, config.use_directory_urls))
    return files


def on_post_build(config: MkDocsConfig) -> None:
    if _work is not None:
        _work.cleanup()
