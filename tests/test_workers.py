"""Worker pools and the local engine: bounded, ordered streams; parallel output byte-identical to
a serial run; errors and crashes of workers as one-line messages; no worker outlives a killed
build; --dtype on the CPU."""

import ast
import importlib
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import site_files, stop_build_half_way, write_images

from reportgen import api, workers
from reportgen.errors import ReportgenError
from reportgen.publish.options import ReportOptions, parse_date
from reportgen.results import AnalysisParams
from reportgen.workers import (
    DRAIN,
    NEW_OBJECTS_PER_COLLECTION,
    PAGES_PER_TASK,
    Imports,
    InlinePool,
    ProcessPool,
    in_chunks,
    open_pool,
)


def square(value):
    return value * value


def fail(message):
    raise ReportgenError(message)


def die():
    os._exit(3)


@pytest.fixture(scope="module")
def processes():
    with ProcessPool(2, max_pending=3) as pool:
        yield pool


@pytest.mark.parametrize("pool", [InlinePool(), "processes"])
def test_imap_gives_results_in_order(pool, request):
    pool = request.getfixturevalue(pool) if pool == "processes" else pool
    assert list(pool.imap(square, ((n,) for n in range(20)))) == [n * n for n in range(20)]


def test_imap_pulls_items_only_as_results_are_taken(processes):
    pulled = []

    def items():
        for n in range(50):
            pulled.append(n)
            yield (n,)

    results = processes.imap(square, items())
    for taken in range(1, 10):
        next(results)
        assert len(pulled) <= taken + processes.max_pending
    results.close()


def test_drain_finishes_every_task_before_the_next_item(processes):
    done_before = []

    def items():
        yield from ((n,) for n in range(5))
        yield DRAIN
        done_before.append(len(results_so_far))
        yield (5,)

    results_so_far = []
    for result in processes.imap(square, items()):
        results_so_far.append(result)
    assert done_before == [5] and results_so_far == [n * n for n in range(6)]


def test_errors_in_workers_reach_the_caller_as_they_were(processes):
    with pytest.raises(ReportgenError, match="no room for the figure"):
        list(processes.imap(fail, [("no room for the figure",)]))


def test_a_worker_that_dies_is_a_one_line_error():
    with ProcessPool(1) as pool, pytest.raises(ReportgenError, match="a worker process died"):
        list(pool.imap(die, [()]))


def collector_threshold():
    import gc

    return gc.get_threshold()[0]


def test_workers_collect_garbage_less_often_than_python_by_default(processes):
    assert list(processes.imap(collector_threshold, [()])) == [NEW_OBJECTS_PER_COLLECTION]


IMPORTS_PROBE = """
import os, sys
from reportgen.workers import Imports, ProcessPool

def where():
    import probe_module
    return probe_module.IMPORTED_IN != os.getpid(), probe_module.THREADS

if __name__ == "__main__":
    with ProcessPool(2, warm_up=(Imports(("probe_module",)),)) as pool:
        places = [pool.submit(where).result() for _ in range(4)]
        print(repr((places, os.environ.get("OMP_NUM_THREADS"))))
"""


