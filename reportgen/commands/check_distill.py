"""``reportgen check-distill``: check a distill post folder against the ICLR Blogposts rules."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "check a distill post folder against the ICLR Blogposts track's rules (no model)"
DESCRIPTION = (
    "Check POST_FOLDER (a report's distill/ folder, or what a pull request adds to a fork of the "
    "track's site) before opening the pull request: one post _posts/DATE-NAME.md and only its "
    "assets/img/DATE-NAME/, assets/html/DATE-NAME/ and assets/bibliography/DATE-NAME.bib; the "
    "front matter's fields (layout: distill, title, description, date, future, htmlwidgets, "
    "authors, bibliography, toc); toc names equal to the headings; a description without "
    "double quotes or links, of one to three sentences; every file the post and its pages name "
    "present, every cited key in the bibliography. Prints one line per problem; exit status 1 "
    "when there is one."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("post_folder", type=Path, metavar="POST_FOLDER", help="the folder to check")


def run(args: argparse.Namespace) -> int:
    from reportgen.publish.distill_check import check_folder

    name, findings = check_folder(args.post_folder)
    for finding in findings:
        print(finding)
    if findings:
        print(f"{len(findings)} problem{'s' if len(findings) != 1 else ''} in {args.post_folder}")
        return 1
    print(f"{args.post_folder}: {name} follows the ICLR Blogposts rules")
    return 0
