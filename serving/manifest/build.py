"""Build the manifest dict from a run directory, an exported version and the person fields.

Measured fields come from the run directory (``config.json``, ``metrics.json``, optionally
``evaluation.json``; format in ``docs/architecture.md``) and from the version's ``saved_model.pb``.
Without a run directory (a user's own Keras model) the training and evaluation sections say they
were not recorded and the model section comes from `ModelFacts`, derived from the model alone; the
``provenance`` section always lists which fields came from a recorded run and which were derived.
A run that fine-tuned a pretrained backbone (``metrics.json`` ``transfer``) gets a
``transfer_learning`` section, and a classifier trained with balanced class weights
(``metrics.json`` ``class_weight``) a ``training.class_weight``: both copied as recorded, and
checked by the schema when the manifest is written.
Derived figures (the Art. 51 systemic-risk check, energy and CO2e) are computed last, from the
merged values, so an ``extra`` override of ``training.training_flops`` is what gets checked. Energy
and CO2e are what CodeCarbon measured during training (``metrics.json`` ``energy``,
`dlsuite.apps.common.energy`) when the run has it, else the constant formula (`energy_estimate`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dlsuite.base.files import read_json
from dlsuite.base.validation import check_positive_int
from dlsuite.base.version import framework_versions
from dlsuite.serving.manifest.gpai_summary import is_general_purpose, training_content_summary
from dlsuite.serving.manifest.person import as_list, deep_merge, missing_person_fields
from dlsuite.serving.signatures import read_signature_defs

SCHEMA_VERSION = "1.0"
# Art. 51(2): a general-purpose AI model is presumed to have high-impact capabilities (systemic
# risk) when its cumulative training compute is greater than 10^25 floating-point operations.
SYSTEMIC_RISK_THRESHOLD_FLOP = 1e25
# Defaults of the constant energy formula, the fallback for a run without a CodeCarbon
# measurement; a person file's `energy:` section overrides any of them.
DEFAULT_DEVICE_POWER_W: dict[str, float] = {"CPU": 65.0, "GPU": 300.0, "TPU": 200.0}
DEFAULT_PUE = 1.58  # Uptime Institute Global Data Center Survey 2023, average PUE
DEFAULT_GRID_INTENSITY = 0.475  # kgCO2e/kWh, IEA world average electricity generation
ENERGY_FORMULA = (
    "energy_kwh = device_count * device_power_w[device_kind] * wall_time_s / 3.6e6 * pue; "
    "co2e_kg = energy_kwh * grid_intensity_kgco2e_per_kwh"
)
_ENERGY_CONSTANTS = ("device_power_w", "pue", "grid_intensity_kgco2e_per_kwh")
# metrics.json `energy` keys (apps.common.energy.EnergyMeter) the manifest carries over
_MEASURED_ENERGY_KEYS = (
    "method",
    "tool",
    "version",
    "method_detail",
    "energy_kwh",
    "cpu_energy_kwh",
    "gpu_energy_kwh",
    "ram_energy_kwh",
    "co2e_kg",
    "duration_s",
    "cpu_power_w",
    "gpu_power_w",
    "ram_power_w",
    "pue",
    "country_iso_code",
    "grid_intensity_kgco2e_per_kwh",
    "tracking_mode",
    "measure_power_secs",
    "cpu_model",
    "gpu_model",
)
_RUN_KEYS = ("app", "run_id", "config_hash")  # added to config.json beside the config fields
# metrics.json `data.kind` -> manifest source kind (apps.common.data calls a folder source "dir").
_DATA_KINDS = {"tfds": "tfds", "dir": "folder", "folder": "folder", "builtin": "builtin"}


def utc_now() -> str:
    """The current UTC time as ISO 8601 with a ``Z`` suffix and whole seconds."""
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def summarize_signatures(version_dir: str | os.PathLike[str]) -> dict:
    """``{name: {method_name, inputs: {key: {dtype, shape}}, outputs: {...}}}`` from saved_model.pb.

    Shapes use -1 for an unknown dimension and None for an unknown rank; internal signatures
    (``__saved_model_init_op``) are left out.
    """
    import tensorflow as tf

    def tensors(infos: Mapping[str, Any]) -> dict:
        out = {}
        for key in sorted(infos):
            info = infos[key]
            shape = (
                None
                if info.tensor_shape.unknown_rank
                else [int(d.size) for d in info.tensor_shape.dim]
            )
            out[key] = {"dtype": tf.dtypes.as_dtype(info.dtype).name, "shape": shape}
        return out

    defs = read_signature_defs(version_dir)
    return {
        name: {
            "method_name": sig.method_name,
            "inputs": tensors(sig.inputs),
            "outputs": tensors(sig.outputs),
        }
        for name, sig in sorted(defs.items())
        if not name.startswith("__")
    }


def energy_estimate(
    *,
    wall_time_s: float,
    device_kind: str,
    device_count: int,
    constants: Mapping[str, Any] | None = None,
) -> dict:
    """Training energy (kWh) and emissions (kg CO2e) by the constant formula, with the constants
    used (``method``: ``"constant"``); the fallback for a run CodeCarbon did not measure.

    ``constants`` may hold ``device_power_w`` (``{kind: watts}``, merged over the defaults),
    ``pue`` and ``grid_intensity_kgco2e_per_kwh``.
    """
    constants = _energy_constants(constants)
    power = {**DEFAULT_DEVICE_POWER_W, **dict(constants.get("device_power_w") or {})}
    pue = float(constants.get("pue", DEFAULT_PUE))
    grid = float(constants.get("grid_intensity_kgco2e_per_kwh", DEFAULT_GRID_INTENSITY))
    kind = str(device_kind).upper()
    if kind not in power:
        raise ValueError(
            f"no device power for device kind {kind!r}; set energy.device_power_w.{kind} (watts) "
            "in the manifest fields file"
        )
    energy_kwh = device_count * float(power[kind]) * float(wall_time_s) / 3.6e6 * pue
    return {
        "method": "constant",
        "energy_kwh": energy_kwh,
        "co2e_kg": energy_kwh * grid,
        "constants": {
            "device_kind": kind,
            "device_count": int(device_count),
            "device_power_w": float(power[kind]),
            "wall_time_s": float(wall_time_s),
            "pue": pue,
            "grid_intensity_kgco2e_per_kwh": grid,
        },
        "formula": ENERGY_FORMULA,
    }


def _energy_constants(constants: Mapping[str, Any] | None) -> dict[str, Any]:
    """The person file's ``energy:`` constants, checked: known names, ``pue`` >= 1, the
    others >= 0."""
    constants = dict(constants or {})
    unknown = sorted(set(constants) - set(_ENERGY_CONSTANTS))
    if unknown:
        raise ValueError(
            f"unknown energy constant(s) {unknown}; use device_power_w, pue, "
            "grid_intensity_kgco2e_per_kwh"
        )
    values = [
        (f"device_power_w.{kind}", watts)
        for kind, watts in dict(constants.get("device_power_w") or {}).items()
    ]
    values += [(name, constants[name]) for name in _ENERGY_CONSTANTS[1:] if name in constants]
    for label, value in values:
        if float(value) < 0 or (label == "pue" and float(value) < 1):
            raise ValueError(
                f"energy.{label} must be {'>= 1' if label == 'pue' else '>= 0'}. Received: {value}"
            )
    return constants


def _energy_section(
    recorded: Any,
    *,
    wall_time_s: float,
    device_kind: str,
    device_count: int,
    constants: Mapping[str, Any] | None,
    resumed: bool,
) -> dict:
    """The manifest's ``training.energy``: the run's CodeCarbon figures (``recorded``, the
    ``energy`` of ``metrics.json``) when it has them, else `energy_estimate` with the reason.

    The person file's constants (checked either way) are the constant formula's only: measured
    figures are CodeCarbon's, at its PUE and its grid intensity for the run's country.
    """
    checked = _energy_constants(constants)
    if isinstance(recorded, Mapping) and recorded.get("tool") is not None:
        section = {key: recorded.get(key) for key in _MEASURED_ENERGY_KEYS}
        if resumed:
            section["note"] = (
                "the run was resumed: CodeCarbon measured its last session only (duration_s), "
                "not the sessions before it"
            )
        return section
    fallback = energy_estimate(
        wall_time_s=wall_time_s,
        device_kind=device_kind,
        device_count=device_count,
        constants=checked,
    )
    if isinstance(recorded, Mapping) and recorded.get("reason"):
        fallback["fallback_reason"] = str(recorded["reason"])
    else:
        fallback["fallback_reason"] = (
            "the run recorded no energy measurement (its metrics.json has no CodeCarbon figures)"
        )
    return fallback


def systemic_risk(training_flops: float | None, general_purpose_ai: bool) -> dict:
    """The Art. 51(2) presumption: threshold, recorded figure, and whether it is exceeded."""
    exceeds = training_flops is not None and float(training_flops) > SYSTEMIC_RISK_THRESHOLD_FLOP
    return {
        "basis": "Regulation (EU) 2024/1689 Art. 51(2)",
        "threshold_flop": SYSTEMIC_RISK_THRESHOLD_FLOP,
        "training_flop": None if training_flops is None else float(training_flops),
        "exceeds_threshold": bool(exceeds),
        # The presumption is about general-purpose AI models only.
        "presumed_systemic_risk": bool(exceeds and general_purpose_ai),
    }


def _data_section(data: Mapping[str, Any], person: Mapping[str, Any]) -> dict:
    kind = data.get("kind")
    source = {
        "kind": _DATA_KINDS.get(str(kind), "other"),
        "name": data.get("name"),
        "version": data.get("version"),
        "source": data.get("source"),
    }
    if data.get("fingerprint"):  # which exact data (apps.common.data.source_fingerprint)
        source["fingerprint"] = dict(data["fingerprint"])
    section = {
        "sources": [source],
        "splits": dict(data.get("splits") or {}),
        "preprocessing": data.get("preprocessing"),
        "class_names": data.get("class_names"),
        "input_shape": data.get("input_shape"),
    }
    if person.get("data_provenance"):
        section["provenance"] = person["data_provenance"]
    return section


def _run_evaluation(run_dir: Path, metrics: Mapping[str, Any]) -> Any:
    """The run's newest held-out report: ``evaluation.json`` (which `dlsuite evaluate` rewrites)
    when it holds one, else ``metrics.json``'s ``evaluation``."""
    evaluation = metrics.get("evaluation")
    if (run_dir / "evaluation.json").is_file():  # `dlsuite evaluate` output is the newest figure
        candidate = read_json(run_dir / "evaluation.json")
        if isinstance(candidate, Mapping) and ("per_class" in candidate or "split" in candidate):
            evaluation = candidate
    return evaluation


