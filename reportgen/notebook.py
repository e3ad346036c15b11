"""reportgen in a notebook: :func:`analyze` a source into a :class:`Report` that shows itself.

A thin layer over the library's front door (:mod:`reportgen.api`): ``analyze`` is the analysis
``reportgen analyze`` runs, its keyword arguments are the command line's options by their field
names, and :meth:`Report.publish` publishes the stored analysis as ``reportgen publish`` does
(the code ``reportgen build`` publishes with). What a report shows is drawn by the report's
own code.

The results store goes to ``out`` when given (and stays), else to a temporary folder that lives
as long as the :class:`Report` object, so a notebook session keeps it while it uses it.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import html
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from reportgen import api
from reportgen.analysis.execution import Execution
from reportgen.analysis.sources import Source
from reportgen.commands import label_map as label_maps
from reportgen.commands import options as command_line
from reportgen.errors import ReportgenError
from reportgen.publish.figures import FigureStyle
from reportgen.results import Analysis, AnalysisParams, ImageSummary

__all__ = ["Report", "analyze"]

EXPLORER_HEIGHT = 880  # pixels of the inline explorer's frame: its controls and its canvas


def analyze(
    images: str | Path | Source | None = None,
    *,
    out: str | Path | None = None,
    say: Callable[[str], None] = command_line.say,
    **options: Any,
) -> Report:
    """Analyse ``images`` (a folder, or a :class:`Source`) and return its :class:`Report`.

    ``options`` are the command line's options by their field names: the model and analysis
    (``model``, ``levels``, ``spread_by``, ... of :class:`AnalysisParams`), where it runs
    (``device``, ``workers``, ``cache_dir``, ``use_cache``, ... of :class:`Execution`) and the
    input sources' (``labels="labels.csv"``, ``recursive=True``, ``source="folder"``...; a
    source option can stand for ``images``). The results store is written to ``out``, or to a
    temporary folder removed with the report.
    """
    if isinstance(options.get("source"), Source):
        images = options.pop("source")
    params, execution, inputs = _split(options)
    source = source_of(images, inputs)
    temporary = None
    if out is None:
        temporary = tempfile.TemporaryDirectory(prefix="reportgen-")
        out = temporary.name
    analysis = api.analyze(source, Path(out), params, execution, say=say)
    return Report(analysis, source.name, execution, temporary)


def _inputs_parser() -> argparse.ArgumentParser:
    """The command line's input options (:func:`reportgen.commands.options.add_inputs`)."""
    parser = argparse.ArgumentParser(add_help=False)
    command_line.add_inputs(parser)
    return parser


def input_options() -> tuple[str, ...]:
    """The keyword arguments that name and shape an input source, besides ``images``."""
    return tuple(name for name in vars(_inputs_parser().parse_args([])) if name != "images")


def source_of(images: str | Path | Source | None, given: dict[str, Any]) -> Source:
    """The source ``images`` and the input options ``given`` name, found as the command line
    finds it (:func:`reportgen.commands.options.source`)."""
    if isinstance(images, Source):
        if given:
            raise ReportgenError(
                f"give a Source or input options ({', '.join(sorted(given))}), not both"
            )
        return images
    args = _inputs_parser().parse_args([])
    vars(args).update(given, images=None if images is None else str(images))
    return command_line.source(args)


def _split(options: dict[str, Any]) -> tuple[AnalysisParams, Execution, dict[str, Any]]:
    """``analyze``'s keyword arguments as analysis parameters, execution and input options."""
    groups: dict[str, tuple[str, ...]] = {
        "params": _field_names(AnalysisParams),
        "execution": _field_names(Execution),
        "inputs": input_options(),
    }
    _check_names("analyze", options, [name for names in groups.values() for name in names])
    picked = {
        group: {name: value for name, value in options.items() if name in names}
        for group, names in groups.items()
    }
    label_map = picked["params"].get("label_map")
    if isinstance(label_map, str | Path):  # a file, as --label-map takes it
        picked["params"]["label_map"] = label_maps.read(Path(label_map))
    params = AnalysisParams(**picked["params"]).validated()
    return params, Execution(**picked["execution"]).validated(), picked["inputs"]


def _field_names(options: type) -> tuple[str, ...]:
    return tuple(field.name for field in dataclasses.fields(options))


def _check_names(function: str, given: dict[str, Any], known: list[str]) -> None:
    """A one-line error for the first keyword argument of ``function`` not in ``known``."""
    for name in given:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = (
                f"did you mean {close[0]!r}?" if close else f"it takes {', '.join(sorted(known))}"
            )
            raise ReportgenError(f"{function}() has no option {name!r}; {hint}")


