"""The head-max map method: for every patch, the largest CLS attention that any single head of
any layer gives it. The layer maps average the heads, which dilutes a patch that one head
singles out; this map keeps it. It needs every head's CLS row, so the maps file stores it.
"""

from collections.abc import Mapping

import numpy as np

from reportgen.methods import artifacts
from reportgen.methods.base import CLS_ROWS, MapInputs, MapMethod
from reportgen.record import ImageRecord


class HeadMax(MapMethod):
    name = "head_max"
    description = "for every patch, the largest CLS attention of any single head of any layer"
    inputs = (CLS_ROWS,)
    bullet = """\
{% call m.item() %}
{{ m.strong("Head max") }} (a plugin's map) takes, for every patch, the largest attention that
any one of the {{ report.model.heads }} heads of the {{ report.model.layers }} layers gives it:
the patches a single head singles out, which averaging the heads dilutes.
{% endcall %}
"""

    def compute(self, inputs: MapInputs, maps: Mapping[str, np.ndarray]) -> np.ndarray:
        per_layer = np.asarray(inputs.cls_heads, dtype=np.float64).max(axis=1)
        if inputs.mask is not None:  # artifact patches filled layer by layer, as the layer maps
            per_layer = artifacts.fill_layers(per_layer, inputs.mask)
        return per_layer.max(axis=0)

    def label(self, record: ImageRecord) -> str:
        return "head max"
