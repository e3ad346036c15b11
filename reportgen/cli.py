"""Command line: assembles the commands of :mod:`reportgen.commands` into one parser, runs the
one chosen, and turns errors and signals into one-line messages and exit statuses."""

from __future__ import annotations

import argparse
import atexit
import contextlib
import gc
import os
import select
import signal
import sys
import threading
from collections.abc import Sequence

from reportgen import __version__
from reportgen.commands import COMMANDS
from reportgen.errors import ReportgenError, os_error
from reportgen.workers import collect_less_often, start_fork_server


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="reportgen",
        description="Reports of where a Vision Transformer looks: per-layer CLS attention, "
        "aggregates and rollout, images grouped by how spread their attention is.",
    )
    parser.add_argument("--version", action="version", version=f"reportgen {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, command in COMMANDS.items():
        subparser = commands.add_parser(name, help=command.HELP, description=command.DESCRIPTION)
        command.add_arguments(subparser)
        subparser.set_defaults(run=command.run)
    return parser


def _interrupt(signal_number: int, frame: object) -> None:
    """SIGTERM ends a run like Ctrl-C does: staged files are removed on the way out."""
    raise KeyboardInterrupt


# The status of a command killed by SIGPIPE (128 + 13), as the shell reports cat's or grep's in
# ``| head``: the reader stopping is no error to report, but the output was cut short.
_SIGPIPE_STATUS = 128 + signal.SIGPIPE if hasattr(signal, "SIGPIPE") else 1


def _stdout_reader_gone() -> bool:
    """Whether standard output is a pipe whose reader stopped (``| head``): then it is pointed
    at the null device, so that writing and flushing it on the way out say nothing either
    (Python's advice on SIGPIPE). False for any other broken pipe, which is an error."""
    try:
        descriptor = sys.stdout.fileno()
        poller = select.poll()
        poller.register(descriptor, select.POLLOUT)
        if not any(events & select.POLLERR for _, events in poller.poll(0)):
            return False
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, descriptor)
        os.close(null)
    except (AttributeError, OSError, ValueError):  # no descriptor (a test's capture), no poll
        return False
    return True


def main(argv: Sequence[str] | None = None) -> int:
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _interrupt) if in_main_thread else None
    try:  # from the start: Ctrl-C while the parser finds the plugins is one line too
        args = build_parser().parse_args(argv)
        return args.run(args) or 0
    except (ReportgenError, OSError) as error:  # an OS error not foreseen: still one line
        if isinstance(error, BrokenPipeError) and _stdout_reader_gone():
            return _SIGPIPE_STATUS
        message = error if isinstance(error, ReportgenError) else os_error(error)
        print(f"reportgen: error: {message}", file=sys.stderr)
        return ReportgenError.exit_code
    except KeyboardInterrupt:
        print("reportgen: interrupted; published files were left as they were", file=sys.stderr)
        return 130
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)


def console() -> int:
    """The ``reportgen`` command: :func:`main` in a process of its own, so the garbage collector
    can be tuned for the whole process. At the end every object is frozen, so the interpreter's
    last collections on the way out skip them (1.3 s after a 2,000-image rebuild), and the
    process ends without tearing the interpreter down (:func:`_end_now`)."""
    collect_less_often()
    _start_fork_server_early(sys.argv[1:])
    try:
        code = main()
    finally:
        gc.freeze()
    return _end_now(code)


def _start_fork_server_early(argv: Sequence[str]) -> None:
    """Have the fork server of a command whose workers import much (its ``WORKER_MODULES``)
    import it now, while this process reads its options and starts: the first pool asks for its
    workers 0.5 s later, and would otherwise wait 0.9 s for the server to import (2 cores)."""
    command = COMMANDS.get(argv[0]) if argv else None
    if modules := getattr(command, "WORKER_MODULES", ()):
        start_fork_server(modules)


def _end_now(code: int) -> int:
    """End the process with ``code`` as the interpreter would, but without freeing every module
    and object first (0.2-0.3 s once torch and transformers are loaded; the system takes the
    memory back at once): the exit functions run (a local Ray stops, temporary folders go) and
    the output is flushed. Returns ``code`` instead, for the usual exit, while a thread that is
    not a daemon still runs: the interpreter would wait for it."""
    others = [thread for thread in threading.enumerate() if thread is not threading.main_thread()]
    if any(thread.is_alive() and not thread.daemon for thread in others):
        return code
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe or stream: nothing to say
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    sys.exit(console())
