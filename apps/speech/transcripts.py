"""Transcribed speech for the recogniser: ``builtin:phrases``, ``builtin:digits``
and ``dir:`` with a transcript file.

Every source yields ``(waveform, ids)``: ``waveform`` float32 ``(clip_samples,)`` as for keyword
spotting (mono, resampled, zero-padded at the end; `apps.speech.data`), and ``ids`` int64 ``(L,)``
the transcript's character ids (`apps.speech.ctc.encode`) padded with 0 to the longest transcript
of the source.

A ``dir:`` folder holds WAV files and one transcript file (`TRANSCRIPT_FILES`):

- ``transcripts.tsv``: one ``file<TAB>text`` line per clip, ``file`` relative to the folder (a
  first line ``file<TAB>text`` is a header; empty lines and lines starting with ``#`` are skipped);
- ``metadata.csv`` in the LJSpeech layout: ``id|text|normalized text`` lines, audio in
  ``wavs/<id>.wav``; the last column is the transcript.

Transcripts are lower-cased and their whitespace collapsed; any other character outside
`apps.speech.ctc.VOCABULARY` (digits, punctuation) is an error naming the file and line, so
nothing is silently dropped. A clip longer than ``clip_ms`` is an error too (its transcript would
no longer match the cropped audio). With ``train/`` and ``test/`` sub-folders, each with its own
transcript file, those are the splits; otherwise a seeded split holds out ``test_fraction``.
"""

from __future__ import annotations

import wave
from pathlib import Path
from typing import Any

import numpy as np

from dlsuite.apps.common.data import Splits, parse_source, source_fingerprint, split_by_index
from dlsuite.apps.speech import ctc, digits, phrases
from dlsuite.apps.speech.audio import decode_wav
from dlsuite.apps.speech.config import SpeechConfig

BUILTIN = ("phrases", "digits")
TRANSCRIPT_FILES = ("transcripts.tsv", "metadata.csv")


def load_splits(config: SpeechConfig) -> Splits:
    """Train/validation/test splits of ``config.data`` as ``(waveform, character ids)``."""
    spec = parse_source(config.data)
    if spec.kind == "builtin":
        return _builtin(spec.name, config)
    if spec.kind == "dir":
        return _directory(Path(spec.name), config)
    raise ValueError(
        f"--model {config.model} needs transcribed speech: "
        f"builtin:phrases, builtin:digits or dir:<folder with {' or '.join(TRANSCRIPT_FILES)}>. "
        f"Received: data={config.data!r}"
    )


def read_transcripts(folder: str | Path) -> list[tuple[Path, str]]:
    """``[(wav path, normalized transcript)]`` from the folder's transcript file, checked.

    Raises:
        FileNotFoundError: no transcript file, or WAV files it names are missing.
        ValueError: a malformed line, an empty transcript or characters outside the vocabulary.
    """
    folder = Path(folder)
    found = [folder / name for name in TRANSCRIPT_FILES if (folder / name).is_file()]
    if not found:
        raise FileNotFoundError(
            f"{folder} has no transcript file: expected one of {TRANSCRIPT_FILES}"
        )
    if len(found) > 1:
        raise ValueError(
            f"{folder} has both {TRANSCRIPT_FILES[0]} and {TRANSCRIPT_FILES[1]}; keep one"
        )
    path = found[0]
    lines = path.read_text("utf-8").splitlines()
    entries, errors = [], []
    for number, line in enumerate(lines, start=1):
        if (
            not line.strip()
            or line.startswith("#")
            or (number == 1 and line.strip() == "file\ttext")
        ):
            continue
        if path.name == "metadata.csv":
            fields = line.split("|")
            name, text = (f"wavs/{fields[0]}.wav", fields[-1]) if len(fields) >= 2 else (None, "")
        else:
            name, sep, text = line.partition("\t")
            name = name if sep else None
        where = f"{path}:{number}"
        if not name:
            expected = "id|text|normalized text" if path.name == "metadata.csv" else "file<TAB>text"
            errors.append(f"{where}: expected {expected}, got {line!r}")
        elif not ctc.normalize(text):
            errors.append(f"{where}: empty transcript for {name}")
        elif ctc.unknown_characters(text):
            errors.append(
                f"{where}: characters {ctc.unknown_characters(text)} "
                f"outside the vocabulary {ctc.VOCABULARY!r} in {text!r}"
            )
        else:
            entries.append((folder / name, ctc.normalize(text)))
    if errors:
        more = f" (and {len(errors) - 10} more)" if len(errors) > 10 else ""
        raise ValueError("bad transcripts: " + "; ".join(errors[:10]) + more)
    if not entries:
        raise ValueError(f"{path} lists no clips")
    missing = [str(p) for p, _ in entries if not p.is_file()]
    if missing:
        more = f" (and {len(missing) - 10} more)" if len(missing) > 10 else ""
        raise FileNotFoundError(
            f"{path} names WAV files that do not exist: {', '.join(missing[:10])}{more}"
        )
    return entries


