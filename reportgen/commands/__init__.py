"""The command line's commands: one module each, with ``HELP`` and ``DESCRIPTION`` (its lines in
``reportgen --help`` and its own help), ``add_arguments(parser)`` and ``run(args)`` (an exit
status, or None for 0); one whose worker processes import much names what in
``WORKER_MODULES``. Options more than one command takes live in :mod:`.options`.
:mod:`reportgen.cli` assembles them in the order of ``COMMANDS``; a new command is a module
here and one line below.
"""

from __future__ import annotations

from types import ModuleType

from reportgen.commands import (
    analyze,
    build,
    cache,
    check_distill,
    compare,
    embed,
    export,
    publish,
    render,
    verify,
)

COMMANDS: dict[str, ModuleType] = {
    "analyze": analyze,
    "build": build,
    "publish": publish,
    "render": render,
    "compare": compare,
    "verify": verify,
    "cache": cache,
    "export": export,
    "check-distill": check_distill,
    "embed": embed,
}
