"""Labelled reports (labelled_reports.py) as sites show them: in a real Jekyll site the
class table reads its labels as plain text, and in headless Chromium the galleries' class filter
shows a class picked from the table or typed."""

from __future__ import annotations

import pytest
from conftest import ARTIFACTS
from jekyll_builds import BASEURL, SITE_TITLE, UNRENDERED, PostScan, _content, jekyll_build, serving
from labelled_reports import (  # noqa: F401
    DATE,
    HOSTILE_LABELS,
    PageScan,
    class_table,
    classifier_dir,
    expected_rows,
    many,
    matched,
)
from served_reports import SENTINEL_SCRIPT, browser  # noqa: F401

# --- in a real Jekyll site ----------------------------------------------------------------------


@pytest.mark.jekyll
@pytest.mark.slow
@pytest.mark.parametrize("which", ["matched", "many"])
def test_jekyll_renders_the_class_table_with_labels_as_plain_text(which, request, tmp_path):
    built = request.getfixturevalue(which)
    root, _ = jekyll_build(built.report, tmp_path)
    post = (root / f"blog/{DATE.year}/{which}/index.html").read_text(encoding="utf-8")
    scan = PostScan(post)
    assert not scan.event_handlers and "onerror=" not in post.replace("onerror=alert", "")
    assert SITE_TITLE not in "\n".join(scan.content_text)
    body = PageScan(_content(post))
    assert class_table(body) == expected_rows(built.rows, judged=which == "matched")
    assert not any(attributes.get("src") == "x" for _, attributes in body.elements)
    text = "\n".join(scan.content_text)
    for label in sorted(HOSTILE_LABELS, key=len, reverse=True):
        text = text.replace(label, "")  # labels read literally: take them out
    for syntax in (*UNRENDERED, "| ---", "|---"):
        assert syntax not in text, syntax
    if which == "matched":
        assert any("misclassified" in p and "U = " in p for p in body.paragraphs)
        assert "Top-1 accuracy" in text and "class-filter" not in post


# --- the class filter in Chromium ------------------------------------------------------------


@pytest.fixture(scope="module")
def served_matched(matched):  # noqa: F811
    """The labelled report's site on 127.0.0.1."""
    with serving(matched.report.parent.parent) as server:
        yield f"{server}{BASEURL.strip('/')}/reports/matched/"


@pytest.mark.browser
@pytest.mark.slow
def test_the_class_filter_shows_a_class_from_the_table_and_as_typed(
    matched,  # noqa: F811
    served_matched,
    browser,  # noqa: F811
):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.add_init_script(SENTINEL_SCRIPT)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    results = page.locator("#name-filter-results > li")

    def names_of(label: str) -> list[str]:
        return sorted(row["name"] for row in matched.rows if row["label"] == label)

    def shown() -> list[str]:
        page.wait_for_function("() => !document.getElementById('name-filter-results').hidden")
        return sorted(results.locator(".name").all_text_contents())

    try:
        page.goto(f"{served_matched}index.html")
        page.get_by_role("link", name=HOSTILE_LABELS[0], exact=True).click()
        page.wait_for_url("**/gallery/level-*.html#class=*")
        page.wait_for_function(
            f"() => document.querySelectorAll('#name-filter-results > li').length === "
            f"{len(names_of(HOSTILE_LABELS[0]))}"
        )
        assert shown() == names_of(HOSTILE_LABELS[0])
        assert page.locator("#class-filter-input").input_value() == HOSTILE_LABELS[0]
        metas = results.locator(".meta").all_text_contents()
        assert all(meta.endswith(f" · {HOSTILE_LABELS[0]}") for meta in metas)
        assert page.locator("section.level").first.is_hidden()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=ARTIFACTS / "class-filter.png", full_page=True)
        # Typed: a label it offers matches exactly, other text any label containing it.
        field = page.locator("#class-filter-input")
        field.fill("bold")
        page.wait_for_function(
            "() => document.getElementById('name-filter-status').textContent === "
            f"'{len(names_of(HOSTILE_LABELS[2]))} images'"
        )
        assert shown() == names_of(HOSTILE_LABELS[2])
        page.locator("#name-filter-input").fill("pic <2")
        expected = [name for name in names_of(HOSTILE_LABELS[2]) if name.startswith("pic <2")]
        page.wait_for_function(
            "() => document.getElementById('name-filter-status').textContent === "
            f"'{len(expected)} image{'s' if len(expected) != 1 else ''}'"
        )
        assert shown() == expected
        offered = page.locator("#class-filter-options option")
        assert sorted(offered.evaluate_all("(nodes) => nodes.map((n) => n.value)")) == sorted(
            HOSTILE_LABELS
        )
        field.fill("")
        page.locator("#name-filter-input").fill("")
        page.wait_for_function("() => document.getElementById('name-filter-results').hidden")
        assert page.locator("section.level").first.is_visible()
        assert page.evaluate("window.__xss") == 0 and errors == []
    finally:
        context.close()
