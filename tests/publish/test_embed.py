"""``reportgen embed``: one figure or explorer of a published report, pasted into a post.

A report of random images and hostile names (tiny random ViT) is built in every flavour that
embeds. Its snippets are checked as text (each flavour's for a hostile name is inert, names
are found by id, path or base name, an unknown name is one line and exit status 2), then pasted
into a post of the test Jekyll site (``tests/jekyll_site/``, the report's ``jekyll/`` folder
published there), of the test distill site (its ``distill/`` folder there) and into an HTML
page of the reportgen site, and opened in Chromium: the figure
loads and the framed explorer draws and follows its layer slider.
"""

from __future__ import annotations

import datetime
import html
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import write_images
from explorer_pages import assert_framed_explorer_follows_its_slider, browser_tab
from jekyll_builds import BASEURL, HOSTILE_NAMES, SITE_TITLE, jekyll_build, serving
from jekyll_builds import SKELETON as JEKYLL_SKELETON
from PIL import Image
from served_reports import browser  # noqa: F401
from test_distill_site import SKELETON as DISTILL_SKELETON
from test_hugo import SKELETON as HUGO_SKELETON
from test_hugo import debian_hugo
from test_mkdocs import mkdocs_site, mkdocs_source

from reportgen import api, cli
from reportgen.analysis.execution import Execution
from reportgen.analysis.sources.folder import FolderSource
from reportgen.errors import ReportgenError
from reportgen.publish import embed, explorer, flavours
from reportgen.publish.flavours.distill import DistillOptions
from reportgen.publish.options import ReportOptions
from reportgen.results import Analysis, AnalysisParams, ImageSummary

SLUG = "embedded"
DATE = datetime.date(2024, 5, 24)
POST_DATE = "2026-04-27"
FORMATS = ("html", "jekyll", "distill", "gfm", "hugo", "mkdocs")
HOSTILE = "{{ site.title }}.jpg"  # HOSTILE_NAMES[0], at the top of the input folder
# What a snippet's own markup may not carry once a hostile name is in it.
LIVE = ("{{ site", "{% include nope", "{% raw", "{% endraw", "<script", "**bold**", "](x)")


@pytest.fixture(scope="module")
def report_dir(tiny_vit_dir, tmp_path_factory) -> Path:
    images = write_images(tmp_path_factory.mktemp("embed-images") / "images", 2)
    (images / "people").mkdir()
    Image.new("RGB", (40, 40), (200, 80, 40)).save(images / "people" / "plain.png")
    Image.new("RGB", (40, 40), (40, 80, 200)).save(images / "people" / "twice.png")
    Image.new("RGB", (40, 40), (40, 200, 80)).save(images / "twice.png")
    for index, name in enumerate(HOSTILE_NAMES):
        path = images / name
        path.parent.mkdir(parents=True, exist_ok=True)
        image_format = "JPEG" if name.endswith(".jpg") else "PNG"
        Image.new("RGB", (40, 40), (index * 40, 80, 160)).save(path, image_format)
    options = ReportOptions(
        slug=SLUG,
        date=DATE,
        formats=FORMATS,
        flavour_options={"distill": DistillOptions(POST_DATE)},
    )
    params = AnalysisParams(model=str(tiny_vit_dir))
    execution = Execution(device="cpu", cache_dir=images.parent / "cache")
    site = tmp_path_factory.mktemp("embed-site")
    return api.build(FolderSource(images, recursive=True), site, params, options, execution)


def _image(report_dir: Path, name: str):
    return embed.find_image(Analysis.load(report_dir / "data").images, name)


# --- finding the image -------------------------------------------------------------------------


def test_an_image_is_found_by_id_path_or_unambiguous_base_name(report_dir):
    plain = _image(report_dir, "people/plain.png")
    assert _image(report_dir, plain.id) == plain
    assert _image(report_dir, "plain.png") == plain
    assert _image(report_dir, "twice.png").name == "twice.png"  # the exact name comes first
    assert _image(report_dir, "people/twice.png").name == "people/twice.png"


def test_an_unknown_name_is_one_line_with_close_matches(report_dir):
    with pytest.raises(ReportgenError, match=r"no image 'people/plian\.png'.*people/plain\.png"):
        _image(report_dir, "people/plian.png")


