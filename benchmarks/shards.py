"""A build from Parquet shards against a build from a folder of the same images.

    python -m benchmarks.shards [--rows 2000] [--shards 4] [--rounds 3] [--json FILE]

Writes ``--rows`` small random PNGs (``benchmarks.run.random_images``) as a folder and, the
same bytes with a label each, as ``--shards`` Parquet files; then times ``reportgen build``
(tiny random ViT, on the CPU, a fresh cache each time) of each, alternating, in a fresh process
each, timing the build inside the process (imports and startup left out, as they are the same).
Prints each one's best images per second, the ratio shards / folder of those, and the median of
each round's ratio (steadier on a shared machine); the issue asks for it within 10% of 1.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.run import ROOT, TINY, random_images, save_random_vit

# One build in a fresh process; prints its seconds, from the source given to the build's end.
BUILD_SCRIPT = """
import sys, time
from pathlib import Path
from reportgen import api
from reportgen.analysis.sources.shards import ShardsSource
from reportgen.publish.options import ReportOptions, parse_date
kind, inputs, out, model, cache = sys.argv[1:6]
source = ShardsSource(inputs) if kind == "shards" else Path(inputs)
params = api.AnalysisParams(model=model)
execution = api.Execution(device="cpu", cache_dir=Path(cache))
report = ReportOptions(slug="bench", date=parse_date("2026-01-01"), formats=("html",))
start = time.perf_counter()
api.build(source, Path(out), params, report, execution)
print(time.perf_counter() - start)
"""


def write_shards(folder: Path, out: Path, shards: int) -> Path:
    """The images of ``folder`` (sorted) as ``shards`` Parquet files of (image, label)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    paths = sorted(folder.iterdir())
    out.mkdir(parents=True, exist_ok=True)
    size = -(-len(paths) // shards)
    for number, first in enumerate(range(0, len(paths), size)):
        part = paths[first : first + size]
        columns = {
            "image": [path.read_bytes() for path in part],
            "label": [f"class {n % 10}" for n in range(first, first + len(part))],
        }
        pq.write_table(pa.table(columns), out / f"shard-{number:03d}.parquet")
    return out


def build_seconds(kind: str, inputs: str, work: Path, model: Path, run: int) -> float:
    command = [sys.executable, "-c", BUILD_SCRIPT, kind, inputs]
    command += [str(work / f"site-{kind}-{run}"), str(model), str(work / f"cache-{kind}-{run}")]
    result = subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT)
    return float(result.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.shards",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3, help="alternating builds of each")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="reportgen-shards-") as temp:
        work = Path(temp)
        model = save_random_vit(work / "tiny-vit", TINY)
        folder = random_images(work / "images", args.rows)
        shards = write_shards(folder, work / "shards", args.shards)
        inputs = {"folder": str(folder), "shards": str(shards / "*.parquet")}
        seconds: dict[str, list[float]] = {"folder": [], "shards": []}
        for run in range(args.rounds):
            for kind in ("folder", "shards"):
                seconds[kind].append(build_seconds(kind, inputs[kind], work, model, run))
    rates = {kind: args.rows / min(times) for kind, times in seconds.items()}
    # each round's builds ran back to back: their ratio shares the machine's load of the moment
    rounds = [folder / shards for folder, shards in zip(*seconds.values(), strict=True)]
    results = {
        "rows": args.rows,
        "shards": args.shards,
        "build_s": seconds,
        "images_per_s": rates,
        "shards_over_folder": rates["shards"] / rates["folder"],
        "shards_over_folder_by_round": rounds,
        "shards_over_folder_median": statistics.median(rounds),
    }
    for kind in ("folder", "shards"):
        times = ", ".join(f"{value:.1f}" for value in seconds[kind])
        print(f"{kind:>7}: {rates[kind]:7.1f} images/s (build seconds: {times})")
    print(
        f"shards: shards/folder={results['shards_over_folder']:.3f} per image (best of each), "
        f"median of rounds={results['shards_over_folder_median']:.3f}"
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return results


if __name__ == "__main__":
    main()
