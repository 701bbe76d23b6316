"""Train and evaluate an NLP model: ``train_and_evaluate(config)`` (the CLI calls this),
per ``config.task``.
"""

from __future__ import annotations

from typing import Any

from dlsuite.apps.common import trainer
from dlsuite.apps.nlp.config import NLPConfig

APP = "nlp"


def train_and_evaluate(config: NLPConfig) -> trainer.TrainResult:
    """Train ``config.model`` for ``config.task`` on ``config.data``;
    returns the run with its metrics.
    """
    if config.task == "classify":
        return train_classifier(config)
    if config.task == "translate":
        from dlsuite.apps.nlp.translation import train_translator

        return train_translator(config)
    if config.task == "lm":
        from dlsuite.apps.nlp.language_model import train_language_model

        return train_language_model(config)
    raise ValueError(f"no trainer for task={config.task!r}")


def evaluate_run(run_dir: Any, split: str = "test") -> dict[str, Any]:
    """Evaluate a finished run's model on a held-out split; writes the report files."""
    from dlsuite.apps.common.runs import run_config

    config = run_config(run_dir)
    if config.task == "classify":
        from dlsuite.apps.common.evaluation import evaluate_classifier_run
        from dlsuite.apps.nlp import tokenizers  # noqa: F401  (registers the tokenizer layers for loading)

        return evaluate_classifier_run(run_dir, split)
    if config.task == "translate":
        from dlsuite.apps.nlp.translation import evaluate_translation_run

        return evaluate_translation_run(run_dir, split)
    if config.task == "lm":
        from dlsuite.apps.nlp.language_model import evaluate_language_model_run

        return evaluate_language_model_run(run_dir, split)
    raise ValueError(f"no evaluation for task={config.task!r}")


# ------------------------------------------------------------------------------- classification


def train_texts(config: NLPConfig, splits: Any) -> Any:
    """The training texts the tokenizer learns from (the first ``max_train_examples`` when set)."""
    texts = splits.train.map(lambda text, label: text)
    return texts.take(config.max_train_examples) if config.max_train_examples else texts


def fit_tokenizer(config: NLPConfig, texts: Any) -> Any:
    """The ``config.tokenizer`` tokenizer learned from ``texts``
    (scalar strings of the training split).
    """
    from dlsuite.apps.nlp.tokenizers import train_tokenizer

    return train_tokenizer(
        config.tokenizer, texts, config.vocab_size, config.sequence_length, config.lowercase
    )


def classifier_options(config: NLPConfig) -> dict[str, Any]:
    """The builder arguments of ``config.model`` from the config."""
    options: dict[str, Any] = {"embedding_dim": config.embedding_dim, "dropout": config.dropout}
    if config.model == "bilstm":
        options.update(units=config.lstm_units, num_layers=config.num_layers)
    elif config.model == "transformer":
        options.update(
            num_layers=config.num_layers,
            num_heads=config.num_heads,
            intermediate_dim=config.intermediate_dim,
            position_embedding=config.position_embedding,
            norm_first=config.norm_position == "pre",
        )
    return options


def train_classifier(config: NLPConfig) -> trainer.TrainResult:
    """Text classification: learn the tokenizer on the training split,
    then train the model around it.
    """
    from dlsuite.apps.common.evaluation import evaluate_classifier
    from dlsuite.apps.common.optimization import compile_classifier
    from dlsuite.apps.nlp.data import load_splits
    from dlsuite.apps.nlp.models import build_classifier

    splits = load_splits(config)
    tokenizer = fit_tokenizer(config, train_texts(config, splits))

    def evaluate(model: Any, run: Any, test_batches: Any) -> dict[str, Any]:
        return evaluate_classifier(model, test_batches, splits.class_names, run.path)

    return trainer.train_and_evaluate(
        app=APP,
        config=config,
        splits=splits,
        build_model=lambda: build_classifier(
            config.model, tokenizer, len(splits.class_names), **classifier_options(config)
        ),
        compile_model=compile_classifier,
        evaluate=evaluate,
        extra_metrics={"tokenizer": describe_tokenizer(tokenizer)},
    )


def describe_tokenizer(tokenizer: Any) -> dict[str, Any]:
    """What metrics.json and the manifest record about a tokenizer."""
    return {
        "kind": type(tokenizer).__name__,
        "vocabulary_size": tokenizer.vocabulary_size(),
        "sequence_length": tokenizer.sequence_length,
        "lowercase": tokenizer.lowercase,
    }
