"""Choosing and loading a model, and describing it, whichever backend serves it.

A spec names its backend by a prefix (``timm:NAME``; anything else is a transformers model), see
:mod:`reportgen.analysis.backends`. ``resolve`` is cheap (no weights loaded): the backend decides
which model the spec means and how to identify it for the cache. ``load`` loads the weights
through the backend, probes one forward pass and derives the token layout (prefix tokens, patch
grid) from what the model actually returns.

Every backend hands over a model that answers as a transformers vision model does, so the
extraction, relevance and faithfulness code is the same for all: called with ``pixel_values``
(and ``output_attentions=True``) it returns ``attentions`` (per layer the (B, heads, T, T)
softmax its layer multiplies with, in the autograd graph), ``logits`` for a classifier and
``last_hidden_state``; its ``config`` has ``model_type``, ``patch_size`` and ``hidden_size``.
Its processor is called as a transformers image processor (``images=``, ``return_tensors="pt"``)
and carries the same resize, crop, rescale and normalisation attributes and ``to_dict()``.
"""

from __future__ import annotations

import threading
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from reportgen import store
from reportgen.analysis import backends, kernels, pooling
from reportgen.errors import ReportgenError
from reportgen.record import ModelSummary
from reportgen.results import DTYPES

HUB_TIMEOUT_S = 5.0
DEVICES = ("auto", "cpu", "cuda", "mps")
RANDOM_SOURCE = "random"  # the source of a model with randomly initialised weights


@dataclass(frozen=True)
class ModelRef:
    """Which model a spec resolved to, and how to load and identify it."""

    model_id: str  # what the report calls it
    source: str  # "hub", "local", "offline"; timm: "hub", "file" or "random"
    location: str  # hub repo id, directory or weights file
    revision: str | None = None  # hub commit hash
    weights_sha256: str | None = None
    local_files_only: bool = True
    reason: str = ""  # why this model was chosen, said to the user
    provenance: dict[str, Any] = field(default_factory=dict)
    backend: str = backends.DEFAULT  # which module of reportgen.analysis.backends loads it

    def identity(self) -> dict[str, Any]:
        """What makes results from this model reproducible: goes into cache keys (the
        backend is in the model id's prefix)."""
        return {
            "model_id": self.model_id,
            "source": self.source,
            "revision": self.revision,
            "weights_sha256": self.weights_sha256,
        }


def resolve(
    spec: str = "auto",
    *,
    hub_timeout: float = HUB_TIMEOUT_S,
    cache_dir: Path | None = None,
    random_weights: bool = False,
) -> ModelRef:
    """Decide which model ``spec`` means. Never hangs on an unreachable hub.

    ``cache_dir`` is where the offline model is converted to and weight hashes are remembered
    (default: the user cache). ``random_weights`` asks for a randomly initialised model (a
    timm architecture), never a silent fallback.
    """
    if not spec.strip():  # else a folder: Path("") is the working folder
        raise ReportgenError(
            f"the model name is empty (--model {spec!r}): name a HuggingFace hub model, a model "
            "folder or timm:NAME, or leave --model out to choose automatically"
        )
    cache = store.ContentCache(cache_dir or store.default_cache_dir())
    backend = backends.for_spec(spec)
    return backend.resolve(
        spec, cache=cache, hub_timeout=hub_timeout, random_weights=random_weights
    )


def pick_device(name: str = "auto") -> str:
    """The torch device for ``--device``; ``auto`` prefers CUDA, then Apple MPS, then CPU."""
    import torch

    if name not in DEVICES:
        raise ReportgenError(f"unknown device {name!r}; choose from {', '.join(DEVICES)}")
    cuda, mps = torch.cuda.is_available(), torch.backends.mps.is_available()
    if name == "auto":
        return "cuda" if cuda else "mps" if mps else "cpu"
    if (name == "cuda" and not cuda) or (name == "mps" and not mps):
        raise ReportgenError(f"device {name} was asked for but is not available here")
    return name


@dataclass
class LoadedModel:
    """A model ready for extraction, with its processor and what we learned about it."""

    ref: ModelRef
    model: Any  # torch.nn.Module in eval mode on ``device``
    processor: Any  # the checkpoint's own image processor
    device: str
    summary: ModelSummary
    labels: dict[int, str] | None  # class names when the model has a classifier head
    dtype: Any = None  # torch dtype of the weights and inputs; None: float32
    pooler: Any = None  # a model without a CLS token: its attention-pooling head's attention

    def outputs(self, pixels: np.ndarray, fast: bool = True, bfloat16: bool = False) -> np.ndarray:
        """Class probabilities (classifier), or final CLS or pooled embeddings (backbone), (B, D),
        of model-ready pixels (B, 3, H, W): what faithfulness scores. These forwards need no
        attention weights, so they take the model's fastest attention path when ``fast`` (its
        backend's ``fast_attention``); with ``bfloat16`` they run under bfloat16 autocast (the
        weights stay as loaded)."""
        import torch

        inputs = torch.from_numpy(pixels).to(self.device, dtype=self.dtype)
        fast_attention = backends.named(self.ref.backend).fast_attention
        with (
            fast_attention(self.model) if fast else nullcontext(),
            torch.autocast(inputs.device.type, dtype=torch.bfloat16, enabled=bfloat16),
        ):
            output = self.model(pixel_values=inputs)
        if self.labels is not None:
            return torch.softmax(output.logits.float(), dim=-1).cpu().numpy()
        if self.pooler is not None:
            return output.pooler_output.float().cpu().numpy()
        return output.last_hidden_state[:, 0].float().cpu().numpy()


