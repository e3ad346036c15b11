"""The HuggingFace datasets source: save_to_disk folders (ClassLabel names, splits, hostile
labels), a dataset in the local cache read offline, clear errors, the same results table as a
folder of the same images, and a build from ``--dataset`` alone."""

import json
import pickle
import shutil
import sys

import pytest
from conftest import write_images
from shard_files import LABELS, outcomes, png

from reportgen import api, cli, table
from reportgen.analysis.sources import dataset as dataset_module
from reportgen.analysis.sources.dataset import DatasetSource
from reportgen.analysis.sources.folder import FolderSource
from reportgen.errors import ReportgenError

datasets = pytest.importorskip("datasets")


@pytest.fixture(autouse=True)
def fresh_opens():
    """Each test opens its datasets anew (the source keeps them open per process)."""
    yield
    dataset_module.open_split.cache_clear()
    dataset_module._splits.cache_clear()


def labelled(count: int, names=LABELS) -> "datasets.Dataset":
    """``count`` PNGs named "<i> & co.png" with ClassLabel labels cycling through ``names``."""
    features = datasets.Features(
        {"image": datasets.Image(), "label": datasets.ClassLabel(names=list(names))}
    )
    rows = {
        "image": [{"bytes": png(n), "path": f"dir/<{n}> & co.png"} for n in range(count)],
        "label": [n % len(names) for n in range(count)],
    }
    return datasets.Dataset.from_dict(rows, features=features)


def test_a_saved_dataset_gives_its_rows_with_class_label_names(tmp_path):
    labelled(5).save_to_disk(str(tmp_path / "saved"))
    source = DatasetSource(str(tmp_path / "saved"))
    assert source.count() == 5 and source.name == "saved"
    assert outcomes(source) == [
        (n, f"<{n}> & co.png", LABELS[n % 4], f"train[{n}]", png(n)) for n in range(5)
    ]
    described = source.describe()
    assert {key: described[key] for key in ("kind", "split", "count")} == {
        "kind": "dataset",
        "split": "train",
        "count": 5,
    }
    assert len(described["sha256"]) == 64
    item = next(source.items())
    dataset_module.open_split.cache_clear()  # as in a fresh worker process
    assert pickle.loads(pickle.dumps(item)).read() == png(0)
    assert len(pickle.dumps(item)) < 500  # a reference to the row, not its bytes


def test_splits_default_to_the_only_one_or_train(tmp_path):
    splits = datasets.DatasetDict({"test": labelled(2), "train": labelled(3)})
    splits.save_to_disk(str(tmp_path / "both"))
    assert DatasetSource(str(tmp_path / "both")).count() == 3
    assert [item.source_id for item in DatasetSource(str(tmp_path / "both"), "test").items()] == [
        "test[0]",
        "test[1]",
    ]
    with pytest.raises(ReportgenError, match="has no split 'val': give --split, one of test, tr"):
        DatasetSource(str(tmp_path / "both"), "val").count()
    datasets.DatasetDict({"validation": labelled(2)}).save_to_disk(str(tmp_path / "one"))
    assert DatasetSource(str(tmp_path / "one")).describe()["split"] == "validation"
    labelled(1).save_to_disk(str(tmp_path / "plain"))
    with pytest.raises(ReportgenError, match="one dataset without splits: leave out --split"):
        DatasetSource(str(tmp_path / "plain"), "test").count()


def test_plain_columns_empty_labels_and_missing_images(tmp_path):
    rows = {
        "pixels": [png(0), None, png(2)],
        "caption": ["a", "b", "c"],
        "class": ["<b>dog</b>", "cat", " "],
        "target": ["x", "y", "z"],
    }
    features = datasets.Features(
        {
            "pixels": datasets.Value("binary"),
            **{name: datasets.Value("string") for name in ("caption", "class", "target")},
        }
    )
    datasets.Dataset.from_dict(rows, features=features).save_to_disk(str(tmp_path / "plain"))
    assert outcomes(DatasetSource(str(tmp_path / "plain"))) == [
        (0, "train[0]", "<b>dog</b>", "train[0]", png(0)),
        (1, "train[1]", "cat", "train[1]", "skipped: no image in column 'pixels'"),
        (2, "train[2]", None, "train[2]", "skipped: empty label"),
    ]
    named = DatasetSource(str(tmp_path / "plain"), label_column="target")
    assert [item.label for item in named.items()] == ["x", "y", "z"]
    with pytest.raises(ReportgenError, match="no column 'photo' \\(columns: pixels, caption"):
        DatasetSource(str(tmp_path / "plain"), image_column="photo").count()
    datasets.Dataset.from_dict({"caption": ["a"]}).save_to_disk(str(tmp_path / "text"))
    with pytest.raises(ReportgenError, match="no Image feature .*--image-column"):
        DatasetSource(str(tmp_path / "text")).count()


def test_a_class_label_of_minus_one_is_no_label(tmp_path):
    unlabelled = labelled(2).cast_column("label", datasets.Value("int64"))
    unlabelled = unlabelled.map(lambda row: {"label": -1})
    unlabelled = unlabelled.cast_column("label", datasets.ClassLabel(names=["cat"]))
    unlabelled.save_to_disk(str(tmp_path / "test-split"))
    assert [item.label for item in DatasetSource(str(tmp_path / "test-split")).items()] == [
        None,
        None,
    ]


