"""Translation serving signatures: plain strings in, plain strings out, decoding inside the graph.

Signatures (signature: inputs -> outputs):

* ``serving_default`` = ``translate``: ``text`` string [N] -> ``translations`` string [N],
  ``scores`` float32 [N] (length-normalized log probability)
* ``translate_greedy``: ``text`` string [N] -> ``translations`` string [N],
  ``scores`` float32 [N] (log probability)

``translate`` runs beam search with the run's ``beam_size`` and ``length_penalty``; both run the
source tokenizer, the encoder once, the decoder step by step with its key/value cache in a
`tf.while_loop`, and the target tokenizer's detokenization (`apps.nlp.translation.translate_texts`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

SIGNATURES = ("serving_default", "translate", "translate_greedy")


def build_signatures(
    model: Any, beam_size: int, max_length: int | None, length_penalty: float
) -> dict[str, Any]:
    """``{name: (function, input_signature)}`` of the translation signatures for ``model``."""
    import tensorflow as tf

    from dlsuite.apps.nlp.translation import translate_texts

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

    from dlsuite.serving.warmup import predict_log

    return [
        predict_log(name, signature, {"text": tf.make_tensor_proto(batch, dtype=tf.string)})
        for signature in SIGNATURES
        for batch in (list(texts[:1]), list(texts))
    ]


def export_run(
    run_dir: str | os.PathLike[str],
    *,
    model_base_path: str | os.PathLike[str] = "saved_models",
    name: str,
    manifest_info: str | os.PathLike[str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    num_warmup: int = 4,
) -> Path:
    """Export a finished translation run as the next version of ``<model_base_path>/<name>``."""
    from dlsuite.apps.common.runs import load_trained_model, run_config
    from dlsuite.apps.nlp import losses, schedules  # noqa: F401  (register the compile objects for loading)
    from dlsuite.apps.nlp.models import seq2seq  # noqa: F401  (registers TransformerSeq2Seq)
    from dlsuite.apps.nlp.translation import load_translation_splits
    from dlsuite.serving.export import export_version
    from dlsuite.serving.manifest import load_person_fields

    person = load_person_fields(manifest_info, overrides)
    run_path = Path(run_dir)
    config = run_config(run_path)
    model = load_trained_model(run_path)  # weights only: no optimizer state in the SavedModel
    splits = load_translation_splits(config)
    texts = [s.decode("utf-8") for s, _ in splits.test.take(num_warmup).as_numpy_iterator()]
    return export_version(
        model_base_path=model_base_path,
        name=name,
        run_dir=run_path,
        save=lambda path: save_saved_model(
            model, config.beam_size, config.max_decode_length, config.length_penalty, path
        ),
        warmup_logs=lambda model_name: warmup_logs(model_name, texts),
        person=person,
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
