"""Language-model export (``--task lm``): ``export_plan``; prompts in, generated text out,
tokenizer and sampling in the graph.

Signatures (inputs all [N], one value per prompt; signature: inputs -> outputs):

* ``serving_default``: ``prompt`` string -> as ``generate``, greedy,
  ``DEFAULT_MAX_NEW_TOKENS`` new tokens
* ``generate``: ``prompt`` string, ``max_new_tokens`` int32, ``temperature`` float32
  (0 = greedy), ``top_k`` int32 (0 = off), ``top_p`` float32 (1 = off), ``seed`` int32 ->
  ``completion`` string [N] (new text), ``text`` string [N] (prompt + new text),
  ``num_tokens`` int32 [N]

Both run the model's own tokenizer, the prefill and the cached decoding loop of
`apps.nlp.lm.generation` and the detokenizer, so a TF Serving client sends plain strings
(REST row format: ``{"signature_name": "generate", "instances": [{"prompt": "...",
"max_new_tokens": 20, "temperature": 0.8, "top_k": 40, "top_p": 0.95, "seed": 1}]}``).
Sampling arguments are per prompt, so the server may batch requests together without changing
any answer. Out-of-range arguments fail with INVALID_ARGUMENT naming the argument.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dlsuite.apps.common.export import ExportPlan
from dlsuite.apps.common.runs import run_config
from dlsuite.apps.nlp.lm.data import read_documents, split_documents
from dlsuite.apps.nlp.lm.train import load_language_model
from dlsuite.apps.nlp.sources import parse_text_source

SIGNATURES = ("serving_default", "generate")
WARMUP_PROMPT_WORDS = 6


def build_signatures(model: Any) -> dict[str, Any]:
    """``{name: (function, input_signature)}`` of the language-model signatures for ``model``."""
    import tensorflow as tf

    from dlsuite.apps.nlp.lm.generation import (
        DEFAULT_MAX_NEW_TOKENS,
        GENERATE_SIGNATURE,
        generate_strings,
    )

    @tf.autograph.experimental.do_not_convert
    def generate(
        prompt: Any, max_new_tokens: Any, temperature: Any, top_k: Any, top_p: Any, seed: Any
    ) -> dict[str, Any]:
        return generate_strings(
            model, model.tokenizer, prompt, max_new_tokens, temperature, top_k, top_p, seed
        )

    @tf.autograph.experimental.do_not_convert
    def greedy(prompt: Any) -> dict[str, Any]:
        n = tf.shape(prompt)[0]
        return generate(
            prompt,
            tf.fill([n], DEFAULT_MAX_NEW_TOKENS),
            tf.zeros([n]),
            tf.zeros([n], tf.int32),
            tf.ones([n]),
            tf.zeros([n], tf.int32),
        )

    return {
        "serving_default": (greedy, [GENERATE_SIGNATURE[0]]),
        "generate": (generate, list(GENERATE_SIGNATURE)),
    }


def save_saved_model(model: Any, path: Path) -> None:
    """Write ``model`` with the language-model signatures through `keras.export.ExportArchive`."""
    import keras

    archive = keras.export.ExportArchive()
    archive.track(model)  # the tokenizer's lookup tables are resources the endpoints need
    for name, (fn, spec) in build_signatures(model).items():
        archive.add_endpoint(name, fn, input_signature=spec)
    archive.write_out(str(path), verbose=False)


def warmup_logs(name: str, prompts: Sequence[str]) -> list[Any]:
    """TF Serving warmup records from real held-out text:
    greedy (one and all) and sampled generation.
    """
    import tensorflow as tf
    from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

    def request(signature: str, inputs: dict[str, Any]) -> Any:
        message = predict_pb2.PredictRequest(
            model_spec=model_pb2.ModelSpec(name=name, signature_name=signature)
        )
        for key, value in inputs.items():
            message.inputs[key].CopyFrom(value)
        return prediction_log_pb2.PredictionLog(
            predict_log=prediction_log_pb2.PredictLog(request=message)
        )

    def strings(batch: Sequence[str]) -> Any:
        return tf.make_tensor_proto([p.encode("utf-8") for p in batch], dtype=tf.string)

    n = len(prompts)
    sampled = {
        "prompt": strings(prompts),
        "max_new_tokens": tf.make_tensor_proto([8] * n, dtype=tf.int32),
        "temperature": tf.make_tensor_proto([0.8] * n, dtype=tf.float32),
        "top_k": tf.make_tensor_proto([40] * n, dtype=tf.int32),
        "top_p": tf.make_tensor_proto([0.95] * n, dtype=tf.float32),
        "seed": tf.make_tensor_proto(list(range(n)), dtype=tf.int32),
    }
    return [
        request("serving_default", {"prompt": strings(prompts[:1])}),
        request("serving_default", {"prompt": strings(prompts)}),
        request("generate", sampled),
    ]


def export_plan(run_path: Path, *, num_warmup: int) -> ExportPlan:
    """A language-model run's export (signatures above, prompts from the test documents)."""
    from dlsuite.apps.nlp.lm.generation import DEFAULT_MAX_NEW_TOKENS
    from dlsuite.apps.nlp.tokenizers import describe_tokenizer

    config = run_config(run_path)
    model = load_language_model(run_path)  # weights only: no optimizer state in the SavedModel
    spec = parse_text_source(config.data)
    documents = split_documents(
        read_documents(spec.kind, spec.name)[0],
        config.validation_fraction,
        config.test_fraction,
        config.split_seed,
    )["test"]
    prompts = [" ".join(d.split()[:WARMUP_PROMPT_WORDS]) for d in documents[:num_warmup]]
    return ExportPlan(
        save=lambda path, _name, _version: save_saved_model(model, path),
        warmup_logs=lambda model_name: warmup_logs(model_name, prompts),
        manifest_extra={
            "nlp": {
                "task": "lm",
                "tokenizer": describe_tokenizer(model.tokenizer),
                "sequence_length": model.sequence_length,
                "default_max_new_tokens": DEFAULT_MAX_NEW_TOKENS,
                "signatures": list(SIGNATURES),
            }
        },
    )
