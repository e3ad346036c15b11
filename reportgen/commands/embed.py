"""``reportgen embed``: one figure or explorer of a published report, as a snippet for a post."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "print one image's figure or explorer as a snippet to paste into a post (no model)"
DESCRIPTION = (
    "Print the snippet that shows IMAGE of REPORT (a site/reports/SLUG folder, or one of its "
    "versions/N) in a post of your own on the site that publishes the report in FLAVOUR: the "
    "figure with its caption, through the flavour's own figure (al-folio's include, an HTML "
    "figure, a Markdown image), or the explorer as an <iframe> of the explorer page the report "
    "ships (a link in gfm). IMAGE is a file name as the report shows it (people/astronaut.jpg, "
    "or astronaut.jpg when no other image has it) or an id (004-astronaut). Which files to "
    "copy where, for a site that does not publish the report, goes to stderr."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from reportgen.publish import flavours

    parser.add_argument("report", type=Path, help="a published report folder")
    parser.add_argument("image", help="the image's file name or id")
    parser.add_argument(
        "--flavour",
        default="html",
        metavar="NAME",
        help=f"the flavour of the site the post is on: {', '.join(flavours.names())} "
        "(default: html)",
    )
    parser.add_argument(
        "--what",
        choices=("figure", "explorer"),
        default="figure",
        help="figure = the image's figure with its caption; explorer = its attention explorer, "
        "an <iframe> of the explorer page the report ships (a link in gfm) (default: figure)",
    )
    parser.add_argument(
        "--base-url",
        default="/",
        metavar="URL",
        help="html, gfm, hugo, mkdocs: where the site is served, e.g. "
        "https://me.github.io/site/ (default: /, the server's root); the snippet names the "
        "report's files below it at reports/SLUG/ (the reportgen site's layout; copy them there "
        "otherwise, as stderr says); jekyll and distill name files from their site's root, and "
        "the site's baseurl applies",
    )


def run(args: argparse.Namespace) -> None:
    from reportgen.publish.embed import snippet

    embedded = snippet(args.report, args.image, args.flavour, args.what, args.base_url)
    print(embedded.text, end="")
    print(embedded.copy_advice(), file=sys.stderr)
