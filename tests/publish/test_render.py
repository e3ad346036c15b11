"""Pixels: colormap lookup, bilinear upsampling, overlays, composed figures and encoding."""

import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays
from PIL import Image

from reportgen.errors import ReportgenError
from reportgen.publish import render

RNG = np.random.default_rng(0)
IMAGE = RNG.integers(0, 256, (48, 64, 3), dtype=np.uint8)
LAYER_LABELS = [f"L{index}" for index in range(1, 13)]
AGGREGATES = ["max", "min", "mean", "rollout"]


def hot_patch(shape=(4, 4), at=(1, 2)) -> np.ndarray:
    grid = np.zeros(shape)
    grid[at] = 1.0
    return grid


def labelled_maps(labels) -> list[render.Panel]:
    return [render.Panel(label, RNG.random((4, 4))) for label in labels]


def test_colormap_lut_shape_and_ends():
    lut = render.colormap_lut("jet")
    assert lut.shape == (256, 3) and lut.dtype == np.uint8
    low, high = lut[0].astype(int), lut[-1].astype(int)
    assert low[2] > 100 and low[2] > low[0] + 50  # dark blue
    assert high[0] > 100 and high[0] > high[2] + 50  # dark red
    assert render.colormap_lut("jet") is lut  # cached


def test_unknown_colormap_names_valid_ones():
    with pytest.raises(ReportgenError, match="viridis"):
        render.colormap_lut("no-such-map")


def test_upsample_constant_stays_constant():
    result = render.upsample_bilinear(np.full((3, 5), 0.25), (30, 50))
    assert result.dtype == np.float32
    np.testing.assert_allclose(result, 0.25, rtol=1e-6)


def test_upsample_hot_patch_peaks_inside_its_pixels():
    result = render.upsample_bilinear(hot_patch(), (64, 64))
    row, column = np.unravel_index(np.argmax(result), result.shape)
    assert 16 <= row < 32 and 32 <= column < 48  # patch (1, 2) covers rows 16-31, cols 32-47
    assert result[:, :16].max() < 1e-6  # two patches away: untouched


def test_upsample_non_square_shape():
    assert render.upsample_bilinear(RNG.random((2, 3)), (20, 30)).shape == (20, 30)


@settings(max_examples=50, deadline=None)
@given(
    arrays(np.float64, array_shapes(min_dims=2, max_dims=2, max_side=6), elements=st.floats(0, 1))
)
def test_upsample_stays_within_input_range(grid):
    result = render.upsample_bilinear(grid, (17, 23))
    assert result.min() >= np.float32(grid.min()) - 1e-6
    assert result.max() <= np.float32(grid.max()) + 1e-6


@settings(max_examples=100, deadline=None)
@given(arrays(np.float64, (4, 5), elements=st.floats(-1e6, 1e6)))
def test_normalise_for_display_in_unit_interval(values):
    result = render.normalise_for_display(values)
    assert np.isfinite(result).all()
    assert result.min() >= 0.0 and result.max() <= 1.0
    if values.max() > values.min():
        assert result.min() == 0.0 and result.max() == pytest.approx(1.0)


def test_normalise_constant_map_is_zeros():
    np.testing.assert_array_equal(render.normalise_for_display(np.full((3, 3), 7.0)), 0.0)


def test_overlay_alpha_zero_is_the_image():
    result = render.overlay(IMAGE, RNG.random((3, 4)), alpha=0.0)
    assert result.dtype == np.uint8 and result.shape == IMAGE.shape
    np.testing.assert_array_equal(result, IMAGE)


def test_overlay_alpha_one_is_colormap_colours():
    result = render.overlay(IMAGE, RNG.random((3, 4)), cmap="viridis", alpha=1.0)
    lut = {tuple(colour) for colour in render.colormap_lut("viridis")}
    assert {tuple(pixel) for pixel in result.reshape(-1, 3)} <= lut


def test_overlay_hot_patch_is_redder_with_jet():
    grey = np.full((64, 64, 3), 128, dtype=np.uint8)
    result = render.overlay(grey, hot_patch(), "jet", 0.5).astype(int)
    redness = result[..., 0] - result[..., 2]
    assert redness[20:28, 36:44].mean() > 40  # inside the hot patch
    assert redness[48:, :16].mean() < -40  # a cold corner: blue


def test_overlay_rejects_alpha_outside_unit_interval():
    with pytest.raises(ReportgenError, match="alpha"):
        render.overlay(IMAGE, RNG.random((3, 4)), alpha=1.5)


def encoded(image: Image.Image) -> bytes:
    return render.encode_image(image, "png")


