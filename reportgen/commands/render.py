"""``reportgen render``: re-render a published report from its stored data, without the model."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from reportgen import publish
from reportgen.commands import options

HELP = "re-render a published report from its stored data (no model)"
DESCRIPTION = (
    "Re-render REPORT (a site/reports/SLUG folder, or a site/comparisons/SLUG one) from its "
    "manifest and data, for example after changing templates. Figures are redrawn only when "
    "their style changes. The site index is updated."
)

# Imported by the fork server from the command's first line (reportgen.cli).
WORKER_MODULES = publish.WORKER_MODULES


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("report", type=Path, help="report folder (holds manifest.json and data/)")
    parser.add_argument("--title", help="a new title for the report (default: as built)")
    options.add_render_options(parser, defaults=False)
    options.add_cache_dir(parser)
    options.add_workers_option(parser)


def run(args: argparse.Namespace) -> None:
    from reportgen.api import rerender
    from reportgen.publish import comparison_site, flavours

    if comparison_site.is_comparison(args.report):
        _refuse_report_options(args)
        comparison_site.rerender(
            args.report, templates_dir=args.templates, workers=args.workers, say=options.say
        )
        return
    from reportgen.publish.build import stored_style

    style = None
    if args.colormap or args.alpha is not None or args.image_format or args.normalise:
        stored = stored_style(args.report)
        style = dataclasses.replace(
            stored,
            colormap=args.colormap or stored.colormap,
            alpha=stored.alpha if args.alpha is None else args.alpha,
            image_format=args.image_format or stored.image_format,
            normalise=args.normalise or stored.normalise,
        )
    rerender(
        args.report,
        title=args.title,
        templates_dir=args.templates,
        formats=options.formats(args.formats),
        style=style,
        flavour_options=flavours.given_options(args),
        cache_dir=args.cache_dir,
        workers=args.workers,
        say=options.say,
        **options.layout_options(args),
    )


def _refuse_report_options(args: argparse.Namespace) -> None:
    """A comparison re-renders as it was compared (--templates and --workers aside): an option
    of a report's re-render given for one is a one-line error, not silently ignored."""
    from reportgen.errors import ReportgenError
    from reportgen.publish import flavours

    given = [
        flag
        for flag, value in (
            ("--title", args.title),
            ("--format", args.formats),
            ("--colormap", args.colormap),
            ("--alpha", args.alpha),
            ("--normalise", args.normalise),
            ("--image-format", args.image_format),
        )
        if value is not None
    ]
    given += [f"--{name.replace('_', '-')}" for name in options.layout_options(args)]
    given += [f"{flavour} options" for flavour in flavours.given_options(args)]
    if given:
        raise ReportgenError(
            f"{args.report} is a comparison: render takes --templates and --workers for it, not "
            f"{', '.join(given)}; run reportgen compare again with them (and --slug, --replace)"
        )
