"""The report of a finished scaling study: its fits, tables and plot, written to the study folder.

`write_study` fits L(N) and the compute-optimal ratio (`apps.nlp.lm.scaling_fits`) on the trained
`Member` records and puts ``scaling.json`` (fits, per-level optima, members), ``scaling.csv`` and
``scaling.md`` (one row per member, `markdown_table`), ``curves.csv`` (every checkpoint) and
``scaling.png`` (`plot_study`) into the study folder.

Toy-scale caveats, stated in the JSON: checkpoints of one constant-rate run stand in for separate
runs tuned to each horizon (Hoffmann et al. tune the cosine cycle to each), beyond one epoch D
counts repeated tokens, and L(N) is read at one D for every member rather than at convergence.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dlsuite.apps.nlp.lm.scaling_fits import compute_optimal, fit_power_law


@dataclasses.dataclass
class Member:
    """One trained family member: its size, parameters, checkpoints and run
    (`apps.nlp.lm.scaling_study.train_member` makes it; the report is written from it).
    """

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
