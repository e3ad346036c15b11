"""The report's charts: valid, deterministic SVG and PNG, including degenerate inputs."""

import io
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from PIL import Image

from reportgen.errors import ReportgenError
from reportgen.publish import plots

COLOURS = ["#FFFEE2", "#FFFDCB", "#FFFBA0", "#FFDEDE"]
RNG = np.random.default_rng(0)
ENTROPIES = RNG.random(20)
BOUNDARIES = list(np.quantile(ENTROPIES, [0.25, 0.5, 0.75]))
LAYER_ENTROPIES = RNG.random((20, 12))
LEVELS = np.arange(20) % 4 + 1
FRACTIONS = np.linspace(0, 1, 17)
CURVES = {
    name: ((1 - FRACTIONS) ** power, 1 - (1 - FRACTIONS) ** power)
    for name, power in [("max", 2), ("min", 1.2), ("mean", 3), ("rollout", 1.5), ("random", 1)]
}
MANY_CURVES = {f"layer {k}": CURVES["mean"] for k in range(1, 13)} | CURVES

CASES = {
    "histogram": lambda fmt: plots.entropy_histogram(ENTROPIES, BOUNDARIES, COLOURS, fmt),
    "histogram, one image": lambda fmt: plots.entropy_histogram([0.4], [], COLOURS[:1], fmt),
    "histogram, equal entropies": lambda fmt: plots.entropy_histogram(
        [0.5] * 8, [0.5, 0.5, 0.5], COLOURS, fmt
    ),
    "by layer": lambda fmt: plots.layer_entropy_plot(LAYER_ENTROPIES, LEVELS, fmt),
    "by layer, one image": lambda fmt: plots.layer_entropy_plot(LAYER_ENTROPIES[:1], [1], fmt),
    "by layer, equal entropies": lambda fmt: plots.layer_entropy_plot(
        np.full((4, 12), 0.5), [1, 2, 3, 4], fmt
    ),
    "faithfulness": lambda fmt: plots.faithfulness_curves(CURVES, "target probability", fmt),
    "correlations": lambda fmt: plots.correlation_histogram([0.93, 0.97, 0.99, np.nan], fmt),
    "correlations, none": lambda fmt: plots.correlation_histogram([], fmt),
    "faithfulness, many maps": lambda fmt: plots.faithfulness_curves(
        MANY_CURVES, "CLS cosine similarity", fmt
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_svg_is_valid_and_deterministic(case):
    svg = CASES[case]("svg")
    assert svg.startswith((b"<?xml", b"<svg"))
    root = ET.fromstring(svg)
    assert root.tag.endswith("svg")
    assert b"<dc:date>" not in svg and b"<dc:creator>" not in svg  # no time, no version
    assert svg == CASES[case]("svg")


@pytest.mark.parametrize("case", CASES)
def test_png_decodes_and_is_deterministic(case):
    png = CASES[case]("png")
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.width > 300 and image.height > 200
    assert "Software" not in image.info
    assert png == CASES[case]("png")


def test_histogram_legend_names_levels():
    svg = plots.entropy_histogram(ENTROPIES, BOUNDARIES, COLOURS)
    # text is drawn as paths; matplotlib keeps each string as an XML comment beside it
    for name in ("level 1 (focused)", "level 2", "level 4 (spread)"):
        assert f"<!-- {name} -->".encode() in svg
    for colour in COLOURS:
        assert colour.lower().encode() in svg.lower()  # each band in its level colour


def test_one_level_has_no_focused_or_spread_suffix():
    svg = plots.layer_entropy_plot(LAYER_ENTROPIES[:3], [1, 1, 1])
    assert b"<!-- level 1 -->" in svg and b"(focused)" not in svg


def test_layer_entropies_that_differ_in_the_sixth_digit_are_labelled_in_full():
    """An offset ("1e-6+9.9996e-1") would be drawn above the axes, under the level legend."""
    close = 0.99996 + np.array([[1e-6, 2e-6], [3e-6, 4e-6], [5e-6, 7e-6]])
    texts = re.findall(rb"<!-- (.*?) -->", plots.layer_entropy_plot(close, [1, 2, 3]))
    assert not [text for text in texts if b"e\xe2\x88\x92" in text]  # no "1e-6", no offset
    assert any(text.startswith(b"0.99996") for text in texts)


def test_line_colours_distinct_and_dark_enough():
    colours = plots.line_colours(4)
    assert len(set(colours)) == 4
    assert all(sum(colour) / 3 < 0.85 for colour in colours)  # visible on white


def test_charts_ignore_the_users_rc_params():
    import matplotlib

    plain = plots.entropy_histogram(ENTROPIES, BOUNDARIES, COLOURS)
    with matplotlib.rc_context({"lines.linewidth": 7, "axes.facecolor": "black"}):
        assert plots.entropy_histogram(ENTROPIES, BOUNDARIES, COLOURS) == plain


def test_faithfulness_curves_name_every_map_and_dash_random_in_grey():
    svg = plots.faithfulness_curves(CURVES, "target probability")
    for text in (*CURVES, "target probability", "fraction of patches removed"):
        assert f"<!-- {text} -->".encode() in svg
    assert b"fraction of patches inserted" in svg
    root = ET.fromstring(svg)
    styles = [
        element.get("style", "") for element in root.iter() if "stroke:" in element.get("style", "")
    ]
    random_lines = [style for style in styles if "#888888" in style]
    assert len(random_lines) == 3  # one per panel and the legend's sample
    assert all("stroke-dasharray" in style for style in random_lines)


def test_faithfulness_colours_are_distinct_and_never_random_grey():
    for n in (1, 9, 17, 30):
        colours = plots._series_colours(n)
        assert len(set(colours)) == n
        assert all(len(set(colour)) > 1 for colour in colours)  # no grey among them


@pytest.mark.parametrize(
    "call",
    [
        lambda: plots.faithfulness_curves({}, "x"),
        lambda: plots.faithfulness_curves({"a": ([1.0, 0.5], [0.0, 0.5, 1.0])}, "x"),
        lambda: plots.faithfulness_curves({"a": ([1.0], [0.0])}, "x"),
        lambda: plots.entropy_histogram([], [], COLOURS),
        lambda: plots.entropy_histogram(ENTROPIES, BOUNDARIES, COLOURS, "gif"),
        lambda: plots.layer_entropy_plot(LAYER_ENTROPIES, LEVELS[:3]),
        lambda: plots.layer_entropy_plot(LAYER_ENTROPIES[:2], [0, 1]),
    ],
)
def test_bad_input_is_a_message(call):
    with pytest.raises(ReportgenError):
        call()


@pytest.mark.parametrize(
    ("correlations", "axis"),
    [
        ([0.93, 0.97, 0.99], (0.9, 1.0)),  # close agreement: zoomed in, 0.005 a bin
        ([0.91, 1.0], (0.8, 1.0)),  # a margin below the lowest
        ([-0.35, 0.5], (-0.4, 1.0)),
        ([-1.0, 1.0], (-1.0, 1.0)),
        ([], (-1.0, 1.0)),
    ],
)
def test_the_correlation_axis_spreads_close_agreement_over_the_bins(correlations, axis):
    low, high = plots.correlation_range(np.asarray(correlations, dtype=np.float64))
    assert (low, high) == pytest.approx(axis)
    assert all(low <= value <= high for value in correlations)
