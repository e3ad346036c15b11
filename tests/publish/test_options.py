"""The report's options: metadata and gallery settings, as the manifest records them."""

import json

import pytest
from conftest import FIXTURE

from reportgen.errors import ReportgenError
from reportgen.publish.options import GallerySettings, ReportOptions, parse_date


def test_gallery_settings_decide_galleries_and_the_figures_shown_per_level():
    settings = GallerySettings(gallery_threshold=10, typical=2)
    assert not settings.with_galleries(10) and settings.with_galleries(11)
    assert (settings.typical_shown(10), settings.typical_shown(11)) == (1, 2)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (GallerySettings(gallery_threshold=-1), "--gallery-threshold must be 0 or more"),
        (GallerySettings(typical=0), "--typical must be at least 1"),
        (GallerySettings(page_size=0), "--page-size must be at least 1"),
    ],
)
def test_gallery_settings_are_checked_with_the_report(settings, message):
    with pytest.raises(ReportgenError, match=message):
        ReportOptions(gallery=settings).validated()


def test_the_manifest_records_one_flat_object_and_reads_it_back():
    options = ReportOptions(
        title="Cats",
        slug="cats",
        date=parse_date("2024-05-24"),
        gallery=GallerySettings(gallery_threshold=4, typical=2, page_size=9),
    )
    data = json.loads(json.dumps(options.to_json()))
    assert "gallery" not in data
    assert (data["gallery_threshold"], data["typical"], data["page_size"]) == (4, 2, 9)
    assert ReportOptions.from_json(data).validated() == options.validated()


def test_the_explorer_reads_the_maps_files_unless_distill_needs_data_scripts():
    assert ReportOptions().validated().explorer_data == "maps"
    assert ReportOptions(formats=("html", "distill")).validated().explorer_data == "scripts"
    asked = ReportOptions(formats=("html",), explorer_data="scripts")
    assert asked.validated().explorer_data == "scripts"
    recorded = ReportOptions().validated().to_json()
    assert ReportOptions.from_json(recorded).explorer_data == "maps"


def test_a_0_1_0_report_reads_with_the_default_gallery_settings():
    recorded = json.loads((FIXTURE / "manifest.json").read_text())["report"]
    options = ReportOptions.from_json(recorded)
    assert options.gallery == GallerySettings() and options.slug == "v0-1-0"
    assert options.explorer_data == "scripts"  # as it was built, before the option


def test_changed_routes_gallery_settings_by_their_names():
    options = ReportOptions(title="Cats").changed(page_size=5, title="Dogs")
    assert options.title == "Dogs" and options.gallery == GallerySettings(page_size=5)
