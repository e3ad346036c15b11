"""Building and publishing reports: layout, index, atomicity, determinism, re-rendering."""

import html
import json
import re
import shutil
import signal
import sys
from dataclasses import replace

import pyarrow.parquet as pq
import pytest
from conftest import site_files, stop_build_half_way, write_images
from PIL import Image

from reportgen import api, cli
from reportgen.analysis.sources.folder import FolderSource
from reportgen.errors import ReportgenError
from reportgen.publish import pages, staging
from reportgen.publish.build import rerender, stored_style
from reportgen.publish.figures import FigureStyle
from reportgen.publish.options import GallerySettings, ReportOptions, parse_date
from reportgen.results import Analysis

HOSTILE_NAMES = [
    "<script>alert(1)</script>.png",
    "{{ site.title }}.jpg",
    "{% raw %}.png",
    "quote\"and'apostrophe.png",
    "with space.png",
    "café 日本.png",
]


@pytest.fixture
def folder(tmp_path):
    folder = write_images(tmp_path / "images", 6)
    (folder / "broken.png").write_bytes(b"")
    return folder


def test_build_layout_and_manifest(folder, tmp_path, analysis_params, report_options, execution):
    out = tmp_path / "site"
    report = api.build(folder, out, analysis_params, report_options, execution=execution)
    assert report == out / "reports" / "tiny"
    for path in [
        "index.html",
        "README.md",
        "jekyll/_posts/2024-05-24-tiny.md",
        "manifest.json",
        "data/results.json",
        "data/manifest.json",
        "thumbnail.webp",
    ]:
        assert (report / path).is_file(), path
    assert len(list((report / "figures").glob("*.webp"))) == 6
    assert (out / "index.html").is_file() and (out / ".nojekyll").is_file()
    manifest = json.loads((report / "manifest.json").read_text())
    assert manifest["report"]["slug"] == "tiny" and manifest["report"]["date"] == "2024-05-24"
    assert manifest["time_source"] == "--date"
    for name, digest in manifest["files"].items():
        import hashlib

        assert hashlib.sha256((report / name).read_bytes()).hexdigest() == digest, name
    assert manifest["inputs"]["skipped"][0]["name"] == "broken.png"
    html = (report / "index.html").read_text()
    assert "broken.png" in html
    for figure in (report / "figures").iterdir():
        assert html.count(f'src="figures/{figure.name}"') == 1
    with Image.open(next((report / "figures").iterdir())) as figure:
        assert figure.width > figure.height > 32  # several panels side by side


def test_every_image_once_in_its_levels_section(
    folder, tmp_path, analysis_params, report_options, execution
):
    report = api.build(
        folder, tmp_path / "site", analysis_params, report_options, execution=execution
    )
    images = Analysis.load(report / "data").images
    html = (report / "index.html").read_text()
    sections = re.split(r'<section[^>]*class="level[^"]*"', html)[1:]
    assert len(sections) == len({image.level for image in images})
    for image in images:
        src = f"figures/{image.id}.webp"
        holders = [n for n, body in enumerate(sections, start=1) if src in body]
        assert holders == [image.level], image.name


def test_index_lists_reports_and_rebuild_replaces_only_its_slug(
    folder, tmp_path, analysis_params, report_options, execution
):
    out = tmp_path / "site"
    api.build(folder, out, analysis_params, report_options, execution=execution)
    api.build(
        folder,
        out,
        analysis_params,
        replace(report_options, slug="other", title="Other"),
        execution=execution,
    )
    other_before = site_files(out / "reports/other")
    api.build(
        folder,
        out,
        analysis_params,
        replace(report_options, title="Tiny again"),
        execution=execution,
    )
    assert site_files(out / "reports/other") == other_before
    index = (out / "index.html").read_text()
    assert 'href="reports/tiny/index.html"' in index and 'href="reports/other/index.html"' in index
    assert "Tiny again" in index and "Tiny &lt;b&gt;report" not in index
    assert not [p for p in out.iterdir() if p.name.startswith(".reportgen")]


def test_failed_build_leaves_the_published_site_unchanged(
    folder, tmp_path, analysis_params, report_options, monkeypatch, execution
):
    out = tmp_path / "site"
    api.build(folder, out, analysis_params, report_options, execution=execution)
    before = site_files(out)

    def crash(*args, **kwargs):
        raise RuntimeError("disk full half-way")

    monkeypatch.setattr(pages, "render_report", crash)
    with pytest.raises(RuntimeError):
        api.build(
            folder, out, analysis_params, replace(report_options, title="New"), execution=execution
        )
    assert site_files(out) == before
    assert not [p for p in out.iterdir() if p.name.startswith(".reportgen")]


