"""``reportgen build --model A --model B``: one report per model, slugged by model, the models
loaded one after the other (the first gone before the next loads), and their comparison."""

from __future__ import annotations

import gc
import json
import weakref

import pytest
from conftest import tiny_model_dir, write_images

from reportgen import cli
from reportgen.analysis import analyze
from reportgen.commands.build import model_slugs
from reportgen.manifest import ComparisonManifest

pytestmark = pytest.mark.slow


def test_model_slugs_name_each_model_once():
    models = ["google/vit-base-patch16-224", "offline:dinov2-small", "/tmp/a/vit/", "/tmp/b/vit"]
    models.append("timm:vit_small_patch16_224@/w/model.safetensors")
    assert model_slugs(models, "photos") == [
        "photos-vit-base-patch16-224",
        "photos-dinov2-small",
        "photos-vit",
        "photos-vit-2",
        "photos-vit-small-patch16-224",
    ]


def test_one_report_per_model_then_their_comparison(tiny_vit_dir, tmp_path_factory, monkeypatch):
    tmp = tmp_path_factory.mktemp("models")
    images = write_images(tmp / "photos", 4)
    patch16 = tiny_model_dir(tmp_path_factory, "vit", patch_size=16)
    alive = []  # the models loaded so far, weakly: each must be gone when the next loads
    original = analyze.load

    def load(*args, **kwargs):
        gc.collect()
        assert [model() for model in alive if model() is not None] == []
        loaded = original(*args, **kwargs)
        alive.append(weakref.ref(loaded.model))
        return loaded

    monkeypatch.setattr(analyze, "load", load)
    site = tmp / "site"
    arguments = ["build", str(images), "--out", str(site), "--date", "2024-05-24"]
    models = ["--model", str(tiny_vit_dir), "--model", str(patch16), "--no-cache"]
    assert cli.main([*arguments, *models, "--workers", "0"]) == 0
    assert len(alive) == 2
    slugs = model_slugs([str(tiny_vit_dir), str(patch16)], "photos")
    assert sorted(path.name for path in (site / "reports").iterdir()) == sorted(slugs)
    comparison = site / "comparisons" / "-vs-".join(slugs)
    data = json.loads((comparison / "compare.json").read_text())
    assert [run["model"] for run in data["runs"]] == [str(tiny_vit_dir), str(patch16)]
    assert len(data["images"]) == 4 and data["grid"] == [4, 4]
    index = (site / "index.html").read_text()
    assert all(f"reports/{slug}/index.html" in index for slug in slugs)
    assert f"comparisons/{comparison.name}/index.html" in index
    # --replace rebuilds the reports and their comparison in place: no earlier versions
    replace = ["--title", "photos again", "--replace"]
    assert cli.main([*arguments, *models, "--workers", "0", *replace]) == 0
    compared = ComparisonManifest.read(comparison)
    assert compared.title == "photos again: " + " against ".join([str(tiny_vit_dir), str(patch16)])
    assert compared.version == 1 and not (comparison / "versions").exists()
