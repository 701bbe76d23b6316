"""Fine-tuning a pretrained backbone: where its weights come from, freeze-then-unfreeze, a lower
learning rate for the backbone, balanced class weights, and the run's ``transfer`` record.

The recipe is the Keras transfer-learning guide's (keras.io/guides/transfer_learning): the
pretrained backbone's batch normalization layers stay in inference mode throughout, keeping their
pretrained statistics (`freeze_batch_norm`: they are made non-trainable, which is inference mode
in Keras 3; the guide's ``base_model(x, training=False)`` is overridden by ``fit``'s
``training=True`` in a Keras 3.15 functional model); the head is trained alone for
``freeze_epochs`` epochs, then the backbone is unfrozen and trained at
``backbone_lr_multiplier`` times the head's rate (`FineTuneSchedule`, `scale_learning_rate`).
The apps build the model (the vision app from ``keras.applications`` or a KerasHub preset, the
speech app from a ``.keras`` file or a SavedModel); this module holds what they share.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import keras

from dlsuite.apps.common.fingerprint import files_fingerprint
from dlsuite.base.files import sha256_file

BACKBONE_LAYER = "backbone"  # the name of the pretrained part in every fine-tuned suite model
BATCH_NORM_FROZEN = (
    "inference mode throughout: the pretrained moving statistics, scale and offset are kept "
    "(not trained)"
)
BATCH_NORM_TRAINED = "trained (random weights): statistics, scale and offset learned"


@dataclasses.dataclass(frozen=True)
class PretrainedWeights:
    """Where a backbone's weights came from, as the run records them.

    ``spec`` is what the user gave (``imagenet``, a path, ``none``); ``source`` one of
    keras-cache, file, kerashub-preset, keras-file, saved-model, random; ``sha256`` the hex
    digest of the file, or of a folder's files (`files_fingerprint`), None for random weights.
    """

    spec: str
    source: str
    path: str | None
    sha256: str | None

    @classmethod
    def at(cls, spec: str, source: str, path: str | os.PathLike[str]) -> PretrainedWeights:
        """The weights in file or folder ``path`` (which must exist), with their digest."""
        location = Path(path).expanduser().resolve()
        if location.is_file():
            digest = sha256_file(location)
        elif location.is_dir():
            digest = str(files_fingerprint(location)["value"]).removeprefix("sha256:")
        else:
            raise FileNotFoundError(f"pretrained weights not found: no file or folder {location}")
        return cls(spec=spec, source=source, path=str(location), sha256=digest)

    @classmethod
    def random(cls) -> PretrainedWeights:
        """No pretrained weights: the backbone starts from its random initialisation."""
        return cls(spec="none", source="random", path=None, sha256=None)

    def describe(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class PretrainedClassifier:
    """What an app's pretrained-classifier builder returns: the model (its backbone the layer
    `BACKBONE_LAYER`) and what the run records of the backbone."""

    model: keras.Model
    library: str  # keras.applications, keras_hub, keras (a .keras file), saved_model
    weights: PretrainedWeights
    preprocessing: str  # how the input is prepared for the backbone, in words


def keras_cache_dir() -> Path:
    """The folder where `keras.utils.get_file` keeps downloaded model weights:
    ``$KERAS_HOME/models``, default ``~/.keras/models``."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "models"


def missing_weights_error(backbone: str, cache_file: str) -> FileNotFoundError:
    """The error for ``--weights imagenet`` when Keras' cache lacks ``cache_file``: it names the
    three places weights can come from, since this machine may have no network."""
    cached = keras_cache_dir() / cache_file
    return FileNotFoundError(
        f"no ImageNet weights for {backbone} on this machine: {cached} does not exist, and "
        "dlsuite does not download them. Give the weights one of three ways: (1) copy the file "
        f"Keras downloads, {cache_file}, into {cached.parent} (on a machine with network, "
        f'`python -c "import keras; keras.applications.{backbone}(include_top=False)"` puts it '
        "in ~/.keras/models); (2) --weights PATH to a weights file of this backbone without its "
        "top (.h5 or .weights.h5); (3) --backbone kerashub --weights DIR, a KerasHub preset "
        "folder (config.json, model.weights.h5, ...). --weights none trains from random weights."
    )