def _check_durations(entries: list[tuple[Path, str]], clip_ms: int) -> None:
    """Raise if a WAV is not 16-bit PCM or lasts longer than ``clip_ms``."""
    too_long = []
    for path, _ in entries:
        try:
            with wave.open(str(path), "rb") as audio:
                width, seconds = audio.getsampwidth(), audio.getnframes() / audio.getframerate()
        except (wave.Error, EOFError) as err:
            raise ValueError(f"{path} is not a readable PCM WAV file: {err}") from err
        if width != 2:
            raise ValueError(f"{path} has {8 * width}-bit samples; 16-bit PCM WAV expected")
        if seconds * 1000 > clip_ms:
            too_long.append(f"{path.name} ({seconds:.2f} s)")
    if too_long:
        more = f" (and {len(too_long) - 5} more)" if len(too_long) > 5 else ""
        raise ValueError(
            f"clips longer than clip_ms={clip_ms} would lose the end of their transcript: "
            f"{', '.join(too_long[:5])}{more}; raise --clip-ms"
        )


def _splits(
    parts: dict[str, tuple[Any, int]], config: SpeechConfig, info: dict[str, Any]
) -> Splits:
    return Splits(
        train=parts["train"][0],
        validation=parts["validation"][0],
        test=parts["test"][0],
        class_names=list(ctc.TOKENS),
        input_shape=(config.clip_samples,),
        sizes={k: v[1] for k, v in parts.items()},
        info={
            "source": config.data,
            "sample_rate": config.sample_rate,
            "task": "recognition",
            **info,
        },
    )


def _builtin(name: str, config: SpeechConfig) -> Splits:
    import tensorflow as tf

    if name not in BUILTIN:
        raise ValueError(f"unknown builtin transcribed speech dataset {name!r}; known: {BUILTIN}")
    if name == "phrases":
        data = phrases.load(config.sample_rate, config.clip_samples, config.cache_dir)
        texts = data["text"]
    else:
        data = digits.load(config.sample_rate, config.clip_samples, config.cache_dir)
        texts = np.asarray(digits.WORDS)[data["label"]]
    audio = data["audio"].astype(np.float32) / 32768.0  # (N, S)
    ids = ctc.encode_batch(texts.tolist())  # (N, L)
    generator = phrases if name == "phrases" else digits
    held_out = data["held_out"]
    parts = split_by_index(
        tf.data.Dataset.from_tensor_slices((audio[~held_out], ids[~held_out])),
        int((~held_out).sum()),
        {"train": 1.0 - config.validation_fraction, "validation": config.validation_fraction},
        config.split_seed,
    )
    parts["test"] = (
        tf.data.Dataset.from_tensor_slices((audio[held_out], ids[held_out])),
        int(held_out.sum()),
    )
    return _splits(
        parts,
        config,
        {
            "kind": "builtin",
            "name": name,
            "version": data["description"],
            "max_transcript_chars": int(ids.shape[1]),
            "min_ctc_frames": max(ctc.min_frames(row) for row in ids),
            "preprocessing": (
                f"int16 PCM / 32768, {config.clip_samples} samples at {config.sample_rate} Hz; "
                f"transcripts as character ids ({ctc.NUM_CLASSES} classes with the CTC blank); "
                f"test = held-out voices {sorted(set(data['voice'][held_out].tolist()))}; "
                f"train/validation seeded split (split_seed={config.split_seed})"
            ),
            "fingerprint": source_fingerprint(
                "builtin",
                name,
                generator_version=generator.GENERATOR_VERSION,
                seed=generator.SEED,
                arrays=(data["audio"], ids),
            ),
        },
    )


def _dataset(entries: list[tuple[Path, str]], length: int, config: SpeechConfig) -> Any:
    import tensorflow as tf

    def load(path: Any, ids: Any) -> tuple[Any, Any]:
        return decode_wav(tf.io.read_file(path), config.sample_rate, config.clip_samples), ids

    ids = ctc.encode_batch([text for _, text in entries], length)
    return tf.data.Dataset.from_tensor_slices(([str(p) for p, _ in entries], ids)).map(load)


def _directory(path: Path, config: SpeechConfig) -> Splits:
    if not path.is_dir():
        raise FileNotFoundError(f"audio folder {path} does not exist")
    has_splits = (path / "train").is_dir() and (path / "test").is_dir()
    if has_splits:
        train, test = read_transcripts(path / "train"), read_transcripts(path / "test")
        entries = train + test
    else:
        entries = read_transcripts(path)
    _check_durations(entries, config.clip_ms)
    length = max(len(text) for _, text in entries)
    if has_splits:
        parts = split_by_index(
            _dataset(train, length, config),
            len(train),
            {"train": 1.0 - config.validation_fraction, "validation": config.validation_fraction},
            config.split_seed,
        )
        parts["test"] = (_dataset(test, length, config), len(test))
    else:
        test_share = config.test_fraction
        validation = config.validation_fraction * (1.0 - test_share)
        parts = split_by_index(
            _dataset(entries, length, config),
            len(entries),
            {"train": 1.0 - test_share - validation, "validation": validation, "test": test_share},
            config.split_seed,
        )
    how = "train/ and test/ folders" if has_splits else "seeded split"
    how += f" (split_seed={config.split_seed})"
    return _splits(
        parts,
        config,
        {
            "kind": "dir",
            "name": str(path),
            "version": None,
            "max_transcript_chars": length,
            "min_ctc_frames": max(ctc.min_frames(ctc.encode(text)) for _, text in entries),
            "preprocessing": (
                f"16-bit PCM WAV, mono (channel mean), resampled to {config.sample_rate} Hz, "
                f"zero-padded to {config.clip_samples} samples; "
                "transcripts lower-cased as character ids "
                f"({ctc.NUM_CLASSES} classes with the CTC blank); {how}"
            ),
            "fingerprint": source_fingerprint("dir", str(path), how=how),
        },
    )
