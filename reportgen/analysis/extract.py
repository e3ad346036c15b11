"""Batched forward passes that turn loaded images into per-image attention records.

Three steps, so that engines can run each where it fits best (:mod:`reportgen.analysis.engines`):

1. :func:`prepare`: a batch of images through the checkpoint's processor, on the host.
2. :class:`Extractor`: the forward pass and the three reductions of the full attention that the
   maps need (CLS rows, head-fused matrices for rollout, column means for artifacts), and of
   the hidden states (each patch token's norm per layer, the last layer's patch tokens), made
   on the device in float32. On CUDA the pixels go up through pinned memory on a side stream and
   the results come down the same way one batch later, so copies overlap compute. The full
   attention tensors live for one batch only, so memory stays flat.
3. :func:`finish`: the maps of one image from its reductions (pure numpy, ``methods``), in
   float64: a worker's job.

:func:`extract` chains the three in one process.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

import numpy as np

from reportgen.analysis.images import LoadedImage
from reportgen.analysis.model import LoadedModel
from reportgen.analysis.pooling import recorded_probe
from reportgen.analysis.relevance import class_gradients, resolve_target
from reportgen.methods import artifacts, maps, norms, panels
from reportgen.methods.base import MapInputs
from reportgen.methods.maps import HEAD_FUSIONS, RolloutOptions
from reportgen.record import ImageRecord, Prediction
from reportgen.workers import threaded_map

TOP_K = 5


@dataclass(frozen=True)
class ExtractOptions:
    """How records are made from the model's attention (all of it shapes the results)."""

    rollout: RolloutOptions = RolloutOptions()
    mask_artifacts: bool = True  # fill artifact patches in the maps (--artifacts mask)
    relevance: bool = False  # class relevance: one backward pass per batch
    target_class: str | None = None  # class relevance explains, name or id; None: each top-1
    feature_basis: Any = None  # features.FeatureBasis fitted on the report; None: per image
    artifacts_by: str = "attention"  # what finds artifacts: attention, norm or both
    norm_layer: int | None = None  # the layer (from 1) of the artifact score; None: the last


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


@dataclass(frozen=True)
class ImageFacts:
    """What a record says about its input file and how the processor saw it."""

    name: str
    sha256: str
    size_bytes: int
    original_size: tuple[int, int]
    geometry: dict[str, Any]
    seen_image: np.ndarray  # uint8 (H, W, 3)


@dataclass
class PreparedBatch:
    """A batch of images through the processor, on the host."""

    facts: list[ImageFacts]
    pixels: Any  # torch.Tensor float32 (B, 3, H, W)


def prepare(images: list[LoadedImage], processor: Any, pin: bool = False) -> PreparedBatch:
    """Preprocess a batch with the checkpoint's own processor (on the host, in one call);
    ``pin`` puts the pixels in page-locked memory, for asynchronous copies to a GPU."""
    pixels = processor(images=[item.image for item in images], return_tensors="pt")
    pixels = pixels["pixel_values"]
    seen = seen_images(pixels.numpy(), processor)
    if pin:
        pixels = pixels.pin_memory()
    facts = [
        ImageFacts(
            item.name,
            item.sha256,
            item.size_bytes,
            item.image.size,
            geometry(processor, item.image.size, seen.shape[1:3]),
            seen[index],
        )
        for index, item in enumerate(images)
    ]
    return PreparedBatch(facts, pixels)


@dataclass
class RawRecord:
    """One image after the forward pass, before its maps: what :func:`finish` needs.

    Picklable and small next to the full attention (ViT-B/16: 2 MB instead of 22 MB)."""

    facts: ImageFacts
    n_prefix: int
    grid: tuple[int, int]
    cls_heads: np.ndarray  # float32 (layers, heads, gh, gw): the CLS row over the patches
    fused: np.ndarray  # float32 (layers, T, T): heads fused as rollout asks
    column_means: np.ndarray  # float32 (layers, T): attention received, mean over heads, queries
    predictions: list[Prediction] = field(default_factory=list)
    gradients: np.ndarray | None = None  # float32 (layers, T, T): for relevance (class_gradients)
    relevance_target: str | None = None
    norms: np.ndarray | None = None  # float32 (layers, P): each patch token's L2 norm per layer
    tokens: np.ndarray | None = None  # float32 (P, D): the last layer's patch tokens
    # float32 (T,): a model without a CLS token, its pooling head's probe attention, heads
    # averaged; its ``cls_heads`` then hold the mean attention each patch receives, per head
    probe: np.ndarray | None = None


