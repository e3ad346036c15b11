"""``python -m benchmarks.run --scale COUNTS``: how builds, reports and pages grow with the
number of images (see ``benchmarks/run.py``)."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.pages import LINKS, clicks_to_every_image, heaviest_pages
from benchmarks.run import OFFLINE, ROOT, TINY, random_images, save_random_vit, timed

# A build in a fresh process: prints its peak RSS (VmHWM, kB) last.
BUILD_SCRIPT = """
import re, sys
from pathlib import Path
from reportgen import api
from reportgen.publish.options import ReportOptions, parse_date
folder, out, model, cache = map(Path, sys.argv[1:5])
params = api.AnalysisParams(model=str(model))
execution = api.Execution(device="cpu", cache_dir=cache)
report = ReportOptions(slug="scale", date=parse_date("2026-01-01"))
api.build(folder, out, params, report, execution)
print(re.search(r"VmHWM:\\s+(\\d+) kB", Path("/proc/self/status").read_text()).group(1))
"""


def build_process(folder: Path, out: Path, model: str, cache: Path) -> tuple[float, float]:
    """Seconds and peak RSS (MiB) of ``reportgen build`` in a fresh process."""
    command = [sys.executable, "-c", BUILD_SCRIPT, str(folder), str(out), model]
    seconds, result = timed(
        subprocess.run,
        [*command, str(cache)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return seconds, int(result.stdout.strip().splitlines()[-1]) / 1024


def scale_point(count: int, model: str, work: Path) -> dict:
    """A cold build of ``count`` images, then a rebuild after adding 20."""
    folder = random_images(work / f"scale-{count}", count, seed=count)
    out, cache = work / f"scale-site-{count}", work / f"scale-cache-{count}"
    from reportgen.analysis.model import resolve

    resolve(model, cache_dir=cache)  # installed before the cold build, as in the main benchmark
    cold, rss = build_process(folder, out, model, cache)
    report = out / "reports" / "scale"
    image_ids = {page.stem for page in report.glob("images/*.html")}
    report_bytes = sum(p.stat().st_size for p in report.rglob("*") if p.is_file())
    maps_bytes = sum(p.stat().st_size for p in (report / "data" / "maps").iterdir())
    explorer_bytes = sum(
        p.stat().st_size for p in (report / "explorer").glob("*.js") if p.stem in image_ids
    )
    weights = heaviest_pages(report)
    clicks = {flavour: clicks_to_every_image(report, flavour) for flavour in LINKS}
    random_images(folder, 20, start=count, seed=count + 1)
    incremental, _ = build_process(folder, out, model, cache)
    return {
        "cold_build_s": cold,
        "incremental_s": incremental,
        "incremental_fraction": incremental / cold,
        "peak_rss_mib": rss,
        "report_bytes_per_image": report_bytes / count,
        "maps_bytes_per_image": maps_bytes / count,
        "explorer_bytes_per_image": explorer_bytes / max(len(image_ids), 1),
        "heaviest_page_bytes": weights,
        "clicks_to_every_image": clicks,
    }


def scale(counts: list[int], json_path: Path | None, model: str = "tiny") -> dict:
    """How builds, reports and pages grow with the number of images (``model``: tiny, a random
    tiny ViT, or offline, ViT-S/14 at 224, for the page weights of a real model)."""
    label = "tiny random ViT" if model == "tiny" else OFFLINE
    results: dict = {"model": label, "image_size": [64, 48], "counts": {}}
    with tempfile.TemporaryDirectory(prefix="reportgen-scale-") as temp:
        work = Path(temp)
        spec = str(save_random_vit(work / "tiny-vit", TINY)) if model == "tiny" else OFFLINE
        for count in counts:
            results["counts"][str(count)] = scale_point(count, spec, work)
    points = results["counts"]
    results["rss_ratio"] = (
        points[str(counts[-1])]["peak_rss_mib"] / points[str(counts[0])]["peak_rss_mib"]
    )
    print_scale(results, counts)
    if json_path:
        json_path.write_text(json.dumps(results, indent=2) + "\n")
    return results


def print_scale(results: dict, counts: list[int]) -> None:
    points = [results["counts"][str(count)] for count in counts]
    weights = points[0]["heaviest_page_bytes"]
    rows = [
        ("cold build (s)", [f"{p['cold_build_s']:.1f}" for p in points]),
        ("rebuild after +20 images / cold", [f"{p['incremental_fraction']:.3f}" for p in points]),
        ("report bytes per image", [f"{p['report_bytes_per_image']:.0f}" for p in points]),
        ("maps bytes per image", [f"{p['maps_bytes_per_image']:.0f}" for p in points]),
        ("explorer data bytes per image", [f"{p['explorer_bytes_per_image']:.0f}" for p in points]),
        *[
            (
                f"heaviest {kind} page + what it loads, {flavour} (MB)",
                [f"{p['heaviest_page_bytes'][flavour][kind] / 1e6:.2f}" for p in points],
            )
            for flavour in weights
            for kind in weights[flavour]
        ],
        *[
            (
                f"most clicks from the front page to an image, {flavour}",
                [str(p["clicks_to_every_image"][flavour]) for p in points],
            )
            for flavour in LINKS
        ],
        ("peak RSS of the build (MiB)", [f"{p['peak_rss_mib']:.0f}" for p in points]),
    ]
    width = max(len(name) for name, _ in rows)
    print(f"scale: {results['model']}, random 64x48 images")
    print(f"{'images':<{width}}  " + "  ".join(f"{count:>8}" for count in counts))
    for name, values in rows:
        print(f"{name:<{width}}  " + "  ".join(f"{value:>8}" for value in values))
    worst = max(
        weight
        for p in points
        for kinds in p["heaviest_page_bytes"].values()
        for weight in kinds.values()
    )
    print(
        f"scale: rss {counts[-1]}/{counts[0]}={results['rss_ratio']:.2f} "
        f"incremental={max(p['incremental_fraction'] for p in points):.3f} "
        f"heaviest page={worst / 1e6:.2f}MB"
    )
