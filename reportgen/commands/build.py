"""``reportgen build``: analyse the images and publish their report into a site; with --model
repeated, one report per model and their comparison."""

from __future__ import annotations

import argparse
import gc
from collections.abc import Sequence

from reportgen import publish
from reportgen.commands import options

HELP = "analyse a folder and publish its report into a site"
DESCRIPTION = (
    "Analyse IMAGES and publish the report (html, jekyll, gfm) as OUT/reports/SLUG, then update "
    "OUT/index.html. Other reports in OUT are left alone. A report already at SLUG is kept as "
    "OUT/reports/SLUG/versions/N (unless --replace); a rebuild with the same inputs, model and "
    "options publishes nothing. Reuses cached results. With --model repeated: one report per "
    "model, as OUT/reports/SLUG-MODEL (MODEL: the model's name, made a slug), the models run one "
    "after the other, then their comparison as OUT/comparisons/ (reportgen compare)."
)
# Imported by the fork server from the command's first line (reportgen.cli).
WORKER_MODULES = ("reportgen.analysis.engines.base", *publish.WORKER_MODULES)
MODELS_HELP = (
    " Repeat it to build one report per model, slugged SLUG-MODEL, models run one after the "
    "other, and their comparison."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    options.add_inputs(parser)
    options.add_report_options(parser)
    options.add_analysis_options(parser, models=MODELS_HELP)
    options.add_render_options(parser, defaults=True)


def model_slugs(models: Sequence[str], base: str) -> list[str]:
    """Each model's report slug: ``base``, a dash and the model's name (the last part of a hub
    id, folder, ``offline:`` or ``timm:`` name, without a ``@weights`` file), made unique with
    -2, -3 ... where names repeat."""
    from reportgen.slugs import slugify

    slugs: list[str] = []
    for model in models:
        named = model.split("@", 1)[0] if model.startswith("timm:") else model
        name = named.rstrip("/\\").replace("\\", "/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]
        slug = slugify(f"{base}-{name}")
        unique, number = slug, 1
        while unique in slugs:
            number += 1
            unique = f"{slug}-{number}"
        slugs.append(unique)
    return slugs


def run(args: argparse.Namespace) -> None:
    from reportgen.api import build

    if args.model and len(args.model) > 1:
        return _build_each(args, args.model)
    build(
        options.source(args),
        args.out,
        options.analysis_params(args),
        options.report_options(args),
        options.execution(args),
        replace=args.replace,
        keep_versions=args.keep_versions,
        max_site_size=args.max_site_size,
        say=options.say,
    )


def _build_each(args: argparse.Namespace, models: list[str]) -> None:
    """One report per model, one model in memory at a time, then their comparison."""
    from reportgen.api import build
    from reportgen.publish import comparison_site
    from reportgen.slugs import slugify

    source = options.source(args)
    report_options = options.report_options(args)
    base = args.slug or slugify(source.name or "images", fallback="report")
    reports = []
    for model, slug in zip(models, model_slugs(models, base), strict=True):
        options.say(f"--model {model}: report {slug}")
        reports.append(
            build(
                source,
                args.out,
                options.analysis_params(argparse.Namespace(**{**vars(args), "model": model})),
                report_options.changed(
                    slug=slug, title=f"{args.title or source.name or 'images'}: {model}"
                ),
                options.execution(args),
                replace=args.replace,
                keep_versions=args.keep_versions,
                say=options.say,
            )
        )
        gc.collect()  # the model goes before the next one loads
    comparison_site.build(
        reports,
        args.out,
        title=args.title and f"{args.title}: {' against '.join(models)}",
        slug=args.slug and f"{args.slug}-compared",
        date=report_options.date,
        formats=report_options.formats or comparison_site.DEFAULT_FORMATS,
        templates_dir=report_options.templates_dir,
        replace=args.replace,
        workers=args.workers,
        say=options.say,
    )
