"""The flavour registry, a flavour added by a plugin, the flavours' options and their layouts
(pure: no model)."""

from __future__ import annotations

import argparse
import datetime
import logging

import pytest
from conftest import declare_entry_points
from rendered_pages import make_context

from reportgen import plugins, store
from reportgen.errors import ReportgenError
from reportgen.publish import flavours, pages
from reportgen.publish.flavours.base import Layout, link_files
from reportgen.publish.flavours.distill import DistillOptions
from reportgen.publish.flavours.hugo import HugoOptions
from reportgen.publish.flavours.jekyll import DEFAULT_PERMALINK, JekyllLayout, JekyllOptions
from reportgen.publish.page_model import ReportHeader

HEADER = ReportHeader("Cats", "cats", datetime.date(2024, 5, 24), 4, 12, 3)
PLAIN_PLUGIN = """
import dataclasses
from reportgen.publish.flavours import gfm
from reportgen.publish.flavours.base import Layout

FLAVOUR = dataclasses.replace(
    gfm.FLAVOUR, name="plain", description="plain Markdown", layout=Layout("PLAIN.md", ".md")
)
"""


@pytest.fixture
def entry_points(monkeypatch, tmp_path):
    """Install a plugin module and declare flavour entry points as its package would; the
    registry is looked up afresh while the test runs, and after it."""
    (tmp_path / "reportgen_plain.py").write_text(PLAIN_PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))

    def declare(*pairs):
        declare_entry_points(monkeypatch, plugins.FLAVOURS, *pairs)
        flavours.registry.cache_clear()

    yield declare
    flavours.registry.cache_clear()


# --- the registry ----------------------------------------------------------------------------


BUILT_IN = ["html", "jekyll", "gfm", "distill", "hugo", "mkdocs"]


def test_the_built_in_flavours_in_order():
    assert flavours.names()[: len(BUILT_IN)] == BUILT_IN
    assert flavours.DEFAULT_FORMATS == ("html", "jekyll", "gfm")
    assert flavours.get("gfm").layout.page == "README.md"
    assert flavours.help_text().startswith(
        "html (standalone page), jekyll (al-folio post), gfm (GitHub Markdown), "
        "distill (ICLR Blogposts distill post), hugo (Hugo page bundle), "
        "mkdocs (MkDocs Material pages)"
    )


def test_an_unknown_flavour_is_a_one_line_error_listing_the_choices(entry_points):
    entry_points()
    with pytest.raises(ReportgenError) as error:
        flavours.get("pdf")
    assert str(error.value) == f"unknown format pdf; choose from {', '.join(BUILT_IN)}"
    with pytest.raises(ReportgenError, match=r"unknown format \(none\)"):
        flavours.check_names([])
    assert flavours.check_names(["gfm", "html"]) == ("gfm", "html")


def test_a_plugin_flavour_renders_a_report(entry_points, tmp_path):
    entry_points(("plain", "reportgen_plain:FLAVOUR"))
    assert flavours.names() == [*BUILT_IN, "plain"]
    assert "plain (plain Markdown)" in flavours.help_text()
    report_dir = tmp_path / "report"
    ctx = make_context(report_dir)
    plain, gfm = pages.render_report(ctx, report_dir, ["plain", "gfm"])
    assert plain == report_dir / "PLAIN.md"
    assert plain.read_text() == gfm.read_text()  # the gfm flavour under another name and page


def test_a_plugin_that_is_no_flavour_or_takes_a_name_is_left_out(entry_points, caplog):
    entry_points(
        ("html", "reportgen_plain:FLAVOUR"),
        ("number", "builtins:len"),
        ("other", "reportgen_plain:FLAVOUR"),
    )
    assert flavours.names() == BUILT_IN
    assert flavours.get("html").layout.page == "index.html"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 3
    assert "already taken" in warnings[0]
    assert warnings[1].endswith("builtin_function_or_method is not a reportgen Flavour")
    assert warnings[2].endswith("its flavour is named 'plain'")


def test_the_site_index_links_a_web_page_first_then_one_that_stands_in_the_folder():
    assert flavours.standalone_page(["jekyll", "gfm", "html"]) == "index.html"
    assert flavours.standalone_page(["gfm", "html"], preferred="gfm") == "README.md"
    assert flavours.standalone_page(["jekyll", "gfm"], preferred="jekyll") == "README.md"
    assert flavours.standalone_page(["jekyll"]) is None


# --- the flavours' options -------------------------------------------------------------------


