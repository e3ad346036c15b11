"""Engines: what runs the images through the model into the results store.

Every engine implements :class:`~reportgen.analysis.engines.base.Engine` with the steps of
:mod:`~reportgen.analysis.engines.base`; nothing downstream (maps, levels, pages) knows which
one ran. A new engine is a module here and one line in ``ENGINES``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import Any

from reportgen.analysis.engines.base import Engine
from reportgen.errors import ReportgenError
from reportgen.results import AnalysisOptions

# --engine name -> (module below this package, its Engine subclass); imported when chosen, so
# an optional engine's dependencies are needed only by those who use it
ENGINES = {"local": ("local", "LocalEngine"), "ray": ("ray", "RayEngine")}


def open_engine(options: AnalysisOptions, warm_up: Sequence[Callable[[], Any]] = ()) -> Engine:
    """The engine ``options.engine`` names, started (see :meth:`Engine.open`)."""
    if options.engine not in ENGINES:
        raise ReportgenError(f"unknown engine {options.engine!r}; choose from {', '.join(ENGINES)}")
    module, name = ENGINES[options.engine]
    engine_class = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    return engine_class.open(options, warm_up)