def test_a_dataset_in_the_local_cache_is_read_offline(tmp_path, monkeypatch):
    """A cache entry as load_dataset leaves one for ``someone/tiny-set``."""
    cache = tmp_path / "hf-cache"
    labelled(3).to_parquet(str(tmp_path / "train.parquet"))
    datasets.load_dataset(
        "parquet", data_files={"train": str(tmp_path / "train.parquet")}, cache_dir=str(cache)
    )
    [config] = (cache / "parquet").iterdir()
    [arrow] = config.rglob("parquet-train.arrow")
    arrow.rename(arrow.with_name("tiny-set-train.arrow"))
    config.rename(config.with_name("default"))
    (cache / "parquet").rename(cache / "someone___tiny-set")
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(cache))
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", False)  # reportgen forces it
    source = DatasetSource("someone/tiny-set")
    assert source.name == "tiny-set" and source.count() == 3
    assert [item.read() for item in source.items()] == [png(n) for n in range(3)]
    assert datasets.config.HF_HUB_OFFLINE is False  # as it was
    shutil.rmtree(cache / "someone___tiny-set")
    dataset_module._splits.cache_clear()
    dataset_module.open_split.cache_clear()
    with pytest.raises(ReportgenError) as error:
        DatasetSource("someone/tiny-set").count()
    message = str(error.value)
    assert message.startswith("no dataset 'someone/tiny-set' here")
    assert "save_to_disk" in message and "on a machine with network" in message


def test_a_folder_that_is_no_saved_dataset_is_a_clear_error(tmp_path):
    write_images(tmp_path / "photos", 1)
    with pytest.raises(ReportgenError, match="photos is not a folder a dataset's save_to_disk"):
        DatasetSource(str(tmp_path / "photos")).count()


def test_without_the_datasets_package_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "datasets", None)
    with pytest.raises(ReportgenError, match='pip install "reportgen\\[datasets\\]"'):
        DatasetSource("someone/tiny-set").count()


def test_a_dataset_gives_the_table_of_a_folder_with_labels_of_the_same_images(
    tmp_path, analysis_params, execution
):
    """The same images as class folders and as a saved dataset: the same results table but
    for where each image was found (its name in the folder, its row in the dataset)."""
    classes = ["cat", "dog {{ x }} <b>"]
    for name in classes:
        write_images(tmp_path / "photos" / name, 3, seed=len(name))
    paths = sorted(str(path) for path in (tmp_path / "photos").rglob("*.png"))
    features = datasets.Features(
        {"image": datasets.Image(), "label": datasets.ClassLabel(names=classes)}
    )
    rows = {"image": paths, "label": [0, 0, 0, 1, 1, 1]}
    datasets.Dataset.from_dict(rows, features=features).save_to_disk(str(tmp_path / "hfds"))
    folder = FolderSource(tmp_path / "photos", labels_from_folders=True)
    api.analyze(folder, tmp_path / "folder", analysis_params, execution)
    by_dataset = api.analyze(
        DatasetSource(str(tmp_path / "hfds")), tmp_path / "dataset", analysis_params, execution
    )
    assert by_dataset.cache_hits == 6  # the same bytes: the folder's results answer
    ours = table.read(tmp_path / "dataset" / table.TABLE_FILE)
    theirs = table.read(tmp_path / "folder" / table.TABLE_FILE)
    source_columns = ["source_id", "name"]
    assert ours.drop_columns(source_columns).equals(theirs.drop_columns(source_columns))
    assert ours.column("label").to_pylist() == [classes[0]] * 3 + [classes[1]] * 3
    assert ours.column("name").to_pylist() == [f"img0{n}.png" for n in (0, 1, 2) * 2]
    assert ours.column("source_id").to_pylist() == [f"train[{n}]" for n in range(6)]


def test_build_reads_a_dataset_without_an_images_argument(tmp_path, tiny_vit_dir, capsys):
    labelled(3).save_to_disk(str(tmp_path / "hfds"))
    common = ["--out", str(tmp_path / "site"), "--model", str(tiny_vit_dir), "--device", "cpu"]
    common += ["--format", "html", "--date", "2024-05-24", "--cache-dir", str(tmp_path / "c")]
    assert cli.main(["build", "--dataset", str(tmp_path / "hfds"), *common]) == 0
    report = tmp_path / "site" / "reports" / "hfds"
    manifest = json.loads((report / "data" / "manifest.json").read_text())
    assert manifest["inputs"]["kind"] == "dataset" and manifest["inputs"]["split"] == "train"
    assert [image["name"] for image in manifest["inputs"]["images"]] == [
        f"<{n}> & co.png" for n in range(3)
    ]
    assert "<script>alert(1)</script>" not in (report / "index.html").read_text()
    capsys.readouterr()
    assert cli.main(["build", "photos", "--dataset", str(tmp_path / "hfds"), *common]) == 2
    assert "--dataset holds its images: leave out IMAGES" in capsys.readouterr().err
    assert cli.main(["build", "photos", "--split", "test", *common]) == 2
    assert "--split chooses a split of --dataset: give --dataset too" in capsys.readouterr().err