def test_killed_build_leaves_the_published_site_unchanged(
    tmp_path, tiny_vit_dir, analysis_params, report_options, execution
):
    """SIGKILL a real build half-way: the published site stays as it was, leftovers go later."""
    out = tmp_path / "site"
    small = write_images(tmp_path / "small", 3)
    api.build(small, out, analysis_params, report_options, execution=execution)
    before = site_files(out)
    big = write_images(tmp_path / "big", 400, size=(64, 64), seed=3)
    command = [
        sys.executable,
        "-m",
        "reportgen.cli",
        "build",
        str(big),
        "--out",
        str(out),
        "--model",
        str(tiny_vit_dir),
        "--device",
        "cpu",
        "--batch-size",
        "2",
        "--cache-dir",
        str(tmp_path / "cache"),
        "--slug",
        "tiny",
        "--date",
        "2024-05-24",
    ]
    stop_build_half_way(command, out, signal.SIGKILL)
    leftovers = list(out.glob(f"{staging.STAGING_PREFIX}*"))
    assert leftovers  # the killed build's staging folder...
    assert {k: v for k, v in site_files(out).items() if not k.startswith(".reportgen")} == before
    api.build(
        small, out, analysis_params, replace(report_options, slug="second"), execution=execution
    )
    assert not any(path.exists() for path in leftovers)  # ...is removed by the next build
    assert site_files(out / "reports/tiny") == {
        k.removeprefix("reports/tiny/"): v
        for k, v in before.items()
        if k.startswith("reports/tiny/")
    }


def test_two_builds_are_byte_identical(
    folder, tmp_path, analysis_params, report_options, execution
):
    api.build(folder, tmp_path / "a", analysis_params, report_options, execution=execution)
    api.build(folder, tmp_path / "b", analysis_params, report_options, execution=execution)
    assert site_files(tmp_path / "a") == site_files(tmp_path / "b")


def test_hugo_and_mkdocs_rebuild_identically_render_and_verify(
    folder, tmp_path, analysis_params, report_options, execution, capsys
):
    """The two site flavours with galleries: two builds give the same bytes; render --format
    writes them into a report built without them; verify checks their files."""
    galleries = GallerySettings(gallery_threshold=2, page_size=2)
    options = replace(report_options, formats=("hugo", "mkdocs"), gallery=galleries)
    api.build(folder, tmp_path / "a", analysis_params, options, execution=execution)
    api.build(folder, tmp_path / "b", analysis_params, options, execution=execution)
    built = site_files(tmp_path / "a")
    assert built == site_files(tmp_path / "b")
    assert "reports/tiny/hugo/content/post/tiny/index.md" in built
    assert "reports/tiny/hugo/content/reports/tiny/_index.md" in built
    assert "reports/tiny/mkdocs/tiny/index.md" in built
    report = api.build(folder, tmp_path / "c", analysis_params, report_options, execution=execution)
    assert not (report / "hugo").exists()
    assert cli.main(["render", str(report), "--format", "gfm,hugo,mkdocs"]) == 0
    assert (report / "hugo/content/post/tiny/index.md").is_file()
    assert (report / "mkdocs/tiny/index.md").is_file() and not (report / "jekyll").exists()
    manifest = json.loads((report / "manifest.json").read_text())
    assert "hugo/content/post/tiny/index.md" in manifest["files"]
    assert cli.main(["verify", str(tmp_path / "c")]) == 0
    (report / "hugo/content/post/tiny/index.md").write_text("changed")
    assert cli.main(["verify", str(tmp_path / "c")]) != 0
    assert "hugo/content/post/tiny/index.md" in capsys.readouterr().out


def test_images_with_the_same_pixels_keep_their_own_names_in_the_explorer(
    tmp_path, analysis_params, report_options, execution
):
    folder = tmp_path / "twins"
    folder.mkdir()
    for name in ("first.png", "second.png"):
        Image.new("RGB", (40, 40), (1, 2, 3)).save(folder / name)
    options = report_options.changed(explorer_data="scripts")  # the data names the image
    report = api.build(folder, tmp_path / "site", analysis_params, options, execution)
    for image in Analysis.load(report / "data").images:
        data = (report / f"explorer/{image.id}.js").read_text()
        assert f'"name":"{image.name}"' in data, image.name


