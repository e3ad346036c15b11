"""reportgen verify: every kind of damage to a published report is reported, a sound one passes."""

import json
import shutil
import subprocess
import sys

import pytest
from conftest import FIXTURE, write_images

from reportgen import api, cli, digests, store, table
from reportgen.publish.options import ReportOptions, parse_date
from reportgen.publish.staging import STAGING_PREFIX
from reportgen.publish.verify import verify


@pytest.fixture(scope="module")
def published(tmp_path_factory, tiny_vit_dir):
    """A site whose report "tiny" has an earlier version; copied afresh for each test."""
    root = tmp_path_factory.mktemp("published")
    params = api.AnalysisParams(model=str(tiny_vit_dir))
    execution = api.Execution(device="cpu", cache_dir=root / "cache")
    report_options = ReportOptions(slug="tiny", date=parse_date("2024-05-24"))
    for count in (4, 5):
        images = write_images(root / f"images-{count}", count, seed=count)
        api.build(images, root / "site", params, report_options, execution)
    return root / "site"


@pytest.fixture
def out(published, tmp_path):
    shutil.copytree(published, tmp_path / "site")
    return tmp_path / "site"


def problems(path):
    return [str(problem) for problem in verify(path).problems]


def rows_of(report):
    """The rows of a report's results table, without the paths (written back by ``write_rows``)."""
    rows = table.read(report / "data/results.parquet").to_pylist()
    return [{k: v for k, v in row.items() if not k.endswith("_file")} for row in rows]


def write_rows(path, rows):
    table.write(path, rows, {row["id"]: f"figures/{row['id']}.webp" for row in rows})


def rewrite(path, rows):
    """Change a report's results and record their new sha256 in the manifest, as a forger would."""
    write_rows(path, rows)
    report = path.parent.parent
    manifest = json.loads((report / "manifest.json").read_text())
    name = path.relative_to(report).as_posix()
    manifest["files"][name] = digests.sha256_of(path)
    (report / "manifest.json").write_text(store.canonical_json(manifest))


def test_a_sound_site_and_a_report_from_0_1_0_pass(out, capsys):
    result = verify(out)
    assert result.problems == []
    assert (result.reports, result.versions, result.maps) == (1, 1, 9)
    listed = [
        json.loads((out / "reports/tiny" / folder / "manifest.json").read_text())["files"]
        for folder in ("", "versions/1")
    ]
    assert result.files == sum(map(len, listed))
    assert cli.main(["verify", str(out)]) == 0
    assert capsys.readouterr().out == (
        f"verified 1 report, 1 earlier version, {result.files} files, 9 maps files: no problems\n"
    )
    assert problems(FIXTURE) == []


