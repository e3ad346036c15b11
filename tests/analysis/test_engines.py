"""What every engine shares (engines.base), without a model."""

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
