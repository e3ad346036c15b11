"""Benchmarks of reportgen against the model's own speed and a naive peer pipeline.

    python -m benchmarks.run [--quick] [--model vit-b|offline|PATH] [--images N] [--json FILE]
    python -m benchmarks.run --scale 1000,10000 [--scale-model tiny|offline] [--json FILE]
    python -m benchmarks.run --targets [--rounds 3] [--peer-python PATH] [--json FILE]

Measures in one run, on one machine: bare forward throughput (the limit), a cold
``reportgen build`` and its ratio to bare, the build against ``benchmarks/bare_forward.py`` as
whole processes (best of ``--rounds`` alternating runs), each stage's throughput on its own and
figures drawn by 1 and by N workers (``benchmarks/speed.py``), re-render and cache-hit rebuild
as fractions of the cold build, peak RSS of ``analyze`` on 100 and 1,000 images, the speedup
over a naive batch-1 + matplotlib pipeline, the bytes of a maps file per image (with
``--model offline``: ViT-S at 224) and the page weight of the committed example report. Prints a
table, writes JSON, and ends with one line of the key ratios.

``--scale`` measures instead how reports grow with the number of images (tiny random ViT, or
the offline ViT-S for a real model's page weights; small random images; a fresh process per
build): for each count, the cold build's time and peak RSS, a rebuild after adding 20 images as
a fraction of it, the report's bytes per image (and its maps files'), the heaviest page of each
kind (front, gallery, image) in each flavour with everything it loads, and the most clicks from
the front page to an image page.

``--targets`` measures instead issue 22's figures against their targets (``benchmarks/targets.py``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from benchmarks import speed
from benchmarks.pages import page_weight

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "images"  # a folder per class


def example_photos() -> dict[str, Path]:
    """The example photos by file stem (``chelsea-cat``), across their class folders."""
    return {path.stem: path for path in sorted(EXAMPLES.glob("*/*.jpg"))}


EXAMPLE_REPORT = ROOT / "site" / "reports" / "example"
VIT_B = dict(
    hidden_size=768,
    num_hidden_layers=12,
    num_attention_heads=12,
    intermediate_size=3072,
    image_size=224,
    patch_size=16,
    num_labels=1000,
)
OFFLINE = "offline:dinov2-small"
TINY = dict(
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=64,
    image_size=32,
    patch_size=8,
    num_labels=10,
)


def save_random_vit(folder: Path, sizes: dict) -> Path:
    """A randomly initialised ViT classifier: the same FLOPs as a trained one."""
    import torch
    import transformers as tf

    torch.manual_seed(0)
    tf.ViTForImageClassification(tf.ViTConfig(**sizes)).save_pretrained(folder)
    side = sizes["image_size"]
    tf.ViTImageProcessor(size={"height": side, "width": side}).save_pretrained(folder)
    return folder


def synthesise_images(folder: Path, count: int, max_side: int | None = None) -> Path:
    """``count`` distinct images from examples/images: originals, then flips and corner crops,
    then the same turned a quarter left, then right (no two files alike, so no image of a run
    is answered by the cache from an earlier one)."""
    folder.mkdir(parents=True, exist_ok=True)
    sources = sorted(example_photos().values(), key=lambda path: path.name)
    variants = [
        lambda im: im,
        ImageOps.mirror,
        ImageOps.flip,
        lambda im: im.crop((0, 0, int(im.width * 0.8), int(im.height * 0.8))),
        lambda im: im.crop((int(im.width * 0.2), int(im.height * 0.2), im.width, im.height)),
    ]
    turns = [None, Image.Transpose.ROTATE_90, Image.Transpose.ROTATE_270]
    if count > len(sources) * len(variants) * len(turns):
        raise ValueError(f"at most {len(sources) * len(variants) * len(turns)} distinct images")
    for index in range(count):
        round_ = index // len(sources)
        variant, turn = variants[round_ % len(variants)], turns[round_ // len(variants)]
        with Image.open(sources[index % len(sources)]) as image:
            picture = variant(image.convert("RGB"))
            picture = picture.transpose(turn) if turn is not None else picture
            if max_side:
                picture.thumbnail((max_side, max_side))
            picture.save(folder / f"img{index:04d}.jpg", quality=90)
    return folder


def timed(function, *args, **kwargs) -> tuple[float, object]:
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return time.perf_counter() - start, result


def bare_throughput(model_spec: str, folder: Path, batch_size: int) -> float:
    """Images/s of the forward pass with attentions, inputs preprocessed beforehand."""
    import torch

    from reportgen.analysis import model

    loaded = model.load(model.resolve(model_spec), "cpu")
    images = [Image.open(p).convert("RGB") for p in sorted(folder.iterdir())]
    batches = [
        loaded.processor(images=images[i : i + batch_size], return_tensors="pt")["pixel_values"]
        for i in range(0, len(images), batch_size)
    ]
    with torch.inference_mode():
        loaded.model(pixel_values=batches[0], output_attentions=True)  # warm-up
        seconds, _ = timed(
            lambda: [loaded.model(pixel_values=b, output_attentions=True) for b in batches]
        )
    return len(images) / seconds


def naive_seconds(model_spec: str, folder: Path, out: Path) -> float:
    """The peers' way: batch 1, attentions, one matplotlib figure with every panel per image."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch
    import torch.nn.functional as F

    from reportgen.analysis import model

    loaded = model.load(model.resolve(model_spec), "cpu")
    n_prefix, grid = loaded.summary.n_prefix, loaded.summary.grid
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    for path in sorted(folder.iterdir()):
        image = Image.open(path).convert("RGB")
        pixels = loaded.processor(images=[image], return_tensors="pt")["pixel_values"]
        with torch.inference_mode():
            attentions = loaded.model(pixel_values=pixels, output_attentions=True).attentions
        stack = torch.stack(attentions)[:, 0]  # layers, heads, T, T
        layer_maps = stack[:, :, 0, n_prefix:].mean(1).reshape(-1, *grid)
        joint = torch.eye(stack.shape[-1])
        for layer in stack.mean(1):
            step = 0.5 * layer + 0.5 * torch.eye(stack.shape[-1])
            joint = (step / step.sum(-1, keepdim=True)) @ joint
        panels = [
            *layer_maps,
            layer_maps.max(0).values,
            layer_maps.min(0).values,
            layer_maps.mean(0),
            joint[0, n_prefix:].reshape(grid),
        ]
        shown = np.asarray(image.resize((224, 224)))
        figure, axes = plt.subplots(1, len(panels) + 1, figsize=(2 * (len(panels) + 1), 2.2))
        axes[0].imshow(shown)
        for ax, panel in zip(axes[1:], panels, strict=True):
            big = F.interpolate(panel[None, None], size=(224, 224), mode="bilinear")[0, 0]
            ax.imshow(shown)
            ax.imshow(big.numpy(), cmap="jet", alpha=0.5)
        for ax in axes:
            ax.axis("off")
        figure.savefig(out / f"{path.stem}.png", dpi=100)
        plt.close(figure)
    return time.perf_counter() - start


