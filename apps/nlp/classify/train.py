"""Train and evaluate a text classifier (``--task classify``): ``train_and_evaluate(config)``,
``evaluate_run(run_dir, split)``.
"""

from __future__ import annotations

from typing import Any

from dlsuite.apps.common import trainer
from dlsuite.apps.common.evaluation import (
    classifier_evaluator,
    evaluate_classifier_run,
)
from dlsuite.apps.common.optimization import compile_classifier
from dlsuite.apps.nlp.classify.data import load_splits
from dlsuite.apps.nlp.config import APP, NLPConfig


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


def train_and_evaluate(config: NLPConfig) -> trainer.TrainResult:
    """Text classification: learn the tokenizer on the training split,
    then train the model around it.
    """
    from dlsuite.apps.nlp.classify.models import build_classifier
    from dlsuite.apps.nlp.tokenizers import describe_tokenizer

    splits = load_splits(config)
    tokenizer = fit_tokenizer(config, train_texts(config, splits))

    return trainer.train_and_evaluate(
        app=APP,
        config=config,
        splits=splits,
        build_model=lambda: build_classifier(
            config.model, tokenizer, len(splits.class_names), **classifier_options(config)
        ),
        compile_model=compile_classifier,
        evaluate=classifier_evaluator(splits, config),
        extra_metrics={"tokenizer": describe_tokenizer(tokenizer)},
    )


def evaluate_run(
    run_dir: Any, split: str = "test", robustness: str | None = None
) -> dict[str, Any]:
    """Evaluate a finished classification run's model on a held-out split;
    writes the report files (``robustness``: the level, default the run's own).
    """
    from dlsuite.apps.nlp import tokenizers  # noqa: F401  (registers the tokenizer layers)

    return evaluate_classifier_run(run_dir, split, robustness=robustness)