def _evaluation_section(evaluation: Any, metrics: Mapping[str, Any]) -> dict:
    final = dict(metrics.get("final") or {})
    if isinstance(evaluation, Mapping):
        split = evaluation.get("split") or "test"
        scores = {
            k: v
            for k, v in evaluation.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)
        }
        if isinstance(evaluation.get("metrics"), Mapping):
            scores.update(evaluation["metrics"])
    elif isinstance(final.get("test"), Mapping):
        split, scores, evaluation = "test", dict(final["test"]), {}
    else:
        split, scores, evaluation = None, {}, {}
    section: dict[str, Any] = {"split": split, "metrics": scores}
    if evaluation.get("per_class"):
        section["per_class"] = evaluation["per_class"]
    if evaluation.get("confusion_matrix") is not None:
        section["confusion_matrix"] = evaluation["confusion_matrix"]
    other = {
        name: values
        for name, values in final.items()
        if name != split and isinstance(values, Mapping)
    }
    if other:
        section["other_splits"] = other
    if split is None:
        section["note"] = "the run recorded no evaluation on held-out data"
    return section


def robustness_section(evaluation: Any) -> dict | None:
    """The manifest's ``robustness`` section from a held-out report's ``robustness`` key: the
    level, method and parameters; the corruption table and its mean; the PNG file names in the
    run directory. A classifier's (`dlsuite.apps.common.evaluation.robustness_report`) adds the
    ECE and temperature, FGSM and PGD accuracy per epsilon and the explanation method; a
    recogniser's or a policy's (`perturbation_robustness`: the corruption part names its
    ``metric``, e.g. CER or return) says why adversarial and explanations do not apply.
    None when the report has none."""
    if not isinstance(evaluation, Mapping) or not isinstance(evaluation.get("robustness"), Mapping):
        return None
    report = evaluation["robustness"]
    adversarial = report["adversarial"]
    section = {
        "level": report["level"],
        "method": report["method"],
        "split": evaluation.get("split") or "test",
        "parameters": dict(report["parameters"]),
        "corruption": dict(report["corruption"]),
        "adversarial": dict(adversarial)
        if "applicable" in adversarial
        else {
            name: {k: v for k, v in attack.items() if k != "example"}
            for name, attack in adversarial.items()
        },
        "explanations": {
            k: v for k, v in report["explanations"].items() if k not in ("labels", "explained")
        },
        "figures": dict(report["figures"]),
    }
    if "calibration" in report:
        section["calibration"] = dict(report["calibration"])
    return section


