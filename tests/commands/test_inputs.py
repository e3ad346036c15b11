"""The input options on the command line: a CSV without IMAGES, the folder's options, and
sources that cannot go together, each a one-line error with exit status 2."""

import hashlib
import json

from conftest import write_images

from reportgen import cli
from reportgen.results import Analysis


def build(tmp_path, tiny_vit_dir, *arguments):
    return cli.main(
        ["build", *arguments, "--out", str(tmp_path / "site"), "--model", str(tiny_vit_dir)]
        + ["--device", "cpu", "--format", "gfm", "--date", "2024-05-24"]
        + ["--cache-dir", str(tmp_path / "cache")]
    )


def test_a_csv_alone_is_the_input_and_the_manifest_records_it(tmp_path, tiny_vit_dir, capsys):
    write_images(tmp_path / "shots" / "cats", 2)
    table = tmp_path / "shots" / "labels.csv"
    table.write_text("path,class\ncats/img00.png,cat\ncats/img01.png,**dog**\n")
    assert build(tmp_path, tiny_vit_dir, "--labels", str(table)) == 0, capsys.readouterr().err
    report = tmp_path / "site" / "reports" / "shots"
    inputs = json.loads((report / "data" / "manifest.json").read_text())["inputs"]
    assert {key: inputs[key] for key in ("kind", "path", "root", "count", "sha256")} == {
        "kind": "csv",
        "path": str(table),
        "root": None,
        "count": 2,
        "sha256": hashlib.sha256(table.read_bytes()).hexdigest(),
    }
    assert (inputs["image_column"], inputs["label_column"]) == ("path", "class")
    results = Analysis.load(report / "data").table().to_pylist()
    assert [(row["name"], row["label"], row["source_id"]) for row in results] == [
        ("cats/img00.png", "cat", "line 2"),
        ("cats/img01.png", "**dog**", "line 3"),
    ]


def test_images_only_in_subfolders_name_the_options_that_read_them(tmp_path, capsys):
    write_images(tmp_path / "val" / "cat", 1)
    assert cli.main(["analyze", str(tmp_path / "val"), "--out", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err == (
        f"reportgen: error: no image files at the top of {tmp_path / 'val'}, but its subfolders "
        "hold some: add --recursive to read them, or --labels-from-folders to read each "
        "subfolder as a class\n"
    )
    assert not (tmp_path / "o").exists()


def test_the_folders_options_and_a_csv_are_one_source_too_many(tmp_path, capsys):
    write_images(tmp_path / "val", 1)
    table = tmp_path / "labels.csv"
    table.write_text("file\nimg00.png\n")
    for option in ("--recursive", "--labels-from-folders"):
        command = ["analyze", str(tmp_path / "val"), option, "--labels", str(table)]
        assert cli.main([*command, "--out", str(tmp_path / "o")]) == 2, option
        assert capsys.readouterr().err == (
            "reportgen: error: give one input source, not folder and csv\n"
        ), option
