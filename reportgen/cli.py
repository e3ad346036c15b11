"""Command line: parses options and calls the library. No logic of its own."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from . import __version__
from .errors import ReportgenError


def _say(message: str) -> None:
    print(f"reportgen: {message}", file=sys.stderr, flush=True)


def _add_analysis_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("model and analysis")
    group.add_argument(
        "--model",
        default="auto",
        help="HuggingFace hub id (e.g. google/vit-base-patch16-224), a local save_pretrained "
        "folder, or offline:dinov2-small (built in, no network). Default auto: the hub's "
        "google/vit-base-patch16-224 when cached or reachable, else the offline model.",
    )
    group.add_argument(
        "--device",
        default="auto",
        choices=("auto", "cpu", "cuda", "mps"),
        help="where the model runs (default: auto = cuda, then mps, then cpu)",
    )
    group.add_argument(
        "--batch-size",
        type=int,
        default=8,
        metavar="N",
        help="images per forward pass (default: 8)",
    )
    group.add_argument(
        "--levels",
        type=int,
        default=4,
        metavar="N",
        help="number of spread levels, quantiles of entropy (default: 4)",
    )
    group.add_argument(
        "--spread-by",
        default="mean",
        metavar="MAP",
        help="map whose entropy sorts images into levels: mean, max, min, rollout "
        "or layer:K (default: mean)",
    )
    group.add_argument(
        "--head-fusion",
        default="mean",
        choices=("mean", "max", "min"),
        help="how rollout combines heads (default: mean)",
    )
    group.add_argument(
        "--discard-ratio",
        type=float,
        default=0.0,
        metavar="R",
        help="rollout: share of lowest attention entries zeroed per layer, in [0, 1) (default: 0)",
    )
    group.add_argument(
        "--rollout-start-layer",
        type=int,
        default=0,
        metavar="K",
        help="rollout: leave out the first K layers (default: 0, all layers)",
    )
    group.add_argument(
        "--cache-dir",
        type=Path,
        metavar="DIR",
        help="results and offline-model cache (default: REPORTGEN_CACHE_DIR or "
        "the user cache directory)",
    )
    group.add_argument(
        "--no-cache",
        action="store_true",
        help="always run the model; neither read nor write cached results",
    )


def _analysis_options(args: argparse.Namespace):
    from .analyze import AnalysisOptions

    return AnalysisOptions(
        model=args.model,
        device=args.device,
        batch_size=args.batch_size,
        levels=args.levels,
        spread_by=args.spread_by,
        head_fusion=args.head_fusion,
        discard_ratio=args.discard_ratio,
        rollout_start_layer=args.rollout_start_layer,
        cache_dir=args.cache_dir,
        use_cache=not args.no_cache,
    )


def _run_analyze(args: argparse.Namespace) -> None:
    from .analyze import analyze

    analysis = analyze(args.images, args.out, _analysis_options(args), say=_say)
    _say(
        f"wrote {args.out} ({len(analysis.images)} images, "
        f"{max(i.level for i in analysis.images)} levels)"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="reportgen",
        description="Reports of where a Vision Transformer looks: per-layer CLS attention, "
        "aggregates and rollout, images grouped by how spread their attention is.",
    )
    parser.add_argument("--version", action="version", version=f"reportgen {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    analyze = commands.add_parser(
        "analyze",
        help="run the model and write the results store (maps, entropy, levels)",
        description="Run the model over a folder of images and write per-image maps, entropy, "
        "levels, predictions and a manifest to OUT. Results are cached by content.",
    )
    analyze.add_argument("images", type=Path, help="folder of images (searched recursively)")
    analyze.add_argument("--out", type=Path, required=True, help="folder for the results store")
    _add_analysis_options(analyze)
    analyze.set_defaults(run=_run_analyze)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except ReportgenError as error:
        print(f"reportgen: error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("reportgen: interrupted; published files were left as they were", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
