"""The library's front door: the calls the CLI makes, for notebooks and scripts too.

``build`` joins the two wings: the analysis writes the results store into a report being staged
by the publish wing, which draws each figure as its record arrives and publishes at the end.
Each call holds the cache while it runs (:func:`reportgen.cache.in_use`), so pruning the cache
never takes a file from under it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from reportgen import cache, table
from reportgen.analysis.analyze import analyze as analyze_source
from reportgen.analysis.engines import open_engine
from reportgen.analysis.engines.local import import_torch_if_new
from reportgen.analysis.execution import Execution
from reportgen.analysis.sources import Source, as_source
from reportgen.errors import ReportgenError, os_error
from reportgen.methods.spread import SpreadSpec
from reportgen.publish import build as report_build
from reportgen.publish import staging
from reportgen.publish.build import ReportBuild
from reportgen.publish.folders import DATA_DIR
from reportgen.publish.options import ReportOptions
from reportgen.publish.render_job import worker_warm_up
from reportgen.results import Analysis, AnalysisParams

__all__ = [
    "Analysis",
    "AnalysisParams",
    "Execution",
    "ReportOptions",
    "analyze",
    "build",
    "export",
    "publish",
    "rerender",
]


def analyze(
    source: Source | Path,
    out_dir: Path,
    params: AnalysisParams = AnalysisParams(),
    execution: Execution = Execution(),
    *,
    say: Callable[[str], None] = lambda message: None,
) -> Analysis:
    """Only the analysis: write the results store of ``source`` (a source, or the path of a
    folder of images) to ``out_dir``, computed as ``params`` say, run as ``execution`` says."""
    source = as_source(source)
    source.count()  # a missing or empty input is an error before the output folder exists
    places = ((cache.cache_root(execution.cache_dir), "--cache-dir"), (out_dir, "--out"))
    with _os_errors(places), cache.in_use(execution.cache_dir, say):
        import_torch_if_new(source, execution)
        return analyze_source(source, out_dir, params, execution, say=say)


def build(
    source: Source | Path,
    site_dir: Path,
    params: AnalysisParams = AnalysisParams(),
    report_options: ReportOptions = ReportOptions(),
    execution: Execution = Execution(),
    *,
    replace: bool = False,
    keep_versions: int | None = None,
    max_site_size: int | None = None,
    say: Callable[[str], None] = lambda message: None,
) -> Path:
    """Analyse ``source`` (a source, or the path of a folder of images) and publish its report
    into ``site_dir``; returns the report dir. ``params`` say what is computed, ``execution``
    where and how it runs.

    A report already published under the slug is kept as an earlier version (at most
    ``keep_versions`` of them), or overwritten with ``replace``; a rebuild that would give the
    same report publishes nothing. A site that would weigh more than ``max_site_size`` bytes
    with the report is published with a warning that names what to drop. The engine's workers
    draw each figure as its record is stored; its pool compiles the templates and stages the
    earlier versions kept while the analysis runs, and draws the charts and the thumbnail while
    the pages are written.
    """
    source = as_source(source)
    source.count()  # a missing or empty input is an error before any folder or worker exists
    params, execution = params.validated(), execution.validated()
    versions = {
        "replace": replace,
        "keep_versions": keep_versions,
        "max_site_size": max_site_size,
    }
    spread_spec = SpreadSpec.parse(params.spread_by)
    with _report_build(
        site_dir,
        source.name,
        report_options,
        execution,
        spread_spec,
        params.norm_layer,
        say,
        versions,
    ) as report:
        import_torch_if_new(source, execution)  # before the pool opens: see there
        with (
            open_engine(execution, warm_up=worker_warm_up(report.drawer)) as engine,
            staging.damaged_files(report.data_dir, None, _DAMAGED_IN_CACHE),
        ):
            report.start_early_work(engine.pool)
            try:
                analysis = analyze_source(
                    source,
                    report.data_dir,
                    params,
                    execution,
                    say=say,
                    on_record=report.drawer,
                    created=report.created,
                    engine=engine,
                    earlier=report.published / DATA_DIR,
                    results_table=False,  # written with the figures when the report renders
                )
                return report.publish(analysis, say, engine.pool)
            except BaseException:
                report.stop_early_work()  # before the engine's workers are waited for
                raise


def publish(
    store_dir: Path,
    site_dir: Path,
    report_options: ReportOptions = ReportOptions(),
    execution: Execution = Execution(),
    *,
    name: str | None = None,
    replace: bool = False,
    keep_versions: int | None = None,
    max_site_size: int | None = None,
    say: Callable[[str], None] = lambda message: None,
) -> Path:
    """Publish the results store an :func:`analyze` wrote to ``store_dir`` as a report in
    ``site_dir``, without the model (the figures are drawn from the stored maps, in
    ``execution``'s workers); returns the report dir. ``name`` is what the title and slug
    default to (the source's name; by default the store folder's). Versions as in
    :func:`build`."""
    store_dir = Path(store_dir)
    stored = Analysis.load(store_dir)
    execution = execution.validated()
    versions = {
        "replace": replace,
        "keep_versions": keep_versions,
        "max_site_size": max_site_size,
    }
    name = name or store_dir.resolve().name
    with _report_build(
        site_dir,
        name,
        report_options,
        execution,
        stored.spread_spec,
        stored.params.norm_layer,
        say,
        versions,
    ) as report:
        return report.publish_store(store_dir, say, execution.workers)


def rerender(
    report_dir: Path,
    *,
    cache_dir: Path | None = None,
    say: Callable[[str], None] = lambda message: None,
    **options: Any,
) -> Path:
    """Re-render a published report from its stored data, without the model; ``options`` are
    those of :func:`reportgen.publish.build.rerender` (templates_dir, formats, style, ...)."""
    places = ((cache.cache_root(cache_dir), "--cache-dir"), (report_dir, "report folder"))
    with _os_errors(places, "the report is as it was"), cache.in_use(cache_dir, say):
        return report_build.rerender(report_dir, cache_dir=cache_dir, say=say, **options)


def export(folder: Path, fmt: str = "csv", out: Path | None = None) -> Path | None:
    """Write the results table of a report (or of a bare results store) as ``csv`` or
    ``parquet`` to ``out``, by default ``<folder name>.<fmt>`` in the current folder; ``-``
    writes to standard output. Returns the file written (None for standard output)."""
    if fmt not in table.EXPORT_FORMATS:
        raise ReportgenError(
            f"unknown format {fmt!r}; choose from {', '.join(table.EXPORT_FORMATS)}"
        )
    folder = Path(folder)
    store_dir = folder / "data" if (folder / "data").is_dir() else folder
    rows = Analysis.load(store_dir).table()
    if out is not None and str(out) == "-":
        table.export(rows, fmt, sys.stdout.buffer)
        sys.stdout.flush()
        return None
    target = Path(out) if out is not None else Path(f"{folder.resolve().name}.{fmt}")
    with _os_errors(((target, "--out"),), file=target), target.open("wb") as stream:
        table.export(rows, fmt, stream)
    return target


# What to do about a record file from the cache that no longer reads (a build's only source
# of maps files it did not compute).
_DAMAGED_IN_CACHE = (
    "it is the cache's copy: build with --no-cache, or empty the cache "
    "('reportgen cache prune --max-size 0')"
)


@contextmanager
def _report_build(
    site_dir: Path,
    inputs: str,
    report_options: ReportOptions,
    execution: Execution,
    spread_spec: SpreadSpec,
    norm_layer: int | None,
    say: Callable[[str], None],
    versions: dict[str, Any],
) -> Iterator[ReportBuild]:
    """A report being built into ``site_dir`` (see :class:`ReportBuild`, which takes
    ``spread_spec`` and ``norm_layer``; ``versions``: its ``replace``, ``keep_versions`` and
    ``max_site_size``), with the cache held and OS errors as one line."""
    contents = execution.cache()
    places = ((cache.cache_root(execution.cache_dir), "--cache-dir"), (site_dir, "--out"))
    with (
        _os_errors(places, "nothing was published: the site is as it was"),
        cache.in_use(execution.cache_dir, say),
        ReportBuild(
            site_dir, inputs, report_options, contents, spread_spec, norm_layer, **versions
        ) as report,
    ):
        yield report


@contextmanager
def _os_errors(
    places: tuple[tuple[Path, str], ...], outcome: str | None = None, file: Path | None = None
) -> Iterator[None]:
    """OS errors (a full disk, a file in the way, no permission) as one-line messages; ``file``
    is the one being written, named for an error that names none (a write's or a close's)."""
    try:
        yield
    except OSError as error:
        if error.filename is None and file is not None:
            error.filename = str(file)
        raise os_error(error, places, outcome) from None
