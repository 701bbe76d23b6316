"""Speech data: ``builtin:digits``, ``tfds:speech_commands`` and ``dir:<WAV folders per class>``.

Every source yields ``(waveform, label)``: ``waveform`` float32 ``(clip_samples,)`` in [-1, 1] at
``config.sample_rate`` (mono, resampled, then cropped or zero-padded at the end, as
`keras.utils.audio_dataset_from_directory` does) and ``label`` an int64 class index. The front end
(STFT, mel, MFCC) is inside the model, so a served model takes the same raw waveform.

For the recogniser (``--model ctc``) `load_splits` returns transcribed clips instead
(`apps.speech.transcripts`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dlsuite.apps.common.data import (
    Splits,
    class_folder_files,
    class_folder_splits,
    load_tfds,
    parse_source,
    split_by_index,
)
from dlsuite.apps.speech.audio import decode_wav, fix_length, resample
from dlsuite.apps.speech.config import SpeechConfig

BUILTIN = ("digits",)
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
        },
    )


def _wav_folder(root: Path, config: SpeechConfig) -> tuple[Any, int, list[str]]:
    """``(dataset of (waveform (S,), label), count, class_names)`` of one folder of classes."""
    import tensorflow as tf

    files, labels, class_names = class_folder_files(root, (".wav",), ".wav files")

    def load(path: Any, label: Any) -> tuple[Any, Any]:
        return decode_wav(tf.io.read_file(path), config.sample_rate, config.clip_samples), label

    paths = tf.data.Dataset.from_tensor_slices((files, tf.constant(labels, tf.int64)))
    return paths.map(load), len(files), class_names


def _directory(path: Path, config: SpeechConfig) -> Splits:
    parts, class_names, how = class_folder_splits(
        path, lambda root: _wav_folder(root, config), config
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
        },
    )


def augmentation(config: SpeechConfig) -> Any:
    """Batched waveform augmentation for ``make_pipeline`` (time shift, noise), or None.

    SpecAugment is not here: it is a layer inside the model (active only in training).
    """
    import tensorflow as tf

    shift = "shift" in config.augment and config.time_shift_ms > 0
    noise = "noise" in config.augment
    if not (shift or noise):
        return None
    max_shift = config.sample_rate * config.time_shift_ms // 1000

    def augment(x: Any, training: bool = True) -> Any:  # (B, S) -> (B, S)
        batch, samples = tf.shape(x)[0], tf.shape(x)[1]
        if shift:
            offsets = tf.random.uniform(
                [batch], -max_shift, max_shift + 1, tf.int32, seed=config.seed
            )
            index = tf.range(samples)[None, :] - offsets[:, None]  # (B, S)
            valid = tf.cast((index >= 0) & (index < samples), x.dtype)
            x = tf.gather(x, tf.clip_by_value(index, 0, samples - 1), batch_dims=1) * valid
        if noise:
            white = tf.random.normal(tf.shape(x), seed=config.seed + 1)  # (B, S)
            brown = tf.cumsum(white, axis=1)
            brown = brown - tf.reduce_mean(brown, axis=1, keepdims=True)
            mix = tf.random.uniform([batch, 1], seed=config.seed + 2)
            noise_wave = mix * white / tf.math.reduce_std(white, axis=1, keepdims=True) + (
                1 - mix
            ) * brown / (tf.math.reduce_std(brown, axis=1, keepdims=True) + 1e-6)
            snr_db = config.noise_snr_db + 20.0 * tf.random.uniform(
                [batch, 1], seed=config.seed + 3
            )
            # Speech fills about a quarter of the clip.
            power = tf.reduce_mean(tf.square(x), axis=1, keepdims=True) * 4.0
            scale = tf.sqrt(power / 10.0 ** (snr_db / 10.0))
            apply = tf.cast(tf.random.uniform([batch, 1], seed=config.seed + 4) < 0.8, x.dtype)
            x = tf.clip_by_value(x + apply * scale * noise_wave, -1.0, 1.0)
        return x

    return augment
