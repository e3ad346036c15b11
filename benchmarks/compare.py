"""A comparison of two reports against building one of them.

    python -m benchmarks.compare [--rows 2000] [--rounds 3] [--json FILE]

Writes ``--rows`` small random PNGs (``benchmarks.run.random_images``), builds their report
with a tiny random ViT of patch 8 and with one of patch 16 (on the CPU, a fresh cache each, in
this process), then compares the two (``reportgen compare``: every map read back, resampled to
the common grid and correlated; charts, every image's figures and thumbnail, the front, gallery
and image pages in html, gfm and jekyll). Prints the seconds of each, the heaviest page of each
kind per flavour with what it loads (issue 9 bounds every page to 3 MB; an html image page counts
the run's explorer it frames, with that page's scripts and data) and the ratio compare / build of
the first report, the same flavours built; the issue asks for under 25%. ``--rounds`` rounds of
the two builds and the comparison, one after the other (so each ratio is taken under the same
load), give the medians printed.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.pages import heaviest_pages, loaded_bytes
from benchmarks.run import TINY, random_images, save_random_vit

FORMATS = ("html", "gfm", "jekyll")
_FRAME = re.compile(r'<iframe\b[^>]*?\ssrc="([^"]+)"')


def page_weights(folder: Path) -> dict[str, dict[str, int]]:
    """Per flavour and kind, the bytes of the comparison's heaviest page with what it loads;
    an html image page with the explorer page it frames and what that loads."""
    weights = heaviest_pages(folder)
    del weights["html, control used"]  # a comparison's pages have no report-wide control

    def framed(page: Path) -> int:
        frames = [page.parent / src for src in _FRAME.findall(page.read_text(encoding="utf-8"))]
        return sum(loaded_bytes(frame.resolve(), "html", folder) for frame in frames)

    weights["html"]["image"] = max(
        loaded_bytes(page, "html", folder) + framed(page) for page in folder.glob("images/*.html")
    )
    return weights


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.compare",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3, help="builds and compares (median)")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    from reportgen import api
    from reportgen.publish import comparison_site
    from reportgen.publish.options import ReportOptions, parse_date

    date = parse_date("2026-01-01")
    rounds = []
    with tempfile.TemporaryDirectory(prefix="reportgen-compare-") as temp:
        work = Path(temp)
        images = random_images(work / "images", args.rows)
        models = {
            name: save_random_vit(work / name, {**TINY, "patch_size": patch})
            for name, patch in (("patch8", 8), ("patch16", 16))
        }
        for number in range(args.rounds):  # builds and compares alternate: the same load
            seconds = {}
            site = work / f"site-{number}"
            reports = []
            for name, model in models.items():
                start = time.perf_counter()
                reports.append(
                    api.build(
                        images,
                        site,
                        api.AnalysisParams(model=str(model)),
                        ReportOptions(slug=name, date=date, formats=FORMATS),
                        api.Execution(device="cpu", cache_dir=work / f"cache-{name}-{number}"),
                    )
                )
                seconds[f"build {name}"] = time.perf_counter() - start
            start = time.perf_counter()
            folder = comparison_site.build(reports, site, date=date, formats=FORMATS)
            seconds["compare"] = time.perf_counter() - start
            print(f"round {number + 1}: " + ", ".join(f"{k} {v:.1f} s" for k, v in seconds.items()))
            rounds.append(seconds)
        weights = page_weights(folder)
    ratios = [one["compare"] / one["build patch8"] for one in rounds]
    seconds = {name: statistics.median(one[name] for one in rounds) for name in rounds[0]}
    results = {
        "rows": args.rows,
        "rounds": args.rounds,
        "seconds": seconds,
        "seconds_by_round": rounds,
        "heaviest_page_bytes": weights,
        "compare_over_build_by_round": ratios,
        "compare_over_build": statistics.median(ratios),
    }
    for name, value in seconds.items():
        print(f"{name:>14}: {value:7.1f} s")
    for flavour, kinds in weights.items():
        shown = ", ".join(f"{kind} {value / 1e6:.2f} MB" for kind, value in kinds.items())
        print(f"{flavour:>14}: heaviest page with what it loads: {shown}")
    print(
        f"compare: compare/build={results['compare_over_build']:.3f} (of the patch-8 build; "
        f"median of {args.rounds} rounds)"
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return results


if __name__ == "__main__":
    main()
