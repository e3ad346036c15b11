"""``reportgen export``: a report's results table as CSV or Parquet."""

from __future__ import annotations

import argparse
from pathlib import Path

from reportgen.commands import options

HELP = "write a report's results table (one row per image) as CSV or Parquet"
DESCRIPTION = (
    "Write the results table of REPORT (a site/reports/SLUG folder, or a folder written by "
    "analyze): one row per image with its name, sha256, level, entropy, per-layer entropies, "
    "top-k labels and probabilities, artifact counts per layer and the paths of its maps file "
    "and figure (relative to the report's data/ folder)."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("report", type=Path, help="report folder or results folder")
    parser.add_argument(
        "--format",
        choices=("csv", "parquet"),
        default="csv",
        help="csv (lists spread over numbered columns) or parquet (default: csv)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        metavar="FILE",
        help="where to write; - for standard output (default: REPORT_NAME.csv or .parquet in "
        "the current folder)",
    )


def run(args: argparse.Namespace) -> None:
    from reportgen.api import export

    written = export(args.report, args.format, args.out)
    if written is not None:
        options.say(f"wrote {written}")
