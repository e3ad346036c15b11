"""Plain data passed between the stages: what a model is, and what was extracted per image.

Every stage downstream of the model (maps, spread, render, pages, site) reads only these
records, so a stored report can be re-rendered without torch or the model.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class ModelSummary:
    """What the report says about the model, derived from its config."""

    model_id: str  # hub id, local path, or built-in name such as offline:dinov2-small
    source: str  # "hub", "local" or "offline"
    revision: str | None  # hub commit hash when known
    weights_sha256: str | None  # for local and offline weights
    family: str  # config.model_type, e.g. "vit", "dinov2"
    layers: int
    heads: int
    hidden_size: int
    head_dim: int
    patch_size: tuple[int, int]  # (height, width) in pixels
    image_size: tuple[int, int]  # (height, width) the model sees
    grid: tuple[int, int]  # patch grid (rows, cols)
    n_prefix: int  # CLS + distillation/register tokens
    num_classes: int | None  # None when the model has no classification head
    provenance: dict[str, Any] = field(default_factory=dict)
    class_names: tuple[str, ...] | None = None  # a classifier's id2label, by class id
    pooling: str = "cls"  # "cls", or "attention pool": no CLS token, an attention-pooling head

    @property
    def has_cls(self) -> bool:
        """Whether a CLS token's attention rows make the maps (else an attention-pooling head's
        probe and the attention each patch receives)."""
        return self.pooling == "cls"

    @property
    def n_tokens(self) -> int:
        return self.n_prefix + self.grid[0] * self.grid[1]

    def to_json(self) -> dict[str, Any]:
        """As manifests record it; a backbone's (and a 0.2 summary's) has no class names, and
        a CLS model's no pooling (manifests before models without a CLS token did not say)."""
        data = asdict(self)
        if data["class_names"] is None:
            del data["class_names"]
        if data["pooling"] == "cls":
            del data["pooling"]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ModelSummary:
        data = dict(data)
        for key in ("patch_size", "image_size", "grid"):
            data[key] = tuple(data[key])
        if data.get("class_names") is not None:
            data["class_names"] = tuple(data["class_names"])
        return cls(**data)


@dataclass(frozen=True)
class Prediction:
    label: str
    probability: float


@dataclass
class ImageRecord:
    """Everything kept for one image: enough to draw its figure and re-derive every map."""

    name: str  # path relative to the input folder, POSIX separators
    sha256: str
    size_bytes: int
    original_size: tuple[int, int]  # (width, height) after EXIF orientation
    geometry: dict[str, Any]  # how the processor resized/cropped the image
    seen_image: np.ndarray  # uint8 (H, W, 3): the image exactly as the model saw it
    # (layers, heads, grid_h, grid_w): raw CLS rows per head; float32 from the model, float16
    # read from a file that kept them, None from one that did not (the default)
    cls_heads: np.ndarray | None
    maps: dict[str, np.ndarray]  # the maps the report shows, by name (methods.panels)
    artifact_mask: np.ndarray | None = None  # bool (layers, gh, gw); None before 0.2
    predictions: list[Prediction] = field(default_factory=list)
    relevance_target: str | None = None  # class label that relevance explains
    artifact_score: float | None = None  # share of high-norm patch tokens; None: not made


@dataclass(frozen=True)
class SkippedFile:
    name: str
    reason: str