def test_compose_figure_default_layout():
    """12 layers + 4 aggregates: a row of input + aggregates, then 2 rows of 6 layers."""
    figure = render.compose_figure(IMAGE, labelled_maps(LAYER_LABELS + AGGREGATES), panel_size=80)
    panel_w, panel_h = 80, 60  # 64x48 image, longer side 80
    gap, strip = render.GAP, render.LABEL_HEIGHT
    assert figure.size == (6 * panel_w + 7 * gap, 3 * (panel_h + strip) + 4 * gap)
    pixels = np.asarray(figure)
    first_row = pixels[gap + strip : gap + strip + panel_h]
    sixth_column = slice(gap + 5 * (panel_w + gap), gap + 5 * (panel_w + gap) + panel_w)
    assert (first_row[:, sixth_column] == 255).all()  # 5 tiles on the first row, 6th empty
    input_tile = first_row[:, gap : gap + panel_w]
    expected = Image.fromarray(IMAGE).resize((panel_w, panel_h), Image.Resampling.BILINEAR)
    np.testing.assert_array_equal(input_tile, np.asarray(expected))


def test_compose_figure_columns_override():
    figure = render.compose_figure(
        IMAGE, labelled_maps(LAYER_LABELS[:4] + AGGREGATES), panel_size=40, columns=3
    )
    # input + 4 aggregates -> 2 rows of 3; 4 layers -> 2 rows of 3
    assert figure.size == (3 * 40 + 4 * render.GAP, 4 * (30 + render.LABEL_HEIGHT) + 5 * render.GAP)


def test_compose_figure_draws_the_token_norms_in_one_row_of_half_size_panels():
    """12 norms: one row, two panels in the width of one, each the norm map over the image."""
    norm_labels = [f"N{index}" for index in range(1, 13)]
    panels = labelled_maps(LAYER_LABELS + AGGREGATES + norm_labels)
    figure = render.compose_figure(IMAGE, panels, panel_size=80)
    gap, strip = render.GAP, render.LABEL_HEIGHT
    small_w, small_h = 38, 28  # longer side (80 - gap) / 2, 64x48 image
    assert figure.size == (6 * 80 + 7 * gap, 3 * (60 + strip) + (small_h + strip) + 5 * gap)
    top = 4 * gap + 3 * (60 + strip) + strip
    base = Image.fromarray(IMAGE).resize((small_w, small_h), Image.Resampling.BILINEAR)
    for column in (0, 11):
        left = gap + column * (small_w + gap)
        tile = np.asarray(figure)[top : top + small_h, left : left + small_w]
        expected = render.overlay(np.asarray(base), panels[-12 + column].values, "jet", 0.5)
        np.testing.assert_array_equal(tile, expected)


def test_compose_figure_draws_labels():
    figure = np.asarray(render.compose_figure(IMAGE, labelled_maps(["L1"]), panel_size=80))
    gap, strip = render.GAP, render.LABEL_HEIGHT
    label_strip = figure[gap : gap + strip, gap : gap + 80]
    assert (label_strip < 128).any()  # dark text on the white strip


def test_compose_figure_is_deterministic():
    maps = labelled_maps(LAYER_LABELS + AGGREGATES)
    first = encoded(render.compose_figure(IMAGE, maps))
    assert first == encoded(render.compose_figure(IMAGE, maps))


@pytest.mark.parametrize("fmt", sorted(render.FORMAT_EXTENSIONS))
def test_encode_image_roundtrip_deterministic_no_exif(fmt):
    image = Image.fromarray(IMAGE)
    exif = Image.Exif()
    exif[0x0131] = "some camera software"
    image.info["exif"] = exif.tobytes()
    data = render.encode_image(image, fmt)
    assert data == render.encode_image(image, fmt)
    decoded = Image.open(io.BytesIO(data))
    assert decoded.format == {"webp": "WEBP", "jpeg": "JPEG", "png": "PNG"}[fmt]
    assert decoded.size == image.size
    assert not decoded.getexif() and "exif" not in decoded.info
    assert b"some camera software" not in data


def test_encode_image_takes_non_rgb_modes():
    rgba = Image.fromarray(IMAGE).convert("RGBA")
    assert Image.open(io.BytesIO(render.encode_image(rgba, "jpeg"))).mode == "RGB"


def test_encode_image_unknown_format():
    with pytest.raises(ReportgenError, match="webp"):
        render.encode_image(Image.fromarray(IMAGE), "gif")


def test_thumbnail_keeps_aspect_and_never_enlarges():
    assert render.thumbnail(IMAGE, max_side=32).size == (32, 24)
    assert render.thumbnail(IMAGE, max_side=320).size == (64, 48)


