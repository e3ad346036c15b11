"""``reportgen analyze``: only the analysis, into a results store."""

from __future__ import annotations

import argparse
from pathlib import Path

from reportgen.commands import options

HELP = "run the model and write the results store (maps, entropy, levels)"
DESCRIPTION = (
    "Run the model over a folder of images and write per-image maps, entropy, levels, "
    "predictions and a manifest to OUT. Results are cached by content."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    options.add_inputs(parser)
    parser.add_argument("--out", type=Path, required=True, help="folder for the results store")
    options.add_analysis_options(parser)


def run(args: argparse.Namespace) -> None:
    from reportgen.api import analyze

    analysis = analyze(
        options.source(args),
        args.out,
        options.analysis_params(args),
        options.execution(args),
        say=options.say,
    )
    options.say(
        f"wrote {args.out} ({len(analysis.images)} images, "
        f"{max(i.level for i in analysis.images)} levels)"
    )