@dataclasses.dataclass(frozen=True)
class ModelFacts:
    """What the exporter derived from the model object itself, without a training run.

    ``architecture``: a readable description (class and name); ``parameter_count``: weights of
    the model; ``flops_per_example`` and ``flops_method``: the forward-pass count and how it was
    obtained (None and the reason when it could not be counted).
    """

    architecture: str
    parameter_count: int | None = None
    flops_per_example: int | None = None
    flops_method: str | None = None


# Manifest fields (dotted paths) that always come from the exported files themselves.
_FROM_VERSION = ("model.signatures", "identity.frameworks.export", "integrity")
_NO_RUN_NOTE = (
    "no training run was recorded for this version (exported without a run directory): "
    "training data, compute, energy and evaluation figures are not known to the suite"
)


def build_manifest(
    *,
    run_dir: str | os.PathLike[str] | None,
    version_dir: str | os.PathLike[str],
    name: str,
    version: int,
    person: Mapping[str, Any],
    extra: Mapping[str, Any] | None = None,
    model_facts: ModelFacts | None = None,
) -> dict:
    """Return the manifest of ``version_dir`` (without the integrity section).

    ``person`` comes from `load_person_fields`; raises one `ValueError` naming every missing or
    invalid required person field. ``extra`` is deep-merged over the result (nested dicts merge,
    other values replace) before the systemic-risk and energy figures are computed.

    ``run_dir`` (a finished run with ``config.json`` and ``metrics.json``) gives the training and
    evaluation figures; without it (None) they are marked as not recorded and ``model_facts``
    (required then) gives what is derived from the model alone. The ``provenance`` section lists
    which fields came from the recorded run and which were derived from the model and its files.
    """
    problems = missing_person_fields(person)
    if problems:
        raise ValueError(
            "the manifest needs these fields that only a person can fill (set them in the manifest "
            "fields file, see docs/manifest_example.yaml, or as overrides): " + "; ".join(problems)
        )
    check_positive_int(version=version)
    if run_dir is None:
        if model_facts is None:
            raise ValueError(
                "build_manifest needs run_dir (a finished training run) or model_facts "
                "(what is derived from the model alone); pass one of them"
            )
        manifest = _manifest_without_run(version_dir, name, version, person, model_facts)
    else:
        manifest = _manifest_from_run(
            Path(run_dir), version_dir, name, version, person, model_facts
        )
    if person.get("description"):
        manifest["identity"]["description"] = person["description"]
    if person.get("post_market_monitoring"):
        manifest["limitations"]["post_market_monitoring"] = person["post_market_monitoring"]
    if person.get("synthetic_content_marking"):
        manifest["synthetic_content_marking"] = dict(person["synthetic_content_marking"])
    if extra:
        manifest = deep_merge(manifest, extra)

    training = manifest["training"]
    if run_dir is not None:
        if training.get("training_flops") is None:
            raise ValueError(
                f"{Path(run_dir) / 'metrics.json'} records no training_flops; the Art. 51 check "
                "needs it (pass extra={'training': {'training_flops': ...}})"
            )
        if training.get("wall_time_s") is None:
            raise ValueError(
                f"{Path(run_dir) / 'metrics.json'} records no wall_time_s; the energy figures "
                "need it"
            )
    manifest["intended_use"]["systemic_risk"] = systemic_risk(
        training.get("training_flops"), manifest["intended_use"]["general_purpose_ai"]
    )
    if run_dir is not None:
        run_devices = training.get("devices") or {}
        training["energy"] = _energy_section(
            training.get("energy"),
            wall_time_s=training["wall_time_s"],
            device_kind=run_devices.get("kind", "CPU"),
            device_count=int(run_devices.get("count", 1)),
            constants=person.get("energy"),
            resumed=bool(training.get("resumed")),
        )
    if is_general_purpose(manifest):  # Art. 53(1)(d), from the merged manifest
        manifest["general_purpose"] = {
            "training_content_summary": training_content_summary(
                manifest, person.get("training_content_summary")
            )
        }
    return manifest


