"""The CSV / TSV source: columns found from the header or named, paths relative to the file or
to IMAGES, bad rows skipped with their line, one-line errors for a broken file, streamed rows,
and the same results as the class folders it describes."""

import csv
import hashlib
import pickle
import tracemalloc

import pytest
from conftest import write_images
from PIL import Image

from reportgen import api
from reportgen.analysis import images
from reportgen.analysis.sources import CsvSource, FolderSource
from reportgen.analysis.sources.folder import TOP_LEVEL_SKIP
from reportgen.errors import ReportgenError
from reportgen.publish.options import ReportOptions, parse_date

# Labels no page may run or format: HTML, Markdown, Liquid, quotes, a delimiter, unicode.
HOSTILE_LABELS = [
    "<script>alert(1)</script>",
    "**x** [a](b)",
    "{{ x }} {% raw %}",
    "'single' \"double\", comma",
    "Ünïcödé 猫",
]


def save(path, size=(4, 4), colour=(0, 0, 0)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)
    return path


def write_table(path, rows, delimiter=","):
    with path.open("w", newline="", encoding="utf-8") as stream:
        csv.writer(stream, delimiter=delimiter).writerows(rows)
    return path


def described(items):
    return [(item.index, item.name, item.label, item.tag.source_id) for item in items]


# --- columns and paths -------------------------------------------------------------------------


def test_columns_are_found_by_name_in_any_case_and_paths_start_at_the_files_folder(tmp_path):
    save(tmp_path / "cats" / "a.png")
    save(tmp_path / "b.png")
    table = write_table(
        tmp_path / "list.csv",
        [["Class", "notes", "File"], ["cat", "x", "cats/a.png"], ["dog", "", "b.png"]],
    )
    source = CsvSource(table)
    items = list(source.items())
    assert described(items) == [
        (0, "cats/a.png", "cat", "line 2"),
        (1, "b.png", "dog", "line 3"),
    ]
    assert items[0].read() == (tmp_path / "cats" / "a.png").read_bytes()
    assert source.count() == 2 and source.name == tmp_path.name


def test_images_starts_relative_paths_and_absolute_ones_stay(tmp_path):
    inside = save(tmp_path / "photos" / "a.png", colour=(1, 2, 3))
    elsewhere = save(tmp_path / "elsewhere" / "b.png", colour=(4, 5, 6))
    table = write_table(tmp_path / "l.csv", [["path"], ["a.png"], [str(elsewhere)]])
    source = CsvSource(table, root=tmp_path / "photos")
    items = list(source.items())
    assert [item.read() for item in items] == [inside.read_bytes(), elsewhere.read_bytes()]
    assert [item.label for item in items] == [None, None]  # no label column: a plain list
    assert source.name == "photos"


def test_tsv_is_read_by_its_tab_and_other_extensions_are_sniffed(tmp_path):
    tsv = write_table(tmp_path / "l.tsv", [["image", "target"], ["a, b.png", "x; y"]], "\t")
    assert described(CsvSource(tsv).items()) == [(0, "a, b.png", "x; y", "line 2")]
    rows = [["image", "target"], ["a b.png", "x"], ["c.png", "y z"]]
    sniffed = write_table(tmp_path / "l.txt", rows, delimiter=";")
    assert described(CsvSource(sniffed).items()) == [
        (0, "a b.png", "x", "line 2"),
        (1, "c.png", "y z", "line 3"),
    ]
    single = tmp_path / "single.list"
    single.write_text("file\na.png\n")  # one column: no delimiter to sniff, none needed
    assert described(CsvSource(single).items()) == [(0, "a.png", None, "line 2")]


def test_named_columns_win_over_the_usual_names(tmp_path):
    table = write_table(
        tmp_path / "l.csv", [["file", "label", "img", "y"], ["a.png", "a", "b.png", "b"]]
    )
    [item] = CsvSource(table, image_column="IMG", label_column="y").items()
    assert (item.name, item.label) == ("b.png", "b")
    with pytest.raises(ReportgenError) as raised:
        CsvSource(table, label_column="species").count()
    assert str(raised.value) == (
        f"--labels: {table}: no column 'species' in its header ('file', 'label', 'img', 'y')"
    )


