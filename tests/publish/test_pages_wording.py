"""What report pages of every flavour say: the model and method described, counts and
entropy digits, the artifact and token-norm bullets, and the versions list with the notice on
an earlier version.

The report context is made by hand (rendered_pages.py).
"""

from __future__ import annotations

import dataclasses
import html
import re
from types import SimpleNamespace

import pytest
from rendered_pages import (
    FLAVOURS,
    WEIGHTS_SHA256,
    body,
    make_context,
    render,
)

from reportgen import store
from reportgen.publish import page_model, pages
from reportgen.publish.templates import Templates


def test_no_predictions_and_no_skipped_files(tmp_path):
    _, _, texts = render(tmp_path, num_classes=None, skipped=())
    for text in texts.values():
        assert "no classification head" in text
        assert "None: every file in the input folder was analysed." in text
        assert "tabby" not in text


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_report_content(tmp_path, flavour):
    ctx, _, texts = render(tmp_path)
    text = html.unescape(texts[flavour])
    for phrase in (
        "3 × 224 × 224",
        "197 × 768",
        "768 / 12 = 64",
        "12 encoder layers",
        "1 × 1000",
        '<d-cite key="abnar2020quantifying">'
        if flavour == "distill"
        else "https://arxiv.org/abs/2005.00928",
        "bilinear",
        "normalised Shannon entropy",
        ctx.spread_map,
        "Skipped files",
        "0123456789abcdef0123",  # the revision, whole
        "model weights sha256: ",
        WEIGHTS_SHA256,
        "reportgen 0.1, commit not recorded",
        "torch 2.3.0",
        "2024-05-24T12:00:00Z (UTC), from the SOURCE_DATE_EPOCH environment variable",
    ):
        assert phrase in text, phrase


VERSION_LINKS = {
    "html": ('href="versions/2/index.html"', 'href="../../index.html"'),
    "gfm": ("(versions/2/README.md)", "(../../README.md)"),
    "jekyll": (None, None),  # published without the report folder: no links to it
    "distill": (None, None),
    "hugo": (None, None),
    "mkdocs": (None, None),
}


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_versions_list_and_the_notice_on_an_earlier_version(tmp_path, flavour):
    report_dir = tmp_path / "report"
    ctx = make_context(report_dir)
    both = page_model.VersionEntry(
        2, "2024-05-01", "org/<i>x</i>{{ y }}", 7, "versions/2", ("gfm", "html")
    )
    jekyll_only = page_model.VersionEntry(1, "2024-04-01", "vit", 3, "versions/1", ("jekyll",))
    current = dataclasses.replace(ctx, version=3, history=(both, jekyll_only))
    text = pages.render_report(current, report_dir, [flavour])[0].read_text()
    version_link, current_link = VERSION_LINKS[flavour]
    decoded = html.unescape(text)
    assert "This is version 3 of this report" in decoded
    assert "version 3 (this page)" in decoded and "org/<i>x</i>{{ y }}" in decoded
    # (hugo's front matter holds its tags as plain strings: Hugo runs nothing in it)
    assert "<i>x" not in text and (flavour == "html" or "{{ y" not in body(flavour, text))
    assert "versions/1/" not in text  # no standalone page to link to
    if version_link:
        assert text.count(version_link) == 1
    else:
        assert "versions/2/" not in text
    assert "earlier version kept" not in text

    archived = dataclasses.replace(ctx, version=2, current_folder="../..")
    text = pages.render_report(archived, report_dir, [flavour])[0].read_text()
    assert "This is version 2 of this report, an earlier version kept for the record." in text
    assert (current_link in text) if current_link else ("../.." not in text)
    assert "## Versions" not in text and "<h2>Versions" not in text


@pytest.mark.parametrize("flavour", ["html", "jekyll", "gfm"])
def test_counts_from_10000_on_get_thousands_separators(tmp_path, flavour):
    ctx = dataclasses.replace(
        make_context(tmp_path), artifacts_mode="mask", masked_per_layer=(16000, 244), n_images=12345
    )
    [page] = pages.render_report(ctx, tmp_path, [flavour])
    text = " ".join(page.read_text().split())
    assert "framed faintly in the figures (16,244 patch-layers in all;" in text
    assert "The 12,345 images are grouped into 4 spread levels" in text
    assert "L1 16,000, L2 244" in text


def _levels_with_bounds(*bounds: tuple[float, float]) -> list[SimpleNamespace]:
    return [SimpleNamespace(entropy_min=low, entropy_max=high) for low, high in bounds]


def test_entropy_digits_tell_near_uniform_levels_apart():
    spread = _levels_with_bounds((0.42, 0.71), (0.72, 0.88), (0.89, 0.97))
    assert page_model.entropy_digits(spread) == 3
    uniform = _levels_with_bounds((0.99812, 0.99931), (0.99934, 0.99968), (0.99971, 0.99996))
    assert page_model.entropy_digits(uniform) == 5  # 0.9993 and 0.9997 would repeat at 4
    same_image = _levels_with_bounds((0.5, 0.5), (0.6, 0.6))  # a level of one image
    assert page_model.entropy_digits(same_image) == 3
    assert page_model.entropy_digits(_levels_with_bounds((0.1234567, 0.1234568))) == 6


