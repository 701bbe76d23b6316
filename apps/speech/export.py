"""Speech serving signatures: WAV bytes or float waveforms in, keywords out, preprocessing in-graph.

| signature | inputs | outputs |
| --- | --- | --- |
| ``serving_default`` | ``audio``: string [N], WAV bytes (16-bit PCM, any sample rate, any channels) | ``class_ids`` int64 [N], ``labels`` string [N], ``scores`` float32 [N, K] |
| ``predict_waveform`` | ``waveform``: float32 [N, S], mono in [-1, 1] at the training sample rate | same as above |
| ``predict_features`` | ``features``: float32 [N, T, F], the front end's output (MFCC or log-mel, normalized per utterance) | ``scores`` float32 [N, K] |
| ``detect_keywords`` | ``waveform``: float32 [N, L], a longer recording at the training rate | per window of S samples every 250 ms: ``window_start_s`` float32 [N, W], ``window_class_ids`` int64, ``window_labels`` string, ``window_scores`` float32 (the top probability) |

WAV bytes are decoded with ``tf.audio.decode_wav``, averaged to mono, resampled to the training
rate with a windowed-sinc resampler and cropped or zero-padded at the end to S samples, exactly
as the training data was (`apps.speech.audio`). ``predict_features`` is the network without its
audio front end, for targets that compute the features themselves (the int8 TFLite model).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

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
    for layer in model.layers[model.layers.index(front) + 1:]:
        inbound = layer._inbound_nodes[0].input_tensors  # noqa: SLF001  (functional graph walk)
        args = [tensors[id(t)] for t in inbound]
        tensors[id(layer.output)] = layer(args if len(args) > 1 else args[0])
    body = keras.Model(features, tensors[id(model.output)], name=f"{model.name}_body")
    return front_end, body


def build_signatures(model: Any, class_names: Sequence[str], sample_rate: int, num_samples: int) -> dict[str, Any]:
    """``{name: (tf.function, input_signature)}`` of the speech signatures for ``model``."""
    import tensorflow as tf

    from apps.speech.audio import decode_wav

    names = tf.constant(list(class_names))
    _, body = split_front_end(model)

    def outputs(scores: Any) -> dict[str, Any]:
        scores = tf.cast(scores, tf.float32)  # (N, K)
        class_ids = tf.argmax(scores, axis=-1)  # (N,)
        return {"class_ids": class_ids, "labels": tf.gather(names, class_ids), "scores": scores}

    def serving_default(audio: Any) -> dict[str, Any]:
        waveforms = tf.map_fn(lambda data: decode_wav(data, sample_rate, num_samples), audio,
                              fn_output_signature=tf.TensorSpec([num_samples], tf.float32))  # (N, S)
        return outputs(model(waveforms, training=False))

    def predict_waveform(waveform: Any) -> dict[str, Any]:
        return outputs(model(waveform, training=False))

    hop = sample_rate * STREAM_HOP_MS // 1000

    def detect_keywords(waveform: Any) -> dict[str, Any]:
        frames = tf.signal.frame(waveform, num_samples, hop, pad_end=True)  # (N, W, S), zero-padded at the end
        batch, windows = tf.shape(frames)[0], tf.shape(frames)[1]
        scores = tf.cast(model(tf.reshape(frames, [-1, num_samples]), training=False), tf.float32)  # (N W, K)
        scores = tf.reshape(scores, [batch, windows, -1])  # (N, W, K)
        class_ids = tf.argmax(scores, axis=-1)  # (N, W)
        starts = tf.cast(tf.range(windows) * hop, tf.float32) / float(sample_rate)  # (W,)
        return {"window_start_s": tf.tile(starts[None, :], [batch, 1]), "window_class_ids": class_ids,
                "window_labels": tf.gather(names, class_ids), "window_scores": tf.reduce_max(scores, axis=-1)}

    def predict_features(features: Any) -> dict[str, Any]:
        return {"scores": tf.cast(body(features, training=False), tf.float32)}

    feature_shape = list(body.inputs[0].shape[1:])
    return {
        "serving_default": (serving_default, [tf.TensorSpec([None], tf.string, name="audio")]),
        "predict_waveform": (predict_waveform, [tf.TensorSpec([None, num_samples], tf.float32, name="waveform")]),
        "detect_keywords": (detect_keywords, [tf.TensorSpec([None, None], tf.float32, name="waveform")]),
        "predict_features": (predict_features, [tf.TensorSpec([None, *feature_shape], tf.float32, name="features")]),
    }


def save_saved_model(model: Any, class_names: Sequence[str], sample_rate: int, num_samples: int, path: Path) -> None:
    """Write ``model`` with the speech signatures through `keras.export.ExportArchive`."""
    import keras

    archive = keras.export.ExportArchive()
    archive.track(model)
    for name, (fn, signature) in build_signatures(model, class_names, sample_rate, num_samples).items():
        archive.add_endpoint(name, fn, input_signature=signature)
    archive.write_out(str(path), verbose=False)


def warmup_logs(name: str, waveforms: Sequence[Any], sample_rate: int) -> list[Any]:
    """TF Serving warmup records from real held-out clips: WAV bytes (1 and all) and float waveforms."""
    import numpy as np
    import tensorflow as tf
    from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

    from apps.speech.audio import encode_wav

    wavs = [encode_wav(w, sample_rate) for w in waveforms]
    logs = []
    for signature, key, value in (
        ("serving_default", "audio", tf.make_tensor_proto(wavs[:1], dtype=tf.string)),
        ("serving_default", "audio", tf.make_tensor_proto(wavs, dtype=tf.string)),
        ("predict_waveform", "waveform", tf.make_tensor_proto(np.stack(waveforms).astype(np.float32))),
        ("detect_keywords", "waveform", tf.make_tensor_proto(np.concatenate(waveforms)[None, :].astype(np.float32))),
    ):
        request = predict_pb2.PredictRequest(model_spec=model_pb2.ModelSpec(name=name, signature_name=signature))
        request.inputs[key].CopyFrom(value)
        logs.append(prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request)))
    return logs


def export_run(
    run_dir: str | os.PathLike[str],
    *,
    model_base_path: str | os.PathLike[str] = "saved_models",
    name: str,
    manifest_info: str | os.PathLike[str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    num_warmup: int = 4,
) -> Path:
    """Export a finished speech run as the next version of ``<model_base_path>/<name>``."""
    from apps.common.runs import load_trained_model, run_config, splits_for_run
    from serving.export import export_version
    from serving.manifest import load_person_fields

    person = load_person_fields(manifest_info, overrides)
    run_path = Path(run_dir)
    config = run_config(run_path)
    model = load_trained_model(run_path)  # weights only: no optimizer state in the SavedModel
    splits = splits_for_run(run_path)
    waveforms = [w for w, _ in splits.test.take(num_warmup).as_numpy_iterator()]
    return export_version(
        model_base_path=model_base_path,
        name=name,
        run_dir=run_path,
        save=lambda path: save_saved_model(model, splits.class_names, config.sample_rate, config.clip_samples, path),
        warmup_logs=lambda model_name: warmup_logs(model_name, waveforms, config.sample_rate),
        person=person,
        manifest_extra={"speech": {"sample_rate": config.sample_rate, "clip_samples": config.clip_samples,
                                   "features": config.features, "labels": list(splits.class_names)}},
    )