def artifact_mask(raw: RawRecord, by: str) -> np.ndarray:
    """The artifact patches of one image, bool (layers, gh, gw), by the rule ``by`` names: the
    attention each patch receives, its token's norm (none without hidden states), or either."""
    by_attention = artifacts.detect(
        artifacts.received_from_column_means(raw.column_means, raw.n_prefix, raw.grid)
    )
    if by == "attention" or raw.norms is None:
        return by_attention
    by_norm = norms.high_norm_layers(raw.norms).reshape(by_attention.shape)
    return by_norm if by == "norm" else by_attention | by_norm


def finish(raw: RawRecord, options: ExtractOptions) -> ImageRecord:
    """The record of one image: artifact mask and every named map, from its reductions.

    Artifact patches are always detected and recorded; ``options.mask_artifacts`` fills them in
    the maps."""
    mask = artifact_mask(raw, options.artifacts_by)
    named = panels.report_maps(
        MapInputs(
            raw.n_prefix,
            raw.grid,
            cls_heads=raw.cls_heads,
            attention=raw.fused,
            gradients=raw.gradients,
            mask=mask if options.mask_artifacts else None,
            rollout=options.rollout,
            norms=raw.norms,
            tokens=raw.tokens,
            feature_basis=options.feature_basis,
            probe=raw.probe,
        )
    )
    facts = raw.facts
    return ImageRecord(
        name=facts.name,
        sha256=facts.sha256,
        size_bytes=facts.size_bytes,
        original_size=facts.original_size,
        geometry=facts.geometry,
        seen_image=facts.seen_image,
        cls_heads=raw.cls_heads,
        maps={name: values.astype(np.float32) for name, values in named.items()},
        artifact_mask=mask,
        predictions=raw.predictions,
        relevance_target=raw.relevance_target,
        artifact_score=(
            None
            if raw.norms is None
            else norms.artifact_score(raw.norms, (options.norm_layer or raw.norms.shape[0]) - 1)
        ),
    )


def reduce_tokens(hidden_states: Any, n_prefix: int) -> dict[str, Any]:
    """From a model's hidden states (the embeddings, then each layer's output, (B, T, D)), in
    float32 on their device: ``norms`` (B, L, P), each patch token's L2 norm per layer, and
    ``tokens`` (B, P, D), the last layer's patch tokens. Empty without hidden states."""
    import torch

    if not hidden_states:
        return {}
    outputs = [state.detach().float()[:, n_prefix:] for state in hidden_states[1:]]
    return {
        "norms": torch.stack([state.norm(dim=-1) for state in outputs], dim=1),
        "tokens": outputs[-1],
    }


def reduce_attention(
    attentions: Any, n_prefix: int, head_fusion: str, probe: Any = None
) -> dict[str, Any]:
    """From a model's attentions (per layer (B, heads, T, T), any float dtype), in float32 on
    their device: ``cls_heads`` (B, L, heads, P), ``fused`` (B, L, T, T) and ``column_means``
    (B, L, T), the column mean over heads and query tokens.

    A model without a CLS token gives its pooling head's ``probe`` attention (B, heads, T):
    then ``cls_heads`` are the stand-in, the mean attention each patch receives (over the
    query tokens), and ``probe`` (B, T) is the probe's, heads averaged."""
    import torch

    if head_fusion not in HEAD_FUSIONS:
        raise ValueError(
            f"unknown head fusion {head_fusion!r}; choose from {', '.join(HEAD_FUSIONS)}"
        )
    cls_rows, fused, column_means = [], [], []
    for layer in attentions:
        layer = layer.detach().float()
        head_mean = layer.mean(dim=1)
        rows = layer[:, :, 0] if probe is None else layer.mean(dim=2)
        cls_rows.append(rows[:, :, n_prefix:])
        column_means.append(head_mean.mean(dim=1))
        if head_fusion == "mean":
            fused.append(head_mean)
        else:
            fused.append(layer.amax(dim=1) if head_fusion == "max" else layer.amin(dim=1))
    reduced = {
        "cls_heads": torch.stack(cls_rows, dim=1),
        "fused": torch.stack(fused, dim=1),
        "column_means": torch.stack(column_means, dim=1),
    }
    if probe is not None:
        reduced["probe"] = probe.detach().float().mean(dim=1)
    return reduced


