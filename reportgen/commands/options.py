"""Option groups more than one command takes, and what they become: one place for each."""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
from pathlib import Path
from typing import Any

from reportgen.commands import argument_types, label_map
from reportgen.errors import ReportgenError

# Page layout options: None leaves the report's value (stored, or the default of a new report).
LAYOUT_OPTIONS = ("gallery_threshold", "typical", "page_size", "explorer_data")
_DEFAULT = re.compile(r" ?\(default: [^()]*\)")  # what an option's help says it defaults to


def say(message: str) -> None:
    """A line for the user, on standard error."""
    print(f"reportgen: {message}", file=sys.stderr, flush=True)


def add_inputs(parser: argparse.ArgumentParser) -> None:
    """The images a command reads: IMAGES, and each input source's own options."""
    from reportgen.analysis.sources import registry
    from reportgen.analysis.sources.base import add_column_options

    parser.add_argument(
        "images",
        nargs="?",
        help="the images: a folder, or what --source reads; optional with an option that "
        "names another source (then the folder its relative paths start from)",
    )
    group = parser.add_argument_group("input sources")
    group.add_argument(
        "--source",
        metavar="KIND",
        help=f"what IMAGES is, by its source's name: {', '.join(registry())} "
        "(default: the source the options below ask for, else folder)",
    )
    add_column_options(group)
    for kind in registry().values():
        kind.add_options(group)


def source(args: argparse.Namespace):
    """The input source ``args`` name (see :func:`add_inputs`)."""
    from reportgen.analysis.sources import from_options, open_source

    if args.source is not None:
        if args.images is None:
            raise ReportgenError(f"--source {args.source} reads IMAGES: give it")
        return open_source(args.source, args.images, args)
    return from_options(args.images, args)


