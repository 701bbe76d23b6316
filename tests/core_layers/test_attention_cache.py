"""The key/value cache: incremental decoding gives the full causal forward pass, masks behave."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from dlsuite.core_layers import CachedMultiHeadAttention, TransformerDecoderBlock

B, T, WIDTH, HEADS = 2, 7, 8, 2


def _x(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype("float32")


def _numpy(x):
    return keras.ops.convert_to_numpy(x)


def test_causal_mask_hides_the_future_and_padding_mask_hides_keys():
    layer = CachedMultiHeadAttention(num_heads=HEADS, key_dim=4)
    x = _x((B, T, WIDTH))
    full = _numpy(layer(x, use_causal_mask=True))
    changed = x.copy()
    changed[:, 4:] += 1.0  # later tokens change ...
    np.testing.assert_allclose(
        _numpy(layer(changed, use_causal_mask=True))[:, :4], full[:, :4], atol=1e-6
    )
    assert np.abs(_numpy(layer(changed, use_causal_mask=True))[:, 4:] - full[:, 4:]).max() > 1e-3
    keep = np.ones((B, T), bool)
    keep[:, 5:] = False  # ... and padded keys are never attended to, whatever they hold
    masked = _numpy(layer(changed, x, padding_mask=keep))
    shorter = _numpy(layer(changed, x[:, :5]))
    np.testing.assert_allclose(masked, shorter, atol=1e-6)


@pytest.mark.parametrize("norm_first", [True, False])
def test_decoder_block_cached_decoding_equals_the_full_causal_pass(norm_first):
    block = TransformerDecoderBlock(num_heads=HEADS, intermediate_dim=16, norm_first=norm_first)
    x = _x((B, T, WIDTH))
    full = _numpy(block(x))
    empty = np.zeros((B, 2, T, HEADS, WIDTH // HEADS), "float32")
    # Prefill the first 3 positions at once, then one token per step.
    prefix, cache = block(x[:, :3], self_attention_cache=empty, self_attention_cache_update_index=0)
    steps = [_numpy(prefix)]
    for i in range(3, T):
        y, cache = block(
            x[:, i : i + 1], self_attention_cache=cache, self_attention_cache_update_index=i
        )
        steps.append(_numpy(y))
    np.testing.assert_allclose(np.concatenate(steps, axis=1), full, atol=1e-5)
    assert _numpy(cache).shape == (B, 2, T, HEADS, WIDTH // HEADS)


def test_cross_attention_with_a_static_encoder_cache_equals_the_full_pass():
    block = TransformerDecoderBlock(num_heads=HEADS, intermediate_dim=16)
    x, encoder = _x((B, T, WIDTH)), _x((B, 5, 6), seed=1)
    keep = np.array([[True] * 5, [True] * 3 + [False] * 2])
    full = _numpy(block(x, encoder, encoder_padding_mask=keep))
    cross = block.compute_cross_attention_cache(encoder)
    cache = np.zeros((B, 2, T, HEADS, WIDTH // HEADS), "float32")
    steps = []
    for i in range(T):
        y, cache = block(
            x[:, i : i + 1],
            encoder_padding_mask=keep,
            self_attention_cache=cache,
            self_attention_cache_update_index=i,
            cross_attention_cache=cross,
        )
        steps.append(_numpy(y))
    np.testing.assert_allclose(np.concatenate(steps, axis=1), full, atol=1e-5)
    with pytest.raises(ValueError, match="has cross-attention"):
        block(x)


def test_cache_errors_name_the_problem():
    layer = CachedMultiHeadAttention(num_heads=HEADS, key_dim=4)
    x = _x((B, 3, WIDTH))
    with pytest.raises(ValueError, match="needs a `cache`"):
        layer(x, cache_update_index=0)
    with pytest.raises(ValueError, match="static cache"):
        layer(x, cache=np.zeros((B, 2, 3, HEADS, 4), "float32"), use_causal_mask=True)
    uneven = CachedMultiHeadAttention(num_heads=HEADS, key_dim=4, value_dim=3)
    with pytest.raises(ValueError, match="value_dim == key_dim"):
        uneven(x, cache=np.zeros((B, 2, 3, HEADS, 4), "float32"), cache_update_index=0)
    decoder_only = TransformerDecoderBlock(num_heads=HEADS, intermediate_dim=4)
    decoder_only(x)
    with pytest.raises(ValueError, match="without cross-attention"):
        decoder_only(x, _x((B, 2, WIDTH)))
    with pytest.raises(ValueError, match="divisible by num_heads=3"):
        TransformerDecoderBlock(num_heads=3, intermediate_dim=4)(x)
