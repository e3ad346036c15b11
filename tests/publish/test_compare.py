"""``reportgen compare`` on real reports of tiny random models over the same images: the numbers
against the reports' own levels and scipy, different grids, partial and no overlap, three runs,
hostile names, byte-identical rebuilds, re-render and verify."""

from __future__ import annotations

import html
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from conftest import tiny_model_dir, write_images
from PIL import Image
from scipy import stats

from reportgen import api, cli
from reportgen.analysis.execution import Execution
from reportgen.analysis.sources.folder import FolderSource
from reportgen.errors import ReportgenError
from reportgen.manifest import ComparisonManifest
from reportgen.methods import compare_runs
from reportgen.publish import comparison_site
from reportgen.publish.folders import file_hashes
from reportgen.publish.options import ReportOptions, parse_date
from reportgen.results import Analysis, AnalysisParams

pytestmark = pytest.mark.slow

HOSTILE_NAMES = ["<script>alert(1)</script>.png", "{{ site.title }}.png", "[x](javascript:y).png"]
DATE = parse_date("2024-05-24")


def _with_hostile_names(folder, seed):
    rng = np.random.default_rng(seed)
    for name in HOSTILE_NAMES:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray((rng.random((40, 48, 3)) * 255).astype(np.uint8)).save(path, "PNG")
    return folder


def _renamed(folder, prefix):
    """Other names for the images (names match too, when contents differ)."""
    for path in list(folder.iterdir()):
        path.rename(folder / f"{prefix}{path.name}")
    return folder


@pytest.fixture(scope="module")
def site(tiny_vit_dir, tmp_path_factory):
    """Reports of the same images by a patch-8 and a patch-16 model and with max head fusion,
    one over part of the images and some others, one over other images only."""
    tmp = tmp_path_factory.mktemp("compare")
    root = tmp / "site"
    images = _with_hostile_names(write_images(tmp / "images", 9), 3)
    partial = tmp / "partial"
    shutil.copytree(images, partial)
    for path in sorted(partial.glob("img0[5-8].png")):
        path.unlink()
    for path in _renamed(write_images(tmp / "extra", 2, seed=5), "new-").iterdir():
        shutil.copy(path, partial / path.name)
    execution = Execution(device="cpu", cache_dir=tmp / "cache")
    patch16 = tiny_model_dir(tmp_path_factory, "vit", patch_size=16)

    def build(folder, slug, site_root=root, **params):
        options = ReportOptions(title=slug, slug=slug, date=DATE)
        return api.build(
            FolderSource(folder, recursive=True),
            site_root,
            AnalysisParams(**{"model": str(tiny_vit_dir), **params}),
            options,
            execution,
        )

    return {
        "root": root,
        "model": tiny_vit_dir,
        "images": images,
        "build": build,
        "a": build(images, "a"),
        "b": build(images, "b", model=str(patch16)),
        "c": build(images, "c", head_fusion="max"),
        "registers": build(
            images, "registers", model=str(tiny_model_dir(tmp_path_factory, "dinov2_registers"))
        ),
        "partial": build(partial, "partial"),
        "other": build(_renamed(write_images(tmp / "other", 3, seed=11), "other-"), "other"),
    }


def _compare(site, *runs, **options):
    return comparison_site.build([site[run] for run in runs], site["root"], date=DATE, **options)


def _data(folder):
    return json.loads((folder / "compare.json").read_text())


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


def test_a_rebuild_is_byte_identical_and_re_render_and_verify_agree(site, tmp_path, capsys):
    folder = _compare(site, "a", "b", title="Patch <b>8</b> against 16", slug="again")
    before = {**file_hashes(folder), "manifest": (folder / "manifest.json").read_bytes()}
    capsys.readouterr()
    assert cli.main(["render", str(folder)]) == 0
    said = capsys.readouterr().err
    assert f"re-rendered {folder} (html, jekyll, gfm) from its 2 runs" in said
    assert "compared" not in said  # not the words of a new comparison
    after = {**file_hashes(folder), "manifest": (folder / "manifest.json").read_bytes()}
    assert after == before
    assert cli.main(["verify", str(site["root"])]) == 0
    (folder / "charts" / "entropy-by-layer.svg").write_text("changed")
    assert cli.main(["verify", str(folder)]) == 1


