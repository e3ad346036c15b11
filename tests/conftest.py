"""Shared fixtures: tiny random ViT-family models saved as local model folders (no downloads)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
# a report exactly as reportgen 0.1.0 published it (see tests/test_compat.py)
FIXTURE = TESTS / "fixtures" / "report-v0.1.0"
ARTIFACTS = ROOT / "test-artifacts"  # screenshots the browser tests leave for a person to see


def tiny_model_dir(tmp_path_factory, family: str, **overrides):
    """Save a tiny random model of ``family`` with its image processor; return the folder."""
    import transformers as tf

    common = dict(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        image_size=32,
        patch_size=8,
    )
    common.update(overrides)
    size = common["image_size"]
    hw = size if isinstance(size, list | tuple) else (size, size)
    exact = {"height": hw[0], "width": hw[1]}
    crop = dict(do_center_crop=True, crop_size=exact, size={"shortest_edge": max(hw)})
    families = {
        "vit": (tf.ViTConfig, tf.ViTForImageClassification, tf.ViTImageProcessor, {"size": exact}),
        "deit": (
            tf.DeiTConfig,
            tf.DeiTForImageClassificationWithTeacher,
            tf.DeiTImageProcessor,
            {"size": exact, "do_center_crop": False},
        ),
        "dinov2": (tf.Dinov2Config, tf.Dinov2Model, tf.BitImageProcessor, crop),
        "dinov2_registers": (
            tf.Dinov2WithRegistersConfig,
            tf.Dinov2WithRegistersModel,
            tf.BitImageProcessor,
            crop,
        ),
        "beit": (
            tf.BeitConfig,
            tf.BeitForImageClassification,
            tf.BeitImageProcessor,
            {"size": exact, "do_center_crop": False},
        ),
        "clip": (tf.CLIPVisionConfig, tf.CLIPVisionModel, tf.CLIPImageProcessor, crop),
        # no CLS token: pools with an attention head (vision_use_head=False: no pooler either)
        "siglip": (
            tf.SiglipVisionConfig,
            tf.SiglipVisionModel,
            tf.SiglipImageProcessor,
            {"size": exact},
        ),
    }
    config_class, model_class, processor_class, processor_options = families[family]
    if model_class.__name__.endswith(("Classification", "WithTeacher")):
        common.setdefault("num_labels", 7)
    config = config_class(**common)
    folder = tmp_path_factory.mktemp(family)
    import torch

    torch.manual_seed(0)
    model_class(config).save_pretrained(folder)
    processor_class(**processor_options).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_vit_dir(tmp_path_factory):
    return tiny_model_dir(tmp_path_factory, "vit")


def write_images(folder, count: int, size=(48, 40), seed: int = 0):
    """Random RGB PNGs named img00.png..., one per pattern, so entropies differ."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        pixels = (rng.random((size[1], size[0], 3)) * 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"img{index:02d}.png")
    return folder


@pytest.fixture(autouse=True, scope="session")
def isolated_cache(tmp_path_factory):
    """Tests never read or write the user's real reportgen cache."""
    import os

    previous = os.environ.get("REPORTGEN_CACHE_DIR")
    os.environ["REPORTGEN_CACHE_DIR"] = str(tmp_path_factory.mktemp("reportgen-cache"))
    yield
    if previous is None:
        os.environ.pop("REPORTGEN_CACHE_DIR")
    else:
        os.environ["REPORTGEN_CACHE_DIR"] = previous


@pytest.fixture
def analysis_params(tiny_vit_dir):
    """Analysis with the tiny ViT."""
    from reportgen.results import AnalysisParams

    return AnalysisParams(model=str(tiny_vit_dir))


@pytest.fixture
def execution(tmp_path):
    """On the CPU, with a cache of the test's own."""
    from reportgen.analysis.execution import Execution

    return Execution(device="cpu", cache_dir=tmp_path / "cache")


@pytest.fixture
def report_options():
    """A titled, slugged and dated report (user text with markup in the title)."""
    from reportgen.publish.options import ReportOptions, parse_date

    return ReportOptions(title="Tiny <b>report</b>", slug="tiny", date=parse_date("2024-05-24"))


