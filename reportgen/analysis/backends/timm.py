"""The timm backend: ``--model timm:NAME`` for timm's ViT-family models (vit_*, deit_*, eva02_*,
vit_*_dinov2 and others whose blocks hold attention modules and that say how many prefix tokens
they have in ``num_prefix_tokens``).

Weights come from the local HuggingFace cache (the ``hf-hub:timm/...`` repository timm names for
the model; ``timm:NAME.TAG`` or ``timm:hf-hub:timm/NAME.TAG`` picks a tag), from a file
(``timm:NAME@/path/to/weights.safetensors``), or are random only with ``--random-weights``.
Nothing is downloaded.

The attention comes from the blocks' attention modules: while a forward pass asks for it, those
modules (and only those) run their unfused path, whose softmax output passes through their
``attn_drop``; a forward hook there records it, still in the autograd graph for relevance. Their
``fused_attn`` is restored afterwards, so no timm state is left changed. The preprocessing is
timm's own transform (``resolve_model_data_config``, ``create_transform``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch

from reportgen import digests, store
from reportgen.analysis.backends.timm_pool import latent_probe
from reportgen.analysis.model import RANDOM_SOURCE, ModelRef
from reportgen.errors import ReportgenError

PREFIX = "timm:"
HUB_PREFIX = "hf-hub:timm/"  # timm's own repositories are named after model and tag
WEIGHTS_SUFFIX = ".safetensors"
INSTALL_HINT = "pip install 'reportgen[timm]'"


def _timm() -> Any:
    try:
        import timm
    except ImportError:
        raise ReportgenError(f"--model timm:... needs timm: {INSTALL_HINT}") from None
    return timm


def parse(spec: str) -> tuple[str, Path | None]:
    """``timm:NAME[@PATH]`` -> (timm model name with its tag, weights file or None)."""
    name, _, path = spec.removeprefix(PREFIX).partition("@")
    name = name.removeprefix(HUB_PREFIX)
    if not name:
        raise ReportgenError(f"--model {spec}: name a timm model, e.g. timm:vit_small_patch16_224")
    return name, Path(path).expanduser() if path else None


def _architecture(name: str) -> str:
    """The model name without its pretrained tag (``vit_base_patch16_224.augreg_in1k``)."""
    return name.partition(".")[0]


def _cached_weights(hub_id: str) -> tuple[Path, str] | None:
    """(weights file, revision) of a hub repository in the local HuggingFace cache, else None."""
    from huggingface_hub import try_to_load_from_cache

    path = try_to_load_from_cache(hub_id, "model.safetensors")
    if not isinstance(path, str):
        return None
    return Path(path), Path(path).parent.name


def resolve(
    spec: str, *, cache: store.ContentCache, hub_timeout: float, random_weights: bool
) -> ModelRef:
    """Which timm model and weights ``spec`` means (see the module docstring); no download."""
    timm = _timm()
    name, path = parse(spec)
    if not timm.is_model(_architecture(name)):
        raise ReportgenError(f"--model {spec}: timm has no model called {_architecture(name)!r}")
    model_id = PREFIX + name
    if random_weights:
        if path is not None:
            raise ReportgenError(f"--model {spec}: --random-weights and a weights file exclude")
        return ModelRef(
            model_id,
            RANDOM_SOURCE,
            name,
            reason="random weights (--random-weights): the maps show an untrained model",
            backend="timm",
        )
    if path is not None:
        if not path.is_file() or path.suffix != WEIGHTS_SUFFIX:
            raise ReportgenError(f"--model {spec}: {path} is not a {WEIGHTS_SUFFIX} file")
        return ModelRef(
            model_id,
            "file",
            str(path.resolve()),
            weights_sha256=digests.file_sha256(path, cache),
            reason="timm weights file",
            backend="timm",
        )
    pretrained = timm.models.get_pretrained_cfg(name)
    hub_id = (pretrained.hf_hub_id if pretrained else None) or f"timm/{name}"
    cached = _cached_weights(hub_id)
    if cached is None:
        raise ReportgenError(
            f"--model {spec}: its weights (hf-hub:{hub_id}) are not in the local HuggingFace "
            f"cache; download them once (huggingface-cli download {hub_id}), give a file "
            f"(--model timm:{name}@/path/to/weights{WEIGHTS_SUFFIX}), or use --random-weights"
        )
    weights, revision = cached
    return ModelRef(
        model_id,
        "hub",
        str(weights),
        revision,
        weights_sha256=digests.file_sha256(weights, cache),
        reason=f"from the local HuggingFace cache (hf-hub:{hub_id})",
        backend="timm",
    )


def _create(ref: ModelRef, **options: Any) -> Any:
    """The timm model of ``ref``; ``options`` go to ``timm.create_model``."""
    timm = _timm()
    try:
        return timm.create_model(ref.model_id.removeprefix(PREFIX), **options)
    except (RuntimeError, ValueError, KeyError, TypeError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        raise ReportgenError(f"cannot load model {ref.model_id}: {first_line}") from None


@dataclass
class TimmProcessor:
    """timm's eval transform behind an image processor's interface: called with ``images``,
    it returns their ``pixel_values``; its attributes say how it resizes, crops and normalises
    (read from the transform's own steps)."""

    transform: Any  # torchvision Compose from timm.data.create_transform
    data_config: dict[str, Any]

    do_rescale = True  # ToTensor divides by 255
    rescale_factor = 1 / 255
    do_normalize = True

    def __post_init__(self) -> None:
        steps = {type(step).__name__: step for step in self.transform.transforms}
        self.image_mean = [float(value) for value in steps["Normalize"].mean]
        self.image_std = [float(value) for value in steps["Normalize"].std]
        resize, crop = steps.get("Resize"), steps.get("CenterCrop")
        self.do_resize = resize is not None
        self.size = _size(resize.size, "shortest_edge") if resize else None
        self.resample = _pil_resample(resize.interpolation) if resize else 0
        self.do_center_crop = crop is not None
        self.crop_size = _size(crop.size, "height") if crop else None

    def __call__(self, images: list[Any], return_tensors: str = "pt") -> dict[str, Any]:
        pixels = [self.transform(image.convert("RGB")) for image in images]
        return {"pixel_values": torch.stack(pixels)}

    def to_dict(self) -> dict[str, Any]:
        """The settings, for the cache key and the manifest."""
        return {
            "processor": "timm",
            "data_config": {
                key: list(value) if isinstance(value, tuple) else value
                for key, value in self.data_config.items()
            },
            "transform": [repr(step) for step in self.transform.transforms],
        }


def _size(size: Any, single: str) -> dict[str, int]:
    """A torchvision size (int, or (h, w)) as an image processor writes it."""
    if isinstance(size, int) or len(size) == 1:
        return {single: int(size if isinstance(size, int) else size[0])}
    return {"height": int(size[0]), "width": int(size[1])}


def _pil_resample(interpolation: Any) -> int:
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms.functional import pil_modes_mapping

    return int(pil_modes_mapping[InterpolationMode(interpolation)])


def load_processor(ref: ModelRef) -> TimmProcessor:
    """timm's eval transform for the model (built on the meta device: no weights)."""
    from timm.data import create_transform, resolve_model_data_config

    with torch.device("meta"):  # the architecture without memory or initialisation cost
        config = resolve_model_data_config(_create(ref, pretrained=False))
    return TimmProcessor(create_transform(**config, is_training=False), config)


def attention_modules(net: Any) -> list[Any]:
    """Each block's attention module, or a clear refusal for a model without them."""
    blocks = getattr(net, "blocks", None)
    modules = [getattr(block, "attn", None) for block in blocks or ()]
    if (
        not modules
        or getattr(net, "num_prefix_tokens", None) is None
        or not all(
            hasattr(module, "fused_attn") and hasattr(module, "attn_drop") for module in modules
        )
    ):
        raise ReportgenError(
            f"{type(net).__name__} is not a ViT-family timm model: reportgen needs blocks of "
            "attention modules and num_prefix_tokens"
        )
    return modules


@contextmanager
def recorded_attention(modules: list[Any]) -> Iterator[list[Any]]:
    """While inside, ``modules`` run unfused and the list fills with each one's softmax output
    (B, heads, T, T), in call order; their ``fused_attn`` and hooks are restored after."""
    recorded: list[Any] = []
    fused = [module.fused_attn for module in modules]
    hooks = [
        module.attn_drop.register_forward_hook(lambda _, __, output: recorded.append(output))
        for module in modules
    ]
    try:
        for module in modules:
            module.fused_attn = False
        yield recorded
    finally:
        for module, was_fused, hook in zip(modules, fused, hooks, strict=True):
            module.fused_attn = was_fused
            hook.remove()


@contextmanager
def recorded_hidden_states(blocks: Any) -> Iterator[list[Any]]:
    """While inside, the list fills with the tokens entering the first block, then each
    block's output: a transformers model's ``hidden_states``."""
    recorded: list[Any] = []
    hooks = [blocks[0].register_forward_pre_hook(lambda _, args: recorded.append(args[0]))]
    hooks += [
        block.register_forward_hook(lambda _, __, output: recorded.append(output))
        for block in blocks
    ]
    try:
        yield recorded
    finally:
        for hook in hooks:
            hook.remove()


class TimmModel(torch.nn.Module):
    """A timm model that answers as a transformers vision model does (see
    :mod:`reportgen.analysis.model`): ``attentions`` on request, ``logits`` for a classifier,
    ``last_hidden_state`` (the normalised tokens of ``forward_features``); a model that pools
    with an attention head (SigLIP's) also ``pooler_output`` and its ``probe_recorder``."""

    def __init__(self, net: Any, architecture: str):
        super().__init__()
        self.net = net
        self.attention = attention_modules(net)
        self.probe_recorder = latent_probe(net)
        self.config = SimpleNamespace(
            model_type=architecture,
            patch_size=tuple(net.patch_embed.patch_size),
            hidden_size=int(net.embed_dim),
            _attn_implementation="eager",  # whenever attentions are asked for
        )

    def forward(
        self,
        pixel_values: Any,
        output_attentions: bool = False,
        output_hidden_states: bool = False,
    ) -> SimpleNamespace:
        attending = recorded_attention(self.attention) if output_attentions else nullcontext()
        hiding = recorded_hidden_states(self.net.blocks) if output_hidden_states else nullcontext()
        with attending as attentions, hiding as hidden_states:
            features = self.net.forward_features(pixel_values)
        logits = self.net.forward_head(features) if self.net.num_classes else None
        pooled = None
        if self.probe_recorder is not None:
            pooled = self.net.forward_head(features, pre_logits=True)
        return SimpleNamespace(
            last_hidden_state=features,
            pooler_output=pooled,
            logits=logits,
            attentions=tuple(attentions) if output_attentions else None,
            hidden_states=tuple(hidden_states) if output_hidden_states else None,
        )


def _labels(net: Any) -> dict[int, str] | None:
    """A classifier's class names (ImageNet's when timm knows the subset), else None."""
    if not net.num_classes:
        return None
    from timm.data import ImageNetInfo, infer_imagenet_subset

    subset = infer_imagenet_subset(net)
    if subset is None:
        return {index: str(index) for index in range(net.num_classes)}
    info = ImageNetInfo(subset)
    return {index: info.index_to_description(index) for index in range(net.num_classes)}


def load_model(ref: ModelRef) -> tuple[Any, dict[int, str] | None]:
    """The model (random weights drawn from seed 0, without touching the global generator),
    wrapped to answer as a transformers model, and its class names."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = _create(ref, pretrained=False) if ref.source == RANDOM_SOURCE else _load_weights(ref)
    return TimmModel(net, _architecture(ref.model_id.removeprefix(PREFIX))), _labels(net)


def _load_weights(ref: ModelRef) -> Any:
    """The model with the weights of its file, as timm saves them (``state_dict``), loaded
    strictly; the classifier's size is the file's, so fine-tuned checkpoints load too."""
    from safetensors import safe_open
    from timm.models import load_checkpoint

    with safe_open(ref.location, "pt") as weights:
        names = set(weights.keys())
        head = next((name for name in ("head.weight", "fc.weight") if name in names), None)
        classes = weights.get_slice(head).get_shape()[0] if head else 0
    net = _create(ref, pretrained=False, num_classes=classes)
    try:
        load_checkpoint(net, ref.location, strict=True)
    except (RuntimeError, KeyError) as error:
        first_line = str(error).strip().splitlines()[0]
        raise ReportgenError(f"cannot load model {ref.model_id}: {first_line}") from None
    return net


def loaded_weights_sha256(ref: ModelRef, cache: store.ContentCache | None) -> str | None:
    """Known at resolve time for a file or the cache; random weights have none."""
    return ref.weights_sha256


def fast_attention(model: Any) -> AbstractContextManager[None]:
    """Nothing to switch: the blocks run timm's fused attention unless a forward pass asks for
    the attention weights (:func:`recorded_attention`)."""
    return nullcontext()
