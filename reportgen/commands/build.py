"""``reportgen build``: analyse the images and publish their report into a site."""

from __future__ import annotations

import argparse
from pathlib import Path

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
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("site"),
        help="site folder holding every report (default: site)",
    )
    meta = parser.add_argument_group("report")
    meta.add_argument("--title", help="report title (default: from the folder name)")
    meta.add_argument("--slug", help="folder and URL name (default: from the folder name)")
    meta.add_argument(
        "--date",
        metavar="YYYY-MM-DD",
        help="report date (default: today, or SOURCE_DATE_EPOCH when set)",
    )
    meta.add_argument("--description", help="one-line description for front matter")
    versions = parser.add_argument_group("versions")
    versions.add_argument(
        "--replace",
        action="store_true",
        help="overwrite the report already at SLUG (the new one takes its version number) "
        "instead of keeping it as an earlier version",
    )
    versions.add_argument(
        "--keep-versions",
        type=int,
        metavar="K",
        help="keep at most K earlier versions, removing the oldest (default: keep all)",
    )
    options.add_analysis_options(parser)
    options.add_render_options(parser, defaults=True)


def run(args: argparse.Namespace) -> None:
    from reportgen.api import build
    from reportgen.publish import flavours
    from reportgen.publish.figures import FigureStyle
    from reportgen.publish.options import ReportOptions, parse_date

    report = ReportOptions(
        title=args.title,
        slug=args.slug,
        description=args.description,
        date=parse_date(args.date) if args.date else None,
        formats=options.formats(args.formats),
        style=FigureStyle(
            colormap=args.colormap,
            alpha=args.alpha,
            image_format=args.image_format,
            normalise=args.normalise,
        ),
        templates_dir=args.templates,
        flavour_options=flavours.options(flavours.given_options(args)),
    ).changed(**options.layout_options(args))
    build(
        options.source(args),
        args.out,
        options.analysis_params(args),
        report,
        options.execution(args),
        replace=args.replace,
        keep_versions=args.keep_versions,
        say=options.say,
    )