class Report:
    """An analysis in a notebook: shows a summary of itself (the level table, the charts, each
    level's featured figure), and gives each image's figure, maps and explorer, the results
    table, and the published report. ``style`` is how its figures are drawn."""

    def __init__(
        self,
        analysis: Analysis,
        name: str,
        execution: Execution = Execution(),
        folder: tempfile.TemporaryDirectory | None = None,
    ):
        self.analysis, self.name, self.execution = analysis, name, execution
        self.style = FigureStyle()
        self._temporary = folder  # removed with the report

    @classmethod
    def load(cls, folder: str | Path) -> Report:
        """The report of a results store (``reportgen analyze --out``, ``analyze(out=...)``) or
        of a published report folder (its ``data``); needs no model."""
        folder = Path(folder)
        store = folder / "data" if (folder / "data").is_dir() else folder
        return cls(Analysis.load(store), folder.resolve().name)

    @property
    def folder(self) -> Path:
        """The results store."""
        return self.analysis.root

    def __repr__(self) -> str:
        levels = max(image.level for image in self.analysis.images)
        return (
            f"<reportgen Report {self.name!r}: {len(self.analysis.images)} images, {levels} "
            f"levels, model {self.analysis.model.model_id}, in {self.folder}>"
        )

    def _repr_html_(self) -> str:
        from reportgen.publish.summary import summary_html
        from reportgen.publish.templates import Templates

        return summary_html(self.analysis, self.name, self.style, Templates())

    def image(self, name: str) -> ImageSummary:
        """The image whose id, file name or unambiguous base name is ``name``."""
        from reportgen.publish.embed import find_image

        return find_image(self.analysis.images, name)

    def figure(self, name: str):
        """The figure of image ``name`` (a file name or an id) as a PIL image: the input as the
        model saw it, then every map, as the report draws it in :attr:`style`."""
        from reportgen.publish.figures import figure_picture

        return figure_picture(self.analysis.record(self.image(name)), self.style)

    def maps(self, name: str) -> dict[str, Any]:
        """The maps of image ``name`` as arrays, by map name (``layers``: one per layer)."""
        return dict(self.analysis.record(self.image(name)).maps)

    def explorer(self, name: str):
        """The attention explorer of image ``name``, inline in the notebook (an IPython
        ``HTML`` object; every script and picture is in it, no server is needed)."""
        from reportgen.publish import explorer
        from reportgen.publish.templates import Templates

        try:
            from IPython.display import HTML
        except ImportError:
            raise ReportgenError(
                "the explorer is shown by IPython: pip install 'reportgen[notebook]'"
            ) from None
        page = explorer.standalone_page(self.analysis, self.image(name), self.style, Templates())
        return HTML(
            f'<div><iframe srcdoc="{html.escape(page)}" title="Attention explorer" '
            f'style="width: 100%; height: {EXPLORER_HEIGHT}px; border: 0; resize: vertical" '
            'sandbox="allow-scripts"></iframe></div>'
        )

    def to_pandas(self):
        """The results table (one row per image: level, entropy, predictions, label...)."""
        try:
            return self.analysis.table().to_pandas()
        except ImportError:
            raise ReportgenError(
                "to_pandas needs pandas: pip install 'reportgen[notebook]'"
            ) from None

    def publish(
        self,
        site: str | Path,
        formats: str | list[str] | tuple[str, ...] | None = None,
        *,
        replace: bool = False,
        keep_versions: int | None = None,
        **options: Any,
    ) -> Path:
        """Publish the report into the site folder ``site`` as ``reportgen build`` does (without
        running the model again); returns the report folder. ``formats``: the flavours, by
        default those of the command line; ``options``: the report's (``title``, ``slug``,
        ``date``, ``description``, ``gallery_threshold``...), its figures in :attr:`style`."""
        from reportgen.publish.options import ReportOptions

        return api.publish(
            self.folder,
            Path(site),
            report_options(ReportOptions(style=self.style), formats, options),
            self.execution,
            name=self.name,
            replace=replace,
            keep_versions=keep_versions,
            say=command_line.say,
        )


def report_options(base, formats: str | list[str] | tuple[str, ...] | None, given: dict):
    """``base`` (ReportOptions) changed by :meth:`Report.publish`'s arguments, with one-line
    errors for names it does not have."""
    from reportgen.publish.options import GallerySettings, ReportOptions, parse_date

    fields = (*_field_names(ReportOptions), *GallerySettings.FIELDS)
    _check_names("publish", given, [name for name in fields if name not in ("formats", "gallery")])
    if isinstance(given.get("date"), str):
        given = {**given, "date": parse_date(given["date"])}
    if formats is not None:
        names = formats.split(",") if isinstance(formats, str) else formats
        given = {**given, "formats": tuple(name.strip() for name in names)}
    return base.changed(**given)
