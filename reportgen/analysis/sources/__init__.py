"""Input sources: where a report's images come from.

Every source implements :class:`~reportgen.analysis.sources.base.Source`; the engines read the
items it yields and nothing downstream knows which source it was. A new source is a module here
and one line in ``SOURCES``, or a plugin package's ``reportgen.sources`` entry point naming its
Source subclass (found once, when a source is first looked up).
"""

from __future__ import annotations

import argparse
import functools
from pathlib import Path
from typing import Any

from reportgen import plugins
from reportgen.analysis.sources.base import Source
from reportgen.analysis.sources.csv_file import CsvSource
from reportgen.analysis.sources.dataset import DatasetSource
from reportgen.analysis.sources.folder import FolderSource
from reportgen.analysis.sources.shards import ShardsSource
from reportgen.errors import ReportgenError

SOURCES: dict[str, type[Source]] = {
    source.kind: source for source in (FolderSource, CsvSource, DatasetSource, ShardsSource)
}


def _check(name: str, loaded: Any) -> type[Source]:
    if not (isinstance(loaded, type) and issubclass(loaded, Source)):
        raise TypeError(f"{loaded!r} is not a subclass of reportgen's Source")
    return loaded


@functools.cache
def registry() -> dict[str, type[Source]]:
    """The built-in sources and those of installed plugins, by name."""
    return {**SOURCES, **plugins.discover(plugins.SOURCES, taken=SOURCES, check=_check)}


def open_source(kind: str, location: str, args: argparse.Namespace | None = None) -> Source:
    """The source of kind ``kind`` (a registry name) at ``location``, shaped by its own options
    in ``args`` where they are given (``--source folder IMAGES --recursive``)."""
    found = registry()
    if kind not in found:
        raise ReportgenError(f"unknown source {kind!r}; choose from {', '.join(found)}")
    if args is None:
        return found[kind].open(location)
    others = [
        other
        for other, asked in _asked(location, args).items()
        if other != kind and (other != FolderSource.kind or asked.recursive)
    ]
    if others:
        raise ReportgenError(
            f"--source {kind} reads IMAGES itself; drop the options of the "
            f"{' and '.join(others)} source, or leave out --source"
        )
    shaped = found[kind].from_options(location, args)
    return shaped if shaped is not None else found[kind].open(location)


def _asked(images: str | None, args: argparse.Namespace) -> dict[str, Source]:
    """The sources ``args`` ask for, by kind; the folder's whenever IMAGES is given (it is
    recursive where its own options ask for it: --recursive, --labels-from-folders)."""
    return {
        kind: found
        for kind, source_class in registry().items()
        if (found := source_class.from_options(images, args)) is not None
    }


def from_options(images: str | None, args: argparse.Namespace) -> Source:
    """The one source the command-line options ask for. IMAGES alone is a folder; with another
    source's option it is where that source's relative paths start, unless the folder's own
    options (--recursive...) ask for the folder too, which is one source too many."""
    asked = _asked(images, args)
    folder = asked.pop(FolderSource.kind, None)
    if folder is not None and (not asked or folder.recursive):
        asked = {FolderSource.kind: folder, **asked}
    if len(asked) > 1:
        raise ReportgenError(f"give one input source, not {' and '.join(asked)}")
    if not asked:
        raise ReportgenError("give the images: a folder, or an input source's option")
    if FolderSource.kind in asked and (args.image_column or args.label_column):
        raise ReportgenError(
            "--image-column and --label-column name the columns of a table (--labels, "
            "--dataset, --shards); a folder has none"
        )
    return next(iter(asked.values()))


def as_source(inputs: Source | Path | str) -> Source:
    """``inputs`` as a source: a source as it is, a path as the folder source."""
    return inputs if isinstance(inputs, Source) else FolderSource(Path(inputs))
