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

Then:

* ``fit_power_law``: L(N) = (N_c / N)^alpha_N (Kaplan et al. 2020, eq. 1.1) by least squares on
  log L = alpha_N log N_c - alpha_N log N over the members' held-out losses at D_common.
* ``compute_optimal``: Hoffmann et al. 2022's IsoFLOP analysis (their approach 2) on the
  checkpoints: each member's loss curve is interpolated in log D, so at every compute level C of a
  log grid each member has a loss at D = C / (6 N); a parabola in log N through those losses gives
  the compute-optimal N_opt(C) at its vertex (the best member where the curve has no interior
  minimum), D_opt = C / (6 N_opt), and the tokens-per-parameter ratio D_opt / N_opt.
  log N_opt = a log C + k is fitted over the levels with an interior minimum (Hoffmann et al.
  find a ~ 0.5 and ~20 tokens per parameter).

`write_study` puts ``scaling.json`` (fits, per-level optima, members), ``scaling.csv`` and
``scaling.md`` (one row per member), ``curves.csv`` (every checkpoint) and ``scaling.png`` into the
study folder; each member's run directory is under ``runs/`` there (re-running the study skips
complete members).

Toy-scale caveats, stated in the JSON: checkpoints of one constant-rate run stand in for separate
runs tuned to each horizon (Hoffmann et al. tune the cosine cycle to each), beyond one epoch D
counts repeated tokens, and L(N) is read at one D for every member rather than at convergence.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

DEFAULT_SIZES = ("1x16", "2x16", "2x32", "2x48", "2x64")
DEFAULT_EPOCHS = 1  # D_common: one pass over the training tokens
DEFAULT_HEAD_DIM = 16
DEFAULT_CHECKPOINTS = 8
# The first checkpoint is at 1/16 of the training steps (skips the first transient).
CHECKPOINT_SPAN = 16
MIN_FIT_LEVELS = 3  # the N_opt ~ C^a fit needs this many interior optima ...
MIN_FIT_SPAN = 3.0  # ... spanning at least this factor of compute
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


# ------------------------------------------------------------------------------------------ fits


def fit_power_law(n: Sequence[float], loss: Sequence[float]) -> dict[str, Any]:
    """Least squares fit of L(N) = (N_c / N)^alpha_N in log space;
    ``N_c`` is None when alpha_N <= 0.
    """
    import numpy as np

    x, y = np.log(np.asarray(n, float)), np.log(np.asarray(loss, float))
    if len(x) < 2 or np.ptp(x) == 0:
        raise ValueError(f"fitting L(N) needs at least two different N. Received: N={list(n)}")
    slope, intercept = np.polyfit(x, y, 1)
    residual = y - (slope * x + intercept)
    r2 = (
        1.0 - float(residual @ residual) / float(((y - y.mean()) ** 2).sum())
        if np.ptp(y) > 0
        else 1.0
    )
    alpha = -float(slope)
    n_c = math.exp(intercept / alpha) if alpha > 0 else None
    return {
        "alpha_N": alpha,
        "N_c": n_c,
        "r2": r2,
        "points": len(x),
        "method": (
            "least squares on log L = alpha_N log N_c - alpha_N log N (Kaplan et al. 2020, eq. 1.1)"
        ),
    }


