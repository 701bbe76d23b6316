"""A self-contained HTML model card rendered from a manifest (no scripts, no external assets)."""

from __future__ import annotations

import html
import json
import os
import string
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from dlsuite.base.files import atomic_write_text
from dlsuite.serving.manifest.integrity import MANIFEST_DIR, load_manifest, resolve_manifest_path

TEMPLATE_FILE = "card.html"
# The columns of a pretrained backbone's training phases (`phase_rows`).
PHASE_HEADER = ("epochs", "trained", "layers", "trainable parameters")
_KNOWN_SECTIONS = (
    "schema_version",
    "identity",
    "intended_use",
    "model",
    "training",
    "evaluation",
    "robustness",
    "transfer_learning",
    "limitations",
    "synthetic_content_marking",
    "integrity",
)


def _e(value: Any) -> str:
    """Escaped text of a value; lists joined, mappings as compact JSON, None as a dash."""
    if value is None:
        return "&mdash;"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return html.escape(f"{value:.6g}")
    if isinstance(value, (list, tuple)) and all(not isinstance(v, (dict, list)) for v in value):
        return html.escape(", ".join(str(v) for v in value))
    if isinstance(value, (dict, list, tuple)):
        return f"<code>{html.escape(json.dumps(value, sort_keys=True, default=str))}</code>"
    return html.escape(str(value))


def _cell(value: Any) -> str:
    numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
    return f'<td class="num">{_e(value)}</td>' if numeric else f"<td>{_e(value)}</td>"


def _kv_table(rows: Iterable[tuple[str, Any]]) -> str:
    body = "".join(f"<tr><th>{html.escape(k)}</th>{_cell(v)}</tr>" for k, v in rows)
    return f"<table>{body}</table>" if body else "<p>&mdash;</p>"


