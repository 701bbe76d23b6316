"""Train and evaluate a translator (``--task translate``): ``train_and_evaluate(config)``,
``evaluate_run(run_dir, split)``.

Training reads the ``(source, target)`` pairs of `apps.nlp.translate.data`, learns a source and a
target tokenizer on the training split (`apps.nlp.tokenizers`), encodes each pair as the model
input (source ids, then ``[START] target``) and the labels (``target [END]``), and trains
`apps.nlp.translate.models.seq2seq.TransformerSeq2Seq` with label smoothing and, by default, the
warmup schedule of Vaswani et al. (``--lr-schedule transformer``). The held-out evaluation decodes
the test split greedily and with beam search (`apps.nlp.translate.decoding`) and scores both with
sacreBLEU (`apps.nlp.translate.translation_metrics`).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from dlsuite.apps.common import trainer
from dlsuite.apps.common.data import Splits
from dlsuite.apps.common.runs import load_trained_model, run_config
from dlsuite.apps.nlp.config import APP, NLPConfig
from dlsuite.apps.nlp.translate.data import load_splits
from dlsuite.apps.nlp.translate.translation_metrics import score_translations
from dlsuite.base.files import atomic_write_json, atomic_write_text

DECODE_BATCH = 256  # sentences per decoding call in the evaluation
MAX_CHARS_PER_WORD = 64  # longest word a wordpiece tokenizer splits (longer ones are one [UNK])


# -------------------------------------------------------------------------------- tokens and model


def fit_tokenizers(config: NLPConfig, splits: Splits) -> tuple[Any, Any]:
    """Source and target ``config.tokenizer`` tokenizers learned from the training split only."""
    from dlsuite.apps.nlp.tokenizers import train_tokenizer

    train = (
        splits.train.take(config.max_train_examples) if config.max_train_examples else splits.train
    )
    # Compound words (German numbers are one word, "neuntausendzweihundertneunundvierzig")
    # need longer words.
    options = {"max_chars_per_word": MAX_CHARS_PER_WORD} if config.tokenizer == "wordpiece" else {}
    source = train_tokenizer(
        config.tokenizer,
        train.map(lambda s, t: s),
        config.vocab_size,
        config.sequence_length,
        config.lowercase,
        name="source_tokenizer",
        **options,
    )
    target = train_tokenizer(
        config.tokenizer,
        train.map(lambda s, t: t),
        config.vocab_size,
        None,
        config.lowercase,
        name="target_tokenizer",
        **options,
    )
    return source, target


def encode_pairs(
    dataset: Any,
    source_tokenizer: Any,
    target_tokenizer: Any,
    source_length: int,
    target_length: int,
) -> Any:
    """``(source, target)`` strings -> ``(ids (S + T,), labels (T,))`` int32, for teacher forcing.

    ``ids`` = source ids padded/truncated to S, then ``[START] y1 .. y(T-1)``;
    ``labels`` = ``y1 .. [END]`` padded with 0 (ignored by the loss).
    Tokenized in batches of 256, then unbatched.
    """
    import tensorflow as tf

    from dlsuite.apps.nlp.tokenizers import END_ID, PAD_ID, START_ID

    def encode(sources: Any, targets: Any) -> tuple[Any, Any]:
        src = source_tokenizer.tokenize(sources)[:, :source_length].to_tensor(
            PAD_ID, shape=[None, source_length]
        )
        tgt = target_tokenizer.tokenize(targets)[:, : target_length - 1]  # (B, None) ragged
        rows = tf.shape(src)[0]
        start = tf.RaggedTensor.from_tensor(tf.fill([rows, 1], START_ID))
        end = tf.RaggedTensor.from_tensor(tf.fill([rows, 1], END_ID))
        decoder_in = tf.concat([start, tgt], axis=1).to_tensor(PAD_ID, shape=[None, target_length])
        labels = tf.concat([tgt, end], axis=1).to_tensor(PAD_ID, shape=[None, target_length])
        return tf.concat([src, decoder_in], axis=1), labels  # (B, S + T), (B, T)

    return (
        dataset.batch(256)
        .map(encode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        .unbatch()
    )


def build_translator(config: NLPConfig, source_tokenizer: Any, target_tokenizer: Any) -> Any:
    """`TransformerSeq2Seq` of the config's sizes, carrying both tokenizers (`build_seq2seq`)."""
    from dlsuite.apps.nlp.translate.models.seq2seq import build_seq2seq

    return build_seq2seq(
        source_tokenizer.vocabulary_size(),
        target_tokenizer.vocabulary_size(),
        source_length=config.sequence_length,
        target_length=config.sequence_length,
        num_layers=config.num_layers,
        num_heads=config.num_heads,
        hidden_dim=config.embedding_dim,
        intermediate_dim=config.intermediate_dim,
        dropout=config.dropout,
        norm_first=config.norm_position == "pre",
        position_embedding=config.position_embedding,
        source_tokenizer=source_tokenizer,
        target_tokenizer=target_tokenizer,
        name=config.model,
    )


def compile_translator(model: Any, optimizer: Any, jit_compile: bool, config: NLPConfig) -> None:
    """Label-smoothed cross-entropy and token accuracy."""
    from dlsuite.apps.nlp.losses import LabelSmoothedCrossentropy, MaskedTokenAccuracy

    model.compile(
        optimizer=optimizer,
        jit_compile=jit_compile,
        loss=LabelSmoothedCrossentropy(config.label_smoothing),
        metrics=[MaskedTokenAccuracy()],
    )


