"""Batched forward passes that turn loaded images into per-image attention records.

Only what the maps need is kept per image (CLS rows per layer and head, the rollout, the image
as the model saw it); the full attention tensors live for one batch only, so memory stays flat
however many images there are.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any

import numpy as np

from reportgen.analysis.images import LoadedImage
from reportgen.analysis.model import LoadedModel
from reportgen.methods import maps
from reportgen.methods.maps import RolloutOptions
from reportgen.record import ImageRecord, Prediction

TOP_K = 5


def batched(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def seen_images(pixel_values: np.ndarray, processor: Any) -> np.ndarray:
    """Undo the processor's normalisation: (B, 3, H, W) float -> (B, H, W, 3) uint8."""
    values = pixel_values.astype(np.float64)
    if getattr(processor, "do_normalize", False):
        mean = np.asarray(processor.image_mean, dtype=np.float64).reshape(1, -1, 1, 1)
        std = np.asarray(processor.image_std, dtype=np.float64).reshape(1, -1, 1, 1)
        values = values * std + mean
    scale = processor.rescale_factor if getattr(processor, "do_rescale", False) else 1.0
    values = values / scale
    return np.clip(np.round(values), 0, 255).astype(np.uint8).transpose(0, 2, 3, 1)


def geometry(processor: Any, original_size: tuple[int, int], seen_hw: tuple[int, int]) -> dict:
    """How the processor turned the original image into the model's input, for the manifest."""
    crop = (
        getattr(processor, "crop_size", None)
        if getattr(processor, "do_center_crop", False)
        else None
    )
    return {
        "original_size": list(original_size),
        "model_input_size": [seen_hw[1], seen_hw[0]],
        "processor": type(processor).__name__,
        "resize": dict(processor.size) if getattr(processor, "do_resize", False) else None,
        "center_crop": dict(crop) if crop else None,
        "resample": int(getattr(processor, "resample", 0) or 0),
    }


def top_predictions(probabilities: np.ndarray, labels: dict[int, str]) -> list[Prediction]:
    order = np.argsort(-probabilities, kind="stable")[:TOP_K]
    return [Prediction(labels.get(int(i), str(int(i))), float(probabilities[i])) for i in order]


def extract(
    loaded: LoadedModel,
    images: Iterable[LoadedImage],
    *,
    batch_size: int = 8,
    rollout: RolloutOptions = RolloutOptions(),
) -> Iterator[ImageRecord]:
    """Run the model over ``images`` in batches and yield one record per image, in order."""
    import torch

    summary = loaded.summary
    for batch in batched(images, batch_size):
        inputs = loaded.processor(images=[item.image for item in batch], return_tensors="pt")
        pixels = inputs["pixel_values"].to(loaded.device)
        with torch.inference_mode():
            outputs = loaded.model(pixel_values=pixels, output_attentions=True)
            attentions = [layer.float().cpu().numpy() for layer in outputs.attentions]
            logits = getattr(outputs, "logits", None)
            probabilities = (
                torch.softmax(logits.float(), dim=-1).cpu().numpy() if loaded.labels else None
            )
        seen = seen_images(pixels.float().cpu().numpy(), loaded.processor)
        for index, item in enumerate(batch):
            attn = np.stack([layer[index] for layer in attentions])  # (layers, heads, T, T)
            yield ImageRecord(
                name=item.name,
                sha256=item.sha256,
                size_bytes=item.size_bytes,
                original_size=item.image.size,
                geometry=geometry(loaded.processor, item.image.size, seen.shape[1:3]),
                seen_image=seen[index],
                cls_heads=maps.cls_rows(attn, summary.n_prefix, summary.grid).astype(np.float32),
                rollout=maps.rollout(
                    attn,
                    summary.n_prefix,
                    summary.grid,
                    rollout.head_fusion,
                    rollout.discard_ratio,
                    rollout.start_layer,
                ).astype(np.float32),
                predictions=(
                    top_predictions(probabilities[index], loaded.labels)
                    if probabilities is not None
                    else []
                ),
            )
        del attentions, outputs