def test_a_different_comparison_under_the_slug_keeps_the_earlier_one_as_a_version(
    site, tmp_path, capsys
):
    root = tmp_path / "site"
    shutil.copytree(site["root"], root)
    runs = [root / "reports/a", root / "reports/c"]
    folder = comparison_site.build(runs, root, slug="kept", date=DATE)
    before = file_hashes(folder)
    assert comparison_site.build(runs, root, slug="kept", date=DATE) == folder
    assert file_hashes(folder) == before  # the same comparison: nothing published
    images = _data(folder)["images"]
    # c again with other options: its version 1 (the one compared) moves to versions/1
    site["build"](site["images"], "c", site_root=root, head_fusion="min")
    comparison_site.build(runs, root, slug="kept", date=DATE)
    assert ComparisonManifest.read(folder).version == 2
    archived = ComparisonManifest.read(folder / "versions/1")
    assert archived.version == 1 and [run.version for run in archived.runs] == [1, 1]
    assert _data(folder / "versions/1")["images"] == images  # the same runs compared
    assert [run["label"] for run in _data(folder)["runs"]] == ["a v1", "c v2"]
    page = (folder / "versions/1/index.html").read_text()
    link = "../../../../reports/c/versions/1/index.html"
    assert f'href="{link}"' in page and (folder / "versions/1" / link).resolve().is_file()
    assert cli.main(["render", str(folder)]) == 0
    assert ComparisonManifest.read(folder).version == 2 and (folder / "versions/1").is_dir()
    assert cli.main(["verify", str(folder)]) == 0
    assert "1 earlier version, 1 comparison" in capsys.readouterr().out
    assert "version 2 (2 versions kept)" in (root / "index.html").read_text()


def test_replace_overwrites_the_comparison_taking_its_number_and_keeping_earlier_versions(
    site, tmp_path, capsys
):
    """As build's --replace for reports: the comparison at the slug is overwritten, the same one
    too, an unreadable one as well (refused in one line without --replace)."""
    root = tmp_path / "site"
    shutil.copytree(site["root"], root)
    folder = root / "comparisons" / "swap"

    def compare(*runs, replace=True):
        reports = [str(root / "reports" / run) for run in runs]
        options = ["--out", str(root), "--slug", "swap", "--date", DATE.isoformat()]
        return cli.main(["compare", *reports, *options] + ["--replace"] * replace)

    def compared(manifest):
        return [Path(run.folder).name for run in manifest.runs]

    assert compare("a", "b", replace=False) == 0 and compare("a", "c", replace=False) == 0
    assert compare("a", "b") == 0
    manifest = ComparisonManifest.read(folder)
    assert manifest.version == 2 and compared(manifest) == ["a", "b"]
    assert [path.name for path in (folder / "versions").iterdir()] == ["1"]
    assert compared(ComparisonManifest.read(folder / "versions/1")) == ["a", "b"]
    capsys.readouterr()
    assert compare("a", "b") == 0  # the same one is published again
    assert "nothing published" not in capsys.readouterr().out
    assert cli.main(["verify", str(folder)]) == 0
    (folder / "manifest.json").write_text("{")
    assert compare("a", "c", replace=False) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "not a reportgen comparison" in error
    assert "--replace" in error
    assert compare("a", "c") == 0
    manifest = ComparisonManifest.read(folder)
    assert manifest.version == 1 and compared(manifest) == ["a", "c"]
    assert not (folder / "versions").exists()


def test_the_index_lists_the_comparison_linked_to_its_runs(site):
    _compare(site, "a", "c", title="Mean <i>against</i> max")
    index = (site["root"] / "index.html").read_text()
    assert "<h2>Comparisons</h2>" in index
    assert 'href="comparisons/a-vs-c/index.html"' in index
    assert 'href="reports/a/index.html">a v1</a>' in index
    assert "Mean &lt;i&gt;against&lt;/i&gt; max" in index


@pytest.mark.jekyll
def test_the_jekyll_post_builds_with_every_image_and_no_markup_left(site, tmp_path):
    from test_jekyll import BASEURL, SITE_TITLE, UNRENDERED, _content, jekyll_build

    title = "{{ site.title }} <b>x</b>"
    folder = _compare(site, "a", "partial", slug="jekyll-check", title=title)
    built, _ = jekyll_build(folder, tmp_path)
    post = next(built.rglob("jekyll-check/index.html")).read_text(encoding="utf-8")
    content = _content(post)
    assert "<script>alert" not in content and "{%" not in content and "<pre" not in content
    text = html.unescape(re.sub(r"<[^>]+>", " ", content))
    assert SITE_TITLE not in text  # no Liquid ran where a name or the title was
    for literal in sorted([*HOSTILE_NAMES, title], key=len, reverse=True):
        text = text.replace(literal, "")  # they read literally: take them out
    assert [syntax for syntax in UNRENDERED if syntax in text] == []
    sources = re.findall(r'<img[^>]* src="([^"]+)"', content)
    assert len(sources) >= 4 + 8  # the charts and the movers' figures
    for source in sources:
        assert (built / source.removeprefix(BASEURL).lstrip("/")).is_file(), source
    pages = [
        path
        for path in built.rglob("jekyll-check/*/*/index.html")
        if path.parent.parent.name in ("gallery", "images")
    ]
    assert len(pages) == 3 + 8  # the galleries' orders, the images in common
    for page in pages:
        content = _content(page.read_text(encoding="utf-8"))
        assert "<script>alert" not in content and "{%" not in content, page
        assert SITE_TITLE not in html.unescape(re.sub(r"<[^>]+>", " ", content)), page
        for source in re.findall(r'<img[^>]* src="([^"]+)"', content):
            assert (built / source.removeprefix(BASEURL).lstrip("/")).is_file(), source
        for link in re.findall(r'<a href="([^"]+)"', content):
            if link.startswith(BASEURL) and "jekyll-check" in link:
                target = built / link.removeprefix(BASEURL).lstrip("/")
                assert (target / "index.html").is_file() or target.is_file(), link


