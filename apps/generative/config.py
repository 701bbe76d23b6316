"""Generative training config and its named presets."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from dlsuite.apps.common.config import TrainingConfig, option
from dlsuite.serving.content_credentials import check_cert_and_key

MODEL_NAMES = ("dcgan", "wgan_gp", "dbn")


@dataclasses.dataclass(frozen=True)
class GenerativeConfig(TrainingConfig):
    """GAN training: which loss, how big, conditional or not, and how the samples are evaluated.

    The C2PA certificate and key are run options like the run's location: they say who signs the
    sample images, not what the run computes, so they are not part of the config hash.
    """

    LOCATION_FIELDS: ClassVar[frozenset[str]] = TrainingConfig.LOCATION_FIELDS | {
        "c2pa_cert",
        "c2pa_key",
    }

    # Defaults tuned so `dlsuite train generative --data builtin:digits` meets the
    # quality bar (>= 80% of samples classified as the requested digit; about 95%
    # measured) on a CPU in about a minute.
    epochs: int = option(20, "number of epochs")
    batch_size: int = option(64, "GLOBAL batch size, split evenly across replicas")
    learning_rate: float = option(2e-4, "learning rate of both networks (Adam beta_1 = --beta-1)")
    model: str = option(
        "dcgan",
        "dcgan: non-saturating GAN loss (Goodfellow et al. 2014) with DCGAN networks; "
        "wgan_gp: Wasserstein loss with gradient penalty (Gulrajani et al. 2017); "
        "dbn: deep belief network (Hinton et al. 2006): "
        "RBMs under a label-unit associative memory, up-down fine-tuned, "
        "and its RBMs fine-tuned by backprop as a classifier",
        choices=MODEL_NAMES,
    )
    conditional: bool = option(
        True,
        "class-conditional: label embedding into the generator, "
        "projection discriminator (Miyato & Koyama 2018)",
    )
    image_size: int = option(16, "square image size in pixels (a multiple of 4)")
    latent_dim: int = option(64, "dimension of the generator's Gaussian noise input")
    filters: int = option(
        64, "channels of the widest layer (generator first block, discriminator last block)"
    )
    beta_1: float = option(0.5, "Adam beta_1 of both optimizers (0.5 as in DCGAN)")
    n_critic: int = option(5, "wgan_gp: critic steps per generator step")
    gp_weight: float = option(10.0, "wgan_gp: gradient penalty weight lambda")
    ema_momentum: float | None = option(
        None,
        "keep an exponential moving average of the generator weights with this momentum "
        "(e.g. 0.99); it replaces the generator weights at the end of training "
        "and is what gets exported",
    )
    num_eval_samples: int = option(
        1000, "generated samples for FID, Inception Score and class accuracy"
    )
    evaluator_epochs: int = option(
        8, "epochs of the two LeNet-5 evaluators trained on the real training split"
    )
    dbn_units: int = option(256, "dbn: hidden units of each RBM below the associative memory")
    dbn_layers: int = option(2, "dbn: number of stacked RBMs below the associative memory")
    cd_k: int = option(1, "dbn: Gibbs steps of contrastive divergence CD-k")
    pretrain_epochs: int = option(10, "dbn: greedy CD-k epochs per RBM before fine-tuning")
    pretrain_learning_rate: float = option(0.05, "dbn: CD-k learning rate")
    dbn_top_units: int = option(
        256,
        "dbn: hidden units of the top-level associative memory (its visible units: "
        "the last RBM's hidden units and one softmax label unit per class)",
    )
    dbn_top_epochs: int = option(60, "dbn: CD-k epochs of the associative memory")
    dbn_top_learning_rate: float = option(0.1, "dbn: CD-k learning rate of the associative memory")
    up_down_epochs: int = option(
        10,
        "dbn: epochs of the up-down (contrastive wake-sleep) fine-tuning "
        "of the generative DBN, 0 for none",
    )
    up_down_learning_rate: float = option(0.01, "dbn: learning rate of the up-down fine-tuning")
    gibbs_steps: int = option(
        200,
        "dbn: alternating Gibbs steps in the associative memory per generated sample "
        "(the paper ran 1000)",
    )
    sample_grid_classes: int = option(
        10, "rows of the per-epoch sample grid (one per class when conditional)"
    )
    c2pa_cert: str | None = option(
        None,
        "PEM certificate chain (signing certificate first) that signs the C2PA Content "
        "Credentials of the sample images; default: an untrusted test certificate made for the "
        "process (dlsuite c2pa-test-cert DIR writes a test chain)",
    )
    c2pa_key: str | None = option(
        None, "unencrypted PEM private key of --c2pa-cert (keep it mode 0600)"
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.model not in MODEL_NAMES:
            raise ValueError(f"model expected one of {MODEL_NAMES}. Received: model={self.model!r}")
        if self.image_size < 8 or self.image_size % 4:
            raise ValueError(
                "image_size expected a multiple of 4, at least 8. "
                f"Received: image_size={self.image_size}"
            )
        self.check_positive_fields(
            "latent_dim",
            "filters",
            "n_critic",
            "num_eval_samples",
            "evaluator_epochs",
            "sample_grid_classes",
            "dbn_units",
            "dbn_layers",
            "cd_k",
            "pretrain_epochs",
            "dbn_top_units",
            "dbn_top_epochs",
            "gibbs_steps",
        )
        if not 0.0 <= self.beta_1 < 1.0:
            raise ValueError(f"beta_1 expected a number in [0, 1). Received: beta_1={self.beta_1}")
        if (
            isinstance(self.up_down_epochs, bool)
            or not isinstance(self.up_down_epochs, int)
            or self.up_down_epochs < 0
        ):
            raise ValueError(
                "up_down_epochs expected an integer >= 0. "
                f"Received: up_down_epochs={self.up_down_epochs!r}"
            )
        for name in ("pretrain_learning_rate", "dbn_top_learning_rate", "up_down_learning_rate"):
            if not getattr(self, name) > 0:
                raise ValueError(
                    f"{name} expected a positive number. Received: {name}={getattr(self, name)}"
                )
        if not self.gp_weight >= 0:
            raise ValueError(
                f"gp_weight expected a number >= 0. Received: gp_weight={self.gp_weight}"
            )
        if self.ema_momentum is not None and not 0.0 < self.ema_momentum < 1.0:
            raise ValueError(
                "ema_momentum expected a number in (0, 1). "
                f"Received: ema_momentum={self.ema_momentum}"
            )
        check_cert_and_key(self.c2pa_cert, self.c2pa_key)
        if self.optimizer != "adam":
            raise ValueError(
                f"the generative app trains with Adam. Received: optimizer={self.optimizer!r}"
            )
        if self.model != "dbn" and (self.grad_accum_steps or self.clip_norm):
            raise ValueError(
                "the GAN train_step does not support --grad-accum-steps or --clip-norm"
            )
        if self.model != "dbn" and self.effective_lr_schedule != "constant":
            raise ValueError(
                "the GANs train at a constant learning rate. "
                f"Received: lr_schedule={self.lr_schedule!r}"
            )


PRESETS: dict[str, GenerativeConfig] = {
    # The quality-bar run: conditional DCGAN on scikit-learn's digits at 16x16.
    "cdcgan-digits": GenerativeConfig(data="builtin:digits"),
    "wgan-gp-digits": GenerativeConfig(
        data="builtin:digits", model="wgan_gp", learning_rate=1e-4, beta_1=0.0
    ),
    # The DBN quality-bar run: 2 RBMs of 256 units and a 256-unit associative memory with 10 label
    # units, CD-1, 10 up-down epochs; fine-tuned classifier >= 90% held out, most label-clamped
    # samples judged as requested.
    "dbn-digits": GenerativeConfig(
        data="builtin:digits",
        model="dbn",
        learning_rate=2e-3,
        epochs=30,
        batch_size=32,
        pretrain_epochs=20,
    ),
    "cdcgan-mnist": GenerativeConfig(
        data="tfds:mnist", image_size=28, epochs=20, batch_size=128, ema_momentum=0.999
    ),
    "cdcgan-fashion-mnist": GenerativeConfig(
        data="tfds:fashion_mnist", image_size=28, epochs=30, batch_size=128, ema_momentum=0.999
    ),
    "cdcgan-cifar10": GenerativeConfig(
        data="tfds:cifar10",
        image_size=32,
        epochs=100,
        batch_size=128,
        filters=128,
        ema_momentum=0.999,
    ),
}
CONFIG_CLASS = GenerativeConfig
