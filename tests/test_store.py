"""Record files, format 6: what is stored, how exactly it reads back, and older formats."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import zipfile

import numpy as np
import pytest
from conftest import rewrite_as_format_3, rewrite_record_format

from reportgen import quantise, store
from reportgen.errors import DamagedFile
from reportgen.methods import artifacts, maps, panels
from reportgen.record import ImageRecord, Prediction


def make_record(seed: int = 0, layers: int = 3, heads: int = 4, grid=(6, 6)) -> ImageRecord:
    """A record shaped like a real one: softmax-like heads, a smooth photo-like image."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 2, (layers, heads, *grid))
    cls_heads = (np.exp(logits) / np.exp(logits).sum(axis=(2, 3), keepdims=True)).astype(np.float32)
    mask = np.zeros((layers, *grid), dtype=bool)
    mask[0, 1, 2] = True
    layer_maps = artifacts.fill_layers(cls_heads.astype(np.float64).mean(axis=1), mask)
    named = panels.complete({panels.LAYERS: layer_maps, panels.ROLLOUT: rng.random(grid)})
    y, x = np.mgrid[0:48, 0:48]
    image = np.stack([x * 5, y * 5, (x + y) * 2], axis=-1) % 256
    return ImageRecord(
        name="x.png",
        sha256="0" * 64,
        size_bytes=123,
        original_size=(64, 48),
        geometry={"model_input_size": [48, 48]},
        seen_image=image.astype(np.uint8),
        cls_heads=cls_heads,
        maps={name: values.astype(np.float32) for name, values in named.items()},
        artifact_mask=mask,
        predictions=[Prediction("cat", 0.5)],
    )


def members(payload: bytes) -> set[str]:
    with zipfile.ZipFile(io.BytesIO(payload)) as archive:
        return set(archive.namelist())


def test_the_maps_file_keeps_what_cannot_be_recomputed_and_every_head():
    record = make_record()
    payload = store.record_bytes(record)
    assert members(payload) == {
        "seen_image_webp.npy",
        "cls_heads.npy",
        "cls_heads_range.npy",
        "layers.npy",
        "min.npy",  # format 6 on: it needs rollout's start layer
        "rollout.npy",
        "artifact_mask.npy",
        "meta.npy",
    }
    float16 = store.record_bytes(record, keep_heads=True)
    assert members(float16) == members(payload) - {"cls_heads_range.npy"}
    assert store.record_bytes(record) == payload  # deterministic bytes


def half(values: np.ndarray) -> np.ndarray:
    """``values`` as a float16 member of a maps file reads back."""
    return values.astype(np.float16).astype(np.float32)


def test_maps_read_back_as_float16_and_aggregates_are_recomputed():
    record = make_record()
    payload = store.record_bytes(record)
    with np.load(io.BytesIO(payload)) as data:
        assert data["layers"].dtype == data["rollout"].dtype == data["min"].dtype == np.float16
    back = store.read_record(io.BytesIO(payload), "x.png")
    assert back.maps["layers"].dtype == back.maps["rollout"].dtype == np.float32
    for name in ("layers", "rollout", "min"):
        np.testing.assert_array_equal(back.maps[name], half(record.maps[name]))
    peak = record.maps["layers"].max(axis=(1, 2), keepdims=True)
    assert (np.abs(back.maps["layers"] - record.maps["layers"]) / peak).max() < 4.9e-4
    stored = {name: back.maps[name] for name in ("layers", "rollout", "min")}
    record.maps.update(panels.complete(stored))  # the aggregates of the stored layers
    for name in ("max", "mean"):
        np.testing.assert_allclose(back.maps[name], record.maps[name], rtol=1e-6)
    assert list(back.maps) == list(record.maps)
    np.testing.assert_array_equal(back.artifact_mask, record.artifact_mask)
    assert back.predictions == record.predictions


def test_heads_are_4_bit_within_half_a_step_of_each_grid():
    record = make_record()
    payload = store.record_bytes(record)
    with np.load(io.BytesIO(payload)) as data:
        assert data["cls_heads"].dtype == np.uint8 and data["cls_heads"].shape == (3, 4, 18)
        assert data["cls_heads_range"].shape == (3, 4, 2)  # two levels a byte, 36 a grid
    back = store.read_record(io.BytesIO(payload), "x").cls_heads
    assert back.dtype == np.float32 and back.shape == record.cls_heads.shape
    heads = record.cls_heads.astype(np.float64)
    span = heads.max(axis=(2, 3), keepdims=True) - heads.min(axis=(2, 3), keepdims=True)
    assert np.all(np.abs(back - heads) <= span / 30 * (1 + 1e-6))
    assert np.array_equal(back.min(axis=(2, 3)), record.cls_heads.min(axis=(2, 3)))
    np.testing.assert_allclose(back.max(axis=(2, 3)), record.cls_heads.max(axis=(2, 3)), rtol=1e-6)