def _common_sections(
    version_dir: str | os.PathLike[str], name: str, version: int, person: Mapping[str, Any]
) -> dict[str, Any]:
    """The identity, intended-use and limitations sections, and the signatures."""
    risk = dict(person["risk"])
    versions_now = framework_versions()
    return {
        "schema_version": SCHEMA_VERSION,
        "identity": {
            "name": name,
            "version": version,
            "created_utc": utc_now(),
            "suite_version": versions_now["dlsuite"],
            "frameworks": {"training": {}, "export": versions_now},
            "license": person["license"],
            "provider": dict(person["provider"]),
        },
        "intended_use": {
            "intended_purpose": person["intended_purpose"],
            "intended_users": as_list(person["intended_users"]),
            "out_of_scope_uses": as_list(person["out_of_scope_uses"]),
            "risk": {
                "classification": risk["classification"],
                "annex_iii_area": risk.get("annex_iii_area")
                if risk["classification"] == "high_risk"
                else None,
                "rationale": risk.get("rationale"),
                "recorded_by": "person exporting the model",
            },
            "general_purpose_ai": person["general_purpose_ai"],
        },
        "model": {"signatures": summarize_signatures(version_dir)},
        "limitations": {
            "limitations": as_list(person["limitations"]),
            "known_risks": as_list(person["known_risks"]),
            "human_oversight": person["human_oversight"],
        },
    }


