"""Per-channel energy normalization (PCEN, Wang et al. 2017) of a mel energy spectrogram."""

import math

import keras
import tensorflow as tf

MAX_SMOOTH_COEF = 0.999  # a learned s is clipped below 1: log(1 - s) must stay finite


@keras.saving.register_keras_serializable(package="dlsuite")
class PCEN(keras.layers.Layer):
    """Per-channel energy normalization of mel energies, with trainable per-channel parameters.

    Wang et al., "Trainable frontend for robust and far-field keyword spotting" (ICASSP 2017),
    eq. (1): with `E` the mel energies (not their log) and `M` their smoothed version over time,

        M[t] = (1 - s) M[t - 1] + s E[t],   M[-1] = E[0]
        PCEN[t] = (E[t] / (eps + M[t]) ** alpha + delta) ** r - delta ** r

    per channel. `E / M ** alpha` is an automatic gain control (a level change of the input
    changes the output by a factor `gain ** (1 - alpha)` only), then the root `r` compresses the
    dynamic range as the log would. The smoother starts in its steady state for the first frame
    (as `librosa.pcen` does), so a constant input gives the steady-state output
    `(c / (eps + c) ** alpha + delta) ** r - delta ** r` from the first frame on.

    `alpha`, `delta` and `r` are weights of one value per channel (stored as their logs so
    they stay positive; `alpha` and `r` are clipped to at most 1), trained with the network;
    `s` too with `learn_smooth_coef=True` (clipped to at most `MAX_SMOOTH_COEF`). The IIR
    smoother is computed as one matmul with the `(channels, T, T)` matrix of its impulse
    response `s (1 - s) ** (t - k)`, fast for clips of up to a few hundred frames (memory and
    time grow as `T ** 2`). Inputs below 0 (not energies) are taken as 0. Computed in float32.

    Args:
        alpha: initial gain normalization exponent, in (0, 1]. Defaults to 0.98.
        delta: initial bias added before the root, > 0. Defaults to 2.
        r: initial root exponent, in (0, 1]. Defaults to 0.5.
        smooth_coef: s, the smoother's coefficient, in (0, 1): about `hop / time constant`
            (0.025: 10 ms hops, 0.4 s). Defaults to 0.025.
        eps: added to `M` before the power, > 0. Defaults to 1e-6.
        learn_smooth_coef: whether `s` is trained (one per channel). Defaults to False.
        **kwargs: base layer arguments.

    Call arguments:
        inputs: mel energies `(batch, frames, channels)`, e.g. `LogMelSpectrogram(log=False)`.

    Input shape:
        `(batch, frames, channels)`.

    Output shape:
        Same as the input.

    Example:
    >>> PCEN()(keras.ops.ones((2, 49, 40))).shape
    TensorShape([2, 49, 40])
    """

    def __init__(
        self,
        alpha=0.98,
        delta=2.0,
        r=0.5,
        smooth_coef=0.025,
        eps=1e-6,
        learn_smooth_coef=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        for name, value, low, high, closed in (
            ("alpha", alpha, 0.0, 1.0, True),
            ("r", r, 0.0, 1.0, True),
            ("smooth_coef", smooth_coef, 0.0, 1.0, False),
        ):
            if not (low < value <= high if closed else low < value < high):
                interval = f"({low:g}, {high:g}{']' if closed else ')'}"
                raise ValueError(
                    f"`{name}` expected a number in {interval}. Received: {name}={value!r}"
                )
        for name, value in (("delta", delta), ("eps", eps)):
            if not value > 0:
                raise ValueError(f"`{name}` expected a positive number. Received: {name}={value!r}")
        self.alpha = float(alpha)
        self.delta = float(delta)
        self.r = float(r)
        self.smooth_coef = float(smooth_coef)
        self.eps = float(eps)
        self.learn_smooth_coef = bool(learn_smooth_coef)

    def build(self, input_shape):
        if len(input_shape) != 3 or input_shape[-1] is None:
            raise ValueError(
                f"{self.__class__.__name__} expected a 3D input (batch, frames, channels) with a "
                f"known number of channels. Received: input_shape={input_shape}"
            )
        channels = (input_shape[-1],)

        def log_weight(name, value, trainable=True):
            return self.add_weight(
                name=name,
                shape=channels,
                initializer=keras.initializers.Constant(math.log(value)),
                trainable=trainable,
            )

        self.log_alpha = log_weight("log_alpha", self.alpha)
        self.log_delta = log_weight("log_delta", self.delta)
        self.log_r = log_weight("log_r", self.r)
        self.log_smooth_coef = log_weight(
            "log_smooth_coef", self.smooth_coef, trainable=self.learn_smooth_coef
        )

    def smooth(self, energies, s):
        """`M` `(B, T, F)` of energies `(B, T, F)` float32 with coefficients `s` `(F,)`."""
        frames = tf.range(tf.shape(energies)[1], dtype=tf.float32)  # (T,)
        lag = frames[:, None] - frames[None, :]  # (T, T): t - k
        causal = lag >= 0
        log_decay = tf.math.log1p(-s)  # (F,)
        # response[f, t, k] = s (1 - s) ** (t - k) for k <= t, else 0.
        response = tf.where(
            causal[None],
            s[:, None, None] * tf.exp(tf.where(causal, lag, 0.0)[None] * log_decay[:, None, None]),
            0.0,
        )  # (F, T, T)
        smoothed = tf.einsum("ftk,bkf->btf", response, energies)  # (B, T, F)
        # The state before the first frame, M[-1] = E[0], decays as (1 - s) ** (t + 1).
        initial = tf.exp((frames + 1.0)[:, None] * log_decay[None, :])  # (T, F)
        return smoothed + initial[None] * energies[:, :1, :]

    def call(self, inputs):
        energies = tf.nn.relu(tf.cast(inputs, tf.float32))  # (B, T, F)
        alpha, delta, r, s = (
            tf.exp(tf.cast(w, tf.float32))  # (F,) each; float32 also under a mixed policy
            for w in (self.log_alpha, self.log_delta, self.log_r, self.log_smooth_coef)
        )
        alpha, r, s = tf.minimum(alpha, 1.0), tf.minimum(r, 1.0), tf.minimum(s, MAX_SMOOTH_COEF)
        smoothed = self.smooth(energies, s)  # (B, T, F)
        gain = tf.exp(-alpha * tf.math.log(self.eps + smoothed))  # (eps + M) ** -alpha
        outputs = tf.pow(energies * gain + delta, r) - tf.pow(delta, r)
        return tf.cast(outputs, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {
            **super().get_config(),
            "alpha": self.alpha,
            "delta": self.delta,
            "r": self.r,
            "smooth_coef": self.smooth_coef,
            "eps": self.eps,
            "learn_smooth_coef": self.learn_smooth_coef,
        }
