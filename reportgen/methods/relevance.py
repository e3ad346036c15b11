"""Class-specific relevance (Chefer, Gur & Wolf, ICCV 2021): the propagation rule, pure numpy.

The gradients come from the model (``reportgen.analysis.relevance``); here only eq. 6 of
"Generic Attention-model Explainability for Interpreting Bi-Modal and Encoder-Decoder
Transformers" (arXiv 2103.15679), which turns per-layer gradient-weighted attention into a map.
"""

from __future__ import annotations

import numpy as np

from reportgen.methods.maps import check_tokens


def relevance_map(weighted: np.ndarray, n_prefix: int, grid: tuple[int, int]) -> np.ndarray:
    """The CLS token's relevance to each patch: float64 shaped ``grid``, not rescaled.

    ``weighted`` is (layers, T, T): per layer, first to last, A_bar = mean over heads of
    (grad_A * A) clipped at 0 (eq. 5). R starts as the identity and every layer adds
    A_bar @ R (eq. 6). The first ``n_prefix`` tokens are CLS (index 0) plus any distillation or
    register tokens; the rest are the patches of ``grid = (grid_h, grid_w)`` in row-major order.
    """
    weighted = np.asarray(weighted, dtype=np.float64)
    if weighted.ndim != 3 or weighted.shape[-1] != weighted.shape[-2]:
        raise ValueError(f"weighted attention must be (layers, T, T), got {weighted.shape}")
    check_tokens(weighted.shape[-1], n_prefix, grid)
    relevance = np.eye(weighted.shape[-1])
    for layer in weighted:
        relevance = relevance + layer @ relevance
    return relevance[0, n_prefix:].reshape(grid)