def _grid(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(_cell(v) for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _list(items: Any) -> str:
    if not items:
        return "<p>&mdash;</p>"
    if isinstance(items, str):
        items = [items]
    return "<ul>" + "".join(f"<li>{_e(item)}</li>" for item in items) + "</ul>"


def _para(text: Any) -> str:
    return f"<p>{_e(text)}</p>"


def _identity(m: Mapping[str, Any]) -> str:
    ident = m.get("identity", {})
    provider = ident.get("provider", {})
    frameworks = ident.get("frameworks", {})
    out = [
        _kv_table(
            [
                ("Name", ident.get("name")),
                ("Version", ident.get("version")),
                ("Created (UTC)", ident.get("created_utc")),
                ("dlsuite version", ident.get("suite_version")),
                ("License", ident.get("license")),
                ("Provider", provider.get("name")),
                ("Contact", provider.get("contact")),
            ]
        )
    ]
    if ident.get("description"):
        out.append(_para(ident["description"]))
    stages = [s for s in ("training", "export") if isinstance(frameworks.get(s), Mapping)]
    packages = sorted({p for s in stages for p in frameworks[s]})
    if packages:
        out.append("<h3>Framework versions</h3>")
        out.append(
            _grid(
                ["package", *stages],
                ([p, *(frameworks[s].get(p) for s in stages)] for p in packages),
            )
        )
    return "".join(out)


def _intended_use(m: Mapping[str, Any]) -> str:
    use = m.get("intended_use", {})
    risk = use.get("risk", {})
    sr = use.get("systemic_risk", {})
    badge = "badge warn" if risk.get("classification") in ("prohibited", "high_risk") else "badge"
    return "".join(
        [
            "<h3>Intended purpose</h3>",
            _para(use.get("intended_purpose")),
            "<h3>Intended users</h3>",
            _list(use.get("intended_users")),
            "<h3>Out-of-scope uses</h3>",
            _list(use.get("out_of_scope_uses")),
            "<h3>Risk classification (EU AI Act)</h3>",
            f'<p><span class="{badge}">{_e(risk.get("classification"))}</span></p>',
            _kv_table(
                [
                    ("Annex III area", risk.get("annex_iii_area")),
                    ("Rationale", risk.get("rationale")),
                    ("Recorded by", risk.get("recorded_by")),
                    ("General-purpose AI model", use.get("general_purpose_ai")),
                    ("Systemic-risk basis", sr.get("basis")),
                    ("Threshold (FLOP)", sr.get("threshold_flop")),
                    ("Training compute (FLOP)", sr.get("training_flop")),
                    ("Exceeds threshold", sr.get("exceeds_threshold")),
                    ("Presumed systemic risk", sr.get("presumed_systemic_risk")),
                ]
            ),
        ]
    )


def _model(m: Mapping[str, Any]) -> str:
    model = m.get("model", {})
    out = [
        _kv_table(
            [
                ("Architecture", model.get("architecture")),
                ("App", model.get("app")),
                ("Parameters", model.get("parameter_count")),
                ("FLOPs per example", model.get("flops_per_example")),
                ("FLOPs method", model.get("flops_method")),
                ("Classes", model.get("class_names")),
            ]
        )
    ]
    rows = []
    for name, sig in sorted((model.get("signatures") or {}).items()):
        for role in ("inputs", "outputs"):
            for key, t in sorted((sig.get(role) or {}).items()):
                shape = "unknown rank" if t.get("shape") is None else str(t.get("shape"))
                rows.append([name, sig.get("method_name"), role[:-1], key, t.get("dtype"), shape])
    if rows:
        out += [
            "<h3>Signatures</h3>",
            _grid(["signature", "method", "role", "tensor", "dtype", "shape"], rows),
        ]
    return "".join(out)


def _training(m: Mapping[str, Any]) -> str:
    tr = m.get("training", {})
    if tr.get("recorded") is False:  # exported without a run directory
        return _para(tr.get("note"))
    data = tr.get("data", {})
    energy = tr.get("energy", {})
    devices = tr.get("devices", {})
    out = [
        _kv_table(
            [
                ("Run id", tr.get("run_id")),
                ("Run directory", tr.get("run_dir")),
                ("Config hash", tr.get("config_hash")),
                ("Seed", tr.get("seed")),
                ("Strategy", tr.get("strategy")),
                ("Replicas", tr.get("replicas")),
                ("Devices", f"{devices.get('count', '?')} x {devices.get('kind', '?')}"),
                ("Global batch size", tr.get("global_batch_size")),
                ("Epochs completed", tr.get("epochs_completed")),
                ("Wall time (s)", tr.get("wall_time_s")),
                ("Training compute (FLOP)", tr.get("training_flops")),
            ]
        )
    ]
    out.append("<h3>Data</h3>")
    sources = data.get("sources") or []
    if sources:
        out.append(
            _grid(
                ["kind", "name", "version", "source"],
                (
                    [s.get("kind"), s.get("name"), s.get("version"), s.get("source")]
                    for s in sources
                ),
            )
        )
    if data.get("splits"):
        out.append(_grid(["split", "examples"], sorted(data["splits"].items())))
    out.append(
        _kv_table(
            [
                ("Preprocessing", data.get("preprocessing")),
                ("Provenance", data.get("provenance")),
                ("Input shape", data.get("input_shape")),
            ]
        )
    )
    if tr.get("hyperparameters"):
        out += ["<h3>Hyper-parameters</h3>", _kv_table(sorted(tr["hyperparameters"].items()))]
    if tr.get("class_weight"):
        out += [
            f"<h3>Class weights ({_e(tr['class_weight'].get('mode'))})</h3>",
            _grid(["class", "loss weight"], tr["class_weight"]["weights"].items()),
        ]
    if energy:
        out += ["<h3>Energy and emissions</h3>", _kv_table(energy_rows(energy))]
    return "".join(out)


def transfer_rows(transfer: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """The pretrained-backbone table of a ``transfer_learning`` section: the backbone, its
    library and layer, its weights (as given, their source, path and SHA-256; randomly
    initialised ones have neither), the preprocessing, freezing, learning rate and batch norm."""
    weights = transfer.get("weights") or {}
    origin: list[tuple[str, Any]]
    if weights.get("source") == "random":
        origin = [("Weights source", "random: initialised randomly, no pretrained weights")]
    else:
        origin = [
            ("Weights source", weights.get("source")),
            ("Weights path", weights.get("path")),
            ("Weights SHA-256", weights.get("sha256")),
        ]
    return [
        ("Backbone", transfer.get("backbone")),
        ("Library", transfer.get("library")),
        ("Layer in the model", transfer.get("layer")),
        ("Weights (as given)", weights.get("spec")),
        *origin,
        ("Preprocessing", transfer.get("preprocessing")),
        ("Backbone frozen for (epochs)", transfer.get("freeze_epochs")),
        ("Backbone learning-rate multiplier", transfer.get("backbone_learning_rate_multiplier")),
        ("Batch normalisation", transfer.get("batch_norm")),
    ]


def phase_rows(transfer: Mapping[str, Any]) -> list[list[Any]]:
    """One row per training phase of a ``transfer_learning`` section, as `PHASE_HEADER`: the
    epochs (``"1-3"``, 1-based, inclusive), what was trained, its layers, trainable parameters."""
    rows = []
    for phase in transfer.get("phases") or []:
        first, last = phase["epochs"]
        epochs = str(first) if first == last else f"{first}-{last}"
        rows.append([epochs, phase["trained"], phase["layers"], phase["trainable_params"]])
    return rows


def _transfer(transfer: Mapping[str, Any]) -> str:
    """The ``transfer_learning`` section: the backbone and its weights, then the phases."""
    return "".join(
        [
            _kv_table(transfer_rows(transfer)),
            "<h3>Training phases</h3>",
            _grid(PHASE_HEADER, phase_rows(transfer)),
        ]
    )


def energy_rows(energy: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """The energy table: CodeCarbon's figures and how it got them, or the constant formula, its
    constants and why it was used."""
    rows: list[tuple[str, Any]] = [
        ("Energy (kWh)", energy.get("energy_kwh")),
        ("CO2e (kg)", energy.get("co2e_kg")),
    ]
    if energy.get("tool"):
        rows = [
            ("Method", f"{energy.get('method')} (CodeCarbon {energy.get('version')})"),
            *rows,
            ("How", energy.get("method_detail")),
            *(
                (f"{part} energy (kWh)", energy.get(f"{part.lower()}_energy_kwh"))
                for part in ("CPU", "GPU", "RAM")
            ),
            ("Tracked for (s)", energy.get("duration_s")),
            ("Country", energy.get("country_iso_code") or "not set (world average)"),
            ("Grid intensity (kg CO2e/kWh)", energy.get("grid_intensity_kgco2e_per_kwh")),
            ("PUE", energy.get("pue")),
            ("Note", energy.get("note")),
        ]
    else:
        rows = [
            ("Method", "constant formula (estimate)"),
            *rows,
            *sorted((energy.get("constants") or {}).items()),
            ("Formula", energy.get("formula")),
            ("Why not measured", energy.get("fallback_reason")),
        ]
    optional = ("Note", "Why not measured")  # absent from most manifests
    return [(k, v) for k, v in rows if v is not None or k not in optional]


def _evaluation(m: Mapping[str, Any]) -> str:
    ev = m.get("evaluation", {})
    out = [f"<p>Held-out split: <strong>{_e(ev.get('split'))}</strong></p>"]
    if ev.get("note"):
        out.append(_para(ev["note"]))
    if ev.get("metrics"):
        out.append(_grid(["metric", "value"], sorted(ev["metrics"].items())))
    per_class = ev.get("per_class") or {}
    if per_class:
        columns = sorted({k for scores in per_class.values() for k in scores})
        out += [
            "<h3>Per-class figures</h3>",
            _grid(
                ["class", *columns],
                ([c, *(s.get(k) for k in columns)] for c, s in per_class.items()),
            ),
        ]
    matrix = ev.get("confusion_matrix")
    if matrix:
        labels = (
            list(per_class)
            if len(per_class) == len(matrix)
            else [str(i) for i in range(len(matrix))]
        )
        out += [
            "<h3>Confusion matrix (rows: true, columns: predicted)</h3>",
            _grid(
                ["", *labels], ([label, *row] for label, row in zip(labels, matrix, strict=False))
            ),
        ]
    for split, scores in sorted((ev.get("other_splits") or {}).items()):
        out += [
            f"<h3>Other split: {_e(split)}</h3>",
            _grid(["metric", "value"], sorted(scores.items())),
        ]
    return "".join(out)


def _calibration(calibration: Mapping[str, Any]) -> list[str]:
    """A classifier's calibration: ECE, temperature and the confidence bins."""
    temperature = calibration.get("temperature", {})
    out = [
        "<h3>Calibration</h3>",
        _kv_table(
            [
                ("Method", calibration.get("method")),
                ("Expected calibration error", calibration.get("ece")),
                ("Bins", calibration.get("bins")),
                ("Mean confidence", calibration.get("mean_confidence")),
                ("Accuracy", calibration.get("accuracy")),
                (
                    "Temperature (fitted on validation)",
                    temperature.get("temperature")
                    if temperature.get("fitted")
                    else temperature.get("reason"),
                ),
                ("ECE after temperature scaling", temperature.get("ece_after")),
            ]
        ),
    ]
    bins = [b for b in calibration.get("per_bin") or [] if b.get("count")]
    if bins:
        out.append(
            _grid(
                ["confidence bin", "examples", "mean confidence", "accuracy"],
                (
                    [
                        f"{b['lower']:.3f}-{b['upper']:.3f}",
                        b["count"],
                        b["confidence"],
                        b["accuracy"],
                    ]
                    for b in bins
                ),
            )
        )
    return out


def _corruption(corruption: Mapping[str, Any]) -> list[str]:
    """The corruption table of each metric measured (a classifier's accuracy; a recogniser's
    CER and WER; a policy's average return), its clean and mean values."""
    metrics = corruption.get("metrics") or [corruption.get("metric", "accuracy")]
    if not corruption.get(metrics[0]):
        return []
    direction = corruption.get("lower_is_better")
    out = [
        f"<h3>Corruptions ({_e(corruption.get('modality'))})</h3>",
        _para(corruption.get("method")),
    ]
    for metric in metrics:
        name = metric.replace("_", " ")
        table = corruption.get(metric) or {}
        severities = sorted({s for row in table.values() for s in row}, key=int)
        better = [] if direction is None else [("Better", "lower" if direction else "higher")]
        out += [
            _kv_table(
                [
                    *better,
                    (f"Clean {name}", corruption.get(f"clean_{metric}")),
                    (f"Mean corruption {name}", corruption.get(f"mean_corruption_{metric}")),
                    ("Examples", corruption.get("num_examples")),
                ]
            ),
            _grid(
                ["corruption", *(f"severity {s}" for s in severities)],
                ([row_name, *(row.get(s) for s in severities)] for row_name, row in table.items()),
            ),
        ]
    return out


def _robustness(robustness: Mapping[str, Any]) -> str:
    """The ``robustness`` section: calibration (a classifier's), corruption table, adversarial
    accuracy per epsilon (or why it does not apply), explanations, and the PNGs it names (in
    the run directory; the card embeds no files)."""
    out = [
        _para(robustness.get("method")),
        _kv_table(
            [
                ("Level", robustness.get("level")),
                ("Held-out split", robustness.get("split")),
                ("Parameters", robustness.get("parameters")),
            ]
        ),
    ]
    if robustness.get("calibration"):
        out += _calibration(robustness["calibration"])
    out += _corruption(robustness.get("corruption") or {})
    out.append("<h3>Adversarial accuracy</h3>")
    adversarial = robustness.get("adversarial") or {}
    attacks = {"adversarial": adversarial} if "applicable" in adversarial else adversarial
    for name, attack in attacks.items():
        if not attack.get("applicable"):
            out.append(f"<p>{html.escape(name.upper())}: {_e(attack.get('reason'))}</p>")
            continue
        out += [
            f"<p>{html.escape(name.upper())}: {_e(attack.get('method'))}, "
            f"{_e(attack.get('steps'))} step(s), inputs in {_e(attack.get('value_range'))}</p>",
            _grid(
                ["epsilon", "accuracy"],
                sorted((attack.get("accuracy") or {}).items(), key=lambda row: float(row[0])),
            ),
        ]
    explanations = robustness.get("explanations") or {}
    out += [
        "<h3>Explanations</h3>",
        _kv_table(sorted((k, v) for k, v in explanations.items())),
        "<h3>Figures (PNG files in the run directory)</h3>",
        _kv_table(sorted((robustness.get("figures") or {}).items())),
    ]
    return "".join(out)


def _limitations(m: Mapping[str, Any]) -> str:
    lim = m.get("limitations", {})
    out = [
        "<h3>Limitations</h3>",
        _list(lim.get("limitations")),
        "<h3>Known risks</h3>",
        _list(lim.get("known_risks")),
        "<h3>Human oversight</h3>",
        _para(lim.get("human_oversight")),
    ]
    if lim.get("post_market_monitoring"):
        out += ["<h3>Post-market monitoring</h3>", _para(lim["post_market_monitoring"])]
    return "".join(out)


def _integrity(m: Mapping[str, Any]) -> str:
    integ = m.get("integrity") or {}
    files = integ.get("files") or {}
    if not files:
        return "<p>No integrity section (not written by <code>write_manifest</code>).</p>"
    rows = (
        [path, entry.get("bytes"), entry.get("sha256")] for path, entry in sorted(files.items())
    )
    return (
        f"<p>{_e(integ.get('algorithm'))} of every file; verify with "
        "<code>dlsuite manifest verify VERSION_DIR</code>.</p>"
        + _grid(["file", "bytes", "sha256"], rows)
    )


def render_html(manifest: dict) -> str:
    """A readable HTML model card of every manifest section; all text is escaped."""
    ident = manifest.get("identity", {})
    title = f"Model card: {ident.get('name', '?')} version {ident.get('version', '?')}"
    sections = [
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="subtitle">{_e(ident.get("created_utc"))} &middot; '
        f"{_e(ident.get('license'))}</p>",
        "<h2>Identity</h2>",
        _identity(manifest),
        "<h2>Intended use and risk</h2>",
        _intended_use(manifest),
        "<h2>Model</h2>",
        _model(manifest),
    ]
    if manifest.get("transfer_learning"):
        sections += ["<h2>Pretrained backbone</h2>", _transfer(manifest["transfer_learning"])]
    sections += [
        "<h2>Training</h2>",
        _training(manifest),
        "<h2>Evaluation</h2>",
        _evaluation(manifest),
    ]
    if manifest.get("robustness"):
        sections += ["<h2>Robustness</h2>", _robustness(manifest["robustness"])]
    sections += [
        "<h2>Limitations, risks and oversight</h2>",
        _limitations(manifest),
    ]
    marking = manifest.get("synthetic_content_marking")
    if marking:
        sections += [
            "<h2>Synthetic content marking (Art. 50(2))</h2>",
            _kv_table(sorted(marking.items())),
        ]
    for key in sorted(set(manifest) - set(_KNOWN_SECTIONS)):
        value = manifest[key]
        rows = sorted(value.items()) if isinstance(value, Mapping) else [(key, value)]
        sections += [f"<h2>{html.escape(key)}</h2>", _kv_table(rows)]
    sections += ["<h2>Integrity</h2>", _integrity(manifest)]
    template = string.Template(
        resources.files("dlsuite.serving.manifest")
        .joinpath(TEMPLATE_FILE)
        .read_text(encoding="utf-8")
    )
    return template.substitute(
        title=html.escape(title),
        body="\n".join(sections),
        schema_version=html.escape(str(manifest.get("schema_version", "?"))),
    )


def model_card(path: str | os.PathLike[str]) -> str:
    """The HTML card of the manifest at ``path`` (a version folder or a manifest.json file)."""
    return render_html(load_manifest(resolve_manifest_path(path)))


def write_model_card(path: str | os.PathLike[str], output: str | os.PathLike[str]) -> None:
    """Write the `model_card` of ``path`` to ``output``, which may not be inside the version
    folder (whose integrity it would change)."""
    write_outside_version(path, output, model_card(path))


def write_outside_version(
    path: str | os.PathLike[str], output: str | os.PathLike[str], text: str
) -> Path:
    """Write ``text`` to ``output``, which may not be inside the version folder of the manifest
    at ``path`` (a version folder or its manifest.json): a file there would change the version.
    Returns the written path."""
    source = resolve_manifest_path(path)
    target = Path(output).resolve()
    version_dir = source.parent.parent.resolve()  # <version>/assets.extra/manifest.json
    if source.parent.name == MANIFEST_DIR and target.is_relative_to(version_dir):
        raise ValueError(
            f"{output} is inside the version folder {version_dir}; writing there would change "
            "the version's files. Choose a path outside it."
        )
    return atomic_write_text(target, text)
