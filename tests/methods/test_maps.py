"""Maps and rollout against hand-computed values, plus properties over random attention."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from reportgen.methods import maps

GRID = (2, 2)
T = 5  # 1 CLS + 2x2 patches


def one_hot_rows(column: int) -> np.ndarray:
    matrix = np.zeros((T, T))
    matrix[:, column] = 1.0
    return matrix


@pytest.fixture
def attn() -> np.ndarray:
    """2 layers x 2 heads: layer 1 uniform, layer 2 heads look at patch 1 and patch 2."""
    uniform = np.full((T, T), 1 / T)
    layer1 = np.stack([uniform, uniform])
    layer2 = np.stack([one_hot_rows(1), one_hot_rows(2)])
    return np.stack([layer1, layer2])


def test_layer_maps_are_cls_rows_averaged_over_heads(attn):
    result = maps.layer_maps(attn, 1, GRID)
    assert result.shape == (2, 2, 2)
    np.testing.assert_allclose(result[0], [[0.2, 0.2], [0.2, 0.2]])
    np.testing.assert_allclose(result[1], [[0.5, 0.5], [0.0, 0.0]])


@pytest.mark.parametrize(
    "how, expected",
    [
        ("max", [[0.5, 0.5], [0.2, 0.2]]),
        ("min", [[0.2, 0.2], [0.0, 0.0]]),
        ("mean", [[0.35, 0.35], [0.1, 0.1]]),
    ],
)
def test_aggregate(attn, how, expected):
    np.testing.assert_allclose(maps.aggregate(maps.layer_maps(attn, 1, GRID), how), expected)


def test_relative_to_peak_divides_each_layer_by_its_99th_percentile():
    flat = np.full((4, 4), 0.0625)
    spiky = np.zeros((4, 4))
    spiky[1, 2] = 1.0
    scaled = maps.relative_to_peak(np.stack([flat, 2 * flat, np.zeros((4, 4))]))
    np.testing.assert_allclose(scaled[:2], 1.0)  # equal layers of any height: all at the peak
    np.testing.assert_array_equal(scaled[2], 0.0)  # a zero layer is kept, not divided by 0
    ramp = np.arange(100, dtype=float).reshape(10, 10)
    np.testing.assert_allclose(maps.relative_to_peak(ramp[None])[0], ramp / np.percentile(ramp, 99))
    assert maps.relative_to_peak(spiky[None]).max() > 1  # a lone spike sits above the peak


def test_min_is_not_decided_by_a_flat_layer():
    # A flat layer, a little below uniform on the object, a little above at one position that
    # the peaked layer also attends to somewhat: plain min follows the flat layer's position;
    # with each layer relative to its peak, the min keeps the object both layers rate high.
    flat = np.full((4, 4), 1 / 16)
    flat[0, 0] = 1.2 / 16
    flat[2, 2] = flat[2, 3] = 0.8 / 16
    peaked = np.full((4, 4), 0.01)
    peaked[0, 0] = 0.1
    peaked[2, 2] = peaked[2, 3] = 0.4
    layers = np.stack([flat, peaked])
    assert np.unravel_index(np.argmax(layers.min(axis=0)), (4, 4)) == (0, 0)
    scaled_min = maps.aggregate(maps.relative_to_peak(layers), "min")
    assert np.unravel_index(np.argmax(scaled_min), (4, 4)) in {(2, 2), (2, 3)}


def test_rollout_hand_computed(attn):
    # A1' = 0.5 U + 0.5 I (0.6 diagonal, 0.1 elsewhere); A2' row 0 = [0.5, 0.25, 0.25, 0, 0];
    # CLS row of A2' A1' = 0.5 r0 + 0.25 r1 + 0.25 r2 = [0.35, 0.225, 0.225, 0.1, 0.1].
    np.testing.assert_allclose(maps.rollout(attn, 1, GRID), [[0.225, 0.225], [0.1, 0.1]])


def test_rollout_start_layer_leaves_out_first_layers(attn):
    np.testing.assert_allclose(maps.rollout(attn, 1, GRID, start_layer=1), [[0.25, 0.25], [0, 0]])


def test_rollout_normalises_rows_not_columns(attn):
    # Max fusion of layer 2 gives row 0 = [0, 1, 1, 0, 0]; + I/2 -> [0.5, 0.5, 0.5, 0, 0] / 1.5.
    # CLS row = (r0 + r1 + r2) / 3 of A1' = [0.8, 0.8, 0.8, 0.3, 0.3] / 3.
    result = maps.rollout(attn, 1, GRID, head_fusion="max")
    np.testing.assert_allclose(result, [[0.8 / 3, 0.8 / 3], [0.1, 0.1]])


def test_rollout_discard_keeps_cls_to_cls():
    fused = np.full((1, T, T), 0.2)
    fused[0, 0] = [0.01, 0.5, 0.3, 0.1, 0.09]
    # int(25 * 0.12) = 3 lowest: 0.01 (CLS->CLS, kept), 0.09 and 0.1 (zeroed).
    # Row 0 -> [0.01, 0.5, 0.3, 0, 0] / 2 + e0 / 2 = [0.505, 0.25, 0.15, 0, 0], sum 0.905.
    result = maps.rollout(fused[:, None], 1, GRID, discard_ratio=0.12)
    np.testing.assert_allclose(result, [[0.25 / 0.905, 0.15 / 0.905], [0, 0]])


def test_rollout_discard_spares_no_patch_without_a_cls_token():
    """Without a CLS token (a pooling head's probe starts rollout), entry 0 is patch 0's
    attention to itself: the lowest, it is discarded like any other."""
    fused = np.full((1, 4, 4), 0.25)
    fused[0, 0] = [0.01, 0.5, 0.3, 0.19]
    probe = np.array([1.0, 0.0, 0.0, 0.0])
    # int(16 * 0.07) = 1 lowest: 0.01 -> row 0 = ([0, 0.5, 0.3, 0.19] / 2 + e0 / 2) / 0.995
    result = maps.rollout_fused(fused, 0, (2, 2), discard_ratio=0.07, query=probe)
    np.testing.assert_allclose(result, [[0.5 / 0.995, 0.25 / 0.995], [0.15 / 0.995, 0.095 / 0.995]])
    kept = maps.rollout_fused(fused, 1, (1, 3), discard_ratio=0.07)  # a CLS token's: spared
    np.testing.assert_allclose(kept, [[0.25, 0.15, 0.095]])


def test_prefix_tokens_never_reach_patch_maps(attn):
    """A distillation token (2 prefix tokens) must be cut out, whatever it receives."""
    two_prefix = np.zeros((2, 2, T + 1, T + 1))
    keep = [0, 2, 3, 4, 5]
    two_prefix[np.ix_(range(2), range(2), keep, keep)] = attn
    two_prefix[..., 1] = 123.0  # everything attends heavily to the extra prefix token
    np.testing.assert_allclose(maps.layer_maps(two_prefix, 2, GRID), maps.layer_maps(attn, 1, GRID))


def test_non_square_grid():
    attn = np.random.default_rng(0).random((3, 2, 1 + 6, 1 + 6))
    assert maps.layer_maps(attn, 1, (2, 3)).shape == (3, 2, 3)
    assert maps.rollout(attn, 1, (3, 2)).shape == (3, 2)


@pytest.mark.parametrize(
    "call",
    [
        lambda a: maps.layer_maps(a, 1, (3, 3)),  # tokens do not match the grid
        lambda a: maps.layer_maps(a, 0, (2, 2)),  # no CLS token
        lambda a: maps.rollout(a, 1, GRID, discard_ratio=1.0),
        lambda a: maps.rollout(a, 1, GRID, start_layer=2),
        lambda a: maps.rollout(a, 1, GRID, head_fusion="median"),
        lambda a: maps.aggregate(maps.layer_maps(a, 1, GRID), "sum"),
    ],
)
def test_bad_arguments_raise(attn, call):
    with pytest.raises(ValueError):
        call(attn)


def softmax_attention(layers: int, heads: int, tokens: int):
    """Random row-stochastic attention, as a softmax produces."""
    logits = arrays(np.float64, (layers, heads, tokens, tokens), elements=st.floats(-8, 8))
    return logits.map(lambda x: np.exp(x) / np.exp(x).sum(-1, keepdims=True))


@settings(max_examples=60, deadline=None)
@given(
    attn=softmax_attention(3, 2, 1 + 2 + 6),
    fusion=st.sampled_from(maps.HEAD_FUSIONS),
    discard=st.sampled_from([0.0, 0.1, 0.5, 0.9]),
    start=st.integers(0, 2),
)
def test_rollout_rows_are_distributions(attn, fusion, discard, start):
    joint = maps.rollout_matrix(maps.fuse_heads(attn, fusion), discard, start)
    assert np.all(joint >= 0)
    np.testing.assert_allclose(joint.sum(axis=-1), 1.0, atol=1e-9)
    patches = maps.rollout(attn, 3, (2, 3), fusion, discard, start)
    assert patches.shape == (2, 3) and np.all(patches >= 0) and patches.sum() <= 1 + 1e-9


@settings(max_examples=60, deadline=None)
@given(attn=softmax_attention(2, 3, 1 + 4 + 4), prefix_mass=st.floats(0, 1e6))
def test_maps_are_non_negative_and_ignore_prefix_columns(attn, prefix_mass):
    base = maps.layer_maps(attn, 5, GRID)
    assert np.all(base >= 0)
    for how in maps.AGGREGATES:
        assert np.all(maps.aggregate(base, how) >= 0)
    changed = attn.copy()
    changed[..., 1:5] = prefix_mass  # register tokens: change what the CLS row gives them
    np.testing.assert_array_equal(maps.layer_maps(changed, 5, GRID), base)


@settings(max_examples=60, deadline=None)
@given(
    attn=softmax_attention(4, 2, 1 + 2 + 6),
    fusion=st.sampled_from(maps.HEAD_FUSIONS),
    discard=st.sampled_from([0.0, 0.1, 0.5, 0.9]),
    start=st.integers(0, 3),
    row=st.integers(0, 8),
)
def test_rollout_row_is_that_row_of_the_joint_matrix(attn, fusion, discard, start, row):
    fused = maps.fuse_heads(attn, fusion)
    joint = maps.rollout_matrix(fused, discard, start)
    np.testing.assert_allclose(maps.rollout_row(fused, discard, start, row), joint[row], atol=1e-12)
    if not discard:  # (with ties, float32 rounding changes which entries are the lowest)
        single = maps.rollout_row(fused.astype(np.float32), discard, start, row)
        assert single.dtype == np.float64
        np.testing.assert_allclose(single, joint[row], atol=1e-6)


def test_a_new_layer_aggregate_is_no_head_fusion(monkeypatch):
    """Head fusions are their own list: an aggregate over layers added later (a median) must
    not be accepted by rollout's head fusion, which would silently compute something else."""
    monkeypatch.setitem(maps.AGGREGATES, "median", np.median)
    attn = np.full((1, 2, 5, 5), 0.2)
    np.testing.assert_array_equal(maps.aggregate(np.ones((2, 2, 2)), "median"), np.ones((2, 2)))
    assert maps.HEAD_FUSIONS == ("mean", "max", "min")
    with pytest.raises(ValueError, match="unknown head fusion 'median'"):
        maps.fuse_heads(attn, "median")