def _manifest_without_run(
    version_dir: str | os.PathLike[str],
    name: str,
    version: int,
    person: Mapping[str, Any],
    facts: ModelFacts,
) -> dict:
    manifest = _common_sections(version_dir, name, version, person)
    manifest["model"].update(
        {
            "architecture": facts.architecture,
            "app": None,
            "parameter_count": facts.parameter_count,
            "flops_per_example": facts.flops_per_example,
            "flops_method": facts.flops_method,
            "class_names": None,
        }
    )
    manifest["training"] = {"recorded": False, "note": _NO_RUN_NOTE}
    manifest["evaluation"] = {
        "split": None,
        "metrics": {},
        "note": "no run directory was given: no evaluation on held-out data was recorded",
    }
    manifest["provenance"] = {
        "recorded_run": False,
        "run_dir": None,
        "recorded_from_run": [],
        "derived_from_model": sorted(
            (
                *_FROM_VERSION,
                "model.architecture",
                "model.parameter_count",
                "model.flops_per_example",
                "model.flops_method",
            )
        ),
        "not_recorded": ["evaluation", "training"],
    }
    return manifest


def _manifest_from_run(
    run_dir: Path,
    version_dir: str | os.PathLike[str],
    name: str,
    version: int,
    person: Mapping[str, Any],
    facts: ModelFacts | None,
) -> dict:
    config = read_json(run_dir / "config.json")
    if not (run_dir / "metrics.json").is_file():
        raise FileNotFoundError(f"{run_dir} has no metrics.json: the run is not complete")
    metrics = read_json(run_dir / "metrics.json")
    data = dict(metrics.get("data") or {})
    manifest = _common_sections(version_dir, name, version, person)
    identity = manifest["identity"]
    identity["suite_version"] = identity["suite_version"] or (metrics.get("framework") or {}).get(
        "dlsuite"
    )
    identity["frameworks"]["training"] = dict(metrics.get("framework") or {})
    recorded = {
        "architecture": metrics.get("model") or config.get("model"),
        "parameter_count": metrics.get("num_params"),
        "flops_per_example": metrics.get("flops_per_example"),
        "flops_method": metrics.get("flops_method"),
    }
    derived = list(_FROM_VERSION)
    from_run = ["evaluation", "identity.frameworks.training", "model.app", "model.class_names"]
    for key, value in recorded.items():
        if value is None and facts is not None and getattr(facts, key) is not None:
            recorded[key] = getattr(facts, key)
            derived.append(f"model.{key}")
        elif value is not None:
            from_run.append(f"model.{key}")
    manifest["model"] = {
        **recorded,
        "app": metrics.get("app") or config.get("app"),
        "class_names": data.get("class_names"),
        "signatures": manifest["model"]["signatures"],
    }
    manifest["training"] = {
        "run_id": metrics.get("run_id") or config.get("run_id"),
        "run_dir": run_dir.as_posix(),
        "config_hash": config.get("config_hash"),
        "data": _data_section(data, person),
        "hyperparameters": {k: v for k, v in config.items() if k not in _RUN_KEYS},
        "seed": metrics.get("seed", config.get("seed")),
        "strategy": metrics.get("strategy"),
        "replicas": metrics.get("replicas"),
        "devices": dict(metrics.get("devices") or {}),
        "global_batch_size": metrics.get("global_batch_size"),
        "mixed_precision": metrics.get("mixed_precision"),
        "jit_compile": metrics.get("jit_compile"),
        "epochs_completed": metrics.get("epochs_completed"),
        "resumed": metrics.get("resumed"),
        "examples_seen": metrics.get("examples_seen"),
        "wall_time_s": metrics.get("wall_time_s"),
        "training_flops": metrics.get("training_flops"),
        "energy": metrics.get("energy"),  # what was measured; build_manifest makes the section
    }
    if metrics.get("class_weight") is not None:  # a classifier trained with balanced weights
        manifest["training"]["class_weight"] = metrics["class_weight"]
    evaluation = _run_evaluation(run_dir, metrics)
    manifest["evaluation"] = _evaluation_section(evaluation, metrics)
    robustness = robustness_section(evaluation)
    if robustness is not None:
        manifest["robustness"] = robustness
        from_run.append("robustness")
    if metrics.get("transfer") is not None:  # a fine-tuned pretrained backbone
        manifest["transfer_learning"] = metrics["transfer"]
        from_run.append("transfer_learning")
    manifest["provenance"] = {
        "recorded_run": True,
        "run_dir": run_dir.as_posix(),
        "recorded_from_run": sorted(from_run + ["training"]),
        "derived_from_model": sorted(derived),
        "not_recorded": [],
    }
    return manifest
