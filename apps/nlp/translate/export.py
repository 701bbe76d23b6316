"""Translation export (``--task translate``): ``export_plan``; plain strings in, plain strings out,
decoding inside the graph.

Signatures (signature: inputs -> outputs):

* ``serving_default`` = ``translate``: ``text`` string [N] -> ``translations`` string [N],
  ``scores`` float32 [N] (length-normalized log probability)
* ``translate_greedy``: ``text`` string [N] -> ``translations`` string [N],
  ``scores`` float32 [N] (log probability)

``translate`` runs beam search with the run's ``beam_size`` and ``length_penalty``; both run the
source tokenizer, the encoder once, the decoder step by step with its key/value cache in a
`tf.while_loop`, and the target tokenizer's detokenization
(`apps.nlp.translate.decoding.translate_texts`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dlsuite.apps.common.export import ExportPlan
from dlsuite.apps.common.runs import load_trained_model, run_config
from dlsuite.apps.nlp.translate.data import load_splits
from dlsuite.serving.warmup import predict_log

SIGNATURES = ("serving_default", "translate", "translate_greedy")


def build_signatures(
    model: Any, beam_size: int, max_length: int | None, length_penalty: float
) -> dict[str, Any]:
    """``{name: (function, input_signature)}`` of the translation signatures for ``model``."""
    import tensorflow as tf

    from dlsuite.apps.nlp.translate.decoding import translate_texts

    def signature(beams: int) -> Any:
        @tf.autograph.experimental.do_not_convert
        def translate(text: Any) -> dict[str, Any]:
            translations, scores = translate_texts(model, text, beams, max_length, length_penalty)
            return {"translations": translations, "scores": tf.cast(scores, tf.float32)}

        return translate

    spec = [tf.TensorSpec([None], tf.string, name="text")]
    beam = signature(beam_size)
    return {
        "serving_default": (beam, spec),
        "translate": (beam, spec),
        "translate_greedy": (signature(1), spec),
    }


def save_saved_model(
    model: Any, beam_size: int, max_length: int | None, length_penalty: float, path: Path
) -> None:
    """Write ``model`` with the translation signatures through `keras.export.ExportArchive`."""
    import keras

    archive = keras.export.ExportArchive()
    archive.track(model)
    for name, (fn, spec) in build_signatures(model, beam_size, max_length, length_penalty).items():
        archive.add_endpoint(name, fn, input_signature=spec)
    archive.write_out(str(path), verbose=False)


def warmup_logs(name: str, texts: Sequence[str]) -> list[Any]:
    """TF Serving warmup records from real held-out sentences:
    one and all of them, per signature.
    """
    import tensorflow as tf

    return [
        predict_log(name, signature, {"text": tf.make_tensor_proto(batch, dtype=tf.string)})
        for signature in SIGNATURES
        for batch in (list(texts[:1]), list(texts))
    ]


def export_plan(run_path: Path, *, num_warmup: int) -> ExportPlan:
    """A translation run's export (signatures above, warmup from the test split)."""
    from dlsuite.apps.common import schedules  # noqa: F401  (registers the schedule for loading)
    from dlsuite.apps.nlp import losses  # noqa: F401  (registers the loss for loading)
    from dlsuite.apps.nlp.translate.models import seq2seq  # noqa: F401  (registers the model)

    config = run_config(run_path)
    model = load_trained_model(run_path)  # weights only: no optimizer state in the SavedModel
    splits = load_splits(config)
    texts = [s.decode("utf-8") for s, _ in splits.test.take(num_warmup).as_numpy_iterator()]
    return ExportPlan(
        save=lambda path, _name, _version: save_saved_model(
            model, config.beam_size, config.max_decode_length, config.length_penalty, path
        ),
        warmup_logs=lambda model_name: warmup_logs(model_name, texts),
        manifest_extra={
            "nlp": {
                "task": "translate",
                "pair": splits.info.get("pair"),
                "beam_size": config.beam_size,
                "length_penalty": config.length_penalty,
                "max_decode_length": config.max_decode_length or config.sequence_length,
                "signatures": list(SIGNATURES),
            }
        },
    )
