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
from reportgen.analysis.execution import Execution
from reportgen.errors import ReportgenError

# --engine name -> (module below this package, its Engine subclass); imported when chosen, so
# an optional engine's dependencies are needed only by those who use it
ENGINES = {"local": ("local", "LocalEngine"), "ray": ("ray", "RayEngine")}


def open_engine(execution: Execution, warm_up: Sequence[Callable[[], Any]] = ()) -> Engine:
    """The engine ``execution.engine`` names, started (see :meth:`Engine.open`)."""
    if execution.engine not in ENGINES:
        choices = ", ".join(ENGINES)
        raise ReportgenError(f"unknown engine {execution.engine!r}; choose from {choices}")
    module, name = ENGINES[execution.engine]
    engine_class = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    return engine_class.open(execution, warm_up)
