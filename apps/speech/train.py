"""Train and evaluate a keyword spotter or a CTC recogniser:
``train_and_evaluate(config)`` (the CLI calls this)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dlsuite.apps.common import trainer
from dlsuite.apps.common.config import check_robustness_level
from dlsuite.apps.common.evaluation import (
    ROBUSTNESS_SEED,
    classifier_evaluator,
    evaluate_classifier_run,
    held_out_batches,
    perturbation_robustness,
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
RECOGNIZER_CLIPS = {"quick": 32, "full": 256}  # clips of a recogniser's robustness evaluation
ROBUSTNESS_BATCH = 32  # clips transcribed at a time under a corruption
RECOGNIZER_NOT_APPLICABLE = {
    "adversarial": "not measured: FGSM and PGD here attack a classifier's cross-entropy; a CTC "
    "recogniser emits a transcript, not one class to flip",
    "explanations": "not measured: Grad-CAM and integrated gradients here explain one class "
    "score; a CTC recogniser emits a sequence of per-frame scores",
}


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
    model: Any,
    batches: Any,
    out_dir: Any,
    split: str = "test",
    beam_width: int = 16,
    *,
    robustness: str = "off",
    sample_rate: int | None = None,
) -> dict[str, Any]:
    """Transcribe ``batches`` of ``(waveform, character ids)``
    greedily and with beam search; CER and WER.

    ``robustness``: "off", "quick" or "full": the `recognizer_robustness` of the first
    `RECOGNIZER_CLIPS` clips added as the report's ``robustness`` key (``sample_rate``: Hz of
    the waveforms, needed then).

    Writes ``evaluation.json`` (the rates, the first transcripts) to ``out_dir`` and returns it.
    """
    import numpy as np

    from dlsuite.apps.speech import ctc

    check_robustness_level(robustness)
    keep = RECOGNIZER_CLIPS.get(robustness, 0)
    references: list[str] = []
    clips: list[Any] = []
    hypotheses: dict[str, list[str]] = {method: [] for method in ctc.DECODERS}
    for x, y in batches:
        probabilities = model(x, training=False)  # (B, T, C)
        references.extend(ctc.decode_ids(row) for row in np.asarray(y))
        if sum(map(len, clips)) < keep:
            clips.append(np.asarray(x, dtype=np.float32))
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
    if keep:
        if sample_rate is None:
            raise ValueError("a recogniser's robustness needs `sample_rate` (Hz) of its waveforms")
        waveforms = np.concatenate(clips)[:keep]
        report["robustness"] = recognizer_robustness(
            model,
            waveforms,
            references[: len(waveforms)],
            out_dir,
            level=robustness,
            sample_rate=sample_rate,
        )
    atomic_write_json(Path(out_dir) / "evaluation.json", report)
    return report


def recognizer_robustness(
    model: Any,
    waveforms: Any,
    references: list[str],
    out_dir: Any,
    *,
    level: str,
    sample_rate: int,
) -> dict[str, Any]:
    """Greedy CER and WER of a CTC recogniser under the speech corruption suite (noise at SNRs,
    speed, band-limiting: `dlsuite.apps.common.robustness.corrupt`) at the ``level``'s
    severities, each clip set corrupted with the robustness seed; the CER curve written to
    ``out_dir`` (`dlsuite.apps.common.evaluation.perturbation_robustness` gives the shape).

    Args:
        model: the recogniser, waveforms (B, S) in [-1, 1] -> probabilities (B, T, C).
        waveforms: held-out clips (N, S).
        references: their transcripts (N,).
        level: "quick" or "full".
        sample_rate: Hz of the waveforms.
    """
    import numpy as np
    import tensorflow as tf

    from dlsuite.apps.common.robustness import CORRUPTIONS, UNITS, corrupt
    from dlsuite.apps.speech import ctc

    clips = np.asarray(waveforms, dtype=np.float32)
    transcribe = tf.function(
        lambda batch: ctc.transcribe(model(batch, training=False), "greedy"),
        reduce_retracing=True,
    )

    def measure(corruption: str, severity: int) -> dict[str, float]:
        shifted = corrupt(
            clips,
            "speech",
            corruption,
            severity,
            seed=ROBUSTNESS_SEED,
            sample_rate=sample_rate,
        )
        texts: list[str] = []
        for start in range(0, len(shifted), ROBUSTNESS_BATCH):
            batch = tf.constant(shifted[start : start + ROBUSTNESS_BATCH])
            texts.extend(t.decode() for t in transcribe(batch).numpy())
        return {
            "cer": character_error_rate(references, texts),
            "wer": word_error_rate(references, texts),
        }

    suite = CORRUPTIONS["speech"]
    return perturbation_robustness(
        measure,
        suite,
        {name: UNITS[name] for name in suite},
        out_dir,
        level=level,
        metrics=("cer", "wer"),
        lower_is_better=True,
        method="greedy CER and WER under a fixed, seeded speech corruption suite at severities "
        "of 1-5 (in the spirit of ImageNet-C, Hendrycks & Dietterich 2019)",
        modality="speech",
        num_examples=len(clips),
        parameters={"examples": len(clips), "decoder": "greedy", "sample_rate": sample_rate},
        not_applicable=RECOGNIZER_NOT_APPLICABLE,
        title=str(model.name),
        ylabel="character error rate (greedy; lower is better)",
    )


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
    """Train ``config.model`` (or fine-tune ``config.backbone``) on ``config.data``; returns the
    run with its metrics."""
    from dlsuite.apps.common.transfer import class_weights, fine_tuning_arguments

    prepare_strategy(config.strategy, config.replicas)  # before the data touches TensorFlow
    splits = load_splits(config)
    if config.recognizer:
        _check_frames(config, splits)
        compile_model, evaluate = (
            compile_recognizer,
            lambda model, run, test_batches: evaluate_recognizer(
                model,
                test_batches,
                run.path,
                beam_width=config.beam_width,
                robustness=config.robustness,
                sample_rate=config.sample_rate,
            ),
        )
    else:
        compile_model, evaluate = (
            compile_classifier,
            classifier_evaluator(splits, config, sample_rate=config.sample_rate),
        )
    class_weight, extra_metrics = class_weights(config.class_weight, splits)
    model_arguments: dict[str, Any] = {
        "build_model": lambda: build(config, len(splits.class_names)),
        "compile_model": compile_model,
    }
    if config.backbone is not None:
        from dlsuite.apps.speech.models.pretrained import build_pretrained_classifier

        path = config.backbone
        model_arguments = fine_tuning_arguments(
            lambda: build_pretrained_classifier(
                path,
                config.clip_samples,
                len(splits.class_names),
                frontend=frontend_options(config),
                spec_augment="specaugment" in config.augment,
                dropout=config.dropout,
                seed=config.seed,
            ),
            config,
            compile_model,
            extra_metrics,
        )
    return trainer.train_and_evaluate(
        app=APP,
        config=config,
        splits=splits,
        evaluate=evaluate,
        augment=augmentation(config),
        extra_metrics=extra_metrics,
        class_weight=class_weight,
        **model_arguments,
    )


def evaluate_run(
    run_dir: Any, split: str = "test", robustness: str | None = None
) -> dict[str, Any]:
    """Evaluate a finished run's model on a held-out split; writes the report files
    (``robustness``: the level of a keyword spotter's evaluation beyond accuracy or of a
    recogniser's error rates under corruptions, default the run's own)."""
    config = run_config(run_dir)
    if not config.recognizer:
        return evaluate_classifier_run(
            run_dir, split, robustness=robustness, sample_rate=config.sample_rate
        )
    batches = held_out_batches(getattr(splits_for_run(run_dir), split), config)
    return evaluate_recognizer(
        load_trained_model(run_dir),
        batches,
        run_dir,
        split,
        config.beam_width,
        robustness=config.robustness if robustness is None else robustness,
        sample_rate=config.sample_rate,
    )
