"""The Ray engine on a local Ray instance: the same results as the local engine, a worker that
dies is retried, a failing run publishes nothing. Marked ``ray``: ``pytest -m "not ray"`` skips
it in a quick local loop; CI (``make test``) runs it."""

import os
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest
from conftest import site_files, write_images
from generated_source import GeneratedSource
from shard_files import LABELS, label_json, png, write_parquet, write_tar

from reportgen import api
from reportgen.analysis.engines.ray import RayPool
from reportgen.analysis.sources.dataset import DatasetSource
from reportgen.analysis.sources.shards import ShardsSource
from reportgen.errors import ReportgenError
from reportgen.publish.build import ReportBuild
from reportgen.publish.options import ReportOptions, parse_date
from reportgen.results import AnalysisParams

pytestmark = [pytest.mark.ray, pytest.mark.slow]
ray = pytest.importorskip("ray")


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    """One local Ray instance for the module (the engine joins it and leaves it running)."""
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers lack tests/
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR")
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = write_images(tmp_path_factory.mktemp("images"), 30, size=(40, 36), seed=5)
    (folder / "broken.jpg").write_bytes(b"\xff\xd8 truncated")
    (folder / "empty.png").write_bytes(b"")
    return folder


@pytest.fixture
def params(tiny_vit_dir):
    return AnalysisParams(model=str(tiny_vit_dir), batch_size=4)


REPORT = ReportOptions(slug="tiny", date=parse_date("2024-05-24"), formats=("html",))


def test_ray_results_equal_the_local_engine(folder, params, execution, tmp_path):
    local = api.analyze(folder, tmp_path / "local", params, replace(execution, use_cache=False))
    on_ray = api.analyze(folder, tmp_path / "ray", params, replace(execution, engine="ray"))
    assert [image.name for image in on_ray.images] == [image.name for image in local.images]
    assert [image.level for image in on_ray.images] == [image.level for image in local.images]
    assert on_ray.skipped == local.skipped and len(local.skipped) == 2
    assert {item.reason for item in on_ray.skipped} == {
        "not an image Pillow can read",
        "empty file (0 bytes)",
    }
    for ours, theirs in zip(on_ray.images, local.images, strict=True):
        assert ours.entropy == pytest.approx(theirs.entropy, abs=1e-6)
        ray_maps, local_maps = on_ray.record(ours).maps, local.record(theirs).maps
        assert set(ray_maps) == set(local_maps)
        for name, values in local_maps.items():
            np.testing.assert_allclose(ray_maps[name], values, atol=1e-5, rtol=0)
    again = api.analyze(folder, tmp_path / "again", params, replace(execution, engine="ray"))
    assert again.cache_hits == 30 and again.images == on_ray.images  # the cache Ray wrote


def test_a_ray_build_publishes_the_same_report(
    folder, params, execution, tmp_path, monkeypatch, recwarn
):
    """...without Ray Data's warnings for the user."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    local = api.build(
        folder, tmp_path / "local", params, REPORT, replace(execution, use_cache=False)
    )
    on_ray = api.build(folder, tmp_path / "ray", params, REPORT, replace(execution, engine="ray"))
    assert [str(warning.message) for warning in recwarn if warning.category is UserWarning] == []
    local_files, ray_files = site_files(local), site_files(on_ray)
    assert sorted(ray_files) == sorted(local_files)
    assert len([name for name in ray_files if name.startswith("figures/")]) == 30
    for name in ("index.html", "thumbnail.webp", "charts/entropy-histogram.svg"):
        assert ray_files[name] == local_files[name], name


def test_ray_reads_a_source_that_is_no_folder(params, execution, tmp_path):
    """The items travel to Ray's workers and are read there: here they hold their bytes."""
    local = api.analyze(
        GeneratedSource(6), tmp_path / "local", params, replace(execution, use_cache=False)
    )
    on_ray = api.analyze(
        GeneratedSource(6), tmp_path / "ray", params, replace(execution, engine="ray")
    )
    assert [image.id for image in on_ray.images] == [image.id for image in local.images]
    assert [image.sha256 for image in on_ray.images] == [image.sha256 for image in local.images]
    assert [i.entropy for i in on_ray.images] == pytest.approx([i.entropy for i in local.images])
    assert len(on_ray.images) == 6
    assert on_ray.skipped == local.skipped and [item.name for item in local.skipped] == ["empty"]