def test_a_flipped_byte_in_a_figure_is_reported(out, capsys):
    figure = next((out / "reports/tiny/figures").iterdir())
    data = bytearray(figure.read_bytes())
    data[len(data) // 2] ^= 0x01
    figure.write_bytes(bytes(data))
    expected = (
        f"reports/tiny/figures/{figure.name}: changed since it was published (sha256 differs)"
    )
    assert problems(out) == [expected]
    assert cli.main(["verify", str(out)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == expected and lines[-1].endswith(": 1 problem")


def test_a_deleted_maps_file_is_reported(out):
    maps = next((out / "reports/tiny/versions/1/data/maps").iterdir())
    maps.unlink()
    where = f"reports/tiny/versions/1/data/maps/{maps.name}"
    found = problems(out)
    assert f"{where}: missing (the manifest lists it)" in found
    assert any(line.startswith(f"{where}: does not load") for line in found)
    assert len(found) == 2


def test_edited_results_are_reported(out):
    report = out / "reports/tiny"
    rows = rows_of(report)
    image = rows[0]
    image["entropy"] += 0.01
    write_rows(report / "data/results.parquet", rows)
    found = problems(report)
    assert "data/results.parquet: changed since it was published (sha256 differs)" in found
    assert any(
        line.startswith(f"data/results.parquet: {image['name']}: entropy {image['entropy']!r}")
        for line in found
    )


def test_the_stored_maps_re_derive_levels_even_when_the_hashes_were_forged(out):
    report = out / "reports/tiny"
    rows = rows_of(report)
    image = max(rows, key=lambda item: item["level"])
    level = image["level"]
    image["level"] = 1
    rewrite(report / "data/results.parquet", rows)
    assert level > 1
    assert problems(report) == [
        f"data/results.parquet: {image['name']}: level 1 recorded, the maps give level {level}"
    ]


def test_files_the_manifest_does_not_list_or_should_not_list_are_reported(out):
    report = out / "reports/tiny"
    (report / "figures/extra.webp").write_bytes(b"not published")
    manifest = json.loads((report / "manifest.json").read_text())
    manifest["files"]["../../index.html"] = "0" * 64
    del manifest["inputs"]["images"][0]["sha256"]
    name = manifest["inputs"]["images"][0]["name"]
    (report / "manifest.json").write_text(store.canonical_json(manifest))
    assert sorted(problems(report)) == sorted(
        [
            "figures/extra.webp: not listed in the manifest",
            ".: the manifest lists a path outside the report: ../../index.html",
            f"manifest.json: input {name}: no sha256",
            "data/results.parquet: its images differ from the inputs the manifest records",
        ]
    )


def test_a_missing_earlier_version_is_reported(out):
    shutil.rmtree(out / "reports/tiny/versions/1")
    assert problems(out) == ["reports/tiny/versions/1: missing (the report lists it)"]


def test_staging_holding_versions_of_a_published_report_is_reported_not_to_be_deleted(out):
    """A build killed between publishing and moving the kept versions over left them there."""
    ended = subprocess.Popen([sys.executable, "-c", ""])
    ended.wait()
    folder = out / f"{STAGING_PREFIX}{ended.pid}-x1y2"
    shutil.move(out / "reports/tiny/versions/1", folder / "report/versions/1")
    journal = {"target": "../reports/tiny", "folders": ["versions/1"]}
    (folder / "carried.json").write_text(json.dumps(journal))
    assert problems(out) == [
        f"{folder.name}: left by a build or re-render stopped while publishing: it holds "
        "versions/1 of the report it published; do not delete it: the next build or render "
        "into the site moves them back",
        "reports/tiny/versions/1: missing (the report lists it)",
    ]
    cli.main(["render", str(out / "reports/tiny")])
    assert problems(out) == [] and not folder.exists()


def test_staging_left_by_a_killed_build_is_reported_not_a_running_ones(out):
    """A user who deploys before the next build removes it ships it; a build that still runs
    is no problem."""
    ended = subprocess.Popen([sys.executable, "-c", ""])
    ended.wait()
    running = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        places = ("", "reports/", "reports/tiny/versions/")
        for pid in (ended.pid, running.pid):
            for place in places:
                (out / f"{place}{STAGING_PREFIX}{pid}-x1y2" / "report").mkdir(parents=True)
        advice = "delete it, or build or render into the site, which removes it"
        found = problems(out)
        assert [line.split(": ")[0] for line in found] == [
            f"{place}{STAGING_PREFIX}{ended.pid}-x1y2" for place in places
        ]
        assert all(line.endswith(advice) for line in found)
        in_report = problems(out / "reports/tiny")  # where its re-renders stage
        assert in_report == [
            f"versions/{STAGING_PREFIX}{ended.pid}-x1y2: {found[0].split(': ', 1)[1]}"
        ]
    finally:
        running.kill()
        running.wait()


def test_a_folder_that_is_neither_report_nor_site_is_a_usage_error(tmp_path, capsys):
    assert cli.main(["verify", str(tmp_path)]) == 2
    assert "is neither a report" in capsys.readouterr().err
    (tmp_path / "reports/broken").mkdir(parents=True)
    (tmp_path / "reports/broken/manifest.json").write_text("{not json")
    found = problems(tmp_path)
    assert len(found) == 1
    assert found[0].startswith("reports/broken: its manifest.json is not JSON")