class _Transfers:
    """Moves batches between host and device. On CUDA, host tensors are pinned and copied
    asynchronously on a side stream, ordered against the compute stream by events; elsewhere
    copies are plain (on the CPU there is nothing to move)."""

    def __init__(self, device: str, dtype: Any):
        import torch

        self.device, self.dtype = torch.device(device), dtype
        self.cuda = self.device.type == "cuda"
        self.accelerated = self.device.type != "cpu"  # the model leaves the host's cores free
        self.stream = torch.cuda.Stream(self.device) if self.cuda else None

    def upload(self, pixels: Any) -> tuple[Any, Any]:
        """Start copying host pixels to the device; returns (tensor, ready event or None)."""
        import torch

        if not self.cuda:
            return pixels.to(self.device, dtype=self.dtype), None
        pinned = pixels.pin_memory()
        with torch.cuda.stream(self.stream):
            # copied as they are, then cast on the device: a cast on the host would copy
            # from pageable memory, synchronously
            on_device = pinned.to(self.device, non_blocking=True).to(self.dtype)
            ready = torch.cuda.Event()
            ready.record(self.stream)
        return on_device, ready

    def take(self, on_device: Any, ready: Any) -> Any:
        """The uploaded tensor, safe to use on the compute stream."""
        import torch

        if ready is not None:
            torch.cuda.current_stream(self.device).wait_event(ready)
            on_device.record_stream(torch.cuda.current_stream(self.device))
        return on_device

    def download(self, tensors: dict[str, Any]) -> tuple[dict[str, Any], Any]:
        """Start copying device tensors to the host; returns (host tensors, done event or None).
        Read the host tensors only after :meth:`wait`."""
        import torch

        if not self.cuda:
            return {name: tensor.cpu() for name, tensor in tensors.items()}, None
        computed = torch.cuda.Event()
        computed.record(torch.cuda.current_stream(self.device))
        host = {}
        with torch.cuda.stream(self.stream):
            self.stream.wait_event(computed)
            for name, tensor in tensors.items():
                tensor.record_stream(self.stream)
                host[name] = torch.empty(tensor.shape, dtype=tensor.dtype, pin_memory=True)
                host[name].copy_(tensor, non_blocking=True)
            done = torch.cuda.Event()
            done.record(self.stream)
        return host, done

    @staticmethod
    def wait(done: Any) -> None:
        if done is not None:
            done.synchronize()


class Extractor:
    """The device stage: holds a loaded model and turns prepared batches into raw records."""

    def __init__(self, loaded: LoadedModel, options: ExtractOptions = ExtractOptions()):
        self.loaded, self.options = loaded, options
        self._target = resolve_target(options.target_class, loaded.labels)
        self.transfers = _Transfers(loaded.device, loaded.dtype)

    def prepare(self, images: list[LoadedImage]) -> PreparedBatch:
        """:func:`prepare` for this model and device (pinned memory on CUDA)."""
        return prepare(images, self.loaded.processor, pin=self.transfers.cuda)

    def run(self, batches: Iterable[PreparedBatch]) -> Iterator[list[RawRecord]]:
        """The raw records of each batch, in order. On CUDA, kernels are queued first, then
        batch k+1 is taken and uploaded while batch k computes, and batch k's results are read
        while batch k+1 computes."""
        iterator = iter(batches)
        current = next(iterator, None)
        uploaded = self.transfers.upload(current.pixels) if current is not None else None
        behind = None
        while current is not None:
            results = self.forward(self.transfers.take(*uploaded))
            following = next(iterator, None)
            if following is not None:
                uploaded = self.transfers.upload(following.pixels)
            downloaded = self.transfers.download(results["tensors"])
            if behind is not None:
                yield self.records(*behind)
            behind = (current, results, *downloaded)
            if not self.transfers.cuda:  # nothing runs asynchronously: no reason to wait
                yield self.records(*behind)
                behind = None
            current = following
        if behind is not None:
            yield self.records(*behind)

    def forward(self, pixels: Any) -> dict[str, Any]:
        """One forward pass (with gradients for relevance) and the reductions, on the device."""
        import torch

        loaded, options = self.loaded, self.options
        summary = loaded.summary
        gradients = targets = None
        with recorded_probe(loaded.pooler) as probe:
            if options.relevance:
                gradients, targets, outputs = class_gradients(loaded.model, pixels, self._target)
            else:
                with torch.inference_mode():
                    outputs = loaded.model(
                        pixel_values=pixels, output_attentions=True, output_hidden_states=True
                    )
        with torch.inference_mode():
            tensors = reduce_attention(
                outputs.attentions,
                summary.n_prefix,
                options.rollout.head_fusion,
                probe[0] if probe else None,
            )
            hidden_states = getattr(outputs, "hidden_states", None)
            tensors.update(reduce_tokens(hidden_states, summary.n_prefix))
            logits = getattr(outputs, "logits", None)
            if loaded.labels and logits is not None:
                tensors["probabilities"] = torch.softmax(logits.detach().float(), dim=-1)
        return {"tensors": tensors, "gradients": gradients, "targets": targets}

    def records(
        self, batch: PreparedBatch, results: dict[str, Any], host: dict[str, Any], done: Any
    ) -> list[RawRecord]:
        self.transfers.wait(done)
        arrays = {name: tensor.numpy() for name, tensor in host.items()}
        summary, labels = self.loaded.summary, self.loaded.labels
        probabilities = arrays.get("probabilities")
        gradients, targets = results["gradients"], results["targets"]
        return [
            RawRecord(
                facts=facts,
                n_prefix=summary.n_prefix,
                grid=summary.grid,
                cls_heads=arrays["cls_heads"][index].reshape(
                    summary.layers, summary.heads, *summary.grid
                ),
                fused=arrays["fused"][index],
                column_means=arrays["column_means"][index],
                predictions=(
                    top_predictions(probabilities[index], labels)
                    if probabilities is not None
                    else []
                ),
                gradients=None if gradients is None else gradients[index],
                relevance_target=(
                    labels.get(targets[index], str(targets[index])) if targets is not None else None
                ),
                norms=arrays["norms"][index] if "norms" in arrays else None,
                tokens=arrays["tokens"][index] if "tokens" in arrays else None,
                probe=arrays["probe"][index] if "probe" in arrays else None,
            )
            for index, facts in enumerate(batch.facts)
        ]


