"""Speech serving signatures: WAV bytes or float waveforms in, keywords or transcripts out,
preprocessing in-graph.

Keyword spotters:

- ``serving_default``
  - inputs: ``audio``: string [N], WAV bytes (16-bit PCM, any sample rate, any channels)
  - outputs: ``class_ids`` int64 [N], ``labels`` string [N], ``scores`` float32 [N, K]
- ``predict_waveform``
  - inputs: ``waveform``: float32 [N, S], mono in [-1, 1] at the training sample rate
  - outputs: same as above
- ``predict_features``
  - inputs: ``features``: float32 [N, T, F], the front end's output (MFCC or log-mel,
    normalized per utterance)
  - outputs: ``scores`` float32 [N, K]
- ``detect_keywords``
  - inputs: ``waveform``: float32 [N, L], a longer recording at the training rate
  - outputs: per window of S samples every 250 ms: ``window_start_s`` float32 [N, W],
    ``window_class_ids`` int64, ``window_labels`` string, ``window_scores`` float32 (the top
    probability)
- ``detect_keywords_wav``
  - inputs: ``audio``: string [N], WAV files of any length
  - outputs: as ``detect_keywords``, over each whole file (decoded, resampled; shorter files of
    the batch zero-padded to the longest)
- ``compute_features``
  - inputs: ``waveform``: float32 [N, S]
  - outputs: ``features`` float32 [N, T, F]: the front end alone (``predict_features``' input)
- ``explain``
  - inputs: ``waveform``: float32 [N, S]
  - outputs: ``attributions`` float32 [N, T, F]: integrated gradients of the predicted class's
    probability on the normalised features (the output of the layer "cmvn", a time x frequency
    map; `apps.common.explain.explain_function`, 32 steps), ``class_ids`` int64 [N]

Recognisers (``--model ctc``):

- ``serving_default``
  - inputs: ``audio``: string [N], WAV bytes
  - outputs: ``transcript`` string [N] (greedy CTC decoding)
- ``transcribe_waveform``
  - inputs: ``waveform``: float32 [N, S]
  - outputs: ``transcript`` string [N]
- ``predict_probabilities``
  - inputs: ``waveform``: float32 [N, S]
  - outputs: ``probabilities`` float32 [N, T, C]: per-frame softmax over
    `apps.speech.ctc.TOKENS` (blank = 0), for TFLite and client-side decoding

``predict_probabilities`` runs an unrolled copy of the recogniser (`unrolled`, same weights, same
numbers): Keras runs a recurrent layer as a `tf.while_loop` that collects its outputs in a
TensorList, which the TFLite converter lowers to builtin ops only when the batch size is fixed;
unrolled over the fixed number of frames there is no loop, so ``dlsuite convert --signature
predict_probabilities`` gives a builtins-only model that takes any batch. The other signatures
keep the loop (faster to trace). CTC decoding stays outside TFLite.

WAV bytes are decoded with ``tf.audio.decode_wav``, averaged to mono, resampled to the training
rate with a windowed-sinc resampler and cropped or zero-padded at the end to S samples, exactly
as the training data was (`apps.speech.audio`). ``predict_features`` is the network without its
audio front end, for targets that compute the features themselves (the int8 TFLite model);
``compute_features`` is that front end, so `dlsuite convert` can turn the run's waveforms into
calibration and check examples for ``predict_features``
(`serving.tflite_from_run.examples_for_signature`). A keyword spotter fine-tuned on a backbone that
takes the raw waveform (``--backbone``, docs/speech.md) has no suite front end: its export has no
``predict_features``, ``compute_features`` or ``explain``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from dlsuite.apps.common.export import ExportPlan
from dlsuite.apps.common.runs import load_trained_model, run_config, splits_for_run
from dlsuite.apps.speech.audio import decode_wav, decode_wav_any_length, encode_wav
from dlsuite.serving.warmup import predict_log

STREAM_HOP_MS = 250  # hop of detect_keywords' sliding window


def split_front_end(model: Any) -> tuple[Any, Any]:
    """``(front_end, body)``: waveform -> normalized features and features -> probabilities.

    The cut is after the per-utterance normalization ("cmvn"), so the features the body takes have
    zero mean and unit variance in every channel: one int8 scale fits all of them.
    """
    import keras

    front = model.get_layer("cmvn")
    front_end = keras.Model(model.inputs, front.output, name=f"{model.name}_front_end")
    features = keras.Input(shape=front.output.shape[1:], dtype="float32", name="features")
    # Rebuild the layers after the front end on a new input (the graph is a chain from `front`).
    tensors = {id(front.output): features}
    for layer in model.layers[model.layers.index(front) + 1 :]:
        # The layer's call in this graph, by its node: a nested model (a fine-tuned "backbone")
        # has its own graph's nodes too, and its `output` is its own graph's output tensor.
        node = next(
            node
            for node in layer._inbound_nodes  # noqa: SLF001  (functional graph walk)
            if all(id(t) in tensors for t in node.input_tensors)
        )
        args = [tensors[id(t)] for t in node.input_tensors]
        tensors[id(node.output_tensors[0])] = layer(args if len(args) > 1 else args[0])
    body = keras.Model(features, tensors[id(model.output)], name=f"{model.name}_body")
    return front_end, body


def build_signatures(
    model: Any, class_names: Sequence[str], sample_rate: int, num_samples: int
) -> dict[str, Any]:
    """``{name: (tf.function, input_signature)}``
    of the keyword-spotting signatures for ``model``.

    ``predict_features``, ``compute_features`` and ``explain`` need the suite's front end (the
    layer "cmvn"); a model without it (fine-tuned on a waveform ``--backbone``) has the others.
    """
    import tensorflow as tf

    from dlsuite.apps.common.evaluation import SPEECH_FEATURES_LAYER
    from dlsuite.apps.common.explain import explain_function

    names = tf.constant(list(class_names))

    def outputs(scores: Any) -> dict[str, Any]:
        scores = tf.cast(scores, tf.float32)  # (N, K)
        class_ids = tf.argmax(scores, axis=-1)  # (N,)
        return {"class_ids": class_ids, "labels": tf.gather(names, class_ids), "scores": scores}

    def serving_default(audio: Any) -> dict[str, Any]:
        return outputs(model(_decode_batch(audio, sample_rate, num_samples), training=False))

    def predict_waveform(waveform: Any) -> dict[str, Any]:
        return outputs(model(waveform, training=False))

    hop = sample_rate * STREAM_HOP_MS // 1000

    def detect_keywords(waveform: Any) -> dict[str, Any]:
        frames = tf.signal.frame(
            waveform, num_samples, hop, pad_end=True
        )  # (N, W, S), zero-padded at the end
        batch, windows = tf.shape(frames)[0], tf.shape(frames)[1]
        scores = tf.cast(
            model(tf.reshape(frames, [-1, num_samples]), training=False), tf.float32
        )  # (N W, K)
        scores = tf.reshape(scores, [batch, windows, -1])  # (N, W, K)
        class_ids = tf.argmax(scores, axis=-1)  # (N, W)
        starts = tf.cast(tf.range(windows) * hop, tf.float32) / float(sample_rate)  # (W,)
        return {
            "window_start_s": tf.tile(starts[None, :], [batch, 1]),
            "window_class_ids": class_ids,
            "window_labels": tf.gather(names, class_ids),
            "window_scores": tf.reduce_max(scores, axis=-1),
        }

    def detect_keywords_wav(audio: Any) -> dict[str, Any]:
        recordings = tf.map_fn(
            lambda data: tf.RaggedTensor.from_tensor(
                decode_wav_any_length(data, sample_rate)[None]
            ),
            audio,
            fn_output_signature=tf.RaggedTensorSpec([1, None], tf.float32),
        )  # (N, 1, None)
        return detect_keywords(
            recordings.merge_dims(1, 2).to_tensor()
        )  # (N, L) zero-padded to the longest

    waveforms = [tf.TensorSpec([None, num_samples], tf.float32, name="waveform")]
    signatures = {
        "serving_default": (serving_default, [tf.TensorSpec([None], tf.string, name="audio")]),
        "predict_waveform": (predict_waveform, waveforms),
        "detect_keywords": (
            detect_keywords,
            [tf.TensorSpec([None, None], tf.float32, name="waveform")],
        ),
        "detect_keywords_wav": (
            detect_keywords_wav,
            [tf.TensorSpec([None], tf.string, name="audio")],
        ),
    }
    if SPEECH_FEATURES_LAYER not in {layer.name for layer in model.layers}:
        return signatures  # a fine-tuned waveform backbone: no suite front end to cut at
    front_end, body = split_front_end(model)
    explain = explain_function(model, layer=SPEECH_FEATURES_LAYER)

    def predict_features(features: Any) -> dict[str, Any]:
        return {"scores": tf.cast(body(features, training=False), tf.float32)}

    def compute_features(waveform: Any) -> dict[str, Any]:
        return {"features": tf.cast(front_end(waveform, training=False), tf.float32)}

    feature_shape = list(body.inputs[0].shape[1:])
    signatures["predict_features"] = (
        predict_features,
        [tf.TensorSpec([None, *feature_shape], tf.float32, name="features")],
    )
    signatures["compute_features"] = (compute_features, waveforms)
    signatures["explain"] = (explain, list(explain.input_signature))
    return signatures


def build_recognizer_signatures(
    model: Any, sample_rate: int, num_samples: int, twin: Any
) -> dict[str, Any]:
    """``{name: (tf.function, input_signature)}`` of the CTC recogniser's signatures for ``model``.

    ``twin`` is ``unrolled(model)``, which ``predict_probabilities`` runs
    (so it converts to TFLite).
    """
    import tensorflow as tf

    from dlsuite.apps.speech import ctc

    def serving_default(audio: Any) -> dict[str, Any]:
        return {
            "transcript": ctc.transcribe(
                model(_decode_batch(audio, sample_rate, num_samples), training=False)
            )
        }

    def transcribe_waveform(waveform: Any) -> dict[str, Any]:
        return {"transcript": ctc.transcribe(model(waveform, training=False))}

    def predict_probabilities(waveform: Any) -> dict[str, Any]:
        return {"probabilities": tf.cast(twin(waveform, training=False), tf.float32)}

    waveforms = [tf.TensorSpec([None, num_samples], tf.float32, name="waveform")]
    return {
        "serving_default": (serving_default, [tf.TensorSpec([None], tf.string, name="audio")]),
        "transcribe_waveform": (transcribe_waveform, waveforms),
        "predict_probabilities": (predict_probabilities, waveforms),
    }


def unrolled(model: Any) -> Any:
    """A copy of ``model`` (same weights) whose recurrent layers, bidirectional or not,
    are unrolled over time."""
    import keras

    def clone(layer: Any) -> Any:
        config = layer.get_config()
        if isinstance(layer, keras.layers.Bidirectional):
            for key in ("layer", "backward_layer"):
                config[key]["config"]["unroll"] = True
        elif isinstance(layer, keras.layers.RNN):
            config["unroll"] = True
        return layer.__class__.from_config(config)

    twin = keras.models.clone_model(model, clone_function=clone)
    twin.set_weights(model.get_weights())
    return twin


def _decode_batch(audio: Any, sample_rate: int, num_samples: int) -> Any:
    """string [N] WAV bytes -> float32 (N, num_samples) waveforms,
    decoded as the training data were."""
    import tensorflow as tf

    return tf.map_fn(
        lambda data: decode_wav(data, sample_rate, num_samples),
        audio,
        fn_output_signature=tf.TensorSpec([num_samples], tf.float32),
    )  # (N, S)


def save_saved_model(models: Sequence[Any], signatures: Mapping[str, Any], path: Path) -> None:
    """Write ``signatures`` (``{name: (fn, input_signature)}``) of ``models``
    through `keras.export.ExportArchive`."""
    import keras

    archive = keras.export.ExportArchive()
    for model in models:
        archive.track(model)
    for name, (fn, signature) in signatures.items():
        archive.add_endpoint(name, fn, input_signature=signature)
    archive.write_out(str(path), verbose=False)


def warmup_logs(
    name: str, waveforms: Sequence[Any], sample_rate: int, recognizer: bool = False
) -> list[Any]:
    """TF Serving warmup records from real held-out clips:
    WAV bytes (1 and all) and float waveforms.

    For a keyword spotter also the clips one after another as one recording (float and WAV) for
    the streaming signatures; for a recogniser the ``transcribe_waveform`` and
    ``predict_probabilities`` inputs.
    """
    import numpy as np
    import tensorflow as tf

    wavs = [encode_wav(w, sample_rate) for w in waveforms]
    batch = tf.make_tensor_proto(np.stack(waveforms).astype(np.float32))
    requests = [
        ("serving_default", "audio", tf.make_tensor_proto(wavs[:1], dtype=tf.string)),
        ("serving_default", "audio", tf.make_tensor_proto(wavs, dtype=tf.string)),
    ]
    if recognizer:
        requests += [
            ("transcribe_waveform", "waveform", batch),
            ("predict_probabilities", "waveform", batch),
        ]
    else:
        recording = np.concatenate(waveforms)  # (len(waveforms) S,)
        requests += [
            ("predict_waveform", "waveform", batch),
            (
                "detect_keywords",
                "waveform",
                tf.make_tensor_proto(recording[None, :].astype(np.float32)),
            ),
            (
                "detect_keywords_wav",
                "audio",
                tf.make_tensor_proto([encode_wav(recording, sample_rate)], dtype=tf.string),
            ),
        ]
    return [predict_log(name, signature, {key: value}) for signature, key, value in requests]


def export_plan(run_path: Path, *, num_warmup: int, calibrate: bool = False) -> ExportPlan:
    """A finished speech run's export: keyword-spotting or recogniser signatures (above);
    ``calibrate``: a keyword spotter's temperature-scaled probabilities (`load_trained_model`)."""
    config = run_config(run_path)
    if calibrate and config.recognizer:
        raise ValueError("--calibrate scales a keyword spotter's probabilities, not a recogniser's")
    # weights only: no optimizer state in the SavedModel
    model = load_trained_model(run_path, calibrated=calibrate)
    splits = splits_for_run(run_path)
    waveforms = [w for w, _ in splits.test.take(num_warmup).as_numpy_iterator()]
    speech = {
        "task": "recognition" if config.recognizer else "keyword_spotting",
        "sample_rate": config.sample_rate,
        "clip_samples": config.clip_samples,
        "features": config.features,
    }
    if config.recognizer:
        from dlsuite.apps.speech import ctc

        models = [model, unrolled(model)]
        signatures = build_recognizer_signatures(
            model, config.sample_rate, config.clip_samples, models[1]
        )
        speech.update(
            vocabulary=ctc.VOCABULARY,
            tokens=list(ctc.TOKENS),
            blank_index=ctc.BLANK,
            decoding="greedy CTC decoding in serving_default and transcribe_waveform; "
            "predict_probabilities gives the per-frame softmax for decoding outside the model",
        )
    else:
        models = [model]
        signatures = build_signatures(
            model, splits.class_names, config.sample_rate, config.clip_samples
        )
        speech["labels"] = list(splits.class_names)
    return ExportPlan(
        save=lambda path, _name, _version: save_saved_model(models, signatures, path),
        warmup_logs=lambda model_name: warmup_logs(
            model_name, waveforms, config.sample_rate, config.recognizer
        ),
        manifest_extra={"speech": speech},
    )
