"""``reportgen compare`` on real reports of tiny random models over the same images: the numbers
against the reports' own levels and scipy, different grids, partial and no overlap, three runs,
hostile names, the pages and the explorers they frame (versions, re-render, verify and the site
generators' builds: test_compare_sites.py)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from compared_reports import DATE, HOSTILE_NAMES, _compare, _data
from scipy import stats

from reportgen import api, cli
from reportgen.analysis.execution import Execution
from reportgen.analysis.sources.folder import FolderSource
from reportgen.errors import ReportgenError
from reportgen.manifest import ComparisonManifest
from reportgen.methods import compare_runs
from reportgen.publish import comparison_site
from reportgen.publish.folders import file_hashes
from reportgen.publish.options import ReportOptions
from reportgen.results import Analysis, AnalysisParams

pytestmark = pytest.mark.slow


def _by_sha(report):
    analysis = Analysis.load(report / "data")
    return analysis, {image.sha256: image for image in analysis.images}


def _spread_map(analysis, image):
    return analysis.spread_spec.select(analysis.record(image).maps)


def test_the_transitions_are_the_reports_levels_counted(site):
    data = _data(_compare(site, "a", "b"))
    (_, first), (_, second) = _by_sha(site["a"]), _by_sha(site["b"])
    expected = np.zeros((4, 4), dtype=int)
    for sha, image in first.items():
        expected[image.level - 1, second[sha].level - 1] += 1
    assert data["pairs"][0]["transitions"] == expected.tolist()
    assert len(data["images"]) == len(first) == 12


def test_correlations_equal_scipys_spearmanr_on_the_stored_maps(site):
    data = _data(_compare(site, "a", "c"))
    (first, first_images), (second, second_images) = _by_sha(site["a"]), _by_sha(site["c"])
    for row in data["images"]:
        expected = stats.spearmanr(
            _spread_map(first, first_images[row["sha256"]]).ravel(),
            _spread_map(second, second_images[row["sha256"]]).ravel(),
        ).statistic
        assert row["correlations"][0] == pytest.approx(expected, abs=1e-12)


def test_different_grids_are_resampled_to_the_finer_one_and_the_page_says_so(site):
    folder = _compare(site, "a", "b")
    data = _data(folder)
    assert [run["grid"] for run in data["runs"]] == [[4, 4], [2, 2]]
    assert data["grid"] == [4, 4]
    (first, first_images), (second, second_images) = _by_sha(site["a"]), _by_sha(site["b"])
    row = data["images"][0]
    coarse = _spread_map(second, second_images[row["sha256"]])
    assert coarse.shape == (2, 2)
    expected = stats.spearmanr(
        _spread_map(first, first_images[row["sha256"]]).ravel(),
        compare_runs.resample(coarse, (4, 4)).ravel(),
    ).statistic
    assert row["correlations"][0] == pytest.approx(expected, abs=1e-12)
    page = (folder / "index.html").read_text()
    assert "resampled" in page and "4x4" in page


def test_a_model_with_register_tokens_against_one_without(site):
    data = _data(_compare(site, "a", "registers"))
    prefixes = [Analysis.load(site[run] / "data").model.n_prefix for run in ("a", "registers")]
    assert prefixes[0] == 1 and prefixes[1] > 1  # CLS, against CLS and the registers
    (first, first_images), (second, second_images) = _by_sha(site["a"]), _by_sha(site["registers"])
    for row in data["images"]:
        maps = [
            compare_runs.resample(_spread_map(analysis, images[row["sha256"]]), (4, 4))
            for analysis, images in ((first, first_images), (second, second_images))
        ]
        expected = stats.spearmanr(maps[0].ravel(), maps[1].ravel()).statistic
        assert row["correlations"][0] == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("spread_by", ["mean", "max", "min", "layer:2", "rollout"])
def test_the_spread_map_read_alone_is_the_records(site, spread_by):
    """Compare reads only the spread-by map and, of the first run, the image: the same arrays
    as the whole record gives."""
    from reportgen import store
    from reportgen.methods.spread import SpreadSpec
    from reportgen.publish.comparison import _read_spread
    from reportgen.table import maps_file

    spec = SpreadSpec.parse(spread_by)
    for run in ("a", "registers"):
        analysis = Analysis.load(site[run] / "data")
        for image in analysis.images[:3]:
            path = analysis.root / maps_file(image.id)
            record = store.read_record(path, image.name)
            values, seen = _read_spread(path, spec, image.name, run, with_image=True)
            assert np.array_equal(values, spec.select(record.maps))
            assert values.dtype == np.float64 and np.array_equal(seen, record.seen_image)
            assert _read_spread(path, spec, image.name, run, with_image=False)[1] is None


@pytest.mark.parametrize("record_format", [4, 5])
def test_the_min_read_alone_from_a_maps_file_before_format_6_is_as_it_was_made(
    site, tmp_path, record_format
):
    from conftest import rewrite_record_format

    from reportgen import store
    from reportgen.methods import maps
    from reportgen.methods.spread import SpreadSpec
    from reportgen.publish.comparison import _read_spread
    from reportgen.table import maps_file

    analysis = Analysis.load(site["a"] / "data")
    image = analysis.images[0]
    path = tmp_path / "old.npz"
    path.write_bytes((analysis.root / maps_file(image.id)).read_bytes())
    rewrite_record_format(path, record_format)
    layers = store.read_record(path, image.name).maps["layers"].astype(np.float64)
    made = maps.relative_to_peak(layers) if record_format == 5 else layers
    values, _ = _read_spread(path, SpreadSpec.parse("min"), image.name, "a", with_image=False)
    np.testing.assert_allclose(values, made.min(axis=0), rtol=1e-6)


def test_partial_overlap_lists_what_only_some_runs_have(site):
    data = _data(_compare(site, "a", "partial"))
    assert len(data["images"]) == 12 - 4
    assert sorted(data["runs"][0]["only_here"]) == [f"img0{k}.png" for k in range(5, 9)]
    assert sorted(data["runs"][1]["only_here"]) == ["new-img00.png", "new-img01.png"]


def test_no_image_in_common_is_a_one_line_error(site, capsys):
    status = cli.main(["compare", str(site["a"]), str(site["other"]), "--out", str(site["root"])])
    error = capsys.readouterr().err
    assert status == 2
    assert error.count("\n") == 1 and "no image in common" in error
    assert not (site["root"] / "comparisons" / "a-vs-other").exists()


def test_a_comparison_and_a_report_may_not_share_a_slug(site, capsys):
    """Their Hugo, Jekyll and MkDocs pages would share folders: refused before anything is
    written, whichever comes second."""
    root = site["root"]
    status = cli.main(
        ["compare", str(site["a"]), str(site["c"]), "--out", str(root)] + ["--slug", "b"]
    )
    error = capsys.readouterr().err
    assert status == 2 and error.count("\n") == 1
    assert "reports/b is a report with the slug 'b'" in error and "--slug" in error
    assert not (root / "comparisons" / "b").exists()
    _compare(site, "a", "c", slug="shared")
    before = sorted(path.name for path in root.iterdir())
    with pytest.raises(ReportgenError, match="comparisons/shared is a comparison"):
        site["build"](site["images"], "shared")
    assert sorted(path.name for path in root.iterdir()) == before
    assert not (root / "reports" / "shared").exists()


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (["--format", "xx"], "unknown format xx; choose from html, "),
        (["--format", "html,bogus"], "unknown format bogus; choose from html, "),
        (
            ["--slug", "../x"],
            "--slug '../x' is not a slug; use lower-case letters, digits and '-', ",
        ),
    ],
)
def test_formats_and_slugs_are_checked_as_build_checks_them(site, tmp_path, capsys, given, message):
    """Not a comparison without a page (xx), a format left out (bogus) or another slug (x)."""
    out = tmp_path / "out"
    status = cli.main(["compare", str(site["a"]), str(site["c"]), "--out", str(out), *given])
    error = capsys.readouterr().err
    assert status == 2 and error.count("\n") == 1
    assert error.startswith(f"reportgen: error: {message}")
    assert not out.exists()
    with pytest.raises(ReportgenError, match="unknown format xx"):
        _compare(site, "a", "c", formats=["xx"])


def test_three_runs_give_three_pairs_and_one_table(site):
    folder = _compare(site, "a", "b", "c")
    data = _data(folder)
    assert [pair["runs"] for pair in data["pairs"]] == [[0, 1], [0, 2], [1, 2]]
    table = pq.read_table(folder / "compare.parquet")
    assert table.num_rows == 12
    assert {"run3_level", "run3_entropy", "correlation_1_2", "correlation_2_3"} <= set(
        table.column_names
    )
    assert table.column("run2_level").to_pylist() == [row["levels"][1] for row in data["images"]]
    assert not list((folder / "figures").glob("*difference*"))  # differences: two runs only
    page = (folder / "README.md").read_text()
    table = page.split("## Every image in common", 1)[1]
    assert all(f"| [{name}](images/" in table for name in (f"img0{k}.png" for k in range(9)))


def test_the_runs_table_has_a_column_per_run_and_a_row_per_parameter_that_differs(site):
    site["d"] = site.get("d") or site["build"](site["images"], "d", discard_ratio=0.5)
    folder = _compare(site, "a", "c", "d", slug="runs-table")
    page = (folder / "README.md").read_text()
    rows = page.split("## The runs", 1)[1].split("\n\n")[1].splitlines()
    assert rows[0].startswith("| run | [a v1](") and "| [d v1](" in rows[0]
    assert rows[1] == "| --- | --- | --- | --- |"
    cells = {row.split(" | ")[0].lstrip("| "): row.split(" | ")[1:] for row in rows[2:]}
    assert list(cells)[:5] == ["model", "grid", "date", "images", "only here"]
    assert cells["<code>head&#95;fusion</code>"] == ["mean", "max", "mean |"]
    assert cells["<code>discard&#95;ratio</code>"] == ["0.0", "0.0", "0.5 |"]  # not a usual one
    assert "<code>artifacts&#95;by</code>" not in cells  # the same in every run: not listed


def test_hostile_names_reach_the_pages_inert(site):
    folder = _compare(site, "a", "partial", slug="hostile")
    pages = [
        "index.html",
        "README.md",
        *(f"{kind}/*.{ext}" for kind in ("gallery", "images") for ext in ("html", "md")),
    ]
    files = [path for pattern in pages for path in sorted(folder.glob(pattern))]
    assert len(files) == 2 + 2 * (3 + 8)  # front, three gallery orders, eight images
    for path in files:
        text = path.read_text()
        assert "<script>alert" not in text, path
        if path.suffix == ".md":  # Markdown and Liquid syntax: text in HTML, escaped here
            assert "{{ site" not in text and "](javascript:" not in text, path
    html = (folder / "index.html").read_text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;.png" in html
    image = (folder / "images" / f"{_id_of(folder, HOSTILE_NAMES[0])}.html").read_text()
    assert "<h1>&lt;script&gt;alert(1)&lt;/script&gt;.png</h1>" in image


def _id_of(folder, name):
    return next(row["ids"][0] for row in _data(folder)["images"] if row["name"] == name)


def _links(page: Path) -> list[str]:
    return re.findall(r'href="([^"#]+)"', page.read_text())


def test_every_image_has_a_page_two_clicks_from_the_front_page(site):
    folder = _compare(site, "a", "b", slug="reach")
    ids = [row["ids"][0] for row in _data(folder)["images"]]
    galleries = {
        (folder / link).resolve() for link in _links(folder / "index.html") if "gallery/" in link
    }
    assert {path.name for path in galleries} == {
        "by-change-1.html",
        "by-correlation-1.html",
        "by-name-1.html",
    }
    for gallery in galleries:
        reached = {
            (gallery.parent / link).resolve() for link in _links(gallery) if "images/" in link
        }
        assert reached == {(folder / "images" / f"{image}.html").resolve() for image in ids}
    markdown = (folder / "README.md").read_text()
    assert "(gallery/by-change-1.md)" in markdown
    assert all(
        f'href="../images/{image}.md"' in (folder / "gallery/by-name-1.md").read_text()
        for image in ids
    )


def test_the_galleries_come_in_their_orders_and_image_pages_explore_each_run(site):
    folder = _compare(site, "a", "c", slug="orders")
    rows = _data(folder)["images"]
    by_id = {row["ids"][0]: row for row in rows}

    def shown(order):
        page = (folder / f"gallery/by-{order}-1.html").read_text()
        return [by_id[image] for image in re.findall(r'href="../images/([^"]+)\.html"', page)]

    changes = [abs(row["entropies"][1] - row["entropies"][0]) for row in shown("change")]
    assert changes == sorted(changes, reverse=True) and len(changes) == 12
    correlations = [row["correlations"][0] for row in shown("correlation")]
    finite = [value for value in correlations if value is not None]
    assert finite == sorted(finite) and correlations[: len(finite)] == finite
    names = [row["name"] for row in shown("name")]
    assert names == sorted(names, key=lambda name: (name.casefold(), name))
    row = rows[0]
    page = (folder / "images" / f"{row['ids'][0]}.html").read_text()
    frames = re.findall(r'href="([^"]+)" target="run-explorer"', page)
    runs = zip("ac", row["ids"], strict=True)
    assert frames == [f"../../../reports/{run}/explorer/{image}.html" for run, image in runs]
    assert all((folder / "images" / frame).resolve().is_file() for frame in frames)
    assert f'src="{frames[0]}"' in page  # the first run's explorer is shown first
    assert all((folder / f"figures/{row['ids'][0]}.webp").is_file() for row in rows)
    differences = sorted(path.name for path in folder.glob("figures/*-difference.webp"))
    movers = re.findall(
        r'href="images/([^"]+)\.html">its page', (folder / "index.html").read_text()
    )
    assert differences == sorted(f"{image}-difference.webp" for image in movers)
    assert len(movers) == 8  # the biggest movers have the difference of the two maps
    page = (folder / "images" / f"{movers[0]}.html").read_text()
    assert f'src="../figures/{movers[0]}-difference.webp"' in page


def test_pages_published_away_from_the_runs_frame_the_explorers_the_comparison_carries(site):
    folder = _compare(site, "a", "b", slug="carried", formats=("jekyll", "hugo", "distill"))
    rows = _data(folder)["images"]
    for number, (run, column) in enumerate(((site["a"], 0), (site["b"], 1)), start=1):
        for row in rows:
            page = f"runs/{number}/explorer/{row['ids'][column]}.html"
            source = run / f"explorer/{row['ids'][column]}.html"
            assert (folder / page).stat().st_ino == source.stat().st_ino  # linked, not copied
        shared = {"explorer.js", "colormaps.js", "page.css"}
        explorers = {f"{row['ids'][column]}.html" for row in rows}
        scripts = {path.name for path in (folder / f"runs/{number}/explorer").iterdir()}
        assert scripts == shared | explorers
        maps = {path.name for path in (folder / f"runs/{number}/data/maps").iterdir()}
        assert maps == {f"{row['ids'][column]}.npz" for row in rows}  # what the explorers read
    image = rows[0]["ids"][0]
    second = rows[0]["ids"][1]
    frames = {
        "jekyll": "{{ 'assets/img/carried/runs/%d/explorer/%s.html' | relative_url }}",
        "hugo": "../../runs/%d/explorer/%s.html",
        "distill": "../runs/%d/explorer/%s.html",
    }
    pages = {
        "jekyll": f"jekyll/reports/carried/images/{image}.md",
        "hugo": f"hugo/content/reports/carried/images/{image}.md",
        "distill": f"distill/assets/html/{DATE.isoformat()}-carried/images/{image}.html",
    }
    for flavour, page in pages.items():
        text = (folder / page).read_text()
        links = re.findall(r'<a href="([^"]+)" target="run-explorer">', text)
        assert links == [frames[flavour] % (1, image), frames[flavour] % (2, second)], flavour
        assert f'<iframe name="run-explorer" src="{links[0]}"' in text, flavour
    placed = [
        f"jekyll/assets/img/carried/runs/2/explorer/{second}.html",
        f"hugo/content/reports/carried/runs/2/data/maps/{second}.npz",
        f"hugo/static/reports/carried/runs/2/explorer/{second}.html",  # Hugo's content: no HTML
        f"distill/assets/html/{DATE.isoformat()}-carried/runs/2/explorer/colormaps.js",
    ]
    assert all((folder / file).is_file() for file in placed)
    assert not list((folder / "hugo/content").rglob("*.html"))
    assert "runs/1/explorer/explorer.js" in ComparisonManifest.read(folder).files
    assert cli.main(["verify", str(folder)]) == 0
    html_only = _compare(site, "a", "b", slug="html-only", formats=("html", "gfm"))
    assert not (html_only / "runs").exists()  # its pages link the runs' own explorers


def test_the_pages_are_the_same_bytes_written_here_or_in_worker_processes(site, tmp_path):
    hashes = []
    for workers in (0, 2):
        root = tmp_path / f"site-{workers}"
        for run in ("a", "b"):
            shutil.copytree(site[run], root / "reports" / run)
        runs = [root / "reports/a", root / "reports/b"]
        formats = ("html", "jekyll", "hugo")
        folder = comparison_site.build(runs, root, date=DATE, formats=formats, workers=workers)
        hashes.append(file_hashes(folder))
    assert len([name for name in hashes[0] if name.startswith("hugo/") and "/images/" in name])
    assert hashes[0] == hashes[1]


def test_a_run_whose_explorer_fetches_its_maps_file_is_carried_with_it(site, tmp_path):
    root = tmp_path / "site"
    shutil.copytree(site["a"], root / "reports/a")
    options = ReportOptions(title="maps", slug="maps", date=DATE, explorer_data="maps")
    fetched = api.build(
        FolderSource(site["images"], recursive=True),
        root,
        AnalysisParams(model=str(site["model"])),
        options,
        Execution(device="cpu", cache_dir=tmp_path / "cache"),
    )
    runs = [root / "reports/a", fetched]
    folder = comparison_site.build(runs, root, date=DATE, formats=("jekyll", "distill"))
    image = _data(folder)["images"][0]["ids"][1]
    page = (folder / f"runs/2/explorer/{image}.html").read_text()
    data = re.search(r'data-maps="([^"]+)"', page).group(1)
    assert (folder / "runs/2/explorer" / data).resolve().is_file()
    assert not (folder / f"runs/2/explorer/{image}.js").exists()
    for placed in (
        f"jekyll/assets/img/a-vs-maps/runs/2/explorer/{image}.html",
        f"distill/assets/html/{DATE.isoformat()}-a-vs-maps/runs/2/explorer/{image}.html",
    ):
        assert (folder / placed).parent.joinpath(data).resolve().is_file(), placed
    assert cli.main(["check-distill", str(folder / "distill")]) == 0
