"""--label-map's file: which model class each label of the source means (build, analyze, the
notebook's ``label_map=``), read with one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

from reportgen.errors import ReportgenError


def read(path: Path) -> dict[str, str]:
    """--label-map's file as {source label: model class name}: a JSON object, or a CSV/TSV
    whose every row is one pair (no header; delimiter as for --labels); one-line errors."""
    from reportgen.analysis.sources.csv_file import table_rows

    if path.suffix.lower() != ".json":
        pairs: dict[str, str] = {}
        for line, row in table_rows(path, "--label-map"):
            cells = [cell.strip() for cell in row]
            if len(cells) != 2 or not all(cells):
                raise ReportgenError(
                    f"--label-map: {path} line {line}: expected two cells, a label and the "
                    f"model's class name for it, got {len(cells)}: {row!r}"
                )
            if pairs.setdefault(cells[0], cells[1]) != cells[1]:
                raise ReportgenError(f"--label-map: {path} line {line}: {cells[0]!r} mapped twice")
        return _some(pairs, path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReportgenError(f"--label-map: file not found: {path}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ReportgenError(f"--label-map: cannot read {path}: {error}") from None
    if not isinstance(data, dict) or not all(
        isinstance(value, str) and value.strip() for value in data.values()
    ):
        raise ReportgenError(
            f"--label-map: {path} must hold one JSON object of label: class name pairs "
            '(e.g. {"tabby": "tabby cat"})'
        )
    return _some(data, path)


def _some(pairs: dict[str, str], path: Path) -> dict[str, str]:
    if not pairs:
        raise ReportgenError(f"--label-map: {path} maps no label")
    return pairs
