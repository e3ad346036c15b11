"""The distill flavour without a model: its options, description, table of contents, citations,
layout (exactly the track's four kinds of paths) and ``check-distill`` on its output, passing and
failing on planted violations. A hand-made report of hostile names and title (test_pages)."""

from __future__ import annotations

import dataclasses
import html
import json
import re
import shutil
from pathlib import Path

import pytest
import yaml
from rendered_pages import DATE, HOSTILE_TITLE, make_context

from reportgen import cli
from reportgen.errors import ReportgenError
from reportgen.methods import registry
from reportgen.publish import bibliography, distill_check, escaping, explorer, flavours, pages
from reportgen.publish.flavours.distill import (
    DistillOptions,
    description,
    heading_id,
    jekyll_slugify,
    parse_authors,
)
from reportgen.publish.page_model import ExplorerFiles
from reportgen.publish.templates import Templates, packaged_templates

POST_DATE = "2026-04-27"
NAME = f"{POST_DATE}-cats-and-dogs"
OPTIONS = {"distill": DistillOptions(POST_DATE, "Ada Lovelace, Analytical Engines; Alan Turing")}


def render(report_dir: Path, options=OPTIONS, summary=None, **context) -> tuple[Path, str]:
    """The hand-made report's distill folder and post (``summary``: its description)."""
    ctx = make_context(report_dir, **context)
    if summary is not None:
        ctx = dataclasses.replace(ctx, description=summary)
    (post,) = pages.render_report(ctx, report_dir, ["distill"], options=options)
    return report_dir / "distill", post.read_text(encoding="utf-8")


def split(post: str) -> tuple[dict, str]:
    front, body = post.removeprefix("---\n").split("\n---\n", 1)
    return yaml.safe_load(front), body


def files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


# --- pure parts ------------------------------------------------------------------------------


def test_authors_anonymous_or_names_with_affiliations():
    assert parse_authors("anonymous") == parse_authors(" Anonymous ")
    assert [a.name for a in parse_authors("ANONYMOUS")] == ["Anonymous"]
    authors = parse_authors("Ada Lovelace, Analytical Engines, London; Alan Turing")
    assert [(a.name, a.affiliation) for a in authors] == [
        ("Ada Lovelace", "Analytical Engines, London"),
        ("Alan Turing", None),
    ]
    with pytest.raises(ReportgenError, match="--authors"):
        parse_authors("Ada; ; Alan")


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("Where a ViT looks", "Where a ViT looks."),
        (
            'Where "the" model looks: see [the paper](https://x.org/p).',
            "Where the model looks: see the paper.",
        ),
        ("Read https://example.org/a?b or <https://x.y> and www.z.com now", "Read or and now."),
        ('<a href="https://x">link</a> text. Two! Three? Four. Five.', "link text. Two! Three?"),
        ("“Curly” quotes stay out.", "Curly quotes stay out."),
        # an address with parentheses, balanced (nested too) or escaped: the link's text alone
        ("x *b* [l](javascript:alert(3)) | y", "x *b* l | y."),
        ("[a](f((1))(2)) and ![b](p\\).png) c", "a and b c."),
        ("[a](never(closes) stays", "a stays."),  # unbalanced: to the first ')', as before
        # an image in a link, and links in links: their text alone, not ![a](u)
        ("See [![a](i.png)](https://u.org/x) now", "See a now."),
        ("[[[x](1)](2)](3) and [![b](j(1).png)](v)", "x and b."),
    ],
)
def test_a_description_loses_quotes_and_links_and_keeps_three_sentences(given, expected):
    assert description(given) == expected
    assert not distill_check.check_description(description(given), "post")


def test_the_sentence_finding_names_the_rule_checked_one_to_three():
    assert not distill_check.check_description("One sentence.", "post")
    assert distill_check.check_description("One. Two. Three. Four.", "post") == [
        "post: description has 4 sentences; at most 3"
    ]


def test_a_description_that_was_only_a_link_falls_back_to_the_reports_own(tmp_path):
    _, post = render(tmp_path / "report", summary="https://example.org/only-a-link")
    meta, _ = split(post)
    assert meta["description"].startswith("Where the attention of org/vit-")
    assert not distill_check.check_description(meta["description"], "post")


