"""The device-side reductions of the attention."""

import numpy as np
import pytest

from reportgen.analysis.extract import (
    ExtractOptions,
    ImageFacts,
    RawRecord,
    finish,
    reduce_attention,
)
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


def test_the_artifact_score_reads_the_norm_layer_chosen():
    """Layer 1 holds 5 high-norm tokens of 256, layer 2 none: the score is the chosen layer's."""
    rng = np.random.default_rng(0)
    layer_norms = rng.lognormal(np.log(40.0), 0.15, (2, 256))
    layer_norms[0, rng.choice(256, 5, replace=False)] *= 8.0
    tokens = 1 + 256
    raw = RawRecord(
        facts=ImageFacts("a.png", "0" * 64, 1, (16, 16), {}, np.zeros((16, 16, 3), np.uint8)),
        n_prefix=1,
        grid=(16, 16),
        cls_heads=np.full((2, 1, 16, 16), 1 / tokens, np.float32),
        fused=np.full((2, tokens, tokens), 1 / tokens, np.float32),
        column_means=np.full((2, tokens), 1 / tokens, np.float32),
        norms=layer_norms.astype(np.float32),
    )
    assert finish(raw, ExtractOptions()).artifact_score == 0.0  # the last layer's
    assert finish(raw, ExtractOptions(norm_layer=1)).artifact_score == pytest.approx(5 / 256)
