"""Incremental builds through the CLI, as a user runs them: what a rebuild costs after a change.

    python -m benchmarks.incremental [--images 2000] [--added 20] [--rounds 1] [--pca MODE]
        [--json FILE]

On ``--images`` small random images (64x48) and a tiny random ViT, each command a fresh
``reportgen`` process with one site and one cache kept throughout:

1. cold: ``reportgen build DIR --slug big --out SITE`` into an empty site and cache;
2. +N images: ``--added`` images put in DIR, the same command again (version 2 keeps 1);
3. title, rebuild: the same command with another ``--title`` (version 3);
4. title, render: ``reportgen render SITE/reports/big --title ...`` (same version).

Each command starts after ``sync`` (:func:`_reportgen`). Prints the seconds of each and each
one's fraction of the cold build; with ``--rounds`` above 1, the cold build and the rebuilds are
measured again on fresh sites and the medians are taken.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.run import ROOT, TINY, random_images, save_random_vit

STEPS = ("cold", "added", "title_rebuild", "title_render")
CLOCKS = ("wall", "cpu")


def _tree_cpu(root: int) -> dict[int, float]:
    """CPU seconds (user + system) so far of process ``root`` and of every process below it
    (its worker processes are children of a fork server), read from /proc."""
    parents, times = {}, {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        pid = int(stat.parent.name)
        parents[pid] = int(fields[1])
        times[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    tree = {root}
    while grown := {pid for pid, parent in parents.items() if parent in tree} - tree:
        tree |= grown
    return {pid: times[pid] for pid in tree if pid in times}


def _reportgen(*arguments: str | Path) -> tuple[float, float]:
    """Wall and CPU seconds of one ``reportgen`` command in a fresh process (it must succeed).
    CPU seconds are those of all its processes, polled (the last 0.1 s of a process that ends
    between polls is missed): on a machine shared with other work they vary less than wall time.
    The command starts after ``sync``, on a disk with nothing left to write, as a user's rebuild
    does: else it would pay for the writeback of the 100,000 files of the build just before.
    """
    command = [sys.executable, "-m", "reportgen.cli", *map(str, arguments)]
    os.sync()
    with tempfile.TemporaryFile("w+") as errors:
        start = time.perf_counter()
        process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=errors)
        cpu: dict[int, float] = {}
        while process.poll() is None:
            cpu.update(_tree_cpu(process.pid))
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=0.1)  # the clock stops when it ends, not at the next poll
        wall = time.perf_counter() - start
        if process.returncode:
            errors.seek(0)
            raise RuntimeError(f"{' '.join(command)} failed: {errors.read()}")
    return wall, sum(cpu.values())


def one_round(
    work: Path, model: Path, images: int, added: int, round_: int, pca: str | None = None
) -> dict:
    """The four commands of the module doc on a fresh folder, site and cache: each one's wall
    and CPU seconds (``pca``: the builds' ``--pca``, else its default)."""
    folder = random_images(work / f"images-{round_}", images, seed=images + round_)
    site, cache = work / f"site-{round_}", work / f"cache-{round_}"
    build = ["build", folder, "--slug", "big", "--out", site, "--model", model]
    build += ["--cache-dir", cache, *(["--pca", pca] if pca else [])]
    seconds = {"cold": _reportgen(*build)}
    random_images(folder, added, start=images, seed=images + round_ + 1000)
    seconds["added"] = _reportgen(*build)
    kept = _kept_records(site / "reports" / "big")
    seconds["title_rebuild"] = _reportgen(*build, "--title", "Another title")
    report = site / "reports" / "big"
    seconds["title_render"] = _reportgen(
        "render", report, "--title", "A third title", "--cache-dir", cache
    )
    times = {
        clock: {step: times[index] for step, times in seconds.items()}
        for index, clock in enumerate(CLOCKS)
    }
    return {**times, "kept_records": kept}


def _kept_records(report: Path) -> list[int]:
    """[records of the first build whose file the rebuild kept byte for byte (features panel
    included: the same colours), records of the first build]."""
    earlier = sorted((report / "versions/1/data/maps").glob("*.npz"))
    now = report / "data/maps"
    same = sum((now / file.name).read_bytes() == file.read_bytes() for file in earlier)
    return [same, len(earlier)]


def measure(images: int, added: int, rounds: int, pca: str | None = None) -> dict:
    with tempfile.TemporaryDirectory(prefix="reportgen-incremental-") as temp:
        work = Path(temp)
        model = save_random_vit(work / "tiny-vit", TINY)
        runs = [one_round(work, model, images, added, round_, pca) for round_ in range(rounds)]
    results: dict = {
        "model": "tiny random ViT",
        "images": images,
        "added": added,
        "rounds": rounds,
        "pca": pca or "default",
        "runs": runs,
    }
    for clock in CLOCKS:
        seconds = {step: statistics.median(run[clock][step] for run in runs) for step in STEPS}
        results[f"{clock}_s"] = seconds
        results[f"{clock}_fractions"] = {
            step: seconds[step] / seconds["cold"] for step in STEPS[1:]
        }
    return results


LABELS = {
    "cold": "cold build",
    "added": "rebuild after +N images",
    "title_rebuild": "rebuild with another --title",
    "title_render": "reportgen render --title",
}


def report(results: dict) -> None:
    print(
        f"incremental: {results['model']}, {results['images']} random 64x48 images, "
        f"+{results['added']}, --pca {results['pca']}, median of {results['rounds']}"
    )
    print(f"  {'':<30} {'wall s':>8} {'of cold':>8} {'CPU s':>8} {'of cold':>8}")
    for step in STEPS:
        cells = []
        for clock in CLOCKS:
            fraction = results[f"{clock}_fractions"].get(step)
            cells += [
                f"{results[f'{clock}_s'][step]:8.1f}",
                f"{fraction:8.3f}" if fraction else " " * 8,
            ]
        print(f"  {LABELS[step]:<30} {' '.join(cells)}")
    wall, cpu = results["wall_fractions"], results["cpu_fractions"]
    for run in results["runs"]:
        same, earlier = run["kept_records"]
        print(f"  records of the first build kept byte for byte by the rebuild: {same}/{earlier}")
    print(
        f"incremental: added/cold={wall['added']:.3f} (CPU {cpu['added']:.3f}; target <= 0.20) "
        f"title_rebuild/cold={wall['title_rebuild']:.3f} (CPU {cpu['title_rebuild']:.3f}) "
        f"title_render/cold={wall['title_render']:.3f} (CPU {cpu['title_render']:.3f}; "
        "target <= 0.10)"
    )


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.incremental",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--images", type=int, default=2000, help="images of the cold build")
    parser.add_argument("--added", type=int, default=20, help="images added before the rebuild")
    parser.add_argument("--rounds", type=int, default=1, help="fresh sites measured (median)")
    parser.add_argument("--pca", help="the builds' --pca (default: reportgen's)")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    results = measure(args.images, args.added, args.rounds, args.pca)
    report(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return results


if __name__ == "__main__":
    main()
