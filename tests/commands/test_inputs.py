"""The input options on the command line: a CSV without IMAGES, the folder's options, and
sources that cannot go together, each a one-line error with exit status 2."""

import hashlib
import json

import pytest
from conftest import tiny_model_dir, write_images

from reportgen import cli
from reportgen.commands import label_map
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


def test_the_report_names_the_skipped_rows_of_a_csv_as_rows_not_folder_files(
    tmp_path, tiny_vit_dir, capsys
):
    write_images(tmp_path / "shots", 1)
    table = tmp_path / "shots" / "labels.csv"
    table.write_text("path,class\nimg00.png,cat\ngone.png,dog\n")
    assert build(tmp_path, tiny_vit_dir, "--labels", str(table)) == 0, capsys.readouterr().err
    page = (tmp_path / "site" / "reports" / "shots" / "README.md").read_text()
    assert "1 row of the labels file was not analysed:" in page
    assert "input folder" not in page


def test_images_only_in_subfolders_name_the_options_that_read_them(tmp_path, capsys):
    write_images(tmp_path / "val" / "cat", 1)
    assert cli.main(["analyze", str(tmp_path / "val"), "--out", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err == (
        f"reportgen: error: no image files at the top of {tmp_path / 'val'}, but its subfolders "
        "hold some: add --recursive to read them, or --labels-from-folders to read each "
        "subfolder as a class\n"
    )
    assert not (tmp_path / "o").exists()


def test_two_sources_are_one_too_many_and_a_folder_has_no_columns(tmp_path, capsys):
    write_images(tmp_path / "val", 1)
    table = tmp_path / "labels.csv"
    table.write_text("file\nimg00.png\n")
    for option in ("--recursive", "--labels-from-folders"):
        command = ["analyze", str(tmp_path / "val"), option, "--labels", str(table)]
        assert cli.main([*command, "--out", str(tmp_path / "o")]) == 2, option
        assert capsys.readouterr().err == (
            "reportgen: error: give one input source, not folder and csv\n"
        ), option
    command = ["analyze", str(tmp_path / "val"), "--label-column", "class"]
    assert cli.main([*command, "--out", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err == (
        "reportgen: error: --image-column and --label-column name the columns of a table "
        "(--labels, --dataset, --shards); a folder has none\n"
    )
    command = ["analyze", "--labels", str(table), "--shards", str(tmp_path / "*.parquet")]
    assert cli.main([*command, "--out", str(tmp_path / "o")]) == 2
    assert (
        capsys.readouterr().err == "reportgen: error: give one input source, not csv and shards\n"
    )
    for extra, other in [(["--labels", str(table)], "csv"), (["--recursive"], "folder")]:
        command = ["analyze", "--source", "shards", str(tmp_path / "*.parquet"), *extra]
        assert cli.main([*command, "--out", str(tmp_path / "o")]) == 2
        assert capsys.readouterr().err == (
            f"reportgen: error: --source shards reads IMAGES itself; drop the options of the "
            f"{other} source, or leave out --source\n"
        )
    assert not (tmp_path / "o").exists()


# --- --label-map -------------------------------------------------------------------------------

CLASSES = {0: "tabby cat", 1: "golden retriever", 2: "goldfish"}
MAP = {"cat": "tabby cat", "dog": "golden retriever", "fish": "goldfish"}


@pytest.fixture(scope="module")
def tabby_classifier(tmp_path_factory):
    """A tiny random ViT classifier whose id2label names are not the folders' labels, biased
    to answer "tabby cat": with the map, the cats are right and the others wrong."""
    import torch
    import transformers as tf

    label2id = {name: index for index, name in CLASSES.items()}
    folder = tiny_model_dir(
        tmp_path_factory, "vit", num_labels=3, id2label=CLASSES, label2id=label2id
    )
    model = tf.ViTForImageClassification.from_pretrained(folder)
    with torch.no_grad():
        model.classifier.bias.copy_(torch.tensor([50.0, 0.0, 0.0]))
    model.save_pretrained(folder)
    return folder


def test_a_label_map_lets_predictions_be_checked_against_folder_labels(
    tmp_path, tabby_classifier, capsys
):
    for seed, label in enumerate(MAP):
        write_images(tmp_path / "val" / label, 2, seed=seed)
    (tmp_path / "map.tsv").write_text("".join(f"{label}\t{name}\n" for label, name in MAP.items()))
    runs = {"plain": [], "mapped": ["--label-map", str(tmp_path / "map.tsv")]}
    results = {}
    for run, flags in runs.items():
        command = ["analyze", str(tmp_path / "val"), "--labels-from-folders", *flags]
        command += ["--model", str(tabby_classifier), "--device", "cpu", "--out"]
        assert cli.main([*command, str(tmp_path / run)]) == 0, capsys.readouterr().err
        results[run] = Analysis.load(tmp_path / run).table().to_pylist()
    assert [row["correct"] for row in results["plain"]] == [None] * 6  # labels are no classes
    mapped = results["mapped"]
    assert [row["label"] for row in mapped] == ["cat", "cat", "dog", "dog", "fish", "fish"]
    assert {row["predicted"] for row in mapped} == {"tabby cat"}
    counted = [MAP[row["label"]] == row["predicted"] for row in mapped]
    assert [row["correct"] for row in mapped] == counted
    assert sum(counted) == 2
    manifest = json.loads((tmp_path / "mapped" / "manifest.json").read_text())
    assert manifest["parameters"]["label_map"] == MAP


def test_a_label_map_is_a_json_object_or_rows_of_two_cells(tmp_path):
    (tmp_path / "map.json").write_text(json.dumps(MAP))
    (tmp_path / "map.csv").write_text('cat,tabby cat\n\n"a, b",goldfish\n')
    assert label_map.read(tmp_path / "map.json") == MAP
    assert label_map.read(tmp_path / "map.csv") == {"cat": "tabby cat", "a, b": "goldfish"}


@pytest.mark.parametrize(
    ("name", "text", "error"),
    [
        ("m.json", '["cat"]', "{path} must hold one JSON object of label: class name pairs"),
        ("m.json", '{"cat": 3}', "{path} must hold one JSON object of label: class name pairs"),
        ("m.json", "{cat", "cannot read {path}: Expecting property name"),
        ("m.json", "{}", "{path} maps no label"),
        ("m.csv", "cat,tabby,cat\n", "{path} line 1: expected two cells, a label and the model's"),
        ("m.tsv", "cat\tx\ndog\t\n", "{path} line 2: expected two cells"),
        ("m.csv", "cat,x\ncat,y\n", "{path} line 2: 'cat' mapped twice"),
        ("m.csv", "\n", "{path} maps no label"),
        ("gone.csv", None, "file not found: {path}"),
        ("gone.json", None, "file not found: {path}"),
    ],
)
def test_a_bad_label_map_is_a_one_line_error(tmp_path, capsys, name, text, error):
    path = tmp_path / name
    if text is not None:
        path.write_text(text)
    write_images(tmp_path / "val", 1)
    command = ["analyze", str(tmp_path / "val"), "--label-map", str(path)]
    assert cli.main([*command, "--out", str(tmp_path / "o")]) == 2
    message = capsys.readouterr().err
    assert message.startswith(f"reportgen: error: --label-map: {error.format(path=path)}")
    assert message.count("\n") == 1 and not (tmp_path / "o").exists()
