"""Speaker independence: leave-one-speaker-out accuracy of DS-CNN on ``builtin:speakers``.

    python benchmarks/speaker_independence.py --output benchmarks/results/speaker_independence.json

Trains the DS-CNN keyword spotter once per held-out speaker (eight folds; the other seven
speakers train and validate, whole speakers apart) with two configurations: the speech app's
defaults before issue 20 (MFCC front end, time shift and SpecAugment) and its defaults now. Prints
each fold's test accuracy and the means; with ``--output`` writes them as JSON and plots them
(``--plot``, default ``docs/speech/loso.png``). About 1.5 minutes per fold on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from dlsuite.apps.speech.config import SpeechConfig
from dlsuite.apps.speech.loso import leave_one_speaker_out, plot_folds

CONFIGS = {
    "before (mfcc; shift, specaugment)": {"features": "mfcc", "augment": ("shift", "specaugment")},
    "defaults now": {},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speakers", default=None, help="comma list of held-out speakers")
    parser.add_argument("--output", type=Path, default=None)
    parser.add_argument("--plot", type=Path, default=Path("docs/speech/loso.png"))
    args = parser.parse_args()
    speakers = args.speakers.split(",") if args.speakers else None
    results = {}
    with tempfile.TemporaryDirectory() as run_root:
        for label, options in CONFIGS.items():
            config = SpeechConfig(data="builtin:speakers", verbose=0, run_root=run_root, **options)
            results[label] = leave_one_speaker_out(config, speakers)
    print(
        f"{'configuration':40s} "
        + " ".join(f"{s:>7s}" for s in next(iter(results.values()))["folds"])
        + "    mean"
    )
    for label, result in results.items():
        cells = " ".join(f"{fold['accuracy']:7.3f}" for fold in result["folds"].values())
        print(f"{label:40s} {cells} {result['mean_accuracy']:7.3f}")
    if args.output:
        for result in results.values():
            for fold in result["folds"].values():
                fold.pop("run")  # a temporary folder
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(results, indent=2) + "\n")
        plot_folds(results, args.plot, "DS-CNN, leave-one-speaker-out on builtin:speakers")


if __name__ == "__main__":
    main()
