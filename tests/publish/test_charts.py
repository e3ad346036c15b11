"""Chart files and the sizes the pages give them (no model)."""

from reportgen.publish import charts

SVG = (
    b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="432pt" height="216pt">'
)


def test_charts_are_written_with_their_size_in_pixels(tmp_path):
    written = charts.write_entropy_charts(tmp_path, {"entropy-histogram.svg": SVG})
    assert (tmp_path / "charts/entropy-histogram.svg").read_bytes() == SVG
    [chart] = written
    assert (chart.file, chart.width, chart.height) == ("charts/entropy-histogram.svg", 576, 288)
    assert chart.title == "Spread entropy of all images"


def test_a_chart_without_a_size_gets_a_default_one(tmp_path):
    [chart] = charts.write_entropy_charts(tmp_path, {"entropy-by-layer.svg": b"<svg>"})
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


def test_the_faithfulness_chart_does_not_depend_on_the_order_of_the_stored_scores(tmp_path):
    from types import SimpleNamespace

    from reportgen.methods.faithfulness import FaithfulnessResult, MapFaithfulness

    scores = {
        "rollout": MapFaithfulness(0.2, 0.7, [1.0, 0.3, 0.1], [0.1, 0.8, 1.0]),
        "mean": MapFaithfulness(0.3, 0.6, [1.0, 0.4, 0.2], [0.1, 0.6, 1.0]),
        "random": MapFaithfulness(0.5, 0.5, [1.0, 0.5, 0.0], [0.0, 0.5, 1.0]),
    }
    charted = []
    for order in (["rollout", "mean", "random"], ["mean", "random", "rollout"]):
        result = FaithfulnessResult("probability", 2, 4, "blur", {n: scores[n] for n in order})
        analysis = SimpleNamespace(faithfulness=result.to_json())
        parts, plot, args = charts._faithfulness(analysis)
        charted.append((parts["faithfulness"] == analysis.faithfulness, plot(*args)))
    assert charted[0] == charted[1] and charted[0][0]


def test_artifact_scores_are_charted_only_where_some_image_scores_above_zero():
    from types import SimpleNamespace

    def analysis(*scores):
        images = [SimpleNamespace(artifact_score=s, level=1 + i % 2) for i, s in enumerate(scores)]
        return SimpleNamespace(images=images)

    assert charts._artifact_scores(analysis(None, None)) is None  # made before token views
    assert charts._artifact_scores(analysis(0.0, 0.0, 0.0)) is None  # one bar at 0
    parts, plot, (scores, levels) = charts._artifact_scores(analysis(0.0, 0.25, None))
    assert (scores, levels) == ([0.0, 0.25], [1, 2])
    assert plot(scores, levels).startswith(b"<?xml")