def compute_optimal(
    members: Sequence[dict[str, Any]], levels: int = 12, max_compute: float | None = None
) -> dict[str, Any]:
    """IsoFLOP estimate of N_opt(C), D_opt(C) and tokens per parameter from loss-vs-tokens curves.

    ``members``: ``[{"N": parameters, "tokens": [D ...], "loss": [L ...]}, ...]`` with increasing
    ``tokens``. Compute levels are log-spaced over the range of C = 6 N D (up to ``max_compute``)
    where every member has checkpoints, so each level compares the whole family. Where a member
    inside the family's range is best, N_opt is the vertex of a parabola in log N through the
    losses; where the smallest (largest) member is best, the optimum is at or beyond that edge and
    its D / N only bounds the compute-optimal ratio from below (above). The exponent a of
    N_opt ~ C^a is fitted only on at least `MIN_FIT_LEVELS` interior optima spanning a factor
    `MIN_FIT_SPAN` of compute.
    """
    import numpy as np

    curves = [
        (float(m["N"]), np.log(np.asarray(m["tokens"], float)), np.asarray(m["loss"], float))
        for m in members
    ]
    need = len(curves)
    low = [math.log(6 * n) + d[0] for n, d, _ in curves]  # log C range covered by each member
    high = [math.log(6 * n) + d[-1] for n, d, _ in curves]
    top = max(high) if max_compute is None else min(max(high), math.log(max_compute))
    grid = np.linspace(min(low), top, 200)
    spans = list(zip(low, high, strict=True))
    covered = [g for g in grid if sum(lo - 0.01 <= g <= hi + 0.01 for lo, hi in spans) >= need]
    results = []
    for log_c in np.linspace(covered[0], covered[-1], levels) if covered else []:
        names, log_n, losses = [], [], []
        for i, (n, log_d, loss) in enumerate(curves):
            target = log_c - math.log(6 * n)  # log D at this compute
            # 1% slack: step granularity of the budgets
            if log_d[0] - 0.01 <= target <= log_d[-1] + 0.01:
                names.append(i)
                log_n.append(math.log(n))
                losses.append(float(np.interp(target, log_d, loss)))
        if len(names) < need:
            continue
        x, y = np.asarray(log_n), np.asarray(losses)
        best = int(np.argmin(y))
        log_n_opt = x[best]
        kind = (
            "smallest compared is best"
            if best == int(np.argmin(x))
            else "largest compared is best"
            if best == int(np.argmax(x))
            else "best member"
        )
        # A member inside the range is best: locate the minimum.
        if kind == "best member" and len(x) >= 3:
            curvature, linear, _ = np.polyfit(x, y, 2)
            vertex = -linear / (2 * curvature) if curvature > 0 else None
            if vertex is not None and x.min() <= vertex <= x.max():
                log_n_opt, kind = float(vertex), "parabola vertex"
        n_opt = math.exp(log_n_opt)
        d_opt = math.exp(log_c) / (6 * n_opt)
        results.append(
            {
                "C": math.exp(log_c),
                "N_opt": n_opt,
                "D_opt": d_opt,
                "tokens_per_parameter": d_opt / n_opt,
                "estimate": kind,
                "min_loss": float(y.min()),
                "members": len(x),
                "N": [math.exp(v) for v in x],
                "loss": y.tolist(),
            }
        )
    interior = [r for r in results if r["estimate"] == "parabola vertex"]
    summary: dict[str, Any] = {"levels": results, "interior_levels": len(interior)}
    if not results:
        summary["note"] = "no compute level is covered by the checkpoints of every member"
    elif len(interior) >= MIN_FIT_LEVELS and np.ptp(
        [math.log(r["C"]) for r in interior]
    ) >= math.log(MIN_FIT_SPAN):
        a, k = np.polyfit(
            [math.log(r["C"]) for r in interior], [math.log(r["N_opt"]) for r in interior], 1
        )
        summary.update(a=float(a), b=float(1 - a), N_opt_coefficient=math.exp(k))
    else:
        summary["note"] = (
            f"{len(interior)} of {len(results)} compute levels have an interior optimum "
            f"(an exponent needs {MIN_FIT_LEVELS} spanning a factor {MIN_FIT_SPAN:g} of compute): "
            "the family does not bracket the compute-optimal size over this range, "
            "so no exponent is fitted (widen --sizes or raise the budget with --epochs)"
        )
    if interior:
        summary["tokens_per_parameter_median"] = float(
            np.median([r["tokens_per_parameter"] for r in interior])
        )
    # Where the smallest (largest) member compared is best, the optimum is at or below (above) it,
    # so D/N there bounds the compute-optimal ratio from below (above).
    lower = [r for r in results if r["estimate"] == "smallest compared is best"]
    upper = [r for r in results if r["estimate"] == "largest compared is best"]
    if lower:
        best_bound = max(lower, key=lambda r: r["tokens_per_parameter"])
        summary["tokens_per_parameter_at_least"] = {
            "ratio": best_bound["tokens_per_parameter"],
            "C": best_bound["C"],
        }
    if upper:
        best_bound = min(upper, key=lambda r: r["tokens_per_parameter"])
        summary["tokens_per_parameter_at_most"] = {
            "ratio": best_bound["tokens_per_parameter"],
            "C": best_bound["C"],
        }
    summary["method"] = (
        "IsoFLOP (Hoffmann et al. 2022, approach 2) on interpolated checkpoints: "
        "at each compute C, each member's held-out loss at D = C / (6 N) (linear in log D), "
        "a parabola in log N, N_opt at its vertex; D_opt = C / (6 N_opt); "
        "log N_opt = a log C + k"
    )
    return summary


# -------------------------------------------------------------------------------------- training


@dataclasses.dataclass
class Member:
    """One trained family member: its size, parameters, checkpoints and run."""

    name: str
    layers: int
    width: int
    heads: int
    non_embedding_params: int
    total_params: int
    tokens: list[int]
    val_loss: list[float]
    test_perplexity: float
    wall_time_s: float

    def loss_at(self, tokens: float) -> float:
        """Held-out loss after ``tokens`` training tokens (linear in log D between checkpoints)."""
        import numpy as np

        return float(np.interp(math.log(tokens), np.log(self.tokens), self.val_loss))


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


