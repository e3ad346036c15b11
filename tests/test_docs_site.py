"""The documentation site (docs/, mkdocs.yml) says what the code does and builds: the
architecture page lists the package as it is, the commands page every command-line option, the
navigation every page, the README's links lead to files, and ``mkdocs build --strict`` passes,
the example report written in by the mkdocs flavour, with pages that fetch nothing from
outside."""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys

import pytest
import yaml
from conftest import ROOT

from reportgen.cli import build_parser

DOCS = ROOT / "docs"
EXAMPLE_PAGE = "example/index.md"  # written at each build by docs/hooks/example_report.py


def page(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def test_the_architecture_page_names_every_module_and_folder():
    section = page("architecture.md")
    package = ROOT / "reportgen"
    modules = [path for path in package.rglob("*.py") if path.name != "__init__.py"]
    folders = [path for path in package.rglob("*") if path.is_dir() and path.name != "__pycache__"]
    missing = [path.name for path in modules if f"{path.name}" not in section]
    missing += [f"{path.name}/" for path in folders if f"{path.name}/" not in section]
    assert missing == []


def command_options(parser: argparse.ArgumentParser, command: str = "reportgen"):
    """(command, option) for every long option of every command and subcommand."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, subparser in action.choices.items():
                yield from command_options(subparser, f"{command} {name}")
        for option in action.option_strings:
            if option.startswith("--") and option not in ("--help", "--version"):
                yield command, option


def test_the_commands_page_documents_every_option():
    text = page("commands.md")
    options = list(command_options(build_parser()))
    assert ("reportgen build", "--model") in options  # the walk reaches the commands' options
    assert [(command, option) for command, option in options if f"`{option}`" not in text] == []


def nav_pages(entries) -> list[str]:
    pages = []
    for entry in entries:
        value = next(iter(entry.values())) if isinstance(entry, dict) else entry
        pages += nav_pages(value) if isinstance(value, list) else [value]
    return pages


def test_the_navigation_lists_every_page_and_the_example_report():
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    pages = [path.relative_to(DOCS).as_posix() for path in DOCS.rglob("*.md")]
    assert sorted(nav_pages(config["nav"])) == sorted([*pages, EXAMPLE_PAGE])


def test_the_readme_links_lead_to_files():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", readme)
    local = [target for target in targets if "://" not in target]
    assert "docs/commands.md" in local
    assert [target for target in local if not (ROOT / target).exists()] == []


@pytest.mark.mkdocs
def test_the_docs_build_strict_and_fetch_nothing(tmp_path):
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert built.returncode == 0, built.stderr
    pages = list(tmp_path.rglob("*.html"))
    assert (tmp_path / "commands.html").is_file() and len(pages) > 20
    example = (tmp_path / "example" / "index.html").read_text(encoding="utf-8")
    figures = re.findall(r'<img[^>]*src="figures/([^"]+)"', example)
    assert figures and all((tmp_path / "example" / "figures" / name).is_file() for name in figures)
    assert list((tmp_path / "example" / "images").glob("*.html"))  # its image pages
    loaded = re.compile(
        r"<(?:script|img|iframe)[^>]*\bsrc=\"(?:https?:)?//|<link[^>]*href=\"https?:"
    )
    assert [path.name for path in pages if loaded.search(path.read_text(encoding="utf-8"))] == []
