"""The string input, tokenizer and classifier head shared by the text classifiers (private)."""

import keras


def check_arguments(model_name, tokenizer, num_classes, dropout):
    """Raises `ValueError` naming the bad argument of a `build_<model>` call."""
    if not hasattr(tokenizer, "vocabulary_size") or tokenizer.sequence_length is None:
        raise ValueError(
            f"{model_name}: `tokenizer` expected an apps.nlp.tokenizers.Tokenizer with a "
            f"sequence_length. Received: tokenizer={tokenizer!r}"
        )
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(
            f"{model_name}: `num_classes` expected an integer >= 2. "
            f"Received: num_classes={num_classes!r}"
        )
    if not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
        raise ValueError(
            f"{model_name}: `dropout` expected a float in [0, 1). Received: dropout={dropout!r}"
        )


def text_input(tokenizer):
    """``(text, ids)``: the string input "text" (B,) and its token ids (B, T), 0 = padding."""
    text = keras.Input(shape=(), dtype="string", name="text")
    return text, tokenizer(text)


def classifier_head(x, num_classes, dropout):
    """Optional dropout, a dense layer to logits, and a float32 softmax named "probabilities"."""
    if dropout:
        x = keras.layers.Dropout(dropout, name="head_dropout")(x)
    x = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.layers.Activation("softmax", dtype="float32", name="probabilities")(x)
