"""Model cards in the formats people read, exported from a version's manifest.

* `hugging_face_card`: a Hugging Face Hub ``README.md``: YAML front matter as the Hub's model card
  spec defines it (``license``, ``library_name``, ``tags``, ``datasets``, ``language``,
  ``metrics``, ``pipeline_tag``, ``co2_eq_emissions``, ``model-index``), then a Markdown body
  (model details, the pretrained backbone and its weights' SHA-256 when the model was fine-tuned
  from one, intended use, limitations, training data and procedure, evaluation, compliance
  notes). The front matter is parsed back and checked by `check_hugging_face_metadata`, an offline
  structural check of the spec (``huggingface_hub`` is not a dependency; its
  ``ModelCard.validate`` needs the network).
* `model_card_toolkit_json`: a Model Card Toolkit document (``model_details``,
  ``model_parameters``, ``quantitative_analysis``, ``considerations``), checked against the
  toolkit's own JSON Schema v0.0.2 (`validate_model_card_toolkit`).

Both are built from the manifest alone: a field nobody recorded is left out of the metadata, and
a person-filled field that is still unset reads "to be filled" in the text; nothing is invented.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeGuard

import yaml

from dlsuite.serving.manifest.card import PHASE_HEADER, energy_rows, phase_rows, transfer_rows
from dlsuite.serving.manifest.integrity import MANIFEST_DIR
from dlsuite.serving.manifest.schema import package_schema, schema_errors

CARD_FORMATS = ("hf", "mct")  # Hugging Face README.md, Model Card Toolkit JSON
TO_BE_FILLED = "to be filled"
NOT_RECORDED = "not recorded"
HF_LIBRARY_NAME = "keras"  # the Hub's library id for Keras 3 models
MCT_SCHEMA_FILE = "model_card_toolkit.schema.json"
MCT_SCHEMA_VERSION = "0.0.2"
# Apps of the suite train from scratch, their emissions the whole ("pre-training") cost, unless
# they fine-tuned a pretrained backbone (`_pretrained`): then they are the fine-tuning's.
_SUITE_APPS = frozenset({"vision", "speech", "nlp", "generative", "rl"})

# Hub task ids (pipeline tags) this exporter emits, with the Hub's display name.
HF_TASKS: dict[str, str] = {
    "image-classification": "Image Classification",
    "audio-classification": "Audio Classification",
    "automatic-speech-recognition": "Automatic Speech Recognition",
    "text-classification": "Text Classification",
    "translation": "Translation",
    "text-generation": "Text Generation",
    "unconditional-image-generation": "Unconditional Image Generation",
    "reinforcement-learning": "Reinforcement Learning",
    "other": "Other",
}

# License identifiers the Hub accepts in a card (https://huggingface.co/docs/hub/repositories-
# licenses); anything else is written as `license: other` with a `license_name`.
HF_LICENSES = frozenset(
    """apache-2.0 mit openrail bigscience-openrail-m creativeml-openrail-m
    bigscience-bloom-rail-1.0 bigcode-openrail-m afl-3.0 artistic-2.0 bsl-1.0 bsd bsd-2-clause
    bsd-3-clause bsd-3-clause-clear c-uda cc cc0-1.0 cc-by-2.0 cc-by-2.5 cc-by-3.0 cc-by-4.0
    cc-by-sa-3.0 cc-by-sa-4.0 cc-by-nc-2.0 cc-by-nc-3.0 cc-by-nc-4.0 cc-by-nd-4.0 cc-by-nc-nd-3.0
    cc-by-nc-nd-4.0 cc-by-nc-sa-2.0 cc-by-nc-sa-3.0 cc-by-nc-sa-4.0 cdla-sharing-1.0
    cdla-permissive-1.0 cdla-permissive-2.0 wtfpl ecl-2.0 epl-1.0 epl-2.0 etalab-2.0 eupl-1.1
    agpl-3.0 gfdl gpl gpl-2.0 gpl-3.0 lgpl lgpl-2.1 lgpl-3.0 isc lppl-1.3c ms-pl mpl-2.0 odc-by
    odbl openrail++ osl-3.0 postgresql ofl-1.1 ncsa unlicense zlib pddl lgpl-lr
    deepfloyd-if-license llama2 gemma unknown other""".split()
)

_STRING_LIST = {"type": "array", "items": {"type": "string", "minLength": 1}}
# The Hub's model card metadata spec (github.com/huggingface/hub-docs modelcard.md and
# docs/hub/model-cards-co2.md) as a JSON Schema: the fields the Hub checks when a README.md is
# pushed (license, datasets, model-index) and the others this exporter writes.
HF_METADATA_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["license", "library_name", "tags"],
    "properties": {
        "license": {"enum": sorted(HF_LICENSES)},
        "license_name": {"type": "string", "pattern": "^[a-z0-9][a-z0-9.+-]*$"},
        "library_name": {"type": "string", "minLength": 1},
        "language": _STRING_LIST,
        "tags": _STRING_LIST,
        "datasets": _STRING_LIST,
        "metrics": _STRING_LIST,
        "pipeline_tag": {"enum": sorted(set(HF_TASKS) - {"other"})},
        "co2_eq_emissions": {
            "type": "object",
            "required": ["emissions"],
            "properties": {
                "emissions": {"type": "number", "minimum": 0},
                "source": {"type": "string"},
                "training_type": {"enum": ["pre-training", "fine-tuning"]},
                "geographical_location": {"type": "string"},
                "hardware_used": {"type": "string"},
            },
        },
        "model-index": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "results"],
                "properties": {
                    "name": {"type": "string", "minLength": 1},
                    "results": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["task", "dataset", "metrics"],
                            "properties": {
                                "task": {
                                    "type": "object",
                                    "required": ["type"],
                                    "properties": {
                                        "type": {"enum": sorted(HF_TASKS)},
                                        "name": {"type": "string"},
                                    },
                                },
                                "dataset": {
                                    "type": "object",
                                    "required": ["type", "name"],
                                    "properties": {
                                        "type": {"type": "string", "minLength": 1},
                                        "name": {"type": "string", "minLength": 1},
                                        "split": {"type": "string"},
                                    },
                                },
                                "metrics": {
                                    "type": "array",
                                    "minItems": 1,
                                    "items": {
                                        "type": "object",
                                        "required": ["type", "value"],
                                        "properties": {
                                            "type": {"type": "string", "minLength": 1},
                                            "value": {"type": "number"},
                                            "name": {"type": "string"},
                                        },
                                    },
                                },
                            },
                        },
                    },
                },
            },
        },
    },
    "if": {"properties": {"license": {"const": "other"}}, "required": ["license"]},
    "then": {"required": ["license_name"]},
}


def _number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _scores(scores: Any) -> list[tuple[str, int | float]]:
    """The numeric ``(name, value)`` pairs of a ``{name: value}`` mapping, in name order."""
    if not isinstance(scores, Mapping):
        return []
    return [(str(k), v) for k, v in sorted(scores.items()) if _number(v)]


def pipeline_tag(manifest: Mapping[str, Any]) -> str | None:
    """The Hub task id of what the exported model does, from ``model.app`` and the run's
    hyper-parameters (``task`` of the nlp app, ``model`` of speech and generative); None when
    the manifest does not tell (a user's own Keras model)."""
    app = manifest.get("model", {}).get("app")
    hyper = manifest.get("training", {}).get("hyperparameters") or {}
    if app == "vision":
        return "image-classification"
    if app == "speech":  # the ctc model transcribes; the others classify clips
        return (
            "automatic-speech-recognition"
            if hyper.get("model") == "ctc"
            else "audio-classification"
        )
    if app == "nlp":
        tasks = {
            "classify": "text-classification",
            "translate": "translation",
            "lm": "text-generation",
        }
        return tasks.get(str(hyper.get("task")))
    if app == "generative":  # the fine-tuned DBN is exported as a classifier
        return (
            "image-classification"
            if hyper.get("model") == "dbn"
            else "unconditional-image-generation"
        )
    if app == "rl":
        return "reinforcement-learning"
    return None


def _hub_license(license_id: str) -> dict[str, str]:
    """``{"license": id}`` for a license the Hub knows (SPDX ids compare case-insensitively),
    else ``{"license": "other", "license_name": slug}``."""
    key = license_id.strip().lower()
    if key in HF_LICENSES:
        return {"license": key}
    slug = re.sub(r"[^a-z0-9.+-]+", "-", key).strip("-.+") or "unnamed"
    return {"license": "other", "license_name": slug}


def _dataset_names(manifest: Mapping[str, Any]) -> list[str]:
    sources = (manifest.get("training", {}).get("data") or {}).get("sources") or []
    names = [str(s.get("name")) for s in sources if isinstance(s, Mapping) and s.get("name")]
    return list(dict.fromkeys(names))


def _devices(training: Mapping[str, Any]) -> str:
    """``"1 x CPU"``, with the CPU and GPU models CodeCarbon saw (``"1 x CPU (CPU: AMD EPYC)"``)."""
    energy = training.get("energy") or {}
    constants = energy.get("constants") or {}
    devices = training.get("devices") or {}
    count = constants.get("device_count", devices.get("count"))
    kind = constants.get("device_kind", devices.get("kind"))
    if not (count and kind):
        return NOT_RECORDED
    models = [
        f"{part.upper()}: {energy[f'{part}_model']}"
        for part in ("cpu", "gpu")
        if energy.get(f"{part}_model")
    ]
    return f"{count} x {kind}" + (f" ({', '.join(models)})" if models else "")


def _energy_source(energy: Mapping[str, Any]) -> str:
    """How the manifest's ``training.energy`` figures were obtained, in one line (the card's
    energy table has the details)."""
    if energy.get("tool"):  # the schema's only tool
        return f"CodeCarbon {energy.get('version')} during training ({energy.get('method')})"
    return "dlsuite constant-formula estimate (device power x wall time x PUE x grid intensity)"


def hugging_face_metadata(
    manifest: Mapping[str, Any], *, language: Sequence[str] = ()
) -> dict[str, Any]:
    """The card's YAML front matter as a dict (see `hugging_face_card`)."""
    ident = manifest.get("identity", {})
    model = manifest.get("model", {})
    training = manifest.get("training", {})
    evaluation = manifest.get("evaluation", {})
    task = pipeline_tag(manifest)
    app = model.get("app")
    meta: dict[str, Any] = _hub_license(str(ident.get("license", "")))
    meta["library_name"] = HF_LIBRARY_NAME
    meta["tags"] = ["dlsuite", "keras", "tensorflow", "saved_model", *([app] if app else [])]
    if language:
        meta["language"] = list(language)
    datasets = _dataset_names(manifest)
    if datasets:
        meta["datasets"] = datasets
    scores = _scores(evaluation.get("metrics"))
    if scores:
        meta["metrics"] = [name for name, _ in scores]
    if task:
        meta["pipeline_tag"] = task
    energy = training.get("energy") or {}
    if _number(energy.get("co2e_kg")):
        co2: dict[str, Any] = {
            "emissions": float(energy["co2e_kg"]) * 1000.0,  # the Hub's unit is grams
            "source": _energy_source(energy),
        }
        if app in _SUITE_APPS:
            co2["training_type"] = "fine-tuning" if _pretrained(manifest) else "pre-training"
        if energy.get("country_iso_code"):
            co2["geographical_location"] = str(energy["country_iso_code"])
        co2["hardware_used"] = _devices(training)
        meta["co2_eq_emissions"] = co2
    split = evaluation.get("split")
    if scores and split:
        source = datasets[0] if datasets else NOT_RECORDED
        meta["model-index"] = [
            {
                "name": str(ident.get("name")),
                "results": [
                    {
                        "task": {"type": task or "other", "name": HF_TASKS[task or "other"]},
                        "dataset": {"name": source, "type": source, "split": str(split)},
                        "metrics": [
                            *(
                                {"type": name, "value": value, "name": f"{split} {name}"}
                                for name, value in scores
                            ),
                            *_robustness_metrics(manifest.get("robustness")),
                        ],
                    }
                ],
            }
        ]
    return meta


def _pretrained(manifest: Mapping[str, Any]) -> bool:
    """Whether the model was fine-tuned from pretrained weights (a ``transfer_learning`` section
    whose weights are not random)."""
    transfer = manifest.get("transfer_learning")
    return isinstance(transfer, Mapping) and transfer["weights"]["source"] != "random"


def backbone_summary(transfer: Mapping[str, Any]) -> str:
    """One sentence on a ``transfer_learning`` section's backbone and where its weights came
    from: their source, path and SHA-256, or that they were initialised randomly."""
    weights = transfer["weights"]
    head = f"{transfer['backbone']} backbone ({transfer['library']})"
    if weights["source"] == "random":
        return f"{head}, trained from randomly initialised weights (no pretrained weights)"
    return (
        f"{head}, fine-tuned from the pretrained weights {weights['spec']!r} "
        f"({weights['source']}: {weights['path']}, SHA-256 {weights['sha256']})"
    )


def _robustness_metrics(robustness: Any) -> list[dict[str, Any]]:
    """model-index metrics of a manifest's ``robustness`` section: a classifier's ECE, and each
    metric's mean under the corruption suite (accuracy; a recogniser's CER and WER, a policy's
    average return), on its split."""
    if not isinstance(robustness, Mapping):
        return []
    split = robustness.get("split")
    corruption = robustness["corruption"]
    out = []
    if "calibration" in robustness:
        ece = robustness["calibration"]["ece"]
        out.append({"type": "ece", "value": ece, "name": f"{split} expected calibration error"})
    for metric in _corruption_metrics(corruption):
        out.append(
            {
                "type": metric,
                "value": corruption[f"mean_corruption_{metric}"],
                "name": f"{split} {metric} under {corruption['modality']} corruptions "
                "(mean over corruptions and severities)",
            }
        )
    return out


def _corruption_metrics(corruption: Mapping[str, Any]) -> list[str]:
    """The metrics of a ``robustness.corruption`` section: ``metrics`` (a recogniser's or a
    policy's), else the classifiers' accuracy."""
    return list(corruption.get("metrics") or [corruption.get("metric") or "accuracy"])


def check_hugging_face_metadata(meta: Any) -> list[str]:
    """Where ``meta`` (a card's parsed front matter) breaks the Hub's model card metadata spec
    (`HF_METADATA_SCHEMA`), as ``"$.json.path: message"`` lines; empty when it follows it."""
    return schema_errors(HF_METADATA_SCHEMA, meta, check_formats=True)


def split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    """``(metadata, body)`` of a README.md that starts with a ``---`` YAML block."""
    match = re.match(r"---\n(.*?\n)---\n", text, flags=re.DOTALL)
    if match is None:
        raise ValueError("the card has no YAML front matter (a first line '---' and a closing one)")
    meta = yaml.safe_load(match.group(1))
    if not isinstance(meta, dict):
        raise ValueError(f"the card's front matter is not a YAML mapping: {type(meta).__name__}")
    return meta, text[match.end() :]


# --- Markdown body -------------------------------------------------------------------------------


def _text(value: Any, missing: str = NOT_RECORDED) -> str:
    """A value as one line of Markdown text: numbers to 6 significant digits, lists joined."""
    if value is None or value == "" or value == []:
        return missing
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (list, tuple)) and all(not isinstance(v, (dict, list)) for v in value):
        return ", ".join(_text(v) for v in value)
    if isinstance(value, (dict, list, tuple)):
        return "`" + json.dumps(value, sort_keys=True, default=str) + "`"
    return " ".join(str(value).split())


