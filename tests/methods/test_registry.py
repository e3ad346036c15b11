"""The map-method registry: its methods and their order, each method's compute against the
functions it wraps, what it gives the maps file, figures, spread and cache keys, and a plugin
method found through an entry point."""

from __future__ import annotations

import ast
import io
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from conftest import declare_entry_points
from PIL import Image

from reportgen import plugins, store
from reportgen.errors import ReportgenError
from reportgen.methods import aggregates, maps, panels, registry, spread
from reportgen.methods.aggregates import Min
from reportgen.methods.base import MapInputs
from reportgen.methods.maps import RolloutOptions
from reportgen.methods.relevance import relevance_map
from reportgen.publish import figures
from reportgen.record import ImageRecord

GRID = (2, 3)
N_PREFIX = 2
GRIDS = ["max", "min", "mean", "rollout", "relevance", "probe"]
BUILT_IN = ["layers", *GRIDS, "norms", "features"]
PLUGIN = '''
import numpy as np

from reportgen.methods.base import CLS_ROWS, MapMethod


class Peak(MapMethod):
    """A plugin's method: the last layer's strongest head, one-hot at its peak patch."""

    name = "peak"
    description = "the peak patch of the last layer"
    inputs = (CLS_ROWS,)
    bullet = "{% call m.item() %}{{ m.strong('Peak') }} marks one patch.{% endcall %}\\n"

    def compute(self, inputs, maps):
        last = np.asarray(inputs.cls_heads[-1], dtype=np.float64).max(axis=0)
        return (last == last.max()).astype(np.float64)
'''