def test_value_range_sets_the_colour_scale():
    flat = np.full((4, 4), 0.5)
    flat[0, 0] = 0.6
    own = render.overlay(IMAGE, flat, "jet", 1.0)
    shared = render.overlay(IMAGE, flat, "jet", 1.0, value_range=(0.0, 1.0))
    lut = render.colormap_lut("jet")
    assert (own[-1, -1] == lut[0]).all()  # its own minimum: the bottom of the colormap
    mid = shared[-1, -1].astype(int)
    assert np.abs(mid - lut[128].astype(int)).max() <= 3  # half of the shared range


def test_colorbar_adds_a_strip_with_the_colormap():
    panels = labelled_maps(["max", "L1"])
    plain = render.compose_figure(IMAGE, panels, panel_size=80)
    colorbar = render.Colorbar("min", "max", "each panel from its own minimum to its maximum")
    with_bar = render.compose_figure(IMAGE, panels, panel_size=80, colorbar=colorbar)
    assert with_bar.width >= plain.width  # widened when the bar's line needs it
    assert with_bar.height == plain.height + render.COLORBAR_HEIGHT + render.GAP
    strip = np.asarray(with_bar)[-render.GAP - render.COLORBAR_HEIGHT // 2]
    lut = render.colormap_lut("jet")
    row = [tuple(pixel) for pixel in strip]
    assert tuple(lut[0]) in row and tuple(lut[-1]) in row


def test_outline_cells_frames_masked_cells_faintly():
    pixels = np.zeros((8, 8, 3), np.uint8)
    mask = np.zeros((2, 2), bool)
    mask[0, 1] = True
    framed = render.outline_cells(pixels, mask)
    assert framed[0, 4:8].min() > 0 and framed[0:4, 7].min() > 0  # the frame of cell (0, 1)
    assert framed[1:3, 5:7].max() == 0  # its inside is untouched
    assert framed[4:, :].max() == 0 and framed[:, :4].max() == 0  # other cells too
    assert framed.max() < 255  # faint, not opaque


def _record(relevance_target=None):
    from reportgen.methods import panels as named
    from reportgen.record import ImageRecord

    layers = RNG.random((3, 4, 4))
    layers[1] *= 5  # one peaked layer
    stored = {named.LAYERS: layers, named.ROLLOUT: RNG.random((4, 4))}
    if relevance_target:
        stored[named.RELEVANCE] = RNG.random((4, 4))
    stored = named.complete(stored)
    mask = np.zeros((3, 4, 4), bool)
    mask[0, 1, 1] = True
    return ImageRecord(
        name="x.png",
        sha256="0" * 64,
        size_bytes=1,
        original_size=(16, 16),
        geometry={},
        seen_image=IMAGE,
        cls_heads=layers[:, None].astype(np.float32),
        maps=stored,
        artifact_mask=mask,
        relevance_target=relevance_target,
    )


def test_shared_normalisation_puts_layers_and_aggregates_on_one_scale():
    from reportgen.publish import figures

    record = _record("a very long class name, with synonyms")
    shared = figures.panels(record, "shared")
    labels = [panel.label for panel in shared]
    assert labels == ["L1", "L2", "L3", "max", "min", "mean", "rollout", "relevance: a very long…"]
    scale = (record.maps["layers"].min(), record.maps["layers"].max())
    assert all(shared[i].value_range == scale for i in (0, 1, 2, 3, 5))  # layers, max, mean
    # other units: min (each layer relative to its peak), rollout, relevance
    assert shared[4].value_range is shared[6].value_range is shared[7].value_range is None
    assert shared[0].outline[1, 1] and shared[1].outline is not None and not shared[1].outline.any()
    assert all(panel.value_range is None for panel in figures.panels(record, "panel"))
    assert figures.colorbar(record, "shared").low == f"{scale[0]:.3g}"
    assert "own minimum" in figures.colorbar(record, "panel").caption


def test_sprite_is_every_layer_then_max_min_mean_rollout_in_a_row():
    from reportgen.publish import figures

    record = _record(relevance_target="cat")
    style = figures.FigureStyle(image_format="png")
    strip = np.asarray(Image.open(io.BytesIO(figures.sprite(record, style).data)))
    labels = figures.sprite_labels(3)
    assert labels == ["L1", "L2", "L3", "max", "min", "mean", "rollout"]
    side = figures.sprite_panel_side(len(labels), IMAGE.shape[:2])
    assert side == max(IMAGE.shape[:2])  # a small image's panels are never enlarged
    assert strip.shape[:2] == (side * IMAGE.shape[0] // max(IMAGE.shape[:2]), side * len(labels))
    panel_w = strip.shape[1] // len(labels)
    base = np.asarray(Image.fromarray(IMAGE).resize((panel_w, strip.shape[0]), Image.BILINEAR))
    rollout = render.overlay(base, record.maps["rollout"], style.colormap, style.alpha)
    assert np.array_equal(strip[:, -panel_w:], rollout)


def test_a_sprite_ends_with_the_last_layer_norms_and_the_features_where_the_record_has_them():
    from dataclasses import replace

    from reportgen.publish import figures

    plain = _record()
    norms = RNG.random((3, 4, 4)) * 10
    features = RNG.random((3, 4, 4))
    record = replace(plain, maps={**plain.maps, "norms": norms, "features": features})
    style = figures.FigureStyle(image_format="png")
    labels = figures.sprite_labels(3, token_views=True)
    assert labels == ["L1", "L2", "L3", "max", "min", "mean", "rollout", "N3", "features"]
    assert figures.sprite_labels(3) == labels[:-2]  # a report without the token views
    strip = np.asarray(Image.open(io.BytesIO(figures.sprite(record, style).data)))
    side = figures.sprite_panel_side(len(labels), IMAGE.shape[:2])
    panel_w = strip.shape[1] // len(labels)
    assert strip.shape[1] == side * len(labels)
    base = np.asarray(Image.fromarray(IMAGE).resize((panel_w, strip.shape[0]), Image.BILINEAR))
    last_norms = render.overlay(base, norms[-1], style.colormap, style.alpha)
    assert np.array_equal(strip[:, -2 * panel_w : -panel_w], last_norms)
    colours = render.colour_pixels(features, (strip.shape[0], panel_w))
    assert np.array_equal(strip[:, -panel_w:], colours)
    plain_strip = Image.open(io.BytesIO(figures.sprite(plain, style).data))
    assert plain_strip.width == figures.sprite_panel_side(7, IMAGE.shape[:2]) * 7


def test_a_sprite_shows_the_norms_of_the_layer_the_artifact_score_reads():
    from dataclasses import replace

    from reportgen.publish import figures

    plain = _record()
    norms = RNG.random((3, 4, 4)) * 10
    record = replace(plain, maps={**plain.maps, "norms": norms, "features": RNG.random((3, 4, 4))})
    style = figures.FigureStyle(image_format="png")
    labels = figures.sprite_labels(3, token_views=True, norm_layer=2)
    assert labels[-2:] == ["N2", "features"]  # --norm-layer 2
    strip = np.asarray(Image.open(io.BytesIO(figures.sprite(record, style, norm_layer=2).data)))
    panel_w = strip.shape[1] // len(labels)
    base = np.asarray(Image.fromarray(IMAGE).resize((panel_w, strip.shape[0]), Image.BILINEAR))
    second = render.overlay(base, norms[1], style.colormap, style.alpha)
    assert np.array_equal(strip[:, -2 * panel_w : -panel_w], second)


def test_sprites_of_deeper_models_get_smaller_panels_within_the_pixel_budget():
    from reportgen.publish import figures

    large = (224, 224)
    depths = (2, 12, 24, 32)
    sides = [figures.sprite_panel_side(layers + 4, large) for layers in depths]
    assert sides == sorted(set(sides), reverse=True)  # deeper: strictly smaller panels
    for layers, side in zip(depths, sides, strict=True):
        assert (layers + 4) * side * side <= figures.SPRITE_PIXELS
    assert figures.sprite_panel_side(16, large) == 48  # a 12-layer model: 48 pixels a panel
    assert figures.sprite_panel_side(1, large) == figures.SPRITE_PANEL


@settings(max_examples=30, deadline=None)
@given(
    st.integers(1, 600),
    st.integers(1, 600),
    st.sampled_from(
        [
            {"format": "WEBP", "quality": 80, "method": 0},
            {"format": "WEBP", "lossless": True},
            {"format": "PNG"},
        ]
    ),
    st.sampled_from(["RGB", "RGBA"]),
)
def test_encoded_size_reads_what_pillow_reads(width, height, encoding, mode):
    """Lossy, lossless and extended (alpha) WebP and PNG, from the first 30 bytes alone."""
    image = Image.new(mode, (width, height), (200, 30, 30, 128)[: len(mode)])
    buffer = io.BytesIO()
    image.save(buffer, **encoding)
    assert render.encoded_size(buffer.getvalue()[:30]) == (width, height)


def test_encoded_size_leaves_other_formats_to_pillow():
    buffer = io.BytesIO()
    Image.new("RGB", (20, 10)).save(buffer, "JPEG")
    assert render.encoded_size(buffer.getvalue()[:30]) is None
    assert render.encoded_size(b"RIFF") is None