def _pair(value: int | tuple[int, int] | list[int]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


def _probe(model: Any, processor: Any, device: str) -> tuple[tuple[int, int], int, int, int]:
    """One forward pass on a blank image: (input H, W), tokens, layers, heads."""
    import torch
    from PIL import Image

    blank = Image.new("RGB", (256, 256), (128, 128, 128))
    pixels = processor(images=[blank], return_tensors="pt")["pixel_values"]
    pixels = pixels.to(device, dtype=next(model.parameters()).dtype)
    try:
        with torch.inference_mode():
            attentions = model(pixel_values=pixels, output_attentions=True).attentions
    except (RuntimeError, ValueError, TypeError) as error:
        raise ReportgenError(
            f"{type(model).__name__} failed on a test image: {str(error).splitlines()[0]}"
        ) from None
    if not attentions or attentions[0] is None:
        raise ReportgenError(
            f"{type(model).__name__} does not return attention weights; reportgen needs a "
            "ViT-family model whose layers attend over [CLS] + patch tokens"
        )
    return (
        tuple(pixels.shape[-2:]),
        attentions[0].shape[-1],
        len(attentions),
        attentions[0].shape[1],
    )


def summarise(
    ref: ModelRef,
    model: Any,
    processor: Any,
    device: str,
    labels: dict[int, str] | None,
    pooler: Any = None,
) -> ModelSummary:
    """Describe the model; the prefix-token count comes from the sequence length and grid.
    A model without prefix tokens has no CLS token: it needs an attention-pooling head
    (``pooler``), whose probe then stands where the CLS token does."""
    config = model.config
    patch = _pair(getattr(config, "patch_size", 0) or 0)
    if not all(patch):
        raise ReportgenError(f"{ref.model_id}: config has no patch_size; not a ViT-family model")
    image_size, n_tokens, layers, heads = _probe(model, processor, device)
    grid = (image_size[0] // patch[0], image_size[1] // patch[1])
    n_prefix = n_tokens - grid[0] * grid[1]
    if n_prefix < 0 or (n_prefix == 0 and pooler is None):
        raise ReportgenError(
            f"{ref.model_id}: {n_tokens} tokens for a {grid[0]}x{grid[1]} patch grid leaves no "
            "[CLS] token, and the model has no attention-pooling head; reportgen needs a model "
            "with a CLS token or one that pools with an attention head (as SigLIP)"
        )
    hidden = int(config.hidden_size)
    return ModelSummary(
        model_id=ref.model_id,
        source=ref.source,
        revision=ref.revision,
        weights_sha256=ref.weights_sha256,
        family=str(config.model_type),
        layers=layers,
        heads=heads,
        hidden_size=hidden,
        head_dim=hidden // heads,
        patch_size=patch,
        image_size=image_size,
        grid=grid,
        n_prefix=n_prefix,
        num_classes=len(labels) if labels else None,
        provenance=ref.provenance,
        class_names=tuple(labels.get(index, str(index)) for index in range(len(labels)))
        if labels
        else None,
        pooling=pooling.ATTENTION_POOL if n_prefix == 0 else pooling.CLS,
    )


_PROCESSORS: dict[tuple[str, str, str | None], Any] = {}
_PROCESSORS_LOCK = threading.Lock()


def load_processor(ref: ModelRef) -> Any:
    """The model's own image processor, without the weights; loaded once per process
    (intake threads and workers share it: calling it keeps no state)."""
    with _PROCESSORS_LOCK:
        key = (ref.backend, ref.location, ref.revision)
        if key not in _PROCESSORS:
            _PROCESSORS[key] = backends.named(ref.backend).load_processor(ref)
        return _PROCESSORS[key]


def load(
    ref: ModelRef,
    device: str = "auto",
    dtype: str = "float32",
    summary: ModelSummary | None = None,
    cache: store.ContentCache | None = None,
) -> LoadedModel:
    """Load weights and processor through the model's backend, and describe the model.

    ``dtype`` is the precision of the weights and the forward pass (the maps are computed in
    float32 and float64 whatever it is). A ``summary`` known from an earlier load of the same
    model (the cache) skips the probing forward pass. A model whose weights hash is only known
    once loaded (a hub model) gets it in its summary (remembered in ``cache``).
    """
    import torch

    if dtype not in DTYPES:
        raise ReportgenError(f"unknown dtype {dtype!r}; choose from {', '.join(DTYPES)}")
    device = pick_device(device)
    processor = load_processor(ref)
    backend = backends.named(ref.backend)
    model, labels = backend.load_model(ref)
    torch_dtype = getattr(torch, dtype)
    model.eval().to(device, dtype=torch_dtype)
    kernels.use_onednn_linears(model, device)
    pooler = pooling.attention_pooler(model)
    if summary is None:
        described = ref
        if ref.weights_sha256 is None:
            described = replace(ref, weights_sha256=backend.loaded_weights_sha256(ref, cache))
        summary = summarise(described, model, processor, device, labels, pooler)
    if summary.pooling != pooling.ATTENTION_POOL:
        pooler = None  # a model with a CLS token: its maps read the CLS rows
    return LoadedModel(ref, model, processor, device, summary, labels, torch_dtype, pooler)
