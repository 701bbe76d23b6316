"""Character and word error rates of transcripts (Levenshtein edit distance).

CER = (substitutions + deletions + insertions) / reference characters, over a whole set of
transcripts (the corpus-level rate: errors summed, then divided; not a mean of per-utterance
rates). WER is the same over words (whitespace-separated). Both can exceed 1 when the hypotheses
insert more than the references hold.
"""

from __future__ import annotations

from collections.abc import Sequence


def edit_distance(reference: Sequence[object], hypothesis: Sequence[object]) -> int:
    """Levenshtein distance: the fewest substitutions, deletions and insertions
    from ``reference`` to ``hypothesis``."""
    previous = list(range(len(hypothesis) + 1))  # distances from reference[:0]
    for i, ref in enumerate(reference, start=1):
        current = [i]
        for j, hyp in enumerate(hypothesis, start=1):
            current.append(
                min(
                    previous[j] + 1,  # deletion
                    current[j - 1] + 1,  # insertion
                    previous[j - 1] + (ref != hyp),  # substitution or match
                )
            )
        previous = current
    return previous[-1]


def _rate(pairs: list[tuple[Sequence[object], Sequence[object]]]) -> float:
    total = sum(len(ref) for ref, _ in pairs)
    if total == 0:
        raise ValueError(
            "the references are empty: an error rate needs at least one reference token"
        )
    return sum(edit_distance(ref, hyp) for ref, hyp in pairs) / total


def _check(references: Sequence[str], hypotheses: Sequence[str]) -> None:
    if isinstance(references, str) or isinstance(hypotheses, str):
        raise ValueError(
            "references and hypotheses expected sequences of transcripts, not one string"
        )
    if len(references) != len(hypotheses):
        raise ValueError(
            f"{len(references)} references and {len(hypotheses)} hypotheses; "
            "expected as many of each"
        )


def character_error_rate(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """Corpus-level CER of ``hypotheses`` against ``references`` (spaces count as characters)."""
    _check(references, hypotheses)
    return _rate(list(zip(references, hypotheses, strict=True)))


def word_error_rate(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """Corpus-level WER of ``hypotheses`` against ``references`` (words split on whitespace)."""
    _check(references, hypotheses)
    return _rate(
        [(ref.split(), hyp.split()) for ref, hyp in zip(references, hypotheses, strict=True)]
    )
