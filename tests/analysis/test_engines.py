"""What every engine shares (engines.base), without a model."""

import os
from types import SimpleNamespace

import pytest

from reportgen.analysis.engines.base import Hit, deliver
from reportgen.analysis.sources.base import ItemTag
from reportgen.errors import ReportgenError


def test_an_image_finished_after_its_results_folder_was_removed_is_not_stored(tmp_path):
    """A failed build removes its staging while engine workers may still finish images: they
    must not make the folder again (it would be left in the site)."""
    removed = tmp_path / "site" / ".reportgen-staging-1" / "report" / "data" / "maps"
    job = SimpleNamespace(maps_dir=removed)
    hit = Hit(ItemTag(0, "cat.png", None, "cat.png"), "0" * 64, None, {})
    with pytest.raises(ReportgenError, match="was removed while reportgen ran"):
        deliver(hit, job)
    assert not (tmp_path / "site").exists()


def test_cache_hits_before_the_first_miss_go_out_before_the_model_loads(monkeypatch):
    """A rebuild after adding images finds its new images last: the hits before them are
    delivered (drawn, stored) while intake looks for them, not after the model has loaded."""
    from reportgen.analysis.engines import local
    from reportgen.analysis.engines.base import Intake

    events = []

    def intake_batch(items, job, pin=False):
        tags = [ItemTag(item, f"{item}.png", None, f"{item}.png") for item in items]
        hits = [Hit(tag, "0" * 64, None, {}) for tag in tags if tag.index < 4]
        misses = [(tag, "1" * 64) for tag in tags if tag.index >= 4]
        return Intake(hits, misses, [tag.index for tag, _ in misses] or None)

    class Extractor:
        transfers = SimpleNamespace(accelerated=False, cuda=False)

        def __init__(self, model, options):
            events.append("model")

        def run(self, batches):
            return iter(batches)

    monkeypatch.setattr(local, "intake_batch", intake_batch)
    monkeypatch.setattr(local, "Extractor", Extractor)
    job = SimpleNamespace(batch_size=2, extract=None)
    for delivery in local._deliveries(range(6), job, lambda: None):
        if delivery is not local.DRAIN:
            events.append([item.tag.index for item in delivery[0]])
    # a batch's hits in one task, each miss in its own
    assert events == [[0, 1], [2, 3], "model", [4], [5]]


def _scouting(tmp_path, cached, unreadable=()):
    """A source of five images, a job whose cache holds the records of those in ``cached``."""
    import hashlib

    from reportgen import store
    from reportgen.analysis.sources.base import Encoded, Item, Unusable

    def reader(index):
        return Unusable("cannot read") if index in unreadable else Encoded(b"%d" % index)

    items = [Item(index, f"{index}.png", reader(index)) for index in range(5)]
    cache = store.ContentCache(tmp_path / "cache")
    job = SimpleNamespace(cache=lambda: cache, key=lambda sha256: "k" + sha256, model="a model")
    for index in cached:
        cache.put("results", job.key(hashlib.sha256(b"%d" % index).hexdigest()), ".npz", b"record")
    return SimpleNamespace(items=lambda: iter(items)), job


def test_the_scout_finds_a_miss_only_where_a_record_is_not_cached(tmp_path):
    import threading

    from reportgen.analysis.engines import local

    go, stop = threading.Event(), threading.Event()
    stop.set()
    assert not local._finds_a_miss(*_scouting(tmp_path / "a", range(5)), go)
    assert local._finds_a_miss(*_scouting(tmp_path / "b", [0, 1, 2, 3]), go)
    assert not local._finds_a_miss(*_scouting(tmp_path / "c", [0, 1, 2, 3], unreadable=[4]), go)
    assert not local._finds_a_miss(*_scouting(tmp_path / "d", []), stop)  # the run has ended
    source, job = _scouting(tmp_path / "e", [])
    assert local._finds_a_miss(source, SimpleNamespace(cache=lambda: None), go)  # no cache


def test_the_scout_loads_the_processor_at_a_miss_and_leaves_failures_to_the_intake(
    tmp_path, monkeypatch
):
    import threading

    from reportgen.analysis.engines import local

    loaded = []
    monkeypatch.setattr(local, "load_processor", loaded.append)
    local._load_at_first_miss(*_scouting(tmp_path / "a", range(5)), threading.Event())
    assert loaded == []
    local._load_at_first_miss(*_scouting(tmp_path / "b", [0, 1, 2]), threading.Event())
    assert loaded == ["a model"]

    def failing(ref):
        raise OSError("no such model")

    monkeypatch.setattr(local, "load_processor", failing)
    local._load_at_first_miss(*_scouting(tmp_path / "c", []), threading.Event())  # no raise