def test_rerender_reproduces_the_report_without_the_model(
    folder, tmp_path, analysis_params, report_options, monkeypatch, execution
):
    out = tmp_path / "site"
    report = api.build(folder, out, analysis_params, report_options, execution=execution)
    before = site_files(out)
    import reportgen.analysis.analyze

    monkeypatch.setattr(
        reportgen.analysis.analyze, "load", lambda *a, **k: pytest.fail("model loaded")
    )
    rerender(report)
    assert site_files(out) == before


def test_rerender_with_overridden_template_and_style(
    folder, tmp_path, analysis_params, report_options, execution
):
    report = api.build(
        folder, tmp_path / "site", analysis_params, report_options, execution=execution
    )
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "report.html.j2").write_text("<p>custom {{ report.title }}</p>\n")
    rerender(
        report,
        templates_dir=templates,
        style=replace(stored_style(report), image_format="png"),
    )
    assert (report / "index.html").read_text() == "<p>custom Tiny &lt;b&gt;report&lt;/b&gt;</p>\n"
    assert len(list((report / "figures").glob("*.png"))) == 6
    assert not list((report / "figures").glob("*.webp"))
    table_rows = pq.read_table(report / "data/results.parquet").to_pylist()  # written again
    assert [row["figure_file"][-4:] for row in table_rows] == [".png"] * 6


def test_rerender_adding_distill_switches_the_explorer_to_data_scripts_as_build_does(
    folder, tmp_path, analysis_params, report_options, execution
):
    report = api.build(
        folder, tmp_path / "site", analysis_params, report_options, execution=execution
    )
    with pytest.raises(ReportgenError, match="--explorer-data maps does not work with"):
        rerender(report, formats=("html", "distill"), explorer_data="maps")  # asked for: no
    rerender(report, formats=("html", "distill"))
    manifest = json.loads((report / "manifest.json").read_text())
    assert manifest["report"]["explorer_data"] == "scripts"
    assert (report / "distill").is_dir() and len(list((report / "explorer").glob("0*.js"))) == 6


def test_hostile_file_names_are_inert_in_every_flavour(
    tmp_path, analysis_params, report_options, execution
):
    folder = tmp_path / "hostile"
    folder.mkdir()
    for index, name in enumerate(HOSTILE_NAMES):
        path = folder / name  # "</script>" makes a sub-folder, read recursively
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (40, 40), (index * 40, 80, 160)).save(path, "PNG")
    hostile = FolderSource(folder, recursive=True)
    report = api.build(
        hostile, tmp_path / "site", analysis_params, report_options, execution=execution
    )
    html = (report / "index.html").read_text()
    assert "<script>" not in html and "&lt;script&gt;" in html
    for markdown in [report / "README.md", *(report / "jekyll/_posts").glob("*.md")]:
        text = markdown.read_text()
        assert "<script>" not in text, markdown
        # The report's own Liquid: figure includes, its files' URLs (sprites, scripts).
        body = re.sub(
            r"\{% include figure\.(liquid|html) [^%]*%\}|\{\{ '[a-z0-9/_.-]+' \| relative_url \}\}",
            "",
            text,
        )
        assert "{{" not in body and "{%" not in body, markdown
    figures = sorted(p.name for p in (report / "figures").iterdir())
    assert all(re.fullmatch(r"[a-z0-9-]+\.webp", name) for name in figures)


def test_bad_report_options_are_clear_errors(folder, tmp_path, analysis_params, execution):
    with pytest.raises(ReportgenError, match="unknown format"):
        api.build(
            folder,
            tmp_path / "s",
            analysis_params,
            ReportOptions(formats=("pdf",)),
            execution=execution,
        )
    with pytest.raises(ReportgenError, match="not a slug"):
        api.build(
            folder,
            tmp_path / "s",
            analysis_params,
            ReportOptions(slug="Bad Slug!"),
            execution=execution,
        )
    with pytest.raises(ReportgenError, match="unknown colormap"):
        bad_style = ReportOptions(style=FigureStyle(colormap="nope"))
        api.build(folder, tmp_path / "s", analysis_params, bad_style, execution=execution)
    assert not (tmp_path / "s" / "reports").exists()
    with pytest.raises(ReportgenError, match="--date"):
        parse_date("24/05/2024")
    with pytest.raises(ReportgenError, match="not a reportgen report"):
        rerender(tmp_path)