def add_analysis_options(parser: argparse.ArgumentParser, *, models: str = "") -> None:
    """The model and analysis options, and where the analysis runs (analyze, build).
    ``models``: --model may be repeated (a list, None when not given), and this says what for."""
    from reportgen.methods import spread  # the --spread-by choices: the map methods
    from reportgen.methods.artifacts import ARTIFACT_RULES
    from reportgen.methods.features import PCA_MODES
    from reportgen.methods.maps import HEAD_FUSIONS
    from reportgen.results import FAITHFULNESS_MAPS, FAITHFULNESS_PRECISIONS, FAITHFULNESS_STEPS

    group = parser.add_argument_group("model and analysis")
    group.add_argument(
        "--model",
        default=None if models else "auto",
        action="append" if models else "store",
        help="HuggingFace hub id (e.g. google/vit-base-patch16-224), a local save_pretrained "
        "folder, offline:dinov2-small (built in, no network), or a timm model: timm:NAME "
        "(weights from the local HuggingFace cache) or timm:NAME@/path/weights.safetensors. "
        "Default auto: the hub's google/vit-base-patch16-224 when cached or reachable, else "
        "the offline model." + models,
    )
    group.add_argument(
        "--random-weights",
        action="store_true",
        help="a timm model (--model timm:NAME) with random weights (seed 0), e.g. to test a "
        "setup; the report says so on its front page",
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
        help=f"map whose entropy sorts images into levels: {spread.choices_text()} (default: mean)",
    )
    group.add_argument(
        "--head-fusion",
        default="mean",
        choices=HEAD_FUSIONS,
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
        type=argument_types.start_layer,
        default="auto",
        metavar="K",
        help="rollout (and min): leave out the first K layers; 0 = every layer (the paper); "
        "auto = after the early layers the model's artifact tokens dominate (default: auto)",
    )
    group.add_argument(
        "--artifacts",
        choices=("mask", "keep"),
        default="mask",
        help="artifact patches (lone tokens nearly every token attends to): mask = fill them "
        "with their neighbours' median in every map; keep = leave them (default: mask)",
    )
    group.add_argument(
        "--artifacts-by",
        choices=ARTIFACT_RULES,
        default="attention",
        help="what finds the artifact patches: attention = received by nearly every token, a "
        "lone spike; norm = the token's norm, in the layer's high-norm population (Darcet et "
        "al.); both = either (default: attention, measured best in docs/maps.md)",
    )
    group.add_argument(
        "--norm-layer",
        type=int,
        metavar="N",
        help="the layer (1 for the first) whose token norms give each image's artifact score "
        "(default: the last)",
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
        "--label-map",
        type=Path,
        metavar="FILE",
        help="the source's labels as the model's class names, for accuracy: a CSV/TSV of two "
        "columns without a header (label, class name) or a JSON object {label: class name}",
    )
    group.add_argument(
        "--faithfulness",
        action="store_true",
        help="score the maps by deletion and insertion (Petsiuk et al. 2018) and add the "
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
        "--faithfulness-steps",
        type=int,
        default=FAITHFULNESS_STEPS,
        metavar="K",
        help=f"steps of the deletion and insertion curves (default: {FAITHFULNESS_STEPS}, "
        "chosen by measurement: docs/faithfulness.md)",
    )
    group.add_argument(
        "--faithfulness-maps",
        choices=FAITHFULNESS_MAPS,
        default="aggregates",
        help="maps scored: aggregates, the one-grid maps the report shows (max, min, mean, "
        "rollout, relevance; the default), or all: those and each layer's map, one more curve "
        "pair per layer",
    )
    group.add_argument(
        "--faithfulness-precision",
        choices=FAITHFULNESS_PRECISIONS,
        default="auto",
        help="precision of faithfulness's forward passes: auto (the default) is bfloat16 where "
        "the device computes it natively (CPUs with AMX or AVX-512 BF16, recent GPUs; 1.5 to "
        "2.7x faster per forward here, mean areas within 0.001) and float32 elsewhere; a model "
        "loaded with --dtype float16 or bfloat16 runs in its own precision",
    )
    group.add_argument(
        "--pca",
        choices=PCA_MODES,
        default="per-report",
        help="the feature view (the last layer's first three principal components as RGB): "
        "fitted on the report (default: once, on its first 64 images, and kept by its rebuilds "
        "with the same model, so colours mean the same in every image and added images change "
        "no earlier panel), or on each image alone",
    )
    group.add_argument(
        "--keep-heads",
        action="store_true",
        help="store every head's CLS attention as float16 instead of 4 bits per value: about "
        "26 KB more per image for ViT-S at 224 (the maps the report shows are the same either way)",
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
    add_workers_option(group, "finish records and draw figures next to the model")
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


def add_workers_option(
    group: argparse._ArgumentGroup, work: str = "draw the figures from the stored maps"
) -> None:
    """--workers (analyze and build, which say ``work`` is done beside the model; publish,
    render, compare)."""
    group.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help=f"processes that {work}; 0 = all in this process (default: one per core)",
    )


def analysis_params(args: argparse.Namespace):
    """What :func:`add_analysis_options`' arguments ask to compute (each option is named as its
    AnalysisParams field)."""
    from reportgen.results import AnalysisParams

    given = _given(args, AnalysisParams)
    if not isinstance(given.get("model", ""), str):  # build's repeats: one model at a time
        (given["model"],) = given["model"] or ["auto"]
    if given.get("label_map") is not None:
        given["label_map"] = label_map.read(given["label_map"])
    return AnalysisParams(**given)


def execution(args: argparse.Namespace):
    """Where :func:`add_analysis_options`' arguments ask the analysis to run."""
    from reportgen.analysis.execution import Execution

    return Execution(**_given(args, Execution), use_cache=not args.no_cache)


def _given(args: argparse.Namespace, options: type) -> dict[str, Any]:
    """The arguments named as fields of the dataclass ``options``."""
    names = (field.name for field in dataclasses.fields(options))
    return {name: getattr(args, name) for name in names if hasattr(args, name)}


def add_report_options(parser: argparse.ArgumentParser) -> None:
    """Where a new report goes, its metadata and what becomes of the one it replaces (build,
    publish)."""
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
    versions.add_argument(
        "--max-site-size",
        type=argument_types.size_argument,
        metavar="SIZE",
        help="the site's budget, such as 1GB (GitHub Pages' limit): before publishing, warn "
        "when the site would weigh more with this report, naming what to drop and what each "
        "would save (default: no budget)",
    )


