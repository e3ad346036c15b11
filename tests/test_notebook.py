"""The notebook API (issue 19): ``from reportgen import analyze``, the Report it returns (figure,
maps, explorer, table, publish), keyword arguments as the command line's options, one-line
errors, and the example notebook executed by a real kernel."""

from __future__ import annotations

import base64
import dataclasses
import html
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, site_files, write_images
from PIL import Image

from reportgen import api, notebook
from reportgen.analysis import sources
from reportgen.analysis.execution import Execution
from reportgen.analysis.sources.base import Encoded, Item, Source
from reportgen.errors import ReportgenError
from reportgen.publish.figures import FigureStyle
from reportgen.publish.options import ReportOptions, parse_date
from reportgen.results import AnalysisParams

EXAMPLE = ROOT / "examples" / "notebook.ipynb"


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    return write_images(tmp_path_factory.mktemp("notebook") / "shelf", 6)


@pytest.fixture(scope="module")
def report(images, tiny_vit_dir, tmp_path_factory) -> notebook.Report:
    cache = tmp_path_factory.mktemp("notebook-cache")
    return notebook.analyze(
        images, model=str(tiny_vit_dir), device="cpu", workers=0, cache_dir=cache, levels=3
    )


class CountedSource(Source):
    """A source named by its own option (``--counted N``), as a plugin's would be."""

    kind = "counted"

    def __init__(self, size: int):
        self.size = size

    @classmethod
    def add_options(cls, group) -> None:
        group.add_argument("--counted", type=int, metavar="N")

    @classmethod
    def from_options(cls, images, args) -> CountedSource | None:
        return None if args.counted is None else cls(args.counted)

    @property
    def name(self) -> str:
        return "counted"

    def describe(self) -> dict:
        return {"counted": self.size}

    def items(self):
        for index, path in enumerate(sorted((ROOT / "examples" / "images").glob("*/*.jpg"))):
            if index == self.size:
                return
            yield Item(index, path.name, Encoded(path.read_bytes()), label=f"class {index % 2}")


@pytest.fixture
def counted_source(monkeypatch):
    monkeypatch.setitem(sources.SOURCES, CountedSource.kind, CountedSource)
    sources.registry.cache_clear()
    yield
    sources.registry.cache_clear()


