"""Few-shot prompt evaluation: does the language model pick up a rule from examples in its prompt?

Brown et al. 2020 ("Language Models are Few-Shot Learners") evaluate a model by putting ``k``
solved examples of a task in the prompt, then a query, without any gradient step. Two small tasks
built from the model's own vocabulary (words of the training text that are one token each, so an
answer is one next-token prediction), ``EPISODES`` random episodes per number of shots:

* ``copy`` — the identity rule ``w : w``. Prompt: ``k`` demonstrations ``a : a ;`` and a query
  ``q :`` with a word not among the demonstrations; correct if the most likely next token is
  ``q``. At ``k = 0`` the prompt is only ``q :``, so the gain from 0 to ``k`` shots is learning in
  context.
* ``recall`` — associative recall: ``k`` pairs ``a : b ;`` of random words, then one of the ``a``
  again; correct if the next token is its ``b``. Guessing among the shown ``b`` words scores
  ``1 / k``; anything above that needs the pairing read from the prompt (an induction head,
  Olsson et al. 2022).

Accuracy is the share of episodes whose greedy next token is the answer. Small models trained for
a minute on docstrings usually fail these tasks; the numbers are reported as measured.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

EPISODES = 100
SHOTS = {"copy": (0, 1, 2, 4, 8), "recall": (1, 2, 4, 8)}
MAX_WORDS = 400  # candidate words: the most frequent single-token words of the training text


def candidate_words(tokenizer: Any, documents: Sequence[str], limit: int = MAX_WORDS) -> list[str]:
    """Frequent alphabetic words (>= 3 letters) of ``documents``
    that the tokenizer keeps as one token.
    """
    import tensorflow as tf

    from dlsuite.apps.nlp.tokenizers import UNK_ID, count_words

    counts = count_words(documents, tokenizer.lowercase)
    ranked = [
        w
        for w, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        if w.isalpha() and len(w) >= 3
    ]
    tried = ranked[: 4 * limit]
    ids = tokenizer.tokenize(tf.constant(tried)).to_list() if tried else []
    words = [w for w, row in zip(tried, ids, strict=True) if len(row) == 1 and row[0] != UNK_ID]
    return words[:limit]


def episodes(
    task: str, shots: int, words: Sequence[str], count: int, seed: int
) -> list[tuple[str, str]]:
    """``count`` (prompt, answer) pairs of ``task`` with ``shots`` demonstrations."""
    import numpy as np

    rng = np.random.default_rng([seed, shots, 0 if task == "copy" else 1])
    result = []
    for _ in range(count):
        if task == "copy":
            chosen = [words[i] for i in rng.choice(len(words), shots + 1, replace=False)]
            demos, query = chosen[:-1], chosen[-1]
            prompt = "".join(f"{w} : {w} ; " for w in demos) + f"{query} :"
            result.append((prompt, query))
        else:
            chosen = [words[i] for i in rng.choice(len(words), 2 * shots, replace=False)]
            pairs = list(zip(chosen[:shots], chosen[shots:], strict=True))
            asked = pairs[int(rng.integers(shots))]
            prompt = "".join(f"{a} : {b} ; " for a, b in pairs) + f"{asked[0]} :"
            result.append((prompt, asked[1]))
    return result


def next_token_accuracy(
    model: Any, tokenizer: Any, items: Sequence[tuple[str, str]], batch_size: int = 64
) -> float:
    """Share of ``(prompt, answer)`` whose greedy next token after ``[START] prompt``
    is the answer's token.
    """
    import numpy as np
    import tensorflow as tf

    from dlsuite.apps.nlp.tokenizers import PAD_ID, START_ID

    prompts = [
        [START_ID, *row] for row in tokenizer.tokenize(tf.constant([p for p, _ in items])).to_list()
    ]
    answers = [row[0] for row in tokenizer.tokenize(tf.constant([a for _, a in items])).to_list()]
    correct = 0
    for start in range(0, len(items), batch_size):
        rows = prompts[start : start + batch_size]
        buffer = np.full(
            (len(rows), max(map(len, rows))), PAD_ID, np.int32
        )  # right-padded: causal, so harmless
        for i, row in enumerate(rows):
            buffer[i, : len(row)] = row
        logits = np.asarray(model(buffer, training=False))  # (B, T, V)
        last = logits[np.arange(len(rows)), [len(r) - 1 for r in rows]]  # (B, V)
        correct += int(
            (last.argmax(axis=-1) == np.asarray(answers[start : start + batch_size])).sum()
        )
    return correct / len(items)


def evaluate_few_shot(
    model: Any, tokenizer: Any, documents: Sequence[str], seed: int = 0, count: int = EPISODES
) -> dict[str, Any]:
    """Accuracy per task and number of shots, with the chance levels, for metrics.json."""
    words = candidate_words(tokenizer, documents)
    if len(words) < 2 * max(SHOTS["recall"]) + 1:
        return {"skipped": f"only {len(words)} single-token words in the training text"}
    results: dict[str, Any] = {}
    for task, shot_counts in SHOTS.items():
        accuracy = {}
        for shots in shot_counts:
            items = episodes(task, shots, words, count, seed)
            longest = max(len(p.split()) for p, _ in items) + 1
            if longest > model.sequence_length:
                continue  # does not fit in the context
            accuracy[str(shots)] = next_token_accuracy(model, tokenizer, items)
        results[task] = {"accuracy_by_shots": accuracy}
    results["copy"]["chance"] = 1.0 / tokenizer.vocabulary_size()
    results["recall"]["chance_among_shown"] = {str(k): 1.0 / k for k in SHOTS["recall"]}
    results.update(
        episodes=count,
        candidate_words=len(words),
        method=(
            "greedy next token after '[START] <k demonstrations> <query> :', "
            "compared with the answer's single token; "
            "copy: 'a : a ;' demonstrations, unseen query word; "
            "recall: 'a : b ;' random pairs, query one shown 'a'"
        ),
    )
    return results