# ------------------------------------------------------------------------------------------ output


def write_study(
    out: Path, members: Sequence[Member], base: Any, d_common: int, c_iso: float
) -> dict[str, Any]:
    """Fits, tables and the plot of a finished family; returns the JSON written."""
    import csv
    import io

    from dlsuite.base.files import atomic_write_json, atomic_write_text

    ordered = sorted(members, key=lambda m: m.total_params)
    power_law = fit_power_law(
        [m.non_embedding_params for m in ordered], [m.loss_at(d_common) for m in ordered]
    )
    optimum = compute_optimal(
        [{"N": m.total_params, "tokens": m.tokens, "loss": m.val_loss} for m in ordered],
        max_compute=c_iso,
    )
    rows = [
        {
            "model": m.name,
            "layers": m.layers,
            "width": m.width,
            "heads": m.heads,
            "non_embedding_params": m.non_embedding_params,
            "total_params": m.total_params,
            "tokens_trained": m.tokens[-1],
            "compute_6ND": 6.0 * m.total_params * m.tokens[-1],
            "val_loss_at_D_common": round(m.loss_at(d_common), 4),
            "val_perplexity_at_D_common": round(math.exp(m.loss_at(d_common)), 2),
            "final_test_perplexity": round(m.test_perplexity, 2),
            "wall_time_s": round(m.wall_time_s, 1),
        }
        for m in ordered
    ]
    result = {
        "power_law": {**power_law, "at_tokens": d_common},
        "compute_optimal": {**optimum, "isoflop_budget": c_iso},
        "D_common": d_common,
        "C_iso": c_iso,
        "members": rows,
        "data": base.data,
        "tokenizer": base.tokenizer,
        "vocab_size": base.vocab_size,
        "sequence_length": base.sequence_length,
        "batch_size": base.batch_size,
        "learning_rate": base.learning_rate,
        "epochs": base.epochs,
        "compute": (
            "C = 6 N D with N = all parameters and D = training tokens seen "
            "(Hoffmann et al. 2022); "
            "L(N) uses N = non-embedding parameters (Kaplan et al. 2020)"
        ),
        "budget": (
            "every member trains at least D_common tokens (L(N) is read there); "
            "members smaller than the median train on to the IsoFLOP budget "
            "C_iso = 6 N_median D_common"
        ),
        "caveats": [
            "checkpoints of one constant-learning-rate run per size stand in for runs tuned to "
            "each token horizon (Hoffmann et al. 2022 tune the cosine cycle to each), "
            "which overstates the loss of short horizons",
            "beyond one epoch, D counts repeated tokens of the same corpus",
            "at toy widths the embedding and output matrices hold most parameters, "
            "so the non-embedding N of L(N) understates model size "
            "(the compute-optimal analysis counts all parameters)",
            "L(N) is read at the same D for every member, "
            "not at convergence as in Kaplan et al. 2020",
        ],
    }
    atomic_write_json(out / "scaling.json", result)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(out / "scaling.csv", buffer.getvalue())
    curve = io.StringIO()
    curve.write("model,total_params,tokens,compute_6ND,val_loss\n")
    for m in ordered:
        for d, loss in zip(m.tokens, m.val_loss, strict=True):
            curve.write(
                f"{m.name},{m.total_params},{d},{6.0 * m.total_params * d:.6g},{loss:.6f}\n"
            )
    atomic_write_text(out / "curves.csv", curve.getvalue())
    atomic_write_text(
        out / "scaling.md", markdown_table(rows, result["power_law"], result["compute_optimal"])
    )
    plot_study(ordered, result, out / "scaling.png")
    return result


