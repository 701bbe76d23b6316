"""Train and evaluate the GPT-style language model (``--task lm``): ``train_and_evaluate(config)``,
``evaluate_run(run_dir, split)``.

``train_and_evaluate(config)`` loads the corpus (`apps.nlp.lm.data`: documents split, tokenizer
trained on the training documents, windows of token ids), trains `GPTLanguageModel` with
next-token cross-entropy through the shared trainer, and evaluates on the held-out test
documents. ``metrics.json`` then holds, beside the trainer's fields:

* ``evaluation.perplexity``: exp(mean next-token cross-entropy) over every test token;
* ``evaluation.unigram_perplexity``: the same for the unigram model of the training tokens
  (add-one smoothed counts), the baseline an LM must beat by using context;
* ``evaluation.few_shot``: the in-context learning tasks of `apps.nlp.lm.fewshot`;
* ``evaluation.samples``: greedy and sampled continuations of the first words of test documents;
* ``language_model``: non-embedding parameters N, tokens seen D and the Kaplan et al. 2020
  compute estimate C = 6 N D (the trainer's ``training_flops`` counts the graph instead).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from dlsuite.apps.common import trainer
from dlsuite.apps.common.data import make_pipeline
from dlsuite.apps.common.optimization import compile_classifier
from dlsuite.apps.common.runs import load_trained_model, run_config
from dlsuite.apps.nlp.config import APP, NLPConfig
from dlsuite.apps.nlp.lm.data import load_language_model_data
from dlsuite.apps.nlp.lm.fewshot import evaluate_few_shot
from dlsuite.base.files import atomic_write_json

NUM_SAMPLES = 3
SAMPLE_PROMPT_WORDS = 8
SAMPLING = {"temperature": 0.8, "top_k": 40, "top_p": 0.95, "seed": 0}  # the metrics.json samples


def build_language_model(config: NLPConfig, tokenizer: Any) -> Any:
    """`GPTLanguageModel` of the config's sizes, carrying ``tokenizer`` (`build_gpt`)."""
    from dlsuite.apps.nlp.lm.models.gpt import build_gpt

    return build_gpt(
        tokenizer.vocabulary_size(),
        sequence_length=config.sequence_length,
        num_layers=config.num_layers,
        num_heads=config.num_heads,
        hidden_dim=config.embedding_dim,
        intermediate_dim=config.intermediate_dim,
        position=config.position_embedding,
        dropout=config.dropout,
        norm_first=config.norm_position == "pre",
        tie_embeddings=config.tie_embeddings,
        tokenizer=tokenizer,
        name=config.model,
    )


def compile_language_model(model: Any, optimizer: Any, jit_compile: bool = False) -> None:
    """Next-token cross-entropy on logits and next-token accuracy."""
    compile_classifier(model, optimizer, jit_compile, from_logits=True)


def held_out_perplexity(model: Any, batches: Any, unigram_counts: Any) -> dict[str, Any]:
    """Model and unigram perplexity over every target token of ``batches`` of (inputs, targets)."""
    import numpy as np
    import tensorflow as tf

    smoothed = (
        unigram_counts.astype(np.float64) + 1.0
    )  # add-one: a token unseen in training keeps mass
    log_unigram = np.log(smoothed / smoothed.sum())

    @tf.function(reduce_retracing=True)
    def summed_nll(inputs: Any, targets: Any) -> Any:
        logits = model(inputs, training=False)  # (B, T, V)
        nll = tf.nn.sparse_softmax_cross_entropy_with_logits(
            tf.cast(targets, tf.int32), logits
        )  # (B, T)
        return tf.reduce_sum(tf.cast(nll, tf.float64))

    model_nll = unigram_nll = 0.0
    tokens = 0
    for inputs, targets in batches:
        model_nll += float(summed_nll(inputs, targets))
        unigram_nll -= float(log_unigram[targets.numpy()].sum())
        tokens += int(np.prod(targets.shape))
    return {
        "tokens": tokens,
        "cross_entropy": model_nll / tokens,
        "perplexity": math.exp(model_nll / tokens),
        "unigram_cross_entropy": unigram_nll / tokens,
        "unigram_perplexity": math.exp(unigram_nll / tokens),
    }