def test_import_reportgen_stays_light_and_analyze_is_the_notebooks():
    code = (
        "import sys, reportgen; heavy = ('reportgen.notebook', 'numpy', 'reportgen.api');"
        " light = [m for m in heavy if m in sys.modules];"
        " from reportgen import analyze; import reportgen.notebook as n;"
        " print(light, analyze is n.analyze)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert result.stdout.split() == ["[]", "True"]
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        import reportgen

        reportgen.nothing  # noqa: B018


def test_the_report_keeps_its_store_in_a_temporary_folder_while_it_lives(report, images):
    assert report.folder.is_dir() and (report.folder / "results.parquet").is_file()
    assert report.name == "shelf"
    assert len(report.analysis.images) == 6
    assert max(image.level for image in report.analysis.images) == 3
    assert "6 images, 3 levels" in repr(report)


def test_out_keeps_the_store_and_load_reads_it_back(images, tiny_vit_dir, tmp_path):
    out = tmp_path / "store"
    made = notebook.analyze(images, out=out, model=str(tiny_vit_dir), device="cpu", workers=0)
    assert made.folder == out
    loaded = notebook.Report.load(out)
    assert [image.id for image in loaded.analysis.images] == [
        image.id for image in made.analysis.images
    ]
    assert loaded.to_pandas()["entropy"].tolist() == made.to_pandas()["entropy"].tolist()


def test_figure_is_the_published_figure_as_a_pil_image(report, tmp_path):
    report.style = FigureStyle(image_format="png")  # lossless: the pixels must be equal
    try:
        published = report.publish(tmp_path / "site", ["html"], date="2024-05-24")
        image = report.analysis.images[2]
        by_id, by_name = report.figure(image.id), report.figure(image.name)
    finally:
        report.style = FigureStyle()
    assert isinstance(by_id, Image.Image)
    stored = Image.open(published / "figures" / f"{image.id}.png")
    assert by_id.size == stored.size
    assert np.array_equal(np.asarray(by_id), np.asarray(stored.convert("RGB")))
    assert np.array_equal(np.asarray(by_name), np.asarray(by_id))


def test_maps_are_the_stored_arrays_by_name(report):
    image = report.analysis.images[0]
    maps = report.maps(image.name)
    assert set(maps) == {"layers", "max", "min", "mean", "rollout", "norms", "features"}
    assert maps["layers"].shape == maps["norms"].shape == (2, 4, 4)  # 2 layers, a 4 x 4 grid
    assert maps["features"].shape == (3, 4, 4)  # three principal components (RGB) per patch
    assert maps["mean"].shape == maps["rollout"].shape == (4, 4)
    assert np.array_equal(maps["max"], report.analysis.record(image).maps["max"])


def test_the_explorer_is_one_inline_frame_with_every_script_inside(report):
    image = report.analysis.images[1]
    shown = report.explorer(image.id)
    frame = re.fullmatch(r'<div><iframe srcdoc="([^"]*)"[^>]*></iframe></div>', shown.data)
    assert frame, shown.data[:200]
    page = html.unescape(frame.group(1))
    sources_ = re.findall(r'<script src="([^"]*)"', page)
    assert len(sources_) == 3
    assert all(src.startswith("data:text/javascript;base64,") for src in sources_)
    scripts = [base64.b64decode(src.split(",", 1)[1]).decode() for src in sources_]
    # explorer.js builds the controls inside the section (they are no longer in the markup)
    assert 'data-explorer="explorer"' in page and any("createElement" in s for s in scripts)
    data = next(s for s in scripts if '"grid"' in s)  # the image's data, which sets the layers
    image_data = json.loads(data[data.index("{") : data.rindex("}") + 1])
    assert len(image_data["layers"]["low"]) == report.analysis.model.layers
    assert 'src="http' not in page and 'href="http' not in page


def test_to_pandas_is_the_results_table(report):
    table = report.to_pandas()
    assert len(table) == 6
    assert table["id"].tolist() == [image.id for image in report.analysis.images]
    assert {"label", "predicted", "correct", "level", "entropy"} <= set(table.columns)


def test_publish_is_the_report_build_publishes(images, tiny_vit_dir, tmp_path, monkeypatch):
    """The same images, model and options published from the notebook and by ``reportgen
    build``: the same report, byte for byte."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1716508800")
    execution = Execution(device="cpu", workers=0, cache_dir=tmp_path / "cache")
    built = api.build(
        images,
        tmp_path / "built",
        AnalysisParams(model=str(tiny_vit_dir)),
        ReportOptions(formats=("html", "gfm"), date=parse_date("2024-05-24")),
        execution,
    )
    made = notebook.analyze(
        images, model=str(tiny_vit_dir), device="cpu", workers=0, cache_dir=tmp_path / "cache"
    )
    published = made.publish(tmp_path / "published", "html,gfm", date="2024-05-24")
    assert published.relative_to(tmp_path / "published") == built.relative_to(tmp_path / "built")
    assert site_files(published) == site_files(built)
    again = made.publish(tmp_path / "published", ["html", "gfm"], date="2024-05-24")
    assert again == published and not (published / "versions").exists()  # unchanged: kept


def test_keyword_arguments_name_a_source_as_the_command_line_options_do(
    counted_source, tiny_vit_dir, tmp_path
):
    made = notebook.analyze(
        counted=3, model=str(tiny_vit_dir), device="cpu", workers=0, cache_dir=tmp_path
    )
    assert made.name == "counted"
    table = made.to_pandas()
    assert table["label"].tolist() == ["class 0", "class 1", "class 0"]
    assert table["predicted"].notna().all()
    assert table["correct"].isna().all()  # the labels are not the model's classes
    mapping = tmp_path / "map.json"
    mapping.write_text('{"class 0": "LABEL_0", "class 1": "LABEL_1"}')
    mapped = notebook.analyze(counted=3, label_map=mapping, model=str(tiny_vit_dir), workers=0)
    assert mapped.analysis.params.label_map == {"class 0": "LABEL_0", "class 1": "LABEL_1"}
    correct = mapped.to_pandas()["correct"].tolist()
    predicted = mapped.to_pandas()["predicted"].tolist()
    assert correct == [p == f"LABEL_{i % 2}" for i, p in enumerate(predicted)]
    given = CountedSource(2)
    assert notebook.analyze(given, model=str(tiny_vit_dir), workers=0).name == "counted"
    with pytest.raises(ReportgenError, match="not both"):
        notebook.analyze(given, counted=2)


def test_labels_name_a_csv_source_as_labels_does_on_the_command_line(
    images, tiny_vit_dir, tmp_path
):
    listing = tmp_path / "labels.csv"
    listing.write_text("file,label\nimg01.png,cat\nimg04.png,dog\nmissing.png,cat\n")
    made = notebook.analyze(
        images, labels=listing, model=str(tiny_vit_dir), device="cpu", workers=0, cache_dir=tmp_path
    )
    table = made.to_pandas()
    assert table["name"].tolist() == ["img01.png", "img04.png"]
    assert table["label"].tolist() == ["cat", "dog"]
    assert [skipped.name for skipped in made.analysis.skipped] == ["missing.png"]
    assert "; 1 row of the labels file skipped." in made._repr_html_()  # a CSV's, not a file


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: notebook.analyze(EXAMPLE.parent / "images", levle=3),
            "no option 'levle'; did you mean 'levels'",
        ),
        (
            lambda: notebook.analyze(EXAMPLE.parent / "images", colour=1),
            "no option 'colour'; it takes",
        ),
        (
            lambda: notebook.analyze(EXAMPLE.parent / "images", levels=0),
            "--levels must be at least 1",
        ),
        (lambda: notebook.analyze(ROOT / "no-such-folder", model="x"), "not found"),
        (lambda: notebook.analyze(source="nowhere"), "reads IMAGES"),
        (lambda: notebook.analyze(), "give the images"),
    ],
)
def test_bad_analyze_calls_are_one_line_errors(call, message):
    with pytest.raises(ReportgenError) as raised:
        call()
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda r: r.figure("nothing.png"), "no image 'nothing.png' in this report"),
        (lambda r: r.maps("000-nothing"), "no image '000-nothing'"),
        (lambda r: r.explorer(""), "no image ''"),
        (lambda r: r.publish("site", titel="x"), "no option 'titel'; did you mean 'title'"),
        (lambda r: r.publish("site", formats="html,pdf"), "pdf"),
        (lambda r: r.publish("site", date="May 24"), "--date must look like 2024-05-24"),
    ],
)
def test_bad_names_are_one_line_errors(report, call, message):
    with pytest.raises(ReportgenError) as raised:
        call(report)
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_two_images_of_one_name_are_told_apart_by_id(report):
    first, second = report.analysis.images[:2]
    twin = dataclasses.replace(second, name=first.name)
    twins = notebook.Report(dataclasses.replace(report.analysis, images=[first, twin]), "twins")
    with pytest.raises(
        ReportgenError, match=f"'{first.name}' names 2 images: .*give its path or id"
    ):
        twins.figure(first.name)
    assert twins.figure(second.id).size == report.figure(second.id).size


def test_ipython_shows_a_reportgen_error_as_one_line():
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    lines: list[str] = []
    shell._showtraceback = lambda etype, value, stb: lines.extend(stb)
    shell.run_cell("from reportgen.errors import ReportgenError\nraise ReportgenError('bad x')")
    assert lines == ["ReportgenError: bad x"]


@pytest.mark.slow
def test_the_example_notebook_runs_and_shows_its_outputs(tiny_vit_dir, tmp_path):
    """examples/notebook.ipynb executed by a kernel, its parameters cell pointed at the tiny
    model and a site in tmp_path: the summary, a figure, the explorer, the table, the site."""
    import nbformat
    from nbclient import NotebookClient

    book = nbformat.read(EXAMPLE, as_version=4)
    parameters = next(cell for cell in book.cells if "parameters" in cell.metadata.get("tags", []))
    site = tmp_path / "site"
    parameters.source += f"\nMODEL = {str(tiny_vit_dir)!r}\nSITE = {str(site)!r}\n"
    NotebookClient(
        book, timeout=600, kernel_name="python3", resources={"metadata": {"path": EXAMPLE.parent}}
    ).execute()
    outputs = {
        cell.metadata.get("tags", ["untagged"])[-1]: cell.outputs
        for cell in book.cells
        if cell.cell_type == "code"
    }
    errors = [o for cell in book.cells for o in cell.get("outputs", []) if o.output_type == "error"]
    assert errors == []
    summary = _output(outputs["summary"], "text/html")
    assert '<table class="reportgen-levels">' in summary
    pictures = re.findall(r'<img src="([^"]*)"', summary)
    assert len(pictures) == 2 + 4  # the two charts, a figure per level
    assert all(src.startswith("data:image/") for src in pictures)
    assert len(summary.encode()) < 2_000_000
    printed = "".join(o.text for o in outputs["figure"] if o.output_type == "stream")
    width, height = map(int, re.fullmatch(r"\((\d+), (\d+)\)\n", printed).groups())
    shown = Image.open(io.BytesIO(base64.b64decode(_output(outputs["figure"], "image/png"))))
    assert shown.size == (width, height) and width > height > 100
    assert "'layers': (2, 4, 4)" in _output(outputs["maps"], "text/plain")
    assert "<iframe srcdoc=" in _output(outputs["explorer"], "text/html")
    rows = re.findall(r"<tr>\s*<th>\d+</th>", _output(outputs["table"], "text/html"))
    assert len(rows) == len(list((EXAMPLE.parent / "images").glob("*/*.jpg")))
    assert (site / "index.html").is_file()
    assert str(site / "reports" / "images") in _output(outputs["publish"], "text/plain")


def _output(outputs, mime: str) -> str:
    """The first output of a cell that has ``mime``."""
    return next(output.data[mime] for output in outputs if mime in output.get("data", {}))
