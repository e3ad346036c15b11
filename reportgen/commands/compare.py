"""``reportgen compare``: published runs over the same images, side by side."""

from __future__ import annotations

import argparse
from pathlib import Path

from reportgen.commands import options

HELP = "compare published reports of the same images (no model)"
DESCRIPTION = (
    "Compare REPORT_A REPORT_B [...] (site/reports/SLUG folders, or earlier versions in their "
    "versions/N): their images are matched by content, then by source id or name; per pair of "
    "runs the level transitions, the entropies and the rank correlation of the spread-by maps "
    "(resampled to one grid where the patch grids differ); the entropy by layer of every run "
    "and the images that moved most. Published as OUT/comparisons/SLUG with compare.json and "
    "compare.parquet, and listed in OUT/index.html. A different comparison already there is "
    "kept as its versions/N (unless --replace)."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from reportgen.publish import flavours

    parser.add_argument("reports", type=Path, nargs="+", metavar="REPORT", help="report folders")
    parser.add_argument(
        "--out", type=Path, default=Path("site"), help="site folder (default: site)"
    )
    parser.add_argument("--title", help="title of the comparison (default: the runs' names)")
    parser.add_argument(
        "--slug", help="folder and URL name (default: the runs' slugs joined by -vs-)"
    )
    parser.add_argument(
        "--date", metavar="YYYY-MM-DD", help="date of the comparison (default: today)"
    )
    parser.add_argument(
        "--format",
        dest="formats",
        metavar="LIST",
        help="flavours of the pages, comma-separated: html, jekyll, gfm, hugo, mkdocs, distill "
        "(default: html, jekyll, gfm)",
    )
    flavours.add_arguments(parser, defaults=True)  # as build takes them
    parser.add_argument(
        "--replace",
        action="store_true",
        help="overwrite the comparison already at SLUG (the new one takes its version number) "
        "instead of keeping it as an earlier version",
    )
    parser.add_argument(
        "--templates",
        type=Path,
        metavar="DIR",
        help="folder of templates overriding the built-in ones file by file",
    )
    options.add_workers_option(parser)


def run(args: argparse.Namespace) -> None:
    from reportgen.publish import comparison_site, flavours
    from reportgen.publish.options import parse_date

    comparison_site.build(
        args.reports,
        args.out,
        title=args.title,
        slug=args.slug,
        date=parse_date(args.date) if args.date else None,
        formats=options.formats(args.formats) or comparison_site.DEFAULT_FORMATS,
        flavour_options=flavours.options(flavours.given_options(args)),
        templates_dir=args.templates,
        replace=args.replace,
        workers=args.workers,
        say=options.say,
    )
