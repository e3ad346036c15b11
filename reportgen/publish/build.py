"""Building a report, as a recipe read top to bottom over one job.

A build (:class:`ReportBuild`, driven by :func:`reportgen.api.build`):

1. stage: a hidden folder in the site (:mod:`staging`), removed unless published;
2. figures: drawn as the analysis delivers each record (:mod:`drawing`, in the engine's workers);
3. the earlier versions kept (:mod:`earlier`): staged in a worker during the analysis;
4. render (:mod:`render_job`): charts and thumbnail, page model, pages, results table, manifest,
   with the site's lock held, while that staging ends; it is taken if the published report did
   not change meanwhile, else staged again;
5. publish: the staged report swapped in whole (:mod:`staging`);
6. index: the site index rewritten (:mod:`index`).

A re-render (:func:`rerender`) runs the same steps from a published report's stored data,
without the model, drawing only the figures that are missing. Files that did not change are
hard links to the content cache or to the report before, so a rebuild writes only what is new.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from functools import partial
from pathlib import Path
from typing import Any

from reportgen import store
from reportgen.cache import format_size
from reportgen.errors import ReportgenError
from reportgen.methods import spread
from reportgen.publish import earlier, flavours, index, pages, staging, versions
from reportgen.publish.drawing import FigureDrawer
from reportgen.publish.figures import FigureStyle
from reportgen.publish.folders import (
    DATA_DIR,
    FIGURES_DIR,
    REPORTS_DIR,
    VERSIONS_DIR,
    bytecode_dir,
    cache_at,
    refuse_foreign_site,
    refuse_shared_slug,
    remember_hashes,
)
from reportgen.publish.options import ReportOptions, report_time, with_defaults
from reportgen.publish.render_job import (
    RenderJob,
    draw_missing,
    fingerprint,
    missing_pictures,
    render,
    render_from_store,
    worker_warm_up,
)
from reportgen.publish.templates import Templates
from reportgen.publish.versions import ReportVersion
from reportgen.publish.weight import budget_warning
from reportgen.results import Analysis
from reportgen.workers import InlinePool, Pool, open_pool


class ReportBuild:
    """One report being built in a hidden staging folder of the site: figures are drawn as the
    analysis delivers records (its ``drawer``), then :meth:`publish` writes the pages and swaps
    the report in. Leaving the ``with`` block without publishing removes every staged file."""

    def __init__(
        self,
        site_dir: Path,
        inputs: str,
        options: ReportOptions,
        cache: store.ContentCache | None,
        spread_spec: spread.SpreadSpec,
        norm_layer: int | None = None,
        *,
        replace: bool = False,
        keep_versions: int | None = None,
        max_site_size: int | None = None,
    ):
        """``options`` as the user gave them: defaults come from ``inputs`` (the name of the
        images' source) and the time.
        ``spread_spec`` and ``norm_layer``: the analysis's spread map (the galleries'
        thumbnails show it) and ``--norm-layer`` (the layer of the sprites' token-norm panel).
        ``replace`` overwrites the report published under the slug instead of keeping it as an
        earlier version; ``keep_versions`` bounds how many earlier versions are kept (None: all).
        ``max_site_size``: bytes the site should stay within; publishing warns beyond it.
        """
        if keep_versions is not None and keep_versions < 0:
            raise ReportgenError("--keep-versions must be 0 or more")
        self.created = report_time(options)
        self.site_dir, self.cache = Path(site_dir), cache
        self.replace, self.keep_versions = replace, keep_versions
        self.max_site_size = max_site_size
        self.options = with_defaults(options.validated(), inputs, self.created[0])
        refuse_foreign_site(self.site_dir)
        refuse_shared_slug(self.site_dir, self.options.slug, REPORTS_DIR)
        self.templates = Templates(self.options.templates_dir, bytecode_dir(cache))
        self.spread_spec = spread_spec
        self._staging = staging.Staging(self.site_dir)
        self._early_versions: Future[earlier.KeptVersions] | None = None
        self._stop = earlier.StopFile(self._staging.root / "stop")  # of the early staging
        self.report = self._staging.report
        (self.report / FIGURES_DIR).mkdir()
        self.data_dir = self.report / DATA_DIR
        cache_dir = cache.root if cache else None
        self.drawer = FigureDrawer(
            self.report, self.options.style, spread_spec, cache_dir, norm_layer
        )

    def __enter__(self) -> ReportBuild:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._staging.__exit__(*exc_info)

    def publish(
        self,
        analysis: Analysis,
        say: Callable[[str], None] = lambda message: None,
        pool: Pool | None = None,
    ) -> Path:
        """Write pages and manifest, publish atomically, update the site index; the charts
        and thumbnail are drawn in ``pool`` (by default here).

        The report already published under the slug becomes ``versions/<n>/`` of the new one,
        unless ``replace`` (then the new one takes its place and its number); at most
        ``keep_versions`` earlier versions are kept. When the new
        report would be the same as the current one (:func:`fingerprint`), nothing changes.
        """
        with staging.site_lock(self.site_dir, say):
            return self._publish(analysis, say, pool)

    def publish_store(
        self,
        store_dir: Path,
        say: Callable[[str], None] = lambda message: None,
        workers: int | None = None,
    ) -> Path:
        """:meth:`publish` the results store an analysis wrote before (``reportgen analyze``,
        the notebook's ``analyze``): its files are linked in as the report's data and its
        figures drawn from the stored maps, in ``workers`` processes (None: one per core; 0:
        here), with no model."""
        staging.link_tree(Path(store_dir), self.data_dir)
        analysis = Analysis.load(self.data_dir, called=Path(store_dir))
        to_draw = missing_pictures(self.drawer, analysis, self.options)
        with (
            staging.damaged_files(self.data_dir, Path(store_dir), "analyze the images again"),
            open_pool(workers, worker_warm_up(self.drawer)) as pool,
        ):
            draw_missing(to_draw, pool)
            return self.publish(analysis, say, pool)

    @property
    def published(self) -> Path:
        """Where the report is published (an earlier build may be there)."""
        return self.site_dir / REPORTS_DIR / self.options.slug

    def start_early_work(self, pool: Pool) -> None:
        """Start in ``pool`` what publishing needs and the analysis does not, so that it is
        done while the analysis runs: the templates compiled into the cache, and the earlier
        versions this report keeps staged (:mod:`earlier`; taken by :meth:`publish` if still
        current)."""
        if self.cache:
            pool.submit(pages.compile_templates, self.templates)
        if self.published.exists():
            stage = partial(
                earlier.stage, replace=self.replace, keep=self.keep_versions, stop=self._stop
            )
            self._early_versions = pool.submit(
                stage, self.published, self.report, self.templates, self.cache
            )

    def stop_early_work(self) -> None:
        """Ask the early staging to stop, not to be waited for: nothing it stages will be
        published (the report is unchanged, or the build failed)."""
        if self._early_versions is not None:
            self._stop.request()

    def _publish(self, analysis: Analysis, say: Callable[[str], None], pool: Pool | None) -> Path:
        """:meth:`publish`, with the site's lock held."""
        target = self.published
        current = earlier.published_manifest(target, self.replace)
        if current:
            remember_hashes(target, current.files)  # what the new version links of it
        digest = fingerprint(analysis, self.options)
        if current and not self.replace and current.fingerprint == digest:
            self.stop_early_work()
            say(
                f"{target} is unchanged (version {current.version}): same inputs, model, "
                "results and options, so nothing was published; `reportgen render` refreshes "
                "its pages, --replace rebuilds it"
            )
            return target
        kept = earlier.kept_versions(target, current, replace=self.replace, keep=self.keep_versions)
        plan = kept.plan
        job = RenderJob(
            self.report,
            analysis,
            self.options,
            self.templates,
            self.cache,
            ReportVersion(plan.number, history=kept.history),
            pool or InlinePool(),
            digest,
            target / DATA_DIR,
        )
        weight = render(job)  # while the early staging of the earlier versions ends
        self._stage_versions(target, kept, pool)
        if self.max_site_size is not None:
            args = (self.site_dir, self.report, target, self.options.formats, kept.carried)
            if warning := budget_warning(self.max_site_size, *args):
                say(warning)
        staging.publish(self.report, target, kept.carried)
        index.update_after_publishing(target, self.site_dir, self.templates)
        notes = versions.plan_notes(plan, VERSIONS_DIR)
        per_image = format_size(weight // len(analysis.images))
        say(f"report size: {format_size(weight)}, {per_image} per image (distinct files)")
        say(
            f"published {target} ({', '.join(self.options.formats)}) as version {plan.number}"
            + (f"; {'; '.join(notes)}" if notes else "")
        )
        return target

    def _stage_versions(self, target: Path, kept: earlier.KeptVersions, pool: Pool | None) -> None:
        """Stage the earlier versions ``kept``: take those :meth:`start_early_work` staged if
        the published report is still the one they were staged from, else stage them now."""
        early, self._early_versions = self._early_versions, None
        if early is not None:
            try:
                staged = early.result()
            except Exception:  # staged again below, where the error (if any) is the user's
                staged = None
            if staged == kept:
                return
            shutil.rmtree(self.report / VERSIONS_DIR, ignore_errors=True)
        earlier.stage(
            target,
            self.report,
            self.templates,
            self.cache,
            replace=self.replace,
            keep=self.keep_versions,
            pool=pool,
        )


def stored_style(report_dir: Path) -> FigureStyle:
    """The figure style a report was rendered with."""
    return ReportOptions.from_json(index.read_manifest(report_dir).report).style


def rerender(
    report_dir: Path,
    *,
    title: str | None = None,
    templates_dir: Path | None = None,
    formats: tuple[str, ...] | None = None,
    style: FigureStyle | None = None,
    flavour_options: Mapping[str, Mapping[str, Any]] | None = None,
    cache_dir: Path | None = None,
    workers: int | None = None,
    say: Callable[[str], None] = lambda message: None,
    **layout: Any,
) -> Path:
    """Re-render a published report from its stored data, without the model.

    ``title`` retitles it. ``flavour_options`` changes stored options of flavours (flavour ->
    {field: value}, e.g. ``{"jekyll": {"permalink": "/posts/:title/"}}``); ``layout`` changes
    any of the stored gallery settings (``gallery_threshold``, ``typical``, ``page_size``) and
    ``explorer_data``; without it, ``formats`` that add distill switch it to scripts, as build
    chooses it (the distill post needs them).

    Figures, thumbnails and sprites are drawn only when the style changed or they are missing (a
    report that grows past the gallery threshold, or one from before galleries), in ``workers``
    processes (None: one per core; 0: here); pages, charts and the manifest are always
    rewritten, in the current format, and the results table unless it is already the one the
    current format writes. The report is replaced atomically, and the site index updated when it
    sits in a site.
    """
    report_dir = Path(report_dir)
    site_dir = staging.site_of(report_dir)
    with staging.site_lock(site_dir or report_dir.resolve().parent, say):
        manifest = index.read_manifest(report_dir)
        remember_hashes(report_dir, manifest.files)
        stored = ReportOptions.from_json(manifest.report)
        if formats and "distill" in formats and "explorer_data" not in layout:
            layout["explorer_data"] = None  # the default for the formats, as build's
        options = stored.changed(
            title=title or stored.title,
            templates_dir=templates_dir,
            formats=formats or stored.formats,
            style=style or stored.style,
            flavour_options=flavours.options(flavour_options, stored.flavour_options),
            **layout,
        ).validated()
        cache = cache_at(cache_dir)
        templates = Templates(templates_dir, bytecode_dir(cache))
        history = index.history(report_dir)
        with staging.Staging(report_dir.resolve().parent) as stage:
            report = stage.report
            version = ReportVersion(manifest.version, manifest.archived, history)
            with staging.damaged_files(report, report_dir, "build the report again"):
                render_from_store(
                    report_dir, report, stored, options, templates, cache, version, workers=workers
                )
            staging.publish(report, report_dir, [entry.folder for entry in history])
        if report_dir.resolve().parent.name == REPORTS_DIR:
            index.update_after_publishing(report_dir, site_dir, templates)
    say(f"re-rendered {report_dir} ({', '.join(options.formats)})")
    return report_dir