@pytest.mark.parametrize("kind", ["parquet", "webdataset"])
def test_ray_reads_shards_with_its_own_readers_as_the_local_engine(
    kind, params, execution, tmp_path, monkeypatch
):
    """Ray Data's readers read the shards on the workers (the driver never iterates the items),
    and every row gets the index the local engine gives it, across files and row groups."""
    shards = tmp_path / "shards"
    for file in range(3):
        first = 7 * file
        if kind == "parquet":
            data = [png(first + n) for n in range(7)]
            labels = [LABELS[(first + n) % 4] for n in range(7)]
            if file == 0:
                data[6] = None
            if file == 1:
                data[3] = b"not an image"
            if file == 2:
                labels[4] = ""
            write_parquet(shards / f"{file}.parquet", data, labels)
        else:
            samples = [(f"k{first + n:03d}", {"png": png(first + n)}) for n in range(7)]
            samples[2][1]["cls"] = LABELS[file].encode()
            samples[5] = (samples[5][0], {"json": label_json("no image")})
            write_tar(shards / f"{file}.tar", samples)
    source = ShardsSource(str(shards / "*"))
    # A per-report feature basis is fitted on the first images, which the driver reads
    # (features.report_basis); per image, every read is the workers'.
    params = replace(params, pca="per-image")
    local = api.analyze(source, tmp_path / "local", params, replace(execution, use_cache=False))
    monkeypatch.setattr(ShardsSource, "items", None)  # read by Ray Data, or this fails
    on_ray = api.analyze(
        source, tmp_path / "ray", params, replace(execution, engine="ray", use_cache=False)
    )
    columns = ("index", "id", "name", "label", "source_id", "sha256")
    assert [[getattr(image, c) for c in columns] for image in on_ray.images] == [
        [getattr(image, c) for c in columns] for image in local.images
    ]
    assert [i.entropy for i in on_ray.images] == pytest.approx([i.entropy for i in local.images])
    skipped = {(item.name, item.reason) for item in local.skipped}
    assert {(item.name, item.reason) for item in on_ray.skipped} == skipped and len(skipped) == 3
    assert len(local.images) == 18


def test_ray_reads_a_saved_dataset_by_row_references(params, execution, tmp_path):
    """The driver lists references to rows (no bytes); the workers open the dataset and read."""
    datasets = pytest.importorskip("datasets")
    features = datasets.Features(
        {"image": datasets.Image(), "label": datasets.ClassLabel(names=list(LABELS))}
    )
    rows = {"image": [{"bytes": png(n), "path": f"{n}.png"} for n in range(9)]}
    rows["label"] = [n % 4 for n in range(9)]
    datasets.Dataset.from_dict(rows, features=features).save_to_disk(str(tmp_path / "hfds"))
    source = DatasetSource(str(tmp_path / "hfds"))
    local = api.analyze(source, tmp_path / "local", params, replace(execution, use_cache=False))
    on_ray = api.analyze(
        source, tmp_path / "ray", params, replace(execution, engine="ray", use_cache=False)
    )
    columns = ("index", "id", "name", "label", "source_id", "sha256")
    assert [[getattr(image, c) for c in columns] for image in on_ray.images] == [
        [getattr(image, c) for c in columns] for image in local.images
    ]
    assert [image.label for image in local.images] == [LABELS[n % 4] for n in range(9)]