def test_a_file_without_a_header_or_rows_is_a_one_line_error(tmp_path):
    headless = write_table(tmp_path / "headless.csv", [["a.png", "cat"], ["b.png", "dog"]])
    with pytest.raises(ReportgenError) as raised:
        CsvSource(headless).count()
    assert str(raised.value) == (
        f"--labels: {headless}: no image column (file, path or image) in its first row "
        "('a.png', 'cat'); the first row must be a header naming the columns (or give "
        "--image-column)"
    )
    empty = tmp_path / "empty.csv"
    empty.write_text("\n\n")
    with pytest.raises(ReportgenError, match="empty.csv is empty: it needs a header row$"):
        CsvSource(empty).count()
    header_only = write_table(tmp_path / "header.csv", [["file", "label"]])
    with pytest.raises(ReportgenError, match=r"header.csv lists no images \(only its header\)$"):
        CsvSource(header_only).count()
    with pytest.raises(ReportgenError, match="^--labels: file not found: "):
        CsvSource(tmp_path / "nope.csv").count()
    with pytest.raises(ReportgenError, match="^--labels: not a file: "):
        CsvSource(tmp_path).count()


def test_a_file_the_csv_module_cannot_read_is_a_one_line_error(tmp_path):
    latin = tmp_path / "latin.csv"
    latin.write_bytes("file,label\na.png,caf\xe9\n".encode("latin-1"))
    with pytest.raises(ReportgenError, match="latin.csv is not UTF-8 text$"):
        CsvSource(latin).count()
    huge = tmp_path / "huge.csv"
    huge.write_text(f"file,label\na.png,cat\nb.png,{'x' * (csv.field_size_limit() + 1)}\n")
    with pytest.raises(ReportgenError, match=r"huge.csv line 3: field larger than field limit"):
        CsvSource(huge).count()


# --- rows --------------------------------------------------------------------------------------


def test_bad_rows_are_skipped_with_what_they_lack_and_their_line(tmp_path):
    save(tmp_path / "a.png")
    (tmp_path / "folder.png").mkdir()
    table = tmp_path / "l.csv"
    table.write_text(
        'file,label\n\na.png,"two\nlines"\n,cat\na.png,\nmissing.png,dog\na.png\nfolder.png,x\n'
    )
    source = CsvSource(table)
    items = list(source.items())
    assert source.count() == len(items) == 6  # the blank line is no row
    assert described(items) == [
        (0, "a.png", "two\nlines", "line 3"),
        (1, "line 5", "cat", "line 5"),
        (2, "a.png", None, "line 6"),
        (3, "missing.png", "dog", "line 7"),
        (4, "a.png", None, "line 8"),  # a short row: its label is empty
        (5, "folder.png", "x", "line 9"),
    ]
    reasons = []
    for item in items[1:]:
        with pytest.raises(images.ImageLoadError) as raised:
            pickle.loads(pickle.dumps(item)).read()
        reasons.append(str(raised.value))
    assert reasons == [
        "no image path (line 5)",
        "empty label (line 6)",
        "file not found (line 7)",
        "empty label (line 8)",
        "cannot read file: Is a directory (line 9)",
    ]


def test_hostile_names_and_labels_keep_their_text_and_get_safe_ids(tmp_path):
    names = ["<b>x</b>.png", "**bold** [a](b).png", "{{ x }}.png", "'q' \"dq\", c.png", "ü.png"]
    for name in names:
        save(tmp_path / name)
    table = write_table(
        tmp_path / "l.csv", [["file", "label"], *zip(names, HOSTILE_LABELS, strict=True)]
    )
    items = list(CsvSource(table).items())
    assert [(item.name, item.label) for item in items] == list(
        zip(names, HOSTILE_LABELS, strict=True)
    )
    assert [item.id for item in items] == ["000-b", "001-bold-a-b", "002-x", "003-q-dq-c", "004-u"]


