"""`export_run`: a finished run as the next version of ``<model_base_path>/<name>``, for every app.

Each app's ``export.py`` provides ``export_plan(run_path, *, num_warmup) -> ExportPlan``, the
part specific to it (the model, its signatures, warmup requests and manifest additions; a
classifier app's also takes ``calibrate``);
`export_run` does the rest through `dlsuite.serving.export.export_version`. A run `RunRecorder`
wrote for a user's own script is exported like a model given to `dlsuite.export`: its
``model.keras``, warmup rows from the examples it kept, its figures from the run.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from dlsuite.apps.common.registry import app_module
from dlsuite.apps.common.runs import RECORDED_APP, load_run, recorded_examples, run_temperature
from dlsuite.serving.export import export_version
from dlsuite.serving.manifest import load_person_fields


@dataclasses.dataclass(frozen=True)
class ExportPlan:
    """How one app writes a run's model; the fields go to `export_version` as they are.

    ``save(folder, name, version)`` writes the SavedModel into ``folder``;
    ``warmup_logs(name)`` gives the ``PredictionLog`` protos of the warmup file.
    """

    save: Callable[[Path, str, int], None]
    warmup_logs: Callable[[str], Sequence[Any]]
    signature_methods: Mapping[str, str] = dataclasses.field(default_factory=dict)
    manifest_extra: Mapping[str, Any] = dataclasses.field(default_factory=dict)


def export_run(
    run_dir: str | os.PathLike[str],
    *,
    model_base_path: str | os.PathLike[str] = "saved_models",
    name: str,
    manifest_info: str | os.PathLike[str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    num_warmup: int = 4,
    sign_key: str | os.PathLike[str] | None = None,
    calibrate: bool = False,
) -> Path:
    """Export the finished run in ``run_dir`` with its app's `ExportPlan`; returns the version
    folder.

    ``manifest_info`` and ``overrides`` give the manifest fields only a person can know;
    ``num_warmup`` held-out examples make the warmup requests; ``sign_key`` (an EC private key,
    PEM) signs the version with model-signing; ``calibrate``: a classifier serves
    temperature-scaled probabilities (`runs.load_trained_model`), recorded in the manifest's
    ``calibration`` section.
    """
    run_path = Path(run_dir)
    config_json, metrics = load_run(run_path)
    if metrics is None:
        raise ValueError(f"run {run_dir} is not complete (no metrics.json); finish training first")
    if config_json.get("app") == RECORDED_APP:
        if calibrate:
            raise ValueError("--calibrate applies to suite classifier runs, not a recorded run")
        return _export_recorded(
            run_path,
            model_base_path=model_base_path,
            name=name,
            manifest_info=manifest_info,
            overrides=overrides,
            num_warmup=num_warmup,
            sign_key=sign_key,
        )
    person = load_person_fields(manifest_info, overrides)
    plan_of = app_module(config_json["app"], "export").export_plan
    extra: dict[str, Any] = {}
    if calibrate:
        if "calibrate" not in inspect.signature(plan_of).parameters:
            raise ValueError(
                f"--calibrate scales a classifier's probabilities; the {config_json['app']} "
                "app exports no classifier"
            )
        plan: ExportPlan = plan_of(run_path, num_warmup=num_warmup, calibrate=True)
        extra["calibration"] = {
            "method": "temperature scaling (Guo et al. 2017): the served probabilities are "
            "softmax(log(p) / T) of the model's p; the argmax is unchanged",
            "temperature": run_temperature(run_path),
            "fitted_on": "validation split (evaluation.json robustness.calibration)",
        }
    else:
        plan = plan_of(run_path, num_warmup=num_warmup)
    return export_version(
        model_base_path=model_base_path,
        name=name,
        run_dir=run_path,
        save=plan.save,
        warmup_logs=plan.warmup_logs,
        person=person,
        signature_methods=plan.signature_methods,
        manifest_extra={**plan.manifest_extra, **extra},
        sign_key=sign_key,
    )


def _export_recorded(run_path: Path, *, name: str, num_warmup: int, **options: Any) -> Path:
    from dlsuite.serving import keras_export

    model_file = run_path / "model.keras"
    if not model_file.is_file():
        raise ValueError(
            f"{run_path} was recorded without its model (RunRecorder(save_model=False)): export "
            "the model from your script with dlsuite.export(model, name, run_dir=...) instead"
        )
    rows = recorded_examples(run_path, "test")
    return keras_export.export_keras_file(
        model_file,
        name,
        examples=None if rows is None else rows[:num_warmup],
        run_dir=run_path,
        **options,
    )
