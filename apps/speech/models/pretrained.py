"""A keyword spotter on a pretrained audio embedding network: a ``.keras`` file, fine-tuned, or a
SavedModel folder, a frozen feature extractor.

The backbone's input decides what comes before it. A backbone taking features ``(B, T, F)`` (the
trunk of a suite keyword spotter, say) gets the suite's own front end (`waveform_front_end`:
``--features``, mel bins, window and hop, per-utterance normalisation "cmvn", SpecAugment in
training), so the export's ``predict_features`` / ``compute_features`` signatures and the int8
TFLite cut work as for every suite model. A backbone taking the raw waveform ``(B, S)`` at the
training rate (as YAMNet-like networks do) replaces the front end. The backbone is a layer named
"backbone", its batch normalization kept in inference mode (`freeze_batch_norm`); its output,
``(B, D)`` or with time (and frequency) axes, is average-pooled to ``(B, D)`` and ends in the
suite's `classifier_head`. Freezing and the backbone's learning rate are the trainer's
(`apps.common.transfer`). A SavedModel is held in a non-trainable `keras.layers.TFSMLayer`
calling its ``serving_default`` signature: only the head is trained (its weights would not train
with Adam: their names end in ':0', which Adam's slot names reject).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import keras

from dlsuite.apps.common.models import classifier_head
from dlsuite.apps.common.transfer import (
    BACKBONE_LAYER,
    PretrainedClassifier,
    PretrainedWeights,
    freeze_batch_norm,
)
from dlsuite.apps.speech.models._common import check_arguments, waveform_front_end

SIGNATURE = "serving_default"  # the SavedModel signature a backbone is called through
POOLING = {2: None, 3: keras.layers.GlobalAveragePooling1D, 4: keras.layers.GlobalAveragePooling2D}


def build_pretrained_classifier(
    path: str,
    num_samples: int,
    num_classes: int,
    *,
    frontend: dict[str, Any] | None = None,
    spec_augment: bool = True,
    dropout: float = 0.1,
    seed: int | None = None,
) -> PretrainedClassifier:
    """A keyword spotter of ``num_classes`` on the network saved at ``path``.

    Args:
        path: a ``.keras`` file of a functional or Sequential model, or a SavedModel folder whose
            ``serving_default`` signature is the network (`keras.Model.export`,
            `tf.saved_model.save` with ``signatures``), with one input, float32 features
            ``(B, T, F)`` or a waveform ``(B, S)``, and one output ``(B, D)``, ``(B, T', D)`` or
            ``(B, T', F', D)``.
        num_samples: clip length S in samples at the training rate.
        frontend: `waveform_front_end` options (for a features backbone; they must give its T, F).
        spec_augment: SpecAugment masks on a features backbone's input in training.
        dropout: dropout before the classifier, in [0, 1).
        seed: SpecAugment seed.

    Returns:
        The model, float32 waveforms ``(B, num_samples)`` -> float32 probabilities
        ``(B, num_classes)``, with where its weights came from: library "keras", source
        "keras-file" and the file's SHA-256, or library "saved_model", source "saved-model" and
        the folder's files' digest (a SavedModel's layer is non-trainable).

    Raises:
        FileNotFoundError: no file at ``path``, or a folder without ``saved_model.pb``.
        ValueError: not a loadable model, or its input or output does not fit (the message says
            which options to change).
    """
    name = f"{re.sub(r'[^0-9A-Za-z_]', '_', Path(path).stem)}_finetuned"
    check_arguments(name, num_samples, num_classes, dropout)
    if Path(path).expanduser().is_dir():  # a SavedModel folder
        network = _load_saved_model(path)
        library, source = "saved_model", "saved-model"
    else:
        network = _load(path)
        library, source = "keras", "keras-file"
    input_shape = tuple(network.inputs[0].shape[1:])
    if len(input_shape) == 2:  # (T, F) features: the suite's front end before it
        inputs, x = waveform_front_end(num_samples, frontend, spec_augment, seed)  # (B, T, F)
        _check_fits(path, input_shape, tuple(x.shape[1:]), _features_hint(frontend))
        preprocessing = (
            f"the suite's front end ({(frontend or {}).get('features', 'pcen')} features, "
            'per-utterance normalisation "cmvn") before the backbone'
        )
    elif len(input_shape) == 1:  # (S,) waveform: the backbone is the front end
        inputs = x = keras.Input(shape=(num_samples,), dtype="float32", name="waveform")
        _check_fits(
            path, input_shape, (num_samples,), "the clip length (--sample-rate x --clip-ms)"
        )
        rate = (frontend or {}).get("sample_rate", 16000)
        preprocessing = f"none: the backbone takes the raw waveform at {rate} Hz"
    else:
        raise ValueError(
            f"--backbone {path}: expected an input of features (batch, frames, channels) or a "
            f"waveform (batch, samples). Received: input shape {(None, *input_shape)}"
        )
    freeze_batch_norm(network)  # pretrained statistics kept: inference mode throughout
    x = network(x)  # (B, D), (B, T', D) or (B, T', F', D)
    if len(x.shape) not in POOLING:
        raise ValueError(
            f"--backbone {path}: expected an output (batch, D), (batch, time, D) or "
            f"(batch, time, frequency, D) to pool to an embedding. Received: {tuple(x.shape)}"
        )
    pooling = POOLING[len(x.shape)]
    if pooling is not None:
        x = pooling(name="pool")(x)  # (B, D)
    outputs = classifier_head(x, num_classes, dropout)  # (B, num_classes)
    model = keras.Model(inputs, outputs, name=name)
    return PretrainedClassifier(
        model, library, PretrainedWeights.at(path, source, path), preprocessing
    )


def _load(path: str) -> keras.Model:
    """The network in the ``.keras`` file, re-wrapped as a functional model named "backbone"."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise FileNotFoundError(
            f"--backbone {path}: no such file. Expected a .keras file of an audio embedding "
            "network (keras.Model.save('net.keras'))"
        )
    import dlsuite.core_layers  # noqa: F401 - registers the suite's layers a backbone may hold

    try:
        network = keras.saving.load_model(file, compile=False)
    except (ValueError, OSError, TypeError) as error:
        raise ValueError(f"--backbone {path}: not a loadable .keras model ({error})") from None
    if not isinstance(network, keras.Model) or not hasattr(network, "inputs"):
        raise ValueError(
            f"--backbone {path}: expected a functional or Sequential keras.Model with a known "
            f"input shape. Received: {type(network).__name__}"
        )
    if len(network.inputs) != 1 or len(network.outputs) != 1:
        raise ValueError(
            f"--backbone {path}: expected one input and one output. Received: inputs "
            f"{[t.name for t in network.inputs]}, outputs {[t.name for t in network.outputs]}"
        )
    return keras.Model(network.inputs[0], network.outputs[0], name=BACKBONE_LAYER)


def _load_saved_model(path: str) -> keras.Model:
    """The SavedModel folder's ``serving_default`` signature as a non-trainable functional model
    named "backbone": input -> `keras.layers.TFSMLayer` "saved_model" -> its one output (the layer
    returns ``{name: tensor}``)."""
    folder = Path(path).expanduser().resolve()
    if not (folder / "saved_model.pb").is_file():
        raise FileNotFoundError(
            f"--backbone {path}: a folder without saved_model.pb. Expected a SavedModel folder "
            "(keras.Model.export(DIR) or tf.saved_model.save) or a .keras file"
        )
    try:
        # The absolute path: the run's model.keras reloads the layer from it.
        layer = keras.layers.TFSMLayer(
            str(folder), call_endpoint=SIGNATURE, trainable=False, name="saved_model"
        )
    except ValueError as error:
        raise ValueError(
            f"--backbone {path}: expected a SavedModel with a {SIGNATURE!r} signature (what "
            f"keras.Model.export writes). Received: {error}"
        ) from None
    positional, inputs = layer.call_endpoint_fn.structured_input_signature
    outputs = layer.call_endpoint_fn.structured_outputs
    if positional or len(inputs) != 1 or not isinstance(outputs, dict) or len(outputs) != 1:
        raise ValueError(
            f"--backbone {path}: expected a {SIGNATURE!r} signature with one input and one "
            f"output. Received: inputs {_specs(inputs)}, outputs {_specs(outputs)}"
        )
    ((name, spec),) = inputs.items()
    if spec.dtype != "float32" or spec.shape.rank is None:
        raise ValueError(
            f"--backbone {path}: expected a float32 input of known rank. Received: {_specs(inputs)}"
        )
    (output,) = outputs
    given = keras.Input(shape=tuple(spec.shape[1:]), dtype="float32", name=name)
    network = keras.Model(given, layer(given)[output], name=BACKBONE_LAYER)
    network.trainable = False
    return network


def _specs(specs: Any) -> dict[str, str]:
    """A signature's tensor specs by name (sorted), as ``dtype (shape)``, for error messages."""
    if not isinstance(specs, dict):
        return {"": str(specs)}
    return {name: f"{specs[name].dtype.name} {tuple(specs[name].shape)}" for name in sorted(specs)}


def _check_fits(path: str, expected: tuple[Any, ...], given: tuple[int, ...], options: str) -> None:
    """Raise unless every known dimension of the backbone's input matches what it is given."""
    if any(e is not None and e != g for e, g in zip(expected, given, strict=True)):
        raise ValueError(
            f"--backbone {path} takes inputs of shape {(None, *expected)}, but this run gives "
            f"{(None, *given)}: set {options} to the backbone's training values"
        )


def _features_hint(frontend: dict[str, Any] | None) -> str:
    """The options that set a features backbone's input (frames, channels)."""
    channels = "--num-mfcc" if (frontend or {}).get("features") == "mfcc" else "--num-mel-bins"
    return f"--features, {channels}, --clip-ms, --window-ms and --hop-ms"