def test_options_default_and_change_by_flavour():
    assert flavours.options() == {
        "jekyll": JekyllOptions("figure.liquid", DEFAULT_PERMALINK),
        "distill": DistillOptions(None, "anonymous"),
        "hugo": HugoOptions("0.123"),
    }
    changed = flavours.options({"jekyll": {"permalink": "/posts/:title/"}})
    assert changed["jekyll"] == JekyllOptions(permalink="/posts/:title/")
    kept = flavours.options({"jekyll": {"include": "figure.html"}}, stored=changed)
    assert kept["jekyll"] == JekyllOptions("figure.html", "/posts/:title/")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"permalink": "/blog/:year/:title"}, "--jekyll-permalink '/blog/:year/:title'"),
        ({"permalink": "/{{ x }}/"}, "use a path from / to /"),
        ({"include": "x %} {{ y"}, "not an include file name"),
    ],
)
def test_bad_jekyll_options_are_refused(changes, message):
    with pytest.raises(ReportgenError, match=message):
        flavours.options({"jekyll": changes})


def test_options_are_stored_as_flavour_entries_and_earlier_manifests_still_read():
    options = flavours.options({"jekyll": {"include": "figure.html"}})
    stored = flavours.options_to_json(options)
    assert stored == {
        "jekyll_include": "figure.html",
        "jekyll_permalink": DEFAULT_PERMALINK,
        "distill_post_date": None,
        "distill_authors": "anonymous",
        "hugo_version": "0.123",
    }
    report = {"title": "t", **stored}
    assert flavours.options_from_json(report) == options and report == {"title": "t"}
    before_permalinks = {"jekyll_include": "figure.html"}  # reportgen 0.1: no distill, no hugo
    assert flavours.options_from_json(before_permalinks) == options


@pytest.mark.parametrize("defaults", [True, False])
def test_the_command_line_gives_each_flavour_its_options(defaults):
    parser = argparse.ArgumentParser()
    flavours.add_arguments(parser.add_argument_group("pages"), defaults=defaults)
    assert flavours.given_options(parser.parse_args([])) == {}
    args = parser.parse_args(["--jekyll-permalink", "/p/:title/", "--post-date", "2026-04-27"])
    assert flavours.given_options(args) == {
        "jekyll": {"permalink": "/p/:title/"},
        "distill": {"post_date": "2026-04-27"},
    }
    # each says build's default; render's option group says "(default: as built)" for all
    assert "as built" not in parser.format_help()


# --- layouts ---------------------------------------------------------------------------------


def test_a_folder_layout_links_by_relative_paths():
    layout = Layout("index.html", ".html")
    assert layout.page_path(HEADER) == "index.html"
    assert layout.page_path(HEADER, "gallery", "level-1-name-2") == "gallery/level-1-name-2.html"
    assert layout.link(HEADER, "report", "image", "003-cat") == "images/003-cat.html"
    assert layout.link(HEADER, "image", "gallery", "level-1-entropy-1") == (
        "../gallery/level-1-entropy-1.html"
    )
    assert layout.link(HEADER, "gallery", "report", "") == "../index.html"
    assert layout.image_url(HEADER, "image", "figures/003-cat.webp") == "../figures/003-cat.webp"
    assert layout.report_url(HEADER, "report", "data/") == "data/"
    assert layout.permalink(HEADER, "image", "003-cat") is None
    with pytest.raises(ReportgenError, match="slug path"):
        layout.image_url(HEADER, "report", "../outside.png")


def test_the_jekyll_layout_puts_pages_below_the_post_and_links_through_liquid():
    layout = flavours.get("jekyll").layout
    assert layout.page_path(HEADER) == "jekyll/_posts/2024-05-24-cats.md"
    assert layout.page_path(HEADER, "image", "003-cat") == "jekyll/reports/cats/images/003-cat.md"
    assert layout.link(HEADER, "image", "report", "") == "{% post_url 2024-05-24-cats %}"
    assert layout.link(HEADER, "report", "gallery", "g") == (
        "{{ '/blog/2024/cats/gallery/g/' | relative_url }}"
    )
    assert layout.permalink(HEADER, "image", "003-cat") == "/blog/2024/cats/images/003-cat/"
    assert layout.permalink(HEADER, "report", "") is None
    assert layout.image_url(HEADER, "image", "thumbs/a.webp") == "assets/img/cats/thumbs/a.webp"
    assert layout.report_url(HEADER, "report", "manifest.json") is None