def _config_value(value: Any) -> Any:
    """A config value as recorded: strings and numbers as they are, anything else (null, true,
    lists) as JSON, so that ``null`` and ``[]`` read as values, not as missing fields."""
    if isinstance(value, str) or _number(value):
        return value
    return "`" + json.dumps(value, default=str) + "`"


def _cell(value: Any) -> str:
    return _text(value).replace("|", "\\|")


def _table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    rows = list(rows)
    if not rows:
        return [f"_{NOT_RECORDED}_", ""]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return [*lines, ""]


def _fields(rows: Iterable[tuple[str, Any]]) -> list[str]:
    return _table(["field", "value"], rows)


def _bullets(items: Any) -> list[str]:
    if isinstance(items, str):
        items = [items]
    if not items:
        return [f"_{NOT_RECORDED}_", ""]
    return [*(f"- {_text(item)}" for item in items), ""]


def _para(value: Any, missing: str = NOT_RECORDED) -> list[str]:
    text = _text(value, missing)
    return [f"_{text}_" if text in (NOT_RECORDED, TO_BE_FILLED) else text, ""]


def _tensor(info: Mapping[str, Any]) -> str:
    """``"float32 [-1, 4]"``: dtype and shape (-1 an unknown dimension) of a signature tensor."""
    shape = info.get("shape")
    return f"{info.get('dtype')} {'unknown rank' if shape is None else shape}"