@pytest.fixture
def installed(monkeypatch, tmp_path):
    """Install entry points of ``reportgen.methods`` ((name, "module:attr") pairs) for the
    registry's next lookup; the module ``reportgen_peak`` holds the plugin above."""
    (tmp_path / "reportgen_peak.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))

    def install(*pairs):
        declare_entry_points(monkeypatch, plugins.METHODS, *pairs)
        registry.methods.cache_clear()

    install()
    yield install
    registry.methods.cache_clear()


def inputs(
    seed: int = 0, gradients: bool = True, mask: np.ndarray | None = None, hidden: bool = True
) -> MapInputs:
    """Softmax-like attention of 3 layers, 2 heads, 2 prefix tokens and a 2x3 grid; hidden
    states of 5 dimensions."""
    rng = np.random.default_rng(seed)
    tokens = N_PREFIX + GRID[0] * GRID[1]
    logits = rng.normal(0, 2, (3, 2, tokens, tokens))
    attn = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    return MapInputs(
        N_PREFIX,
        GRID,
        cls_heads=maps.cls_rows(attn, N_PREFIX, GRID).astype(np.float32),
        attention=maps.fuse_heads(attn, "max").astype(np.float32),
        gradients=rng.random((3, tokens, tokens)).astype(np.float32) if gradients else None,
        mask=mask,
        rollout=RolloutOptions("max", 0.1, 1),
        norms=rng.random((3, GRID[0] * GRID[1])).astype(np.float32) + 1 if hidden else None,
        tokens=rng.normal(0, 1, (GRID[0] * GRID[1], 5)).astype(np.float32) if hidden else None,
    )


def test_the_built_in_methods_in_panel_order(installed):
    assert list(registry.methods()) == BUILT_IN
    assert [method.name for method in registry.grid_methods()] == GRIDS
    stored = ["layers", "min", "rollout", "relevance", "probe", "norms", "features"]
    assert registry.stored_names() == stored
    assert [name for name, m in registry.methods().items() if m.scale == "own"] == [
        "min",
        "rollout",
        "relevance",
        "norms",
        "features",
    ]
    for method in registry.methods().values():
        assert method.description and "\n" not in method.description


def test_each_method_computes_what_the_functions_it_wraps_compute(installed):
    given = inputs()
    named = panels.report_maps(given)
    assert list(named) == [name for name in BUILT_IN if name != "probe"]  # a CLS model's
    np.testing.assert_array_equal(named["layers"], given.cls_heads.astype(np.float64).mean(axis=1))
    for how in ("max", "mean"):
        np.testing.assert_array_equal(named[how], maps.aggregate(named["layers"], how))
    start = given.rollout.start_layer  # min leaves out the layers rollout leaves out
    assert start == 1
    relative = maps.relative_to_peak(named["layers"][start:])
    np.testing.assert_array_equal(named["min"], maps.aggregate(relative, "min"))
    np.testing.assert_array_equal(
        named["rollout"], maps.rollout_fused(given.attention, N_PREFIX, GRID, 0.1, 1)
    )
    np.testing.assert_array_equal(
        named["relevance"], relevance_map(given.gradients, N_PREFIX, GRID)
    )
    np.testing.assert_array_equal(named["norms"], given.norms.reshape(3, *GRID))
    assert named["features"].shape == (3, *GRID)
    assert all(values.dtype == np.float64 for values in named.values())


def pooled_inputs() -> MapInputs:
    """:func:`inputs` with an attention-pooling head's probe, as a model without CLS has."""
    probe = np.random.default_rng(1).dirichlet(np.ones(N_PREFIX + GRID[0] * GRID[1]))
    return replace(inputs(), probe=probe.astype(np.float32))


def test_a_pooling_heads_probe_gives_the_probe_map_and_starts_rollout(installed):
    """A model without a CLS token: the probe map is the probe's attention to the patches,
    rollout the probe row times the rollout matrix."""
    given = pooled_inputs()
    probe = given.probe.astype(np.float64)
    named = panels.report_maps(given)
    np.testing.assert_allclose(named["probe"], probe[N_PREFIX:].reshape(GRID), rtol=1e-6)
    joint = maps.rollout_matrix(given.attention, 0.1, 1)
    expected = (probe @ joint)[N_PREFIX:].reshape(GRID)
    np.testing.assert_allclose(named["rollout"], expected, rtol=1e-9)


def test_relevance_is_computed_only_with_gradients(installed):
    assert "relevance" not in panels.report_maps(inputs(gradients=False))


def test_norms_and_features_are_computed_only_with_hidden_states(installed):
    named = panels.report_maps(inputs(hidden=False))
    assert list(named) == ["layers", "max", "min", "mean", "rollout", "relevance"]


def test_the_maps_file_recomputes_what_the_layer_maps_make(installed):
    named = panels.report_maps(pooled_inputs())
    kept = {name: named[name] for name in registry.stored_names()}
    completed = panels.complete(kept, np.float32)
    assert list(completed) == BUILT_IN
    np.testing.assert_array_equal(completed["mean"], named["mean"].astype(np.float32))
    assert completed["rollout"] is kept["rollout"]


def test_a_maps_file_before_format_5_gets_the_plain_min_alone(installed, monkeypatch):
    """Its min (not kept: files before format 6 did not keep it) is the plain minimum over the
    layer maps; neither today's nor format 5's (each layer relative to its peak) is computed."""
    named = panels.report_maps(pooled_inputs())
    kept = {name: named[name] for name in registry.stored_names() if name != "min"}
    monkeypatch.setattr(Min, "compute", lambda *args: pytest.fail("today's min was computed"))
    relative = lambda *args: pytest.fail("a relative min was computed")  # noqa: E731
    monkeypatch.setattr(aggregates, "relative_to_peak", relative)
    completed = panels.complete(kept, np.float32, relative_min=False)
    assert list(completed) == BUILT_IN
    plain = named["layers"].min(axis=0).astype(np.float32)
    np.testing.assert_array_equal(completed["min"], plain)
    assert not np.allclose(plain, named["min"])  # today's would differ


def test_spread_reads_its_choices_from_the_registry(installed):
    assert spread.spread_maps() == GRIDS
    choices = "max, min, mean, rollout, relevance, probe or layer:K (K >= 1)"
    assert spread.choices_text() == choices
    assert spread.SpreadSpec.parse("relevance").describe() == "the class-specific relevance map"
    assert (
        spread.SpreadSpec.parse("rollout").describe(2)
        == "attention rollout, starting after layer 2"
    )
    assert spread.SpreadSpec.parse("min").describe() == (
        "the min over layers of the CLS attention (heads averaged, each layer relative to its peak)"
    )
    assert spread.SpreadSpec.parse("min").describe(2) == (
        "the min over layers of the CLS attention (heads averaged, each layer relative to its "
        "peak, from layer 3 on)"
    )
    assert spread.SpreadSpec.parse("layer:2") == spread.SpreadSpec("layer", 2)
    with pytest.raises(ValueError, match="use one of max, min, mean, rollout, relevance, probe or"):
        spread.SpreadSpec.parse("peak")


def test_the_bullets_of_how_the_maps_are_made(installed):
    bullets = registry.bullets()
    assert list(bullets) == [
        "methods/layers.j2",
        "methods/max.j2",  # max, min and mean share one bullet
        "methods/rollout.j2",
        "methods/relevance.j2",
        "methods/probe.j2",
        "methods/norms.j2",
        "methods/features.j2",
    ]
    assert "Max, min and mean" in bullets["methods/max.j2"]
    assert "Attention rollout" in bullets["methods/rollout.j2"]


def record_of(named: dict[str, np.ndarray]) -> ImageRecord:
    """A record of these maps (float32, as analysed) on a black 24x16 image."""
    maps = {name: values.astype(np.float32) for name, values in named.items()}
    return ImageRecord(
        "x.png", "0" * 64, 1, (24, 16), {}, np.zeros((16, 24, 3), np.uint8), None, maps
    )


def test_a_plugin_method_is_computed_stored_drawn_and_choosable(installed):
    installed(("peak", "reportgen_peak:Peak"))
    assert list(registry.methods()) == [*BUILT_IN, "peak"]
    named = panels.report_maps(inputs(gradients=False, hidden=False))
    assert list(named) == ["layers", "max", "min", "mean", "rollout", "peak"]
    assert named["peak"].sum() == 1.0

    payload, record = store.as_stored(record_of(named))  # kept in the maps file by its name
    assert "peak.npy" in zipfile.ZipFile(io.BytesIO(payload)).namelist()
    np.testing.assert_array_equal(record.maps["peak"], named["peak"])

    assert list(figures.named_panels(record))[-2:] == ["rollout", "peak"]
    assert figures.sprite_labels(3)[-2:] == ["rollout", "peak"]
    made_before = record_of({name: values for name, values in named.items() if name != "peak"})
    with pytest.raises(ReportgenError, match="x.png has no peak map"):
        figures.sprite(made_before, figures.FigureStyle())  # every sprite shows the same maps
    assert "; min, rollout, relevance: own min-max" in figures.colorbar(record, "shared").caption
    assert "layers, max, mean, peak on one scale" in figures.colorbar(record, "shared").caption

    np.testing.assert_array_equal(
        spread.SpreadSpec.parse("peak").select(record.maps), named["peak"]
    )
    assert spread.SpreadSpec.parse("peak").describe() == "the peak map"
    assert "peak" in spread.choices_text()
    assert list(registry.bullets())[-1] == "methods/peak.j2"
    assert registry.code_modules()[-1] == "reportgen_peak"
    store.source_fingerprint.cache_clear()
    assert store.source_fingerprint("reportgen_peak")  # the plugin's code is in the cache keys


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("builtins:len", "is not a reportgen.methods.base.MapMethod"),
        ("reportgen_peak:Peak", "named 'peak', not 'other'"),
    ],
)
def test_a_plugin_that_is_no_method_is_left_out(installed, caplog, value, reason):
    installed(("other", value))
    assert list(registry.methods()) == BUILT_IN
    assert reason in caplog.text


