"""Scaling-law fits of a model family, pure numpy: L(N) and the compute-optimal size.

* `fit_power_law`: L(N) = (N_c / N)^alpha_N (Kaplan et al. 2020, eq. 1.1) by least squares on
  log L = alpha_N log N_c - alpha_N log N over the members' held-out losses at one D.
* `compute_optimal`: Hoffmann et al. 2022's IsoFLOP analysis (their approach 2) on the
  checkpoints: each member's loss curve is interpolated in log D, so at every compute level C of a
  log grid each member has a loss at D = C / (6 N); a parabola in log N through those losses gives
  the compute-optimal N_opt(C) at its vertex (the best member where the curve has no interior
  minimum), D_opt = C / (6 N_opt), and the tokens-per-parameter ratio D_opt / N_opt.
  log N_opt = a log C + k is fitted over the levels with an interior minimum (Hoffmann et al.
  find a ~ 0.5 and ~20 tokens per parameter).

The study that trains the family is `apps.nlp.lm.scaling_study`; `apps.nlp.lm.scaling_report`
writes these fits out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

MIN_FIT_LEVELS = 3  # the N_opt ~ C^a fit needs this many interior optima ...
MIN_FIT_SPAN = 3.0  # ... spanning at least this factor of compute


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