def markdown_table(
    rows: Sequence[dict[str, Any]], power_law: dict[str, Any], optimum: dict[str, Any]
) -> str:
    """The members as a Markdown table,
    followed by the fitted exponent and the compute-optimal ratio.
    """
    header = list(rows[0])
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for row in rows:
        lines.append(
            "| "
            + " | ".join(
                f"{row[k]:.4g}" if isinstance(row[k], float) else str(row[k]) for k in header
            )
            + " |"
        )
    n_c = f"{power_law['N_c']:.3g}" if power_law["N_c"] else "undefined (alpha_N <= 0)"
    lines += [
        "",
        f"L(N) = (N_c / N)^alpha_N at D = {power_law['at_tokens']:,} tokens: alpha_N = "
        f"{power_law['alpha_N']:.4f}, N_c = {n_c}, r^2 = {power_law['r2']:.3f} "
        f"({power_law['points']} models)",
    ]
    if "a" in optimum:
        lines.append(
            f"Compute-optimal (IsoFLOP, C <= {optimum['isoflop_budget']:.3g} FLOPs): "
            f"N_opt ~ C^{optimum['a']:.3f}, D_opt ~ C^{optimum['b']:.3f}, "
            f"median {optimum['tokens_per_parameter_median']:.3g} tokens per parameter "
            f"({optimum['interior_levels']} of {len(optimum['levels'])} compute levels "
            "with an interior optimum)"
        )
    elif "tokens_per_parameter_median" in optimum:
        lines.append(
            "Compute-optimal (IsoFLOP): "
            f"median {optimum['tokens_per_parameter_median']:.3g} tokens per parameter "
            f"at the interior optima; {optimum['note']}"
        )
    elif optimum["levels"]:
        lines.append(f"Compute-optimal (IsoFLOP): {optimum['note']}")
    else:
        lines.append(f"Compute-optimal: {optimum['note']}")
    for key, word in (
        ("tokens_per_parameter_at_least", ">="),
        ("tokens_per_parameter_at_most", "<="),
    ):
        if key in optimum:
            lines.append(
                "Bound where the family's edge member is best: "
                f"compute-optimal tokens per parameter {word} {optimum[key]['ratio']:.3g} "
                f"at C = {optimum[key]['C']:.3g} FLOPs"
            )
    return "\n".join(lines) + "\n"


def plot_study(members: Sequence[Member], result: dict[str, Any], path: Path) -> Path:
    """Four panels: L(N) with its fit, loss against compute, IsoFLOP profiles,
    N_opt and D_opt against C.
    """
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker
    import numpy as np

    from dlsuite.base.files import atomic_write_bytes

    power_law, optimum = result["power_law"], result["compute_optimal"]
    fig, axes = plt.subplots(2, 2, figsize=(11, 8.5))
    (fit_ax, compute_ax), (iso_ax, opt_ax) = axes
    n = np.array([m.non_embedding_params for m in members], float)
    fit_ax.loglog(n, [m.loss_at(result["D_common"]) for m in members], "o", label="members")
    if power_law["N_c"]:
        grid = np.geomspace(n.min(), n.max(), 50)
        fit_ax.loglog(
            grid,
            (power_law["N_c"] / grid) ** power_law["alpha_N"],
            label=f"(N_c/N)^α, α_N = {power_law['alpha_N']:.3f}",
        )
    for axis in (fit_ax.yaxis,):
        axis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
        axis.set_minor_formatter(matplotlib.ticker.ScalarFormatter())
    fit_ax.set(
        xlabel="non-embedding parameters N",
        ylabel="held-out loss (nats/token)",
        title=f"L(N) after D = {result['D_common']:,} tokens",
    )
    for m in members:
        compute_ax.semilogx(
            6.0 * m.total_params * np.asarray(m.tokens, float), m.val_loss, marker=".", label=m.name
        )
    compute_ax.axvline(result["C_iso"], color="gray", linestyle=":", label="IsoFLOP budget")
    compute_ax.set(
        xlabel="compute C = 6ND (FLOPs)", ylabel="held-out loss", title="loss vs compute"
    )
    levels = optimum.get("levels", [])
    for level in levels[:: max(1, len(levels) // 4)]:
        x = np.log(level["N"])
        line = iso_ax.semilogx(level["N"], level["loss"], "o", label=f"C = {level['C']:.2g}")[0]
        if len(x) >= 3:
            coefficients = np.polyfit(x, level["loss"], 2)
            grid = np.linspace(x.min(), x.max(), 50)
            iso_ax.semilogx(np.exp(grid), np.polyval(coefficients, grid), color=line.get_color())
        if level["estimate"] == "parabola vertex":
            iso_ax.axvline(level["N_opt"], color=line.get_color(), linestyle=":")
    iso_ax.set(
        xlabel="parameters N (all)", ylabel="held-out loss", title="IsoFLOP profiles (: = N_opt)"
    )
    if levels:
        c = np.array([r["C"] for r in levels])
        opt_ax.loglog(c, [r["N_opt"] for r in levels], "o-", label="N_opt")
        opt_ax.loglog(c, [r["D_opt"] for r in levels], "s-", label="D_opt")
        if "a" in optimum:
            title = (
                f"N_opt ~ C^{optimum['a']:.2f}, median "
                f"{optimum['tokens_per_parameter_median']:.3g} tokens/param"
            )
        elif "tokens_per_parameter_at_least" in optimum:
            ratio = optimum["tokens_per_parameter_at_least"]["ratio"]
            title = f"edge member best: >= {ratio:.3g} tokens/param"
        else:
            title = "N_opt (best member or parabola vertex)"
        opt_ax.set_title(title)
    opt_ax.set_xlabel("compute C (FLOPs)")
    for ax in axes.ravel():
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return atomic_write_bytes(path, buffer.getvalue())
