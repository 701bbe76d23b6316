"""Learning a WordPiece vocabulary from word counts (pure Python, no TensorFlow).

WordPiece (Schuster & Nakajima 2012; Wu et al. 2016, "Google's Neural Machine Translation System")
tokenizes a word greedily into the longest vocabulary pieces, left to right; pieces that continue
a word carry the prefix ``##``. The vocabulary is learned here the way Hugging Face's
``WordPieceTrainer`` does it: byte-pair-encoding merges (Sennrich et al. 2016, "Neural Machine
Translation of Rare Words with Subword Units") over the words of the training split, where a
word starts as its first character followed by ``##``-prefixed characters and each merge joins
the most frequent adjacent pair into a new piece (``"t" + "##h" -> "th"``, ``"##h" + "##e" ->
"##he"``). Ties go to the alphabetically first pair, so the result depends only on the counts.

(tensorflow-text's own learner would do as well, but tensorflow-text 2.21.0 fails to import
with TensorFlow 2.21: tensorflow/text#1541.)
"""

from __future__ import annotations

import heapq
import itertools
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence

JOINER = "##"


def _pieces(word: str) -> list[str]:
    return [word[0]] + [JOINER + c for c in word[1:]]


def _merge(a: str, b: str) -> str:
    return a + b[len(JOINER) :]


def learn_wordpiece_vocabulary(
    word_counts: Mapping[str, int],
    vocab_size: int,
    reserved_tokens: Sequence[str] = (),
    min_frequency: int = 2,
) -> list[str]:
    """A WordPiece vocabulary of at most ``vocab_size`` tokens, ``reserved_tokens`` first.

    Then every character seen (word-initial and ``##`` continuation forms, most frequent first, as
    many as fit), then merged pieces in merge order until the vocabulary is full or no adjacent
    pair occurs ``min_frequency`` times.

    Raises:
        ValueError: if ``vocab_size`` leaves no room beyond the reserved tokens.
    """
    if vocab_size <= len(reserved_tokens):
        raise ValueError(
            f"vocab_size expected more than the {len(reserved_tokens)} reserved tokens. "
            f"Received: vocab_size={vocab_size}"
        )
    words = [(_pieces(w), c) for w, c in sorted(word_counts.items()) if w and c > 0]
    alphabet: Counter[str] = Counter()
    for pieces, count in words:
        for piece in pieces:
            alphabet[piece] += count
    vocabulary = list(reserved_tokens)
    seen = set(vocabulary)
    for piece, _ in sorted(alphabet.items(), key=lambda kv: (-kv[1], kv[0])):
        if len(vocabulary) < vocab_size and piece not in seen:
            vocabulary.append(piece)
            seen.add(piece)

    pair_counts: Counter[tuple[str, str]] = Counter()
    where: dict[tuple[str, str], set[int]] = defaultdict(set)
    for index, (pieces, count) in enumerate(words):
        for pair in itertools.pairwise(pieces):
            pair_counts[pair] += count
            where[pair].add(index)
    heap = [(-count, pair) for pair, count in pair_counts.items()]
    heapq.heapify(heap)
    while len(vocabulary) < vocab_size and heap:
        negative, pair = heapq.heappop(heap)
        if pair_counts.get(pair, 0) != -negative:
            continue  # stale entry: the count changed since it was pushed
        if -negative < min_frequency:
            break
        merged = _merge(*pair)
        if merged not in seen:
            vocabulary.append(merged)
            seen.add(merged)
        changed: set[tuple[str, str]] = set()
        for index in sorted(where.pop(pair, ())):
            pieces, count = words[index]
            for old in itertools.pairwise(pieces):
                pair_counts[old] -= count
                changed.add(old)
            new: list[str] = []
            i = 0
            while i < len(pieces):
                if i + 1 < len(pieces) and (pieces[i], pieces[i + 1]) == pair:
                    new.append(merged)
                    i += 2
                else:
                    new.append(pieces[i])
                    i += 1
            words[index] = (new, count)
            for old in itertools.pairwise(pieces):
                where[old].discard(index)
            for fresh in itertools.pairwise(new):
                pair_counts[fresh] += count
                where[fresh].add(index)
                changed.add(fresh)
        pair_counts.pop(pair, None)
        for other in changed:
            if other != pair and pair_counts.get(other, 0) > 0:
                heapq.heappush(heap, (-pair_counts[other], other))
    return vocabulary


def wordpiece_split(word: str, vocabulary: set[str], max_chars: int) -> list[str] | None:
    """BERT's greedy longest-match-first split of one word, or None when it has no split.

    The reference the in-graph tokenizer is tested against
    (`apps.nlp.tokenizers.WordPieceTokenizer`).
    """
    if len(word) > max_chars:
        return None
    pieces, start = [], 0
    while start < len(word):
        for end in range(len(word), start, -1):
            piece = word[start:end] if start == 0 else JOINER + word[start:end]
            if piece in vocabulary:
                pieces.append(piece)
                start = end
                break
        else:
            return None
    return pieces
