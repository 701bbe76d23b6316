"""Bernoulli restricted Boltzmann machine with contrastive divergence (Hinton 2002; Hinton et al. 2006)."""

import keras
import tensorflow as tf

from core_layers._validation import check_positive_int


@keras.saving.register_keras_serializable(package="dlsuite")
class RestrictedBoltzmannMachine(keras.layers.Layer):
    """A binary RBM: `p(h=1 | v) = sigmoid(v W + c)`, `p(v=1 | h) = sigmoid(h W^T + b)`.

    Hinton, "Training Products of Experts by Minimizing Contrastive Divergence" (Neural
    Computation 2002) for CD-k; Hinton, Osindero and Teh, "A Fast Learning Algorithm for Deep Belief
    Nets" (Neural Computation 2006) for stacking RBMs greedily into a deep belief network.
    Calling the layer gives the hidden probabilities, so a stack of pre-trained RBMs is the
    feed-forward network that a DBN classifier fine-tunes. `contrastive_divergence` performs one
    CD-k update on a batch (it assigns the weights, no optimizer); `gibbs_sample` runs block Gibbs
    sampling. The visible bias is only used by the generative direction, so it is updated by CD
    and is not a backprop-trainable weight.

    Args:
        units: positive int, number of hidden units.
        k: positive int, Gibbs steps of CD-k. Defaults to 1.
        kernel_initializer: initializer of `W`. Defaults to N(0, 0.01) (Hinton's practical guide).
        **kwargs: base layer arguments (`name`, `dtype`, `trainable`, ...).

    Call arguments:
        inputs: float tensor `(batch, visible)` of probabilities in [0, 1].

    Input shape:
        `(batch, visible)`.

    Output shape:
        `(batch, units)`: hidden unit probabilities.

    Example:
    >>> rbm = RestrictedBoltzmannMachine(units=8)
    >>> rbm(keras.ops.ones((2, 16))).shape
    TensorShape([2, 8])
    """

    def __init__(self, units, k=1, kernel_initializer=None, **kwargs):
        super().__init__(**kwargs)
        check_positive_int(units=units)
        check_positive_int(k=k)
        self.units = units
        self.k = k
        self.kernel_initializer = keras.initializers.get(
            kernel_initializer or keras.initializers.RandomNormal(stddev=0.01))

    def build(self, input_shape):
        if len(input_shape) != 2:
            raise ValueError(f"{self.__class__.__name__} expected a 2D input (batch, visible). "
                             f"Received: input_shape={input_shape}")
        visible = input_shape[-1]
        self.kernel = self.add_weight(shape=(visible, self.units), initializer=self.kernel_initializer, name="kernel")
        self.hidden_bias = self.add_weight(shape=(self.units,), initializer="zeros", name="hidden_bias")
        self.visible_bias = self.add_weight(shape=(visible,), initializer="zeros", name="visible_bias",
                                            trainable=False)

    def call(self, inputs):
        return keras.ops.sigmoid(keras.ops.matmul(inputs, self.kernel) + self.hidden_bias)  # (B, H)

    def visible_probabilities(self, hidden):
        """(B, H) hidden states -> (B, V) probabilities of the visible units."""
        return keras.ops.sigmoid(keras.ops.matmul(hidden, keras.ops.transpose(self.kernel)) + self.visible_bias)

    def gibbs_sample(self, visible, steps, seed=None):
        """Run `steps` rounds v -> h -> v of block Gibbs sampling; returns the last visible probabilities."""
        v = tf.convert_to_tensor(visible, self.compute_dtype)
        for step in range(steps):
            h = self._bernoulli(self(v), seed, 2 * step)
            v = self.visible_probabilities(h)
        return v

    def contrastive_divergence(self, visible, learning_rate, seed=None):
        """One CD-k update on a batch `(B, V)` of probabilities; returns the mean squared
        reconstruction error (a progress figure, not the objective)."""
        v0 = tf.convert_to_tensor(visible, self.variable_dtype)
        h0 = self(v0)  # (B, H) positive phase
        h, v = self._bernoulli(h0, seed, 0), v0
        for step in range(self.k):  # negative phase: k Gibbs steps from the data
            v = self.visible_probabilities(h)  # (B, V), probabilities (Hinton's guide, section 3)
            hk = self(v)
            h = self._bernoulli(hk, seed, 2 * step + 1)
        batch = tf.cast(tf.shape(v0)[0], v0.dtype)
        self.kernel.assign_add(learning_rate * (tf.matmul(v0, h0, transpose_a=True) - tf.matmul(v, hk, transpose_a=True)) / batch)
        self.hidden_bias.assign_add(learning_rate * tf.reduce_mean(h0 - hk, axis=0))
        self.visible_bias.assign_add(learning_rate * tf.reduce_mean(v0 - v, axis=0))
        return tf.reduce_mean(tf.square(v0 - v))

    def _bernoulli(self, probabilities, seed, offset):
        if seed is None:
            noise = tf.random.uniform(tf.shape(probabilities), dtype=probabilities.dtype)
        else:
            noise = tf.random.stateless_uniform(tf.shape(probabilities), seed=[seed, offset], dtype=probabilities.dtype)
        return tf.cast(noise < probabilities, probabilities.dtype)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.units)

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "k": self.k,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
        }
