"""Corpus BLEU and chrF with sacreBLEU, and the exact-match rate,
of translations against references.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def score_translations(hypotheses: Sequence[str], references: Sequence[str]) -> dict[str, Any]:
    """``{"bleu", "chrf", "exact_match", "num_sentences", "bleu_signature", "chrf_signature"}``.

    BLEU (Papineni et al. 2002) and chrF (Popović 2015) are sacreBLEU's corpus scores (0-100) with
    its default settings (13a tokenization, chrF character 6-grams, beta 2) and one reference per
    sentence; the signatures record the settings. ``exact_match`` is the fraction (0-1) of
    hypotheses equal to their reference. Compare hypotheses and references in the same
    normalization (`apps.nlp.translate.train.normalize_references` gives the tokenizer's).

    Raises:
        ValueError: for lists of different lengths or empty lists.
    """
    import sacrebleu

    if len(hypotheses) != len(references):
        raise ValueError(
            "expected as many hypotheses as references. "
            f"Received: {len(hypotheses)} hypotheses, {len(references)} references"
        )
    if not hypotheses:
        raise ValueError("cannot score an empty list of translations")
    hypotheses, references = [str(h) for h in hypotheses], [str(r) for r in references]
    bleu = sacrebleu.metrics.BLEU()
    chrf = sacrebleu.metrics.CHRF()
    bleu_score = bleu.corpus_score(hypotheses, [references])
    chrf_score = chrf.corpus_score(hypotheses, [references])
    exact = sum(h.strip() == r.strip() for h, r in zip(hypotheses, references, strict=True))
    return {
        "bleu": float(bleu_score.score),
        "chrf": float(chrf_score.score),
        "exact_match": exact / len(hypotheses),
        "num_sentences": len(hypotheses),
        "bleu_signature": str(bleu.get_signature()),
        "chrf_signature": str(chrf.get_signature()),
    }