def _tensors(tensors: Mapping[str, Any]) -> str:
    return ", ".join(f"{key} {_tensor(t)}" for key, t in sorted(tensors.items()))


def _md_model(m: Mapping[str, Any]) -> list[str]:
    ident = m.get("identity", {})
    model = m.get("model", {})
    provider = ident.get("provider", {})
    frameworks = ident.get("frameworks", {})
    out = ["## Model details", ""]
    out += _fields(
        [
            ("Provider", f"{provider.get('name')} ({provider.get('contact')})"),
            ("License", ident.get("license")),
            ("Version", ident.get("version")),
            ("Exported (UTC)", ident.get("created_utc")),
            ("dlsuite version", ident.get("suite_version")),
            ("Architecture", model.get("architecture")),
            ("App", model.get("app")),
            ("Parameters", model.get("parameter_count")),
            ("FLOPs per example", model.get("flops_per_example")),
            ("Classes", model.get("class_names")),
            *(
                (f"Frameworks ({stage})", [f"{k} {v}" for k, v in sorted(versions.items())])
                for stage, versions in sorted(frameworks.items())
                if isinstance(versions, Mapping)
            ),
        ]
    )
    signatures = model.get("signatures") or {}
    out += [
        "### Signatures",
        "",
        "The version folder is a TensorFlow SavedModel for TF Serving or `dlsuite serve`.",
        "",
    ]
    out += _table(
        ["signature", "method", "inputs", "outputs"],
        (
            [
                name,
                str(sig.get("method_name", "")).rsplit("/", 1)[-1],
                _tensors(sig.get("inputs") or {}),
                _tensors(sig.get("outputs") or {}),
            ]
            for name, sig in sorted(signatures.items())
        ),
    )
    return out