def test_the_hugo_layout_is_a_post_bundle_and_a_section_linked_through_relref():
    layout = flavours.get("hugo").layout
    assert layout.page_path(HEADER) == "hugo/content/post/cats/index.md"
    assert layout.page_path(HEADER, "image", "003-cat") == (
        "hugo/content/reports/cats/images/003-cat.md"
    )
    assert layout.link(HEADER, "image", "report", "") == '{{< relref "/post/cats/index.md" >}}'
    assert layout.link(HEADER, "report", "gallery", "g") == (
        '{{< relref "/reports/cats/gallery/g.md" >}}'
    )
    # Hugo's pretty URLs: the post's is its bundle, a page's is a folder below the section's.
    assert layout.image_url(HEADER, "report", "figures/a.webp") == "figures/a.webp"
    assert layout.image_url(HEADER, "gallery", "thumbs/a.webp") == "../../thumbs/a.webp"
    assert layout.html_src("thumbs/a.webp") == "thumbs/a.webp"
    assert layout.report_url(HEADER, "report", "manifest.json") is None
    assert not flavours.get("hugo").standalone


@pytest.mark.parametrize(
    ("version", "key"),
    [("0.111", "_build"), ("0.122", "_build"), ("0.123", "build"), ("v0.168.0", "build")],
)
def test_the_sites_hugo_version_names_the_key_of_build_options(version, key):
    hugo = flavours.get("hugo")
    options = flavours.options({"hugo": {"version": version}})["hugo"]
    assert hugo.layout_for(options).build_key == key
    assert hugo.variables(options) == {"hugo_build_key": key}
    assert flavours.options_to_json({"hugo": options}) == {"hugo_version": version}


@pytest.mark.parametrize("version", ["0.110", "1", "latest", "0.123.x"])
def test_a_hugo_version_before_the_oldest_supported_or_no_version_is_refused(version):
    with pytest.raises(ReportgenError, match="--hugo-version"):
        flavours.options({"hugo": {"version": version}})


def test_the_mkdocs_layout_keeps_pages_and_images_in_one_folder_linked_as_markdown():
    layout = flavours.get("mkdocs").layout
    assert layout.page_path(HEADER) == "mkdocs/cats/index.md"
    assert layout.page_path(HEADER, "gallery", "g") == "mkdocs/cats/gallery/g.md"
    assert layout.link(HEADER, "report", "gallery", "g") == "gallery/g.md"
    assert layout.link(HEADER, "image", "report", "") == "../index.md"
    assert layout.image_url(HEADER, "report", "figures/a.webp") == "figures/a.webp"
    assert layout.image_url(HEADER, "image", "figures/a.webp") == "../figures/a.webp"
    assert layout.report_url(HEADER, "report", "data/") is None
    assert not flavours.get("mkdocs").scripts


def test_the_site_permalink_moves_the_jekyll_pages():
    jekyll = flavours.get("jekyll")
    layout = jekyll.layout_for(JekyllOptions(permalink="/:year/:month/:day/:title/"))
    assert isinstance(layout, JekyllLayout)
    assert layout.permalink(HEADER, "gallery", "g") == "/2024/05/24/cats/gallery/g/"
    assert jekyll.variables(JekyllOptions(include="figure.html")) == {
        "jekyll_include": "figure.html"
    }


def test_a_layouts_images_are_links_to_the_reports_files_and_a_missing_one_is_an_error(tmp_path):
    report = tmp_path / "report"
    (report / "figures").mkdir(parents=True)
    (report / "figures/cat.webp").write_bytes(b"cat")
    place = tmp_path / "report/assets/img/cats"
    link_files(report, ["figures/cat.webp", "figures/cat.webp"], place)
    linked = place / "figures/cat.webp"
    assert linked.stat().st_ino == (report / "figures/cat.webp").stat().st_ino
    assert linked.stat().st_mode & 0o777 == store.file_mode()
    with pytest.raises(ReportgenError, match="^figures/dog.webp is missing from the report"):
        link_files(report, ["figures/dog.webp"], place)
    with pytest.raises(ReportgenError, match="not a slug path"):
        link_files(report, ["../cat.webp"], place)


def test_the_distill_post_links_its_images_under_its_assets_and_a_missing_one_is_an_error(
    tmp_path,
):
    report = tmp_path / "report"
    (report / "figures").mkdir(parents=True)
    (report / "figures/cat.webp").write_bytes(b"cat")
    layout = flavours.registry()["distill"].layout_for(DistillOptions(None, "anonymous"))
    layout.place_images(HEADER, ["figures/cat.webp"], report)
    placed = report / layout.root / layout.asset(HEADER, "figures/cat.webp")
    assert "assets/img/" in placed.as_posix()
    assert placed.stat().st_ino == (report / "figures/cat.webp").stat().st_ino
    with pytest.raises(ReportgenError, match="^figures/dog.webp is missing from the report"):
        layout.place_images(HEADER, ["figures/dog.webp"], report)
