"""The site that test_compare.py and test_compare_sites.py compare in (their ``site`` fixture,
in tests/conftest.py): reports of the same images by tiny random models (other patch sizes, head
fusion, register tokens), over part of the images, over other images only, with hostile names
among them; and the helpers they share."""

from __future__ import annotations

import json
import shutil

import numpy as np
from conftest import tiny_model_dir, write_images
from PIL import Image

from reportgen import api
from reportgen.analysis.execution import Execution
from reportgen.analysis.sources.folder import FolderSource
from reportgen.publish import comparison_site
from reportgen.publish.options import ReportOptions, parse_date
from reportgen.results import AnalysisParams

HOSTILE_NAMES = ["<script>alert(1)</script>.png", "{{ site.title }}.png", "[x](javascript:y).png"]
DATE = parse_date("2024-05-24")


def _with_hostile_names(folder, seed):
    rng = np.random.default_rng(seed)
    for name in HOSTILE_NAMES:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray((rng.random((40, 48, 3)) * 255).astype(np.uint8)).save(path, "PNG")
    return folder


def _renamed(folder, prefix):
    """Other names for the images (names match too, when contents differ)."""
    for path in list(folder.iterdir()):
        path.rename(folder / f"{prefix}{path.name}")
    return folder


def compared_site(tiny_vit_dir, tmp_path_factory):
    """Reports of the same images by a patch-8 and a patch-16 model and with max head fusion,
    one over part of the images and some others, one over other images only."""
    tmp = tmp_path_factory.mktemp("compare")
    root = tmp / "site"
    images = _with_hostile_names(write_images(tmp / "images", 9), 3)
    partial = tmp / "partial"
    shutil.copytree(images, partial)
    for path in sorted(partial.glob("img0[5-8].png")):
        path.unlink()
    for path in _renamed(write_images(tmp / "extra", 2, seed=5), "new-").iterdir():
        shutil.copy(path, partial / path.name)
    execution = Execution(device="cpu", cache_dir=tmp / "cache")
    patch16 = tiny_model_dir(tmp_path_factory, "vit", patch_size=16)

    def build(folder, slug, site_root=root, **params):
        options = ReportOptions(title=slug, slug=slug, date=DATE)
        return api.build(
            FolderSource(folder, recursive=True),
            site_root,
            AnalysisParams(**{"model": str(tiny_vit_dir), **params}),
            options,
            execution,
        )

    return {
        "root": root,
        "model": tiny_vit_dir,
        "images": images,
        "build": build,
        "a": build(images, "a"),
        "b": build(images, "b", model=str(patch16)),
        "c": build(images, "c", head_fusion="max"),
        "registers": build(
            images, "registers", model=str(tiny_model_dir(tmp_path_factory, "dinov2_registers"))
        ),
        "partial": build(partial, "partial"),
        "other": build(_renamed(write_images(tmp / "other", 3, seed=11), "other-"), "other"),
    }


def _compare(site, *runs, **options):
    return comparison_site.build([site[run] for run in runs], site["root"], date=DATE, **options)


def _data(folder):
    return json.loads((folder / "compare.json").read_text())
