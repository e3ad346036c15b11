"""Entry-point plugins: a broken or clashing plugin is left out with one warning line naming it."""

import logging

import pytest
from conftest import declare_entry_points

from reportgen import plugins


@pytest.fixture
def entry_points(monkeypatch):
    """Declare flavour entry points as an installed package would: (name, "module:attr")."""
    return lambda *pairs: declare_entry_points(monkeypatch, plugins.FLAVOURS, *pairs)


def warnings_of(caplog):
    return [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]


def test_plugins_are_loaded_by_name(entry_points):
    entry_points(("sorted", "builtins:sorted"), ("length", "builtins:len"))
    assert plugins.discover(plugins.FLAVOURS, taken=["html"]) == {"sorted": sorted, "length": len}
    assert plugins.discover(plugins.METHODS, taken=[]) == {}


def test_a_plugin_that_fails_to_import_is_left_out_with_one_line(entry_points, caplog):
    entry_points(("broken", "no_such_module_anywhere:thing"), ("fine", "builtins:len"))
    assert plugins.discover(plugins.FLAVOURS, taken=[]) == {"fine": len}
    [warning] = warnings_of(caplog)
    assert "\n" not in warning
    assert "'broken'" in warning and "no_such_module_anywhere" in warning


def test_a_taken_name_is_left_out(entry_points, caplog):
    entry_points(("html", "builtins:len"), ("twice", "builtins:len"), ("twice", "builtins:abs"))
    assert plugins.discover(plugins.FLAVOURS, taken=["html"]) == {"twice": len}
    taken = warnings_of(caplog)
    assert len(taken) == 2 and all("already taken" in line for line in taken)
    assert "'html'" in taken[0] and "'twice'" in taken[1]


def test_a_plugin_the_registry_refuses_is_left_out(entry_points, caplog):
    entry_points(("number", "builtins:len"), ("text", "builtins:str"))

    def check(name, loaded):
        if loaded is not str:
            raise TypeError(f"{name} is not a flavour\nsecond line")
        return f"checked {name}"

    assert plugins.discover(plugins.FLAVOURS, taken=[], check=check) == {"text": "checked text"}
    [warning] = warnings_of(caplog)
    assert warning.endswith("number is not a flavour second line")
