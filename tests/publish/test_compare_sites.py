"""``reportgen compare``'s comparisons in a site: byte-identical rebuilds, re-render and verify,
earlier versions and --replace, the site index, and the pages built by Jekyll, Hugo and MkDocs
and checked against the distill track's rules."""

from __future__ import annotations

import html
import re
import shutil
from pathlib import Path

import pytest
from compared_reports import DATE, HOSTILE_NAMES, _compare, _data

from reportgen import cli
from reportgen.errors import ReportgenError
from reportgen.manifest import ComparisonManifest
from reportgen.publish import comparison_site
from reportgen.publish.flavours.hugo import HugoOptions
from reportgen.publish.folders import file_hashes

pytestmark = pytest.mark.slow


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


def test_render_refuses_a_reports_options_for_a_comparison_rather_than_ignore_them(site, capsys):
    folder = _compare(site, "a", "b", slug="as-compared")
    before = file_hashes(folder)
    capsys.readouterr()
    argv = ["render", str(folder), "--title", "New", "--colormap", "viridis", "--page-size", "5"]
    assert cli.main([*argv, "--hugo-version", "0.111"]) == 2
    assert capsys.readouterr().err == (
        f"reportgen: error: {folder} is a comparison: render takes --templates and --workers "
        "for it, not --title, --colormap, --page-size, hugo options; run reportgen compare "
        "again with them (and --slug, --replace)\n"
    )
    assert file_hashes(folder) == before


def test_verify_checks_a_site_that_holds_comparisons_alone(site, tmp_path, capsys):
    """Compared into another site (--out), it has no reports/ folder: not 'neither a report nor
    a site'."""
    away = tmp_path / "away"
    folder = comparison_site.build([site["a"], site["b"]], away, date=DATE)
    capsys.readouterr()
    assert cli.main(["verify", str(away)]) == 0
    assert "1 comparison" in capsys.readouterr().out
    (folder / "charts" / "entropy-by-layer.svg").write_text("changed")
    assert cli.main(["verify", str(away)]) == 1


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
    kept = (folder / "versions/1").stat().st_ino
    site["build"](site["images"], "c", site_root=root, head_fusion="max")
    comparison_site.build(runs, root, slug="kept", date=DATE)
    assert ComparisonManifest.read(folder).version == 3
    assert sorted(path.name for path in (folder / "versions").iterdir()) == ["1", "2"]
    assert (folder / "versions/1").stat().st_ino == kept  # the folder itself, moved over
    assert cli.main(["verify", str(folder)]) == 0


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
    from jekyll_builds import BASEURL, SITE_TITLE, UNRENDERED, _content, jekyll_build

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
    from jekyll_builds import BASEURL

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


@pytest.mark.hugo
def test_hugo_version_0_111_keeps_the_gallery_and_image_pages_off_the_sites_lists(site, tmp_path):
    """Debian 12's Hugo reads ``_build``, not ``build``: with --hugo-version 0.111 the home page
    (the site's pages, as a theme lists them) has the comparison's page alone; the version is
    kept, so a re-render writes the same bytes; an older one is refused as build refuses it."""
    import test_hugo

    root = tmp_path / "site"
    shutil.copytree(site["root"], root)
    runs = [str(root / "reports" / run) for run in ("a", "partial")]
    given = ["--out", str(root), "--format", "hugo", "--slug", "old-hugo", "--hugo-version"]
    assert cli.main(["compare", *runs, *given, "0.111"]) == 0
    folder = root / "comparisons/old-hugo"
    section = (folder / "hugo/content/reports/old-hugo/_index.md").read_text()
    assert "\n_build:\n" in section and "\nbuild:" not in section
    assert ComparisonManifest.read(folder).flavour_options == {"hugo_version": "0.111"}
    public = test_hugo.hugo_build(folder, tmp_path / "hugo", test_hugo.debian_hugo())
    home = re.findall(r'<a href="([^"]+)"', (public / "index.html").read_text(encoding="utf-8"))
    assert home == [f"{test_hugo.BASEURL}/post/old-hugo/"]
    assert len(list(public.rglob("old-hugo/images/*/index.html"))) == 8  # built, not listed
    before = {**file_hashes(folder), "manifest": (folder / "manifest.json").read_bytes()}
    assert cli.main(["render", str(folder)]) == 0
    assert {**file_hashes(folder), "manifest": (folder / "manifest.json").read_bytes()} == before
    assert cli.main(["compare", *runs, *given, "0.100"]) == 2
    with pytest.raises(ReportgenError, match="--hugo-version 0.100: Hugo 0.111 is the oldest"):
        comparison_site.build(runs, root, flavour_options={"hugo": HugoOptions("0.100")})


def test_compare_takes_the_flavour_options_build_takes(site, tmp_path):
    """An older al-folio's figure include and another post permalink, as for a report."""
    root = tmp_path / "site"
    shutil.copytree(site["root"], root)
    runs = [str(root / "reports" / run) for run in ("a", "partial")]
    given = ["--out", str(root), "--format", "jekyll", "--slug", "older-folio"]
    jekyll = ["--jekyll-include", "figure.html", "--jekyll-permalink", "/posts/:title/"]
    assert cli.main(["compare", *runs, *given, *jekyll]) == 0
    folder = root / "comparisons/older-folio"
    assert ComparisonManifest.read(folder).flavour_options == {
        "jekyll_include": "figure.html",
        "jekyll_permalink": "/posts/:title/",
    }
    (post,) = (folder / "jekyll/_posts").glob("*.md")
    text = post.read_text(encoding="utf-8")
    assert "{% include figure.html " in text and "figure.liquid" not in text
    assert "'/posts/older-folio/images/" in text


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
    before = {**file_hashes(folder), "manifest": (folder / "manifest.json").read_bytes()}
    assert cli.main(["render", str(folder)]) == 0
    assert ComparisonManifest.read(folder).version == version
    # a manifest from before the flavours' options were kept: the same bytes again
    assert {**file_hashes(folder), "manifest": (folder / "manifest.json").read_bytes()} == before
    rows = _data(folder)["images"]
    assert {path.stem for path in folder.glob("images/*.html")} == {row["ids"][0] for row in rows}
    assert (folder / "gallery/by-change-1.html").is_file()
    assert cli.main(["verify", str(folder)]) == 0