def test_imports_of_the_warm_up_are_done_once_by_the_fork_server_single_threaded(tmp_path):
    """A fresh process (its own fork server): the workers find the module imported, by
    another process, with one thread for the numerical libraries; this process keeps its own
    setting (none)."""
    (tmp_path / "probe_module.py").write_text(
        "import os\nIMPORTED_IN = os.getpid()\nTHREADS = os.environ.get('OMP_NUM_THREADS')\n"
    )
    (tmp_path / "probe.py").write_text(IMPORTS_PROBE)
    environment = {key: value for key, value in os.environ.items() if key != "OMP_NUM_THREADS"}
    done = subprocess.run(
        [sys.executable, "probe.py"],
        cwd=tmp_path,
        env={**environment, "PYTHONPATH": f"{tmp_path}{os.pathsep}{Path(api.__file__).parents[1]}"},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert ast.literal_eval(done.stdout) == ([(True, "1")] * 4, None)


def test_commands_have_their_fork_server_import_what_their_workers_do():
    """What the CLI has the fork server import from a command's first line
    (``WORKER_MODULES``) covers the imports of the pools the command opens, and imports."""
    from reportgen.analysis.engines import base
    from reportgen.commands import COMMANDS
    from reportgen.publish.render_job import worker_warm_up

    drawer = SimpleNamespace(warm_up=lambda: None)
    publishing = {
        name
        for step in worker_warm_up(drawer)
        if isinstance(step, Imports)
        for name in step.modules
    }
    needed = {"build": publishing | {base.__name__}, "render": publishing, "publish": publishing}
    for command, modules in needed.items():
        assert set(COMMANDS[command].WORKER_MODULES) == modules
    for name in needed["build"]:
        importlib.import_module(name)


def run_the_command(probe: str, folder: Path) -> subprocess.CompletedProcess:
    """``probe``, a script that runs the ``reportgen`` command (``verify FOLDER``) in Python."""
    setup = "import atexit, gc, sys, threading, time\nfrom reportgen import cli\n"
    arguments = "sys.argv = ['reportgen', 'verify', sys.argv[1]]\n"
    return subprocess.run(
        [sys.executable, "-c", setup + arguments + probe, str(folder)],
        capture_output=True,
        text=True,
    )


def test_the_command_tunes_the_collector_freezes_every_object_and_ends_without_teardown(
    tmp_path,
):
    """The exit functions run and the output (a pipe: buffered) is flushed, then the process
    ends with the command's status; nothing after the command runs."""
    done = run_the_command(
        "atexit.register(lambda: print(gc.get_threshold()[0], gc.get_freeze_count() > 1000))\n"
        "cli.console()\n"
        "print('after the command')\n",
        tmp_path / "nowhere",
    )
    assert done.stdout.split() == [str(NEW_OBJECTS_PER_COLLECTION), "True"]
    assert done.returncode == 2
    assert done.stderr.startswith("reportgen: error:") and "Traceback" not in done.stderr


def test_the_command_returns_its_status_while_another_thread_still_runs(tmp_path):
    """The interpreter's own exit then waits for the thread, as it should."""
    done = run_the_command(
        "go = threading.Event()\n"
        "threading.Thread(target=lambda: (go.wait(), print('thread done'))).start()\n"
        "print('returned', cli.console())\n"
        "go.set()\n",
        tmp_path / "nowhere",
    )
    assert done.stdout.split("\n")[:2] == ["returned 2", "thread done"]
    assert done.returncode == 0


UNPICKLED = 0  # in each process: how many CountedStates were unpickled there


class CountedState:
    """A chunk's state that counts its unpickling in the process that unpickles it."""

    def __init__(self, log):
        self.log = log

    def __reduce__(self):
        return _unpickle_counted, (self.log,)


def _unpickle_counted(log):
    global UNPICKLED
    UNPICKLED += 1
    return CountedState(log)


def log_chunk(state, chunk):
    with open(state.log, "a") as log:
        log.write(f"{os.getpid()} {UNPICKLED} {len(chunk)}\n")
    return len(chunk)


def test_a_chunks_state_is_unpickled_once_in_each_worker_not_with_every_chunk(tmp_path):
    states = [CountedState(tmp_path / "log-a"), CountedState(tmp_path / "log-b")]
    pages = list(range(10 * PAGES_PER_TASK))
    with ProcessPool(2) as pool:
        in_chunks(pool, log_chunk, [(state, pages) for state in states], "test", total=640)
    for log, states_before in (("log-a", 0), ("log-b", 1)):
        lines = [line.split() for line in (tmp_path / log).read_text().splitlines()]
        assert sum(int(pages) for _, _, pages in lines) == len(pages)
        # each worker unpickled this state once (and the one before it at most once)
        assert {int(count) for _, count, _ in lines} <= {1, states_before + 1}


def test_inline_chunks_take_the_state_itself():
    state, seen = object(), []
    in_chunks(
        None, lambda got, chunk: seen.append(got) or len(chunk), [(state, [1] * 40)], "t", total=40
    )
    assert seen == [state, state]


def write_chunk(folder, chunk):
    """Write a file for each name of ``chunk``, telling digests.wrote (as pages do)."""
    from reportgen import digests

    for name in chunk:
        data = f"page {name}".encode()
        (folder / name).write_bytes(data)
        digests.wrote(folder / name, data)
    return len(chunk)


@pytest.mark.parametrize("pool", [InlinePool(), "processes"])
def test_the_digests_of_files_written_in_chunks_are_known_to_the_caller_unread(
    pool, request, tmp_path, monkeypatch
):
    import hashlib

    from reportgen import digests

    monkeypatch.setattr(digests, "_FILE_HASHES", {})
    names = [f"page-{n}.html" for n in range(2 * PAGES_PER_TASK + 3)]
    in_chunks(
        request.getfixturevalue(pool) if isinstance(pool, str) else pool,
        write_chunk,
        [(tmp_path, names)],
        "pages",
        total=len(names),
    )
    monkeypatch.setattr(digests, "sha256_of", lambda path: pytest.fail(f"{path} was read"))
    for name in names:
        expected = hashlib.sha256(f"page {name}".encode()).hexdigest()
        assert digests.file_sha256(tmp_path / name) == expected
    (tmp_path / "elsewhere.html").write_bytes(b"x")
    digests.wrote(tmp_path / "elsewhere.html", b"x")  # not while a task collects: not kept
    with pytest.raises(pytest.fail.Exception):
        digests.file_sha256(tmp_path / "elsewhere.html")


def test_workers_option_is_checked():
    assert isinstance(open_pool(0), InlinePool)
    with pytest.raises(ReportgenError, match="--workers"):
        open_pool(-1)


# --- the local engine in a build -------------------------------------------------------------


@pytest.fixture
def folder(tmp_path):
    return write_images(tmp_path / "images", 10, seed=4)


def tiny(tiny_vit_dir, **changes):
    return AnalysisParams(model=str(tiny_vit_dir), batch_size=3, **changes)


REPORT = ReportOptions(slug="tiny", date=parse_date("2024-05-24"))


@pytest.mark.slow
def test_parallel_build_is_byte_identical_to_serial(
    folder, tiny_vit_dir, tmp_path, execution, monkeypatch
):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    monkeypatch.setattr(workers, "PAGES_PER_TASK", 3)  # several tasks a flavour
    serial = replace(execution, workers=0, use_cache=False)
    parallel = replace(execution, workers=2, use_cache=False)
    galleries = REPORT.changed(gallery_threshold=4, page_size=4)  # thumbnails, image pages
    one = api.build(folder, tmp_path / "serial", tiny(tiny_vit_dir), galleries, serial)
    two = api.build(folder, tmp_path / "parallel", tiny(tiny_vit_dir), galleries, parallel)
    serial_files, parallel_files = site_files(one), site_files(two)
    for kind in ("figures/", "thumbs/", "sprites/", "images/", "explorer/"):
        assert len([name for name in parallel_files if name.startswith(kind)]) >= 10, kind
    assert parallel_files == serial_files

    restyled = api.rerender(two, style=replace(REPORT.style, colormap="viridis"), workers=2)
    api.rerender(one, style=replace(REPORT.style, colormap="viridis"), workers=0)
    assert site_files(restyled) == site_files(one)


@pytest.mark.slow
def test_no_worker_outlives_a_killed_build(tiny_vit_dir, tmp_path):
    big = write_images(tmp_path / "big", 300, size=(64, 64), seed=3)
    mark = uuid.uuid4().hex
    os.environ["REPORTGEN_TEST_MARK"] = mark  # inherited by the build and its workers
    try:
        command = [sys.executable, "-m", "reportgen.cli", "build", big, "--out", tmp_path / "site"]
        command += ["--model", tiny_vit_dir, "--device", "cpu", "--workers", "2"]
        command += ["--batch-size", "2", "--cache-dir", tmp_path / "cache"]
        stop_build_half_way(command, tmp_path / "site", signal.SIGKILL)
    finally:
        del os.environ["REPORTGEN_TEST_MARK"]
    deadline = time.monotonic() + 10
    while marked_processes(mark) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not marked_processes(mark)


def marked_processes(mark):
    """Processes whose environment holds REPORTGEN_TEST_MARK=mark (Linux /proc)."""
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if f"REPORTGEN_TEST_MARK={mark}".encode() in environ.read_bytes().split(b"\0"):
                found.append(environ.parent.name)
        except OSError:
            continue
    return found


@pytest.mark.slow
def test_dtype_bfloat16_runs_on_the_cpu_and_is_recorded(folder, tiny_vit_dir, tmp_path, execution):
    single = api.analyze(folder, tmp_path / "fp32", tiny(tiny_vit_dir), execution)
    half = api.analyze(folder, tmp_path / "bf16", tiny(tiny_vit_dir, dtype="bfloat16"), execution)
    assert half.cache_misses == 10  # another precision is another result
    assert half.manifest.parameters["dtype"] == "bfloat16"
    assert single.manifest.parameters["dtype"] == "float32"
    for ours, theirs in zip(half.images, single.images, strict=True):
        maps, reference = half.record(ours).maps, single.record(theirs).maps
        assert maps["mean"].dtype == np.float32  # maps are computed in float32 or better
        np.testing.assert_allclose(maps["mean"], reference["mean"], rtol=0.1, atol=0.01)


def test_unknown_dtype_is_a_message(folder, tiny_vit_dir, tmp_path, execution):
    with pytest.raises(ReportgenError, match="--dtype must be one of"):
        api.analyze(folder, tmp_path / "o", tiny(tiny_vit_dir, dtype="int8"), execution)