def extract(
    loaded: LoadedModel,
    images: Iterable[LoadedImage],
    *,
    batch_size: int = 8,
    rollout: RolloutOptions = RolloutOptions(),
    mask_artifacts: bool = True,
    relevance: bool = False,
    target_class: int | None = None,
    artifacts_by: str = "attention",
) -> Iterator[ImageRecord]:
    """Run the model over ``images`` in batches and yield one record per image, in order.

    Artifact patches are always detected and recorded; ``mask_artifacts`` fills them in the
    maps (``--artifacts mask``). ``relevance`` adds class relevance for ``target_class`` (None:
    each image's top-1 class); the model must be a classifier. ``artifacts_by`` names the rule
    that finds artifacts (:func:`artifact_mask`)."""
    target = None if target_class is None else str(target_class)
    options = ExtractOptions(rollout, mask_artifacts, relevance, target, artifacts_by=artifacts_by)
    extractor = Extractor(loaded, options)
    prepared = threaded_map(extractor.prepare, batched(images, batch_size), ahead=lambda: 1)
    for batch in extractor.run(prepared):
        yield from (finish(raw, options) for raw in batch)


def artifact_profile(loaded: LoadedModel, n_images: int = 4, seed: int = 0) -> list[float]:
    """Per layer, the median share of the layer maps' attention (CLS rows, or the stand-in of a
    model without a CLS token) that falls on artifact patches, over a few seeded noise images:
    the model's own habit, measured once, for ``rollout_start_layer=auto``."""
    import torch
    from PIL import Image

    rng = np.random.default_rng(seed)
    probes = [
        Image.fromarray((rng.random((256, 256, 3)) * 255).astype(np.uint8)) for _ in range(n_images)
    ]
    pixels = loaded.processor(images=probes, return_tensors="pt")["pixel_values"]
    with torch.inference_mode():
        outputs = loaded.model(
            pixel_values=pixels.to(loaded.device, dtype=loaded.dtype), output_attentions=True
        )
    attention = torch.stack(outputs.attentions, dim=1).float().cpu().numpy()
    summary = loaded.summary
    layer_maps = maps.layer_maps if loaded.pooler is None else maps.received_maps
    shares = [
        artifacts.cls_share(
            layer_maps(attn, summary.n_prefix, summary.grid),
            artifacts.detect(artifacts.received_attention(attn, summary.n_prefix, summary.grid)),
        )
        for attn in attention
    ]
    return [float(value) for value in np.median(np.stack(shares), axis=0)]
