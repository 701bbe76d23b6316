"""Write the built-in spoken digits as a folder of WAV files, one sub-folder per word.

``python -m apps.speech.make_folder OUT [--per-class N]`` writes ``OUT/train/<word>/*.wav`` (voices
heard in training) and ``OUT/test/<word>/*.wav`` (the held-out voices), 16-bit PCM at 16 kHz: the
layout `dir:` sources read, for trying the speech app on "your own" recordings.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def write_folder(out: str | Path, per_class: int | None = None, sample_rate: int = 16000) -> dict[str, int]:
    """Write the clips; returns ``{"train": files, "test": files}``."""
    from apps.speech import digits
    from apps.speech.audio import encode_wav

    data = digits.load(sample_rate, sample_rate)
    counts = {"train": 0, "test": 0}
    seen: dict[tuple[str, int], int] = {}
    for i, (clip, label, held_out) in enumerate(zip(data["audio"], data["label"], data["held_out"])):
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", help="output folder")
    parser.add_argument("--per-class", type=int, default=None, help="at most this many clips per word and split")
    args = parser.parse_args(argv)
    print(write_folder(args.out, args.per_class))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
