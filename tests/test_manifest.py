"""The typed manifest reads every manifest written so far and writes it back byte for byte."""

import json

import pytest
from conftest import FIXTURE, write_images
from publish.rendered_pages import _model

from reportgen import api, digests, store
from reportgen.errors import ReportgenError
from reportgen.manifest import (
    MANIFEST_FILE,
    AnalysisManifest,
    Artifacts,
    InputImage,
    Inputs,
    Program,
    ReportManifest,
    Rollout,
    Spread,
    VersionLink,
)
from reportgen.publish import comparison_site, index, verify
from reportgen.record import SkippedFile

MODEL = _model(num_classes=None)  # a ModelSummary with markup in its id


def analysis_manifest(**changes):
    fields = {
        "program": Program("0.3.0", None),
        "created_utc": "2024-05-24T00:00:00Z",
        "time_source": "--date",
        "libraries": {"python": "3.11.7", "numpy": "2.4.6"},
        "model": MODEL,
        "model_choice": "built-in",
        "parameters": {"levels": 4, "spread_by": "mean"},
        "spread": Spread("mean", "the mean over layers", 4, 3),
        "inputs": Inputs(
            {"folder": "cats"},
            (InputImage("a.png", "1" * 64, 12),),
            (SkippedFile("b.txt", "not an image"),),
        ),
        "rollout": Rollout("mean", 0.0, 1, "auto: ...", (0.5, 0.25)),
        "artifacts": Artifacts("mask", "a rule", (3, 0)),
    }
    return AnalysisManifest(**{**fields, **changes})


def test_an_analysis_manifest_round_trips(tmp_path):
    manifest = analysis_manifest()
    manifest.write(tmp_path / MANIFEST_FILE)
    assert AnalysisManifest.read(tmp_path / MANIFEST_FILE) == manifest
    data = json.loads((tmp_path / MANIFEST_FILE).read_text())
    assert data["reportgen"] == {"version": "0.3.0", "commit": None}
    assert data["versions"] == {"python": "3.11.7", "numpy": "2.4.6"}  # libraries
    assert data["rollout"]["artifact_profile"] == [0.5, 0.25]


def test_optional_sections_are_left_out_not_written_as_null():
    data = analysis_manifest(rollout=Rollout("mean", 0.0, 0, "option"), artifacts=None).to_json()
    assert "artifacts" not in data and "artifact_profile" not in data["rollout"]


def test_a_report_manifest_round_trips(tmp_path):
    manifest = ReportManifest(
        analysis=analysis_manifest(),
        report={"title": "Cats", "date": "2024-05-24"},
        files={"index.html": "2" * 64},
        version=3,
        history=(VersionLink(2, "versions/2"), VersionLink(1, "versions/1")),
        fingerprint="f" * 64,
    )
    manifest.write(tmp_path)
    written = (tmp_path / MANIFEST_FILE).read_text()
    assert ReportManifest.read(tmp_path) == manifest
    assert written == store.canonical_json(manifest.to_json())
    assert json.loads(written)["history"][0] == {"version": 2, "folder": "versions/2"}


def test_the_0_1_0_manifests_are_read_with_what_later_versions_added_defaulted():
    report = ReportManifest.read(FIXTURE)
    assert (report.version, report.archived, report.history, report.fingerprint) == (
        1,
        False,
        (),
        None,
    )
    assert report.analysis.rollout is None and report.analysis.artifacts is None
    assert report.analysis.program.version == "0.1.0"
    assert [image.name for image in report.analysis.inputs.images][:2] == ["img00.png", "img02.png"]
    assert report.files["README.md"] == digests.sha256_of(FIXTURE / "README.md")
    stored = json.loads((FIXTURE / "data" / MANIFEST_FILE).read_text())
    written_back = store.canonical_json(AnalysisManifest.from_json(stored).to_json())
    assert written_back == store.canonical_json(stored)


def test_a_damaged_input_is_read_as_missing_for_verify_to_report():
    data = analysis_manifest().to_json()
    del data["inputs"]["images"][0]["sha256"]
    assert AnalysisManifest.from_json(data).inputs.images[0].sha256 is None


def test_a_manifest_without_its_required_sections_is_not_read():
    data = analysis_manifest().to_json()
    del data["model"]
    with pytest.raises(KeyError):
        AnalysisManifest.from_json(data)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{}", 'its manifest.json is not a reportgen manifest: no "reportgen" field'),
        ("[]", "its manifest.json is not a reportgen manifest: not a JSON object"),
        (
            '{"reportgen": 3, "comparison": 3}',
            "its manifest.json is not a reportgen manifest: a field holds the wrong kind of value",
        ),
        ("nope", "its manifest.json is not JSON (Expecting value, line 1 column 1)"),
        ("\xff", "its manifest.json is not JSON (not UTF-8 text)"),
        (None, "it has no manifest.json"),
    ],
)
def test_a_folder_whose_manifest_is_not_one_is_said_so_in_words(tmp_path, text, reason):
    """Not a KeyError's bare key ('reportgen') or a TypeError's 'list indices must be ...'."""
    if text is not None:
        (tmp_path / MANIFEST_FILE).write_bytes(text.encode("latin-1"))
    with pytest.raises(ReportgenError) as report:
        index.read_manifest(tmp_path)
    assert str(report.value) == f"{tmp_path} is not a reportgen report: {reason}"
    with pytest.raises(ReportgenError) as comparison:
        comparison_site.read_manifest(tmp_path)
    in_words = reason.replace("manifest:", "comparison manifest:")
    in_words = in_words.replace('"reportgen"', '"comparison"')
    assert str(comparison.value) == f"{tmp_path} is not a reportgen comparison: {in_words}"
    if text is not None:  # verify asks for a manifest.json before reading it
        assert verify.verify(tmp_path).problems[0].message == f"{reason}; not a verifiable report"


def test_the_manifests_the_current_code_writes_read_back_byte_for_byte(
    tmp_path, analysis_params, report_options, execution
):
    images = write_images(tmp_path / "images", 3)
    report = api.build(
        images, tmp_path / "site", analysis_params, report_options, execution=execution
    )
    assert AnalysisManifest.read(report / "data" / MANIFEST_FILE).inputs.source == {
        "kind": "folder",
        "folder": "images",  # what 0.1 recorded, still there
        "path": str(images),
        "recursive": False,
        "labels_from_folders": False,
        "count": 3,
    }
    for path in (report / MANIFEST_FILE, report / "data" / MANIFEST_FILE):
        text = path.read_text()
        reader = ReportManifest if path.parent == report else AnalysisManifest
        parsed = reader.from_json(json.loads(text))
        assert store.canonical_json(parsed.to_json()) == text
    assert ReportManifest.read(report).analysis == AnalysisManifest.read(
        report / "data" / MANIFEST_FILE
    )
