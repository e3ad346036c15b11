"""The device-side reductions of the attention."""

import numpy as np
import pytest

from reportgen.analysis.extract import reduce_attention
from reportgen.methods import maps


def test_reductions_fuse_heads_as_rollout_asks_and_refuse_other_names(monkeypatch):
    import torch

    attn = torch.rand(2, 3, 5, 5, generator=torch.Generator().manual_seed(0))  # (B, heads, T, T)
    for fusion in maps.HEAD_FUSIONS:
        fused = reduce_attention([attn, attn], 1, fusion)["fused"].numpy()
        expected = maps.fuse_heads(np.stack([attn.numpy()[0]] * 2), fusion)  # image 0
        np.testing.assert_allclose(fused[0], expected, rtol=1e-6)
    monkeypatch.setitem(maps.AGGREGATES, "median", np.median)  # a new layer aggregate
    with pytest.raises(ValueError, match="unknown head fusion 'median'"):
        reduce_attention([attn], 1, "median")
