"""Measured training energy: `EnergyMeter` (CodeCarbon's offline tracker), its figures in
metrics.json and in the manifest, and the constant formula as the fallback."""

from __future__ import annotations

import json
import shutil
import socket
import sys
import tempfile
import threading
import time

import numpy as np
import pytest

from tests.apps.conftest import MANIFEST_INFO

MEASURED_METHODS = ("measured", "partly_measured", "estimated")


def _codecarbon_threads() -> list[threading.Thread]:
    """CodeCarbon's sampling threads (`threading.Timer`s of its `PeriodicScheduler`)."""
    return [
        t
        for t in threading.enumerate()
        if type(getattr(getattr(t, "function", None), "__self__", None)).__module__.startswith(
            "codecarbon"
        )
    ]


@pytest.fixture
def no_network(monkeypatch):
    """Every attempt to open a connection or resolve a name is recorded and refused."""
    attempts: list[tuple] = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("network access in a test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    return attempts


def test_meter_measures_offline_leaving_no_files_or_threads(tmp_path, monkeypatch, no_network):
    from codecarbon import __version__
    from codecarbon.input import DataSource

    from dlsuite.apps.common.energy import EnergyMeter

    cwd, scratch = tmp_path / "cwd", tmp_path / "tmp"
    cwd.mkdir()
    scratch.mkdir()
    monkeypatch.chdir(cwd)
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    a = np.random.default_rng(0).normal(size=(256, 256)).astype("float32")
    outer = time.perf_counter()
    with EnergyMeter("fra", measure_power_secs=0.2) as meter:
        assert _codecarbon_threads()  # it samples on its own threads...
        start = time.perf_counter()
        while time.perf_counter() - start < 0.6:
            a = np.tanh(a @ a)
    elapsed = time.perf_counter() - outer
    assert not _codecarbon_threads()  # ...which end with the measurement

    energy = meter.result
    assert energy["tool"] == "codecarbon" and energy["version"] == __version__
    assert energy["method"] in MEASURED_METHODS
    assert "CPU: " in energy["method_detail"] and "RAM: estimated" in energy["method_detail"]
    assert energy["energy_kwh"] > 0 and energy["ram_energy_kwh"] > 0
    assert energy["energy_kwh"] == pytest.approx(
        energy["cpu_energy_kwh"] + energy["gpu_energy_kwh"] + energy["ram_energy_kwh"]
    )
    assert 0.5 < energy["duration_s"] <= elapsed
    # RAM at a constant power: its energy is that power over the measured time (PUE 1)
    assert energy["pue"] == 1.0
    assert energy["ram_energy_kwh"] == pytest.approx(
        energy["ram_power_w"] * energy["duration_s"] / 3.6e6, rel=0.1
    )
    france = DataSource().get_global_energy_mix_data()["FRA"]["carbon_intensity"] / 1000
    assert energy["country_iso_code"] == "FRA"
    assert energy["grid_intensity_kgco2e_per_kwh"] == pytest.approx(france)
    assert energy["co2e_kg"] == pytest.approx(energy["energy_kwh"] * france)
    assert energy["measure_power_secs"] == 0.2
    assert no_network == []
    assert list(cwd.iterdir()) == [] and list(scratch.iterdir()) == []


@pytest.mark.parametrize(
    ("cpu_mode", "gpu", "method"),
    [
        ("intel_rapl", True, "measured"),
        ("intel_rapl", False, "measured"),
        ("cpu_load", True, "partly_measured"),
        ("cpu_load", False, "estimated"),
        ("constant", False, "estimated"),
    ],
)
def test_method_says_whether_every_cpu_and_gpu_was_read(cpu_mode, gpu, method):
    from types import SimpleNamespace

    from dlsuite.apps.common.energy import _measured

    def device(kind, **fields):  # CodeCarbon's hardware classes, by name
        return type(kind, (), fields)()

    hardware = [device("RAM"), device("CPU", _mode=cpu_mode, _tdp=65, _model="Xeon")]
    hardware += [device("GPU")] if gpu else []
    figures = dict(cpu_energy=2e-3, gpu_energy=5e-3 if gpu else 0.0, ram_energy=1e-3)
    data = SimpleNamespace(
        **figures,
        energy_consumed=sum(figures.values()),
        emissions=0.1 * sum(figures.values()),
        codecarbon_version="3.3.2",
        duration=60.0,
        cpu_power=120.0,
        gpu_power=300.0 if gpu else 0.0,
        ram_power=60.0,
        pue=1.0,
        country_iso_code="DEU",
        tracking_mode="machine",
        cpu_model="Xeon",
        gpu_model="1 x A100" if gpu else "",
    )
    energy = _measured(SimpleNamespace(_hardware=hardware), data, 15.0)
    assert energy["method"] == method
    assert energy["grid_intensity_kgco2e_per_kwh"] == pytest.approx(0.1)
    assert energy["gpu_model"] == ("1 x A100" if gpu else None)
    detail = energy["method_detail"]
    assert detail.endswith("RAM: estimated, CodeCarbon's RAM power model")
    if cpu_mode == "intel_rapl":
        assert detail.startswith("CPU: measured, read from RAPL energy counters")
    else:
        assert detail.startswith("CPU: estimated, ") and "(65 W, Xeon)" in detail
    assert ("GPU: measured, read from NVML" if gpu else "GPU: none found") in detail


def test_country_comes_from_the_argument_or_environment_and_is_checked(monkeypatch):
    from dlsuite.apps.common.energy import EnergyMeter

    monkeypatch.delenv("DLSUITE_COUNTRY", raising=False)
    assert EnergyMeter().country_iso_code is None  # CodeCarbon's own setting, else world average
    monkeypatch.setenv("DLSUITE_COUNTRY", " deu ")
    assert EnergyMeter().country_iso_code == "DEU"
    assert EnergyMeter("usa").country_iso_code == "USA"
    monkeypatch.setenv("DLSUITE_COUNTRY", "Germany")
    with pytest.raises(ValueError, match="DLSUITE_COUNTRY must be an ISO 3166-1 alpha-3"):
        EnergyMeter()
    with pytest.raises(ValueError, match="country_iso_code='XYZ': CodeCarbon has no grid data"):
        EnergyMeter("xyz")
    with pytest.raises(ValueError, match="measure_power_secs must be > 0"):
        EnergyMeter("FRA", measure_power_secs=0)


def test_meter_says_why_when_codecarbon_is_missing_or_fails(monkeypatch):
    import codecarbon
    from codecarbon.emissions_tracker import BaseEmissionsTracker

    from dlsuite.apps.common.energy import EnergyMeter

    monkeypatch.delenv("DLSUITE_COUNTRY", raising=False)
    with monkeypatch.context() as patch:
        patch.setitem(sys.modules, "codecarbon", None)  # not installed
        with EnergyMeter() as meter:
            pass
    assert meter.result["tool"] is None
    assert "CodeCarbon is not installed" in meter.result["reason"]
    assert "pip install codecarbon==3.3.2" in meter.result["reason"]

    def broken(self):
        raise RuntimeError("no hardware")

    # CodeCarbon catches an error in its own start and only logs it
    with monkeypatch.context() as patch:
        patch.setattr(BaseEmissionsTracker, "_ensure_hardware_ready", broken)
        with EnergyMeter() as meter:
            pass
    assert meter.result == {
        "tool": None,
        "reason": "CodeCarbon did not measure: RuntimeError: no hardware",
    }
    # an error that reaches the suite
    with monkeypatch.context() as patch:
        patch.setattr(codecarbon.OfflineEmissionsTracker, "start", broken)
        meter = EnergyMeter()
        meter.start()
        assert not meter.running
        assert meter.stop() == {
            "tool": None,
            "reason": "CodeCarbon could not start: RuntimeError: no hardware",
        }
    assert not _codecarbon_threads()


def _tiny_fit(run_dir, epochs: int = 2):
    import keras

    import dlsuite

    x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
    y = (x.sum(axis=1) > 0).astype("int32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)], name="tiny")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    recorder = dlsuite.RunRecorder(run_dir, data={"name": "sign", "train": (x, y)}, batch_size=16)
    model.fit(x, y, epochs=epochs, batch_size=16, verbose=0, callbacks=[recorder])
    return model


def test_training_completes_without_codecarbon_and_the_manifest_falls_back(tmp_path, monkeypatch):
    from codecarbon import OfflineEmissionsTracker

    from dlsuite.apps.common.runs import is_complete, load_run
    from dlsuite.serving.manifest import build_manifest, load_person_fields, validate_manifest

    def broken(self):
        raise RuntimeError("no counters")

    monkeypatch.setattr(OfflineEmissionsTracker, "start", broken)
    model = _tiny_fit(tmp_path / "run")
    assert is_complete(tmp_path / "run")
    _, metrics = load_run(tmp_path / "run")
    reason = "CodeCarbon could not start: RuntimeError: no counters"
    assert metrics["energy"] == {"tool": None, "reason": reason}

    version_dir = tmp_path / "tiny" / "1"
    model.export(str(version_dir), verbose=False)
    manifest = build_manifest(
        run_dir=tmp_path / "run",
        version_dir=version_dir,
        name="tiny",
        version=1,
        person=load_person_fields(MANIFEST_INFO),
    )
    energy = manifest["training"]["energy"]
    assert energy["method"] == "constant" and energy["fallback_reason"] == reason
    c = energy["constants"]
    assert energy["energy_kwh"] == pytest.approx(
        c["device_count"] * c["device_power_w"] * metrics["wall_time_s"] / 3.6e6 * c["pue"]
    )
    assert not [e for e in validate_manifest(manifest) if e.startswith("$.training")]


def test_recorder_stops_measuring_when_training_raises(tmp_path):
    import gc

    import keras

    import dlsuite

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)], name="tiny")
    model.compile(optimizer="adam", loss="mse")
    recorder = dlsuite.RunRecorder(tmp_path / "loop")
    with pytest.raises(RuntimeError, match="diverged"), recorder.loop(model, epochs=1):
        assert _codecarbon_threads()
        raise RuntimeError("diverged")
    assert not _codecarbon_threads()
    assert not (tmp_path / "loop" / "metrics.json").exists()

    class Diverge(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            raise RuntimeError("diverged")

    x = np.zeros((16, 4), dtype="float32")
    recorder = dlsuite.RunRecorder(tmp_path / "fit")
    try:  # Keras calls no on_train_end: the measurement ends with the recorder
        model.fit(x, x[:, :2], epochs=2, verbose=0, callbacks=[recorder, Diverge()])
    except RuntimeError:
        assert _codecarbon_threads()
    del recorder
    gc.collect()
    assert not _codecarbon_threads()


def test_a_training_run_records_codecarbon_figures_and_exports_them(tiny_run, tiny_export):
    from dlsuite.serving.manifest import load_manifest, render_html, validate_manifest

    metrics = tiny_run.metrics
    energy = metrics["energy"]
    assert energy["tool"] == "codecarbon" and energy["method"] in MEASURED_METHODS
    assert energy["energy_kwh"] > 0 and energy["co2e_kg"] > 0
    # it measured the fit: its epochs, not the evaluation and export after it
    assert metrics["wall_time_s"] <= energy["duration_s"] < metrics["process_wall_time_s"]
    saved = json.loads((tiny_run.run.path / "metrics.json").read_text())
    assert saved["energy"] == energy

    manifest = load_manifest(tiny_export)
    assert validate_manifest(manifest) == []
    section = manifest["training"]["energy"]
    assert section == {key: energy[key] for key in section}  # CodeCarbon's figures, as measured
    assert section["method"] == energy["method"] and "constants" not in section
    card = render_html(manifest)
    assert f"{energy['method']} (CodeCarbon {energy['version']})" in card


def test_the_manifest_falls_back_for_runs_without_a_measurement(tiny_run, tiny_export, tmp_path):
    from dlsuite.serving.manifest import build_manifest, load_person_fields, validate_manifest

    person = load_person_fields(MANIFEST_INFO)
    measured = tiny_run.metrics["energy"]
    old_recorder = {"energy_kwh": 1e-5, "co2e_kg": 1e-6, "constants": {}, "formula": "..."}
    cases = {
        "missing": (None, "the run recorded no energy measurement"),
        "old RunRecorder estimate": (old_recorder, "the run recorded no energy measurement"),
        "CodeCarbon failed": ({"tool": None, "reason": "it broke"}, "it broke"),
        "measured, resumed": (measured, None),
    }
    for case, (recorded, reason) in cases.items():
        run = tmp_path / case
        shutil.copytree(tiny_run.run.path, run, ignore=shutil.ignore_patterns("logs", "*.keras"))
        metrics = json.loads((run / "metrics.json").read_text())
        metrics.pop("energy")
        if recorded is not None:
            metrics["energy"] = recorded
        metrics["resumed"] = case.endswith("resumed")
        (run / "metrics.json").write_text(json.dumps(metrics))
        manifest = build_manifest(
            run_dir=run, version_dir=tiny_export, name="digits", version=1, person=person
        )
        energy = manifest["training"]["energy"]
        assert not [e for e in validate_manifest(manifest) if e.startswith("$.training")], case
        if reason is None:
            assert energy["energy_kwh"] == measured["energy_kwh"]
            assert energy["note"].startswith("the run was resumed: CodeCarbon measured its last")
        else:
            assert energy["method"] == "constant" and energy["fallback_reason"].startswith(reason)
            assert energy["constants"]["wall_time_s"] == metrics["wall_time_s"]

    with pytest.raises(ValueError, match=r"unknown energy constant\(s\) \['pue_'\]"):
        build_manifest(
            run_dir=tiny_run.run.path,
            version_dir=tiny_export,
            name="digits",
            version=1,
            person={**person, "energy": {"pue_": 1.2}},
        )


def test_the_rl_loop_records_its_energy(tmp_path):
    from tests.apps.test_rl import train_tiny_rl

    metrics = train_tiny_rl(
        tmp_path,
        num_env_steps=200,
        initial_collect_steps=50,
        eval_interval=200,
        eval_episodes=1,
        final_eval_episodes=1,
        gif_episodes=0,
    ).metrics
    energy = metrics["energy"]
    assert energy["tool"] == "codecarbon" and energy["energy_kwh"] > 0
    # the collect-and-train loop, not the final evaluation after it
    assert metrics["training_time_s"] <= energy["duration_s"] < metrics["process_wall_time_s"]
    assert not _codecarbon_threads()
