"""``python -m benchmarks.run --targets``: every speed figure of issue 22 in one command, each
measured in one run of its own benchmark, then one table of the ratios against their targets.

- faithfulness: seconds per scored image, the old settings over the defaults
  (``benchmarks.faithfulness``, the offline model);
- incremental: a rebuild after adding 20 images to 2,000, and ``reportgen render --title``, as
  fractions of the cold build (``benchmarks.incremental``, through the CLI);
- build against ``fast-vit-rollout`` and against the bare script, whole processes
  (``benchmarks.peer``; needs the peer's own environment, ``--peer-python``).

``make demo``'s figure (a fresh clone, its virtual environment included) is measured by hand as
docs/performance.md describes: it needs a clone and an empty environment.
"""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks import faithfulness, incremental, peer

# (figure, the value from the results, the target, True when higher is better)
TARGETS = (
    ("faithfulness, old settings / defaults", "faithfulness", "speedup", 10.0, True),
    ("rebuild after +20 of 2,000 / cold", "incremental", "added", 0.20, False),
    ("reportgen render --title / cold", "incremental", "title_render", 0.10, False),
    ("build / fast-vit-rollout, whole processes", "peer", "build_over_peer", 1.0, True),
    ("build / bare script, whole processes", "peer", "build_over_bare", 0.90, True),
)
# Printed beside the targets, with none of its own: the build against the bare script with the
# build's own forward pass (oneDNN linear layers), i.e. what the report's work costs.
REPORT_COST = ("build / bare script with oneDNN linears", "peer", "build_over_bare_onednn")


def measure(rounds: int, peer_python: Path | None, images: int, peer_images: int) -> dict:
    """Each benchmark at the sizes its target names (``images``: the incremental build's)."""
    peer_python = peer_python or peer.PEER_PYTHON
    results = {
        "faithfulness": faithfulness.main(["--rounds", str(rounds)]),
        "incremental": incremental.main(["--images", str(images), "--rounds", str(rounds)]),
    }
    if peer_python.is_file():
        results["peer"] = peer.main(
            ["--images", str(peer_images), "--rounds", str(rounds)]
            + ["--peer-python", str(peer_python)]
        )
    else:
        print(f"peer: not measured, no environment with fast-vit-rollout at {peer_python}")
    return results


def value(results: dict, benchmark: str, key: str) -> float | None:
    """A figure from a benchmark's results (incremental: its wall-clock fraction), or None."""
    found = results.get(benchmark)
    if found is None:
        return None
    return found["wall_fractions"][key] if benchmark == "incremental" else found[key]


def print_targets(results: dict) -> None:
    width = max(len(figure) for figure, *_ in TARGETS)
    print(f"{'issue 22 figure':<{width}}  {'measured':>8}  {'target':>8}  met")
    for figure, benchmark, key, target, higher in TARGETS:
        measured = value(results, benchmark, key)
        if measured is None:
            print(f"{figure:<{width}}  {'-':>8}  {target:>8.2f}  not measured")
            continue
        met = measured >= target if higher else measured <= target
        bound = ">=" if higher else "<="
        print(f"{figure:<{width}}  {measured:8.3f}  {bound}{target:6.2f}  {'yes' if met else 'NO'}")
    figure, benchmark, key = REPORT_COST
    measured = value(results, benchmark, key)
    if measured is not None:
        print(f"{figure:<{width}}  {measured:8.3f}  {'':>8}  no target: the report's own cost")


def run_targets(
    rounds: int, peer_python: Path | None, images: int, peer_images: int, json_path: Path | None
) -> dict:
    """Measure, print the table, and write the results as JSON to ``json_path`` if given."""
    results = measure(rounds, peer_python, images, peer_images)
    print_targets(results)
    if json_path:
        json_path.write_text(json.dumps(results, indent=2) + "\n")
    return results
