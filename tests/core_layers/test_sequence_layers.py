"""What the sequence layers promise beyond the shared checks: the sinusoid formula and padding
masks."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from dlsuite.core_layers import LSTMBlock, PositionalEmbedding, TransformerEncoderBlock


def test_sinusoidal_positions_follow_vaswani_et_al_and_start_index_shifts_them():
    layer = PositionalEmbedding(5, 8, max_length=16, scale=False, embeddings_initializer="zeros")
    out = keras.ops.convert_to_numpy(layer(np.ones((1, 6), "int32")))[
        0
    ]  # zero token vectors: positions only
    pos = np.arange(6)[:, None]
    i = np.arange(4)[None, :]
    angle = pos / 10000 ** (2 * i / 8)
    np.testing.assert_allclose(out[:, 0::2], np.sin(angle), atol=1e-6)
    np.testing.assert_allclose(out[:, 1::2], np.cos(angle), atol=1e-6)
    shifted = keras.ops.convert_to_numpy(layer(np.ones((1, 2), "int32"), start_index=4))[0]
    np.testing.assert_allclose(shifted, out[4:6], atol=1e-6)


def test_token_embeddings_are_scaled_and_padding_is_masked():
    layer = PositionalEmbedding(
        7, 4, position="learned", mask_zero=True, embeddings_initializer="ones"
    )
    ids = np.array([[3, 5, 0, 0]])
    out = keras.ops.convert_to_numpy(layer(ids))
    np.testing.assert_allclose(out[0, 0], 2.0 + 1.0)  # sqrt(4) * 1 + learned position 1
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(layer.compute_mask(ids)), [[True, True, False, False]]
    )


def _padded_models(block: keras.layers.Layer, *lengths: int) -> list[keras.Model]:
    """``ids (B, length) -> PositionalEmbedding(mask_zero) -> block`` for each length,
    sharing the layers."""
    embedding = PositionalEmbedding(20, 8, mask_zero=True, max_length=max(lengths))
    models = []
    for length in lengths:
        ids = keras.Input((length,), dtype="int32")
        models.append(keras.Model(ids, block(embedding(ids))))
    return models


@pytest.mark.parametrize("norm_first", [True, False])
def test_encoder_block_ignores_padding(norm_first):
    """The real tokens' outputs do not change when padding is appended (it is never attended to)."""
    block = TransformerEncoderBlock(num_heads=2, intermediate_dim=16, norm_first=norm_first)
    short, long = _padded_models(block, 4, 7)
    ids = np.array([[4, 9, 2, 11]])
    padded = np.concatenate([ids, np.zeros((1, 3), "int32")], axis=1)
    a = keras.ops.convert_to_numpy(short(ids))
    b = keras.ops.convert_to_numpy(long(padded))[:, :4]
    np.testing.assert_allclose(a, b, atol=1e-5)
    embedded = keras.ops.convert_to_numpy(long.layers[1](padded))  # a NumPy array carries no mask
    unmasked = keras.ops.convert_to_numpy(block(embedded))[:, :4]
    assert np.abs(unmasked - a).max() > 1e-3  # without the mask, the padding does change them


@pytest.mark.parametrize("bidirectional", [True, False])
def test_lstm_block_skips_padding(bidirectional):
    block = LSTMBlock(5, num_layers=2, bidirectional=bidirectional)
    short, long = _padded_models(block, 3, 6)
    ids = np.array([[4, 9, 2], [7, 1, 3]])
    padded = np.concatenate([ids, np.zeros((2, 3), "int32")], axis=1)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(short(ids)), keras.ops.convert_to_numpy(long(padded)), atol=1e-5
    )