def test_heading_ids_are_what_jekyll_slugify_makes_of_the_toc_names():
    assert jekyll_slugify("Spread level 1 (most focused)") == "spread-level-1-most-focused"
    assert jekyll_slugify("--Café & 日本--") == "café-日本"
    assert heading_id("Layer-wise visualisation") == "layer-wise-visualisation"
    # user text arrives page-ready: the id is the slug of the name the front matter gives it
    assert heading_id("A &#38; B") == jekyll_slugify(escaping.front_matter_text("A & B")[1:-1])


def test_front_matter_text_is_inert_for_yaml_liquid_html_and_json():
    hostile = 'a "b" \\ {{ c }} {% d %} <e> \u2028 f'
    quoted = escaping.front_matter_text(hostile)
    value = yaml.safe_load(f"v: {quoted}")["v"]
    assert json.loads(f'"{value}"') == value  # al-folio prints it into a JSON string
    for syntax in ('"', "\\", "{{", "{%", "<"):
        assert syntax not in value
    assert html.unescape(value) == escaping.one_line(hostile)


def test_bibtex_entries_are_well_formed():
    text = bibliography.bibtex(paper.key for paper in bibliography.PAPERS)
    assert text.count("@") == len(bibliography.PAPERS)
    assert text.count("{") == text.count("}")
    for paper in bibliography.PAPERS:
        fields = dict(paper.fields)
        assert {"title", "author", "year"} <= set(fields), paper.key
        assert "booktitle" in fields or "journal" in fields, paper.key
        assert fields["year"] in paper.key, paper.key
    assert "Abnar, Samira and Zuidema, Willem" in text
    assert "Vision Transformers Need Registers" in text


def test_every_paper_the_shared_prose_links_is_in_the_bibliography():
    """The distill dialect cites a link when its address is a paper's: the report's prose
    (templates and the map methods' bullets) links no paper the bibliography lacks."""
    prose = [path.read_text() for path in packaged_templates().glob("*.j2")]
    prose += registry.bullets().values()
    linked = {url for text in prose for url in re.findall(r'"(https://arxiv\.org/[^"]+)"', text)}
    assert {
        "https://arxiv.org/abs/2005.00928",  # rollout
        "https://arxiv.org/abs/2309.16588",  # registers, artifacts
        "https://arxiv.org/abs/2103.15679",  # relevance
        "https://arxiv.org/abs/1806.07421",  # deletion and insertion
    } <= linked
    assert linked <= set(bibliography.BY_URL)


# --- the rendered post -----------------------------------------------------------------------


def test_it_writes_exactly_the_four_kinds_of_paths(tmp_path):
    folder, _ = render(tmp_path / "report")
    written = files(folder)
    assert f"_posts/{NAME}.md" in written and f"assets/bibliography/{NAME}.bib" in written
    for path in written:
        assert path in (f"_posts/{NAME}.md", f"assets/bibliography/{NAME}.bib") or path.startswith(
            (f"assets/img/{NAME}/", f"assets/html/{NAME}/")
        ), path


def test_the_front_matter_has_the_tracks_fields(tmp_path):
    _, post = render(tmp_path / "report")
    meta, body = split(post)
    assert meta["layout"] == "distill"
    assert html.unescape(meta["title"]) == HOSTILE_TITLE
    assert str(meta["date"]) == POST_DATE
    assert meta["future"] is True and meta["htmlwidgets"] is True
    assert meta["authors"] == [
        {"name": "Ada Lovelace", "affiliations": {"name": "Analytical Engines"}},
        {"name": "Alan Turing"},
    ]
    assert meta["bibliography"] == f"{NAME}.bib"
    assert '"' not in html.unescape(meta["description"]) and "<" not in meta["description"]
    toc = [(2, s["name"]) for s in meta["toc"]]
    assert (2, "Layer-wise visualisation") in toc and (2, "Provenance") in toc
    levels = next(s for s in meta["toc"] if s["name"] == "Layer-wise visualisation")
    assert [s["name"] for s in levels["subsections"]] == [
        "Spread level 1 (most focused)",
        "Spread level 2",
        "Spread level 3",
        "Spread level 4 (most spread)",
    ]
    assert distill_check.toc_entries(meta["toc"]) == [
        (level, text) for level, text, _ in distill_check.headings(body)
    ]


def test_anonymous_by_default_and_the_report_date_without_a_post_date(tmp_path):
    folder, post = render(tmp_path / "report", options={})
    meta, _ = split(post)
    assert meta["authors"] == [{"name": "Anonymous"}]
    assert str(meta["date"]) == DATE.isoformat()
    assert (folder / f"_posts/{DATE.isoformat()}-cats-and-dogs.md").is_file()