def _md_transfer(m: Mapping[str, Any]) -> list[str]:
    """The pretrained backbone (`backbone_summary`), its table and the training phases; nothing
    for a model trained from scratch."""
    transfer = m.get("transfer_learning")
    if not transfer:
        return []
    return [
        "## Pretrained backbone",
        "",
        f"{backbone_summary(transfer)}.",
        "",
        *_fields(transfer_rows(transfer)),
        "### Training phases",
        "",
        *_table(PHASE_HEADER, phase_rows(transfer)),
    ]


def _md_use(m: Mapping[str, Any]) -> list[str]:
    use = m.get("intended_use", {})
    lim = m.get("limitations", {})
    return [
        "## Intended use",
        "",
        *_para(use.get("intended_purpose")),
        "### Intended users",
        "",
        *_bullets(use.get("intended_users")),
        "### Out-of-scope uses",
        "",
        *_bullets(use.get("out_of_scope_uses")),
        "## Limitations and risks",
        "",
        "### Limitations",
        "",
        *_bullets(lim.get("limitations")),
        "### Known risks",
        "",
        *_bullets(lim.get("known_risks")),
        "### Human oversight",
        "",
        *_para(lim.get("human_oversight")),
        "### Post-market monitoring",
        "",
        *_para(lim.get("post_market_monitoring"), TO_BE_FILLED),
    ]


