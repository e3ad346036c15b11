"""Pointing game on composite images: does each map's peak land on the object?

An object photo from ``examples/images`` is pasted at a seeded random place on a texture photo
(brick, grass, gravel, deep sky). The composites are 256 x 256, so a processor that resizes the
shortest edge to 256 and centre-crops 224 (DINOv2's) keeps the object's box exact; other
processors are handled by mapping the box through the recorded geometry. A map *hits* when the
centre of its highest patch lies inside the object's box.

    python -m benchmarks.pointing_game [--model offline:dinov2-small] [--images 40] [options]

prints the hit rate of every stored map (each layer, max, min, mean, rollout and relevance when
asked for) for the analysis options given, e.g. ``--artifacts keep --rollout-start-layer 0``
for the behaviour of reportgen 0.1.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks.run import example_photos

TEXTURES = ("brick-wall", "grass", "gravel", "hubble-deep-field")
OBJECTS = (
    "chelsea-cat",
    "coffee-cup",
    "astronaut",
    "camera-man",
    "grace-hopper",
    "greek-coins",
    "falcon9-rocket",
)
CANVAS = 256
MARGIN = 16  # what a 224 centre crop of a 256 canvas cuts on each side


def _square(image: Image.Image) -> Image.Image:
    width, height = image.size
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    return image.crop((left, top, left + side, top + side))


def make_composites(folder: Path, count: int = 40, seed: int = 0) -> dict[str, tuple]:
    """Write ``count`` composites into ``folder``; returns name -> object box (x, y, size) in
    canvas pixels."""
    rng = np.random.default_rng(seed)
    photos = example_photos()
    folder.mkdir(parents=True, exist_ok=True)
    boxes = {}
    for index in range(count):
        texture = Image.open(photos[TEXTURES[index % len(TEXTURES)]]).convert("RGB")
        canvas = texture.resize((CANVAS, CANVAS), Image.Resampling.BILINEAR)
        photo = Image.open(photos[OBJECTS[index % len(OBJECTS)]]).convert("RGB")
        size = int(rng.integers(64, 97))
        x = int(rng.integers(MARGIN, CANVAS - MARGIN - size))
        y = int(rng.integers(MARGIN, CANVAS - MARGIN - size))
        canvas.paste(_square(photo).resize((size, size), Image.Resampling.BILINEAR), (x, y))
        name = f"composite-{index:03d}.png"
        canvas.save(folder / name)
        boxes[name] = (x, y, size)
    return boxes


def _box_in_seen_image(box: tuple, geometry: dict) -> tuple[float, float, float, float]:
    """The object's box (x0, y0, x1, y1) in the pixels the model saw."""
    x, y, size = box
    width, height = geometry["model_input_size"]
    resize = geometry.get("resize") or {}
    scale = resize.get("shortest_edge", CANVAS) / CANVAS if "shortest_edge" in resize else None
    if scale is None:  # resized straight to the input size, no crop
        sx, sy = width / CANVAS, height / CANVAS
        return x * sx, y * sy, (x + size) * sx, (y + size) * sy
    resized = CANVAS * scale
    left, top = (resized - width) / 2, (resized - height) / 2
    return x * scale - left, y * scale - top, (x + size) * scale - left, (y + size) * scale - top


def hits(attention_map: np.ndarray, box: tuple, seen_hw: tuple[int, int]) -> bool:
    """Whether the centre of the map's highest patch lies inside ``box`` (x0, y0, x1, y1)."""
    grid_h, grid_w = attention_map.shape
    row, col = np.unravel_index(np.argmax(attention_map), attention_map.shape)
    centre_y = (row + 0.5) * seen_hw[0] / grid_h
    centre_x = (col + 0.5) * seen_hw[1] / grid_w
    x0, y0, x1, y1 = box
    return bool(x0 <= centre_x <= x1 and y0 <= centre_y <= y1)


def pointing_game(analysis, boxes: dict[str, tuple]) -> dict[str, float]:
    """Hit rate of every stored map of an analysis of composites made by make_composites."""
    from reportgen.methods import registry

    tally: dict[str, list[bool]] = {}
    for image in analysis.images:
        record = analysis.record(image)
        box = _box_in_seen_image(boxes[image.name], record.geometry)
        seen_hw = record.seen_image.shape[:2]
        for number, layer in enumerate(record.maps["layers"], start=1):
            tally.setdefault(f"L{number}", []).append(hits(layer, box, seen_hw))
        for name, values in registry.grid_maps(record.maps).items():
            tally.setdefault(name, []).append(hits(values, box, seen_hw))
    return {name: float(np.mean(results)) for name, results in tally.items()}


def main() -> None:
    from reportgen.analysis.analyze import analyze
    from reportgen.analysis.execution import Execution
    from reportgen.results import AnalysisParams

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="offline:dinov2-small")
    parser.add_argument("--images", type=int, default=40)
    parser.add_argument("--artifacts", default="mask")
    parser.add_argument("--rollout-start-layer", default="auto")
    parser.add_argument("--relevance", action="store_true")
    args = parser.parse_args()
    start = args.rollout_start_layer
    with tempfile.TemporaryDirectory() as temp:
        boxes = make_composites(Path(temp) / "images", args.images)
        params = AnalysisParams(
            model=args.model,
            artifacts=args.artifacts,
            rollout_start_layer=start if start == "auto" else int(start),
            relevance=args.relevance,
        )
        on_cpu = Execution(device="cpu", use_cache=False)
        analysis = analyze(Path(temp) / "images", Path(temp) / "out", params, on_cpu, say=print)
        rates = pointing_game(analysis, boxes)
    print(f"start layer used: {analysis.rollout_start_layer}")
    print("  ".join(f"{name}={rate:.2f}" for name, rate in rates.items()))


if __name__ == "__main__":
    main()