def test_cli_build_and_render(folder, tmp_path, tiny_vit_dir, capsys):
    out = tmp_path / "site"
    argv = [
        "build",
        folder,
        "--out",
        out,
        "--model",
        tiny_vit_dir,
        "--device",
        "cpu",
        "--cache-dir",
        tmp_path / "cache",
        "--date",
        "2024-01-02",
        "--slug",
        "cli",
        "--format",
        "html,gfm",
    ]
    assert cli.main([str(a) for a in argv]) == 0
    report = out / "reports/cli"
    assert (report / "index.html").is_file() and not (report / "jekyll").exists()
    assert cli.main(["render", str(report), "--colormap", "viridis"]) == 0
    manifest = json.loads((report / "manifest.json").read_text())
    assert manifest["report"]["style"]["colormap"] == "viridis"
    assert cli.main(["render", str(tmp_path)]) == 2
    assert "not a reportgen report" in capsys.readouterr().err


def test_default_date_slug_and_title_honour_source_date_epoch(
    folder, tmp_path, analysis_params, monkeypatch, execution
):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")  # 2023-11-14T22:13:20Z
    report = api.build(
        folder, tmp_path / "site", analysis_params, ReportOptions(), execution=execution
    )
    assert report.name == "images"  # slug from the folder name
    assert (report / "jekyll/_posts/2023-11-14-images.md").is_file()
    manifest = json.loads((report / "manifest.json").read_text())
    assert manifest["created_utc"] == "2023-11-14T22:13:20Z"
    assert manifest["time_source"] == "SOURCE_DATE_EPOCH"
    assert manifest["report"]["title"] == "Where a Vision Transformer looks: images"
    page = html.unescape((report / "README.md").read_text())
    assert "(UTC), from the SOURCE_DATE_EPOCH environment variable" in page


def test_without_date_the_time_comes_from_the_clock(
    folder, tmp_path, analysis_params, monkeypatch, execution
):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    report = api.build(
        folder, tmp_path / "site", analysis_params, ReportOptions(slug="now"), execution=execution
    )
    manifest = json.loads((report / "manifest.json").read_text())
    assert manifest["time_source"] == "clock"
    assert manifest["created_utc"].startswith(manifest["report"]["date"])
    page = html.unescape((report / "README.md").read_text())
    assert f"{manifest['created_utc']} (UTC), from the clock of the machine that built it" in page


def test_jekyll_options_are_stored_and_render_keeps_them(folder, tmp_path, tiny_vit_dir, capsys):
    out = tmp_path / "site"
    argv = ["build", folder, "--out", out, "--model", tiny_vit_dir, "--device", "cpu"]
    argv += ["--cache-dir", tmp_path / "cache", "--date", "2024-01-02", "--slug", "cli"]
    argv += ["--gallery-threshold", "2", "--jekyll-include", "figure.html"]
    assert cli.main([str(a) for a in argv]) == 0
    report = out / "reports/cli"

    def stored():
        manifest = json.loads((report / "manifest.json").read_text())["report"]
        return manifest["jekyll_include"], manifest["jekyll_permalink"]

    assert stored() == ("figure.html", "/blog/:year/:title/")
    assert cli.main(["render", str(report), "--jekyll-permalink", "/posts/:title/"]) == 0
    assert stored() == ("figure.html", "/posts/:title/")
    gallery = next((report / "jekyll/reports/cli/gallery").glob("*.md")).read_text()
    assert 'permalink: "/posts/cli/gallery/' in gallery
    post = (report / "jekyll/_posts/2024-01-02-cli.md").read_text()
    assert "{% include figure.html " in post and "'/posts/cli/gallery/" in post
    assert cli.main(["render", str(report), "--jekyll-permalink", "/posts/:title"]) == 2
    assert "--jekyll-permalink '/posts/:title'" in capsys.readouterr().err
    assert stored() == ("figure.html", "/posts/:title/")


def test_the_sprites_show_the_norms_of_the_layer_chosen_by_norm_layer(
    folder, tmp_path, analysis_params, report_options, execution
):
    chosen = replace(analysis_params, norm_layer=1)  # the tiny model has 2 layers
    report = api.build(folder, tmp_path / "site", chosen, report_options, execution=execution)
    control = re.search(r'data-panels="([^"]*)"', (report / "index.html").read_text())
    assert control.group(1).split()[-2:] == ["N1", "features"]
    sprites = {path.name: path.read_bytes() for path in (report / "sprites").iterdir()}
    shutil.rmtree(report / "sprites")  # drawn again from the stored maps, with the stored layer
    rerender(report, workers=0)
    assert {path.name: path.read_bytes() for path in (report / "sprites").iterdir()} == sprites
    last = api.build(folder, tmp_path / "last", analysis_params, report_options, execution)
    control = re.search(r'data-panels="([^"]*)"', (last / "index.html").read_text())
    assert control.group(1).split()[-2:] == ["N2", "features"]
    assert all((last / "sprites" / name).read_bytes() != data for name, data in sprites.items())
