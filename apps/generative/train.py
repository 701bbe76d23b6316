"""Train and evaluate a GAN: ``train_and_evaluate(config)`` (the CLI calls this).

Uses the shared trainer (`apps.common.trainer`): strategy, seeding, run directory, backup/resume,
TensorBoard, history and metrics.json. The app adds two LeNet-5 evaluators trained on the real
training split (`apps.generative.quality`), a marked sample grid and the validation FID every
epoch (`apps.generative.samples.SampleGrids`), and the held-out sample quality as the evaluation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dlsuite.apps.common import trainer
from dlsuite.apps.common.evaluation import (
    classification_report,
    evaluate_classifier,
    held_out_batches,
)
from dlsuite.apps.common.optimization import compile_classifier
from dlsuite.apps.common.plots import plot_confusion_matrix
from dlsuite.apps.common.runs import run_config, splits_for_run
from dlsuite.apps.common.strategy import prepare_strategy
from dlsuite.apps.generative.config import GenerativeConfig
from dlsuite.apps.generative.data import load_splits
from dlsuite.base.files import atomic_write_json
from dlsuite.serving.content_credentials import signing_credentials
from dlsuite.serving.marking import manifest_section

APP = "generative"


def compile_gan(
    model: Any, optimizer: Any, config: GenerativeConfig, jit_compile: bool = False
) -> None:
    """Adam for the discriminator (the trainer's optimizer, beta_1 set)
    and for the generator (+EMA)."""
    import keras

    optimizer.beta_1 = config.beta_1
    g_options = (
        {"use_ema": True, "ema_momentum": config.ema_momentum} if config.ema_momentum else {}
    )
    g_optimizer = keras.optimizers.Adam(config.learning_rate, beta_1=config.beta_1, **g_options)
    model.compile(d_optimizer=optimizer, g_optimizer=g_optimizer, jit_compile=jit_compile)


def _write_evaluation(report: dict[str, Any], run_path: Path, class_names: Any, title: str) -> None:
    atomic_write_json(run_path / "evaluation.json", report)
    if "confusion_matrix" in report:
        plot_confusion_matrix(
            report["confusion_matrix"], class_names, run_path / "confusion_matrix.png", title=title
        )


def evaluate_gan(
    gan: Any, evaluators: Any, splits: Any, config: GenerativeConfig, split: str = "test"
) -> dict[str, Any]:
    """Sample quality against a held-out split,
    plus the validation FID (comparable with history)."""
    from dlsuite.apps.generative.quality import arrays, dataset_name, sample_quality

    dataset = dataset_name(splits.info)
    options = dict(
        num_samples=config.num_eval_samples,
        class_names=splits.class_names,
        dataset=dataset,
        seed=config.seed + 1,
    )
    report = sample_quality(gan, evaluators, arrays(getattr(splits, split))[0], **options)
    report["split"] = split
    if split != "validation":
        validation = sample_quality(gan, evaluators, arrays(splits.validation)[0], **options)
        report[f"validation_FID-{dataset}"] = validation[f"FID-{dataset}"]
    report["evaluators"] = evaluators.report
    report["metric_notes"] = (
        f"FID-{dataset} and IS-{dataset} use the F6 features / softmax of a LeNet-5 "
        "trained on the real training split (not Inception; not comparable with published FIDs); "
        "accuracy = class-conditional accuracy judged by a second, independently seeded LeNet-5"
    )
    return report


def evaluate_dbn(
    classifier: Any,
    run_path: Path,
    batches: Any,
    splits: Any,
    config: GenerativeConfig,
    split: str = "test",
    robustness: str | None = None,
) -> dict[str, Any]:
    """The fine-tuned classifier's report (``accuracy``, per class, confusion matrix, evaluation
    beyond accuracy at ``robustness``, default the run's option), plus the generative DBN's: its
    free-energy classification of ``split`` and its label-clamped samples judged by the judge
    LeNet-5 (``class_accuracy``)."""
    import numpy as np

    from dlsuite.apps.generative.dbn import load_generative_dbn
    from dlsuite.apps.generative.quality import arrays, requested_labels, train_evaluators

    report = evaluate_classifier(
        classifier,
        batches,
        splits.class_names,
        run_path,
        split=split,
        robustness=robustness or config.robustness,
        validation=held_out_batches(splits.validation, config),
    )
    dbn = load_generative_dbn(run_path)
    images, labels = arrays(getattr(splits, split))
    predicted = np.concatenate(
        [
            np.argmax(np.asarray(dbn(images[start : start + 500])), axis=-1)
            for start in range(0, len(images), 500)
        ]
    )  # lowest free energy
    free_energy = classification_report(labels, predicted, splits.class_names)
    evaluators = train_evaluators(
        splits, run_path, epochs=config.evaluator_epochs, seed=config.seed, roles=("judge",)
    )
    requested = requested_labels(config.num_eval_samples, dbn.num_classes)
    fake = np.asarray(
        dbn.generate(requested, config.gibbs_steps, seed=config.seed + 1)
    )  # (N, S, S, C)
    samples = classification_report(
        requested, evaluators.judge(fake), splits.class_names
    )  # rows: requested
    report.update(
        {
            "free_energy_accuracy": free_energy["accuracy"],
            "class_accuracy": samples["accuracy"],
            "num_generated": len(fake),
            "generative_dbn": {
                "free_energy_classification": free_energy,
                "label_clamped_samples": samples,
                "gibbs_steps": config.gibbs_steps,
                "evaluators": evaluators.report,
            },
            "metric_notes": (
                "accuracy (with per_class and confusion_matrix): "
                "the DBN classifier fine-tuned by backprop; "
                "free_energy_accuracy: the generative DBN, "
                "the label of lowest free energy in its top-level associative memory "
                "given the image's code (no backprop, no sampling); "
                f"class_accuracy: the fraction of {len(fake)} label-clamped samples "
                "of the generative DBN that a LeNet-5 trained on the real training split "
                "(the GAN runs' judge) assigns to the requested class"
            ),
        }
    )
    atomic_write_json(run_path / "evaluation.json", report)
    return report


def train_dbn(config: GenerativeConfig) -> trainer.TrainResult:
    """Greedy CD-k training of the generative DBN (RBMs and the label-unit associative memory),
    then its RBMs fine-tuned by backprop as a classifier (``--model dbn``)."""
    from dlsuite.apps.generative.dbn import (
        GreedyPretraining,
        build_dbn_classifier,
        build_generative_dbn,
    )
    from dlsuite.apps.generative.quality import arrays

    credentials = signing_credentials(config.c2pa_cert, config.c2pa_key)  # bad files: now
    splits = load_splits(config)
    images, labels = arrays(splits.train)
    if config.max_train_examples:
        images, labels = images[: config.max_train_examples], labels[: config.max_train_examples]
    shape, num_classes = tuple(splits.input_shape), len(splits.class_names)

    def callbacks(run: Any) -> list[Any]:
        dbn = build_generative_dbn(
            shape,
            num_classes,
            units=config.dbn_units,
            layers=config.dbn_layers,
            top_units=config.dbn_top_units,
            k=config.cd_k,
        )
        return [
            GreedyPretraining(
                run,
                dbn,
                images,
                labels,
                config=config,
                model_label=f"dlsuite generative dbn run {run.run_id}",
                credentials=credentials,
            )
        ]

    return trainer.train_and_evaluate(
        app=APP,
        config=config,
        splits=splits,
        build_model=lambda: build_dbn_classifier(
            shape, num_classes, config.dbn_units, config.dbn_layers, config.cd_k
        ),
        compile_model=compile_classifier,
        evaluate=lambda model, run, test: evaluate_dbn(model, run.path, test, splits, config),
        callbacks=callbacks,
        extra_metrics={
            "flops_note": "forward FLOPs of the fine-tuned classifier; "
            "CD-k pre-training and the generative DBN are not counted"
        },
    )


def train_and_evaluate(config: GenerativeConfig) -> trainer.TrainResult:
    """Train a GAN (or, with ``--model dbn``, a DBN) on ``config.data``;
    returns the run with its metrics."""
    prepare_strategy(config.strategy, config.replicas)  # before the data touches TensorFlow
    if config.model == "dbn":
        return train_dbn(config)
    from dlsuite.apps.generative.gan import build_gan
    from dlsuite.apps.generative.quality import (
        arrays,
        dataset_name,
        sample_quality,
        train_evaluators,
    )
    from dlsuite.apps.generative.samples import SampleGrids

    credentials = signing_credentials(config.c2pa_cert, config.c2pa_key)  # bad files: now
    splits = load_splits(config)
    num_classes = len(splits.class_names) if config.conditional else None
    dataset = dataset_name(splits.info)
    state: dict[str, Any] = {}

    def build() -> Any:
        return build_gan(
            model=config.model,
            latent_dim=config.latent_dim,
            image_shape=tuple(splits.input_shape),
            filters=config.filters,
            num_classes=num_classes,
            n_critic=config.n_critic,
            gp_weight=config.gp_weight,
        )

    def callbacks(run: Any) -> list[Any]:
        state["evaluators"] = evaluators = train_evaluators(
            splits, run.path, epochs=config.evaluator_epochs, seed=config.seed
        )
        validation = arrays(splits.validation)[0]

        def evaluate_epoch(gan: Any) -> dict[str, float]:
            report = sample_quality(
                gan,
                evaluators,
                validation,
                num_samples=config.num_eval_samples,
                class_names=splits.class_names,
                dataset=dataset,
                seed=config.seed + 1,
            )
            keys = [f"FID-{dataset}", f"IS-{dataset}", "class_accuracy"]
            return {k: float(report[k]) for k in keys if k in report}

        return [
            SampleGrids(
                run.path,
                evaluate_epoch,
                rows=config.sample_grid_classes,
                model_label=f"dlsuite generative {config.model} run {run.run_id}",
                seed=config.seed + 2,
                credentials=credentials,
            )
        ]

    def evaluate(model: Any, run: Any, test_batches: Any) -> dict[str, Any]:
        report = evaluate_gan(model, state["evaluators"], splits, config)
        _write_evaluation(
            report,
            run.path,
            splits.class_names,
            f"{model.name}: requested vs judged class, "
            f"accuracy {report.get('accuracy', float('nan')):.3f}",
        )
        return report

    return trainer.train_and_evaluate(
        app=APP,
        config=config,
        splits=splits,
        build_model=build,
        compile_model=lambda model, opt, jit: compile_gan(model, opt, config, jit),
        evaluate=evaluate,
        callbacks=callbacks,
        extra_metrics={
            "flops_note": "flops_per_example is the discriminator's forward pass on one image; "
            "training_flops = 3 x that x examples seen (the generator's passes are not counted)",
            "synthetic_content_marking": manifest_section(),
        },
    )


def evaluate_run(
    run_dir: Any, split: str = "test", robustness: str | None = None
) -> dict[str, Any]:
    """Evaluate a finished run's generator on a held-out split; writes evaluation.json.

    ``robustness``: the level of the evaluation beyond accuracy of a DBN run's classifier."""
    import keras

    from dlsuite import core_layers  # noqa: F401  (registers the custom layers)
    from dlsuite.apps.generative.gan import GAN
    from dlsuite.apps.generative.quality import train_evaluators

    path = Path(run_dir)
    config = run_config(path)
    splits = splits_for_run(path)
    gan = keras.saving.load_model(path / "model.keras", compile=False)
    if not isinstance(gan, GAN):  # the DBN classifier (and the generative DBN beside it)
        batches = held_out_batches(getattr(splits, split), config)
        return evaluate_dbn(gan, path, batches, splits, config, split=split, robustness=robustness)
    if robustness is not None:
        raise ValueError(
            "--robustness evaluates classifiers; a GAN run is evaluated by FID-digits, IS-digits "
            "and class accuracy: leave it out"
        )
    evaluators = train_evaluators(splits, path, epochs=config.evaluator_epochs, seed=config.seed)
    report = evaluate_gan(gan, evaluators, splits, config, split=split)
    _write_evaluation(report, path, splits.class_names, f"{gan.name}: {split}")
    return report
