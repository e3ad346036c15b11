"""The architecture page of the docs lists the package as it is: every module and folder."""

from conftest import ROOT


def architecture_section() -> str:
    return (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")


def test_the_architecture_section_names_every_module_and_folder():
    section = architecture_section()
    package = ROOT / "reportgen"
    modules = [path for path in package.rglob("*.py") if path.name != "__init__.py"]
    folders = [path for path in package.rglob("*") if path.is_dir() and path.name != "__pycache__"]
    missing = [path.name for path in modules if f"{path.name}" not in section]
    missing += [f"{path.name}/" for path in folders if f"{path.name}/" not in section]
    assert missing == []