def _md_training(m: Mapping[str, Any]) -> list[str]:
    tr = m.get("training", {})
    if tr.get("recorded") is False:  # exported without a run directory
        note = ["## Training", "", *_para(tr.get("note"))]
        if _number(tr.get("training_flops")):
            note += _fields([("Training compute (FLOP)", tr["training_flops"])])
        return note
    data = tr.get("data") or {}
    out = ["## Training data", ""]
    out += _table(
        ["kind", "name", "version", "source"],
        (
            [s.get("kind"), s.get("name"), s.get("version"), s.get("source")]
            for s in data.get("sources") or []
        ),
    )
    if data.get("splits"):
        out += _table(["split", "examples"], sorted(data["splits"].items()))
    out += _fields(
        [
            ("Preprocessing", data.get("preprocessing")),
            ("Input shape", data.get("input_shape")),
        ]
    )
    out += ["### Data provenance", "", *_para(data.get("provenance"), TO_BE_FILLED)]
    out += ["## Training procedure", ""]
    out += _fields(
        [
            ("Run id", tr.get("run_id")),
            ("Config hash", tr.get("config_hash")),
            ("Seed", tr.get("seed")),
            ("Strategy", tr.get("strategy")),
            ("Devices", _devices(tr)),
            ("Global batch size", tr.get("global_batch_size")),
            ("Epochs completed", tr.get("epochs_completed")),
            ("Examples seen", tr.get("examples_seen")),
            ("Wall time (s)", tr.get("wall_time_s")),
            ("Training compute (FLOP)", tr.get("training_flops")),
        ]
    )
    if tr.get("hyperparameters"):
        out += ["### Hyper-parameters", ""]
        out += _table(
            ["name", "value"],
            ((k, _config_value(v)) for k, v in sorted(tr["hyperparameters"].items())),
        )
    if tr.get("class_weight"):
        out += [f"### Class weights ({tr['class_weight']['mode']})", ""]
        out += _table(["class", "loss weight"], tr["class_weight"]["weights"].items())
    if tr.get("energy"):
        out += ["### Energy and emissions", "", *_fields(energy_rows(tr["energy"]))]
    return out


def _md_evaluation(m: Mapping[str, Any]) -> list[str]:
    ev = m.get("evaluation", {})
    split = ev.get("split")
    out = ["## Evaluation", ""]
    if split is None:
        return [*out, *_para(ev.get("note"))]
    out += [f"Held-out split: `{split}`.", ""]
    out += _table(["metric", "value"], _scores(ev.get("metrics")))
    per_class = ev.get("per_class") or {}
    if per_class:
        columns = sorted({k for scores in per_class.values() for k in scores})
        out += ["### Per class", ""]
        out += _table(
            ["class", *columns], ([c, *(s.get(k) for k in columns)] for c, s in per_class.items())
        )
    for other, scores in sorted((ev.get("other_splits") or {}).items()):
        out += [f"### Split `{other}`", ""]
        out += _table(["metric", "value"], _scores(scores))
    return out


