"""What an analysis computes (AnalysisParams) against where it runs (Execution): only the first
is recorded, and every manifest's parameters, earlier ones included, load back."""

import json
from dataclasses import fields

import pytest
from conftest import FIXTURE

from reportgen.analysis.execution import Execution
from reportgen.errors import ReportgenError
from reportgen.results import AnalysisParams

# The parameters every manifest since 0.2 records, by name: changing them changes the bytes of
# every published manifest (and the fingerprint that tells an unchanged rebuild).
RECORDED = {
    "artifacts",
    "artifacts_by",
    "batch_size",
    "discard_ratio",
    "dtype",
    "faithfulness",
    "faithfulness_images",
    "faithfulness_maps",
    "faithfulness_precision",
    "faithfulness_steps",
    "head_fusion",
    "keep_heads",
    "label_map",
    "levels",
    "model",
    "pca",
    "relevance",
    "rollout_start_layer",
    "spread_by",
    "target_class",
}


def test_the_manifest_records_every_parameter_and_nothing_of_where_it_ran():
    assert set(AnalysisParams().parameters()) == RECORDED
    assert not RECORDED & {field.name for field in fields(Execution)}


def test_parameters_round_trip_through_the_manifest():
    params = AnalysisParams(model="m", rollout_start_layer=2, relevance=True, target_class="7")
    recorded = json.loads(json.dumps(params.parameters()))
    assert AnalysisParams.from_parameters(recorded) == params


def test_a_0_1_manifest_loads_with_what_0_1_did():
    recorded = json.loads((FIXTURE / "data" / "manifest.json").read_text())["parameters"]
    params = AnalysisParams.from_parameters(recorded)
    assert (params.artifacts, params.rollout_start_layer, params.keep_heads) == ("keep", 0, True)
    assert params.model == "/tmp/fx/vit" and params.batch_size == 8


@pytest.mark.parametrize(
    "bad, message",
    [
        (dict(workers=-1), "--workers must be 0 or more"),
        (dict(ray_actors=0), "--ray-actors must be at least 1"),
    ],
)
def test_bad_execution_is_a_clear_error(bad, message):
    assert Execution().validated() == Execution()
    with pytest.raises(ReportgenError, match=message):
        Execution(**bad).validated()


@pytest.mark.parametrize(
    "bad, message",
    [
        (dict(artifacts_by="size"), "--artifacts-by must be one of attention, norm, both"),
        (dict(pca="per-class"), "--pca must be one of per-report, per-image"),
    ],
)
def test_bad_views_are_a_clear_error(bad, message):
    assert AnalysisParams(artifacts_by="both", pca="per-image").validated()
    with pytest.raises(ReportgenError, match=message):
        AnalysisParams(**bad).validated()