def scale_learning_rate(optimizer: Any, variables: Iterable[Any], multiplier: float) -> None:
    """Make ``optimizer`` update ``variables`` at ``multiplier`` times its learning rate (and the
    rest at the rate itself), whatever the schedule.

    Keras 3 optimizers (Adam, SGD, RMSprop, ...) apply each variable's update in
    ``update_step(gradient, variable, learning_rate)``; this wraps that method of this one
    optimizer, so its config, its saved form and its state are unchanged. A multiplier of 1 leaves
    the optimizer as it is.
    """
    if multiplier <= 0:
        raise ValueError(
            f"`multiplier` expected a positive number. Received: multiplier={multiplier}"
        )
    if multiplier == 1:
        return
    # The optimizer's own variable key: `update_step` gets the backend variable (TensorFlow's,
    # or a replica's under a distribution strategy), not the Keras one given here.
    scaled = {optimizer._var_key(variable) for variable in variables}
    update_step = optimizer.update_step

    def scaled_update_step(gradient: Any, variable: Any, learning_rate: Any) -> Any:
        if optimizer._var_key(variable) in scaled:
            learning_rate = learning_rate * multiplier
        return update_step(gradient, variable, learning_rate)

    optimizer.update_step = scaled_update_step


def freeze_batch_norm(backbone: Any) -> None:
    """Make every batch normalization layer inside ``backbone`` non-trainable: in Keras 3 such a
    layer normalises with its moving statistics (inference mode) even when ``fit`` trains."""
    for layer in backbone._flatten_layers(include_self=True, recursive=True):
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False


class FineTuneSchedule(keras.callbacks.Callback):
    """Trains the head alone for ``freeze_epochs`` epochs, then the backbone too.

    At the start of training the optimizer is built over every variable (so its slots exist for
    the backbone's weights before they are trained, and a backup holds them from the first
    epoch); each epoch then sets the backbone's ``trainable`` flag for its phase and, when the
    flag changes, re-traces the training step so the change takes effect. A resumed run gets the
    phase of the epoch it resumes at. With ``batch_norm_frozen`` (pretrained weights) the
    backbone's batch normalization layers stay non-trainable when it is unfrozen
    (`freeze_batch_norm`). Its epoch logs carry ``backbone_trainable`` (0 or 1).
    """

    def __init__(self, backbone_layer: str, freeze_epochs: int, batch_norm_frozen: bool) -> None:
        super().__init__()
        self.backbone_layer = backbone_layer
        self.freeze_epochs = freeze_epochs
        self.batch_norm_frozen = batch_norm_frozen

    def _set_trainable(self, trainable: bool, retrace: bool = True) -> None:
        backbone = self.model.get_layer(self.backbone_layer)
        if backbone.trainable != trainable:
            backbone.trainable = trainable
            if trainable and self.batch_norm_frozen:
                freeze_batch_norm(backbone)
            if retrace:
                self.model.make_train_function(force=True)

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._set_trainable(True, retrace=False)
        optimizer = self.model.optimizer
        if not optimizer.built:
            optimizer.build(self.model.trainable_variables)

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._set_trainable(epoch >= self.freeze_epochs)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if logs is not None:
            logs["backbone_trainable"] = float(self.model.get_layer(self.backbone_layer).trainable)


def trained_phases(
    model: Any, backbone_layer: str, freeze_epochs: int, epochs: int, batch_norm_frozen: bool
) -> list[dict[str, Any]]:
    """The run's phases (1-based inclusive epochs): which top-level layers with weights are
    trained in each, and how many parameters (a frozen batch normalization's not counted); the
    model is left as it was."""
    backbone = model.get_layer(backbone_layer)
    head = [layer for layer in model.layers if layer.weights and layer is not backbone]

    def phase(first: int, last: int, with_backbone: bool) -> dict[str, Any]:
        layers = ([backbone] if with_backbone else []) + head
        params = sum(int(w.numpy().size) for layer in layers for w in layer.trainable_weights)
        return {
            "epochs": [first, last],
            "trained": "backbone and head" if with_backbone else "head",
            "layers": [layer.name for layer in layers],
            "trainable_params": params,
        }

    was = backbone.trainable
    backbone.trainable = True
    if batch_norm_frozen:
        freeze_batch_norm(backbone)
    try:
        frozen = min(freeze_epochs, epochs)
        phases = [phase(1, frozen, False)] if frozen else []
        if frozen < epochs:
            phases.append(phase(frozen + 1, epochs, True))
        return phases
    finally:
        if not was:
            backbone.trainable = False