def test_methods_are_cited_against_the_bibliography(tmp_path):
    folder, post = render(tmp_path / "report")
    _, body = split(post)
    assert '(Abnar and Zuidema, 2020<d-cite key="abnar2020quantifying"></d-cite>)' in body
    assert '<d-cite key="dosovitskiy2021image">' in body  # the model's paper (a vit)
    assert "arxiv.org" not in body
    bib = (folder / f"assets/bibliography/{NAME}.bib").read_text()
    cited = re.findall(r'<d-cite key="([^"]+)">', body)
    assert sorted(re.findall(r"^@\w+\{([^,]+),", bib, re.MULTILINE)) == sorted(set(cited))


@pytest.mark.parametrize(
    ("model_id", "family", "key"),
    [
        ("facebook/dinov2-small", "dinov2", "oquab2024dinov2"),
        ("offline:dinov2-small", "dinov2", "oquab2024dinov2"),
        ("facebook/dinov2-with-registers-small", "dinov2_with_registers", "darcet2024vision"),
        ("facebook/deit-tiny-patch16-224", "vit", "touvron2021training"),
        ("facebook/dino-vitb16", "vit", "caron2021emerging"),
        ("microsoft/beit-base-patch16-224", "beit", "bao2022beit"),
        ("someone/clip", "clip_vision_model", None),
    ],
)
def test_the_models_paper_when_known(model_id, family, key):
    model = dataclasses.replace(make_context(Path("/nonexistent")).model, model_id=model_id)
    paper = bibliography.model_paper(dataclasses.replace(model, family=family))
    assert (paper and paper.key) == key


def test_hostile_names_and_title_are_inert_in_the_post(tmp_path):
    _, post = render(tmp_path / "report")
    meta, body = split(post)
    ours = re.sub(r"\{% include figure\.liquid [^%]*%\}", "", body)
    for delimiter in ("{{", "}}", "{%", "%}"):
        assert delimiter not in ours
    assert "<script" not in post.lower() and "<img" not in post.lower()
    assert "javascript:" not in post
    for value in (meta["title"], meta["description"], *(s["name"] for s in meta["toc"])):
        assert "{{" not in value and "<" not in value and "\\" not in value


def test_explorers_are_iframes_of_pages_beside_their_data(tmp_path):
    report_dir = tmp_path / "report"
    ctx = make_context(report_dir)
    figure = ctx.levels[0].featured
    image = Path(figure.file).stem
    files_ = ExplorerFiles(
        image,
        f"explorer/{image}.js",
        "explorer/explorer.js",
        "explorer/c.js",
        f"explorer/{image}.html",
        pages.PAGE_STYLE,
    )
    for file in (files_.data, files_.script, files_.colormaps, files_.style, pages.EXPLORER_STYLE):
        (report_dir / file).parent.mkdir(parents=True, exist_ok=True)
        (report_dir / file).write_text("// script\n")
    page_html = explorer.page_html(figure.name, 12, files_, Templates())
    (report_dir / files_.page).write_bytes(page_html)
    level = dataclasses.replace(
        ctx.levels[0], typical=(dataclasses.replace(figure, explorer=files_),)
    )
    ctx = dataclasses.replace(ctx, levels=(level, *ctx.levels[1:]))
    (post,) = pages.render_report(ctx, report_dir, ["distill"], options=OPTIONS)
    text = post.read_text()
    page = f"assets/html/{NAME}/explorer/{image}.html"
    assert f'<div class="l-page">\n<iframe src="{{{{ \'{page}\' | relative_url }}}}"' in text
    explorer_page = (report_dir / "distill" / page).read_text()
    assert f'<script src="{image}.js" data-explorer="explorer">' in explorer_page
    assert '<script src="explorer.js">' in explorer_page and "&lt;script&gt;" in explorer_page
    assert '<link rel="stylesheet" href="page.css">' in explorer_page
    folder = report_dir / "distill"
    for name in ("explorer.js", "c.js", f"{image}.js", f"{image}.html", "page.css"):
        assert (folder / f"assets/html/{NAME}/explorer/{name}").is_file()
    assert distill_check.check_folder(folder)[1] == []


def test_rendering_twice_gives_the_same_bytes(tmp_path):
    first, _ = render(tmp_path / "a")
    second, _ = render(tmp_path / "b")
    assert files(first) == files(second)
    for name in files(first):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


