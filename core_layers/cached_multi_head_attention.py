"""Multi-head attention with causal/padding masks and a key/value cache for incremental decoding."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="dlsuite")
class CachedMultiHeadAttention(keras.layers.MultiHeadAttention):
    """`keras.layers.MultiHeadAttention` plus a key/value cache for autoregressive decoding.

    Scaled dot-product attention of Vaswani et al., "Attention Is All You Need" (NeurIPS 2017),
    section 3.2, with Keras's projections and attention kernel. What Keras lacks is added here,
    as KerasHub's `CachedMultiHeadAttention` does it: a cache of the projected keys and values
    of the tokens seen so far, so generating token `i` projects only token `i` and attends over
    the cache instead of re-running the whole prefix (Radford et al. 2019 decode GPT-2 this way).

    The forward pass has three modes:

    - no `cache`: ordinary multi-head attention (training, or a full forward pass);
    - `cache` and `cache_update_index`: the keys/values of `key`/`value` are projected, written
      into the cache at `cache_update_index`, and the query attends over the whole cache;
    - `cache` without `cache_update_index`: a static cache (e.g. the encoder keys/values of a
      translation decoder's cross-attention); `key`/`value` are ignored.

    The causal mask follows the positions: query row `t` sits at position
    `cache_update_index + t` and may attend to cache positions up to and including it. The cache
    needs `value_dim == key_dim`.

    Args:
        num_heads: positive int, number of attention heads.
        key_dim: positive int, size of each head for query and key.
        value_dim: size of each head for value; defaults to `key_dim`.
        dropout: dropout rate on the attention probabilities. Defaults to 0.
        **kwargs: the other arguments of `keras.layers.MultiHeadAttention` (`use_bias`,
            `output_shape`, initializers, regularizers, constraints, `seed`) and base layer
            arguments.

    Call arguments:
        query: `(B, T, dim)` query sequence.
        value: `(B, S, dim)` value sequence; defaults to `query` (self-attention).
        key: `(B, S, dim)` key sequence; defaults to `value`.
        attention_mask: optional bool `(B, T, S)`, True where a query may attend to a key.
        padding_mask: optional bool `(B, S)`, True for real (non-padding) keys.
        use_causal_mask: bool, forbid attending to later positions. Defaults to False.
        cache: optional `(B, 2, S, num_heads, key_dim)` stacked keys and values.
        cache_update_index: int or scalar int tensor, position of the first query token in
            the cache (only with `cache`).
        training: bool, whether attention dropout is active.

    Returns:
        The attention output `(B, T, dim)`; with a `cache`, `(output, updated_cache)`.

    Input shape:
        `query` `(batch, target_length, dim)`, `value`/`key` `(batch, source_length, dim)`.

    Output shape:
        `(batch, target_length, dim)` (or `output_shape`), plus the cache's shape with a cache.

    Example:
    >>> layer = CachedMultiHeadAttention(num_heads=2, key_dim=4)
    >>> layer(keras.ops.ones((1, 5, 8)), use_causal_mask=True).shape
    TensorShape([1, 5, 8])
    """

    def build(self, query_shape, value_shape=None, key_shape=None):
        if len(query_shape) != 3:
            raise ValueError(
                f"{self.__class__.__name__} expected a 3D query (batch, length, dim). "
                f"Received: query_shape={query_shape}"
            )
        value_shape = query_shape if value_shape is None else value_shape
        super().build(query_shape, value_shape, key_shape)

    def call(
        self,
        query,
        value=None,
        key=None,
        attention_mask=None,
        padding_mask=None,
        use_causal_mask=False,
        cache=None,
        cache_update_index=None,
        training=None,
    ):
        value = query if value is None else value
        key = value if key is None else key
        if cache is None and cache_update_index is not None:
            raise ValueError(
                "`cache_update_index` needs a `cache`. "
                f"Received: cache_update_index={cache_update_index}"
            )
        if cache is not None and self._value_dim != self._key_dim:
            raise ValueError(
                "the key/value cache needs value_dim == key_dim. "
                f"Received: value_dim={self._value_dim}, key_dim={self._key_dim}"
            )
        if use_causal_mask and cache is not None and cache_update_index is None:
            raise ValueError(
                "a causal mask over a static cache is undefined: pass `cache_update_index`"
            )

        projected_query = self._query_dense(query)  # (B, T, N, H)
        if cache is None:
            projected_key = self._key_dense(key)  # (B, S, N, H)
            projected_value = self._value_dense(value)  # (B, S, N, H)
        elif cache_update_index is None:
            projected_key, projected_value = cache[:, 0, ...], cache[:, 1, ...]  # (B, S, N, H) each
        else:
            start = [0, cache_update_index, 0, 0]
            projected_key = ops.slice_update(cache[:, 0, ...], start, self._key_dense(key))
            projected_value = ops.slice_update(cache[:, 1, ...], start, self._value_dense(value))
            cache = ops.stack((projected_key, projected_value), axis=1)  # (B, 2, S, N, H)

        mask = self._attention_mask(
            projected_query,
            projected_key,
            attention_mask,
            padding_mask,
            use_causal_mask,
            cache_update_index,
        )
        output, _ = self._compute_attention(
            projected_query, projected_key, projected_value, mask, training
        )
        output = self._output_dense(output)  # (B, T, dim)
        return output if cache is None else (output, cache)

    def _attention_mask(self, query, key, attention_mask, padding_mask, use_causal_mask, start):
        """Bool `(B|1, T, S)` combining the given masks
        and the position-aware causal mask, or None.
        """
        masks = []
        if attention_mask is not None:
            masks.append(ops.cast(attention_mask, "bool"))  # (B, T, S)
        if padding_mask is not None:
            masks.append(ops.expand_dims(ops.cast(padding_mask, "bool"), 1))  # (B, 1, S)
        if use_causal_mask:
            offset = 0 if start is None else ops.cast(start, "int32")
            # (T, 1) query positions
            rows = ops.arange(ops.shape(query)[1], dtype="int32")[:, None] + offset
            cols = ops.arange(ops.shape(key)[1], dtype="int32")[None, :]  # (1, S) key positions
            masks.append(ops.expand_dims(ops.less_equal(cols, rows), 0))  # (1, T, S)
        if not masks:
            return None
        mask = masks[0]
        for other in masks[1:]:
            mask = ops.logical_and(mask, other)
        return mask

    def compute_output_shape(self, query_shape, value_shape=None, key_shape=None):
        value_shape = query_shape if value_shape is None else value_shape
        return super().compute_output_shape(query_shape, value_shape, key_shape)

    def compute_output_spec(self, query, value=None, key=None, cache=None, **kwargs):
        value_shape = None if value is None else value.shape
        key_shape = None if key is None else key.shape
        output = keras.KerasTensor(
            self.compute_output_shape(query.shape, value_shape, key_shape), dtype=self.compute_dtype
        )
        if cache is None:
            return output
        return output, keras.KerasTensor(cache.shape, dtype=cache.dtype)
