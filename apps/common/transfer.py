"""Fine-tuning a pretrained backbone: where its weights come from, freeze-then-unfreeze, a lower
learning rate for the backbone, balanced class weights, and the run's ``transfer`` record.

The recipe is the Keras transfer-learning guide's (keras.io/guides/transfer_learning): the
backbone is called with ``training=False``, so its batch normalization layers keep their
pretrained moving statistics throughout; the head is trained alone for ``freeze_epochs`` epochs,
then the backbone is unfrozen and trained at ``backbone_lr_multiplier`` times the head's rate
(`FineTuneSchedule`, `scale_learning_rate`). The apps build the model (the vision app from
``keras.applications`` or a KerasHub preset, the speech app from a ``.keras`` file or a
SavedModel); this module holds what they share.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import keras

from dlsuite.apps.common.fingerprint import files_fingerprint
from dlsuite.base.files import sha256_file

BACKBONE_LAYER = "backbone"  # the name of the pretrained part in every fine-tuned suite model
BATCH_NORM = (
    "inference mode throughout: the pretrained moving statistics are used and never updated"
)


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
    scaled = {id(variable) for variable in variables}
    update_step = optimizer.update_step

    def scaled_update_step(gradient: Any, variable: Any, learning_rate: Any) -> Any:
        if id(variable) in scaled:
            learning_rate = learning_rate * multiplier
        return update_step(gradient, variable, learning_rate)

    optimizer.update_step = scaled_update_step


class FineTuneSchedule(keras.callbacks.Callback):
    """Trains the head alone for ``freeze_epochs`` epochs, then the backbone too.

    At the start of training the optimizer is built over every variable (so its slots exist for
    the backbone's weights before they are trained, and a backup holds them from the first
    epoch); each epoch then sets the backbone's ``trainable`` flag for its phase and, when the
    flag changes, re-traces the training step so the change takes effect. A resumed run gets the
    phase of the epoch it resumes at. Its epoch logs carry ``backbone_trainable`` (0 or 1).
    """

    def __init__(self, backbone_layer: str, freeze_epochs: int) -> None:
        super().__init__()
        self.backbone_layer = backbone_layer
        self.freeze_epochs = freeze_epochs

    def _set_trainable(self, trainable: bool) -> None:
        backbone = self.model.get_layer(self.backbone_layer)
        if backbone.trainable != trainable:
            backbone.trainable = trainable
            self.model.make_train_function(force=True)

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.model.get_layer(self.backbone_layer).trainable = True
        optimizer = self.model.optimizer
        if not optimizer.built:
            optimizer.build(self.model.trainable_variables)

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._set_trainable(epoch >= self.freeze_epochs)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if logs is not None:
            logs["backbone_trainable"] = float(self.model.get_layer(self.backbone_layer).trainable)


def trained_phases(
    model: Any, backbone_layer: str, freeze_epochs: int, epochs: int
) -> list[dict[str, Any]]:
    """The run's phases (1-based inclusive epochs): which top-level layers with weights are
    trained in each, and how many parameters; the model is left as it was."""
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
    try:
        frozen = min(freeze_epochs, epochs)
        phases = [phase(1, frozen, False)] if frozen else []
        if frozen < epochs:
            phases.append(phase(frozen + 1, epochs, True))
        return phases
    finally:
        backbone.trainable = was


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
    return {
        "backbone": backbone,
        "library": library,
        "layer": BACKBONE_LAYER,
        "weights": weights.describe(),
        "preprocessing": preprocessing,
        "freeze_epochs": freeze_epochs,
        "backbone_learning_rate_multiplier": backbone_lr_multiplier,
        "batch_norm": BATCH_NORM,
        "phases": trained_phases(model, BACKBONE_LAYER, freeze_epochs, epochs),
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
