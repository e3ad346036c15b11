"""The library's front door: the calls the CLI makes, for notebooks and scripts too.

``build`` joins the two wings: the analysis writes the results store into a report being staged
by the publish wing, which draws each figure as its record arrives and publishes at the end.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from reportgen.analysis.analyze import analyze
from reportgen.publish.site import ReportBuild, ReportOptions, cache_at, rerender
from reportgen.results import Analysis, AnalysisOptions

__all__ = ["Analysis", "AnalysisOptions", "ReportOptions", "analyze", "build", "rerender"]


def build(
    images_dir: Path,
    site_dir: Path,
    analysis_options: AnalysisOptions = AnalysisOptions(),
    report_options: ReportOptions = ReportOptions(),
    *,
    replace: bool = False,
    keep_versions: int | None = None,
    say: Callable[[str], None] = lambda message: None,
) -> Path:
    """Analyse ``images_dir`` and publish its report into ``site_dir``; returns the report dir.

    A report already published under the slug is kept as an earlier version (at most
    ``keep_versions`` of them), or overwritten with ``replace``; a rebuild that would give the
    same report publishes nothing.
    """
    cache = cache_at(analysis_options.cache_dir) if analysis_options.use_cache else None
    with ReportBuild(
        site_dir, images_dir, report_options, cache, replace=replace, keep_versions=keep_versions
    ) as report:
        analysis = analyze(
            images_dir,
            report.data_dir,
            analysis_options,
            say=say,
            on_record=report.draw,
            created=report.created,
        )
        return report.publish(analysis, say)
