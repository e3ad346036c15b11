"""The shards source: Parquet (plain binary, HuggingFace struct and ClassLabel metadata) and
WebDataset tars, in file then row order, hostile labels kept as text, bad rows skipped with a
reason, what the manifest records, and an analysis and a build from ``--shards`` alone."""

import json
import pickle
import subprocess
import sys

import pytest
from conftest import ROOT
from shard_files import LABELS, label_json, outcomes, png, write_parquet, write_tar

from reportgen import api, cli
from reportgen.analysis import sources
from reportgen.analysis.sources.shards import ShardsSource
from reportgen.errors import ReportgenError


@pytest.fixture
def parquet_shards(tmp_path):
    """Two Parquet files of plain image bytes: 4 rows, then 3 with an empty label and a row
    without its image."""
    write_parquet(tmp_path / "shards" / "b.parquet", [png(4), None, png(6)], ["dog", "cat", ""])
    write_parquet(tmp_path / "shards" / "a.parquet", [png(n) for n in range(4)], list(LABELS))
    return tmp_path / "shards"


def test_parquet_rows_come_in_file_then_row_order_with_their_labels(parquet_shards):
    source = ShardsSource(str(parquet_shards / "*.parquet"))
    assert source.count() == 7 and source.name == "shards"
    found = outcomes(source)
    assert found[:4] == [
        (n, f"a.parquet[{n}]", LABELS[n], f"a.parquet[{n}]", png(n)) for n in range(4)
    ]
    assert found[4:] == [
        (4, "b.parquet[0]", "dog", "b.parquet[0]", png(4)),
        (5, "b.parquet[1]", "cat", "b.parquet[1]", "skipped: no image bytes in column 'image'"),
        (6, "b.parquet[2]", None, "b.parquet[2]", "skipped: empty label"),
    ]
    item = next(source.items())
    assert pickle.loads(pickle.dumps(item)).read() == png(0)


def test_huggingface_struct_images_and_class_label_names(tmp_path):
    datasets = pytest.importorskip("datasets")
    features = datasets.Features(
        {"image": datasets.Image(), "label": datasets.ClassLabel(names=list(LABELS))}
    )
    rows = {"image": [{"bytes": png(n), "path": f"photo <{n}>.png"} for n in range(3)]}
    table = datasets.Dataset.from_dict({**rows, "label": [3, 0, 1]}, features=features)
    table.to_parquet(str(tmp_path / "hf" / "train-00000.parquet"))
    source = ShardsSource(str(tmp_path / "hf" / "*.parquet"))
    assert source.layout.class_names == list(LABELS)
    assert outcomes(source) == [
        (0, "photo <0>.png", "cat", "train-00000.parquet[0]", png(0)),
        (1, "photo <1>.png", LABELS[0], "train-00000.parquet[1]", png(1)),
        (2, "photo <2>.png", LABELS[1], "train-00000.parquet[2]", png(2)),
    ]


