"""Command line: parses options and calls the library. No logic of its own."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from reportgen import __version__
from reportgen.errors import ReportgenError, os_error

# Page layout options: None leaves the report's value (stored, or the default of a new report).
LAYOUT_OPTIONS = ("jekyll_permalink", "gallery_threshold", "typical", "page_size")


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
        "--dtype",
        default="float32",
        choices=("float32", "float16", "bfloat16"),
        help="precision of the forward pass; the maps are computed in float32 or better "
        "whatever it is (default: float32)",
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
        type=_start_layer,
        default="auto",
        metavar="K",
        help="rollout: leave out the first K layers; 0 = every layer (the paper); auto = after "
        "the early layers the model's artifact tokens dominate (default: auto)",
    )
    group.add_argument(
        "--artifacts",
        choices=("mask", "keep"),
        default="mask",
        help="artifact patches (lone tokens nearly every token attends to): mask = fill them "
        "with their neighbours' median in every map; keep = leave them (default: mask)",
    )
    group.add_argument(
        "--relevance",
        action="store_true",
        help="add class-specific relevance (Chefer et al. 2021; classifiers only, one backward "
        "pass per batch)",
    )
    group.add_argument(
        "--target-class",
        metavar="NAME|ID",
        help="class that relevance explains (default: each image's top-1 class)",
    )
    group.add_argument(
        "--faithfulness",
        action="store_true",
        help="score every map by deletion and insertion (Petsiuk et al. 2018) and add the "
        "section 'Which map to trust'",
    )
    group.add_argument(
        "--faithfulness-images",
        type=int,
        default=32,
        metavar="N",
        help="images scored for faithfulness, picked evenly across levels (default: 32)",
    )
    group.add_argument(
        "--keep-heads",
        action="store_true",
        help="store every head's CLS attention as float16 instead of 8 bits per value: about "
        "18 KB more per image for ViT-S at 224 (the maps the report shows are float32 either way)",
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
    _add_workers_option(group)
    scale = parser.add_argument_group("scaling out")
    scale.add_argument(
        "--engine",
        default="local",
        metavar="NAME",
        help="what runs the images: local (this machine) or ray (Ray Data; pip install "
        "'reportgen[ray]') (default: local)",
    )
    scale.add_argument(
        "--ray-address",
        metavar="ADDRESS",
        help="join a running Ray cluster (e.g. ray://head:10001 or auto); default: start a "
        "local Ray instance for this run",
    )
    scale.add_argument(
        "--ray-actors",
        type=int,
        metavar="N",
        help="model replicas on Ray (default: one per GPU of the cluster, else one)",
    )


def _add_workers_option(group: argparse._ArgumentGroup) -> None:
    group.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="processes that finish records and draw figures next to the model; 0 = all in "
        "this process (default: one per core)",
    )


def _start_layer(text: str) -> int | str:
    """``auto`` or a whole number, for --rollout-start-layer."""
    if text == "auto":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected auto or a whole number, got {text!r}") from None


def _analysis_options(args: argparse.Namespace):
    from reportgen.results import AnalysisOptions

    return AnalysisOptions(
        model=args.model,
        device=args.device,
        batch_size=args.batch_size,
        levels=args.levels,
        spread_by=args.spread_by,
        head_fusion=args.head_fusion,
        discard_ratio=args.discard_ratio,
        rollout_start_layer=args.rollout_start_layer,
        artifacts=args.artifacts,
        relevance=args.relevance,
        target_class=args.target_class,
        faithfulness=args.faithfulness,
        faithfulness_images=args.faithfulness_images,
        keep_heads=args.keep_heads,
        cache_dir=args.cache_dir,
        use_cache=not args.no_cache,
        dtype=args.dtype,
        workers=args.workers,
        engine=args.engine,
        ray_address=args.ray_address,
        ray_actors=args.ray_actors,
    )


def _run_analyze(args: argparse.Namespace) -> None:
    from reportgen.api import analyze

    analysis = analyze(args.images, args.out, _analysis_options(args), say=_say)
    _say(
        f"wrote {args.out} ({len(analysis.images)} images, "
        f"{max(i.level for i in analysis.images)} levels)"
    )


def _add_render_options(parser: argparse.ArgumentParser, *, defaults: bool) -> None:
    """Options shared by build and render; render keeps the stored value when one is omitted."""
    group = parser.add_argument_group("pages and figures")
    group.add_argument(
        "--format",
        dest="formats",
        metavar="LIST",
        default="html,jekyll,gfm" if defaults else None,
        help="comma-separated flavours: html (standalone page), jekyll (al-folio "
        "post), gfm (GitHub Markdown)"
        + (" (default: all three)" if defaults else " (default: as built)"),
    )
    group.add_argument(
        "--colormap",
        default="jet" if defaults else None,
        metavar="NAME",
        help="matplotlib colormap of the overlays (default: jet)",
    )
    group.add_argument(
        "--alpha",
        type=float,
        default=0.5 if defaults else None,
        metavar="A",
        help="overlay opacity in [0, 1] (default: 0.5)",
    )
    group.add_argument(
        "--normalise",
        choices=("panel", "shared"),
        default="panel" if defaults else None,
        help="overlay colours: panel = each panel from its own min to max; shared = one scale "
        "for an image's layers and max/min/mean (default: panel)",
    )
    group.add_argument(
        "--image-format",
        choices=("webp", "jpeg", "png"),
        default="webp" if defaults else None,
        help="encoding of the figures (default: webp)",
    )
    group.add_argument(
        "--templates",
        type=Path,
        metavar="DIR",
        help="folder of templates overriding the built-in ones file by file",
    )
    group.add_argument(
        "--jekyll-include",
        default="figure.liquid" if defaults else None,
        metavar="NAME",
        help="al-folio figure include: figure.liquid (current "
        "al-folio) or figure.html (older sites) (default: figure.liquid)",
    )
    kept = " (default: as built)" if not defaults else ""
    group.add_argument(
        "--jekyll-permalink",
        metavar="PATTERN",
        help="the Jekyll site's post permalink: gallery and image pages go below the post's URL "
        "(default: al-folio's /blog/:year/:title/)" + kept,
    )
    group.add_argument(
        "--gallery-threshold",
        type=int,
        metavar="N",
        help="reports of more than N images get a gallery per level and a page per image; "
        "smaller ones are a single page (default: 50)" + kept,
    )
    group.add_argument(
        "--typical",
        type=int,
        metavar="K",
        help="with galleries: images shown in full per level on the front page, those nearest "
        "the level's median entropy (default: 3)" + kept,
    )
    group.add_argument(
        "--page-size",
        type=int,
        metavar="N",
        help="thumbnails per gallery page (default: 200)" + kept,
    )


def _layout_options(args: argparse.Namespace) -> dict:
    return {name: getattr(args, name) for name in LAYOUT_OPTIONS if getattr(args, name) is not None}


def _formats(text: str | None) -> tuple[str, ...] | None:
    return tuple(part.strip() for part in text.split(",") if part.strip()) if text else None


def _run_build(args: argparse.Namespace) -> None:
    from reportgen.api import build
    from reportgen.publish.figures import FigureStyle
    from reportgen.publish.site import ReportOptions, parse_date

    report = ReportOptions(
        title=args.title,
        slug=args.slug,
        description=args.description,
        date=parse_date(args.date) if args.date else None,
        formats=_formats(args.formats),
        style=FigureStyle(
            colormap=args.colormap,
            alpha=args.alpha,
            image_format=args.image_format,
            normalise=args.normalise,
        ),
        templates_dir=args.templates,
        jekyll_include=args.jekyll_include,
        **_layout_options(args),
    )
    build(
        args.images,
        args.out,
        _analysis_options(args),
        report,
        replace=args.replace,
        keep_versions=args.keep_versions,
        say=_say,
    )


def _run_render(args: argparse.Namespace) -> None:
    from reportgen.api import rerender
    from reportgen.publish.figures import FigureStyle
    from reportgen.publish.site import stored_style

    style = None
    if args.colormap or args.alpha is not None or args.image_format or args.normalise:
        stored = stored_style(args.report)
        style = FigureStyle(
            colormap=args.colormap or stored.colormap,
            alpha=stored.alpha if args.alpha is None else args.alpha,
            image_format=args.image_format or stored.image_format,
            normalise=args.normalise or stored.normalise,
        )
    rerender(
        args.report,
        templates_dir=args.templates,
        formats=_formats(args.formats),
        style=style,
        jekyll_include=args.jekyll_include,
        cache_dir=args.cache_dir,
        workers=args.workers,
        say=_say,
        **_layout_options(args),
    )


def _run_verify(args: argparse.Namespace) -> int:
    from reportgen.publish.verify import verify

    result = verify(args.path)
    for problem in result.problems:
        print(problem)
    print(result.summary())
    return 1 if result.problems else 0


def _run_cache_info(args: argparse.Namespace) -> None:
    from reportgen import cache

    print("\n".join(cache.usage(args.cache_dir).lines()))


def _run_cache_prune(args: argparse.Namespace) -> None:
    from reportgen import cache

    _say(cache.prune(args.cache_dir, max_size=args.max_size, older_than=args.older_than).summary())


def _add_cache_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--cache-dir",
        type=Path,
        metavar="DIR",
        help="the cache (default: REPORTGEN_CACHE_DIR or the user cache directory)",
    )


def _size(text: str) -> int:
    from reportgen.cache import parse_size

    return _argument(parse_size, text)


def _age(text: str) -> float:
    from reportgen.cache import parse_age

    return _argument(parse_age, text)


def _argument(parse: Callable[[str], Any], text: str) -> Any:
    """``parse(text)``, its ValueError an argparse usage error."""
    try:
        return parse(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _run_export(args: argparse.Namespace) -> None:
    from reportgen.api import export

    written = export(args.report, args.format, args.out)
    if written is not None:
        _say(f"wrote {written}")


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

    build = commands.add_parser(
        "build",
        help="analyse a folder and publish its report into a site",
        description="Analyse IMAGES and publish the report (html, jekyll, gfm) as "
        "OUT/reports/SLUG, then update OUT/index.html. Other reports in OUT are left alone. "
        "A report already at SLUG is kept as OUT/reports/SLUG/versions/N (unless --replace); "
        "a rebuild with the same inputs, model and options publishes nothing. Reuses cached "
        "results.",
    )
    build.add_argument("images", type=Path, help="folder of images (searched recursively)")
    build.add_argument(
        "--out",
        type=Path,
        default=Path("site"),
        help="site folder holding every report (default: site)",
    )
    meta = build.add_argument_group("report")
    meta.add_argument("--title", help="report title (default: from the folder name)")
    meta.add_argument("--slug", help="folder and URL name (default: from the folder name)")
    meta.add_argument(
        "--date",
        metavar="YYYY-MM-DD",
        help="report date (default: today, or SOURCE_DATE_EPOCH when set)",
    )
    meta.add_argument("--description", help="one-line description for front matter")
    versions = build.add_argument_group("versions")
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
    _add_analysis_options(build)
    _add_render_options(build, defaults=True)
    build.set_defaults(run=_run_build)

    render = commands.add_parser(
        "render",
        help="re-render a published report from its stored data (no model)",
        description="Re-render REPORT (a site/reports/SLUG folder) from its manifest and data, "
        "for example after changing templates. Figures are redrawn only when their style "
        "changes. The site index is updated.",
    )
    render.add_argument("report", type=Path, help="report folder (holds manifest.json and data/)")
    _add_render_options(render, defaults=False)
    _add_cache_dir(render)
    _add_workers_option(render)
    render.set_defaults(run=_run_render)

    verify = commands.add_parser(
        "verify",
        help="check published reports against their manifests (no model)",
        description="Check a report (a site/reports/SLUG folder) or every report of a site, "
        "and the earlier versions each keeps: every file the manifest lists is there with its "
        "sha256 and no other file is; the inputs' hashes are recorded; the maps files load; "
        "the stored maps re-derive the recorded entropies and levels. Prints one line per "
        "problem and a summary; exit status 1 when there is a problem.",
    )
    verify.add_argument("path", type=Path, help="a report folder or a site folder")
    verify.set_defaults(run=_run_verify)

    cache = commands.add_parser(
        "cache",
        help="show or prune the cache",
        description="The cache keeps results, figures, charts, converted models and compiled "
        "templates between runs, keyed by content; it is safe to delete.",
    )
    cache_commands = cache.add_subparsers(dest="cache_command", required=True, metavar="ACTION")
    info = cache_commands.add_parser(
        "info",
        help="where the cache is and its size by kind",
        description="Show where the cache is and its size and number of entries by kind.",
    )
    _add_cache_dir(info)
    info.set_defaults(run=_run_cache_info)
    prune = cache_commands.add_parser(
        "prune",
        help="remove least recently used entries",
        description="Remove the entries unused for longer than --older-than, then the least "
        "recently used ones until the cache is at most --max-size. Refused while another "
        "reportgen command is using the cache.",
    )
    prune.add_argument(
        "--max-size",
        type=_size,
        metavar="SIZE",
        help="keep at most this much, e.g. 2GB, 500MB, 1.5GiB",
    )
    prune.add_argument(
        "--older-than",
        type=_age,
        metavar="AGE",
        help="remove entries unused for longer than this, e.g. 30d, 12h, 2w",
    )
    _add_cache_dir(prune)
    prune.set_defaults(run=_run_cache_prune)

    export = commands.add_parser(
        "export",
        help="write a report's results table (one row per image) as CSV or Parquet",
        description="Write the results table of REPORT (a site/reports/SLUG folder, or a "
        "folder written by analyze): one row per image with its name, sha256, level, entropy, "
        "per-layer entropies, top-k labels and probabilities, artifact counts per layer and "
        "the paths of its maps file and figure (relative to the report's data/ folder).",
    )
    export.add_argument("report", type=Path, help="report folder or results folder")
    export.add_argument(
        "--format",
        choices=("csv", "parquet"),
        default="csv",
        help="csv (lists spread over numbered columns) or parquet (default: csv)",
    )
    export.add_argument(
        "--out",
        type=Path,
        metavar="FILE",
        help="where to write; - for standard output (default: REPORT_NAME.csv or .parquet in "
        "the current folder)",
    )
    export.set_defaults(run=_run_export)
    return parser


def _interrupt(signal_number: int, frame: object) -> None:
    """SIGTERM ends a run like Ctrl-C does: staged files are removed on the way out."""
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _interrupt) if in_main_thread else None
    try:
        return args.run(args) or 0
    except (ReportgenError, OSError) as error:  # an OS error not foreseen: still one line
        message = error if isinstance(error, ReportgenError) else os_error(error)
        print(f"reportgen: error: {message}", file=sys.stderr)
        return ReportgenError.exit_code
    except KeyboardInterrupt:
        print("reportgen: interrupted; published files were left as they were", file=sys.stderr)
        return 130
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