def _missing_images(page: Path, built_root: Path) -> list[str]:
    """The img sources of a built page that lead to no file, relative to the page or (the
    newest Hugo's figure shortcode names a page's files so) to the site's base path."""
    from test_jekyll import BASEURL

    sources = re.findall(r'<img[^>]* src="?([^" >]+)', page.read_text(encoding="utf-8"))
    return [
        source
        for source in sources
        if not (page.parent / source).resolve().is_file()
        and not (built_root / source.removeprefix(BASEURL).lstrip("/")).is_file()
    ]


def _assert_pages_built(root: Path, front: Path) -> None:
    """A comparison's site built at ``root``, its front page ``front``: every image there,
    and on its gallery and image pages, and hostile names inert everywhere."""
    text = front.read_text(encoding="utf-8")
    assert len(re.findall("<img ", text)) >= 4 + 8  # the charts and the movers' figures
    pages = [path for kind in ("gallery", "images") for path in root.rglob(f"{kind}/*/index.html")]
    assert len(pages) >= 3 + 8, root
    for path in (front, *pages):
        assert "<script>alert" not in path.read_text(encoding="utf-8"), path
        assert _missing_images(path, root) == [], path


@pytest.mark.slow
@pytest.mark.parametrize("hugo", ["debian_hugo", "newest_hugo"])
def test_the_hugo_pages_build_with_every_image(site, tmp_path, hugo):
    """Built by Debian's Hugo and by the newest (which refuses an HTML file in content/)."""
    import test_hugo

    folder = _compare(site, "a", "partial", slug="sites", formats=("hugo", "mkdocs"))
    public = test_hugo.hugo_build(folder, tmp_path, getattr(test_hugo, hugo)())
    post = next(public.rglob("sites/index.html"))
    # the layout's <title> once: no Hugo ran where a name was
    assert post.read_text(encoding="utf-8").count(test_hugo.SITE_TITLE) == 1
    _assert_pages_built(public, post)
    static = folder / "hugo/static"
    explorers = [path.relative_to(public) for path in public.rglob("runs/*/explorer/*.html")]
    assert len(explorers) == 2 * 8  # each run's explorer of the 8 images in common, as it is
    assert all((public / page).read_bytes() == (static / page).read_bytes() for page in explorers)


@pytest.mark.slow
def test_the_mkdocs_pages_build_with_every_image(site, tmp_path):
    from test_mkdocs import mkdocs_build

    folder = _compare(site, "a", "partial", slug="sites", formats=("hugo", "mkdocs"))
    built = mkdocs_build(folder, "sites", tmp_path)
    _assert_pages_built(built, next(built.rglob("sites/index.html")))


def test_the_distill_post_follows_the_tracks_rules_with_its_pages_beside_it(site):
    title = "{{ site.title }} <b>x</b>"
    folder = _compare(site, "a", "partial", slug="post", formats=("distill",), title=title)
    name = f"{DATE.isoformat()}-post"
    assert cli.main(["check-distill", str(folder / "distill")]) == 0
    post = (folder / f"distill/_posts/{name}.md").read_text()
    assert post.startswith("---\nlayout: distill\n") and "<script>alert" not in post
    assert "{{ site" not in post.split("\n---\n", 1)[1].replace("{{ '", "")
    pages = folder / f"distill/assets/html/{name}"
    assert len(list(pages.glob("images/*.html"))) == 8
    assert {path.name for path in pages.glob("gallery/*.html")} == {
        "by-change-1.html",
        "by-correlation-1.html",
        "by-name-1.html",
    }
    image = next(pages.glob("images/*.html")).read_text()
    figures = re.findall(r'<img src="([^"]+)"', image)
    assert figures and all((pages / "images" / src).resolve().is_file() for src in figures)
    assert (folder / f"distill-{name}.zip").is_file()


def test_the_committed_example_comparison_renders_again_with_its_pages(tmp_path):
    from conftest import ROOT

    example = ROOT / "site"
    site = tmp_path / "site"
    for folder in ("reports/example", "reports/example-artifacts-kept"):
        shutil.copytree(example / folder, site / folder)
    folder = site / "comparisons/artifacts-masked-vs-kept"
    shutil.copytree(example / "comparisons/artifacts-masked-vs-kept", folder)
    version = ComparisonManifest.read(folder).version
    assert cli.main(["render", str(folder)]) == 0
    assert ComparisonManifest.read(folder).version == version
    rows = _data(folder)["images"]
    assert {path.stem for path in folder.glob("images/*.html")} == {row["ids"][0] for row in rows}
    assert (folder / "gallery/by-change-1.html").is_file()
    assert cli.main(["verify", str(folder)]) == 0
