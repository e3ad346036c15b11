"""Input sources: the registry (plugins included), the folder source's order, ids, names and
unreadable files, and a source that is no folder read end to end into a report."""

import json
import logging
import pickle
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import declare_entry_points
from generated_source import GeneratedSource
from PIL import Image

from reportgen import api, plugins
from reportgen.analysis import images, sources
from reportgen.analysis.engines.base import intake
from reportgen.analysis.sources.base import Encoded, Item, Unusable, recorded_path
from reportgen.analysis.sources.csv_file import CsvSource
from reportgen.analysis.sources.folder import FolderSource, discover, read_file
from reportgen.errors import ReportgenError
from reportgen.publish.options import ReportOptions, parse_date
from reportgen.record import SkippedFile


@pytest.fixture
def entry_points(monkeypatch):
    """Declare ``reportgen.sources`` entry points as installed packages would; the registry
    looks them up afresh."""

    def declare(*pairs):
        declare_entry_points(monkeypatch, plugins.SOURCES, *pairs)
        sources.registry.cache_clear()

    yield declare
    sources.registry.cache_clear()


def save(path, size=(4, 4)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size).save(path)
    return path


# --- the registry ------------------------------------------------------------------------------


def test_the_folder_source_is_built_in(tmp_path, entry_points):
    entry_points()
    assert sources.registry() == sources.SOURCES
    assert (sources.SOURCES["folder"], sources.SOURCES["csv"]) == (FolderSource, CsvSource)
    source = sources.open_source("folder", str(tmp_path))
    assert isinstance(source, FolderSource) and source.folder == tmp_path
    assert sources.as_source(tmp_path).folder == tmp_path
    assert sources.as_source(str(tmp_path)).folder == tmp_path
    assert sources.as_source(source) is source


def test_an_unknown_source_names_the_known_ones(entry_points):
    entry_points(("generated", "generated_source:GeneratedSource"))
    known = ", ".join([*sources.SOURCES, "generated"])
    with pytest.raises(ReportgenError, match=f"^unknown source 'nope'; choose from {known}$"):
        sources.open_source("nope", "labels.csv")


def test_plugin_sources_are_found_once_and_bad_ones_left_out(entry_points, caplog):
    entry_points(
        ("generated", "generated_source:GeneratedSource"),
        ("folder", "generated_source:GeneratedSource"),  # the name is taken
        ("not-a-source", "builtins:len"),
    )
    assert sources.registry() == {**sources.SOURCES, "generated": GeneratedSource}
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert "'folder'" in warnings[0] and "already taken" in warnings[0]
    assert "'not-a-source'" in warnings[1] and "not a subclass of reportgen's Source" in warnings[1]
    caplog.clear()
    assert isinstance(sources.open_source("generated", "3"), GeneratedSource)
    assert not caplog.records  # looked up once: no second round of warnings


# --- the folder source -------------------------------------------------------------------------


def test_folder_items_are_sorted_skip_hidden_and_subfolders_on_request(tmp_path):
    for name in ["b.png", "a.jpg", "sub/c.png", ".hidden/d.png", ".e.png", "sub/.f.png"]:
        save(tmp_path / name)
    (tmp_path / "notes.txt").write_text("not an image extension: ignored")
    top = FolderSource(tmp_path)
    assert [(item.index, item.name, item.id) for item in top.items()] == [
        (0, "a.jpg", "000-a"),
        (1, "b.png", "001-b"),
    ]
    source = FolderSource(tmp_path, recursive=True)
    items = list(source.items())
    assert (top.count(), source.count()) == (2, 3)
    assert [(item.index, item.name, item.id, item.label) for item in items] == [
        (0, "a.jpg", "000-a", None),
        (1, "b.png", "001-b", None),
        (2, "sub/c.png", "002-c", None),
    ]
    assert [item.read() for item in items] == [
        (tmp_path / name).read_bytes() for name in ("a.jpg", "b.png", "sub/c.png")
    ]


def test_images_only_in_subfolders_ask_for_the_option_that_reads_them(tmp_path):
    save(tmp_path / "cats" / "deep" / "x.png")
    with pytest.raises(ReportgenError) as raised:
        FolderSource(tmp_path).count()
    assert str(raised.value) == (
        f"no image files at the top of {tmp_path}, but its subfolders hold some: add "
        "--recursive to read them, or --labels-from-folders to read each subfolder as a class"
    )
    assert FolderSource(tmp_path, recursive=True).count() == 1


def test_class_folders_label_the_images_below_them_and_loose_images_are_skipped(tmp_path):
    for name in ["cat/a.png", "cat/more/b.png", "dog/c.png", "loose.png", ".hidden/d.png"]:
        save(tmp_path / name)
    source = FolderSource(tmp_path, labels_from_folders=True)
    items = list(source.items())
    assert [(item.name, item.label, item.tag.source_id) for item in items] == [
        ("cat/a.png", "cat", "cat/a.png"),
        ("cat/more/b.png", "cat", "cat/more/b.png"),
        ("dog/c.png", "dog", "dog/c.png"),
        ("loose.png", None, "loose.png"),
    ]
    with pytest.raises(images.ImageLoadError, match="^not in a class folder"):
        items[-1].read()
    assert items[1].read() == (tmp_path / "cat/more/b.png").read_bytes()
    assert source.describe() == {
        "kind": "folder",
        "folder": tmp_path.name,
        "path": str(tmp_path),
        "recursive": True,
        "labels_from_folders": True,
        "count": 4,
    }


