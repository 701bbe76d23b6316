"""The `dlsuite` command line: help for every option, clear errors, evaluate on a finished run."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pytest

from dlsuite.apps.vision.config import VisionConfig
from dlsuite.cli import build_parser, main


def test_help_lists_every_subcommand():
    out = subprocess.run(
        [sys.executable, "-m", "dlsuite", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for command in ("train", "evaluate", "export", "manifest", "convert", "serve", "predict"):
        assert command in out


def test_train_help_documents_every_config_field(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "vision", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for field in dataclasses.fields(VisionConfig):
        flag = "--" + field.name.replace("_", "-")
        assert flag in out, flag
    assert "--preset" in out and "lenet5-digits" in out


def test_options_override_presets():
    from dlsuite.cli.runs import config_from_args

    args = build_parser().parse_args(
        [
            "train",
            "vision",
            "--preset",
            "lenet5-digits",
            "--epochs",
            "3",
            "--augment",
            "crop,flip",
            "--no-cache",
        ]
    )
    config = config_from_args("vision", args)
    assert config.epochs == 3 and config.augment == ("crop", "flip") and config.cache is False
    assert config.data == "builtin:digits"


def test_bad_input_is_one_clear_line(capsys, tmp_path):
    code = main(["train", "vision", "--data", "mnist", "--run-root", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2
    assert "tfds:<name>, dir:<path> or builtin:<name>" in err and "Traceback" not in err
    assert main(["evaluate", str(tmp_path / "missing")]) == 2


def test_evaluate_reports_per_class_figures(tiny_run, capsys):
    assert main(["evaluate", str(tiny_run.run.path)]) == 0
    out = capsys.readouterr().out
    assert "accuracy" in out and "precision" in out
    report = json.loads((tiny_run.run.path / "evaluation.json").read_text())
    assert report["split"] == "test" and len(report["per_class"]) == 10
    assert report["accuracy"] == pytest.approx(tiny_run.metrics["evaluation"]["accuracy"], abs=1e-6)


def test_export_refuses_an_unfinished_run(tmp_path, capsys):
    run = tmp_path / "vision" / "unfinished"
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"app": "vision"}))
    argv = ["export", str(run), "--name", "digits", "--model-base-path", str(tmp_path / "models")]
    assert main(argv) == 2
    assert "is not complete (no metrics.json)" in capsys.readouterr().err
    assert not (tmp_path / "models").exists()