@pytest.mark.parametrize(
    ("by", "said", "unsaid"),
    [
        ("attention", "three times the median of its neighbours", "token is in the layer"),
        ("norm", "its token is in the layer's high-norm", "three times"),
        ("both", "its token is in the layer's high-norm", "--artifacts-by attention"),
    ],
)
def test_the_artifact_bullet_names_the_rule_that_found_them(tmp_path, by, said, unsaid):
    ctx = make_context(tmp_path / "report")
    params = {**ctx.params, "artifacts_by": by}
    ctx = dataclasses.replace(
        ctx, artifacts_mode="mask", params=params, token_views=by != "attention"
    )
    (written,) = pages.render_report(ctx, tmp_path / "report", ("html",), templates=Templates())
    text = " ".join(html.unescape(written.read_text(encoding="utf-8")).split())
    assert said in text and unsaid not in text
    assert ("--artifacts-by" in text) == (by != "attention")
    # the token views are explained only in reports that have them
    assert ("Token norms" in text) == ("Features" in text) == (by != "attention")
    if by == "both":
        assert "three times the median of its neighbours" in text


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_captions_show_the_digits_that_tell_near_uniform_levels_apart(tmp_path, flavour):
    ctx = make_context(tmp_path)
    bounds = [(0.998121, 0.999313), (0.999342, 0.999684), (0.999712, 0.999961), (0.99997, 1.0)]
    levels = tuple(
        dataclasses.replace(
            level,
            entropy_min=low,
            entropy_max=high,
            typical=tuple(dataclasses.replace(f, entropy=high) for f in level.typical),
            others=tuple(dataclasses.replace(f, entropy=low) for f in level.others),
        )
        for level, (low, high) in zip(ctx.levels, bounds, strict=False)
    )
    ctx = dataclasses.replace(ctx, levels=levels)
    assert ctx.entropy_digits == 5
    [page] = pages.render_report(ctx, tmp_path, [flavour])
    text = html.unescape(" ".join(page.read_text().split()))
    for level in levels:
        for figure in level.figures:
            assert f"entropy {figure.entropy:.5f}" in text, figure.name


@pytest.mark.parametrize("maps_format", [4, 5, 6])
@pytest.mark.parametrize("rollout_start_layer", [0, 1])
def test_the_min_is_described_as_its_maps_files_make_it(tmp_path, maps_format, rollout_start_layer):
    ctx = dataclasses.replace(
        make_context(tmp_path),
        relative_min=maps_format >= store.MIN_RELATIVE_FORMAT,
        min_from_rollout_start=maps_format >= store.MIN_KEPT_FORMAT,
        rollout_start_layer=rollout_start_layer,
    )
    [page] = pages.render_report(ctx, tmp_path, ["html"])
    text = " ".join(html.unescape(page.read_text()).split())
    assert "the smallest and the average attention over the" in text
    assert ("divided by its 99th percentile over the patches" in text) == (maps_format >= 5)
    left_out = "The smallest is taken over layers 2 to 12 only, the layers rollout multiplies"
    assert (left_out in text) == (maps_format >= 6 and rollout_start_layer == 1)


@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize("pooling", ["cls", "attention pool"])
@pytest.mark.parametrize(("relative_min", "rollout_auto"), [(True, True), (False, False)])
def test_the_method_sentences_are_apart_in_every_variant(
    tmp_path, flavour, pooling, relative_min, rollout_auto
):
    """Every conditional sentence of "How the maps are made" starts apart from the one before
    (template tags that swallow the space had given "background.In each layer")."""
    ctx = make_context(tmp_path)
    ctx = dataclasses.replace(
        ctx,
        model=dataclasses.replace(ctx.model, pooling=pooling),
        artifacts_mode="mask",
        relative_min=relative_min,
        rollout_auto=rollout_auto,
        rollout_start_layer=1 if rollout_auto else 0,
    )
    [page] = pages.render_report(ctx, tmp_path, [flavour])
    text = " ".join(html.unescape(page.read_text()).split())
    section = text.split("How the maps are made", 1)[1]
    assert "Artifact tokens." in section and "Attention rollout" in section
    assert ("It starts after layer 1" in section) == rollout_auto
    assert ("For the smallest" in section) == relative_min
    assert not re.findall(r"[a-z)]\.[A-Z]\w*", section)


@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize("artifact_images", [0, 3])
def test_the_token_norms_bullet_says_how_many_images_have_artifacts(
    tmp_path, flavour, artifact_images
):
    ctx = dataclasses.replace(
        make_context(tmp_path), token_views=True, artifact_images=artifact_images
    )
    [page] = pages.render_report(ctx, tmp_path, [flavour])
    text = " ".join(html.unescape(page.read_text()).split())
    said = {
        0: "Here every image scores 0, so no chart of the scores is drawn.",
        3: "Here 3 of the 12 images score above 0; their scores are charted below",
    }
    assert said[artifact_images] in text
    assert said[3 - artifact_images] not in text