def test_columns_are_detected_or_named(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "x.parquet"
    pq.write_table(pa.table({"caption": ["a"], "pixels": [png(0)], "y": ["cat"]}), path)
    source = ShardsSource(str(path))
    assert (source.layout.image, source.layout.label) == ("pixels", None)
    named = ShardsSource(str(path), image_column="pixels", label_column="y")
    assert [item.label for item in named.items()] == ["cat"]
    with pytest.raises(ReportgenError, match="x.parquet: no column 'jpg' \\(columns: caption, "):
        ShardsSource(str(path), image_column="jpg").count()
    pq.write_table(pa.table({"caption": ["a"]}), path)
    with pytest.raises(ReportgenError, match="no column of image bytes .*--image-column"):
        ShardsSource(str(path)).count()


def test_webdataset_samples_with_cls_and_json_labels(tmp_path):
    write_tar(
        tmp_path / "wds" / "shard-0.tar",
        [
            ("s/0001", {"jpg": png(0), "cls": LABELS[0].encode()}),
            ("s/0002", {"png": png(1), "json": label_json(LABELS[2])}),
            ("s/0003", {"cls": b"dog"}),  # no image member
            ("s/0004", {"png": b"not an image", "cls": b"  "}),  # an empty label
        ],
    )
    write_tar(tmp_path / "wds" / "shard-1.tar", [("0005", {"webp": png(5)})])
    source = ShardsSource(str(tmp_path / "wds" / "*.tar"))
    assert source.count() == 5
    assert outcomes(source) == [
        (0, "0001.jpg", LABELS[0], "shard-0.tar:s/0001", png(0)),
        (1, "0002.png", LABELS[2], "shard-0.tar:s/0002", png(1)),
        (2, "0003", "dog", "shard-0.tar:s/0003", "skipped: no image member (it has .cls)"),
        (3, "0004.png", None, "shard-0.tar:s/0004", "skipped: empty label"),
        (4, "0005.webp", None, "shard-1.tar:0005", png(5)),
    ]


def test_shards_that_are_not_there_or_mixed_are_clear_errors(tmp_path):
    with pytest.raises(ReportgenError, match="no shard matches .*quote the glob"):
        ShardsSource(str(tmp_path / "*.parquet")).count()
    write_parquet(tmp_path / "a.parquet", [png(0)], None)
    write_tar(tmp_path / "b.tar", [("k", {"png": png(0)})])
    with pytest.raises(ReportgenError, match="give Parquet .* not .parquet, .tar"):
        ShardsSource(str(tmp_path / "*")).count()
    (tmp_path / "c.tar").write_bytes(b"not a tar")
    with pytest.raises(ReportgenError, match="cannot read the WebDataset shard .*c.tar"):
        ShardsSource(str(tmp_path / "c.tar")).count()
    (tmp_path / "d.parquet").write_bytes(b"not parquet")
    with pytest.raises(ReportgenError, match="cannot read the Parquet shard .*d.parquet: "):
        ShardsSource(str(tmp_path / "d.parquet")).count()
    write_parquet(tmp_path / "e" / "1.parquet", [png(0)], ["cat"])
    write_parquet(tmp_path / "e" / "2.parquet", [png(1)], None)  # no label column
    with pytest.raises(
        ReportgenError, match="2.parquet has no column 'label', which the first shard has"
    ):
        list(ShardsSource(str(tmp_path / "e" / "*.parquet")).items())


def test_the_manifest_records_the_files_and_their_content(parquet_shards):
    source = sources.open_source("shards", str(parquet_shards / "*.parquet"))
    described = source.describe()
    assert {key: described[key] for key in ("kind", "format", "files", "count")} == {
        "kind": "shards",
        "format": "parquet",
        "files": ["a.parquet", "b.parquet"],
        "count": 7,
    }
    write_parquet(parquet_shards / "b.parquet", [png(4)], ["dog"])
    assert ShardsSource(source.pattern).describe()["sha256"] != described["sha256"]


@pytest.fixture
def tiny_params(tiny_vit_dir):
    return api.AnalysisParams(model=str(tiny_vit_dir), batch_size=4)


def test_shards_are_analysed_with_labels_and_reasons(
    parquet_shards, tiny_params, tmp_path, execution
):
    write_parquet(parquet_shards / "c.parquet", [b"\xff\xd8 truncated"], ["cat"])
    source = ShardsSource(str(parquet_shards / "*.parquet"))
    analysis = api.analyze(source, tmp_path / "out", tiny_params, execution)
    assert [(image.name, image.label) for image in analysis.images] == [
        *((f"a.parquet[{n}]", LABELS[n]) for n in range(4)),
        ("b.parquet[0]", "dog"),
    ]
    assert {(item.name, item.reason) for item in analysis.skipped} == {
        ("b.parquet[1]", "no image bytes in column 'image'"),
        ("b.parquet[2]", "empty label"),
        ("c.parquet[0]", "not an image Pillow can read"),
    }
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["inputs"]["kind"] == "shards" and manifest["inputs"]["count"] == 8


def test_build_reads_shards_without_an_images_argument(parquet_shards, tiny_vit_dir, tmp_path):
    status = cli.main(
        ["build", "--shards", str(parquet_shards / "a.parquet"), "--out", str(tmp_path / "site")]
        + ["--model", str(tiny_vit_dir), "--device", "cpu", "--format", "html"]
        + ["--date", "2024-05-24", "--cache-dir", str(tmp_path / "cache")]
    )
    assert status == 0
    report = tmp_path / "site" / "reports" / "shards"
    manifest = json.loads((report / "data" / "manifest.json").read_text())
    assert [image["name"] for image in manifest["inputs"]["images"]] == [
        f"a.parquet[{n}]" for n in range(4)
    ]
    page = (report / "index.html").read_text()
    assert "<script>alert(1)</script>" not in page


# An analysis of shards in a fresh process, every record finished in it (--workers 0); prints
# its peak RSS (VmHWM, kB: ru_maxrss would carry the forking parent's peak across exec).
MEMORY_SCRIPT = """
import re, sys
from pathlib import Path
from reportgen.analysis.analyze import analyze
from reportgen.analysis.execution import Execution
from reportgen.analysis.sources.shards import ShardsSource
from reportgen.results import AnalysisParams
pattern, out, model = sys.argv[1:4]
params = AnalysisParams(model=model, batch_size=32)
execution = Execution(device="cpu", use_cache=False, workers=0)
analyze(ShardsSource(pattern), Path(out), params, execution)
print(re.search(r"VmHWM:\\s+(\\d+) kB", Path("/proc/self/status").read_text()).group(1))
"""


def peak_rss_kib(rows: int, tiny_vit_dir, tmp_path) -> int:
    """Peak RSS of analysing ``rows`` rows of 200 kB images (uncompressed PNGs: 1,000 of them
    held at once would add 200 MB, over a third of the process; measured with the items listed
    first at 120 kB each: 1.23x, streamed: 1.02x)."""
    folder = tmp_path / f"rows-{rows}"
    for first in range(0, rows, 100):
        data = [png(first + n, side=256, compress_level=0) for n in range(min(100, rows - first))]
        write_parquet(folder / f"{first:05d}.parquet", data, ["cat"] * len(data))
    command = [sys.executable, "-c", MEMORY_SCRIPT, str(folder / "*.parquet")]
    command += [str(tmp_path / f"out-{rows}"), str(tiny_vit_dir)]
    result = subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT)
    return int(result.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_shards_stream_in_bounded_memory(tiny_vit_dir, tmp_path):
    small, large = (peak_rss_kib(rows, tiny_vit_dir, tmp_path) for rows in (100, 1000))
    assert large <= 1.2 * small, (small, large)