def transfer_record(
    *,
    model: Any,
    backbone: str,
    library: str,
    weights: PretrainedWeights,
    preprocessing: str,
    freeze_epochs: int,
    backbone_lr_multiplier: float,
    epochs: int,
) -> dict[str, Any]:
    """The ``transfer`` entry of a fine-tuned run's ``metrics.json`` (and its manifest)."""
    pretrained = weights.path is not None
    return {
        "backbone": backbone,
        "library": library,
        "layer": BACKBONE_LAYER,
        "weights": weights.describe(),
        "preprocessing": preprocessing,
        "freeze_epochs": freeze_epochs,
        "backbone_learning_rate_multiplier": backbone_lr_multiplier,
        "batch_norm": BATCH_NORM_FROZEN if pretrained else BATCH_NORM_TRAINED,
        "phases": trained_phases(model, BACKBONE_LAYER, freeze_epochs, epochs, pretrained),
    }


def balanced_class_weights(labels: Sequence[int] | Any, class_names: Sequence[str]) -> dict:
    """scikit-learn's "balanced" weights, ``n_samples / (n_classes * count_c)``, per class id.

    A class with no training example gets weight 0 (it cannot be learned, and the error says so
    at fit time in Keras otherwise); the result maps every class id to a float.
    """
    import numpy as np

    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=len(class_names))
    if counts.sum() == 0:
        raise ValueError("class_weight balanced needs training labels; the training split is empty")
    present = counts > 0
    weights = np.zeros(len(class_names))
    weights[present] = counts.sum() / (present.sum() * counts[present])
    return {i: float(w) for i, w in enumerate(weights)}


def class_weight_record(weights: Mapping[int, float], class_names: Sequence[str]) -> dict:
    """The ``class_weight`` entry of ``metrics.json``: weights by class name."""
    return {
        "mode": "balanced",
        "weights": {class_names[i]: round(w, 6) for i, w in sorted(weights.items())},
    }


def class_weights(mode: str, splits: Any) -> tuple[dict[int, float] | None, dict[str, Any]]:
    """``(class_weight for fit, metrics.json entries)`` for ``--class-weight mode``: balanced
    weights over the training split's labels (one pass over it), or none."""
    if mode == "none":
        return None, {}
    import numpy as np

    labels = splits.train.map(lambda _, label: label).batch(4096)
    seen = [batch.numpy() for batch in labels]
    weights = balanced_class_weights(
        np.concatenate(seen) if seen else np.zeros(0, np.int64), splits.class_names
    )
    return weights, {"class_weight": class_weight_record(weights, splits.class_names)}


def fine_tuning_arguments(
    build: Callable[[], PretrainedClassifier],
    config: Any,
    compile_model: Callable[[Any, Any, bool], None],
    extra_metrics: dict[str, Any],
) -> dict[str, Any]:
    """The `trainer.train_and_evaluate` arguments that fine-tune the classifier ``build()``
    makes under ``config`` (a `FineTuningOptions` config with ``backbone`` and ``epochs``).

    The head trains alone for the freeze epochs, then the backbone too (`FineTuneSchedule`); a
    pretrained backbone trains at ``backbone_lr_multiplier`` times the learning rate
    (`scale_learning_rate`) with its batch normalization frozen; ``compile_model`` is the app's
    own compile; the run's ``transfer`` record goes into ``extra_metrics`` when the model is
    built (the trainer writes it with the run's metrics). When the freeze epochs cover the run,
    the backbone is built non-trainable and stays so: no schedule, and the optimizer holds the
    head's variables only (a SavedModel backbone, which cannot train, is always such a run).
    """
    pretrained = config.pretrained_backbone
    freeze_epochs = config.effective_freeze_epochs
    multiplier = config.backbone_lr_multiplier if pretrained else 1.0
    frozen_throughout = freeze_epochs >= config.epochs

    def build_model() -> Any:
        built = build()
        if frozen_throughout:
            built.model.get_layer(BACKBONE_LAYER).trainable = False
        extra_metrics["transfer"] = transfer_record(
            model=built.model,
            backbone=config.backbone,
            library=built.library,
            weights=built.weights,
            preprocessing=built.preprocessing,
            freeze_epochs=freeze_epochs,
            backbone_lr_multiplier=multiplier,
            epochs=config.epochs,
        )
        return built.model

    def compile_fine_tuned(model: Any, optimizer: Any, jit: bool) -> None:
        backbone = model.get_layer(BACKBONE_LAYER)
        scale_learning_rate(optimizer, backbone.trainable_weights, multiplier)
        compile_model(model, optimizer, jit)

    arguments: dict[str, Any] = {"build_model": build_model, "compile_model": compile_fine_tuned}
    if not frozen_throughout:
        arguments["callbacks"] = lambda run: [
            FineTuneSchedule(BACKBONE_LAYER, freeze_epochs, pretrained)
        ]
        arguments["fit_only"] = "--backbone's freeze-then-unfreeze schedule needs Keras fit"
    return arguments
