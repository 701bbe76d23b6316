"""Text classification (``--task classify``): its models and named presets.

A preset is keyword options of `apps.nlp.config.NLPConfig`; `apps.nlp.config.PRESETS` makes them
configs of this task.
"""

from __future__ import annotations

from typing import Any

MODELS = ("bag_of_embeddings", "bilstm", "transformer")

PRESETS: dict[str, dict[str, Any]] = {
    # The quality-bar run: Transformer encoder on Faker sentences in six languages, >= 95% held out.
    "transformer-langid": dict(model="transformer", data="builtin:langid"),
    "bag_of_embeddings-langid": dict(model="bag_of_embeddings", data="builtin:langid"),
    "bilstm-langid": dict(model="bilstm", data="builtin:langid"),
    "transformer-imdb": dict(
        model="transformer",
        data="tfds:imdb_reviews",
        tokenizer="wordpiece",
        vocab_size=16000,
        sequence_length=256,
        embedding_dim=128,
        intermediate_dim=256,
        epochs=4,
    ),
    "bilstm-imdb": dict(
        model="bilstm",
        data="tfds:imdb_reviews",
        vocab_size=20000,
        sequence_length=256,
        embedding_dim=128,
        epochs=4,
    ),
    "transformer-ag_news": dict(
        model="transformer",
        data="tfds:ag_news_subset",
        tokenizer="wordpiece",
        vocab_size=16000,
        sequence_length=96,
        embedding_dim=128,
        intermediate_dim=256,
        epochs=3,
    ),
    "transformer-sst2": dict(
        model="transformer", data="tfds:glue/sst2", vocab_size=12000, sequence_length=64, epochs=4
    ),
}
