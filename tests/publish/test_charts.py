"""Chart files and the sizes the pages give them (no model)."""

from reportgen.publish import charts

SVG = (
    b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="432pt" height="216pt">'
)


def test_charts_are_written_with_their_size_in_pixels(tmp_path):
    written = charts.write_charts(tmp_path, {"entropy-histogram.svg": SVG})
    assert (tmp_path / "charts/entropy-histogram.svg").read_bytes() == SVG
    [chart] = written
    assert (chart.file, chart.width, chart.height) == ("charts/entropy-histogram.svg", 576, 288)
    assert chart.title == "Spread entropy of all images"


def test_a_chart_without_a_size_gets_a_default_one(tmp_path):
    [chart] = charts.write_charts(tmp_path, {"entropy-by-layer.svg": b"<svg>"})
    assert (chart.width, chart.height) == (640, 480)


def test_charts_come_from_the_cache_when_the_same_entropies_were_charted(tmp_path, monkeypatch):
    from reportgen import store

    cache = store.ContentCache(tmp_path / "cache")
    data = ([0.5, 1.0, 1.5], [[0.4, 0.6], [0.9, 1.1], [1.4, 1.6]], [1, 2, 3])
    first = charts._chart_files(*data, cache)
    assert set(first) == set(charts.CHART_NAMES)

    def no_drawing(*args):
        raise AssertionError("drawn again")

    monkeypatch.setattr(charts.figures, "charts", no_drawing)
    assert charts._chart_files(*data, cache) == first
