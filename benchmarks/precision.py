"""How far half-precision forward passes move the maps from float32, on the offline model.

    python -m benchmarks.precision [--images examples/images] [--json FILE]  (read recursively)

Runs ``analyze`` with ``--dtype float32``, ``bfloat16`` and ``float16`` (on the CPU here; the
same comparison applies to a GPU) with artifacts masked and kept, and reports per map the
median and worst ``max |map - map_float32| / range(map_float32)`` over the images, how often
the map's peak patch is the same, the largest change of spread entropy, how many images keep
their level and how many artifact-mask cells differ.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
MAPS = ("mean", "max", "min", "rollout", "layers")


def compare(reference, other) -> dict:
    """The deviation of analysis ``other`` from ``reference`` (same images, same order)."""
    pairs = list(zip(reference.images, other.images, strict=True))
    records = [(reference.record(a), other.record(b)) for a, b in pairs]
    rows = {}
    for name in MAPS:
        spans, peaks = [], []
        for ours, theirs in records:
            x, y = ours.maps[name], theirs.maps[name]
            spans.append(float(np.abs(x - y).max() / (x.max() - x.min())))
            if x.ndim == 2:
                peaks.append(bool(np.argmax(x) == np.argmax(y)))
        rows[name] = {
            "median": round(float(np.median(spans)), 4),
            "worst": round(max(spans), 4),
            "same_peak": f"{sum(peaks)}/{len(peaks)}" if peaks else None,
        }
    changed = sum(int((x.artifact_mask != y.artifact_mask).sum()) for x, y in records)
    masked = sum(int(x.artifact_mask.sum()) for x, _ in records)
    return {
        "maps_max_abs_diff_over_range": rows,
        "max_entropy_diff": round(max(abs(a.entropy - b.entropy) for a, b in pairs), 6),
        "same_level": f"{sum(a.level == b.level for a, b in pairs)}/{len(pairs)}",
        "artifact_cells_differing": f"{changed} of {masked} masked in float32",
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.precision", description=__doc__)
    parser.add_argument("--images", type=Path, default=ROOT / "examples" / "images")
    parser.add_argument("--model", default="offline:dinov2-small")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    from reportgen import api
    from reportgen.analysis.sources.folder import FolderSource

    report = {}
    with tempfile.TemporaryDirectory(prefix="reportgen-precision-") as temp:
        for artifacts in ("mask", "keep"):
            runs = {
                dtype: api.analyze(
                    FolderSource(args.images, recursive=True),
                    Path(temp) / artifacts / dtype,
                    api.AnalysisParams(model=args.model, dtype=dtype, artifacts=artifacts),
                    api.Execution(device="cpu", use_cache=False, workers=0),
                )
                for dtype in ("float32", "bfloat16", "float16")
            }
            for dtype in ("bfloat16", "float16"):
                report[f"artifacts {artifacts}, {dtype}"] = compare(runs["float32"], runs[dtype])
    print(json.dumps(report, indent=1))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    return report


if __name__ == "__main__":
    main()
