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
the one the model saw, already at its input size. All perturbed images of an image are deduplicated
(deletion's first step is insertion's last, and so on) and run in batches under inference mode.
"""

from __future__ import annotations

from collections.abc import Sequence
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


def _outputs(loaded: LoadedModel, pixels: np.ndarray) -> np.ndarray:
    """Class probabilities (classifier), or final CLS or pooled embeddings (backbone), (B, D)."""
    import torch

    inputs = torch.from_numpy(pixels).to(loaded.device, dtype=loaded.dtype)
    output = loaded.model(pixel_values=inputs)
    if loaded.labels is not None:
        return torch.softmax(output.logits.float(), dim=-1).cpu().numpy()
    if loaded.pooler is not None:
        return output.pooler_output.float().cpu().numpy()
    return output.last_hidden_state[:, 0].float().cpu().numpy()


def _scores(
    outputs: np.ndarray, reference: int, target: int | None, classifier: bool
) -> np.ndarray:
    """Per perturbed image, the target's probability or the cosine to the reference row."""
    if classifier:
        return outputs[:, int(np.argmax(outputs[reference])) if target is None else target]
    outputs = outputs.astype(np.float64)
    norms = np.linalg.norm(outputs, axis=1) * np.linalg.norm(outputs[reference])
    return outputs @ outputs[reference] / np.maximum(norms, 1e-12)


def _image_curves(
    loaded: LoadedModel,
    item: FaithfulnessItem,
    orders: list[np.ndarray],
    baseline: str,
    steps: int,
    batch_size: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Deletion and insertion curves, each (orders, steps + 1), of one image."""
    summary = loaded.summary
    image, base = model_inputs(
        np.stack(
            [
                item.seen_image,
                baseline_image(item.seen_image, baseline, blur_sigma(summary.patch_size)),
            ]
        ),
        loaded.processor,
    )
    # True = the patch shows the baseline: deletion's first patches, all but insertion's first.
    removed = np.concatenate(
        [np.stack([masks, ~masks]) for masks in (step_masks(order, steps) for order in orders)]
    ).reshape(-1, summary.grid[0] * summary.grid[1])
    unique, inverse = np.unique(removed, axis=0, return_inverse=True)

    def perturbed(rows: list[int]) -> np.ndarray:
        masks = pixel_masks(unique[rows], summary.grid, summary.patch_size, summary.image_size)
        return np.where(masks[:, None], base, image)

    outputs = np.concatenate(
        [_outputs(loaded, perturbed(rows)) for rows in batched(range(len(unique)), batch_size)]
    )
    reference = int(np.flatnonzero(~unique.any(axis=1))[0])  # the unperturbed image
    scores = _scores(outputs, reference, item.target, loaded.labels is not None)
    curves = scores[inverse.ravel()].reshape(len(orders), 2, steps + 1)
    return curves[:, 0], curves[:, 1]


def faithfulness(
    loaded: LoadedModel,
    items: Sequence[FaithfulnessItem],
    *,
    steps: int = 16,
    baseline: str = "blur",
    batch_size: int = 32,
    seed: int = 0,
) -> FaithfulnessResult:
    """Deletion and insertion of every map all ``items`` share, and of a random order.

    The random order is drawn per image from ``(seed, image index)``, so it is the same on every
    run. Each map's areas are the mean over images of each image's area; its curves the mean
    curves. Cost: about ``2 * (maps + 1) * (steps - 1) + 2`` forward passes per image.
    """
    import torch

    if not items:
        raise ReportgenError("faithfulness: no images to score")
    names = shared_map_names(items)
    _check(loaded, items, names, steps, baseline, batch_size)
    n_patches = loaded.summary.grid[0] * loaded.summary.grid[1]
    deletion: dict[str, list[np.ndarray]] = {name: [] for name in (*names, RANDOM)}
    insertion: dict[str, list[np.ndarray]] = {name: [] for name in (*names, RANDOM)}
    with torch.inference_mode():
        for index, item in enumerate(items):
            orders = [patch_order(item.maps[name]) for name in names]
            orders.append(random_order(n_patches, (seed, index)))
            image_deletion, image_insertion = _image_curves(
                loaded, item, orders, baseline, steps, batch_size
            )
            for name, deleted, inserted in zip(
                deletion, image_deletion, image_insertion, strict=True
            ):
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
    )
