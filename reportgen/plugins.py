"""Third-party flavours, map methods and input sources, found by entry point.

A package adds one by declaring an entry point in one of the groups below (``FLAVOURS``,
``METHODS``, ``SOURCES``), the way MkDocs and pytest find their plugins::

    [project.entry-points."reportgen.flavours"]
    slides = "reportgen_slides:SlidesFlavour"

The entry point's name is the one users choose it by; the object it points to is what the
registry holds. A plugin that fails to import, that the registry refuses, or whose name is
already taken is left out with a one-line warning naming it, and the run goes on without it.
"""

from __future__ import annotations

import importlib.metadata
import logging
from collections.abc import Callable, Iterable
from typing import Any

FLAVOURS = "reportgen.flavours"
METHODS = "reportgen.methods"
SOURCES = "reportgen.sources"

log = logging.getLogger(__name__)


def _describe(entry: importlib.metadata.EntryPoint) -> str:
    package = f", package {entry.dist.name}" if entry.dist is not None else ""
    return f"plugin {entry.name!r} ({entry.group} {entry.value}{package})"


def discover(
    group: str, taken: Iterable[str], check: Callable[[str, Any], Any] | None = None
) -> dict[str, Any]:
    """The plugins of entry point ``group``, by name: each entry point loaded and, when given,
    passed through ``check(name, loaded)``, whose result is kept (it raises to refuse one).
    Names in ``taken`` (the built-in ones) and names met twice are left out with a warning."""
    found: dict[str, Any] = {}
    taken = set(taken)
    for entry in importlib.metadata.entry_points(group=group):
        if entry.name in taken or entry.name in found:
            log.warning(
                "reportgen: warning: %s left out: the name is already taken", _describe(entry)
            )
            continue
        try:
            loaded = entry.load()
            found[entry.name] = check(entry.name, loaded) if check else loaded
        except Exception as error:  # a plugin's failure must not stop the run
            reason = " ".join(str(error).split()) or type(error).__name__
            log.warning("reportgen: warning: %s left out: %s", _describe(entry), reason)
    return found
