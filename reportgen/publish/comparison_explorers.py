"""Each run's attention explorer of every image in common, carried into a comparison's folder
for the flavours whose pages are published away from the runs (jekyll, hugo, mkdocs, distill).

Run K's explorer of an image (its page, the data the page loads and the run's shared scripts)
is linked, not copied, to ``runs/K/`` with the run's own paths below it (``explorer/<id>.html``
...), so the page works there as it does in the run; the flavour's layout places these files
with the comparison's images, and its image pages frame them wherever the comparison is
published. The html and gfm pages, which stand in the site beside the runs, link the runs' own
explorers instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from reportgen import store
from reportgen.publish import explorer
from reportgen.publish.comparison import Comparison, Run
from reportgen.publish.folders import remember_hashes
from reportgen.publish.page_model import ExplorerFiles

RUNS_DIR = "runs"


@dataclass(frozen=True)
class Carried:
    """The explorers carried: per image (by its id in the first run) each run's page as
    (label, file), and every file, relative to the comparison's folder."""

    pages: dict[str, tuple[tuple[str, str], ...]]
    files: tuple[str, ...]


NONE = Carried({}, ())


def run_explorer(run: Run, image_id: str) -> ExplorerFiles | None:
    """The run's explorer of an image, relative to its folder (its data a script, or the maps
    file with ``--explorer-data maps``); None where the run lacks a file of it (reports from
    before explorer pages)."""
    maps = run.manifest.report.get("explorer_data") == "maps"
    files = explorer.files(image_id, maps)
    needed = (files.page, files.data, files.script, files.colormaps)
    return files if all((run.folder / name).is_file() for name in needed) else None


def carry(comparison: Comparison, folder: Path) -> Carried:
    """Link each run's explorer of every image in common into ``folder``/runs/K/; their
    digests are taken from the runs' manifests, so the comparison's manifest reads none."""
    pages: dict[str, list[tuple[str, str]]] = {row.ids[0]: [] for row in comparison.images}
    carried: list[str] = []
    for number, run in enumerate(comparison.runs, start=1):
        prefix = f"{RUNS_DIR}/{number}/"
        files: dict[str, None] = {}
        for row in comparison.images:
            found = run_explorer(run, row.ids[number - 1])
            if found is not None:  # and the page's stylesheet (runs before it inline the rules)
                wanted = (found.page, found.data, found.script, found.colormaps, found.style)
                files.update(dict.fromkeys(f for f in wanted if (run.folder / f).is_file()))
                pages[row.ids[0]].append((run.label, prefix + found.page))
        known = run.manifest.files
        remember_hashes(run.folder, {name: known[name] for name in files if name in known})
        for name in files:
            store.link_or_copy(run.folder / name, folder / (prefix + name))
        carried += [prefix + name for name in files]
    return Carried({image: tuple(runs) for image, runs in pages.items()}, tuple(carried))