def test_class_folders_asked_for_where_there_are_none_is_a_clear_error(tmp_path):
    save(tmp_path / "loose.png")
    with pytest.raises(ReportgenError, match="^no class folders with images in "):
        FolderSource(tmp_path, labels_from_folders=True).count()


def test_hostile_names_keep_their_text_and_get_safe_ids(tmp_path):
    names = ["<script>x</script>.png", "Ünïcödé café.png", "-rf #1?.png", "a b/'quoted'.png"]
    for name in names:
        save(tmp_path / name)
    items = list(FolderSource(tmp_path, recursive=True).items())
    assert sorted(names) == [item.name for item in items]
    assert [item.id for item in items] == [
        "000-rf-1",
        "001-script",  # a folder "<script>x<" holds "script>.png"
        "002-quoted",
        "003-unicode-cafe",  # sorted by code point: "Ü" after "a"
    ]


def test_folder_items_travel_pickled_and_read_where_they_land(tmp_path):
    save(tmp_path / "x.png")
    [item] = FolderSource(tmp_path).items()
    assert pickle.loads(pickle.dumps(item)).read() == (tmp_path / "x.png").read_bytes()


def test_the_folder_describes_itself_by_its_name(tmp_path):
    folder = save(tmp_path / "Holiday photos" / "x.png").parent
    source = sources.open_source("folder", str(folder / "." / ".." / "Holiday photos"))
    assert source.name == "Holiday photos" and source.describe()["folder"] == "Holiday photos"


def test_the_manifest_records_no_home_or_working_folder(tmp_path, monkeypatch):
    home, work = tmp_path / "home" / "alice", tmp_path / "work"
    for folder in (home / "photos", work / "images", tmp_path / "data"):
        save(folder / "x.png")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    recorded = {
        given: FolderSource(Path(given)).describe()["path"]
        for given in (str(home / "photos"), str(work / "images"), "images", str(tmp_path / "data"))
    }
    assert recorded == {
        str(home / "photos"): "~/photos",
        str(work / "images"): "images",
        "images": "images",
        str(tmp_path / "data"): str(tmp_path / "data"),  # outside both: as given
    }
    assert recorded_path(str(home / "x.csv")) == "~/x.csv"


def test_missing_and_empty_folders_are_clear_errors(tmp_path):
    with pytest.raises(ReportgenError, match="not found"):
        FolderSource(tmp_path / "nope").count()
    with pytest.raises(ReportgenError, match="no image files"):
        discover(tmp_path)
    (tmp_path / "file.png").write_bytes(b"")
    with pytest.raises(ReportgenError, match="not a folder"):
        discover(tmp_path / "file.png")


def test_an_unreadable_file_is_skipped_and_a_vanished_one_stops_the_run(tmp_path):
    (tmp_path / "folder.png").mkdir()
    with pytest.raises(images.ImageLoadError, match="^cannot read file: Is a directory$"):
        read_file(tmp_path / "folder.png")
    with pytest.raises(ReportgenError, match="gone.png was removed while reportgen ran"):
        read_file(tmp_path / "gone.png")


# --- any source into a report ------------------------------------------------------------------


def test_in_memory_items_decode_like_files(tmp_path):
    path = save(tmp_path / "x.png", (6, 5))
    item = Item(0, "x.png", Encoded(path.read_bytes()), label="cat")
    loaded = images.load(images.read(item))
    assert loaded.image.size == (6, 5) and loaded.size_bytes == path.stat().st_size
    with pytest.raises(images.ImageLoadError, match="empty file"):
        images.load(images.read(Item(1, "empty", Encoded(b""))))


def test_an_item_its_source_cannot_use_is_skipped_with_the_sources_reason():
    item = Item(3, "row 4", Unusable("row 4: empty label"))
    assert pickle.loads(pickle.dumps(item)).reader == Unusable("row 4: empty label")
    no_cache = SimpleNamespace(cache=lambda: None)
    assert intake(item, job=no_cache) == SkippedFile("row 4", "row 4: empty label")


def test_a_plugin_source_is_read_end_to_end_into_a_report(
    entry_points, analysis_params, tmp_path, execution
):
    entry_points(("generated", "generated_source:GeneratedSource"))
    source = sources.open_source("generated", "5")
    options = ReportOptions(date=parse_date("2024-05-24"), formats=("html",))
    report = api.build(source, tmp_path / "site", analysis_params, options, execution=execution)
    assert report == tmp_path / "site" / "reports" / "generated-shelf"
    manifest = json.loads((report / "data" / "manifest.json").read_text())
    names = [f"shelf {i % 2}/pic <{i}> & co" for i in range(5)]
    assert manifest["inputs"]["generated"] == 5 and "folder" not in manifest["inputs"]
    assert [image["name"] for image in manifest["inputs"]["images"]] == names
    assert manifest["inputs"]["skipped"] == [{"name": "empty", "reason": "empty file (0 bytes)"}]
    analysis = api.Analysis.load(report / "data")
    assert [image.id for image in analysis.images] == [f"00{i}-pic-{i}-co" for i in range(5)]
    assert {image.level for image in analysis.images} == {1, 2, 3, 4}
    page = (report / "index.html").read_text()
    assert "Where a Vision Transformer looks: Generated shelf" in page
    assert "pic &lt;3&gt; &amp; co" in page and "<3>" not in page