def report_options(args: argparse.Namespace):
    """The ReportOptions that :func:`add_report_options`' and :func:`add_render_options`'
    arguments (with defaults) ask for."""
    from reportgen.publish import flavours
    from reportgen.publish.figures import FigureStyle
    from reportgen.publish.options import ReportOptions, parse_date

    given, named = flavours.given_options(args), formats(args.formats)
    for flavour in sorted(set(given) - set(named or ())):  # a flavour the build will not write
        say(f"the {flavour} flavour's options do nothing: --format does not name {flavour}")
    return ReportOptions(
        title=args.title,
        slug=args.slug,
        description=args.description,
        date=parse_date(args.date) if args.date else None,
        formats=named,
        style=FigureStyle(
            colormap=args.colormap,
            alpha=args.alpha,
            image_format=args.image_format,
            normalise=args.normalise,
        ),
        templates_dir=args.templates,
        flavour_options=flavours.options(given),
    ).changed(**layout_options(args))


def add_render_options(parser: argparse.ArgumentParser, *, defaults: bool) -> None:
    """Options shared by build and render; render (not ``defaults``) keeps the stored value when
    one is omitted, and its help says so. Each flavour adds its own (reportgen.publish.flavours)."""
    from reportgen.publish import flavours

    group = parser.add_argument_group("pages and figures")
    default_formats = ",".join(flavours.DEFAULT_FORMATS)
    group.add_argument(
        "--format",
        dest="formats",
        metavar="LIST",
        default=default_formats if defaults else None,
        help=f"comma-separated flavours: {flavours.help_text()} (default: {default_formats})",
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
        "for an image's layers, max and mean (default: panel)",
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
    flavours.add_arguments(group, defaults=defaults)
    group.add_argument(
        "--gallery-threshold",
        type=int,
        metavar="N",
        help="reports of more than N images get a gallery per level and a page per image; "
        "smaller ones are a single page (default: 50)",
    )
    group.add_argument(
        "--typical",
        type=int,
        metavar="K",
        help="with galleries: images shown in full per level on the front page, those nearest "
        "the level's median entropy (default: 3)",
    )
    group.add_argument(
        "--page-size",
        type=int,
        metavar="N",
        help="thumbnails per gallery page (default: 200)",
    )
    group.add_argument(
        "--explorer-data",
        choices=("scripts", "maps"),
        help="where the attention explorer reads an image's data: maps = the image's maps "
        "file, fetched, so nothing is stored twice, but only over http(s): a page opened from "
        "disk says how to serve it; scripts = a data script per image (about 57 kB more per "
        "image for ViT-S; works from disk too) (default: maps; scripts with --format distill)",
    )
    if not defaults:
        _say_kept(group)


def _say_kept(group: argparse._ArgumentGroup) -> None:
    """Each default in ``group``'s help becomes "(default: as built)", once: render keeps it."""
    for action in group._group_actions:
        if action.help and _DEFAULT.search(action.help):
            action.help = _DEFAULT.sub("", action.help) + " (default: as built)"


def layout_options(args: argparse.Namespace) -> dict:
    """The layout options given (see LAYOUT_OPTIONS), by ReportOptions field."""
    return {name: getattr(args, name) for name in LAYOUT_OPTIONS if getattr(args, name) is not None}


def formats(text: str | None) -> tuple[str, ...] | None:
    """--format's comma-separated flavours, each one known (an empty list is an error, as an
    unknown name is, never the default); None when not given."""
    from reportgen.publish import flavours

    if text is None:
        return None
    return flavours.check_names(part.strip() for part in text.split(",") if part.strip())


def add_cache_dir(parser: argparse.ArgumentParser) -> None:
    """--cache-dir, for the commands that use the cache but run no analysis."""
    parser.add_argument(
        "--cache-dir",
        type=Path,
        metavar="DIR",
        help="the cache (default: REPORTGEN_CACHE_DIR or the user cache directory)",
    )
