"""Write the built-in spoken digits or phrases as a folder of WAV files,
the layouts ``dir:`` sources read.

``python -m dlsuite.apps.speech.make_folder OUT [--per-class N]`` writes the digits as
``OUT/train/<word>/*.wav`` (voices heard in training) and ``OUT/test/<word>/*.wav`` (the held-out
voices): one folder per class, for keyword spotting.
``python -m dlsuite.apps.speech.make_folder OUT --phrases [--per-split N]`` writes the phrases as
``OUT/train/*.wav`` + ``OUT/train/transcripts.tsv`` and the same under ``OUT/test/``: WAV files
with a transcript file, for the recogniser (``--model ctc``). 16-bit PCM at 16 kHz, for trying the
speech app on "your own" recordings.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from dlsuite.apps.speech.audio import encode_wav

PHRASE_CLIP_MS = 2000  # the phrases' clip length (the ctc-phrases preset's clip_ms)


def write_folder(
    out: str | Path, per_class: int | None = None, sample_rate: int = 16000
) -> dict[str, int]:
    """Write the digit clips in class folders; returns ``{"train": files, "test": files}``."""
    from dlsuite.apps.speech import digits

    data = digits.load(sample_rate, sample_rate)
    counts = {"train": 0, "test": 0}
    seen: dict[tuple[str, int], int] = {}
    for i, (clip, label, held_out) in enumerate(
        zip(data["audio"], data["label"], data["held_out"], strict=True)
    ):
        split = "test" if held_out else "train"
        key = (split, int(label))
        if per_class is not None and seen.get(key, 0) >= per_class:
            continue
        seen[key] = seen.get(key, 0) + 1
        folder = Path(out) / split / digits.WORDS[int(label)]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{i:05d}.wav").write_bytes(encode_wav(clip / 32768.0, sample_rate))
        counts[split] += 1
    return counts


def write_phrase_folder(
    out: str | Path, per_split: int | None = None, sample_rate: int = 16000
) -> dict[str, int]:
    """Write the phrase clips with a ``transcripts.tsv`` per split;
    returns ``{"train": files, "test": files}``."""
    from dlsuite.apps.speech import phrases

    data = phrases.load(sample_rate, sample_rate * PHRASE_CLIP_MS // 1000)
    lines: dict[str, list[str]] = {"train": ["file\ttext"], "test": ["file\ttext"]}
    for i, (clip, text, held_out) in enumerate(
        zip(data["audio"], data["text"], data["held_out"], strict=True)
    ):
        split = "test" if held_out else "train"
        if per_split is not None and len(lines[split]) > per_split:
            continue
        folder = Path(out) / split
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{i:05d}.wav").write_bytes(encode_wav(clip / 32768.0, sample_rate))
        lines[split].append(f"{i:05d}.wav\t{text}")
    for split, rows in lines.items():
        (Path(out) / split / "transcripts.tsv").write_text("\n".join(rows) + "\n", "utf-8")
    return {split: len(rows) - 1 for split, rows in lines.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", help="output folder")
    parser.add_argument(
        "--phrases",
        action="store_true",
        help="write the transcribed phrases (for --model ctc) "
        "instead of the digits in class folders",
    )
    parser.add_argument(
        "--per-class",
        type=int,
        default=None,
        help="digits: at most this many clips per word and split",
    )
    parser.add_argument(
        "--per-split", type=int, default=None, help="phrases: at most this many clips per split"
    )
    args = parser.parse_args(argv)
    print(
        write_phrase_folder(args.out, args.per_split)
        if args.phrases
        else write_folder(args.out, args.per_class)
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
