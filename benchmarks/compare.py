"""A comparison of two reports against building one of them.

    python -m benchmarks.compare [--rows 2000] [--json FILE]

Writes ``--rows`` small random PNGs (``benchmarks.run.random_images``), builds their report
with a tiny random ViT of patch 8 and with one of patch 16 (on the CPU, a fresh cache each, in
this process), then compares the two (``reportgen compare``: every map read back, resampled to
the common grid and correlated; charts, movers' figures, the pages). Prints the seconds of each
and the ratio compare / build of the first report; the issue asks for under 25%.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from benchmarks.run import TINY, random_images, save_random_vit


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.compare",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    from reportgen import api
    from reportgen.publish import comparison_site
    from reportgen.publish.options import ReportOptions, parse_date

    date = parse_date("2026-01-01")
    seconds = {}
    with tempfile.TemporaryDirectory(prefix="reportgen-compare-") as temp:
        work = Path(temp)
        images = random_images(work / "images", args.rows)
        reports = []
        for name, patch in (("patch8", 8), ("patch16", 16)):
            model = save_random_vit(work / name, {**TINY, "patch_size": patch})
            start = time.perf_counter()
            reports.append(
                api.build(
                    images,
                    work / "site",
                    api.AnalysisParams(model=str(model)),
                    ReportOptions(slug=name, date=date, formats=("html",)),
                    api.Execution(device="cpu", cache_dir=work / f"cache-{name}"),
                )
            )
            seconds[f"build {name}"] = time.perf_counter() - start
        start = time.perf_counter()
        comparison_site.build(reports, work / "site", date=date, formats=("html",))
        seconds["compare"] = time.perf_counter() - start
    results = {
        "rows": args.rows,
        "seconds": seconds,
        "compare_over_build": seconds["compare"] / seconds["build patch8"],
    }
    for name, value in seconds.items():
        print(f"{name:>14}: {value:7.1f} s")
    print(f"compare: compare/build={results['compare_over_build']:.3f} (of the patch-8 build)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return results


if __name__ == "__main__":
    main()