def declare_entry_points(monkeypatch, group: str, *pairs: tuple[str, str]) -> None:
    """Declare entry points of ``group`` as installed packages would: (name, "module:attr")."""
    import importlib.metadata

    points = [importlib.metadata.EntryPoint(name, value, group) for name, value in pairs]
    monkeypatch.setattr(
        importlib.metadata,
        "entry_points",
        lambda group: [point for point in points if point.group == group],
    )


def site_files(root):
    """Every file below ``root`` with its bytes, by POSIX relative path."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def stop_build_half_way(command, out, signal_number, whole_group=False):
    """Run a ``reportgen build`` command line and send it ``signal_number`` once it has staged a
    figure in the site ``out`` (``whole_group``: to its workers too, as Ctrl-C in a terminal
    does); returns its exit status and what it printed on stderr."""
    import os
    import subprocess
    import time

    from reportgen.publish.staging import STAGING_PREFIX

    process = subprocess.Popen(
        [str(part) for part in command],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=whole_group,
    )
    try:
        deadline = time.monotonic() + 120
        while not list(out.glob(f"{STAGING_PREFIX}*/report/figures/*")):
            assert process.poll() is None, "the build ended before it could be stopped"
            assert time.monotonic() < deadline
            time.sleep(0.05)
        if whole_group:
            os.killpg(process.pid, signal_number)
        else:
            process.send_signal(signal_number)
        _, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    return process.returncode, stderr.decode()


def as_format_6(arrays: dict, heads) -> dict:
    """The members of a maps file as formats 4 to 6 encoded them: float maps as float32 (format
    7 keeps the layer maps, rollout and min as float16) and ``heads``, the file's heads as read,
    as 8-bit levels (format 7: 4-bit ones two to a byte, whose values 8-bit levels keep exactly)."""
    from reportgen import quantise

    arrays = {
        name: values.astype(np.float32) if values.dtype == np.float16 else values
        for name, values in arrays.items()
    }
    if "cls_heads_range" in arrays:
        levels, low, high = quantise.quantise(heads, 8)
        arrays.update(cls_heads=levels, cls_heads_range=np.stack([low, high], axis=-1))
    return arrays


def rewrite_as_format_3(maps_file, heads: bool) -> None:
    """Rewrite a maps file as maps format 3 stored it: its heads as float16 (``keep_heads``) when
    ``heads``, else none; its maps float32. Replaced, not written through: report files link to
    the cache's."""
    import io
    import json

    from reportgen import store

    record = store.read_record(maps_file, "")
    with np.load(maps_file) as data:
        arrays = {
            name: data[name]
            for name in data.files
            if not name.startswith("cls_heads") and name != "min"  # format 3 kept no min
        }
    arrays = as_format_6(arrays, record.cls_heads)
    meta = json.loads(arrays["meta"].tobytes())
    arrays["meta"] = np.frombuffer(json.dumps({**meta, "format": 3}).encode(), dtype=np.uint8)
    if heads:
        arrays["cls_heads"] = record.cls_heads.astype(np.float16)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    store.atomic_write(maps_file, buffer.getvalue())


def rewrite_record_format(path: Path, record_format: int) -> None:
    """Rewrite a maps file as an earlier version wrote it, where only its encoding and the
    meaning of recomputed maps changed since: the ``format`` in its meta, before format 7 its
    members as :func:`as_format_6` encodes them, and before format 6 without ``min``, which
    those files did not keep. Replaced, not written through (report files link to the cache's)."""
    import io
    import json

    from reportgen import store

    with np.load(path) as data:
        arrays = {name: data[name] for name in data.files}
    if record_format < 7:
        arrays = as_format_6(arrays, store.read_record(path, "").cls_heads)
    if record_format < store.MIN_KEPT_FORMAT:
        arrays.pop("min", None)
    meta = json.loads(arrays["meta"].tobytes().decode())
    arrays["meta"] = np.frombuffer(json.dumps({**meta, "format": record_format}).encode(), np.uint8)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    store.atomic_write(path, buffer.getvalue())


@pytest.fixture(scope="session")
def site(tiny_vit_dir, tmp_path_factory):
    """The reports test_compare.py and test_compare_sites.py compare, in a site (one build for
    both: it takes a while)."""
    from compared_reports import compared_site  # tests/publish/, where its users are

    return compared_site(tiny_vit_dir, tmp_path_factory)
