"""Scaling-law study: the fits recover known exponents; `dlsuite study scaling` writes its files."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest


def test_power_law_fit_recovers_kaplan_exponent_from_noisy_points():
    from dlsuite.apps.nlp.lm.scaling_fits import fit_power_law

    n = np.geomspace(1e5, 1e9, 8)
    noise = np.exp(np.random.default_rng(0).normal(0, 0.005, n.size))  # 0.5% multiplicative noise
    fit = fit_power_law(
        n, (8.8e13 / n) ** 0.076 * noise
    )  # Kaplan et al. 2020: alpha_N = 0.076, N_c = 8.8e13
    assert fit["alpha_N"] == pytest.approx(0.076, abs=0.004)
    assert math.log10(fit["N_c"]) == pytest.approx(13.94, abs=0.7) and fit["r2"] > 0.99
    exact = fit_power_law(n, (8.8e13 / n) ** 0.076)
    assert exact["alpha_N"] == pytest.approx(0.076, rel=1e-9) and exact["N_c"] == pytest.approx(
        8.8e13, rel=1e-6
    )
    assert fit_power_law([1, 10], [1.0, 2.0])["N_c"] is None  # loss growing with N: no N_c
    with pytest.raises(ValueError, match="at least two different N"):
        fit_power_law([5, 5], [1.0, 2.0])


def test_isoflop_analysis_recovers_the_chinchilla_optimum():
    """Loss curves from Hoffmann et al.'s fitted L(N, D) = E + A/N^a + B/D^b:
    N_opt ~ C^(b/(a+b))."""
    from dlsuite.apps.nlp.lm.scaling_fits import compute_optimal

    e, a, b, alpha, beta = 1.69, 406.4, 410.7, 0.34, 0.28
    tokens = np.geomspace(1e8, 1e12, 40)
    members = [
        {"N": n, "tokens": tokens, "loss": e + a / n**alpha + b / tokens**beta}
        for n in np.geomspace(1e7, 1e10, 10)
    ]
    result = compute_optimal(members)
    assert result["a"] == pytest.approx(beta / (alpha + beta), abs=0.02)  # 0.452
    g = (alpha * a / (beta * b)) ** (1 / (alpha + beta))
    for level in result["levels"]:
        if level["estimate"] == "parabola vertex":
            n_opt = g * (level["C"] / 6) ** (beta / (alpha + beta))
            assert level["N_opt"] == pytest.approx(n_opt, rel=0.25)
    assert (
        15 < result["tokens_per_parameter_median"] < 60
    )  # Chinchilla's ~20 tokens per parameter and up


def test_sizes_are_checked():
    from dlsuite.apps.nlp.lm.scaling_study import checkpoint_steps, parse_sizes

    assert parse_sizes(["1x32", "2X64"], 16) == [(1, 32, 2), (2, 64, 4)]
    with pytest.raises(ValueError, match="LAYERSxWIDTH"):
        parse_sizes(["32", "2x64"], 16)
    with pytest.raises(ValueError, match="not divisible by its 2 heads"):
        parse_sizes(["1x33", "1x64"], 16)
    with pytest.raises(ValueError, match="at least two model sizes"):
        parse_sizes(["1x32"], 16)
    assert checkpoint_steps(640, 4) == [40, 101, 254, 640]  # log-spaced from 1/16 of the steps


def test_study_cli_trains_a_tiny_family_and_writes_plot_table_and_fit(tmp_path):
    from dlsuite.apps.nlp.lm.data import pydocs_documents
    from dlsuite.cli import main

    corpus = tmp_path / "docs.txt"
    corpus.write_text("\n\n".join(pydocs_documents()[:200]), encoding="utf-8")
    out = tmp_path / "study"
    argv = [
        "study",
        "scaling",
        "--sizes",
        "1x8,1x16",
        "--head-dim",
        "8",
        "--checkpoints",
        "3",
        "--data",
        f"file:{corpus}",
        "--tokenizer",
        "word",
        "--vocab-size",
        "300",
        "--sequence-length",
        "16",
        "--batch-size",
        "16",
        "--epochs",
        "1",
        "--max-train-examples",
        "48",
        "--out",
        str(out),
        "--verbose",
        "0",
    ]
    assert main(argv) == 0
    assert {p.name for p in out.iterdir()} >= {
        "scaling.png",
        "scaling.csv",
        "scaling.md",
        "curves.csv",
        "scaling.json",
        "runs",
    }
    result = json.loads((out / "scaling.json").read_text())
    assert [m["model"] for m in result["members"]] == ["1x8", "1x16"]
    assert math.isfinite(result["power_law"]["alpha_N"]) and result["power_law"]["points"] == 2
    assert result["compute_optimal"]["levels"] and result["caveats"]
    small, large = result["members"]
    assert result["D_common"] == 48 * 16  # one epoch of the 48 windows of 16 tokens
    assert (
        large["tokens_trained"] == 48 * 16
        and large["compute_6ND"] == 6 * large["total_params"] * 48 * 16
    )
    # The smaller member trains on to the IsoFLOP budget: 6 N_median D_common (all parameters;
    # the median of two is their mean).
    budget = 6 * (small["total_params"] + large["total_params"]) / 2 * 48 * 16
    steps = math.ceil(
        budget / (6 * small["total_params"]) / (16 * 16)
    )  # whole steps of 16 x 16 tokens
    assert small["tokens_trained"] == steps * 16 * 16 > 48 * 16
    rows = (out / "curves.csv").read_text().splitlines()[1:]
    assert {row.split(",")[0] for row in rows} == {"1x8", "1x16"} and len(
        rows
    ) >= 6  # >= 3 checkpoints each
    assert (
        "alpha_N" in (out / "scaling.md").read_text()
        and (out / "scaling.png").read_bytes()[:4] == b"\x89PNG"
    )
    before = (out / "runs" / "nlp" / "1x8" / "metrics.json").stat().st_mtime_ns
    assert (
        main(argv) == 0
    )  # re-running reads the complete members back instead of training them again
    assert (out / "runs" / "nlp" / "1x8" / "metrics.json").stat().st_mtime_ns == before
