"""Which attention map to trust: deletion and insertion (Petsiuk et al. 2018) on the model.

For every map name that all items share, plus a random order as the floor, each image is
perturbed patch by patch in the map's order (rules in :mod:`reportgen.methods.faithfulness`) and
the model scores every perturbed image:

- classifiers: the softmax probability of the target class (the item's target, else the top-1
  class of the unperturbed image);
- backbones: the cosine similarity of the final CLS embedding (``last_hidden_state[:, 0]``) to
  the unperturbed image's; for a model without a CLS token, of its pooled embedding
  (``pooler_output``, the attention-pooling head's).

Perturbed patches take the pixels of a baseline image: ``blur`` (a Gaussian blur whose sigma is
the patch's larger side in pixels, so no detail at the scale of a patch survives but the coarse
colours do; Petsiuk et al. blur with sigma 5 at 224 px) or ``mean`` (the image's mean colour).
The pixels go to the model through the processor's rescale and normalisation only: the image is
the one the model saw, already at its input size.

The cost is the forward passes, so each is run once: all perturbed images of an image are
deduplicated (deletion's first step is insertion's last, and so on); random's insertion order is
its deletion order reversed (as random an order), so its insertion images are its deletion images;
and the images of all scored images are batched together. These forwards need no attention
weights, so they run on the model's fastest attention path (:meth:`LoadedModel.outputs`), and in
bfloat16 where the device computes it natively (:func:`forward_precision`): the areas move by
far less than the stated tolerance (docs/faithfulness.md), the forwards take about half the time.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter

from reportgen.analysis.extract import batched, model_inputs
from reportgen.analysis.model import LoadedModel
from reportgen.errors import ReportgenError
from reportgen.methods.faithfulness import (
    RANDOM,
    FaithfulnessResult,
    patch_order,
    random_order,
    score_maps,
    step_masks,
)
from reportgen.results import AUTO, FAITHFULNESS_STEPS

BASELINES = ("blur", "mean")
CLASSIFIER_METRIC = "target probability"
BACKBONE_METRIC = "CLS cosine similarity"
POOLED_METRIC = "pooled embedding cosine similarity"


@dataclass
class FaithfulnessItem:
    """One image to score: as the model saw it, its maps on the patch grid, and a class."""

    seen_image: np.ndarray  # uint8 (H, W, 3) at the model's input size
    maps: dict[str, np.ndarray]  # name -> (grid_h, grid_w)
    target: int | None = None  # classifiers only; None = the unperturbed image's top-1 class


def native_bfloat16(device: str) -> bool:
    """Whether ``device`` computes bfloat16 in hardware: a CPU with AMX or AVX-512 BF16, or a CUDA
    GPU that supports it. Elsewhere bfloat16 is emulated, and slower than float32."""
    import torch

    if device.startswith("cuda"):
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device == "cpu":
        checks = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")  # torch.cpu's probes
        return any(getattr(torch.cpu, check, lambda: False)() for check in checks)
    return False


def forward_precision(choice: str, model_dtype: str, device: str) -> str:
    """The precision faithfulness's forwards run in: a model loaded in reduced precision
    (``--dtype``) runs in its own; else ``auto`` is bfloat16 where the device computes it
    natively and float32 elsewhere, and float32 or bfloat16 are as asked."""
    if model_dtype != "float32":
        return model_dtype
    if choice == AUTO:
        return "bfloat16" if native_bfloat16(device) else "float32"
    return choice


def blur_sigma(patch_size: tuple[int, int]) -> float:
    """The blur baseline's Gaussian sigma in pixels: the patch's larger side."""
    return float(max(patch_size))


def baseline_image(seen_image: np.ndarray, baseline: str, sigma: float) -> np.ndarray:
    """The pixels a perturbed patch takes, float32 (H, W, 3) in [0, 255].

    ``blur`` uses Pillow's GaussianBlur (radius = sigma; edges extended); ``mean`` is the
    image's mean colour everywhere.
    """
    if baseline == "blur":
        blurred = Image.fromarray(seen_image).filter(ImageFilter.GaussianBlur(radius=sigma))
        return np.asarray(blurred, dtype=np.float32)
    if baseline == "mean":
        mean = seen_image.reshape(-1, 3).astype(np.float64).mean(axis=0)
        return np.broadcast_to(mean, seen_image.shape).astype(np.float32)
    raise ReportgenError(f"unknown faithfulness baseline {baseline!r}; choose from blur, mean")


def pixel_masks(
    patch_masks: np.ndarray,
    grid: tuple[int, int],
    patch_size: tuple[int, int],
    image_size: tuple[int, int],
) -> np.ndarray:
    """Patch masks (B, n_patches) -> pixel masks (B, H, W): patch (r, c) covers
    ``[r*ph:(r+1)*ph, c*pw:(c+1)*pw]``; pixels outside the grid (none for ViTs) stay False."""
    (grid_h, grid_w), (patch_h, patch_w) = grid, patch_size
    patches = patch_masks.reshape(-1, grid_h, grid_w)
    pixels = np.zeros((patches.shape[0], *image_size), dtype=bool)
    pixels[:, : grid_h * patch_h, : grid_w * patch_w] = patches.repeat(patch_h, 1).repeat(
        patch_w, 2
    )
    return pixels


def shared_map_names(items: Sequence[FaithfulnessItem]) -> list[str]:
    """The map names every item has, in the first item's order."""
    return [name for name in items[0].maps if all(name in item.maps for item in items)]


