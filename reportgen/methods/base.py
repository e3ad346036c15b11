"""What a map method is: one named map of the report, what it needs, how it is shown and said.

A method is a small class (one module each: :mod:`~reportgen.methods.layers`,
:mod:`~reportgen.methods.aggregates`, :mod:`~reportgen.methods.rollout`,
:mod:`~reportgen.methods.relevance`, :mod:`~reportgen.methods.norms`,
:mod:`~reportgen.methods.features`) that the registry (:mod:`~reportgen.methods.registry`)
collects; third-party packages add one through the ``reportgen.methods`` entry point. Its
:meth:`MapMethod.compute` is pure numpy: no I/O, no torch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from reportgen.methods.maps import RolloutOptions
from reportgen.record import ImageRecord

# What a method can need (its ``inputs``), all from one forward pass of the model:
CLS_ROWS = "cls_rows"  # every head's CLS attention to the patches (layers, heads, gh, gw)
LAYER_MAPS = "layer_maps"  # the layer maps made from them (the ``layers`` method's result)
ATTENTION = "attention"  # the full attention, heads fused as --head-fusion asks (layers, T, T)
GRADIENTS = "gradients"  # per layer, mean over heads of (grad_A * A) clipped at 0 (layers, T, T);
# made only with --relevance: a method that needs them is computed only then
TOKEN_NORMS = "token_norms"  # per layer, the L2 norm of every patch token (layers, gh * gw)
TOKENS = "tokens"  # the last layer's patch tokens (gh * gw, hidden size)
PROBE = "probe"  # an attention-pooling head's probe attention over the tokens, heads averaged
# (T,): only models without a CLS token that pool with such a head have it
INPUTS = (CLS_ROWS, LAYER_MAPS, ATTENTION, GRADIENTS, TOKEN_NORMS, TOKENS, PROBE)

# How a map is coloured for display (``scale``):
PANEL = "panel"  # CLS attention: its own min-max, or the image's shared scale (--normalise shared)
OWN = "own"  # other units: always its own min-max
SCALES = (PANEL, OWN)

# What a method's map is (``kind``):
GRID = "grid"  # one (gh, gw) map: a panel of the figure, a choice of --spread-by
LAYERED = "layered"  # one (gh, gw) map per layer (layers, gh, gw): rows of the figure
COLOURS = "colours"  # three (gh, gw) channels in [0, 1] (3, gh, gw), shown as RGB
KINDS = (GRID, LAYERED, COLOURS)


@dataclass(frozen=True)
class MapInputs:
    """One image's inputs to every method; the attention arrays as the model gave them
    (float32). The first ``n_prefix`` tokens are CLS (index 0) plus any distillation or register
    tokens, the rest the patches of ``grid = (grid_h, grid_w)`` in row-major order. A model
    without a CLS token that pools with an attention head has a ``probe``, and its ``cls_heads``
    are the stand-in: the mean attention each patch receives, per head."""

    n_prefix: int
    grid: tuple[int, int]
    cls_heads: np.ndarray  # CLS_ROWS
    attention: np.ndarray  # ATTENTION
    gradients: np.ndarray | None = None  # GRADIENTS, None without --relevance
    mask: np.ndarray | None = None  # artifact patches to fill (layers, gh, gw); None: keep them
    rollout: RolloutOptions = RolloutOptions()
    norms: np.ndarray | None = None  # TOKEN_NORMS, None from a model that gave no hidden states
    tokens: np.ndarray | None = None  # TOKENS, idem
    feature_basis: Any = None  # features.FeatureBasis fitted on the report; None: per image
    probe: np.ndarray | None = None  # PROBE, None for a model with a CLS token

    def available(self) -> frozenset[str]:
        """The inputs a method may need that this image has."""
        given = {
            GRADIENTS: self.gradients,
            TOKEN_NORMS: self.norms,
            TOKENS: self.tokens,
            PROBE: self.probe,
        }
        return frozenset(name for name in INPUTS if given.get(name, True) is not None)


class MapMethod:
    """One named map of the report. Subclasses set the class attributes and ``compute``.

    ``bullet`` is the Jinja2 source of its part of "How the maps are made": one or more
    ``{% call m.item() %}...{% endcall %}`` blocks written with the flavours' macros (``m``),
    reading the report as ``report``. Methods that share one bullet (max, min and mean) give
    the same text; it is shown once.
    """

    name: ClassVar[str]
    description: ClassVar[str]  # one line
    inputs: ClassVar[tuple[str, ...]]
    scale: ClassVar[str] = PANEL
    kind: ClassVar[str] = GRID
    bits: ClassVar[int | None] = None  # None: stored as floats; 8: 8 bits per value, per grid
    half: ClassVar[bool] = False  # floats stored as float16 (maps files of format 7 on)
    bullet: ClassVar[str] = ""

    def compute(self, inputs: MapInputs, maps: Mapping[str, np.ndarray]) -> np.ndarray:
        """The map of one image, float64 shaped ``inputs.grid`` (with a leading axis for the
        ``layered`` and ``colours`` kinds), not rescaled for display.

        ``maps`` holds the maps of the methods before this one (``layers`` first). A method
        :attr:`recomputed` on reading a maps file is given ``inputs=None`` there: it reads
        ``maps`` only."""
        raise NotImplementedError

    def label(self, record: ImageRecord) -> str:
        """The title of its panel in an image's figure."""
        return self.name

    def spread_words(self, rollout_start_layer: int) -> str:
        """Plain words for the report when the spread levels use this map."""
        return f"the {self.name} map"

    @property
    def recomputed(self) -> bool:
        """Whether it is made from the layer maps alone: then the maps file does not keep it,
        it is recomputed on reading."""
        return tuple(self.inputs) == (LAYER_MAPS,)

    @property
    def optional(self) -> bool:
        """Whether some reports lack it (it needs inputs made only on request, or only by
        models without a CLS token)."""
        return bool({GRADIENTS, PROBE} & set(self.inputs))