def _md_robustness(m: Mapping[str, Any]) -> list[str]:
    robustness = m.get("robustness")
    if not robustness:
        return []
    corruption = robustness["corruption"]
    metrics = _corruption_metrics(corruption)
    fields: list[tuple[str, Any]] = [
        ("Held-out split", robustness.get("split")),
        ("Level", robustness.get("level")),
    ]
    if "calibration" in robustness:
        calibration = robustness["calibration"]
        temperature = calibration["temperature"]
        fields += [
            ("Expected calibration error", calibration["ece"]),
            (
                "Temperature (fitted on validation)",
                temperature.get("temperature") if temperature.get("fitted") else None,
            ),
            ("ECE after temperature scaling", temperature.get("ece_after")),
        ]
    for metric in metrics:
        fields += [
            (f"Clean {metric}", corruption[f"clean_{metric}"]),
            (f"Mean {metric} under corruptions", corruption[f"mean_corruption_{metric}"]),
        ]
    if "lower_is_better" in corruption:
        fields.append(("Better", "lower" if corruption["lower_is_better"] else "higher"))
    explanations = robustness.get("explanations") or {}
    fields.append(("Explanations", explanations.get("method") or explanations.get("reason")))
    out = ["## Robustness", "", *_para(robustness.get("method")), *_fields(fields)]
    for metric in metrics:
        table = corruption[metric]
        severities = sorted({s for row in table.values() for s in row}, key=int)
        out += _table(
            [f"{metric}: corruption", *(f"severity {s}" for s in severities)],
            ([name, *(row.get(s) for s in severities)] for name, row in table.items()),
        )
    adversarial = robustness.get("adversarial") or {}
    if "applicable" in adversarial:  # {applicable: false, reason} for the whole section
        return [*out, f"Adversarial: {adversarial.get('reason')}", ""]
    for name, attack in adversarial.items():
        if attack.get("applicable"):
            out += [f"{name.upper()}: {attack['method']}", ""]
            out += _table(
                ["epsilon", "accuracy"],
                sorted(attack["accuracy"].items(), key=lambda row: float(row[0])),
            )
        else:
            out += [f"{name.upper()}: {attack['reason']}", ""]
    return out


def _md_compliance(m: Mapping[str, Any]) -> list[str]:
    use = m.get("intended_use", {})
    risk = use.get("risk", {})
    sr = use.get("systemic_risk", {})
    provenance = m.get("provenance") or {}
    out = [
        "## Compliance notes (EU AI Act)",
        "",
        "The risk classification and the other person-filled fields are the provider's own "
        "assessment, recorded at export; they are not a legal determination.",
        "",
    ]
    out += _fields(
        [
            ("Risk classification", risk.get("classification")),
            ("Annex III area", risk.get("annex_iii_area") or "none"),
            ("Rationale", risk.get("rationale") or TO_BE_FILLED),
            ("General-purpose AI model (Art. 3(63))", use.get("general_purpose_ai")),
            ("Training compute (FLOP)", sr.get("training_flop")),
            ("Art. 51(2) threshold (FLOP)", sr.get("threshold_flop")),
            ("Presumed systemic risk", sr.get("presumed_systemic_risk")),
            ("Recorded training run", provenance.get("recorded_run", True)),
        ]
    )
    marking = m.get("synthetic_content_marking")
    if marking:
        out += ["### Synthetic content marking (Art. 50(2))", ""]
        out += _fields(sorted(marking.items()))
    files = (m.get("integrity") or {}).get("files") or {}
    out += [
        f"This card was generated from the version's manifest (`{MANIFEST_DIR}/manifest.json`, "
        f"schema {m.get('schema_version', '?')}), the authoritative record; it lists the SHA-256 "
        f"of the version's {len(files)} files, which `dlsuite manifest verify VERSION_DIR` checks.",
        "",
    ]
    return out


def hugging_face_card(manifest: Mapping[str, Any], *, language: Sequence[str] = ()) -> str:
    """A Hugging Face model card (``README.md``) of ``manifest``.

    Front matter: ``license`` (the Hub's id, or ``other`` with ``license_name``),
    ``library_name: keras``, ``tags``, ``datasets`` (the run's data set names), ``language``
    (only when given: the manifest does not record it), ``metrics``, ``pipeline_tag``
    (`pipeline_tag`), ``co2_eq_emissions`` (the manifest's ``training.energy`` estimate in grams,
    its formula as the source, the devices; ``training_type`` fine-tuning for a model fine-tuned
    from pretrained weights) and ``model-index`` (the held-out evaluation's metrics). A pretrained
    backbone is stated in the body only: the Hub's ``base_model`` names a Hub repository, and the
    manifest records a library's weights or a local path. Raises `ValueError` listing the problems
    if the front matter breaks the Hub's spec.
    """
    ident = manifest.get("identity", {})
    meta = hugging_face_metadata(manifest, language=language)
    head = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, width=100)
    body = [
        f"# {ident.get('name', '?')} (version {ident.get('version', '?')})",
        "",
        *_para(ident.get("description"), TO_BE_FILLED),
        *_md_model(manifest),
        *_md_transfer(manifest),
        *_md_use(manifest),
        *_md_training(manifest),
        *_md_evaluation(manifest),
        *_md_robustness(manifest),
        *_md_compliance(manifest),
    ]
    card = f"---\n{head}---\n\n" + "\n".join(body)
    errors = check_hugging_face_metadata(split_front_matter(card)[0])
    if errors:
        raise ValueError(
            "the Hugging Face card's front matter does not follow the Hub's model card spec:\n  "
            + "\n  ".join(errors)
        )
    return card


