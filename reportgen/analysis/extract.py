"""Batched forward passes that turn loaded images into per-image attention records.

Only what the maps need is kept per image (CLS rows per layer and head, the artifact mask, the
named maps, the image as the model saw it); the full attention tensors live for one batch only,
so memory stays flat however many images there are.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any

import numpy as np

from reportgen.analysis.images import LoadedImage
from reportgen.analysis.model import LoadedModel
from reportgen.analysis.relevance import class_relevance
from reportgen.methods import artifacts, maps, panels
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


def model_inputs(seen: np.ndarray, processor: Any) -> np.ndarray:
    """Redo the processor's rescale and normalisation, no resize: (B, H, W, 3) -> (B, 3, H, W).

    The inverse of :func:`seen_images`, for pixels already at the model's input size.
    """
    values = np.asarray(seen, dtype=np.float32).transpose(0, 3, 1, 2)
    if getattr(processor, "do_rescale", False):
        values = values * np.float32(processor.rescale_factor)
    if getattr(processor, "do_normalize", False):
        mean = np.asarray(processor.image_mean, dtype=np.float32).reshape(1, -1, 1, 1)
        std = np.asarray(processor.image_std, dtype=np.float32).reshape(1, -1, 1, 1)
        values = (values - mean) / std
    return np.ascontiguousarray(values, dtype=np.float32)


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


def _attention_record(
    attn: np.ndarray,
    n_prefix: int,
    grid: tuple[int, int],
    rollout: RolloutOptions,
    mask_artifacts: bool,
    relevance: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """From one image's attention (layers, heads, T, T): raw CLS rows, artifact mask, maps."""
    cls_heads = maps.cls_rows(attn, n_prefix, grid).astype(np.float32)
    mask = artifacts.detect(artifacts.received_attention(attn, n_prefix, grid))
    named = panels.report_maps(
        cls_heads.astype(np.float64).mean(axis=1),
        maps.rollout(
            attn, n_prefix, grid, rollout.head_fusion, rollout.discard_ratio, rollout.start_layer
        ),
        mask=mask if mask_artifacts else None,
        rollout_start_layer=rollout.start_layer,
        relevance=relevance,
    )
    return cls_heads, mask, {name: values.astype(np.float32) for name, values in named.items()}


def artifact_profile(loaded: LoadedModel, n_images: int = 4, seed: int = 0) -> list[float]:
    """Per layer, the median share of CLS attention that falls on artifact patches, over a few
    seeded noise images: the model's own habit, measured once, for ``rollout_start_layer=auto``."""
    import torch
    from PIL import Image

    rng = np.random.default_rng(seed)
    probes = [
        Image.fromarray((rng.random((256, 256, 3)) * 255).astype(np.uint8)) for _ in range(n_images)
    ]
    pixels = loaded.processor(images=probes, return_tensors="pt")["pixel_values"]
    with torch.inference_mode():
        outputs = loaded.model(pixel_values=pixels.to(loaded.device), output_attentions=True)
    attention = torch.stack(outputs.attentions, dim=1).float().cpu().numpy()
    summary = loaded.summary
    shares = [
        artifacts.cls_share(
            maps.layer_maps(attn, summary.n_prefix, summary.grid),
            artifacts.detect(artifacts.received_attention(attn, summary.n_prefix, summary.grid)),
        )
        for attn in attention
    ]
    return [float(value) for value in np.median(np.stack(shares), axis=0)]


@dataclass
class _BatchOutput:
    attentions: list[np.ndarray]  # per layer (B, heads, T, T), float32
    probabilities: np.ndarray | None  # (B, classes) for classifiers
    relevance: np.ndarray | None  # (B, gh, gw) when asked for
    targets: list[int] | None  # the class each relevance map explains


def _forward(
    loaded: LoadedModel, pixels: Any, relevance: bool, target_class: int | None
) -> _BatchOutput:
    """One forward pass; with ``relevance`` it records gradients and adds the maps."""
    import torch

    summary = loaded.summary
    maps_of_batch = targets = None
    if relevance:
        maps_of_batch, targets, outputs = class_relevance(
            loaded.model, pixels, summary.n_prefix, summary.grid, target_class
        )
    else:
        with torch.inference_mode():
            outputs = loaded.model(pixel_values=pixels, output_attentions=True)
    with torch.inference_mode():
        attentions = [layer.detach().float().cpu().numpy() for layer in outputs.attentions]
        logits = getattr(outputs, "logits", None)
        probabilities = (
            torch.softmax(logits.detach().float(), dim=-1).cpu().numpy() if loaded.labels else None
        )
    return _BatchOutput(attentions, probabilities, maps_of_batch, targets)


def extract(
    loaded: LoadedModel,
    images: Iterable[LoadedImage],
    *,
    batch_size: int = 8,
    rollout: RolloutOptions = RolloutOptions(),
    mask_artifacts: bool = True,
    relevance: bool = False,
    target_class: int | None = None,
) -> Iterator[ImageRecord]:
    """Run the model over ``images`` in batches and yield one record per image, in order.

    Artifact patches are always detected and recorded; ``mask_artifacts`` fills them in the
    maps (``--artifacts mask``). ``relevance`` adds class relevance for ``target_class`` (None:
    each image's top-1 class); the model must be a classifier."""
    summary = loaded.summary
    for batch in batched(images, batch_size):
        inputs = loaded.processor(images=[item.image for item in batch], return_tensors="pt")
        pixels = inputs["pixel_values"].to(loaded.device)
        output = _forward(loaded, pixels, relevance, target_class)
        probabilities = output.probabilities
        seen = seen_images(pixels.float().cpu().numpy(), loaded.processor)
        for index, item in enumerate(batch):
            attn = np.stack([layer[index] for layer in output.attentions])  # (L, heads, T, T)
            cls_heads, mask, named = _attention_record(
                attn,
                summary.n_prefix,
                summary.grid,
                rollout,
                mask_artifacts,
                None if output.relevance is None else output.relevance[index],
            )
            yield ImageRecord(
                name=item.name,
                sha256=item.sha256,
                size_bytes=item.size_bytes,
                original_size=item.image.size,
                geometry=geometry(loaded.processor, item.image.size, seen.shape[1:3]),
                seen_image=seen[index],
                cls_heads=cls_heads,
                maps=named,
                artifact_mask=mask,
                predictions=(
                    top_predictions(probabilities[index], loaded.labels)
                    if probabilities is not None
                    else []
                ),
                relevance_target=(
                    loaded.labels.get(output.targets[index], str(output.targets[index]))
                    if output.targets is not None
                    else None
                ),
            )
        del output
