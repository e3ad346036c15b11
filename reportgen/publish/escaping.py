"""Escaping policies: how untrusted text (file names, titles, labels, reasons, model ids,
parameters) is made inert for the page it goes into.

The HTML policy autoescapes and its ``text`` filter is plain HTML escaping. The Markdown policy
does not autoescape; its ``text`` turns ASCII punctuation into numeric character references (dots,
commas, hyphens and slashes stay where they mean nothing), so the text cannot open HTML, Markdown
or Liquid syntax, cannot close a quoted attribute or Liquid string, and still reads the same once
rendered: Jekyll runs Liquid first, and the references are decoded only later, by kramdown or the
browser. Data for scripts (:func:`script_json`) is JSON with ``<``, ``>`` and ``&`` escaped too.

The Hugo policy is the Markdown one (the references also keep Hugo's shortcode delimiters
``{{<`` and ``{{%`` from forming) with two filters of its own: front matter strings as plain YAML
(Hugo's Go templates escape what they print) and the parameters of Hugo's ``figure`` shortcode
that it prints through those templates (:func:`shortcode_text`).
"""

from __future__ import annotations

import html
import json
import re
import string
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import markupsafe

_UNSAFE_CATEGORIES = {"Cc", "Cs", "Zl", "Zp"}  # controls, lone surrogates, line/para separators
_NON_CHARACTERS = {"\ufffe", "\uffff"}
_READABLE_PUNCTUATION = ".,-/"  # no syntax of their own, except in the positions below
_AS_REFERENCES = {
    ord(char): f"&#{ord(char)};" for char in string.punctuation if char not in _READABLE_PUNCTUATION
}
# Where dots and hyphens do mean something: as a list marker at the start ("- x", "1. x") and
# in runs (kramdown typography turns "--" and "..." into dashes and ellipses).
_MEANINGFUL_DOTS_AND_HYPHENS = re.compile(r"^(?:\d+\.|-)(?=\s|$)|\.{2,}|-{2,}")
_LIQUID_AS_REFERENCES = {ord(char): f"&#{ord(char)};" for char in "{}%"}


def _dots_and_hyphens_as_references(match: re.Match[str]) -> str:
    return "".join(f"&#{ord(char)};" if char in ".-" else char for char in match.group())


def one_line(value: object) -> str:
    """``value`` as printable text on one line, so it can never start a block of its own.

    Control characters, line breaks and lone surrogates (undecodable file names) become spaces,
    and runs of white space one space.
    """
    text = str(value)
    if text.isprintable():  # none of those characters: the common case, without a scan
        return " ".join(text.split())
    text = "".join(
        " " if unicodedata.category(char) in _UNSAFE_CATEGORIES or char in _NON_CHARACTERS else char
        for char in text
    )
    return " ".join(text.split())


def html_text(value: object) -> markupsafe.Markup:
    """Untrusted text for an HTML page (content or quoted attribute); Markup passes through."""
    if isinstance(value, markupsafe.Markup):
        return value
    return markupsafe.escape(one_line(value))


def markdown_text(value: object) -> str:
    """Untrusted text for a Markdown page, inert for HTML, Markdown (GFM, kramdown) and Liquid.

    ASCII punctuation becomes numeric character references, so no tag, emphasis, link, table
    cell, Liquid delimiter or closing quote can form wherever the text is placed (inline
    Markdown, HTML content or attributes, a quoted Liquid include parameter). Dots, commas,
    hyphens and slashes stay readable where they cannot mean anything.
    """
    text = one_line(value).translate(_AS_REFERENCES)
    return _MEANINGFUL_DOTS_AND_HYPHENS.sub(_dots_and_hyphens_as_references, text)


def yaml_quoted(value: object) -> str:
    """Untrusted text as a double-quoted YAML scalar for Jekyll front matter.

    The value is HTML-escaped with Liquid delimiters as references because layouts such as
    al-folio's print ``page.title`` and ``page.tags`` unescaped; after escaping, only the
    backslash is special inside YAML double quotes.
    """
    escaped = html.escape(one_line(value)).translate(_LIQUID_AS_REFERENCES)
    return '"' + escaped.replace("\\", "\\\\") + '"'


def front_matter_text(value: object) -> str:
    """Untrusted text as a double-quoted YAML scalar that is also inert inside a JSON string:
    :func:`yaml_quoted` with the backslash as a reference too, as al-folio's distill layout
    prints ``page.title``, ``page.description`` and author names into a JSON script."""
    escaped = html.escape(one_line(value)).translate(_LIQUID_AS_REFERENCES)
    return '"' + escaped.replace("\\", "&#92;") + '"'


def yaml_string(value: object) -> str:
    """Untrusted text as a double-quoted YAML scalar that reads back as the text itself, for
    front matter that Hugo's Go templates print escaped (title, tags)."""
    return json.dumps(one_line(value), ensure_ascii=False)


def shortcode_text(escaped: str) -> str:
    """Text the ``text`` filter made page-ready (:func:`markdown_text`) as a quoted parameter of a
    Hugo shortcode that prints it as plain text through Go's html/template, which escapes it
    again (the figure's ``alt``): the references are undone (every ``&`` of the text is one) and
    the text quoted raw, in backquotes, where nothing is special; text with a backquote is
    double-quoted, where only ``\"`` is an escape and Hugo drops every other backslash, so a
    backslash shows as U+29F5 (reverse solidus operator)."""
    text = html.unescape(escaped)
    if "`" not in text:
        return f"`{text}`"
    return '"' + text.replace("\\", "\u29f5").replace('"', '\\"') + '"'


def number(value: int) -> str:
    """A count as the report's prose writes it: thousands separators from 10,000 on (9999
    stays as it is, as style guides ask for four-digit numbers)."""
    return f"{value:,}" if abs(value) > 9999 else str(value)


def param_value(value: object) -> str:
    """A parameter's value as shown in the parameters table (JSON spelling of none/true/false)."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


@dataclass(frozen=True, eq=False)
class Escaping:
    """An escaping policy: Jinja autoescape on or off, and the filters applied to user text."""

    autoescape: bool
    filters: Mapping[str, Callable[[Any], str]]


# Every template of the HTML environment is HTML, including the shared *.j2 partials that
# select_autoescape would not recognise by extension, so autoescape is simply on.
HTML_ESCAPING = Escaping(autoescape=True, filters={"text": html_text})
MARKDOWN_ESCAPING = Escaping(
    autoescape=False, filters={"text": markdown_text, "yaml_quoted": yaml_quoted}
)
HUGO_ESCAPING = Escaping(
    autoescape=False,
    filters={"text": markdown_text, "yaml_string": yaml_string, "shortcode_text": shortcode_text},
)


def script_json(value: Any) -> str:
    """JSON for a script: ASCII only (so U+2028/9 are escaped too), and no ``<``, ``>`` or ``&``
    that HTML could see, so no string in it can end the script."""
    text = json.dumps(value, ensure_ascii=True, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