# --- Model Card Toolkit --------------------------------------------------------------------------


def load_model_card_toolkit_schema() -> dict:
    """Model Card Toolkit's JSON Schema v0.0.2 (draft-07), read once from the package data.

    ``model_card_toolkit.schema.json`` beside this module is an unmodified copy of
    ``model_card_toolkit/schema/v0.0.2/model_card.schema.json`` from the model-card-toolkit 2.0.0
    wheel (https://github.com/tensorflow/model-card-toolkit), Copyright Google LLC, licensed
    under the Apache License 2.0. The toolkit itself is not a dependency: it pins TFX libraries
    that do not install beside TensorFlow 2.21.
    """
    return package_schema(MCT_SCHEMA_FILE)


def validate_model_card_toolkit(document: Any) -> list[str]:
    """Schema errors of a Model Card Toolkit document as ``"$.json.path: message"`` lines,
    sorted (empty = valid against `load_model_card_toolkit_schema`)."""
    return schema_errors(load_model_card_toolkit_schema(), document, check_formats=True)


def _descriptions(items: Any, prefix: str = "") -> list[dict[str, str]]:
    if isinstance(items, str):
        items = [items]
    return [{"description": prefix + str(item)} for item in items or []]


def _mct_data(training: Mapping[str, Any], split: Any) -> list[dict[str, str]]:
    data = training.get("data") or {}
    splits = data.get("splits") or {}
    parts = []
    if splits:
        parts.append("splits: " + ", ".join(f"{k} {v} examples" for k, v in sorted(splits.items())))
    if split:
        parts.append(f"held-out evaluation on the {split} split")
    for key in ("preprocessing", "provenance"):
        if data.get(key):
            parts.append(f"{key}: {data[key]}")
    out = []
    for source in data.get("sources") or []:
        head = f"{source.get('kind')} data set"
        if source.get("version"):
            head += f", version {source['version']}"
        if source.get("source"):
            head += f" ({source['source']})"
        out.append(
            {
                "name": str(source.get("name") or source.get("source") or NOT_RECORDED),
                "description": "; ".join([head, *parts]),
            }
        )
    return out


def _mct_formats(signatures: Mapping[str, Any], role: str) -> tuple[str, list[dict[str, str]]]:
    summary = "; ".join(
        f"{name}: {_tensors(sig.get(role) or {})}" for name, sig in sorted(signatures.items())
    )
    pairs = [
        {"key": f"{name}/{key}", "value": _tensor(t)}
        for name, sig in sorted(signatures.items())
        for key, t in sorted((sig.get(role) or {}).items())
    ]
    return summary, pairs


def _mct_metrics(evaluation: Mapping[str, Any]) -> list[dict[str, str]]:
    """Each held-out metric (slice: the split), each per-class figure (slice ``"<split>, class
    <name>"``) and each other split's metric; values as strings, as the schema wants them."""
    split = evaluation.get("split")
    if split is None:
        return []
    out = [
        {"type": name, "value": str(value), "slice": str(split)}
        for name, value in _scores(evaluation.get("metrics"))
    ]
    for label, scores in (evaluation.get("per_class") or {}).items():
        out += [
            {"type": name, "value": str(value), "slice": f"{split}, class {label}"}
            for name, value in _scores(scores)
        ]
    for other, scores in sorted((evaluation.get("other_splits") or {}).items()):
        out += [
            {"type": name, "value": str(value), "slice": str(other)}
            for name, value in _scores(scores)
        ]
    return out


def _mct_training_notes(manifest: Mapping[str, Any]) -> list[str]:
    """What the toolkit's schema has no field for: the fine-tuning phases and batch norm of a
    ``transfer_learning`` section, and the class weights of a run trained with them."""
    notes = []
    transfer = manifest.get("transfer_learning")
    if transfer:
        phases = "; ".join(
            f"epochs {epochs}: {trained} ({', '.join(layers)}), {params} trainable parameters"
            for epochs, trained, layers, params in phase_rows(transfer)
        )
        notes.append(f"Training phases: {phases}. Batch normalisation: {transfer['batch_norm']}")
    class_weight = (manifest.get("training") or {}).get("class_weight")
    if class_weight:
        weights = ", ".join(
            f"{name} {value:.6g}" for name, value in class_weight["weights"].items()
        )
        notes.append(f"Class weights ({class_weight['mode']}): {weights}")
    return notes