@dataclass(frozen=True)
class DiesOnce:
    """An ``on_record`` whose worker process dies at its first image (a crash, as from
    running out of memory), and draws nothing otherwise."""

    marker: Path

    def __call__(self, image, record, key):
        if not self.marker.exists():
            self.marker.touch()
            os._exit(1)


def test_a_worker_that_dies_is_retried(folder, params, execution, tmp_path):
    from reportgen.analysis.analyze import analyze

    marker = tmp_path / "died"
    on_ray = replace(execution, engine="ray", use_cache=False)
    # per image: a new per-report basis would have the driver analyse the first images (and die)
    params = replace(params, pca="per-image")
    analysis = analyze(folder, tmp_path / "out", params, on_ray, on_record=DiesOnce(marker))
    assert marker.exists()
    assert len(analysis.images) == 30 and len(list((tmp_path / "out/maps").iterdir())) == 30


def paused(journal, name, pause):
    """Take ``pause`` seconds over ``name``, noting in ``journal`` when it starts and ends."""
    for event in ("start", "end"):
        with journal.open("a") as notes:
            notes.write(f"{time.time()} {event} {name}\n")
        if event == "start":
            time.sleep(pause)


def ended_before_now(journal, pause):
    """The names of the tasks in ``journal`` (:func:`paused`), checking that each has ended
    (none was killed) and none notes anything later than now (or is still running)."""
    now = time.time()
    time.sleep(2 * pause)
    notes = [line.split() for line in journal.read_text().splitlines()]
    assert max(float(when) for when, _, _ in notes) < now
    started = sorted(name for _, event, name in notes if event == "start")
    assert sorted(name for _, event, name in notes if event == "end") == started
    return started


def fails_on_one(journal, number):
    if number == 1:
        raise ReportgenError("cannot make item 1")
    paused(journal, str(number), 0.3)


def test_a_ray_pool_left_on_an_error_waits_for_its_running_tasks(tmp_path):
    """Cancelling a Ray task's future does not stop the task, which may write into the staging
    folder of the build that failed."""
    journal = tmp_path / "journal.txt"
    with pytest.raises(ReportgenError, match="cannot make item 1"):
        for _ in RayPool(max_pending=4).imap(fails_on_one, [(journal, n) for n in range(20)]):
            pass
    assert 1 < len(ended_before_now(journal, pause=0.3)) < 19


@dataclass(frozen=True)
class FailsOn:
    """An ``on_record`` that fails on one image, as a full disk would; with a ``journal``, it
    takes ``pause`` seconds over each other image and notes there when it starts and ends."""

    name: str
    journal: Path | None = None
    pause: float = 0.0

    def __call__(self, image, record, key):
        if image.name == self.name:
            raise ReportgenError(f"cannot draw {image.name}")
        if self.journal:
            paused(self.journal, image.name, self.pause)

    def warm_up(self):
        pass


def test_a_failing_ray_run_publishes_nothing(folder, params, execution, tmp_path, monkeypatch):
    """...and ends its tasks before it returns (they write into the staging folder it removes)
    without running the images it has not started."""
    from reportgen.publish import staging

    out = tmp_path / "site"
    api.build(folder, out, params, REPORT, replace(execution, engine="ray"))
    before = site_files(out)
    start = ReportBuild.__init__
    journal = tmp_path / "journal.txt"

    def failing_drawer(self, *args, **kwargs):
        start(self, *args, **kwargs)
        self.drawer = FailsOn("img07.png", journal, pause=0.3)

    monkeypatch.setattr(ReportBuild, "__init__", failing_drawer)
    with pytest.raises(ReportgenError, match="cannot draw img07.png"):
        api.build(folder, out, params, REPORT, replace(execution, engine="ray", use_cache=False))
    started = ended_before_now(journal, pause=0.3)
    assert len(started) < 29  # the images after the failure were dropped, not drawn
    assert site_files(out) == before
    assert not list(out.glob(f"{staging.STAGING_PREFIX}*"))