# ------------------------------------------------------------------------------------- evaluation


def translator(model: Any, beam_size: int, config: NLPConfig) -> Any:
    """A `tf.function` strings -> translations with the config's decoding settings."""
    import tensorflow as tf

    from dlsuite.apps.nlp.translate.decoding import translate_texts

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)], autograph=False)
    def run(texts: Any) -> Any:
        return translate_texts(
            model, texts, beam_size, config.max_decode_length, config.length_penalty
        )[0]

    return run


def normalize_references(texts: list[str], tokenizer: Any) -> list[str]:
    """References as the target tokenizer sees them:
    lowercased (if it lowercases), punctuation split off.
    """
    from dlsuite.apps.nlp.tokenizers import pretokenize

    return (
        [t.decode("utf-8") for t in pretokenize(texts, tokenizer.lowercase).numpy()]
        if texts
        else []
    )


def decode_all(function: Any, texts: list[str]) -> list[str]:
    out: list[str] = []
    for i in range(0, len(texts), DECODE_BATCH):
        out.extend(t.decode("utf-8") for t in function(texts[i : i + DECODE_BATCH]).numpy())
    return out


def evaluate_translator(
    model: Any, pairs: Any, config: NLPConfig, out_dir: Any, split: str = "test"
) -> dict[str, Any]:
    """Decode ``pairs`` greedily and with beam search; BLEU, chrF and exact match of both.

    Writes ``evaluation.json`` and ``translations.tsv`` (source, reference, greedy, beam)
    into ``out_dir``.
    """
    sources, targets = [], []
    for source, target in pairs.as_numpy_iterator():
        sources.append(source.decode("utf-8"))
        targets.append(target.decode("utf-8"))
    references = normalize_references(targets, model.target_tokenizer)
    greedy = decode_all(translator(model, 1, config), sources)
    beam = decode_all(translator(model, config.beam_size, config), sources)
    scores = {
        "greedy": score_translations(greedy, references),
        "beam": score_translations(beam, references),
    }
    report = {
        "split": split,
        "num_sentences": len(sources),
        **scores,
        "metrics": {
            f"{kind}_{name}": scores[kind][name]
            for kind in scores
            for name in ("bleu", "chrf", "exact_match")
        },
        "beam_size": config.beam_size,
        "length_penalty": config.length_penalty,
        "max_decode_length": config.max_decode_length or config.sequence_length,
        "references": (
            "normalized as the target tokenizer splits them "
            "(lowercase, punctuation as separate words)"
        ),
        "examples": [
            {"source": s, "reference": r, "greedy": g, "beam": b}
            for s, r, g, b in list(zip(sources, references, greedy, beam, strict=True))[:5]
        ],
    }
    out = Path(out_dir)
    atomic_write_json(out / "evaluation.json", report)
    lines = [
        "source\treference\tgreedy\tbeam",
        *("\t".join(row) for row in zip(sources, references, greedy, beam, strict=True)),
    ]
    atomic_write_text(out / "translations.tsv", "\n".join(lines) + "\n")
    return report


# ---------------------------------------------------------------------------------- train, evaluate


def train_and_evaluate(config: NLPConfig) -> trainer.TrainResult:
    """Learn both tokenizers on the training split, then train the encoder-decoder around them."""
    from dlsuite.apps.nlp.tokenizers import describe_tokenizer

    text_splits = load_splits(config)
    source_tokenizer, target_tokenizer = fit_tokenizers(config, text_splits)
    length = config.sequence_length

    def encode(dataset: Any) -> Any:
        return encode_pairs(dataset, source_tokenizer, target_tokenizer, length, length)

    splits = dataclasses.replace(
        text_splits,
        train=encode(text_splits.train),
        validation=encode(text_splits.validation),
        test=encode(text_splits.test),
        input_shape=(2 * length,),
        input_dtype="int32",
    )

    def evaluate(model: Any, run: Any, test_batches: Any) -> dict[str, Any]:
        return evaluate_translator(model, text_splits.test, config, run.path)

    return trainer.train_and_evaluate(
        app=APP,
        config=config,
        splits=splits,
        build_model=lambda: build_translator(config, source_tokenizer, target_tokenizer),
        compile_model=lambda model, optimizer, jit: compile_translator(
            model, optimizer, jit, config
        ),
        # Adam with the beta_2 and epsilon of the paper (section 5.3)
        optimizer_options={"beta_2": 0.98, "epsilon": 1e-9} if config.optimizer == "adam" else None,
        evaluate=evaluate,
        extra_metrics={
            "source_tokenizer": describe_tokenizer(source_tokenizer),
            "target_tokenizer": describe_tokenizer(target_tokenizer),
        },
    )


def evaluate_run(run_dir: Any, split: str = "test") -> dict[str, Any]:
    """Decode and score a finished translation run's ``split``;
    writes the report files into the run.
    """
    from dlsuite.apps.common import schedules  # noqa: F401  (registers TransformerSchedule)
    from dlsuite.apps.nlp import losses  # noqa: F401  (registers the compile objects for loading)
    from dlsuite.apps.nlp.translate.models import seq2seq  # noqa: F401  (registers the model)

    if split not in ("train", "validation", "test"):
        raise ValueError(f"split expected train, validation or test. Received: {split!r}")
    config = run_config(run_dir)
    model = load_trained_model(run_dir)
    return evaluate_translator(model, getattr(load_splits(config), split), config, run_dir, split)
