"""Train and evaluate a keyword spotter or a CTC recogniser:
``train_and_evaluate(config)`` (the CLI calls this)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dlsuite.apps.common import trainer
from dlsuite.apps.common.evaluation import (
    classifier_evaluator,
    evaluate_classifier_run,
    held_out_batches,
)
from dlsuite.apps.common.optimization import compile_classifier
from dlsuite.apps.common.runs import load_trained_model, run_config, splits_for_run
from dlsuite.apps.common.strategy import prepare_strategy
from dlsuite.apps.speech.augment import augmentation
from dlsuite.apps.speech.config import SpeechConfig
from dlsuite.apps.speech.data import load_splits
from dlsuite.apps.speech.error_rates import character_error_rate, word_error_rate
from dlsuite.base.files import atomic_write_json

APP = "speech"
NUM_EXAMPLES_SHOWN = 10  # transcripts recorded in a recogniser's evaluation.json


def frontend_options(config: SpeechConfig) -> dict[str, Any]:
    """The model's front-end arguments from the config."""
    return {
        "features": config.features,
        "sample_rate": config.sample_rate,
        "frame_length_ms": config.window_ms,
        "frame_step_ms": config.hop_ms,
        "num_mel_bins": config.num_mel_bins,
        "num_mfcc": config.num_mfcc,
        "fmin": config.fmin,
        "fmax": config.fmax,
    }


def build(config: SpeechConfig, num_classes: int) -> Any:
    from dlsuite.apps.speech.models import build_model

    return build_model(
        config.model,
        config.clip_samples,
        num_classes,
        frontend=frontend_options(config),
        spec_augment="specaugment" in config.augment,
        dropout=config.dropout,
        seed=config.seed,
    )


def compile_recognizer(model: Any, optimizer: Any, jit_compile: bool = False) -> None:
    """CTC loss and the greedy character error rate ("cer")."""
    from dlsuite.apps.speech.ctc import CharacterErrorRate, CTCLoss

    model.compile(
        optimizer=optimizer,
        loss=CTCLoss(),
        jit_compile=jit_compile,
        metrics=[CharacterErrorRate()],
    )


def evaluate_recognizer(
    model: Any, batches: Any, out_dir: Any, split: str = "test", beam_width: int = 16
) -> dict[str, Any]:
    """Transcribe ``batches`` of ``(waveform, character ids)``
    greedily and with beam search; CER and WER.

    Writes ``evaluation.json`` (the rates, the first transcripts) to ``out_dir`` and returns it.
    """
    import numpy as np

    from dlsuite.apps.speech import ctc

    references: list[str] = []
    hypotheses: dict[str, list[str]] = {method: [] for method in ctc.DECODERS}
    for x, y in batches:
        probabilities = model(x, training=False)  # (B, T, C)
        references.extend(ctc.decode_ids(row) for row in np.asarray(y))
        for method in ctc.DECODERS:
            texts = ctc.transcribe(probabilities, method, beam_width).numpy()
            hypotheses[method].extend(t.decode() for t in texts)
    report: dict[str, Any] = {
        "split": split,
        "num_examples": len(references),
        "beam_width": beam_width,
    }
    for method, texts in hypotheses.items():
        report[f"cer_{method}"] = character_error_rate(references, texts)
        report[f"wer_{method}"] = word_error_rate(references, texts)
    report["examples"] = [
        {"reference": ref, **{m: hypotheses[m][i] for m in ctc.DECODERS}}
        for i, ref in enumerate(references[:NUM_EXAMPLES_SHOWN])
    ]
    atomic_write_json(Path(out_dir) / "evaluation.json", report)
    return report


def _check_frames(config: SpeechConfig, splits: Any) -> None:
    """Raise if the recogniser emits fewer frames than the longest transcript needs
    (CTC would be infinite)."""
    frames = build(config, len(splits.class_names)).output.shape[1]
    needed = splits.info["min_ctc_frames"]
    if needed > frames:
        raise ValueError(
            f"the longest transcript needs {needed} output frames, "
            f"but --model {config.model} emits {frames} for {config.clip_ms} ms "
            f"at --hop-ms {config.hop_ms}; "
            "lower --hop-ms or shorten the transcripts"
        )


def train_and_evaluate(config: SpeechConfig) -> trainer.TrainResult:
    """Train ``config.model`` on ``config.data``; returns the run with its metrics."""
    prepare_strategy(config.strategy, config.replicas)  # before the data touches TensorFlow
    splits = load_splits(config)
    if config.recognizer:
        _check_frames(config, splits)
        compile_model, evaluate = (
            compile_recognizer,
            lambda model, run, test_batches: evaluate_recognizer(
                model, test_batches, run.path, beam_width=config.beam_width
            ),
        )
    else:
        compile_model, evaluate = (
            compile_classifier,
            classifier_evaluator(splits, config, sample_rate=config.sample_rate),
        )
    return trainer.train_and_evaluate(
        app=APP,
        config=config,
        splits=splits,
        build_model=lambda: build(config, len(splits.class_names)),
        compile_model=compile_model,
        evaluate=evaluate,
        augment=augmentation(config),
    )


def evaluate_run(
    run_dir: Any, split: str = "test", robustness: str | None = None
) -> dict[str, Any]:
    """Evaluate a finished run's model on a held-out split; writes the report files
    (``robustness``: a keyword spotter's level, default the run's own; a recogniser has none)."""
    config = run_config(run_dir)
    if not config.recognizer:
        return evaluate_classifier_run(
            run_dir, split, robustness=robustness, sample_rate=config.sample_rate
        )
    if robustness not in (None, "off"):
        raise ValueError(
            "--robustness evaluates classifiers; a CTC recogniser (--model ctc) has no "
            "robustness evaluation: leave the option out"
        )
    batches = held_out_batches(getattr(splits_for_run(run_dir), split), config)
    return evaluate_recognizer(
        load_trained_model(run_dir), batches, run_dir, split, config.beam_width
    )
