"""Speech data: ``builtin:digits``, ``tfds:speech_commands`` and ``dir:<WAV folders per class>``.

Every source yields ``(waveform, label)``: ``waveform`` float32 ``(clip_samples,)`` in [-1, 1] at
``config.sample_rate`` (mono, resampled, then cropped or zero-padded at the end, as
`keras.utils.audio_dataset_from_directory` does) and ``label`` an int64 class index. The front end
(STFT, mel, MFCC) is inside the model, so a served model takes the same raw waveform.

For the recogniser (``--model ctc``) `load_splits` returns transcribed clips instead
(`apps.speech.transcripts`).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from dlsuite.apps.common.data import (
    Splits,
    class_folder_splits,
    load_tfds,
    parse_source,
    source_fingerprint,
    split_by_group,
    split_by_index,
)
from dlsuite.apps.speech.audio import decode_wav, fix_length, resample
from dlsuite.apps.speech.config import SpeechConfig

BUILTIN = ("digits", "speakers")
TFDS_RATE = 16000  # speech_commands is 16 kHz int16


def load_splits(config: SpeechConfig) -> Splits:
    """Train/validation/test splits of ``config.data`` as fixed-length waveforms."""
    if config.recognizer:
        from dlsuite.apps.speech import transcripts

        return transcripts.load_splits(config)
    spec = parse_source(config.data)
    if spec.kind == "builtin":
        return _builtin(spec.name, config)
    if spec.kind == "tfds":
        return _tfds(spec.name, config)
    return _directory(Path(spec.name), config)


def _builtin(name: str, config: SpeechConfig) -> Splits:
    import numpy as np
    import tensorflow as tf

    from dlsuite.apps.speech import digits

    if name not in BUILTIN:
        hint = " (transcribed phrases: train them with --model ctc)" if name == "phrases" else ""
        raise ValueError(
            f"unknown builtin keyword-spotting dataset {name!r}; known: {BUILTIN}{hint}"
        )
    if name == "speakers":
        return _builtin_speakers(config)
    data = digits.load(config.sample_rate, config.clip_samples, config.cache_dir)
    audio = data["audio"].astype(np.float32) / 32768.0  # (N, S)
    held_out = data["held_out"]
    train_all = tf.data.Dataset.from_tensor_slices((audio[~held_out], data["label"][~held_out]))
    parts = split_by_index(
        train_all,
        int((~held_out).sum()),
        {"train": 1.0 - config.validation_fraction, "validation": config.validation_fraction},
        config.split_seed,
    )
    test = tf.data.Dataset.from_tensor_slices((audio[held_out], data["label"][held_out]))
    sizes = {
        "train": parts["train"][1],
        "validation": parts["validation"][1],
        "test": int(held_out.sum()),
    }
    return Splits(
        train=parts["train"][0],
        validation=parts["validation"][0],
        test=test,
        class_names=list(digits.WORDS),
        input_shape=(config.clip_samples,),
        sizes=sizes,
        info={
            "source": config.data,
            "kind": "builtin",
            "name": name,
            "version": data["description"],
            "sample_rate": config.sample_rate,
            "preprocessing": (
                f"int16 PCM / 32768, {config.clip_samples} samples at {config.sample_rate} Hz; "
                f"test = held-out voices {sorted(set(data['voice'][held_out].tolist()))}; "
                f"train/validation seeded split (split_seed={config.split_seed})"
            ),
            "fingerprint": source_fingerprint(
                "builtin",
                name,
                generator_version=digits.GENERATOR_VERSION,
                seed=digits.SEED,
                arrays=(data["audio"], data["label"]),
            ),
        },
    )


def _builtin_speakers(config: SpeechConfig) -> Splits:
    """``builtin:speakers``: whole speakers held out (`split_by_group`), by default the last one."""
    import tensorflow as tf

    from dlsuite.apps.speech import digits, speakers

    data = speakers.load(config.sample_rate, config.clip_samples, config.cache_dir)
    audio = data["audio"].astype("float32") / 32768.0  # (N, S)
    if not config.test_groups:  # a fixed default fold: the same test speaker in every run
        config = dataclasses.replace(config, test_groups=(speakers.SPEAKERS[-1].name,))
    dataset = tf.data.Dataset.from_tensor_slices((audio, data["label"]))
    parts, groups = split_by_group(dataset, data["speaker"].tolist(), config)
    return Splits(
        train=parts["train"][0],
        validation=parts["validation"][0],
        test=parts["test"][0],
        class_names=list(digits.WORDS),
        input_shape=(config.clip_samples,),
        sizes={k: v[1] for k, v in parts.items()},
        info={
            "source": config.data,
            "kind": "builtin",
            "name": "speakers",
            "version": data["description"],
            "sample_rate": config.sample_rate,
            "preprocessing": (
                f"int16 PCM / 32768, {config.clip_samples} samples at {config.sample_rate} Hz; "
                f"speaker-disjoint splits (test speakers {groups['test']}, validation speakers "
                f"{groups['validation']}, split_seed={config.split_seed})"
            ),
            "groups": groups,
            "fingerprint": source_fingerprint(
                "builtin",
                "speakers",
                generator_version=speakers.GENERATOR_VERSION,
                seed=speakers.SEED,
                arrays=(data["audio"], data["label"]),
            ),
        },
    )


def _fixed(config: SpeechConfig, rate_in: int) -> Any:
    import tensorflow as tf

    def convert(audio: Any, label: Any) -> tuple[Any, Any]:
        x = (
            tf.cast(audio, tf.float32) / 32768.0
            if audio.dtype.is_integer
            else tf.cast(audio, tf.float32)
        )
        x = fix_length(resample(x, rate_in, config.sample_rate), config.clip_samples)
        return x, tf.cast(label, tf.int64)

    return convert


def _tfds(name: str, config: SpeechConfig) -> Splits:
    datasets, sizes, info = load_tfds(name, config.data_dir, config.validation_fraction)
    convert = _fixed(config, TFDS_RATE)
    splits = {k: ds.map(convert) for k, ds in datasets.items()}
    return Splits(
        train=splits["train"],
        validation=splits["validation"],
        test=splits["test"],
        class_names=list(info.features["label"].names),
        input_shape=(config.clip_samples,),
        sizes=sizes,
        info={
            "source": config.data,
            "kind": "tfds",
            "name": name,
            "version": str(info.version),
            "sample_rate": config.sample_rate,
            "preprocessing": (
                f"int16 PCM / 32768 at {TFDS_RATE} Hz, resampled to {config.sample_rate} Hz, "
                f"cropped/zero-padded to {config.clip_samples} samples"
            ),
            "fingerprint": source_fingerprint("tfds", name, tfds_info=info),
        },
    )


def _wav_files(files: list[str], labels: list[int], config: SpeechConfig) -> Any:
    """Dataset of ``(waveform (S,), label)`` of WAV ``files`` in order, ``S = clip_samples``."""
    import tensorflow as tf

    def load(path: Any, label: Any) -> tuple[Any, Any]:
        return decode_wav(tf.io.read_file(path), config.sample_rate, config.clip_samples), label

    paths = tf.data.Dataset.from_tensor_slices((files, tf.constant(labels, tf.int64)))
    return paths.map(load)


def _directory(path: Path, config: SpeechConfig) -> Splits:
    parts, class_names, how, groups = class_folder_splits(
        path,
        (".wav",),
        ".wav files",
        lambda files, labels: _wav_files(files, labels, config),
        config,
    )
    return Splits(
        train=parts["train"][0],
        validation=parts["validation"][0],
        test=parts["test"][0],
        class_names=class_names,
        input_shape=(config.clip_samples,),
        sizes={k: v[1] for k, v in parts.items()},
        info={
            "source": config.data,
            "kind": "dir",
            "name": str(path),
            "version": None,
            "sample_rate": config.sample_rate,
            "preprocessing": (
                f"16-bit PCM WAV, mono (channel mean), resampled to {config.sample_rate} Hz, "
                f"cropped/zero-padded to {config.clip_samples} samples; {how}"
            ),
            "groups": groups,
            "fingerprint": source_fingerprint("dir", str(path), how=how, groups=groups),
        },
    )
