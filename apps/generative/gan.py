"""GAN networks and the GAN model with its custom ``train_step`` (Keras 3).

- Goodfellow et al., "Generative Adversarial Nets" (NeurIPS 2014): the adversarial game, with the
  non-saturating generator loss ``-log D(G(z))`` of section 3.
- Radford, Metz and Chintala, "Unsupervised Representation Learning with Deep Convolutional GANs"
  (ICLR 2016): the DCGAN networks (`core_layers.DCGANGeneratorBlock`, `DCGANDiscriminatorBlock`).
- Gulrajani et al., "Improved Training of Wasserstein GANs" (NeurIPS 2017): critic loss
  ``D(fake) - D(real) + lambda (||grad D(x_hat)|| - 1)^2`` and ``n_critic`` critic steps per
  generator step, no batch normalization in the critic.
- Class conditioning: a label embedding concatenated to the generator's noise (Mirza & Osindero
  2014) and a projection discriminator (Miyato & Koyama, "cGANs with Projection Discriminator",
  ICLR 2018): ``D(x, y) = psi(h(x)) + <embed(y), h(x)>``. The discriminator outputs the logit for
  every class at once, shape (B, K), and the loss picks the requested class's column.

Images are float32 pixels in [0, 255] (the suite's convention); the GAN works in [-1, 1].
"""

from __future__ import annotations

import keras
import tensorflow as tf

from dlsuite.core_layers import DCGANDiscriminatorBlock, DCGANGeneratorBlock

LOSSES = ("nonsaturating", "wasserstein_gp")


