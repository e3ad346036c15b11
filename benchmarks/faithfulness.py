"""Seconds per scored image of faithfulness (deletion and insertion), before and after issue 22,
in one run on the same images, alternating, median of ``--rounds``:

- before: the settings faithfulness had until then, kept reachable: 16 steps and eager attention
  (the maps scored were already the aggregates: max, min, mean, rollout and random). It runs
  through today's code, which also batches across images and lets random's insertion reuse its
  deletion images (137 forwards per image instead of 152), so the ratio understates the gain;
- after: the defaults (``FAITHFULNESS_STEPS`` steps, the fast attention path).

Also printed: forwards per scored image, and how far the areas and the ranking moved.

    python -m benchmarks.faithfulness [--model offline:dinov2-small] [--images 2] [--rounds 3]

``--steps-study FOLDER...`` instead scores every image of each folder at 16 steps and at fewer,
and prints, per folder and number of steps, the largest difference of a map's mean area from
16 steps and whether the ranking is the same: how the default number of steps was chosen
(docs/faithfulness.md).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = {"before": {"steps": 16, "fast": False}, "after": {}}


def scored_items(model_spec: str, folder: Path, count: int, work: Path) -> list:
    """Analyse ``folder`` (subfolders too) and return ``count`` images picked as a build picks
    them, as faithfulness items of their aggregate maps."""
    from reportgen import api, store
    from reportgen.analysis.analyze import _scored_maps
    from reportgen.analysis.execution import Execution
    from reportgen.analysis.faithfulness import FaithfulnessItem
    from reportgen.analysis.sources.folder import FolderSource
    from reportgen.methods.faithfulness import pick_evenly
    from reportgen.results import AnalysisParams

    params = AnalysisParams(model=model_spec)
    execution = Execution(device="cpu", workers=0, cache_dir=work / "cache")
    analysis = api.analyze(FolderSource(folder, recursive=True), work / "store", params, execution)
    picked = [analysis.images[i] for i in pick_evenly([s.level for s in analysis.images], count)]
    records = [store.read_record(work / "store" / "maps" / f"{s.id}.npz", s.name) for s in picked]
    return [FaithfulnessItem(r.seen_image, _scored_maps(r, params)) for r in records]


def run(model_spec: str, folder: Path, count: int, rounds: int) -> dict:
    """Time before and after, alternating; count each setting's forwards per image."""
    from reportgen.analysis.faithfulness import faithfulness
    from reportgen.analysis.model import load, resolve

    with tempfile.TemporaryDirectory() as work:
        items = scored_items(model_spec, folder, count, Path(work))
    loaded = load(resolve(model_spec), "cpu")
    forwards = [0]
    loaded.model.register_forward_pre_hook(
        lambda module, args, kwargs: forwards.__setitem__(
            0, forwards[0] + len(kwargs["pixel_values"])
        ),
        with_kwargs=True,
    )
    seconds: dict[str, list[float]] = {name: [] for name in SETTINGS}
    counted: dict[str, int] = {}
    results = {}
    for _ in range(rounds):
        for name, settings in SETTINGS.items():
            forwards[0] = 0
            start = time.perf_counter()
            results[name] = faithfulness(loaded, items, **settings)
            seconds[name].append((time.perf_counter() - start) / len(items))
            counted[name] = forwards[0] // len(items)
    before, after = results["before"], results["after"]
    median = {name: statistics.median(times) for name, times in seconds.items()}
    return {
        "model": model_spec,
        "images": len(items),
        "steps": {"before": before.steps, "after": after.steps},
        "s_per_scored_image": seconds,
        "median_s_per_scored_image": median,
        "forwards_per_scored_image": counted,
        "speedup": median["before"] / median["after"],
        "max_auc_difference": max(
            abs(getattr(before.maps[name], area) - getattr(after.maps[name], area))
            for name in before.maps
            for area in ("deletion_auc", "insertion_auc")
        ),
        "ranking": {"before": before.ranking(), "after": after.ranking()},
    }


def steps_study(model_spec: str, folder: Path, candidates: tuple[int, ...]) -> dict:
    """Per number of steps, the largest difference of a map's mean deletion or insertion area
    from 16 steps, and the ranking, on every image of ``folder``."""
    from reportgen.analysis.faithfulness import faithfulness
    from reportgen.analysis.model import load, resolve

    with tempfile.TemporaryDirectory() as work:
        items = scored_items(model_spec, folder, 10**9, Path(work))
    loaded = load(resolve(model_spec), "cpu")
    reference = faithfulness(loaded, items, steps=16)
    study = {"images": len(items), "16": {"ranking": reference.ranking(), "difference": 0.0}}
    for steps in candidates:
        result = faithfulness(loaded, items, steps=steps)
        study[str(steps)] = {
            "ranking": result.ranking(),
            "difference": max(
                abs(getattr(result.maps[name], area) - getattr(reference.maps[name], area))
                for name in result.maps
                for area in ("deletion_auc", "insertion_auc")
            ),
        }
    return study


def print_study(studies: dict) -> None:
    for folder, study in studies.items():
        print(f"{folder}: {study['images']} images")
        for steps, row in study.items():
            if steps != "images":
                same = row["ranking"] == study["16"]["ranking"]
                print(
                    f"  {steps} steps: largest difference of a mean area {row['difference']:.4f}, "
                    + ("the same ranking" if same else f"ranking {row['ranking']}")
                )


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="offline:dinov2-small")
    parser.add_argument("--folder", type=Path, default=ROOT / "examples" / "images")
    parser.add_argument("--images", type=int, default=2, help="images scored (default: 2)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--steps-study", type=Path, nargs="+", metavar="FOLDER")
    args = parser.parse_args(argv)
    if args.steps_study:
        studies = {
            str(folder): steps_study(args.model, folder, (2, 3, 4, 8))
            for folder in args.steps_study
        }
        print_study(studies)
        if args.json:
            args.json.write_text(json.dumps(studies, indent=1) + "\n")
        return studies
    result = run(args.model, args.folder, args.images, args.rounds)
    for name in SETTINGS:
        times = ", ".join(f"{value:.1f}" for value in result["s_per_scored_image"][name])
        print(
            f"{name}: {result['steps'][name]} steps, "
            f"{result['forwards_per_scored_image'][name]} forwards per scored image, "
            f"{times} s per scored image (median {result['median_s_per_scored_image'][name]:.1f})"
        )
    same = result["ranking"]["before"] == result["ranking"]["after"]
    print(
        f"ranking before {result['ranking']['before']}, after {result['ranking']['after']} "
        f"({'the same' if same else 'different'}); largest AUC difference "
        f"{result['max_auc_difference']:.3f}"
    )
    print(f"faithfulness before/after per scored image: {result['speedup']:.1f}x")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    main()