def _check(
    loaded: LoadedModel,
    items: Sequence[FaithfulnessItem],
    names: list[str],
    steps: int,
    baseline: str,
    batch_size: int,
) -> None:
    """Refuse what would fail deep inside the loop, in one message."""
    summary = loaded.summary
    problems = []
    if steps < 1:
        problems.append("steps must be at least 1")
    if batch_size < 1:
        problems.append("batch size must be at least 1")
    if baseline not in BASELINES:
        problems.append(f"unknown baseline {baseline!r}; choose from {', '.join(BASELINES)}")
    if RANDOM in names:
        problems.append(f"a map may not be called {RANDOM!r}: that is the random baseline")
    for index, item in enumerate(items):
        if item.seen_image.shape != (*summary.image_size, 3) or item.seen_image.dtype != np.uint8:
            problems.append(
                f"image {index} is {item.seen_image.dtype} {item.seen_image.shape}, the model "
                f"sees uint8 {(*summary.image_size, 3)}"
            )
        problems.extend(
            f"map {name!r} of image {index} is {np.shape(item.maps[name])}, the grid {summary.grid}"
            for name in names
            if np.shape(item.maps[name]) != summary.grid
        )
        if item.target is not None and (
            loaded.labels is None or not 0 <= item.target < len(loaded.labels)
        ):
            problems.append(f"image {index}: target {item.target} is not a class of the model")
    if problems:
        raise ReportgenError("faithfulness: " + "; ".join(problems))


def _scores(
    outputs: np.ndarray, reference: int, target: int | None, classifier: bool
) -> np.ndarray:
    """Per perturbed image, the target's probability or the cosine to the reference row."""
    if classifier:
        return outputs[:, int(np.argmax(outputs[reference])) if target is None else target]
    outputs = outputs.astype(np.float64)
    norms = np.linalg.norm(outputs, axis=1) * np.linalg.norm(outputs[reference])
    return outputs @ outputs[reference] / np.maximum(norms, 1e-12)


@dataclass(frozen=True)
class _Plan:
    """One image's distinct perturbed images and where each curve point reads its score."""

    removed: np.ndarray  # (distinct images, patches) bool: True = the patch shows the baseline
    points: (
        np.ndarray
    )  # (orders, 2, steps + 1): row of ``removed`` of each deletion/insertion point

    @property
    def reference(self) -> int:
        """The row of the unperturbed image."""
        return int(np.flatnonzero(~self.removed.any(axis=1))[0])


def _plan(orders: list[tuple[np.ndarray, np.ndarray]], steps: int) -> _Plan:
    """The distinct perturbed images of (deletion order, insertion order) pairs at ``steps``."""
    removed = np.concatenate(
        [
            np.stack([step_masks(deletion, steps), ~step_masks(insertion, steps)])
            for deletion, insertion in orders
        ]
    )
    unique, inverse = np.unique(removed.reshape(-1, removed.shape[-1]), axis=0, return_inverse=True)
    return _Plan(unique, inverse.reshape(len(orders), 2, steps + 1))