def build_generator(
    latent_dim: int, image_shape: tuple[int, int, int], filters: int, num_classes: int | None = None
) -> keras.Model:
    """DCGAN generator: (z (B, latent_dim)[, labels (B,)]) -> images (B, S, S, C) in [-1, 1]."""
    size, _, channels = image_shape
    base = size // 4
    z = keras.Input((latent_dim,), name="z")
    inputs, x = [z], z
    if num_classes:
        labels = keras.Input((), dtype="int32", name="labels")
        inputs.append(labels)
        embedded = keras.layers.Embedding(num_classes, latent_dim, name="label_embedding")(
            labels
        )  # (B, L)
        x = keras.layers.Concatenate(name="z_and_label")([z, embedded])  # (B, 2L)
    x = keras.layers.Dense(
        base * base * filters,
        use_bias=False,
        name="project",
        kernel_initializer=keras.initializers.RandomNormal(stddev=0.02),
    )(x)
    x = keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name="project_bn")(x)
    x = keras.layers.ReLU(name="project_relu")(x)
    x = keras.layers.Reshape((base, base, filters), name="reshape")(x)  # (B, S/4, S/4, F)
    x = DCGANGeneratorBlock(filters // 2, name="up1")(x)  # (B, S/2, S/2, F/2)
    x = keras.layers.Conv2DTranspose(
        channels,
        4,
        strides=2,
        padding="same",
        name="to_image",
        kernel_initializer=keras.initializers.RandomNormal(stddev=0.02),
    )(x)
    images = keras.layers.Activation("tanh", dtype="float32", name="tanh")(x)  # (B, S, S, C)
    return keras.Model(inputs if num_classes else z, images, name="generator")


def build_discriminator(
    image_shape: tuple[int, int, int],
    filters: int,
    num_classes: int | None = None,
    normalization: str = "batch",
) -> keras.Model:
    """DCGAN discriminator / critic: images (B, S, S, C) in [-1, 1] -> logits (B, K) or (B, 1)."""
    images = keras.Input(image_shape, name="images")
    x = DCGANDiscriminatorBlock(filters // 2, normalization="none", name="down1")(
        images
    )  # (B, S/2, S/2, F/2)
    x = DCGANDiscriminatorBlock(filters, normalization=normalization, name="down2")(
        x
    )  # (B, S/4, S/4, F)
    h = keras.layers.Flatten(name="features")(x)  # (B, S*S*F/16)
    logit = keras.layers.Dense(1, name="psi")(h)  # (B, 1)
    if num_classes:
        projection = keras.layers.Dense(num_classes, use_bias=False, name="class_projection")(
            h
        )  # (B, K)
        logit = keras.layers.Add(name="projection")([logit, projection])  # (B, K) by broadcasting
    logit = keras.layers.Activation("linear", dtype="float32", name="logits")(logit)
    return keras.Model(images, logit, name="discriminator")


@keras.saving.register_keras_serializable(package="dlsuite")
class GAN(keras.Model):
    """A generator and a discriminator trained against each other by a custom ``train_step``.

    Args:
        generator: model ``(z[, labels]) -> images in [-1, 1]``.
        discriminator: model ``images -> logits (B, K)`` (conditional) or ``(B, 1)``.
        latent_dim: size of ``z``.
        num_classes: number of classes of a conditional GAN, or None.
        loss: ``"nonsaturating"`` (DCGAN) or ``"wasserstein_gp"`` (WGAN-GP).
        n_critic: critic steps per generator step (``wasserstein_gp``).
        gp_weight: gradient penalty weight (``wasserstein_gp``).

    Calling the model scores images: float32 pixels in [0, 255] ``(B, S, S, C)`` -> logits of the
    discriminator ``(B, K)`` (one per class) or ``(B, 1)``.
    """

    def __init__(
        self,
        generator,
        discriminator,
        latent_dim,
        num_classes=None,
        loss="nonsaturating",
        n_critic=1,
        gp_weight=10.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if loss not in LOSSES:
            raise ValueError(f"`loss` expected one of {LOSSES}. Received: loss={loss!r}")
        self.generator = generator
        self.discriminator = discriminator
        self.latent_dim = int(latent_dim)
        self.num_classes = None if num_classes is None else int(num_classes)
        self.loss_name = loss
        self.n_critic = int(n_critic)
        self.gp_weight = float(gp_weight)
        self.seed_generator = keras.random.SeedGenerator(0)
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.loss_tracker = keras.metrics.Mean(name="loss")

    @property
    def metrics(self):
        return [self.loss_tracker, self.d_loss_tracker, self.g_loss_tracker]

    def compile(self, d_optimizer, g_optimizer, jit_compile=False, run_eagerly=False):
        super().compile(optimizer=d_optimizer, jit_compile=jit_compile, run_eagerly=run_eagerly)
        self.g_optimizer = g_optimizer
        # Build both now (inside the strategy scope when compiled there): slots are not created
        # lazily inside the replicated train function, and each optimizer holds only its network's.
        d_optimizer.build(self.discriminator.trainable_variables)
        g_optimizer.build(self.generator.trainable_variables)

    def get_compile_config(self):
        return None  # two optimizers: a reloaded GAN is compiled again by its trainer

    def call(self, images, training=False):
        return self.discriminator(images / 127.5 - 1.0, training=training)

    # ------------------------------------------------------------------ pieces of a step

    def generate(self, z, labels=None, training=False):
        """Images in [-1, 1] ``(B, S, S, C)`` from noise ``(B, latent_dim)`` and labels ``(B,)``."""
        if self.num_classes:
            return self.generator([z, labels], training=training)
        return self.generator(z, training=training)

    def _score(self, images, labels, training):
        logits = self.discriminator(images, training=training)  # (B, K) or (B, 1)
        if self.num_classes:
            return tf.gather(logits, tf.cast(labels, tf.int32), axis=1, batch_dims=1)  # (B,)
        return logits[:, 0]  # (B,)

    def _noise(self, batch):
        return keras.random.normal((batch, self.latent_dim), seed=self.seed_generator)

    def _d_loss(self, real, labels, training):
        fake = self.generate(self._noise(tf.shape(real)[0]), labels, training=training)
        real_score = self._score(real, labels, training)
        fake_score = self._score(fake, labels, training)
        if self.loss_name == "nonsaturating":  # -log D(x) - log(1 - D(G(z)))
            return tf.reduce_mean(tf.nn.softplus(-real_score) + tf.nn.softplus(fake_score))
        loss = tf.reduce_mean(fake_score) - tf.reduce_mean(real_score)  # -(Wasserstein estimate)
        if not training:  # held-out figure: the critic's estimate only, without the penalty
            return loss
        return loss + self.gp_weight * self._gradient_penalty(real, fake, labels, training)

    def _gradient_penalty(self, real, fake, labels, training):
        batch = tf.shape(real)[0]
        alpha = keras.random.uniform((batch, 1, 1, 1), seed=self.seed_generator)
        mixed = alpha * real + (1.0 - alpha) * fake  # (B, S, S, C)
        with tf.GradientTape() as tape:
            tape.watch(mixed)
            score = self._score(mixed, labels, training)
        grads = tape.gradient(score, mixed)  # (B, S, S, C)
        norm = tf.sqrt(tf.reduce_sum(tf.square(grads), axis=[1, 2, 3]) + 1e-12)  # (B,)
        return tf.reduce_mean(tf.square(norm - 1.0))

    def _g_loss(self, labels, batch, training):
        fake = self.generate(self._noise(batch), labels, training=training)
        score = self._score(fake, labels, training)
        if self.loss_name == "nonsaturating":  # -log D(G(z))
            return tf.reduce_mean(tf.nn.softplus(-score))
        return -tf.reduce_mean(score)

    # ------------------------------------------------------------------ Keras steps

    def train_step(self, data):
        images, labels = data
        real = tf.cast(images, tf.float32) / 127.5 - 1.0  # (B, S, S, C) in [-1, 1]
        labels = tf.cast(labels, tf.int32)  # (B,)
        # Keras sums gradients over replicas: scale each replica's mean loss by 1/replicas.
        replicas = tf.distribute.get_replica_context().num_replicas_in_sync
        steps = self.n_critic if self.loss_name == "wasserstein_gp" else 1
        for _ in range(steps):
            with tf.GradientTape() as tape:
                d_loss = self._d_loss(real, labels, training=True)
                scaled = d_loss / tf.cast(replicas, d_loss.dtype)
            grads = tape.gradient(scaled, self.discriminator.trainable_variables)
            self.optimizer.apply_gradients(
                zip(grads, self.discriminator.trainable_variables, strict=True)
            )
        with tf.GradientTape() as tape:
            g_loss = self._g_loss(labels, tf.shape(real)[0], training=True)
            scaled = g_loss / tf.cast(replicas, g_loss.dtype)
        grads = tape.gradient(scaled, self.generator.trainable_variables)
        self.g_optimizer.apply_gradients(
            zip(grads, self.generator.trainable_variables, strict=True)
        )
        return self._update(d_loss, g_loss)

    def test_step(self, data):
        images, labels = data
        real = tf.cast(images, tf.float32) / 127.5 - 1.0
        labels = tf.cast(labels, tf.int32)
        d_loss = self._d_loss(real, labels, training=False)
        g_loss = self._g_loss(labels, tf.shape(real)[0], training=False)
        return self._update(d_loss, g_loss)

    def _update(self, d_loss, g_loss):
        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        # "loss": the discriminator's (val_loss picks best.keras)
        self.loss_tracker.update_state(d_loss)
        return {m.name: m.result() for m in self.metrics}

    def get_config(self):
        return {
            **super().get_config(),
            "generator": keras.saving.serialize_keras_object(self.generator),
            "discriminator": keras.saving.serialize_keras_object(self.discriminator),
            "latent_dim": self.latent_dim,
            "num_classes": self.num_classes,
            "loss": self.loss_name,
            "n_critic": self.n_critic,
            "gp_weight": self.gp_weight,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["generator"] = keras.saving.deserialize_keras_object(config["generator"])
        config["discriminator"] = keras.saving.deserialize_keras_object(config["discriminator"])
        return cls(**config)


def build_gan(
    *,
    model: str,
    latent_dim: int,
    image_shape: tuple[int, int, int],
    filters: int,
    num_classes: int | None,
    n_critic: int = 5,
    gp_weight: float = 10.0,
) -> GAN:
    """The app's GAN by name: ``"dcgan"`` or ``"wgan_gp"`` (conditional when ``num_classes``)."""
    wgan = model == "wgan_gp"
    generator = build_generator(latent_dim, image_shape, filters, num_classes)
    discriminator = build_discriminator(
        image_shape, filters, num_classes, normalization="layer" if wgan else "batch"
    )
    name = ("c" if num_classes else "") + model
    gan = GAN(
        generator,
        discriminator,
        latent_dim,
        num_classes,
        loss="wasserstein_gp" if wgan else "nonsaturating",
        n_critic=n_critic if wgan else 1,
        gp_weight=gp_weight,
        name=name,
    )
    gan(tf.zeros((1, *image_shape)))  # build
    return gan
