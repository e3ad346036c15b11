"""Escaping policies: untrusted text comes out inert for HTML, Markdown and Liquid, and reads the
same once decoded (no model needed)."""

from __future__ import annotations

import html
import json
import re

import markupsafe
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from reportgen.publish import escaping

ANY_TEXT = st.text(alphabet=st.characters(blacklist_categories=()), max_size=60)
LIQUID = "{{ site.title }} {% include x %}"


@given(ANY_TEXT)
def test_markdown_text_is_inert_and_decodes_to_the_text(value):
    escaped = escaping.markdown_text(value)
    assert html.unescape(escaped) == escaping.one_line(value)
    bare = re.sub(r"&#\d+;", "", escaped)
    assert not re.search(r"[!-+:-@\[-`{-~]", bare)  # only . , - / remain of ASCII punctuation
    assert not re.search(r"^(\d+\.|-)(\s|$)|\.\.|--", escaped)  # no list marker, no dashes
    assert "\n" not in escaped


@given(ANY_TEXT)
def test_yaml_quoted_parses_back_html_escaped(value):
    loaded = yaml.safe_load("value: " + escaping.yaml_quoted(value))["value"]
    assert html.unescape(loaded) == escaping.one_line(value)
    assert not re.search(r"[<>{}%\"]", loaded)


@given(ANY_TEXT)
def test_yaml_string_parses_back_as_the_text(value):
    loaded = yaml.safe_load("value: " + escaping.yaml_string(value))["value"]
    assert loaded == escaping.one_line(value)


@given(ANY_TEXT)
def test_shortcode_text_is_one_quoted_parameter_of_the_text(value):
    """Backquoted (raw) unless the text has a backquote; then double-quoted, ``"`` escaped and
    no other backslash left (Hugo drops them)."""
    param = escaping.shortcode_text(escaping.markdown_text(value))
    text = escaping.one_line(value)
    if "`" not in text:
        assert param == f"`{text}`"
    else:
        inner = param[1:-1]
        assert param[0] == param[-1] == '"' and "\n" not in param
        assert re.sub(r'\\"', "", inner).count('"') == 0
        assert inner.replace('\\"', '"') == text.replace("\\", "\u29f5")


def test_shortcode_text_keeps_shortcode_delimiters_inside_its_quotes():
    escaped = escaping.markdown_text('{{< x >}} <b> "q"')
    assert escaping.shortcode_text(escaped) == '`{{< x >}} <b> "q"`'
    assert escaping.shortcode_text(escaping.markdown_text('a`b\\c"d')) == '"a`b\u29f5c\\"d"'


@given(ANY_TEXT)
def test_one_line_is_writable_single_line_text(value):
    line = escaping.one_line(value)
    line.encode("utf-8")  # lone surrogates from undecodable file names are gone
    assert line == line.strip() and len(line.splitlines()) <= 1


def test_one_line_turns_controls_and_breaks_into_single_spaces():
    assert escaping.one_line("a\nb\r\n\tc\u2028d\x00e  f") == "a b c d e f"
    assert escaping.one_line("bad\udcff name") == "bad name"


def test_html_text_escapes_markup_and_quotes_but_passes_markup_objects():
    assert escaping.html_text("<b>&\"'") == "&lt;b&gt;&amp;&#34;&#39;"
    assert escaping.html_text("two\nlines") == "two lines"
    trusted = markupsafe.Markup("<svg/>")
    assert escaping.html_text(trusted) is trusted


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        (LIQUID, "&#123;&#123; site.title &#125;&#125; &#123;&#37; include x &#37;&#125;"),
        ("[x](javascript:alert(1))", "&#91;x&#93;&#40;javascript&#58;alert&#40;1&#41;&#41;"),
        ("*a* _b_ `c` | d", "&#42;a&#42; &#95;b&#95; &#96;c&#96; &#124; d"),
        ("<img onerror=x>", "&#60;img onerror&#61;x&#62;"),
        ("1. item", "1&#46; item"),
        ("- item", "&#45; item"),
        ("a -- b ... c, d/e.f-g", "a &#45;&#45; b &#46;&#46;&#46; c, d/e.f-g"),
    ],
)
def test_markdown_text_makes_liquid_markdown_and_html_inert(text, escaped):
    assert escaping.markdown_text(text) == escaped
    assert html.unescape(escaped) == text


def test_yaml_quoted_hides_liquid_and_html_from_layouts_that_print_it_raw():
    quoted = escaping.yaml_quoted(LIQUID + ' <b>"q"</b> \\')
    assert "{{" not in quoted and "{%" not in quoted and "<b>" not in quoted
    assert yaml.safe_load(f"title: {quoted}")["title"].endswith("&lt;/b&gt; \\")


def test_param_value_spells_none_and_booleans_as_json_does():
    assert [escaping.param_value(v) for v in (None, True, False, 3, "x")] == [
        "none",
        "true",
        "false",
        "3",
        "x",
    ]


def test_script_json_cannot_end_its_script_and_loads_back():
    value = ["</script><!-- & \u2028", {"k": 1}]
    text = escaping.script_json(value)
    assert not re.search(r"[<>&\u2028]", text)
    assert json.loads(text) == value


def test_the_two_policies():
    assert escaping.HTML_ESCAPING.autoescape and not escaping.MARKDOWN_ESCAPING.autoescape
    assert escaping.HTML_ESCAPING.filters["text"] is escaping.html_text
    assert escaping.MARKDOWN_ESCAPING.filters["text"] is escaping.markdown_text
    assert escaping.MARKDOWN_ESCAPING.filters["yaml_quoted"] is escaping.yaml_quoted
    assert escaping.HUGO_ESCAPING.filters["text"] is escaping.markdown_text


def test_numbers_get_thousands_separators_from_10000_on():
    assert [escaping.number(n) for n in (0, 7, 9999, 10000, 16244, 1234567, -20000)] == [
        "0",
        "7",
        "9999",
        "10,000",
        "16,244",
        "1,234,567",
        "-20,000",
    ]