def build_seconds(model_spec, folder, site_dir, cache_dir, batch_size, **report) -> float:
    from reportgen import api
    from reportgen.publish.options import ReportOptions, parse_date

    params = api.AnalysisParams(model=model_spec, batch_size=batch_size)
    execution = api.Execution(device="cpu", cache_dir=cache_dir)
    report_options = ReportOptions(slug="bench", date=parse_date("2026-01-01")).changed(**report)
    seconds, _ = timed(api.build, folder, site_dir, params, report_options, execution)
    return seconds


def trust_costs(model_spec: str, folder: Path, work: Path, batch_size: int) -> dict:
    """Extra seconds per image of --relevance (classifiers) and --faithfulness over a plain
    analysis of the same images, each run cold (no cache); faithfulness scores 4 images."""
    from reportgen.analysis.analyze import analyze
    from reportgen.analysis.execution import Execution
    from reportgen.analysis.model import load, resolve
    from reportgen.results import AnalysisParams

    # workers=0: no pool starts in these timings, whose differences are the measure
    execution = Execution(device="cpu", use_cache=False, workers=0)

    def seconds(name: str, **extra) -> float:
        params = AnalysisParams(model=model_spec, batch_size=batch_size, **extra)
        out = work / f"trust-{name}"
        return timed(analyze, folder, out, params, execution, say=lambda _: None)[0]

    count = len(list(folder.iterdir()))
    plain = seconds("plain")
    costs = {"plain_s_per_image": plain / count}
    if load(resolve(model_spec), "cpu").labels:
        costs["relevance_extra_s_per_image"] = (
            seconds("relevance", relevance=True) - plain
        ) / count
    scored = min(4, count)
    faithful = seconds("faithfulness", faithfulness=True, faithfulness_images=scored)
    costs["faithfulness_s_per_scored_image"] = (faithful - plain) / scored
    return costs


def rerender_seconds(report_dir: Path, work: Path) -> float:
    """Re-render after a template change (a user override of the HTML page template)."""
    from reportgen.publish import build
    from reportgen.publish.templates import Templates

    templates = work / "templates"
    templates.mkdir(exist_ok=True)
    text = Templates().file("report.html.j2").read_text()
    (templates / "report.html.j2").write_text(text.replace("</", "<!-- changed --></", 1))
    seconds, _ = timed(build.rerender, report_dir, templates_dir=templates)
    return seconds


