"""``reportgen verify``: check published reports against their manifests."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "check published reports against their manifests (no model)"
DESCRIPTION = (
    "Check a report (a site/reports/SLUG folder) or every report of a site, and the earlier "
    "versions each keeps: every file the manifest lists is there with its sha256 and no other "
    "file is; the inputs' hashes are recorded; the maps files load; the stored maps re-derive "
    "the recorded entropies and levels. Prints one line per problem and a summary; exit status "
    "1 when there is a problem."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", type=Path, help="a report folder or a site folder")


def run(args: argparse.Namespace) -> int:
    from reportgen.publish.verify import verify

    result = verify(args.path)
    for problem in result.problems:
        print(problem)
    print(result.summary())
    return 1 if result.problems else 0