def _perturbed(
    loaded: LoadedModel, items: Sequence[FaithfulnessItem], plans: list[_Plan], baseline: str
) -> Iterator[tuple[int, np.ndarray]]:
    """Every distinct perturbed image as model input (3, H, W), image by image, with the index
    of its image: one image's pixels at a time are held, however many images are scored."""
    summary = loaded.summary
    sigma = blur_sigma(summary.patch_size)
    for index, (item, plan) in enumerate(zip(items, plans, strict=True)):
        image, base = model_inputs(
            np.stack([item.seen_image, baseline_image(item.seen_image, baseline, sigma)]),
            loaded.processor,
        )
        masks = pixel_masks(plan.removed, summary.grid, summary.patch_size, summary.image_size)
        for mask in masks:
            yield index, np.where(mask, base, image)


def _outputs(
    loaded: LoadedModel,
    items: Sequence[FaithfulnessItem],
    plans: list[_Plan],
    baseline: str,
    batch_size: int,
    fast: bool,
    bfloat16: bool,
) -> list[np.ndarray]:
    """Per image, the model's outputs (distinct perturbed images, D), in batches that run
    across images (a batch is filled from the next image's perturbations)."""
    rows: list[list[np.ndarray]] = [[] for _ in items]
    for batch in batched(_perturbed(loaded, items, plans, baseline), batch_size):
        outputs = loaded.outputs(np.stack([pixels for _, pixels in batch]), fast, bfloat16)
        for (index, _), output in zip(batch, outputs, strict=True):
            rows[index].append(output)
    return [np.stack(image_rows) for image_rows in rows]


def faithfulness(
    loaded: LoadedModel,
    items: Sequence[FaithfulnessItem],
    *,
    steps: int = FAITHFULNESS_STEPS,
    baseline: str = "blur",
    batch_size: int = 64,  # bfloat16 (AMX) runs larger batches faster per image
    seed: int = 0,
    fast: bool = True,
    bfloat16: bool = False,
) -> FaithfulnessResult:
    """Deletion and insertion of every map all ``items`` share, and of a random order.

    The random order is drawn per image from ``(seed, image index)``, so it is the same on every
    run. Each map's areas are the mean over images of each image's area; its curves the mean
    curves. Cost: ``(2 * maps + 1) * (steps - 1) + 2`` forward passes per image at most (fewer
    where two curves' images coincide), on the fastest attention path unless ``fast`` is False
    (eager attention, as the maps are made), under bfloat16 autocast when ``bfloat16`` and the
    model is float32 (a model loaded in reduced precision runs in its own; the result records
    the precision). :func:`forward_precision` decides ``--faithfulness-precision``.
    """
    import torch

    if not items:
        raise ReportgenError("faithfulness: no images to score")
    names = shared_map_names(items)
    _check(loaded, items, names, steps, baseline, batch_size)
    weights = loaded.dtype or torch.float32
    autocast = bfloat16 and weights == torch.float32
    n_patches = loaded.summary.grid[0] * loaded.summary.grid[1]
    plans = []
    for index, item in enumerate(items):
        orders = [(order, order) for order in (patch_order(item.maps[name]) for name in names)]
        shuffled = random_order(n_patches, (seed, index))
        plans.append(_plan([*orders, (shuffled, shuffled[::-1])], steps))
    with torch.inference_mode():
        outputs = _outputs(loaded, items, plans, baseline, batch_size, fast, autocast)
    deletion: dict[str, list[np.ndarray]] = {name: [] for name in (*names, RANDOM)}
    insertion: dict[str, list[np.ndarray]] = {name: [] for name in (*names, RANDOM)}
    for item, plan, image_outputs in zip(items, plans, outputs, strict=True):
        scores = _scores(image_outputs, plan.reference, item.target, loaded.labels is not None)
        for name, (deleted, inserted) in zip(deletion, scores[plan.points], strict=True):
            deletion[name].append(deleted)
            insertion[name].append(inserted)
    return FaithfulnessResult(
        metric=(
            CLASSIFIER_METRIC
            if loaded.labels is not None
            else POOLED_METRIC
            if loaded.pooler is not None
            else BACKBONE_METRIC
        ),
        steps=steps,
        images=len(items),
        baseline=baseline,
        maps=score_maps(deletion, insertion),
        precision="bfloat16" if autocast else str(weights).removeprefix("torch."),
    )
