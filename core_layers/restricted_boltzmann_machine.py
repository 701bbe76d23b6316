"""Bernoulli restricted Boltzmann machine with contrastive divergence
(Hinton 2002; Hinton et al. 2006).
"""

import keras
import tensorflow as tf

from dlsuite.base.validation import check_positive_int


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

    With `label_units=K`, the last K visible units are a softmax group (one-of-K): the paper's
    top-level associative memory, whose visible vector is the penultimate layer's code
    concatenated with a one-hot label (the paper's figure 1). `p(label | h)` is the softmax
    of `h W_label^T + b_label`; CD-k reconstructs the label block with these probabilities (the
    paper's appendix B); `gibbs_sample` draws one-of-K labels from them, or keeps the labels
    clamped; `label_free_energy` gives the free energy of the code with each label, whose lowest
    value is the paper's exact classification.

    Args:
        units: positive int, number of hidden units.
        k: positive int, Gibbs steps of CD-k. Defaults to 1.
        label_units: int >= 0, size K of the softmax label group at the end of the visible
            vector (0: none, a plain binary RBM). Defaults to 0.
        kernel_initializer: initializer of `W`. Defaults to N(0, 0.01) (Hinton's practical guide).
        **kwargs: base layer arguments (`name`, `dtype`, `trainable`, ...).

    Call arguments:
        inputs: float tensor `(batch, visible)` of probabilities in [0, 1] (with label units: the
            code followed by the K label values, e.g. a one-hot label).

    Input shape:
        `(batch, visible)`, `visible > label_units`.

    Output shape:
        `(batch, units)`: hidden unit probabilities.

    Example:
    >>> rbm = RestrictedBoltzmannMachine(units=8)
    >>> rbm(keras.ops.ones((2, 16))).shape
    TensorShape([2, 8])
    >>> top = RestrictedBoltzmannMachine(units=8, label_units=3)
    >>> top.build((None, 16))  # visible: a 13-unit code and 3 label units
    >>> top.label_free_energy(keras.ops.ones((2, 13))).shape  # one free energy per label
    TensorShape([2, 3])
    """

    def __init__(self, units, k=1, label_units=0, kernel_initializer=None, **kwargs):
        super().__init__(**kwargs)
        check_positive_int(units=units)
        check_positive_int(k=k)
        if isinstance(label_units, bool) or not isinstance(label_units, int) or label_units < 0:
            raise ValueError(
                f"`label_units` expected an integer >= 0. Received: label_units={label_units!r}"
            )
        self.units = units
        self.k = k
        self.label_units = label_units
        self.kernel_initializer = keras.initializers.get(
            kernel_initializer or keras.initializers.RandomNormal(stddev=0.01)
        )

    def build(self, input_shape):
        if len(input_shape) != 2:
            raise ValueError(
                f"{self.__class__.__name__} expected a 2D input (batch, visible). "
                f"Received: input_shape={input_shape}"
            )
        visible = input_shape[-1]
        if visible <= self.label_units:
            raise ValueError(
                f"{self.__class__.__name__} expected more visible units than label_units="
                f"{self.label_units}. Received: input_shape={input_shape}"
            )
        self.kernel = self.add_weight(
            shape=(visible, self.units), initializer=self.kernel_initializer, name="kernel"
        )
        self.hidden_bias = self.add_weight(
            shape=(self.units,), initializer="zeros", name="hidden_bias"
        )
        self.visible_bias = self.add_weight(
            shape=(visible,), initializer="zeros", name="visible_bias", trainable=False
        )

    def call(self, inputs):
        return keras.ops.sigmoid(keras.ops.matmul(inputs, self.kernel) + self.hidden_bias)  # (B, H)

    def visible_probabilities(self, hidden):
        """(B, H) hidden states -> (B, V) probabilities of the visible units
        (label block: softmax).
        """
        # (B, V)
        logits = keras.ops.matmul(hidden, keras.ops.transpose(self.kernel)) + self.visible_bias
        if not self.label_units:
            return keras.ops.sigmoid(logits)
        code, labels = logits[:, : -self.label_units], logits[:, -self.label_units :]
        return keras.ops.concatenate(
            [keras.ops.sigmoid(code), keras.ops.softmax(labels, axis=-1)], axis=-1
        )

    def gibbs_sample(self, visible, steps, seed=None, clamp_labels=False):
        """Run `steps` rounds v -> h -> v of block Gibbs sampling; returns the last visible state.

        Hidden states are sampled; the binary visible units are carried as probabilities. The
        label block (with `label_units`) stays as given when `clamp_labels`, otherwise it is drawn
        one-of-K from its softmax at every step.
        """
        v = tf.convert_to_tensor(visible, self.compute_dtype)  # (B, V)
        labels = v[:, -self.label_units :] if self.label_units else None  # (B, K)
        for step in range(steps):
            h = self._bernoulli(self(v), seed, 2 * step)  # (B, H)
            v = self.visible_probabilities(h)  # (B, V)
            if self.label_units:
                if not clamp_labels:
                    labels = self._categorical(v[:, -self.label_units :], seed, 2 * step + 1)
                v = tf.concat([v[:, : -self.label_units], labels], axis=-1)
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
        self.kernel.assign_add(
            learning_rate
            * (tf.matmul(v0, h0, transpose_a=True) - tf.matmul(v, hk, transpose_a=True))
            / batch
        )
        self.hidden_bias.assign_add(learning_rate * tf.reduce_mean(h0 - hk, axis=0))
        self.visible_bias.assign_add(learning_rate * tf.reduce_mean(v0 - v, axis=0))
        return tf.reduce_mean(tf.square(v0 - v))

    def free_energy(self, visible):
        """(B, V) -> (B,): `F(v) = -v.b - sum_j softplus(v W_j + c_j)`,
        so `p(v)` is proportional to `exp(-F(v))`.
        """
        v = tf.convert_to_tensor(visible, self.variable_dtype)
        return -tf.linalg.matvec(v, self.visible_bias) - tf.reduce_sum(
            tf.nn.softplus(v @ self.kernel + self.hidden_bias), -1
        )

    def label_free_energy(self, code):
        """(B, V - K) codes -> (B, K): the free energy of each code with each one-hot label.

        `softmax(-F)` over the K labels is the exact `p(label | code)` of the RBM; the lowest free
        energy is the most probable label.
        """
        if not self.label_units:
            raise ValueError(
                f"{self.name} has no label units. Received: label_units={self.label_units}"
            )
        x = tf.convert_to_tensor(code, self.variable_dtype)
        w_code, w_label = (
            self.kernel[: -self.label_units],
            self.kernel[-self.label_units :],
        )  # (V-K, H), (K, H)
        b_code, b_label = (
            self.visible_bias[: -self.label_units],
            self.visible_bias[-self.label_units :],
        )
        pre = x @ w_code + self.hidden_bias  # (B, H)
        hidden = tf.reduce_sum(tf.nn.softplus(pre[:, None, :] + w_label[None]), -1)  # (B, K)
        return -tf.linalg.matvec(x, b_code)[:, None] - b_label[None] - hidden

    def _bernoulli(self, probabilities, seed, offset):
        if seed is None:
            noise = tf.random.uniform(tf.shape(probabilities), dtype=probabilities.dtype)
        else:
            noise = tf.random.stateless_uniform(
                tf.shape(probabilities), seed=[seed, offset], dtype=probabilities.dtype
            )
        return tf.cast(noise < probabilities, probabilities.dtype)

    def _categorical(self, probabilities, seed, offset):
        """(B, K) probabilities -> (B, K) one-hot samples."""
        logits = tf.math.log(tf.cast(probabilities, tf.float32) + 1e-20)
        if seed is None:
            index = tf.random.categorical(logits, 1)[:, 0]
        else:
            index = tf.random.stateless_categorical(logits, 1, seed=[seed, offset])[:, 0]
        return tf.one_hot(index, self.label_units, dtype=probabilities.dtype)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.units)

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "k": self.k,
            "label_units": self.label_units,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
        }
