"""Language modelling (``--task lm``): its model and named presets.

A preset is keyword options of `apps.nlp.config.NLPConfig`; `apps.nlp.config.PRESETS` makes them
configs of this task.
"""

from __future__ import annotations

from typing import Any

MODELS = ("gpt",)

PRESETS: dict[str, dict[str, Any]] = {
    # The LM quality-bar run: held-out perplexity far below the unigram baseline in about a minute
    # on 2 CPU cores. One block: at this data and compute scale a second one did not lower the
    # held-out perplexity (docs/nlp.md).
    "gpt-pydocs": dict(
        model="gpt",
        data="builtin:pydocs",
        tokenizer="wordpiece",
        vocab_size=2000,
        sequence_length=64,
        embedding_dim=128,
        num_layers=1,
        num_heads=4,
        intermediate_dim=512,
        position_embedding="learned",
        dropout=0.0,
        batch_size=8,
        epochs=2,
        learning_rate=2e-3,
    ),
}
