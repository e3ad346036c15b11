"""Seconds per scored image of faithfulness (deletion and insertion), before and after issue 22,
in one run on the same images, alternating, median of ``--rounds``:

- before: the settings faithfulness had until then, kept reachable: 16 steps, eager attention,
  float32 (the maps scored were already the aggregates: max, min, mean, rollout and random). It
  runs through today's code, which also batches across images and lets random's insertion reuse
  its deletion images (137 forwards per image instead of 152), so the ratio understates the gain;
- after: the defaults (``FAITHFULNESS_STEPS`` steps, the fast attention path, and bfloat16
  where this machine computes it natively, else float32: ``--faithfulness-precision auto``);
- after, float32: the defaults but in float32, what every machine gets at least.

Also printed: forwards per scored image, and how far the areas and the ranking moved.

    python -m benchmarks.faithfulness [--model offline:dinov2-small] [--images 2] [--rounds 3]

``--steps-study FOLDER...`` instead scores every image of each folder at 16 steps and at fewer,
and prints, per folder and number of steps, the largest difference of a map's mean area from
16 steps and whether the ranking is the same: how the default number of steps was chosen
(docs/faithfulness.md). ``--precision-study FOLDER...`` does the same for bfloat16 against
float32 at the default steps.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BEFORE = {"steps": 16, "fast": False}


def settings() -> dict[str, dict]:
    """Each setting's arguments of ``faithfulness``: before, after (bfloat16 where this CPU has
    it natively, as ``--faithfulness-precision auto`` decides) and after in float32."""
    from reportgen.analysis.faithfulness import native_bfloat16

    return {"before": BEFORE, "after": {"bfloat16": native_bfloat16("cpu")}, "after, float32": {}}


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
    compared = settings()
    seconds: dict[str, list[float]] = {name: [] for name in compared}
    counted: dict[str, int] = {}
    results = {}
    for _ in range(rounds):
        for name, arguments in compared.items():
            forwards[0] = 0
            start = time.perf_counter()
            results[name] = faithfulness(loaded, items, **arguments)
            seconds[name].append((time.perf_counter() - start) / len(items))
            counted[name] = forwards[0] // len(items)
    before, after = results["before"], results["after"]
    median = {name: statistics.median(times) for name, times in seconds.items()}
    return {
        "model": model_spec,
        "images": len(items),
        "steps": {name: result.steps for name, result in results.items()},
        "precision": {name: result.precision for name, result in results.items()},
        "s_per_scored_image": seconds,
        "median_s_per_scored_image": median,
        "forwards_per_scored_image": counted,
        "speedup": median["before"] / median["after"],
        "speedup_float32": median["before"] / median["after, float32"],
        "max_auc_difference": largest_difference(before, after),
        "ranking": {name: result.ranking() for name, result in results.items()},
    }


def largest_difference(reference, result) -> float:
    """The largest difference of a map's mean deletion or insertion area between two results."""
    return max(
        abs(getattr(result.maps[name], area) - getattr(reference.maps[name], area))
        for name in reference.maps
        for area in ("deletion_auc", "insertion_auc")
    )


def study(model_spec: str, folder: Path, reference: dict, candidates: dict[str, dict]) -> dict:
    """Score every image of ``folder`` with the ``reference`` settings and each candidate's, and
    per candidate give the largest difference of a map's mean area from the reference and the
    ranking."""
    from reportgen.analysis.faithfulness import faithfulness
    from reportgen.analysis.model import load, resolve

    with tempfile.TemporaryDirectory() as work:
        items = scored_items(model_spec, folder, 10**9, Path(work))
    loaded = load(resolve(model_spec), "cpu")
    reference_result = faithfulness(loaded, items, **reference)
    rows = {}
    for name, settings in candidates.items():
        result = faithfulness(loaded, items, **settings)
        rows[name] = {
            "ranking": result.ranking(),
            "difference": largest_difference(reference_result, result),
        }
    return {"images": len(items), "reference": reference_result.ranking(), **rows}


def steps_study(model_spec: str, folder: Path, candidates: tuple[int, ...]) -> dict:
    """Per number of steps, the largest difference of a map's mean deletion or insertion area
    from 16 steps, and the ranking, on every image of ``folder``."""
    return study(
        model_spec, folder, {"steps": 16}, {f"{k} steps": {"steps": k} for k in candidates}
    )


def precision_study(model_spec: str, folder: Path) -> dict:
    """bfloat16 forwards against float32 at the default steps, on every image of ``folder``."""
    return study(model_spec, folder, {}, {"bfloat16": {"bfloat16": True}})


def print_study(studies: dict, reference: str) -> None:
    for folder, rows in studies.items():
        print(f"{folder}: {rows['images']} images, against {reference}")
        for name, row in rows.items():
            if name not in ("images", "reference"):
                same = row["ranking"] == rows["reference"]
                print(
                    f"  {name}: largest difference of a mean area {row['difference']:.4f}, "
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
    parser.add_argument("--precision-study", type=Path, nargs="+", metavar="FOLDER")
    args = parser.parse_args(argv)
    if args.steps_study or args.precision_study:
        if args.steps_study:
            studies = {
                str(folder): steps_study(args.model, folder, (2, 3, 4, 8))
                for folder in args.steps_study
            }
            print_study(studies, "16 steps")
        else:
            studies = {
                str(folder): precision_study(args.model, folder) for folder in args.precision_study
            }
            print_study(studies, "float32")
        if args.json:
            args.json.write_text(json.dumps(studies, indent=1) + "\n")
        return studies
    result = run(args.model, args.folder, args.images, args.rounds)
    for name in result["steps"]:
        times = ", ".join(f"{value:.1f}" for value in result["s_per_scored_image"][name])
        print(
            f"{name}: {result['steps'][name]} steps, {result['precision'][name]}, "
            f"{result['forwards_per_scored_image'][name]} forwards per scored image, "
            f"{times} s per scored image (median {result['median_s_per_scored_image'][name]:.1f})"
        )
    rankings = result["ranking"]
    same = rankings["before"] == rankings["after"] == rankings["after, float32"]
    print(
        f"ranking before {rankings['before']}, after {rankings['after']} "
        f"({'the same' if same else 'different'}); largest AUC difference before/after "
        f"{result['max_auc_difference']:.3f}"
    )
    print(
        f"faithfulness before/after per scored image: {result['speedup']:.1f}x "
        f"({result['speedup_float32']:.1f}x in float32)"
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    main()