def test_bad_options_are_one_line_errors():
    with pytest.raises(ReportgenError, match="--post-date '27/04/2026'"):
        flavours.options({"distill": {"post_date": "27/04/2026"}})
    with pytest.raises(ReportgenError, match="--post-date '2026-02-30'"):
        flavours.options({"distill": {"post_date": "2026-02-30"}})
    with pytest.raises(ReportgenError, match="--authors"):
        flavours.options({"distill": {"authors": ";"}})


# --- check-distill ---------------------------------------------------------------------------


@pytest.fixture
def good(tmp_path) -> Path:
    folder, _ = render(tmp_path / "report")
    return folder


def test_check_distill_passes_on_the_output(good, capsys):
    assert distill_check.check_folder(good) == (NAME, [])
    assert cli.main(["check-distill", str(good)]) == 0
    assert "follows the ICLR Blogposts rules" in capsys.readouterr().out


def _edit_post(folder: Path, old: str, new: str) -> None:
    post = folder / f"_posts/{NAME}.md"
    text = post.read_text()
    assert old in text
    post.write_text(text.replace(old, new, 1))


def _outside(folder: Path) -> None:
    (folder / "_config.yml").write_text("title: mine\n")


def _quoted_description(folder: Path) -> None:
    _edit_post(folder, "\ndescription: ", '\ndescription: "say \\"hi\\"" #')


def _linked_description(folder: Path) -> None:
    _edit_post(folder, "\ndescription: ", "\ndescription: see https://example.org #")


def _toc_not_the_headings(folder: Path) -> None:
    _edit_post(folder, '  - name: "Provenance"', '  - name: "Where it came from"')


def _missing_asset(folder: Path) -> None:
    next((folder / f"assets/img/{NAME}/figures").iterdir()).unlink()


def _not_distill(folder: Path) -> None:
    _edit_post(folder, "layout: distill", "layout: post")


def _undefined_citation(folder: Path) -> None:
    (folder / f"assets/bibliography/{NAME}.bib").write_text("")


@pytest.mark.parametrize(
    ("plant", "finding"),
    [
        (_outside, "_config.yml: outside the four places a submission may touch"),
        (_quoted_description, "description has a double quote"),
        (_linked_description, "description has a link"),
        (_toc_not_the_headings, "toc names are not the headings (no heading 'Where it came"),
        (_missing_asset, "which is missing"),
        (_not_distill, "layout is 'post', the track needs distill"),
        (_undefined_citation, "cites abnar2020quantifying, which assets/bibliography/"),
    ],
)
def test_check_distill_fails_on_a_planted_violation(good, plant, finding, capsys):
    plant(good)
    _, findings = distill_check.check_folder(good)
    assert any(finding in line for line in findings), findings
    assert all("\n" not in line for line in findings)
    assert cli.main(["check-distill", str(good)]) == 1
    out = capsys.readouterr().out
    assert finding in out and "problem" in out.splitlines()[-1]


def test_check_distill_needs_one_post(good):
    shutil.copy(good / f"_posts/{NAME}.md", good / "_posts/2026-04-27-second.md")
    assert distill_check.check_folder(good)[1] == [
        f"_posts/: expected one post named _posts/YYYY-MM-DD-NAME.md, found _posts/{NAME}.md, "
        "_posts/2026-04-27-second.md"
    ]


def test_check_distill_on_a_missing_folder_is_a_one_line_error(tmp_path, capsys):
    assert cli.main(["check-distill", str(tmp_path / "nowhere")]) == ReportgenError.exit_code
    assert "is not a folder" in capsys.readouterr().err


def test_a_toc_name_with_references_links_the_slug_of_the_name_as_written():
    # al-folio slugifies a toc name as the front matter gives it, references and all
    text = escaping.markdown_text("<b> & c")  # page-ready, as the dialect's headings get it
    toc = yaml.safe_load(f"toc:\n  - name: {escaping.front_matter_text('<b> & c')}\n")["toc"]
    assert distill_check.check_toc(toc, f'<h2 id="{heading_id(text)}">{text}</h2>', "post") == []
    wrong = distill_check.check_toc(toc, f'<h2 id="b-c">{text}</h2>', "post")
    assert wrong == [
        "post: toc entry '<b> & c' links #lt-b-gt-amp-c, but its heading's id is 'b-c'"
    ]
