"""Typed, frozen training configs shared by every app.

Each app subclasses `TrainingConfig` with its own fields and a table of named presets (the RL app,
which has no data splits or epochs, subclasses `RunConfig`, the run-directory contract both share).
Every field carries its command-line help in ``metadata["help"]``, so the CLI is generated from the
dataclass and `dlsuite train <app> --help` documents every option.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar

from dlsuite.base.validation import check_positive_int

C = TypeVar("C", bound="RunConfig")

STRATEGIES = ("auto", "one_device", "mirrored", "multi_worker")
OPTIMIZERS = ("adam", "sgd", "rmsprop")
LOOPS = ("auto", "fit", "custom")
# Learning-rate schedules (built by `apps.common.optimization.learning_rate_schedule`) and the
# choices of ``--lr-schedule``: auto is the app's default (`TrainingConfig.default_lr_schedule`).
SCHEDULES = ("constant", "cosine", "transformer")
LR_SCHEDULES = ("auto", *SCHEDULES)
# Levels of the evaluation beyond accuracy (`apps.common.evaluation.robustness_report` of a
# classifier, `perturbation_robustness` of a recogniser or a policy).
ROBUSTNESS_LEVELS = ("off", "quick", "full")
# ``--class-weight`` of a classifier: none, or balanced
# (`apps.common.transfer.balanced_class_weights`)
CLASS_WEIGHTS = ("none", "balanced")


def check_robustness_level(level: str) -> None:
    """Raises `ValueError` unless ``level`` is one of `ROBUSTNESS_LEVELS`."""
    if level not in ROBUSTNESS_LEVELS:
        raise ValueError(
            f"`robustness` expected one of {ROBUSTNESS_LEVELS}. Received: robustness={level!r}"
        )


def option(default: Any, help: str, **extra: Any) -> Any:  # noqa: A002 - mirrors argparse
    """A dataclass field with its command-line help text (``choices`` etc. go in ``extra``)."""
    return dataclasses.field(default=default, metadata={"help": help, **extra})


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """The contract of a config whose runs live in run directories (`apps.common.runs`).

    ``to_dict`` is what ``config.json`` holds; ``config_hash`` names a run and finds the unfinished
    run to resume, so it leaves out ``LOCATION_FIELDS``: where a run is stored, not what it
    computes.
    """

    LOCATION_FIELDS: ClassVar[frozenset[str]] = frozenset({"run_root", "run_id", "resume"})

    def to_dict(self) -> dict[str, Any]:
        """All fields as a plain JSON-serialisable dict."""
        return dataclasses.asdict(self)

    def config_hash(self) -> str:
        """Short digest of every field that affects the result (not where the run is stored)."""
        payload = {k: v for k, v in self.to_dict().items() if k not in self.LOCATION_FIELDS}
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:10]

    def check_positive_fields(self, *names: str) -> None:
        """Raises `ValueError` unless every field in ``names`` is a positive int."""
        check_positive_int(**{name: getattr(self, name) for name in names})

    @classmethod
    def base_for(cls, given: Mapping[str, Any]) -> RunConfig:
        """The config that the options ``given`` on the command line override when no
        ``--preset`` is named: the defaults, or for an app whose good defaults depend on an
        option (RL: the agent and the environment) the preset that matches them."""
        return cls()


@dataclasses.dataclass(frozen=True)
class TrainingConfig(RunConfig):
    """Options every app's training understands."""

    LOCATION_FIELDS: ClassVar[frozenset[str]] = RunConfig.LOCATION_FIELDS | {"data_dir"}

    data: str = option("builtin:digits", "data source: tfds:<name>, dir:<path> or builtin:<name>")
    data_dir: str | None = option(None, "tensorflow-datasets data directory (tfds: sources)")
    epochs: int = option(10, "number of epochs")
    batch_size: int = option(64, "GLOBAL batch size, split evenly across replicas")
    learning_rate: float = option(1e-3, "initial learning rate")
    optimizer: str = option("adam", "optimizer", choices=OPTIMIZERS)
    lr_schedule: str = option(
        "auto",
        "learning-rate schedule: constant; cosine (decay to 0 over all training steps); "
        "transformer (linear warmup to --learning-rate over --warmup-steps, then inverse square "
        "root decay, Vaswani et al. 2017); auto = the app's default: cosine for speech and nlp, "
        "transformer for nlp --task translate, else constant",
        choices=LR_SCHEDULES,
    )
    warmup_steps: int = option(400, "warmup steps of --lr-schedule transformer")
    seed: int = option(
        0, "random seed; a seeded run is reproducible (deterministic ops are enabled)"
    )
    split_seed: int = option(
        1234,
        "seed of the train/validation/test split (kept fixed so the held-out split never changes)",
    )
    validation_fraction: float = option(
        0.1,
        "fraction of the training data held out for validation "
        "when the source has no validation split",
    )
    test_fraction: float = option(
        0.2, "fraction held out for the test split when the source has no test split"
    )
    group_by: str | None = option(
        None,
        "dir: sources: a regular expression searched in each file's path within its class folder "
        "that names the file's group (speaker): its named group 'group' if it has one, else the "
        "whole match, e.g. '^(?P<group>[^_]+)_nohash' (Speech Commands) or "
        "'_(?P<group>[a-z]+)_' (7_alice_12.wav); whole groups are held out for validation and "
        "test (speaker-disjoint splits)",
    )
    test_groups: tuple[str, ...] = option(
        (),
        "comma list of groups (of --group-by) held out as the test split, e.g. alice "
        "(leave-one-speaker-out); default: a seeded --test-fraction of the groups",
    )
    max_train_examples: int | None = option(
        None, "use at most this many training examples (smoke tests)"
    )
    cache: bool = option(True, "cache decoded examples in memory (tf.data cache)")
    shuffle_buffer: int = option(10000, "tf.data shuffle buffer size")
    strategy: str = option(
        "auto",
        "distribution strategy; auto = all GPUs with MirroredStrategy, else TensorFlow's default "
        "strategy (no scope, as a plain fit); one_device pins the first device",
        choices=STRATEGIES,
    )
    replicas: int | None = option(
        None,
        "number of replicas for --strategy mirrored; "
        "on a CPU-only host the CPU is split into this many logical devices",
    )
    mixed_precision: bool = option(
        False, "mixed precision: mixed_float16 on GPU, mixed_bfloat16 on CPU"
    )
    jit_compile: bool = option(False, "compile the training step with XLA")
    loop: str = option(
        "auto",
        "training loop: fit (Keras model.fit), "
        "custom (strategy.run loop, apps/common/custom_loop.py) "
        "or auto = fit, except custom under multi_worker or with --clip-norm over several replicas",
        choices=LOOPS,
    )
    clip_norm: float | None = option(
        None,
        "clip the global gradient norm (over all replicas) to this value; default: no clipping",
    )
    grad_accum_steps: int | None = option(
        None,
        "accumulate gradients over this many batches before each optimizer step "
        "(effective batch = batch_size x steps); default: off",
    )
    run_root: str = option("runs", "folder that holds run directories (runs/<app>/<run-id>/)")
    run_id: str | None = option(
        None,
        "run directory name; default: <UTC time>-<config hash>, "
        "and an unfinished run with the same config is resumed",
    )
    resume: bool = option(
        True, "resume an unfinished run of the same config (Keras BackupAndRestore)"
    )
    verbose: int = option(
        1, "Keras progress output: 0 silent, 1 progress bar, 2 one line per epoch"
    )
    robustness: str = option(
        "quick",
        "evaluation beyond accuracy (evaluation.json's robustness): for a classifier ECE and a "
        "validation-fitted temperature, accuracy under seeded corruptions, FGSM/PGD accuracy, "
        "explanations; for a speech recogniser CER/WER under corruptions; with PNGs; quick (a "
        "few seconds: 256 examples, severities 1/3/5, 3 epsilons, PGD 5 steps on 128 "
        "examples), full (dlsuite evaluate RUN --robustness) or off",
        choices=ROBUSTNESS_LEVELS,
    )

    def __post_init__(self) -> None:
        self.check_positive_fields("epochs", "batch_size", "warmup_steps")
        if not self.learning_rate > 0:
            raise ValueError(
                "learning_rate expected a positive number. "
                f"Received: learning_rate={self.learning_rate}"
            )
        for name in ("validation_fraction", "test_fraction"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ValueError(f"{name} expected a number in [0, 1). Received: {name}={value}")
        if self.group_by is not None:
            try:
                re.compile(self.group_by)
            except re.error as error:
                raise ValueError(
                    f"group_by is not a valid regular expression ({error}). "
                    f"Received: group_by={self.group_by!r}"
                ) from None
            if not self.group_by:
                raise ValueError("group_by expected a non-empty regular expression. Received: ''")
        if any(not name for name in self.test_groups):
            raise ValueError(
                f"test_groups expected non-empty group names. Received: {self.test_groups!r}"
            )
        if self.strategy not in STRATEGIES:
            raise ValueError(
                f"strategy expected one of {STRATEGIES}. Received: strategy={self.strategy!r}"
            )
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(
                f"optimizer expected one of {OPTIMIZERS}. Received: optimizer={self.optimizer!r}"
            )
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(
                f"lr_schedule expected one of {LR_SCHEDULES}. "
                f"Received: lr_schedule={self.lr_schedule!r}"
            )
        if self.replicas is not None:
            self.check_positive_fields("replicas")
            if self.strategy not in ("mirrored", "auto"):
                raise ValueError(
                    "--replicas goes with --strategy mirrored. "
                    f"Received: strategy={self.strategy!r}"
                )
        if self.max_train_examples is not None:
            self.check_positive_fields("max_train_examples")
        if self.loop not in LOOPS:
            raise ValueError(f"loop expected one of {LOOPS}. Received: loop={self.loop!r}")
        if self.loop == "fit" and self.strategy == "multi_worker":
            raise ValueError(
                "--loop fit does not work under --strategy multi_worker (keras-team/keras#20585); "
                "use --loop custom or auto"
            )
        if self.clip_norm is not None and not self.clip_norm > 0:
            raise ValueError(
                f"clip_norm expected a positive number. Received: clip_norm={self.clip_norm}"
            )
        if self.grad_accum_steps is not None:
            self.check_positive_fields("grad_accum_steps")
        check_robustness_level(self.robustness)

    def default_lr_schedule(self) -> str:
        """The schedule ``lr_schedule="auto"`` stands for; an app overrides it to change its own."""
        return "constant"

    @property
    def effective_lr_schedule(self) -> str:
        """The learning-rate schedule the run trains with: ``lr_schedule``, with auto resolved."""
        return self.default_lr_schedule() if self.lr_schedule == "auto" else self.lr_schedule


DEFAULT_FREEZE_EPOCHS = 5  # epochs of a pretrained --backbone run that train the head alone


@dataclasses.dataclass(frozen=True)
class FineTuningOptions:
    """The options of a classifier app that can fine-tune a pretrained ``--backbone`` (vision,
    speech keyword spotting), and class weights; mixed into its config. The app's config defines
    ``backbone`` and `pretrained_backbone`, and calls `check_fine_tuning` in its checks."""

    freeze_epochs: int | None = option(
        None,
        "epochs that train the head alone before the --backbone is unfrozen; default "
        f"{DEFAULT_FREEZE_EPOCHS} with pretrained weights, 0 from random weights",
    )
    backbone_lr_multiplier: float = option(
        0.1,
        "the pretrained --backbone's learning rate, as a fraction of --learning-rate, once "
        "unfrozen (from random weights the whole model trains at --learning-rate)",
    )
    class_weight: str = option(
        "none",
        "weight the loss per class: none, or balanced (n_samples / (n_classes * count), as "
        "scikit-learn's) for imbalanced training data",
        choices=CLASS_WEIGHTS,
    )

    @property
    def pretrained_backbone(self) -> bool:
        """Whether the ``backbone`` starts from pretrained weights (an app may say otherwise)."""
        return True

    @property
    def effective_freeze_epochs(self) -> int:
        """The epochs the backbone stays frozen: ``freeze_epochs``, or `DEFAULT_FREEZE_EPOCHS`
        with pretrained weights and 0 from random weights."""
        if self.freeze_epochs is not None:
            return self.freeze_epochs
        return DEFAULT_FREEZE_EPOCHS if self.pretrained_backbone else 0

    def check_fine_tuning(self) -> None:
        """Raises `ValueError` naming a bad ``class_weight``, ``freeze_epochs`` or
        ``backbone_lr_multiplier``."""
        if self.class_weight not in CLASS_WEIGHTS:
            raise ValueError(
                f"class_weight expected one of {CLASS_WEIGHTS}. "
                f"Received: class_weight={self.class_weight!r}"
            )
        if self.freeze_epochs is not None and self.freeze_epochs < 0:
            raise ValueError(
                f"freeze_epochs expected 0 or more. Received: freeze_epochs={self.freeze_epochs}"
            )
        if not self.pretrained_backbone and self.effective_freeze_epochs:
            raise ValueError(
                "--freeze-epochs freezes pretrained weights; with --weights none there are none "
                f"to keep. Received: freeze_epochs={self.freeze_epochs}"
            )
        if not self.backbone_lr_multiplier > 0:
            raise ValueError(
                "backbone_lr_multiplier expected a positive number. "
                f"Received: backbone_lr_multiplier={self.backbone_lr_multiplier}"
            )


def override(config: C, overrides: Mapping[str, Any]) -> C:
    """Return ``config`` with fields replaced; an unknown key is an error naming the known ones."""
    known = {f.name for f in dataclasses.fields(config)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(
            f"unknown config keys {unknown} for {type(config).__name__}; "
            f"known keys: {sorted(known)}"
        )
    return dataclasses.replace(config, **overrides)


def from_dict(cls: type[C], values: Mapping[str, Any]) -> C:
    """Rebuild a config from `to_dict` output,
    ignoring the run bookkeeping keys written beside it.
    """
    known = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in values.items() if k in known})