def test_an_ambiguous_base_name_lists_the_images_it_names():
    images = [
        ImageSummary(index, f"{index:03d}-cat", name, "0" * 64, 1, (1, 1), 0.5, (0.5,))
        for index, name in enumerate(["a/cat.png", "b/cat.png", "dog.png"])
    ]
    with pytest.raises(ReportgenError, match=r"'cat\.png' names 2 images: 'a/cat\.png'"):
        embed.find_image(images, "cat.png")


def test_the_command_says_one_line_and_exits_2_for_an_unknown_name(report_dir, capsys):
    assert cli.main(["embed", str(report_dir), "no-such-image.png"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and "no image 'no-such-image.png'" in captured.err


def test_a_flavour_the_report_lacks_is_one_line(report_dir):
    with pytest.raises(ReportgenError, match="has no jekyll pages|--format"):
        other = report_dir.parent / "copy"
        shutil.copytree(report_dir, other)
        manifest = (other / "manifest.json").read_text().replace('"jekyll",', "")
        (other / "manifest.json").write_text(manifest)
        embed.snippet(other, "people/plain.png", "jekyll")


# --- the snippets as text ----------------------------------------------------------------------


@pytest.mark.parametrize("flavour", FORMATS)
@pytest.mark.parametrize("what", embed.WHAT)
def test_each_flavours_snippet_for_a_hostile_name_is_inert(report_dir, flavour, what):
    for name in HOSTILE_NAMES:
        text = embed.snippet(report_dir, name, flavour, what).text
        inert = flavours.get(flavour).escaping.filters["text"](name)
        assert inert in text, (name, text)
        # Hugo's figure prints its alt through html/template: the shortcode gets the text itself
        without_name = re.sub(r"alt=`[^`]*`", "", text.replace(inert, ""))
        for live in LIVE:
            assert live not in without_name, (name, text)
        if flavour != "html":
            assert "<" not in inert and "{" not in inert and "*" not in inert
    assert "<script" not in text


def test_the_figure_snippets_use_each_flavours_own_figure(report_dir):
    plain = _image(report_dir, "people/plain.png")
    figure = f"figures/{plain.id}.webp"
    jekyll = embed.snippet(report_dir, "people/plain.png", "jekyll").text
    assert f'{{% include figure.liquid path="assets/img/{SLUG}/{figure}"' in jekyll
    distill = embed.snippet(report_dir, "people/plain.png", "distill").text
    assert f'path="assets/img/{POST_DATE}-{SLUG}/{figure}"' in distill
    page = embed.snippet(report_dir, "people/plain.png", "html", base_url="https://x.org/s").text
    assert f'<img src="https://x.org/s/reports/{SLUG}/{figure}"' in page
    assert "<figcaption>people/plain.png · entropy " in page
    gfm = embed.snippet(report_dir, "people/plain.png", "gfm").text
    assert gfm.startswith(f"![Attention maps of people/plain.png](/reports/{SLUG}/{figure})")


def test_the_explorer_snippets_frame_the_page_the_report_ships(report_dir):
    plain = _image(report_dir, "people/plain.png")
    page = explorer.files(plain.id).page
    assert (report_dir / page).is_file()
    jekyll = embed.snippet(report_dir, plain.id, "jekyll", "explorer")
    assert f"<iframe src=\"{{{{ 'assets/img/{SLUG}/{page}' | relative_url }}}}\"" in jekyll.text
    assert jekyll.site_root and [place for _, place in jekyll.files] == [
        f"assets/img/{SLUG}/explorer/{name}"
        for name in (
            f"{plain.id}.html",
            f"{plain.id}.js",
            "explorer.js",
            "colormaps.js",
            "page.css",
        )
    ]
    assert all(source.is_file() for source, _ in jekyll.files)
    distill = embed.snippet(report_dir, plain.id, "distill", "explorer").text
    assert f"'assets/html/{POST_DATE}-{SLUG}/{page}' | relative_url" in distill
    assert distill.startswith('<div class="l-page">\n<iframe')
    gfm = embed.snippet(report_dir, plain.id, "gfm", "explorer").text
    assert f"](/reports/{SLUG}/{page})**" in gfm
    mkdocs = embed.snippet(report_dir, plain.id, "mkdocs", "explorer").text
    assert mkdocs.strip().startswith(f'<iframe src="/reports/{SLUG}/{page}"')  # a raw HTML block


def test_the_command_prints_the_snippet_and_what_to_copy(report_dir, capsys):
    assert cli.main(["embed", str(report_dir), "plain.png", "--flavour", "jekyll"]) == 0
    captured = capsys.readouterr()
    assert captured.out.count("{% include figure.liquid") == 1
    assert "copy into the site's folder" in captured.err
    source = report_dir / "jekyll/assets/img" / SLUG / "figures"
    assert re.search(
        rf"  {re.escape(str(source))}/\S+\.webp -> assets/img/{SLUG}/figures/", captured.err
    )


# --- pasted into posts, built and opened ---------------------------------------------------


# flavour -> (the test site it builds in, the post's layout, its assets' folder from the root)
SITES = {
    "jekyll": (JEKYLL_SKELETON, "post", f"assets/img/{SLUG}/"),
    "distill": (DISTILL_SKELETON, "distill", f"assets/(?:img|html)/{POST_DATE}-{SLUG}/"),
}


@pytest.mark.jekyll
@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.parametrize("flavour", SITES)
def test_pasted_into_a_post_the_figure_and_the_explorer_work(
    report_dir,
    tmp_path,
    flavour,
    browser,  # noqa: F811
):
    """The report published in the site (its flavour's folder), and a post of the user's."""
    skeleton, layout, assets = SITES[flavour]
    snippets = "\n".join(
        embed.snippet(report_dir, HOSTILE, flavour, what).text for what in embed.WHAT
    )
    published = tmp_path / "published"
    shutil.copytree(report_dir / flavour, published / flavour)
    post = f"---\nlayout: {layout}\ntitle: Mine\n---\n\nMy words.\n\n{snippets}\nMore words.\n"
    (published / flavour / "_posts/2024-06-01-my-own-post.md").write_text(post)
    site, _ = jekyll_build(published, tmp_path / "work", skeleton=skeleton, folder=flavour)
    text = (site / "blog/2024/my-own-post/index.html").read_text(encoding="utf-8")
    content = text[text.index("My words.") : text.index("More words.")]
    assert SITE_TITLE not in html.unescape(content) and HOSTILE in html.unescape(content)
    sources = re.findall(r'<(?:img|iframe)[^>]* src="([^"]+)"', content)
    assert len(sources) == 2, content
    for src in sources:
        assert re.match(f"{BASEURL}/{assets}", src), src
        assert (site / src.removeprefix(f"{BASEURL}/")).is_file(), src
    with serving(site) as server, browser_tab(browser, server) as tab:
        tab.open(f"{server}{BASEURL.strip('/')}/blog/2024/my-own-post/")
        tab.page.locator("img").first.scroll_into_view_if_needed()
        tab.page.wait_for_function("() => [...document.images].every(i => i.complete)")
        assert tab.page.evaluate("() => document.images[0].naturalWidth") > 0
        assert_framed_explorer_follows_its_slider(tab)
        tab.assert_clean()


@pytest.mark.slow
@pytest.mark.browser
def test_pasted_into_a_hugo_post_with_its_files_in_static_the_figure_and_explorer_work(
    report_dir,
    tmp_path,
    browser,  # noqa: F811
):
    """The files copied where stderr says, below the Hugo site's static/ folder (served as is:
    Hugo would read an explorer page in content/ as a page of its own)."""
    base = f"{BASEURL}/"  # the test site's baseURL path
    embedded = [
        embed.snippet(report_dir, HOSTILE, "hugo", what, base_url=base) for what in embed.WHAT
    ]
    source = tmp_path / "source"
    shutil.copytree(HUGO_SKELETON, source)
    post = source / "content/post/mine/index.md"
    post.parent.mkdir(parents=True)
    body = "\n".join(snippet.text for snippet in embedded)
    post.write_text(f"---\ntitle: Mine\n---\n\nMy words.\n\n{body}\nMore words.\n")
    for snippet in embedded:
        for file, url in snippet.files:
            target = source / "static" / url.removeprefix(base)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(file, target)
    public = tmp_path / "public"
    command = [debian_hugo(), "--source", str(source), "--destination", str(public)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0 and "ERROR" not in result.stdout, result.stderr + result.stdout
    text = (public / "post/mine/index.html").read_text(encoding="utf-8")
    content = text[text.index("My words.") : text.index("More words.")]
    assert SITE_TITLE not in html.unescape(content) and HOSTILE in html.unescape(content)
    sources = re.findall(r'<(?:img|iframe)[^>]* src="([^"]+)"', content)
    assert len(sources) == 2, content
    for src in sources:
        assert (public / src.removeprefix(base)).is_file(), src
    with serving(public) as server, browser_tab(browser, server) as tab:
        tab.open(f"{server}{BASEURL.strip('/')}/post/mine/")
        tab.page.locator("img").first.scroll_into_view_if_needed()
        tab.page.wait_for_function("() => [...document.images].every(i => i.complete)")
        assert tab.page.evaluate("() => document.images[0].naturalWidth") > 0
        assert_framed_explorer_follows_its_slider(tab)
        tab.assert_clean()


@pytest.mark.slow
@pytest.mark.mkdocs
@pytest.mark.browser
def test_pasted_into_a_page_of_an_mkdocs_site_the_figure_and_explorer_work(
    report_dir,
    tmp_path,
    browser,  # noqa: F811
):
    """The report's mkdocs pages in docs/reports/ of the test site, the explorer's files copied
    into docs/ where stderr says, the snippets pasted into a page, built with --strict."""
    base = f"{BASEURL}/"  # the test site's path (site_url)
    embedded = [
        embed.snippet(report_dir, HOSTILE, "mkdocs", what, base_url=base) for what in embed.WHAT
    ]
    source = mkdocs_source(report_dir, SLUG, tmp_path)
    body = "\n".join(snippet.text for snippet in embedded)
    (source / "docs/mine.md").write_text(f"# Mine\n\nMy words.\n\n{body}\nMore words.\n")
    for snippet in embedded:
        for file, url in snippet.files:
            target = source / "docs" / url.removeprefix(base)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(file, target)
    site = mkdocs_site(source)
    text = (site / "mine/index.html").read_text(encoding="utf-8")
    content = text[text.index("My words.") : text.index("More words.")]
    assert SITE_TITLE not in html.unescape(content) and HOSTILE in html.unescape(content)
    sources = re.findall(r'<(img|iframe)[^>]* src="([^"]+)"', content)
    assert [tag for tag, _ in sources] == ["img", "iframe"], content
    for _, src in sources:
        assert (site / src.removeprefix(base)).is_file(), src
    with serving(site) as server, browser_tab(browser, server) as tab:
        tab.open(f"{server}{BASEURL.strip('/')}/mine/")
        tab.page.locator("img").first.scroll_into_view_if_needed()
        tab.page.wait_for_function("() => [...document.images].every(i => i.complete)")
        assert tab.page.evaluate("() => document.querySelector('article img').naturalWidth") > 0
        assert_framed_explorer_follows_its_slider(tab)
        tab.assert_clean()


@pytest.mark.browser
def test_pasted_into_a_page_of_the_site_the_html_snippets_work(report_dir, browser):  # noqa: F811
    site = report_dir.parent.parent  # serving() serves it below BASEURL: the snippet's base
    snippets = "\n".join(
        embed.snippet(report_dir, HOSTILE, "html", what, base_url=BASEURL).text
        for what in embed.WHAT
    )
    page = site / "my-page.html"
    head = '<!DOCTYPE html>\n<title>Mine</title>\n<link rel="icon" href="data:,">\n'
    page.write_text(f"{head}<p>My words.</p>\n{snippets}")
    with serving(site) as server, browser_tab(browser, server) as tab:
        tab.open(f"{server}{BASEURL.strip('/')}/my-page.html")
        tab.page.wait_for_function("() => [...document.images].every(i => i.complete)")
        assert tab.page.evaluate("() => document.images[0].naturalWidth") > 0
        assert_framed_explorer_follows_its_slider(tab)
        tab.assert_clean()