def sample_continuations(
    model: Any, documents: list[str], count: int = NUM_SAMPLES
) -> list[dict[str, str]]:
    """Greedy and sampled continuations of the first words of ``count`` held-out documents."""
    from dlsuite.apps.nlp.lm.generation import TextGenerator

    generator = TextGenerator(model)
    prompts = [" ".join(d.split()[:SAMPLE_PROMPT_WORDS]) for d in documents[:count]]
    greedy = generator(prompts, max_new_tokens=24)
    sampled = generator(prompts, max_new_tokens=24, **SAMPLING)
    return [
        {"prompt": p, "greedy": g, "sampled": s}
        for p, g, s in zip(prompts, greedy, sampled, strict=True)
    ]


def evaluate_language_model(
    model: Any, batches: Any, data: Any, config: NLPConfig, split: str = "test"
) -> dict[str, Any]:
    """The held-out evaluation of metrics.json: perplexities, few-shot tasks, samples."""
    report = {"split": split, **held_out_perplexity(model, batches, data.unigram_counts)}
    report["perplexity_ratio_to_unigram"] = report["perplexity"] / report["unigram_perplexity"]
    report["few_shot"] = evaluate_few_shot(
        model, data.tokenizer, data.documents["train"], seed=config.seed
    )
    report["samples"] = sample_continuations(model, data.documents[split])
    return report


def epoch_windows(config: NLPConfig, train_windows: int) -> int:
    """Training windows per epoch (``max_train_examples`` caps them)."""
    return min(train_windows, config.max_train_examples or train_windows)


def tokens_after(steps: int, config: NLPConfig, train_windows: int) -> int:
    """Training tokens after ``steps`` optimizer steps
    (the last batch of each epoch may be short).
    """
    windows = epoch_windows(config, train_windows)
    per_epoch = math.ceil(windows / config.batch_size)
    full, rest = divmod(steps, per_epoch)
    return (full * windows + rest * config.batch_size) * config.sequence_length


def compute_accounting(
    model: Any, config: NLPConfig, train_windows: int, steps: int
) -> dict[str, Any]:
    """N (non-embedding parameters), D (training tokens seen) and C = 6 N D (Kaplan et al. 2020)."""
    windows = epoch_windows(config, train_windows)
    tokens = tokens_after(steps, config, train_windows)
    n = model.non_embedding_params()
    return {
        "non_embedding_params": n,
        "tokens_per_epoch": windows * config.sequence_length,
        "tokens_seen": tokens,
        "compute_6ND": 6.0 * n * tokens,
        "compute_method": "C = 6 N D: N parameters outside the embeddings (Kaplan et al. 2020), "
        "D training tokens seen (forward 2ND + backward 4ND)",
    }


def train_and_evaluate(config: NLPConfig) -> trainer.TrainResult:
    """Train the GPT-style LM of ``config`` on ``config.data``; returns the run with its metrics."""
    from dlsuite.apps.nlp.tokenizers import describe_tokenizer

    data = load_language_model_data(config)
    train_windows = data.splits.sizes["train"]
    accounting: dict[str, Any] = {}

    def evaluate(model: Any, run: Any, test_batches: Any) -> dict[str, Any]:
        steps = len(run.read_history()) * math.ceil(
            epoch_windows(config, train_windows) / config.batch_size
        )
        accounting.update(compute_accounting(model, config, train_windows, steps))
        return evaluate_language_model(model, test_batches, data, config)

    return trainer.train_and_evaluate(
        app=APP,
        config=config,
        splits=data.splits,
        build_model=lambda: build_language_model(config, data.tokenizer),
        compile_model=compile_language_model,
        evaluate=evaluate,
        extra_metrics={
            "tokenizer": describe_tokenizer(data.tokenizer),
            "language_model": accounting,
        },
    )


def evaluate_run(run_dir: Any, split: str = "test") -> dict[str, Any]:
    """Re-evaluate a finished LM run on a held-out split; writes ``evaluation.json``."""
    config = run_config(run_dir)
    model = load_language_model(run_dir)
    data = load_language_model_data(config, tokenizer=model.tokenizer)
    batches = make_pipeline(
        getattr(data.splits, split), batch_size=config.batch_size, training=False, seed=config.seed
    )
    report = evaluate_language_model(model, batches, data, config, split)
    atomic_write_json(Path(run_dir) / "evaluation.json", report)
    return report


def load_language_model(run_dir: Any) -> Any:
    """A finished LM run's model (with its tokenizer), without optimizer state."""
    import dlsuite.apps.nlp.lm.models.gpt  # noqa: F401  (registers GPTLanguageModel)
    import dlsuite.apps.nlp.tokenizers  # noqa: F401

    return load_trained_model(run_dir)