def _files_job(tmp_path, monkeypatch, count=5):
    """Items of ``count`` settled PNG files whose reads are counted, and a job with a cache."""
    import hashlib

    from conftest import write_images

    from reportgen import digests, store
    from reportgen.analysis.sources.base import FileReader, Item

    monkeypatch.setattr(digests, "_FILE_HASHES", {})
    monkeypatch.setattr(digests, "SETTLED_NS", 0)
    folder, reads = write_images(tmp_path / "images", count), []

    def read(path):
        reads.append(os.path.basename(path))
        with open(path, "rb") as stream:
            return stream.read()

    items = [
        Item(i, f"img{i:02d}.png", FileReader(str(folder / f"img{i:02d}.png"), read))
        for i in range(count)
    ]
    cache = store.ContentCache(tmp_path / "cache")
    job = SimpleNamespace(
        cache=lambda: cache, key=lambda sha256: "k" + sha256, summary_key=lambda key: "s" + key
    )

    def cache_record(index):
        key = job.key(hashlib.sha256((folder / f"img{index:02d}.png").read_bytes()).hexdigest())
        cache.put("results", key, ".npz", b"record")
        cache.put_json("summaries", job.summary_key(key), {"entropy": index})

    return items, job, reads, cache_record


def test_a_cached_file_is_read_once_then_known_unread_until_it_changes(tmp_path, monkeypatch):
    from reportgen import digests
    from reportgen.analysis.engines.base import Miss, intake

    items, job, reads, cache_record = _files_job(tmp_path, monkeypatch, count=1)
    cache_record(0)
    first = intake(items[0], job)
    assert isinstance(first, Hit) and first.facts == {"entropy": 0} and reads == ["img00.png"]
    monkeypatch.setattr(digests, "_FILE_HASHES", {})  # a later build: from the cache
    again = intake(items[0], job)
    assert again == first and reads == ["img00.png"]  # not read again
    import time

    from conftest import write_images

    time.sleep(0.05)  # a later tick of the file system's clock (SETTLED_NS waits 2 s for it)
    write_images(tmp_path / "images", 1, seed=3)  # rewritten: another image, not cached
    changed = intake(items[0], job)
    assert isinstance(changed, Miss) and changed.key != first.key
    assert reads == ["img00.png", "img00.png"]


def test_the_scout_reads_the_files_it_does_not_know_first(tmp_path, monkeypatch):
    import threading

    from reportgen import digests
    from reportgen.analysis.engines import local

    items, job, reads, cache_record = _files_job(tmp_path, monkeypatch)
    source, go = SimpleNamespace(items=lambda: iter(items)), threading.Event()
    for index in range(5):
        cache_record(index)
    assert not local._finds_a_miss(source, job, go)  # all read once, remembered
    assert len(reads) == 5
    reads.clear()
    assert not local._finds_a_miss(source, job, go) and reads == []
    monkeypatch.setattr(digests, "_FILE_HASHES", {})
    from conftest import write_images

    write_images(tmp_path / "new", 1, seed=5)
    os.replace(tmp_path / "new/img00.png", tmp_path / "images/img01.png")  # a new file
    assert local._finds_a_miss(source, job, go) and reads == ["img01.png"]  # read first
    cache_record(1)
    reads.clear()
    assert not local._finds_a_miss(source, job, go) and reads == []  # remembered when read
    known = digests.remembered_input(digests.input_identity(items[4].file), job.cache())
    job.cache().path("results", job.key(known), ".npz").unlink()
    assert local._finds_a_miss(source, job, go)  # a known file whose record is gone


def test_torch_is_imported_before_the_engine_opens_only_when_an_input_file_is_new(
    tmp_path, monkeypatch
):
    from reportgen import digests
    from reportgen.analysis.engines import local
    from reportgen.analysis.execution import Execution
    from reportgen.analysis.sources.base import Encoded, Item

    items, job, reads, cache_record = _files_job(tmp_path, monkeypatch, count=3)
    source = SimpleNamespace(items=lambda: iter(items))
    imported = []
    monkeypatch.setattr(local.importlib, "import_module", imported.append)
    execution = Execution(cache_dir=job.cache().root)
    local.import_torch_if_new(source, execution)
    assert imported == ["torch"] and reads == []  # new files: looked at, not read
    for item in items:
        item.hashed(job.cache())  # read once: their digests are remembered
    imported.clear()
    local.import_torch_if_new(source, execution)
    assert imported == []
    local.import_torch_if_new(source, Execution(use_cache=False))
    assert imported == ["torch"]  # without a cache every file is new
    imported.clear()
    monkeypatch.setattr(digests, "_FILE_HASHES", {})
    local.import_torch_if_new(source, Execution(cache_dir=tmp_path / "another cache"))
    local.import_torch_if_new(SimpleNamespace(items=lambda: iter(items)), Execution(engine="ray"))
    assert imported == ["torch"]  # Ray's actors import it, not this process
    imported.clear()
    not_files = [Item(0, "a.png", Encoded(b"bytes"))]  # a dataset's: nothing to look at
    local.import_torch_if_new(SimpleNamespace(items=lambda: iter(not_files)), execution)
    assert imported == []

    def failing(name):
        raise ImportError("torch is broken")

    monkeypatch.setattr(local.importlib, "import_module", failing)
    local.import_torch_if_new(source, Execution(use_cache=False))  # left to the analysis