def test_a_plugin_cannot_take_a_built_in_or_reserved_name(installed, caplog):
    installed(("rollout", "reportgen_peak:Peak"), ("artifact_mask", "reportgen_peak:Peak"))
    assert list(registry.methods()) == BUILT_IN
    assert caplog.text.count("already taken") == 2


def imported(path: Path) -> set[str]:
    """The modules a source file imports (``from a import b`` counts as ``a.b``)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_methods_import_nothing_of_ours_but_record_and_plugins():
    """The methods wing stays pure numpy: no torch, no stage with I/O (the registry finds its
    plugins through the stdlib-only ``plugins``)."""
    allowed = ("reportgen.methods.", "reportgen.record.", "reportgen.plugins")
    for path in Path(registry.__file__).parent.glob("*.py"):
        for name in imported(path):
            assert not name.startswith("torch"), f"{path.name} imports {name}"
            if name.startswith("reportgen"):
                assert name.startswith(allowed), f"{path.name} imports {name}"


def test_a_plugin_method_in_a_built_report(
    installed, tmp_path, analysis_params, execution, report_options
):
    """End to end on the tiny model: the plugin's map is computed, kept in the maps file, drawn
    as a panel, chosen by --spread-by and described in "How the maps are made"."""
    from conftest import write_images

    from reportgen import api
    from reportgen.results import Analysis

    installed(("peak", "reportgen_peak:Peak"))
    folder = write_images(tmp_path / "images", 3)
    params = replace(analysis_params, spread_by="peak")
    in_process = replace(execution, workers=0)
    report = api.build(folder, tmp_path / "site", params, report_options, in_process)
    analysis = Analysis.load(report / "data")
    record = analysis.record(analysis.images[0])
    assert list(record.maps)[-1] == "peak" and record.maps["peak"].sum() == 1.0
    assert analysis.spread_spec == spread.SpreadSpec("peak")
    assert all(image.entropy == 0.0 for image in analysis.images)  # one-hot: all on one patch
    with zipfile.ZipFile(report / "data" / "maps" / f"{analysis.images[0].id}.npz") as stored:
        assert "peak.npy" in stored.namelist()
    page = (report / "index.html").read_text()
    assert "<strong>Peak</strong> marks one patch." in page
    assert page.index("Attention rollout") < page.index("Peak</strong>") < page.index("Colours.")
    assert "use the spread of the peak map" in " ".join(page.split())
    with Image.open(next((report / "figures").iterdir())) as figure:
        width = figure.width
    installed()  # the same report without the plugin: one panel fewer
    other = api.build(
        folder, tmp_path / "other", replace(params, spread_by="mean"), report_options, in_process
    )
    with Image.open(next((other / "figures").iterdir())) as figure:
        assert figure.width < width
    with pytest.raises(ReportgenError, match="'peak'"):  # one line, no traceback
        api.rerender(report)