def model_card_toolkit_json(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """A Model Card Toolkit document (schema v0.0.2) of ``manifest``.

    ``model_details``: name, overview (the description), documentation (intended purpose, risk
    classification, the fine-tuning phases and class weights when recorded, provenance), owners
    (the provider), version (number and export date), licenses. ``model_parameters``:
    architecture (with the pretrained backbone and its weights' SHA-256, `backbone_summary`), data
    (one entry per source, with its splits, preprocessing and provenance), input and output
    formats of every signature.
    ``quantitative_analysis.performance_metrics``: every evaluation figure (see `_mct_metrics`).
    ``considerations``: users, use cases, limitations (and out-of-scope uses), ethical
    considerations (each known risk with the human-oversight measures as its mitigation, and the
    training emissions estimate). Raises `ValueError` listing the schema errors, if any.
    """
    ident = manifest.get("identity", {})
    use = manifest.get("intended_use", {})
    risk = use.get("risk", {})
    model = manifest.get("model", {})
    training = manifest.get("training", {})
    evaluation = manifest.get("evaluation", {})
    lim = manifest.get("limitations", {})
    provider = ident.get("provider", {})
    signatures = model.get("signatures") or {}
    input_format, input_map = _mct_formats(signatures, "inputs")
    output_format, output_map = _mct_formats(signatures, "outputs")
    documentation = [
        f"Intended purpose: {use.get('intended_purpose')}",
        *_mct_training_notes(manifest),
        f"EU AI Act risk classification (the provider's assessment): "
        f"{risk.get('classification')}"
        + (f" (Annex III: {risk['annex_iii_area']})" if risk.get("annex_iii_area") else "")
        + f". Rationale: {str(risk.get('rationale') or TO_BE_FILLED).rstrip('.')}.",
        f"Human oversight: {lim.get('human_oversight')}",
        f"Post-market monitoring: {lim.get('post_market_monitoring') or TO_BE_FILLED}",
        f"Generated by dlsuite from {MANIFEST_DIR}/manifest.json "
        f"(schema {manifest.get('schema_version', '?')}), the authoritative record.",
    ]
    if training.get("recorded") is False:
        documentation.append(str(training.get("note")))
    architecture = str(model.get("architecture"))
    if manifest.get("transfer_learning"):
        architecture += f"; {backbone_summary(manifest['transfer_learning'])}"
    ethical = [
        {"name": str(r), "mitigation_strategy": str(lim.get("human_oversight"))}
        for r in lim.get("known_risks") or []
    ]
    energy = training.get("energy") or {}
    if _number(energy.get("co2e_kg")) and _number(energy.get("energy_kwh")):
        ethical.append(
            {
                "name": f"Training emissions: {energy['co2e_kg'] * 1000.0:.6g} g CO2e from "
                f"{energy['energy_kwh']:.6g} kWh, {_energy_source(energy)}"
            }
        )
    details: dict[str, Any] = {
        "name": str(ident.get("name")),
        "overview": str(ident.get("description") or TO_BE_FILLED),
        "documentation": "\n\n".join(documentation),
        "owners": [{"name": str(provider.get("name")), "contact": str(provider.get("contact"))}],
        "version": {"name": str(ident.get("version"))},
        "licenses": [{"identifier": str(ident.get("license"))}],
    }
    created = str(ident.get("created_utc") or "")
    if re.match(r"\d{4}-\d{2}-\d{2}", created):
        details["version"]["date"] = created[:10]
    document = {
        "schema_version": MCT_SCHEMA_VERSION,
        "model_details": details,
        "model_parameters": {
            "model_architecture": architecture,
            "data": _mct_data(training, evaluation.get("split")),
            "input_format": input_format,
            "input_format_map": input_map,
            "output_format": output_format,
            "output_format_map": output_map,
        },
        "quantitative_analysis": {"performance_metrics": _mct_metrics(evaluation)},
        "considerations": {
            "users": _descriptions(use.get("intended_users")),
            "use_cases": _descriptions(use.get("intended_purpose")),
            "limitations": _descriptions(lim.get("limitations"))
            + _descriptions(use.get("out_of_scope_uses"), "Out of scope: "),
            "ethical_considerations": ethical,
        },
    }
    errors = validate_model_card_toolkit(document)
    if errors:
        raise ValueError(
            "the Model Card Toolkit document does not match its schema v0.0.2:\n  "
            + "\n  ".join(errors)
        )
    return document


# --- Files ---------------------------------------------------------------------------------------


def render_card(
    manifest: Mapping[str, Any], card_format: str, *, language: Sequence[str] = ()
) -> str:
    """The card of ``manifest`` as text: ``"hf"`` the README.md, ``"mct"`` indented JSON."""
    if card_format == "hf":
        return hugging_face_card(manifest, language=language)
    if card_format != "mct":
        raise ValueError(f"card_format expected one of {CARD_FORMATS}. Received: {card_format!r}")
    if language:
        raise ValueError(
            "language applies to the Hugging Face card only (Model Card Toolkit has no language "
            "field); drop it or use the hf format"
        )
    return json.dumps(model_card_toolkit_json(manifest), indent=2, ensure_ascii=False) + "\n"
