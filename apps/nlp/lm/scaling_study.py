"""Scaling-law study: a family of GPT-style LMs on the same data,
L(N) and the compute-optimal ratio.

`run_study` trains each family member (``LxD`` = L decoder blocks of width D, ``D / head_dim``
heads, feed-forward 4 D) through the shared trainer, on the same corpus and tokenizer, with a
constant learning rate, and records the held-out (validation) loss at log-spaced checkpoints of
the training tokens seen. Compute is C = 6 N D (D the training tokens). Two parameter counts are
used, each where its paper used it: L(N) takes N = the non-embedding parameters (Kaplan et al.
2020); the compute-optimal analysis takes N = all parameters and C = 6 N D (Hoffmann et al. 2022
count the embeddings; at toy widths the embedding and output matrices hold most of the
parameters and of the compute, and leaving them out biases small-scale fits, Pearce & Song 2024).
The budget has two parts:

* every member sees at least D_common = ``epochs`` x the training tokens, the point where L(N) is
  read;
* every member reaches the IsoFLOP budget C_iso = 6 N_median D_common (all parameters; the compute
  of the median member at D_common): members smaller than the median train longer, for
  C_iso / (6 N) tokens. The checkpoints then give every member a loss at each compute level of
  about a decade below C_iso, which is what an IsoFLOP profile needs.

Then the fits (`apps.nlp.lm.scaling_fits`: ``fit_power_law`` for L(N) at D_common,
``compute_optimal`` for the IsoFLOP analysis of the checkpoints) and the study folder's files
(`apps.nlp.lm.scaling_report.write_study`); each member's run directory is under ``runs/`` there
(re-running the study skips complete members).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dlsuite.apps.nlp.lm.scaling_report import Member, write_study

DEFAULT_SIZES = ("1x16", "2x16", "2x32", "2x48", "2x64")
DEFAULT_EPOCHS = 1  # D_common: one pass over the training tokens
DEFAULT_HEAD_DIM = 16
DEFAULT_CHECKPOINTS = 8
# The first checkpoint is at 1/16 of the training steps (skips the first transient).
CHECKPOINT_SPAN = 16
CURVE_FILE = "curve.jsonl"


def parse_sizes(sizes: Sequence[str], head_dim: int) -> list[tuple[int, int, int]]:
    """``["2x64", ...]`` -> ``[(layers, width, heads), ...]``; heads = max(1, width // head_dim)."""
    result = []
    for size in sizes:
        layers, sep, width = size.lower().partition("x")
        if (
            not sep
            or not layers.isdigit()
            or not width.isdigit()
            or int(layers) < 1
            or int(width) < 1
        ):
            raise ValueError(f"a model size is LAYERSxWIDTH, e.g. 2x64. Received: {size!r}")
        heads = max(1, int(width) // head_dim)
        if int(width) % heads:
            raise ValueError(
                f"width {width} of size {size!r} is not divisible by its {heads} heads "
                f"(head_dim={head_dim})"
            )
        result.append((int(layers), int(width), heads))
    if len(result) < 2:
        raise ValueError(f"a scaling study needs at least two model sizes. Received: {list(sizes)}")
    return result


def checkpoint_steps(total_steps: int, count: int) -> list[int]:
    """Up to ``count`` log-spaced optimizer steps
    from ``total_steps / CHECKPOINT_SPAN`` to ``total_steps``.
    """
    import numpy as np

    first = max(1.0, total_steps / CHECKPOINT_SPAN)
    return sorted({int(round(s)) for s in np.geomspace(first, total_steps, count)})


def member_config(base: Any, layers: int, width: int, heads: int, runs_root: Path) -> Any:
    """The family member's config: the base with its size, a constant learning rate
    and its run id.
    """
    from dlsuite.apps.common.config import override

    return override(
        base,
        {
            "num_layers": layers,
            "embedding_dim": width,
            "num_heads": heads,
            "intermediate_dim": 4 * width,
            "lr_schedule": "constant",
            "run_root": str(runs_root),
            "run_id": f"{layers}x{width}",
        },
    )


def total_params(config: Any, tokenizer: Any) -> int:
    """All parameters of the member ``config`` describes (built, counted and dropped)."""
    from dlsuite.apps.nlp.lm.train import build_language_model

    return int(build_language_model(config, tokenizer).count_params())


def curve_callback(run: Any, val_batches: Any, steps: Sequence[int], tokens: Any) -> Any:
    """A callback appending ``{"step", "tokens", "val_loss"}`` to ``curve.jsonl`` at ``steps``;
    stops at the last.

    ``tokens(step)`` gives the training tokens seen after ``step`` optimizer steps.
    """
    import json

    import keras
    import tensorflow as tf

    wanted, last = set(steps), max(steps)

    class CurveRecorder(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.loss_fn = None

        def _loss(self) -> float:
            if self.loss_fn is None:
                model = self.model

                @tf.function(reduce_retracing=True)
                def summed(inputs: Any, targets: Any) -> Any:
                    logits = model(inputs, training=False)
                    nll = tf.nn.sparse_softmax_cross_entropy_with_logits(
                        tf.cast(targets, tf.int32), logits
                    )
                    return tf.reduce_sum(tf.cast(nll, tf.float64)), tf.cast(
                        tf.size(nll), tf.float64
                    )

                self.loss_fn = summed
            total = count = 0.0
            for inputs, targets in val_batches:
                s, n = self.loss_fn(inputs, targets)
                total, count = total + float(s), count + float(n)
            return total / count

        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            step = int(self.model.optimizer.iterations.numpy())
            if step in wanted:
                wanted.discard(step)
                record = {"step": step, "tokens": tokens(step), "val_loss": self._loss()}
                with open(run.path / CURVE_FILE, "a", encoding="utf-8") as handle:
                    handle.write(json.dumps(record) + "\n")
            if step >= last:
                self.model.stop_training = True  # the member's token budget is spent (mid-epoch)

    return CurveRecorder()


def _read_curve(run_path: Path) -> tuple[list[int], list[float]]:
    import json

    by_step = {}
    for line in (run_path / CURVE_FILE).read_text(encoding="utf-8").splitlines():
        if line.strip():
            record = json.loads(line)
            by_step[record["step"]] = record
    points = [by_step[s] for s in sorted(by_step)]
    return [p["tokens"] for p in points], [p["val_loss"] for p in points]


def train_member(config: Any, data: Any, steps: int, common_steps: int, checkpoints: int) -> Member:
    """Train (or read back, when complete) one member for ``steps`` optimizer steps."""
    from dlsuite.apps.common import trainer
    from dlsuite.apps.common.config import override
    from dlsuite.apps.common.data import make_pipeline
    from dlsuite.apps.common.runs import is_complete
    from dlsuite.apps.nlp.lm.train import (
        build_language_model,
        compile_language_model,
        compute_accounting,
        epoch_windows,
        held_out_perplexity,
        tokens_after,
    )
    from dlsuite.base.files import read_json

    train_windows = data.splits.sizes["train"]
    per_epoch = math.ceil(epoch_windows(config, train_windows) / config.batch_size)
    config = override(config, {"epochs": math.ceil(steps / per_epoch)})
    run_path = Path(config.run_root) / "nlp" / config.run_id
    if not is_complete(run_path):
        wanted = sorted({*checkpoint_steps(steps, checkpoints), common_steps})
        val_batches = make_pipeline(
            data.splits.validation, batch_size=config.batch_size, training=False, seed=config.seed
        )
        accounting: dict[str, Any] = {}

        def evaluate(model: Any, run: Any, test_batches: Any) -> dict[str, Any]:
            accounting.update(
                compute_accounting(model, config, train_windows, int(model.optimizer.iterations))
            )
            return {
                "split": "test",
                **held_out_perplexity(model, test_batches, data.unigram_counts),
            }

        trainer.train_and_evaluate(
            app="nlp",
            config=config,
            splits=data.splits,
            build_model=lambda: build_language_model(config, data.tokenizer),
            compile_model=compile_language_model,
            evaluate=evaluate,
            callbacks=lambda run: [
                curve_callback(
                    run, val_batches, wanted, lambda step: tokens_after(step, config, train_windows)
                )
            ],
            extra_metrics={"language_model": accounting, "scaling_member": config.run_id},
        )
    metrics = read_json(run_path / "metrics.json")
    tokens, losses = _read_curve(run_path)
    return Member(
        name=config.run_id,
        layers=config.num_layers,
        width=config.embedding_dim,
        heads=config.num_heads,
        non_embedding_params=int(metrics["language_model"]["non_embedding_params"]),
        total_params=int(metrics["num_params"]),
        tokens=tokens,
        val_loss=losses,
        test_perplexity=float(metrics["evaluation"]["perplexity"]),
        wall_time_s=float(metrics["wall_time_s"]),
    )


def run_study(
    base: Any,
    sizes: Sequence[str] = DEFAULT_SIZES,
    head_dim: int = DEFAULT_HEAD_DIM,
    checkpoints: int = DEFAULT_CHECKPOINTS,
    out_dir: str | Path | None = None,
) -> Path:
    """Train the family of ``sizes`` on ``base.data`` and write the study;
    returns the study folder.
    """
    import numpy as np

    from dlsuite.apps.common.strategy import prepare_strategy
    from dlsuite.apps.nlp.lm.data import load_language_model_data
    from dlsuite.apps.nlp.lm.train import epoch_windows, tokens_after

    if base.task != "lm":
        raise ValueError(
            f"the scaling study trains language models: use --task lm. Received: task={base.task!r}"
        )
    if checkpoints < 2:
        raise ValueError(f"checkpoints expected at least 2. Received: checkpoints={checkpoints}")
    family = parse_sizes(sizes, head_dim)
    if out_dir is None:
        out_dir = (
            Path(base.run_root) / "studies" / f"scaling-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}"
        )
    out = Path(out_dir)
    prepare_strategy(base.strategy, base.replicas)  # before the data touches TensorFlow
    data = load_language_model_data(base)
    configs = [
        member_config(base, layers, width, heads, out / "runs") for layers, width, heads in family
    ]
    n = [total_params(config, data.tokenizer) for config in configs]
    train_windows = data.splits.sizes["train"]
    per_epoch = math.ceil(epoch_windows(base, train_windows) / base.batch_size)
    common_steps = base.epochs * per_epoch
    d_common = tokens_after(common_steps, base, train_windows)
    c_iso = 6.0 * float(np.median(n)) * d_common
    tokens_per_step = base.batch_size * base.sequence_length
    members = [
        train_member(
            config,
            data,
            max(common_steps, math.ceil(c_iso / (6 * n_i) / tokens_per_step)),
            common_steps,
            checkpoints,
        )
        for config, n_i in zip(configs, n, strict=True)
    ]
    write_study(out, members, base, d_common, c_iso)
    return out
