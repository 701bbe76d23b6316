"""Translation (``--task translate``): its model, the ``builtin:numbers`` language pairs and the
named presets.

A preset is keyword options of `apps.nlp.config.NLPConfig`; `apps.nlp.config.PRESETS` makes them
configs of this task.
"""

from __future__ import annotations

from typing import Any

MODELS = ("transformer_seq2seq",)
# builtin:numbers (`apps.nlp.translate.numbers`): num2words languages, paired with English.
LANGUAGES = ("en", "de", "fr", "es")
PAIRS = tuple(f"{a}-{b}" for a in LANGUAGES for b in LANGUAGES if a != b and "en" in (a, b))


def parse_pair(pair: str) -> tuple[str, str]:
    """``"en-de"`` -> ``("en", "de")``; raises ValueError naming the known pairs."""
    if pair not in PAIRS:
        raise ValueError(f"numbers_pair expected one of {PAIRS}. Received: numbers_pair={pair!r}")
    source, target = pair.split("-")
    return source, target


PRESETS: dict[str, dict[str, Any]] = {
    # The translation quality-bar run: English -> Spanish number words, >= 90% exact match
    # (beam search) held out.
    "transformer_seq2seq-numbers": dict(
        model="transformer_seq2seq",
        data="builtin:numbers",
        numbers_pair="en-es",
        numbers_count=6000,
        vocab_size=200,
        sequence_length=16,
        embedding_dim=64,
        intermediate_dim=128,
        num_layers=2,
        num_heads=4,
        epochs=3,
        learning_rate=3e-3,
        warmup_steps=200,
    ),
    "transformer_seq2seq-ted_pt_en": dict(
        model="transformer_seq2seq",
        data="tfds:ted_hrlr_translate/pt_to_en",
        tokenizer="wordpiece",
        vocab_size=8000,
        sequence_length=64,
        embedding_dim=128,
        intermediate_dim=512,
        num_layers=4,
        num_heads=8,
        epochs=20,
        learning_rate=1e-3,
        warmup_steps=4000,
    ),
}
