"""Engines: what runs the images through the model into the results store.

Every engine implements :class:`~reportgen.analysis.engines.base.Engine` with the steps of
:mod:`~reportgen.analysis.engines.base`; nothing downstream (maps, levels, pages) knows which
one ran. A new engine is a module here and one line in ``ENGINES``.
"""

from __future__ import annotations

import importlib

from reportgen.analysis.engines.base import Engine
from reportgen.errors import ReportgenError
from reportgen.results import AnalysisOptions

# name -> (module below this package, factory taking AnalysisOptions)
ENGINES = {"local": ("local", "LocalEngine"), "ray": ("ray", "RayEngine")}


def open_engine(options: AnalysisOptions, warm_up=()) -> Engine:
    """The engine ``options.engine`` names, started; ``warm_up`` functions run in each of its
    worker processes when they start (imports, tables)."""
    if options.engine not in ENGINES:
        raise ReportgenError(f"unknown engine {options.engine!r}; choose from {', '.join(ENGINES)}")
    module, name = ENGINES[options.engine]
    engine_class = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    return engine_class.open(options, warm_up)