# VmHWM, not ru_maxrss: ru_maxrss survives exec, so a child would report the parent's peak.
MEMORY_SCRIPT = """
import re, sys
from pathlib import Path
from reportgen.analysis.analyze import analyze
from reportgen.analysis.execution import Execution
from reportgen.results import AnalysisParams
folder, out, model, cache = map(Path, sys.argv[1:5])
analyze(folder, out, AnalysisParams(model=str(model)), Execution(device="cpu", cache_dir=cache))
print(re.search(r"VmHWM:\\s+(\\d+) kB", Path("/proc/self/status").read_text()).group(1))
"""


def random_images(folder: Path, count: int, start: int = 0, seed: int = 0) -> Path:
    """``count`` small random PNGs named m00000.png ... from ``start`` on."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(start, start + count):
        pixels = (rng.random((48, 64, 3)) * 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"m{index:05d}.png")
    return folder


def peak_rss_mib(count: int, model_dir: Path, work: Path) -> float:
    """Peak RSS of a fresh ``analyze`` process over ``count`` small synthetic images."""
    folder = random_images(work / f"memory-{count}", count, seed=count)
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            MEMORY_SCRIPT,
            str(folder),
            str(work / f"out-{count}"),
            str(model_dir),
            str(work / f"cache-{count}"),
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return int(result.stdout.strip().splitlines()[-1]) / 1024


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="tiny model, few images: proves the harness works (used by tests)",
    )
    parser.add_argument(
        "--model",
        default="vit-b",
        help="vit-b (random ViT-B/16 weights), offline (offline:dinov2-small), "
        "or a model spec reportgen accepts",
    )
    parser.add_argument("--images", type=int, default=96)
    parser.add_argument(
        "--rounds", type=int, default=3, help="alternating whole-process runs of bare and build"
    )
    parser.add_argument(
        "--device",
        default="cpu",
        help="where the whole-process comparison and the stage rates run (the rest: the CPU)",
    )
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument(
        "--memory-images", default="100,1000", help="image counts for the peak-RSS comparison"
    )
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument(
        "--scale",
        metavar="COUNTS",
        help="measure only how reports scale, at these image counts (e.g. 1000,10000)",
    )
    parser.add_argument(
        "--scale-model", choices=("tiny", "offline"), default="tiny", help="model of --scale"
    )
    parser.add_argument(
        "--targets",
        action="store_true",
        help="measure only issue 22's figures against their targets (benchmarks/targets.py)",
    )
    parser.add_argument(
        "--incremental-images", type=int, default=2000, help="--targets: the incremental build"
    )
    parser.add_argument(
        "--peer-python",
        type=Path,
        help="--targets: a Python with fast-vit-rollout, timm and torchvision "
        "(default: benchmarks.peer's)",
    )
    args = parser.parse_args(argv)
    if args.targets:
        from benchmarks.targets import run_targets

        return run_targets(
            args.rounds, args.peer_python, args.incremental_images, args.images, args.json
        )
    if args.scale:
        counts = [int(count) for count in args.scale.split(",")]
        from benchmarks.scale import scale

        return scale(counts, args.json, args.scale_model)
    if args.quick:
        args.images, args.memory_images, args.rounds = 6, "10,40", 1

    label = "tiny random ViT (--quick)" if args.quick else args.model
    results: dict = {
        "model": label,
        "images": args.images,
        "batch_size": args.batch_size,
        "device": args.device,
    }
    with tempfile.TemporaryDirectory(prefix="reportgen-bench-") as temp:
        work = Path(temp)
        tiny = save_random_vit(work / "tiny-vit", TINY)
        if args.quick:
            spec = str(tiny)
        elif args.model == "vit-b":
            spec = str(save_random_vit(work / "vit-b", VIT_B))
        elif args.model == "offline":
            spec = "offline:dinov2-small"
        else:
            spec = args.model
        folder = synthesise_images(work / "images", args.images)

        # "Cold" means no cached results, figures, charts or compiled templates; the model is
        # installed (offline model converted, weight hash known) as after a first use.
        from reportgen.analysis import model

        model.resolve(spec, cache_dir=work / "cache")
        # The limit: the better of two bare runs, one before and one after the cold build.
        bare = bare_throughput(spec, folder, args.batch_size)
        cold = build_seconds(spec, folder, work / "site", work / "cache", args.batch_size)
        bare = max(bare, bare_throughput(spec, folder, args.batch_size))
        report_dir = work / "site" / "reports" / "bench"
        maps_bytes = sum(path.stat().st_size for path in (report_dir / "data" / "maps").iterdir())
        warm = build_seconds(spec, folder, work / "site", work / "cache", args.batch_size)
        rerender = rerender_seconds(report_dir, work)
        naive = naive_seconds(spec, folder, work / "naive")
        trust = trust_costs(spec, folder, work, args.batch_size)
        stages = speed.stage_rates(spec, folder, args.batch_size, work / "cache", args.device)
        from reportgen.workers import available_cores

        render = speed.render_rates(report_dir, sorted({1, available_cores()}))
        whole = speed.build_against_bare(
            spec, folder, work, args.batch_size, args.rounds, args.device
        )
        counts = [int(c) for c in args.memory_images.split(",")]
        rss = {count: peak_rss_mib(count, tiny, work) for count in counts}

    build_rate = args.images / cold
    results.update(
        {
            "bare_images_per_s": bare,
            "build_images_per_s": build_rate,
            "build_over_bare": build_rate / bare,
            "cold_build_s": cold,
            "rerender_s": rerender,
            "rerender_fraction": rerender / cold,
            "cached_rebuild_s": warm,
            "cached_rebuild_fraction": warm / cold,
            "naive_s": naive,
            "speedup_over_naive": naive / cold,
            "speedup_over_naive_process": naive / min(whole["build_process_s"]),
            **whole,
            "stages_images_per_s": stages,
            "render_images_per_s": render,
            "maps_bytes_per_image": maps_bytes / args.images,
            "peak_rss_mib": {str(k): v for k, v in rss.items()},
            "rss_ratio": rss[counts[-1]] / rss[counts[0]],
            "page_weight_bytes": page_weight(EXAMPLE_REPORT) if EXAMPLE_REPORT.is_dir() else None,
            "trust_costs": trust,
        }
    )
    print_table(results, counts)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return results


def print_table(results: dict, counts: list[int]) -> None:
    rows = [
        ("bare forward (images/s)", f"{results['bare_images_per_s']:.2f}"),
        ("cold build (images/s)", f"{results['build_images_per_s']:.2f}"),
        ("build / bare", f"{results['build_over_bare']:.2f}"),
        (
            f"bare script, build: whole processes, best of {len(results['bare_process_s'])} (s)",
            f"{min(results['bare_process_s']):.2f}, {min(results['build_process_s']):.2f}",
        ),
        ("build / bare script, whole processes", f"{results['build_over_bare_process']:.2f}"),
        *[
            (f"stage alone: {name.split('_')[0]} (images/s)", f"{value:.1f}")
            for name, value in results["stages_images_per_s"].items()
        ],
        *[
            (f"figures drawn by {workers} worker(s) (images/s)", f"{value:.1f}")
            for workers, value in results["render_images_per_s"].items()
        ],
        ("re-render after template change / cold build", f"{results['rerender_fraction']:.3f}"),
        ("unchanged rebuild (cache hit) / cold build", f"{results['cached_rebuild_fraction']:.3f}"),
        ("speedup over naive batch-1 + matplotlib", f"{results['speedup_over_naive']:.1f}x"),
        (
            "speedup over naive, build as a whole process",
            f"{results['speedup_over_naive_process']:.1f}x",
        ),
        ("maps file bytes per image", f"{results['maps_bytes_per_image']:.0f}"),
        *[
            (f"peak RSS analyze, {c} images (MiB)", f"{results['peak_rss_mib'][str(c)]:.0f}")
            for c in counts
        ],
        (f"peak RSS ratio {counts[-1]} / {counts[0]}", f"{results['rss_ratio']:.2f}"),
        *[
            (f"{name.replace('_', ' ')}", f"{value:.3f}")
            for name, value in results["trust_costs"].items()
        ],
    ]
    if results["page_weight_bytes"]:
        rows += [
            (f"example page weight, {k} (MB)", f"{v / 1e6:.2f}")
            for k, v in results["page_weight_bytes"].items()
        ]
    width = max(len(name) for name, _ in rows)
    print(
        f"model: {results['model']}, {results['images']} images, batch {results['batch_size']}, "
        f"device {results['device']} (whole processes and stages; the rest on the CPU)"
    )
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    html = (results["page_weight_bytes"] or {}).get("html", 0) / 1e6
    print(
        f"ratios: build/bare={results['build_over_bare']:.2f} "
        f"process={results['build_over_bare_process']:.2f} "
        f"rerender={results['rerender_fraction']:.3f} "
        f"cached={results['cached_rebuild_fraction']:.3f} "
        f"rss={results['rss_ratio']:.2f} speedup={results['speedup_over_naive']:.1f}x "
        f"html={html:.2f}MB maps={results['maps_bytes_per_image'] / 1024:.1f}KB/image"
    )


if __name__ == "__main__":
    main()
