"""What a maps file costs and how close its per-head attention stays to the model's float32;
with ``--report N``, what a whole published report weighs per image.

    python -m benchmarks.storage [--model offline:dinov2-small|PATH] [--images 48]
    python -m benchmarks.storage --report 300 [--model offline:dinov2-small] [--work DIR]

Runs the model on the benchmark's images (``benchmarks.run``: the example photos, flipped and
cropped), keeps each record's float32 CLS attention, and for the default 4-bit heads and for
``keep_heads`` (float16) prints: the bytes per image of the maps file and of each array in it,
the time to write one, and the error against float32 of the heads (over their grid's range), of
the layer maps averaged from them (over the map's maximum) and of the spread entropy of a layer
map and of a single head. These are the figures :mod:`reportgen.store` documents.

``--report N`` builds a report of N photos at default options (every default flavour) and prints
its bytes per image over distinct files (hard links counted once) by kind of file
(:mod:`reportgen.publish.weight`), and what each flavour alone adds. The photos are crops of the
13 example photos at seeded random positions and scales (:func:`photo_crops`): the benchmarks
have no other photos, and ``benchmarks.run``'s flips and turns give at most 195.
"""

from __future__ import annotations

import argparse
import collections
import io
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks.run import example_photos, synthesise_images
from reportgen import api, store
from reportgen.analysis import images, model
from reportgen.analysis.execution import Execution
from reportgen.analysis.extract import extract
from reportgen.analysis.sources.folder import FolderSource
from reportgen.publish import flavours, weight
from reportgen.publish.options import ReportOptions, parse_date
from reportgen.record import ImageRecord
from reportgen.results import AnalysisParams


def entropy(grid: np.ndarray) -> float:
    """Spread entropy as reportgen defines it: of the grid normalised to sum 1, over log(n)."""
    share = grid.ravel() / grid.sum()
    share = share[share > 0]
    return float(-(share * np.log(share)).sum() / np.log(grid.size))


def entropy_errors(reference: np.ndarray, stored: np.ndarray) -> list[float]:
    """The entropy difference of every grid of ``stored`` from the same grid of ``reference``."""
    shape = (-1, *reference.shape[-2:])
    pairs = zip(reference.reshape(shape), stored.reshape(shape), strict=True)
    return [abs(entropy(a) - entropy(b)) for a, b in pairs]


def measure(records: list[ImageRecord], keep_heads: bool) -> dict:
    """Bytes, write time and errors of the maps files of ``records``."""
    sizes, seconds, members = [], 0.0, collections.Counter()
    head_error, layer_error, layer_entropy, head_entropy = [], [], [], []
    for record in records:
        start = time.perf_counter()
        payload = store.record_bytes(record, keep_heads)
        seconds += time.perf_counter() - start
        sizes.append(len(payload))
        with zipfile.ZipFile(io.BytesIO(payload)) as archive:
            members.update({item.filename: item.compress_size for item in archive.infolist()})
        heads = record.cls_heads.astype(np.float64)
        stored = store.read_record(io.BytesIO(payload), record.name).cls_heads.astype(np.float64)
        span = np.ptp(heads, axis=(2, 3), keepdims=True)
        head_error.append(np.max(np.abs(stored - heads) / span))
        layers, derived = heads.mean(axis=1), stored.mean(axis=1)
        peak = layers.max(axis=(1, 2), keepdims=True)
        layer_error.append(np.max(np.abs(derived - layers) / peak))
        layer_entropy += entropy_errors(layers, derived)
        head_entropy += entropy_errors(heads, stored)
    count = len(records)
    return {
        "bytes_per_image": float(np.mean(sizes)),
        "largest_file_bytes": int(np.max(sizes)),
        "write_ms_per_image": 1000 * seconds / count,
        "member_bytes_per_image": {name: total / count for name, total in members.items()},
        "head_error_over_grid_range": float(np.max(head_error)),
        "layer_map_error_over_its_max": float(np.max(layer_error)),
        "layer_entropy_error": float(np.max(layer_entropy)),
        "head_entropy_error": float(np.max(head_entropy)),
    }


