"""Language-model generation speed: tokens per second with and without the key/value cache.

    python benchmarks/nlp_generation_benchmark.py --out benchmarks/results/nlp_generation
    python benchmarks/nlp_generation_benchmark.py --run runs/nlp/<lm-run>      # a trained model

Runs the in-memory ``generate`` graph (`apps.nlp.lm.generation.TextGenerator`, the same code as the
exported signature) on short prompts from held-out ``builtin:pydocs`` documents, for each batch
size, with ``use_cache=True`` (prefill once, then one token per step through the cache) and
``use_cache=False`` (every step re-runs the model over the whole prefix). Each configuration is
traced once, then the two are timed alternately ``--repeats`` times each (so a busy machine slows
both alike); tokens/s counts the tokens actually generated
(sampling at temperature 1 with fixed seeds, so a row rarely stops early at ``[END]``).
Without ``--run``, a freshly initialized model of the given sizes is used (speed does not depend
on the weights). Writes ``nlp_generation.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def make_model(args: argparse.Namespace) -> Any:
    """The run's trained model, or a fresh model of the preset with ``--layers``/``--width``."""
    from dlsuite.apps.common.config import override
    from dlsuite.apps.nlp.config import PRESETS
    from dlsuite.apps.nlp.lm.data import read_documents, split_documents
    from dlsuite.apps.nlp.lm.train import build_language_model, load_language_model
    from dlsuite.apps.nlp.tokenizers import train_tokenizer

    if args.run:
        return load_language_model(args.run)
    config = override(
        PRESETS["gpt-pydocs"],
        {
            "num_layers": args.layers,
            "embedding_dim": args.width,
            "num_heads": max(1, args.width // 32),
            "intermediate_dim": 4 * args.width,
            "sequence_length": args.context,
        },
    )
    documents = split_documents(
        read_documents("builtin", "pydocs")[0],
        config.validation_fraction,
        config.test_fraction,
        config.split_seed,
    )
    tokenizer = train_tokenizer(
        config.tokenizer, documents["train"], config.vocab_size, None, config.lowercase
    )
    return build_language_model(config, tokenizer)


def measure(
    generator: Any, prompts: list[str], new_tokens: int, repeats: int
) -> dict[bool, dict[str, Any]]:
    """``{use_cache: {"tokens", "seconds", "tokens_per_s"}}``, the two modes timed alternately."""
    totals = {use_cache: [0, 0.0] for use_cache in (True, False)}
    for use_cache in totals:  # trace and warm up
        generator.generate(
            prompts, max_new_tokens=new_tokens, temperature=1.0, seed=1, use_cache=use_cache
        )
    for _ in range(repeats):
        for use_cache, total in totals.items():
            start = time.perf_counter()
            result = generator.generate(
                prompts, max_new_tokens=new_tokens, temperature=1.0, seed=1, use_cache=use_cache
            )
            total[1] += time.perf_counter() - start
            total[0] += sum(result["num_tokens"])
    return {
        use_cache: {"tokens": tokens, "seconds": seconds, "tokens_per_s": tokens / seconds}
        for use_cache, (tokens, seconds) in totals.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--run", default=None, help="trained LM run directory (default: a fresh model)"
    )
    parser.add_argument("--layers", type=int, default=4, help="decoder blocks of the fresh model")
    parser.add_argument("--width", type=int, default=256, help="width of the fresh model")
    parser.add_argument(
        "--context", type=int, default=128, help="context length of the fresh model"
    )
    parser.add_argument("--batch-sizes", default="1,8", help="comma-separated batch sizes")
    parser.add_argument(
        "--new-tokens", type=int, default=None, help="tokens per prompt (default: context - 16)"
    )
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per configuration")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "nlp_generation"))
    args = parser.parse_args()

    import tensorflow as tf

    from dlsuite.apps.nlp.lm.data import read_documents, split_documents
    from dlsuite.apps.nlp.lm.generation import TextGenerator
    from dlsuite.base.files import atomic_write_json

    model = make_model(args)
    generator = TextGenerator(model)
    new_tokens = args.new_tokens or model.sequence_length - 16
    held_out = split_documents(read_documents("builtin", "pydocs")[0], 0.1, 0.2, 1234)["test"]
    results = []
    for batch in (int(b) for b in args.batch_sizes.split(",")):
        prompts = [" ".join(d.split()[:4]) for d in held_out[:batch]]
        for use_cache, timing in measure(generator, prompts, new_tokens, args.repeats).items():
            row = {"batch_size": batch, "use_cache": use_cache, "new_tokens": new_tokens, **timing}
            print(json.dumps(row), flush=True)
            results.append(row)
    speedup = {
        str(b): next(r["tokens_per_s"] for r in results if r["batch_size"] == b and r["use_cache"])
        / next(r["tokens_per_s"] for r in results if r["batch_size"] == b and not r["use_cache"])
        for b in sorted({r["batch_size"] for r in results})
    }
    report = {
        "results": results,
        "cache_speedup": speedup,
        "model": {
            "run": args.run,
            "layers": model.num_layers,
            "width": model.hidden_dim,
            "context": model.sequence_length,
            "vocabulary_size": model.vocabulary_size,
            "params": int(model.count_params()),
        },
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "tensorflow": tf.__version__,
        },
    }
    path = atomic_write_json(Path(args.out) / "nlp_generation.json", report)
    print(f"cache speed-up by batch size: {json.dumps(speedup)}\nwrote {path}")


if __name__ == "__main__":
    main()