def test_the_explorer_gets_the_stored_levels():
    record = make_record()
    payload = store.record_bytes(record)
    with np.load(io.BytesIO(payload)) as data:
        stored = quantise.unpack_nibbles(data["cls_heads"], (6, 6))
    back = store.read_record(io.BytesIO(payload), "x").cls_heads
    levels, _, _ = quantise.quantise(back, 8)
    np.testing.assert_array_equal(levels, stored.astype(int) * 17)  # no second rounding


@pytest.mark.parametrize("grid", [(4, 4), (3, 5)])
def test_4_bit_levels_are_packed_two_to_a_byte(grid):
    levels = np.random.default_rng(3).integers(0, 16, (2, 3, *grid)).astype(np.uint8)
    packed = quantise.pack_nibbles(levels)
    assert packed.dtype == np.uint8 and packed.shape == (2, 3, (grid[0] * grid[1] + 1) // 2)
    assert packed[0, 0, 0] == levels[0, 0, 0, 0] * 16 + levels[0, 0, 0, 1]  # first one high
    np.testing.assert_array_equal(quantise.unpack_nibbles(packed, grid), levels)


def test_quantise_keeps_a_flat_grid_exact():
    values = np.full((2, 3, 3), 0.25)
    values[1, 0, 0] = 0.5
    levels, low, high = quantise.quantise(values, 8)
    assert levels[0].max() == 0 and levels[1, 0, 0] == 255
    np.testing.assert_array_equal(quantise.dequantise(levels, low, high, 8), values)


def test_keep_heads_stores_float16_within_its_precision():
    record = make_record()
    back = store.read_record(io.BytesIO(store.record_bytes(record, keep_heads=True)), "x")
    assert back.cls_heads.dtype == np.float16
    normal = record.cls_heads >= np.finfo(np.float16).tiny
    error = np.abs(back.cls_heads.astype(np.float64) - record.cls_heads)
    assert np.all(error[normal] <= 2**-11 * record.cls_heads[normal])  # half an ulp
    assert np.all(error[~normal] <= 3e-8)


def test_the_seen_image_is_webp_close_to_the_pixels():
    record = make_record()
    payload, stored = store.as_stored(record)
    assert stored.seen_image.shape == record.seen_image.shape
    difference = stored.seen_image.astype(float) - record.seen_image
    psnr = 10 * np.log10(255**2 / np.mean(difference**2))
    assert psnr > 30
    again = store.read_record(io.BytesIO(payload), "x.png")
    np.testing.assert_array_equal(again.seen_image, stored.seen_image)  # as_stored = read back


def test_format_2_files_still_load(tmp_path):
    record = make_record()
    meta = {
        "format": 2,
        "sha256": record.sha256,
        "size_bytes": 1,
        "original_size": [64, 48],
        "geometry": {},
        "predictions": [],
    }
    path = tmp_path / "old.npz"
    np.savez(
        path,
        seen_image=record.seen_image,
        cls_heads=record.cls_heads,
        artifact_mask=record.artifact_mask,
        **record.maps,
        meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
    )
    back = store.read_record(path, "old.png")
    np.testing.assert_array_equal(back.seen_image, record.seen_image)
    assert back.cls_heads.dtype == np.float32
    for name, values in record.maps.items():
        np.testing.assert_array_equal(back.maps[name], values)


@pytest.mark.parametrize("heads", [False, True])
def test_format_3_files_still_load(tmp_path, heads):
    _, record = store.as_stored(make_record())  # the values the rewritten file keeps
    path = tmp_path / "v3.npz"
    path.write_bytes(store.record_bytes(record, keep_heads=heads))
    rewrite_as_format_3(path, heads)
    back = store.read_record(path, "x.png")
    plain_min = record.maps["layers"].min(axis=0)  # what min meant before format 5
    for name, values in {**record.maps, "min": plain_min}.items():
        np.testing.assert_allclose(back.maps[name], values, rtol=1e-6)
    if heads:
        assert back.cls_heads.dtype == np.float16
        np.testing.assert_allclose(back.cls_heads, record.cls_heads, rtol=2**-11, atol=3e-8)
    else:
        assert back.cls_heads is None


@pytest.mark.parametrize("keep_heads", [False, True])
def test_link_or_copy_never_writes_through_a_link(tmp_path, keep_heads):
    source = tmp_path / "cache" / "a"
    store.atomic_write(source, store.record_bytes(make_record(), keep_heads))
    original = source.read_bytes()
    placed = tmp_path / "report" / "a"
    store.link_or_copy(source, placed)
    store.atomic_write(placed, b"new")  # a later write replaces the link...
    assert source.read_bytes() == original  # ...and leaves the cached file alone
    store.link_or_copy(source, placed)
    assert placed.read_bytes() == original


def test_json_is_streamed_to_the_same_bytes_as_canonical_json(tmp_path):
    data = {"files": {f"b/{index}": "é" * 3 for index in range(3)}, "a": [1, 2.5, None]}
    store.write_json(tmp_path / "manifest.json", data)
    assert (tmp_path / "manifest.json").read_text(encoding="utf-8") == store.canonical_json(data)
    assert [path.name for path in tmp_path.iterdir()] == ["manifest.json"]  # no temporary left


def test_token_norms_and_features_are_stored_8_bit_with_the_artifact_score():
    record = make_record()
    rng = np.random.default_rng(5)
    norms = rng.lognormal(3, 0.2, (3, 6, 6)).astype(np.float32)
    colours = rng.random((3, 6, 6)).astype(np.float32)
    record.maps.update(norms=norms, features=colours)
    record.artifact_score = 0.125
    payload = store.record_bytes(record)
    assert {"norms.npy", "norms_range.npy", "features.npy", "features_range.npy"} <= members(
        payload
    )
    with np.load(io.BytesIO(payload)) as data:
        assert data["norms"].dtype == np.uint8 and data["norms_range"].shape == (3, 2)
        assert data["features"].dtype == np.uint8 and data["features_range"].shape == (3, 2)
    back = store.read_record(io.BytesIO(payload), "x.png")
    for name, given in (("norms", norms), ("features", colours)):
        span = given.max(axis=(1, 2), keepdims=True) - given.min(axis=(1, 2), keepdims=True)
        assert back.maps[name].shape == given.shape
        assert np.all(np.abs(back.maps[name] - given) <= span / 510 * (1 + 1e-5))
    assert back.artifact_score == 0.125
    older = store.read_record(io.BytesIO(store.record_bytes(make_record())), "x.png")
    assert "norms" not in older.maps and older.artifact_score is None


def test_the_digests_kept_in_a_process_are_bounded_oldest_forgotten_first(tmp_path, monkeypatch):
    import hashlib

    from reportgen import digests

    monkeypatch.setattr(digests, "_FILE_HASHES", {})
    monkeypatch.setattr(digests, "_FILE_HASHES_KEPT", 2)
    paths = []
    for index in range(3):
        path = tmp_path / f"f{index}"
        path.write_bytes(bytes([index]) * 10)
        paths.append(path)
        assert digests.file_sha256(path) == hashlib.sha256(path.read_bytes()).hexdigest()
    kept = set(digests._FILE_HASHES)
    assert len(kept) == 2
    assert digests.file_identity(paths[0].stat()) not in kept
    assert digests.file_identity(paths[2].stat()) in kept


def test_min_is_read_as_the_format_of_its_maps_file_made_it(tmp_path):
    _, record = store.as_stored(make_record())  # the values the rewritten files keep
    layers = record.maps["layers"].astype(np.float64)
    from_start = maps.aggregate(maps.relative_to_peak(layers[1:]), "min")  # rollout's start: 1
    record = dataclasses.replace(record, maps={**record.maps, "min": half(from_start)})
    path = tmp_path / "a.npz"
    path.write_bytes(store.record_bytes(record))
    np.testing.assert_array_equal(store.read_record(path, "x").maps["min"], record.maps["min"])
    every_layer = maps.aggregate(maps.relative_to_peak(layers), "min")  # format 5
    plain = layers.min(axis=0)  # before format 5
    assert not np.allclose(from_start, every_layer)  # the three meanings differ here
    assert not np.allclose(every_layer, plain)
    for record_format, expected in ((6, record.maps["min"]), (5, every_layer), (4, plain)):
        rewrite_record_format(path, record_format)  # 6: float32 maps, 8-bit heads
        back = store.read_record(path, "x")
        np.testing.assert_allclose(back.maps["min"], expected, rtol=1e-6)
        np.testing.assert_allclose(back.cls_heads, record.cls_heads, rtol=1e-6)
        for name in ("max", "mean", "layers", "rollout"):
            np.testing.assert_allclose(back.maps[name], record.maps[name], rtol=1e-6)


def test_a_cache_hit_is_marked_used_without_changing_the_files_identity(tmp_path):
    """Pruning sees the access time; the modification time, part of a file's identity, stays,
    so a report file linked from the cache keeps the digest its manifest remembered."""
    import os

    cache = store.ContentCache(tmp_path / "cache")
    cache.put("pages", "ab" * 32, ".html", b"<p>page</p>")
    entry = cache.path("pages", "ab" * 32, ".html")
    os.utime(entry, ns=(10**18, 10**18))  # used and written long ago
    destination = tmp_path / "report" / "page.html"
    assert cache.place("pages", "ab" * 32, ".html", destination)
    info = destination.stat()
    assert info.st_ino == entry.stat().st_ino and info.st_mtime_ns == 10**18
    assert info.st_atime_ns > 10**18
    folder = tmp_path / "cache" / "models" / "converted"
    folder.mkdir(parents=True)
    os.utime(folder, ns=(10**18, 10**18))
    store.mark_used(folder)  # a converted model: its folder's own times
    assert folder.stat().st_mtime_ns > 10**18


def test_a_cache_entry_used_within_the_hour_is_not_marked_again(tmp_path):
    """Its access time stays (no inode write per hit); one used earlier gets now."""
    import os
    import time

    cache = store.ContentCache(tmp_path / "cache")
    for key in ("ab" * 32, "cd" * 32):
        cache.put("pages", key, ".html", b"<p>page</p>")
    recent = time.time_ns() - store.USED_WITHIN_NS // 2
    earlier = time.time_ns() - 2 * store.USED_WITHIN_NS
    os.utime(cache.path("pages", "ab" * 32, ".html"), ns=(recent, 10**18))
    os.utime(cache.path("pages", "cd" * 32, ".html"), ns=(earlier, 10**18))
    assert cache.existing("pages", "ab" * 32, ".html")
    assert cache.existing("pages", "cd" * 32, ".html")
    assert cache.path("pages", "ab" * 32, ".html").stat().st_atime_ns == recent
    assert cache.path("pages", "cd" * 32, ".html").stat().st_atime_ns > recent


def test_atomic_write_makes_folders_replaces_links_and_leaves_no_temporary_file(tmp_path):
    import os

    path = tmp_path / "new" / "folder" / "page.html"
    store.atomic_write(path, "<p>one</p>")
    assert path.read_text() == "<p>one</p>"
    assert path.stat().st_mode & 0o777 == store.file_mode()  # a plain open()'s, not 0600
    published = tmp_path / "published.html"
    os.link(path, published)  # a file linked into a published report
    store.atomic_write(path, b"<p>two</p>")
    assert path.read_bytes() == b"<p>two</p>" and published.read_text() == "<p>one</p>"
    assert sorted(p.name for p in path.parent.iterdir()) == ["page.html"]


def test_an_input_files_digest_is_remembered_by_its_identity_once_it_has_settled(
    tmp_path, monkeypatch
):
    import hashlib
    import time

    from reportgen import digests

    monkeypatch.setattr(digests, "_FILE_HASHES", {})
    cache = store.ContentCache(tmp_path / "cache")
    path = tmp_path / "cat.png"
    path.write_bytes(b"cat" * 10)
    assert digests.input_identity(str(path)) is None  # just written: it is read
    assert digests.input_identity(str(tmp_path / "gone.png")) is None
    monkeypatch.setattr(digests, "SETTLED_NS", 0)
    identity = digests.input_identity(str(path))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert not digests.remembers_input(identity, cache)
    assert digests.remembered_input(identity, cache) is None
    digests.remember_input(identity, digest, cache)
    monkeypatch.setattr(digests, "_FILE_HASHES", {})  # another process: from the cache
    assert digests.remembers_input(identity, cache)
    assert digests.remembered_input(identity, cache) == digest
    # rewritten in place, same size, its old modification time put back: the change time differs
    info = path.stat()
    time.sleep(0.05)
    path.write_bytes(b"dog" * 10)
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))
    changed = digests.input_identity(str(path))
    assert changed[:4] == identity[:4] and changed != identity
    assert digests.remembered_input(changed, cache) is None


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"garbage", "not an .npz file"),
        (b"", "empty or cut short"),
        (None, "meta is not a file in the archive"),
    ],
)
def test_a_damaged_record_file_is_named_with_a_plain_reason(tmp_path, content, reason):
    path = tmp_path / "000-x.npz"
    if content is None:
        with path.open("wb") as stream:
            np.savez(stream, foo=np.zeros(3))
    else:
        path.write_bytes(content)
    with pytest.raises(DamagedFile) as raised:
        store.read_record(path, "x.png")
    assert (raised.value.path, raised.value.reason) == (path, reason)
    assert str(raised.value) == f"{path}: damaged, it does not read ({reason}); write it again"
    cut = store.record_bytes(make_record())[:-100]
    with pytest.raises(DamagedFile):
        store.read_record(io.BytesIO(cut), "x.png")