def photo_crops(folder: Path, count: int, seed: int = 0) -> Path:
    """``count`` distinct photos: crops of the example photos, each from 35% to 90% of its
    photo's sides (aspect 0.75 to 1.25 of the photo's) at a random place, at most 640 pixels."""
    rng = np.random.default_rng(seed)
    sources = list(example_photos().values())
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        with Image.open(sources[index % len(sources)]) as photo:
            width, height = photo.size
            scale = rng.uniform(0.35, 0.9)
            crop_w = int(width * scale)
            crop_h = min(height, int(height * scale * rng.uniform(0.75, 1.25)))
            left = int(rng.integers(0, width - crop_w + 1))
            top = int(rng.integers(0, height - crop_h + 1))
            crop = photo.convert("RGB").crop((left, top, left + crop_w, top + crop_h))
        crop.thumbnail((640, 640))
        crop.save(folder / f"photo{index:04d}.jpg", quality=90)
    return folder


def report_weight(count: int, model_spec: str, work: Path) -> dict:
    """Build a report of ``count`` photo crops at default options; its bytes by kind."""
    report = api.build(
        FolderSource(photo_crops(work / "photos", count)),
        work / "site",
        AnalysisParams(model=model_spec),
        ReportOptions(slug="photos", date=parse_date("2026-01-01")),
        Execution(cache_dir=work / "cache"),
        replace=True,
    )
    trees = {
        name: flavour.layout.root
        for name, flavour in flavours.BUILT_IN.items()
        if flavour.layout.root
    }
    return {
        "model": model_spec,
        "images": count,
        "formats": list(flavours.DEFAULT_FORMATS),
        "bytes_by_kind": weight.breakdown(report),
        "flavour_only_bytes": weight.flavour_only_bytes(report, trees),
    }


def print_report_weight(results: dict) -> None:
    count = results["images"]
    total = sum(results["bytes_by_kind"].values())
    print(
        f"{results['model']}: {count} photos, formats {','.join(results['formats'])}: "
        f"{total / count / 1000:.1f} kB per image over distinct files ({total / 1e6:.1f} MB)"
    )
    for kind, size in results["bytes_by_kind"].items():
        print(f"  {kind:15} {size / count / 1000:6.1f} kB per image  {100 * size / total:4.1f}%")
    for flavour, size in results["flavour_only_bytes"].items():
        print(f"  only for {flavour}: {size / count / 1000:.1f} kB per image")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.storage",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", default="offline:dinov2-small")
    parser.add_argument("--images", type=int, default=48)
    parser.add_argument("--report", type=int, metavar="N", help="weigh a report of N photos")
    parser.add_argument("--work", type=Path, help="keep the photos, site and cache here")
    args = parser.parse_args(argv)
    if args.report:
        with tempfile.TemporaryDirectory(prefix="reportgen-weight-") as temp:
            results = report_weight(args.report, args.model, args.work or Path(temp))
        print_report_weight(results)
        return results
    loaded = model.load(model.resolve(args.model), "cpu")
    with tempfile.TemporaryDirectory(prefix="reportgen-storage-") as temp:
        folder = synthesise_images(Path(temp), args.images)
        files = [images.load(images.read(item)) for item in FolderSource(folder).items()]
        records = list(extract(loaded, files))
    results = {
        "model": args.model,
        "images": len(records),
        "heads_shape": list(records[0].cls_heads.shape),
        "4-bit heads (default)": measure(records, keep_heads=False),
        "float16 heads (keep_heads)": measure(records, keep_heads=True),
    }
    print(f"{args.model}: {len(records)} images, heads {results['heads_shape']}")
    for name in ("4-bit heads (default)", "float16 heads (keep_heads)"):
        figures = results[name]
        members = ", ".join(
            f"{member.removesuffix('.npy')} {size:.0f}"
            for member, size in figures["member_bytes_per_image"].items()
        )
        size = figures["bytes_per_image"]
        print(
            f"{name}: {size:.0f} B/image ({size / 1024:.1f} KiB, "
            f"largest {figures['largest_file_bytes']}), "
            f"written in {figures['write_ms_per_image']:.1f} ms\n  arrays: {members}\n"
            f"  heads within {figures['head_error_over_grid_range']:.2e} of their grid's range; "
            f"layer maps from them within {figures['layer_map_error_over_its_max']:.2e} of "
            f"their max; entropy of a layer within {figures['layer_entropy_error']:.2e}, "
            f"of a head within {figures['head_entropy_error']:.2e}"
        )
    return results


if __name__ == "__main__":
    main()
