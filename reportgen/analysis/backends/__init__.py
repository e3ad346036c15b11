"""Model backends: one module per model zoo, chosen by the model spec's prefix.

A backend module provides:

- ``resolve(spec, *, cache, hub_timeout, random_weights) -> ModelRef``: which model a spec means
  (cheap, no weights loaded);
- ``load_processor(ref)``: the model's own preprocessing, as an image processor
  (:mod:`reportgen.analysis.model` says what it must answer);
- ``load_model(ref) -> (model, labels)``: the weights, as a module that answers as a
  transformers vision model does, and the class names of a classifier (None for a backbone);
- ``loaded_weights_sha256(ref, cache)``: the weights' hash when ``resolve`` could not know it;
- ``fast_attention(model)``: a context in which the model's forward passes that need no
  attention weights (faithfulness) take its fastest attention path.
"""

from __future__ import annotations

import importlib
from types import ModuleType

DEFAULT = "transformers"
BACKENDS = {
    "transformers": "reportgen.analysis.backends.huggingface",
    "timm": "reportgen.analysis.backends.timm",
}
PREFIXES = {"timm:": "timm"}  # spec prefix -> backend; no prefix: DEFAULT


def backend_name(spec: str) -> str:
    """The backend a model spec asks for."""
    return next((name for prefix, name in PREFIXES.items() if spec.startswith(prefix)), DEFAULT)


def named(name: str) -> ModuleType:
    """The backend module called ``name`` (imported on first use: timm is optional)."""
    return importlib.import_module(BACKENDS[name])


def for_spec(spec: str) -> ModuleType:
    return named(backend_name(spec))