def test_the_manifest_records_the_file_by_its_path_hash_columns_and_rows(tmp_path):
    table = write_table(tmp_path / "l.csv", [["path", "target"], ["a.png", "x"], ["b.png", "y"]])
    assert CsvSource(table, root=tmp_path / "imgs").describe() == {
        "kind": "csv",
        "path": str(table),
        "root": str(tmp_path / "imgs"),
        "image_column": "path",
        "label_column": "target",
        "count": 2,
        "sha256": hashlib.sha256(table.read_bytes()).hexdigest(),
    }


def test_rows_are_streamed_not_held(tmp_path):
    rows = 100_000
    table = tmp_path / "big.csv"
    table.write_text(
        "file,label\n" + "".join(f"img{i:06d}.png,class {i % 7}\n" for i in range(rows))
    )
    source = CsvSource(table)
    tracemalloc.start()
    try:
        assert source.count() == rows
        seen = sum(1 for item in source.items() if item.label)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert seen == rows
    assert peak < 500_000  # held at once, their items would take about 60 MB


# --- into results --------------------------------------------------------------------------


FOLDER_CLASSES = ["<script>x", "{{ x }} {% raw %}", "Ünïcödé 猫"]  # no "/": they are folders


def test_class_folders_and_the_csv_listing_them_give_the_same_results(
    tmp_path, analysis_params, execution
):
    root = tmp_path / "images"
    rows = [["", "loose.png"]]  # skipped in both: no class folder, an empty label
    save(root / "loose.png", (40, 40))
    for seed, label in enumerate(FOLDER_CLASSES):
        write_images(root / label, 2, seed=seed)
        rows += [[label, f"{label}/img0{i}.png"] for i in range(2)]
    rows.sort(key=lambda row: row[1])  # the folder's order
    table = write_table(tmp_path / "labels.csv", [["label", "file"], *rows])
    folder = api.analyze(
        FolderSource(root, labels_from_folders=True), tmp_path / "a", analysis_params, execution
    )
    listed = api.analyze(CsvSource(table, root=root), tmp_path / "b", analysis_params, execution)

    def results(analysis):
        return analysis.table().drop_columns(["source_id"]).to_pylist()

    assert results(listed) == results(folder)
    assert [row["label"] for row in results(listed)] == sorted(FOLDER_CLASSES * 2)
    assert folder.table()["source_id"].to_pylist()[:2] == [
        "<script>x/img00.png",
        "<script>x/img01.png",
    ]
    assert listed.table()["source_id"].to_pylist()[:2] == ["line 2", "line 3"]
    assert [(s.name, s.reason) for s in folder.skipped] == [("loose.png", TOP_LEVEL_SKIP)]
    assert [(s.name, s.reason) for s in listed.skipped] == [("loose.png", "empty label (line 4)")]


def test_rows_naming_one_file_twice_or_two_files_alike_never_collide(
    tmp_path, analysis_params, execution
):
    first = save(tmp_path / "a" / "x.png", (40, 40), (200, 10, 10))
    save(tmp_path / "b" / "x.png", (40, 40), (10, 10, 200))
    rows = [["file", "label"], ["a/x.png", "red"], ["b/x.png", "blue"], [str(first), "red"]]
    table = write_table(tmp_path / "labels.csv", rows)
    options = ReportOptions(slug="twins", date=parse_date("2024-05-24"), formats=("html",))
    report = api.build(CsvSource(table), tmp_path / "site", analysis_params, options, execution)
    results = api.Analysis.load(report / "data").table().to_pylist()
    assert [(row["id"], row["name"], row["source_id"]) for row in results] == [
        ("000-x", "a/x.png", "line 2"),
        ("001-x", "b/x.png", "line 3"),
        ("002-x", str(first), "line 4"),
    ]
    assert results[0]["sha256"] == results[2]["sha256"] != results[1]["sha256"]
    assert results[0]["entropy"] == results[2]["entropy"]
    for column in ("maps_file", "figure_file"):
        files = [report / "data" / row[column] for row in results]
        assert len(set(files)) == 3 and all(path.is_file() for path in files), column
