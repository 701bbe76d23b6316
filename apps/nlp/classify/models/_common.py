"""The string input, tokenizer and classifier head shared by the text classifiers (private)."""

import keras

from dlsuite.apps.common.models import check_head_arguments


def check_arguments(model_name, tokenizer, num_classes, dropout):
    """Raises `ValueError` naming the bad argument of a `build_<model>` call."""
    if not hasattr(tokenizer, "vocabulary_size") or tokenizer.sequence_length is None:
        raise ValueError(
            f"{model_name}: `tokenizer` expected an apps.nlp.tokenizers.Tokenizer with a "
            f"sequence_length. Received: tokenizer={tokenizer!r}"
        )
    check_head_arguments(model_name, num_classes, dropout)


def text_input(tokenizer):
    """``(text, ids)``: the string input "text" (B,) and its token ids (B, T), 0 = padding."""
    text = keras.Input(shape=(), dtype="string", name="text")
    return text, tokenizer(text)
