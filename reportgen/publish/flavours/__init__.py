"""Output flavours by name: html, jekyll, gfm, distill, hugo and mkdocs built in, more from
plugins.

A flavour is one module here defining a :class:`~reportgen.publish.flavours.base.Flavour`
(its templates, escaping policy, layout and options) and one entry in :data:`BUILT_IN`. A
third-party package adds one through the ``reportgen.flavours`` entry point (see
:mod:`reportgen.plugins`): it points to a ``Flavour`` named like the entry point, found the first
time a flavour is looked up.

A flavour's options are stored in the report's manifest next to the report options, each field
as ``<flavour>_<field>`` (``jekyll_include``, ``jekyll_permalink``), so ``render`` keeps them.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
from collections.abc import Iterable, Mapping
from typing import Any

from reportgen import plugins
from reportgen.errors import ReportgenError
from reportgen.publish.flavours import distill, gfm, html, hugo, jekyll, mkdocs
from reportgen.publish.flavours.base import Flavour

BUILT_IN: dict[str, Flavour] = {
    flavour.name: flavour
    for flavour in (
        html.FLAVOUR,
        jekyll.FLAVOUR,
        gfm.FLAVOUR,
        distill.FLAVOUR,
        hugo.FLAVOUR,
        mkdocs.FLAVOUR,
    )
}
DEFAULT_FORMATS = ("html", "jekyll", "gfm")  # what a build writes unless told otherwise


def _checked(name: str, loaded: Any) -> Flavour:
    """A plugin's flavour, refused unless it is a Flavour named like its entry point."""
    if not isinstance(loaded, Flavour):
        raise TypeError(f"{type(loaded).__name__} is not a reportgen Flavour")
    if loaded.name != name:
        raise ValueError(f"its flavour is named {loaded.name!r}")
    return loaded


@functools.cache
def registry() -> dict[str, Flavour]:
    """Every flavour by name: the built-in ones, then the plugins' (found once)."""
    return {**BUILT_IN, **plugins.discover(plugins.FLAVOURS, taken=BUILT_IN, check=_checked)}


def names() -> list[str]:
    """The flavours' names, for the command line's help and error messages."""
    return list(registry())


def check_names(formats: Iterable[str]) -> tuple[str, ...]:
    """``formats`` (at least one), or a one-line error naming the unknown ones and the choices."""
    formats = tuple(formats)
    unknown = [name for name in formats if name not in registry()]
    if unknown or not formats:
        raise ReportgenError(
            f"unknown format {', '.join(unknown) or '(none)'}; choose from {', '.join(names())}"
        )
    return formats


def get(name: str) -> Flavour:
    """The flavour called ``name``, or a one-line error listing the choices."""
    return registry()[check_names([name])[0]]


def help_text() -> str:
    """The flavours as the --format help lists them: ``html (standalone page), ...``."""
    return ", ".join(f"{flavour.name} ({flavour.description})" for flavour in registry().values())


# --- the flavours' own options ---------------------------------------------------------------


def _with_options() -> list[Flavour]:
    return [flavour for flavour in registry().values() if flavour.options_class is not None]


def add_arguments(group: argparse._ArgumentGroup, *, defaults: bool) -> None:
    """Every flavour's command line options (``defaults``: for build, else for render)."""
    for flavour in registry().values():
        flavour.add_arguments(group, defaults=defaults)


def given_options(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """The flavours' options given on the command line: flavour -> {field: value}."""
    given = {}
    for flavour in _with_options():
        fields = [field.name for field in dataclasses.fields(flavour.options_class)]
        values = {field: getattr(args, f"{flavour.name}_{field}", None) for field in fields}
        if changes := {field: value for field, value in values.items() if value is not None}:
            given[flavour.name] = changes
    return given


def options(
    changes: Mapping[str, Mapping[str, Any]] | None = None,
    stored: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The options of every flavour that has some: the ``stored`` ones (else the defaults) with
    ``changes`` (flavour -> {field: value}) applied, checked by their flavour."""
    changes, stored = changes or {}, stored or {}
    return {
        flavour.name: flavour.validated(
            dataclasses.replace(
                stored.get(flavour.name) or flavour.options_class(), **changes.get(flavour.name, {})
            )
        )
        for flavour in _with_options()
    }


def options_to_json(options: Mapping[str, Any]) -> dict[str, Any]:
    """The flavours' options as manifest entries: ``<flavour>_<field>``: value."""
    return {
        f"{name}_{field}": value
        for name, values in options.items()
        for field, value in dataclasses.asdict(values).items()
    }


def options_from_json(data: dict[str, Any]) -> dict[str, Any]:
    """The flavours' options read from manifest entries, taken out of ``data``; fields a
    manifest lacks (written before the field existed) get their defaults."""
    stored = {}
    for flavour in _with_options():
        values = {}
        for field in dataclasses.fields(flavour.options_class):
            key = f"{flavour.name}_{field.name}"
            if key in data:
                values[field.name] = data.pop(key)
        stored[flavour.name] = flavour.options_class(**values)
    return stored


def standalone_page(formats: Iterable[str], preferred: str | None = None) -> str | None:
    """The page to link to in a report folder written in ``formats``: the ``preferred``
    flavour's when it stands in the folder, else a web page (html), else the first page that
    stands in the folder (gfm); None when no page does."""
    written = [name for name in formats if name in registry()]
    web_first = sorted(written, key=lambda name: not registry()[name].web_page)
    for name in (preferred, *web_first):
        if name in written and registry()[name].standalone:
            return registry()[name].layout.page
    return None
