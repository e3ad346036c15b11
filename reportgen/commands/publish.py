"""``reportgen publish``: publish a results store as a report, without the model."""

from __future__ import annotations

import argparse
from pathlib import Path

from reportgen import publish
from reportgen.commands import options

HELP = "publish a results store (what analyze wrote) as a report into a site (no model)"
DESCRIPTION = (
    "Publish STORE, the results store `reportgen analyze --out STORE` wrote, as the report "
    "OUT/reports/SLUG, as build publishes its own: figures are drawn from the stored maps, the "
    "model does not run. Title and slug default to STORE's folder name; versions as in build."
)

# Imported by the fork server from the command's first line (reportgen.cli).
WORKER_MODULES = publish.WORKER_MODULES


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("store", type=Path, help="results store (analyze's --out folder)")
    options.add_report_options(parser)
    options.add_render_options(parser, defaults=True)
    options.add_cache_dir(parser)
    options.add_workers_option(parser)


def run(args: argparse.Namespace) -> None:
    from reportgen.analysis.execution import Execution
    from reportgen.api import publish

    publish(
        args.store,
        args.out,
        options.report_options(args),
        Execution(cache_dir=args.cache_dir, workers=args.workers),
        replace=args.replace,
        keep_versions=args.keep_versions,
        max_site_size=args.max_site_size,
        say=options.say,
    )
