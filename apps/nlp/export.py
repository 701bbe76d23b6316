"""NLP export: ``export_plan(run_path, *, num_warmup)`` of the run's task package
(`apps.nlp.classify.export`, `apps.nlp.translate.export`, `apps.nlp.lm.export`), imported only when
asked for. Every task's model carries its tokenizer, so clients send strings.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from dlsuite.apps.common.export import ExportPlan
from dlsuite.apps.common.runs import run_config


def export_plan(run_path: Path, *, num_warmup: int, calibrate: bool = False) -> ExportPlan:
    """A finished NLP run's export, by its ``task``: classifier, translator or language model
    (``calibrate``: a classifier's temperature-scaled probabilities)."""
    name = run_config(run_path).task
    task = importlib.import_module(f"dlsuite.apps.nlp.{name}.export")
    if not calibrate:
        return task.export_plan(run_path, num_warmup=num_warmup)
    if name != "classify":
        raise ValueError(
            f"--calibrate scales a classifier's probabilities; this nlp run's task is {name!r}"
        )
    return task.export_plan(run_path, num_warmup=num_warmup, calibrate=True)
