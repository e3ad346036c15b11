"""``reportgen build``: analyse the images and publish their report into a site."""

from __future__ import annotations

import argparse

from reportgen.commands import options

HELP = "analyse a folder and publish its report into a site"
DESCRIPTION = (
    "Analyse IMAGES and publish the report (html, jekyll, gfm) as OUT/reports/SLUG, then update "
    "OUT/index.html. Other reports in OUT are left alone. A report already at SLUG is kept as "
    "OUT/reports/SLUG/versions/N (unless --replace); a rebuild with the same inputs, model and "
    "options publishes nothing. Reuses cached results."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    options.add_inputs(parser)
    options.add_report_options(parser)
    options.add_analysis_options(parser)
    options.add_render_options(parser, defaults=True)


def run(args: argparse.Namespace) -> None:
    from reportgen.api import build

    build(
        options.source(args),
        args.out,
        options.analysis_params(args),
        options.report_options(args),
        options.execution(args),
        replace=args.replace,
        keep_versions=args.keep_versions,
        max_site_size=args.max_site_size,
        say=options.say,
    )
