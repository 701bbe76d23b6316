"""Measured training energy: `EnergyMeter`, CodeCarbon's offline tracker around the training loop.

CodeCarbon (https://codecarbon.io) reads the machine's energy counters where it can (Intel/AMD
RAPL on Linux, NVML for NVIDIA GPUs, AMD SMI, the Windows Energy Meter Interface, Intel Power
Gadget) and otherwise estimates from the CPU's TDP and load; RAM is always its power model. It
converts energy to CO2e with its per-country grid intensity data, shipped with the package. The
suite runs only its offline tracker and configures it never to reach the network: no API, no
dashboard, no Electricity Maps, no CSV or other output (its sampling only feeds the figures
returned here), and a temporary working folder removed when the measurement stops. Its logger is
set to warnings.

The country is the ``country_iso_code`` argument, else the ``DLSUITE_COUNTRY`` environment
variable, else CodeCarbon's own configuration (``CODECARBON_COUNTRY_ISO_CODE``, a
``.codecarbon.config`` file), else none: CodeCarbon then uses its world-average grid intensity.

CodeCarbon samples power on its own threads (every second for load-based estimates, and every
``measure_power_secs`` it integrates energy; the last interval is measured at stop), so nothing
runs on the training step itself. When CodeCarbon is missing or fails, training goes on and the
result says why (``{"tool": None, "reason": ...}``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import tempfile
import threading
import time
import types
from typing import Any

TOOL = "codecarbon"
COUNTRY_ENV = "DLSUITE_COUNTRY"
# CodeCarbon's own default interval (its 1 s power monitor runs whatever this is)
MEASURE_POWER_SECS = 15.0
_INSTALL = "pip install codecarbon==3.3.2"
_JOIN_TIMEOUT_S = 30.0  # one power sample (a RAPL/NVML read) takes milliseconds
# CodeCarbon CPU modes that read a hardware counter, and what they read
_CPU_COUNTERS = {
    "intel_rapl": "RAPL energy counters",
    "windows_emi": "the Windows Energy Meter Interface (RAPL)",
    "intel_power_gadget": "Intel Power Gadget",
}


class EnergyMeter:
    """Measure the energy of a block of training with CodeCarbon's offline tracker::

        with EnergyMeter() as meter:
            model.fit(...)
        metrics["energy"] = meter.result

    (or `start` and `stop`). ``result`` is the ``energy`` entry of ``metrics.json``:
    ``tool`` (``"codecarbon"``), ``version``, ``method`` (``"measured"``: every CPU and GPU read
    from a hardware counter; ``"partly_measured"``; ``"estimated"``: none was, CodeCarbon fell
    back on its TDP figures), ``method_detail`` (per device), ``energy_kwh`` (with
    ``cpu_``/``gpu_``/``ram_energy_kwh``), ``co2e_kg``, ``duration_s``, the average
    ``cpu_``/``gpu_``/``ram_power_w``, ``pue``, ``country_iso_code``,
    ``grid_intensity_kgco2e_per_kwh`` (``co2e_kg / energy_kwh``), ``tracking_mode``,
    ``measure_power_secs``, ``cpu_model`` and ``gpu_model``. When nothing could be measured it is
    ``{"tool": None, "reason": ...}``.

    ``country_iso_code`` is an ISO 3166-1 alpha-3 code (``"FRA"``); default: module docstring.
    """

    def __init__(
        self,
        country_iso_code: str | None = None,
        *,
        measure_power_secs: float = MEASURE_POWER_SECS,
    ) -> None:
        if measure_power_secs <= 0:
            raise ValueError(
                f"measure_power_secs must be > 0 (seconds). Received: {measure_power_secs}"
            )
        self.country_iso_code = _country(country_iso_code)
        self.measure_power_secs = float(measure_power_secs)
        self.result: dict[str, Any] | None = None
        self._tracker: Any = None
        self._workdir: tempfile.TemporaryDirectory[str] | None = None
        self._errors = _ErrorLog()

    @property
    def running(self) -> bool:
        """Whether a measurement is under way (`start` called, `stop` not yet)."""
        return self._tracker is not None

    def start(self) -> None:
        """Start measuring; if CodeCarbon is missing or fails, ``result`` says why at once."""
        if self.running:
            raise RuntimeError("EnergyMeter is already measuring: call stop() first")
        self.result = None
        try:
            from codecarbon import OfflineEmissionsTracker
        except ImportError as error:
            self.result = _not_measured(f"CodeCarbon is not installed ({error}); {_INSTALL}")
            return
        log = logging.getLogger("codecarbon")
        log.setLevel(logging.WARNING)
        log.addHandler(self._errors)
        self._errors.clear()
        self._workdir = tempfile.TemporaryDirectory(prefix="dlsuite-energy-")
        country = (
            {} if self.country_iso_code is None else {"country_iso_code": self.country_iso_code}
        )
        tracker = None
        try:
            tracker = OfflineEmissionsTracker(
                project_name="dlsuite",
                measure_power_secs=self.measure_power_secs,
                output_dir=self._workdir.name,
                output_methods=[],  # no CSV, API, logger, Prometheus or Logfire output
                output_handlers=[],
                emissions_endpoint=None,
                electricitymaps_api_token="",  # grid intensity from its own data only
                allow_multiple_runs=True,  # no lock file, no signal handlers
                log_level="warning",
                **country,
            )
            tracker.start()
        except Exception as error:  # measuring must never stop training
            if tracker is not None:
                with contextlib.suppress(Exception):
                    _stop(tracker)  # whatever it started
            self._release()
            self.result = _not_measured(f"CodeCarbon could not start: {_describe(error)}")
            return
        self._tracker = tracker

    def stop(self) -> dict[str, Any] | None:
        """Stop measuring (its threads end here) and return ``result``; a no-op when not
        measuring (``result`` stays as it is: None if nothing was started)."""
        tracker, self._tracker = self._tracker, None
        if tracker is None:
            return self.result
        try:
            _stop(tracker)
            data = getattr(tracker, "final_emissions_data", None)
            if data is None:  # CodeCarbon logs and swallows its own errors
                reason = self._errors.first() or "it recorded no emissions data"
                self.result = _not_measured(f"CodeCarbon did not measure: {reason}")
            else:
                self.result = _measured(tracker, data, self.measure_power_secs)
        except Exception as error:  # measuring must never stop training
            self.result = _not_measured(f"CodeCarbon failed: {_describe(error)}")
        finally:
            self._release()
        return self.result

    def __enter__(self) -> EnergyMeter:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: types.TracebackType | None,
    ) -> None:
        self.stop()

    def _release(self) -> None:
        logging.getLogger("codecarbon").removeHandler(self._errors)
        if self._workdir is not None:
            self._workdir.cleanup()
            self._workdir = None


class _ErrorLog(logging.Handler):
    """Keeps the exceptions CodeCarbon logs (it catches errors in start and stop and logs them),
    to say why a measurement failed."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.errors: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and record.exc_info[1] is not None:
            self.errors.append(_describe(record.exc_info[1]))
        elif record.levelno >= logging.ERROR:
            self.errors.append(record.getMessage())

    def clear(self) -> None:
        self.errors = []

    def first(self) -> str | None:
        return self.errors[0] if self.errors else None


def _stop(tracker: Any) -> None:
    """``tracker.stop()``, then wait for its sampling threads to end. CodeCarbon 3 cancels its
    timers without waiting for a sample under way, and a timer that fires as it stops re-arms
    itself: such timers are cancelled again until none is left."""
    schedulers = [
        scheduler
        for scheduler in (
            getattr(tracker, "_scheduler", None),
            getattr(tracker, "_scheduler_monitor_power", None),
        )
        if scheduler is not None
    ]
    tracker.stop()
    deadline = time.monotonic() + _JOIN_TIMEOUT_S
    while True:
        for scheduler in schedulers:
            scheduler.stop()
        alive = [
            thread
            for thread in threading.enumerate()
            if getattr(getattr(thread, "function", None), "__self__", None) in schedulers
        ]
        if not alive or time.monotonic() > deadline:
            return
        for thread in alive:
            thread.join(timeout=0.1)


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


def _not_measured(reason: str) -> dict[str, Any]:
    return {"tool": None, "reason": reason}


def _country(code: str | None) -> str | None:
    """``code`` (else ``$DLSUITE_COUNTRY``) upper-cased and checked against CodeCarbon's grid
    data when it is installed; None when neither is set."""
    source = "country_iso_code"
    if code is None:
        code, source = os.environ.get(COUNTRY_ENV) or None, COUNTRY_ENV
    if code is None:
        return None
    code = code.strip().upper()
    if not re.fullmatch(r"[A-Z]{3}", code):
        raise ValueError(
            f"{source} must be an ISO 3166-1 alpha-3 country code such as FRA, DEU or USA. "
            f"Received: {code!r}"
        )
    try:
        from codecarbon.input import DataSource
    except ImportError:  # checked when measuring is possible
        return code
    if code not in DataSource().get_global_energy_mix_data():
        raise ValueError(
            f"{source}={code!r}: CodeCarbon has no grid data for this country; set an ISO 3166-1 "
            f"alpha-3 code it knows (FRA, DEU, USA, ...) or unset it for the world average"
        )
    return code


def _devices(tracker: Any) -> list[tuple[str, bool, str]]:
    """``(device, measured, how)`` for each device CodeCarbon tracks (its ``_hardware`` list:
    CodeCarbon 3 keeps the tracking mode there only)."""
    devices = []
    for hardware in getattr(tracker, "_hardware", []):
        kind = type(hardware).__name__
        if kind == "CPU":
            mode = getattr(hardware, "_mode", None)
            if mode in _CPU_COUNTERS:
                devices.append(("CPU", True, f"read from {_CPU_COUNTERS[mode]}"))
            else:
                tdp = getattr(hardware, "_tdp", None)
                basis = "CPU load x" if mode == "cpu_load" else "a fixed share of"
                devices.append(
                    (
                        "CPU",
                        False,
                        f"{basis} its TDP ({tdp} W, {getattr(hardware, '_model', '?')}): no "
                        "readable RAPL or other power counter",
                    )
                )
        elif kind == "GPU":
            devices.append(("GPU", True, "read from NVML (NVIDIA) or AMD SMI"))
        elif kind in ("AppleSiliconChip", "Raspberry"):
            part = getattr(hardware, "chip_part", "CPU")
            devices.append((part, True, f"read from the {kind} power interface"))
        elif kind == "RAM":
            devices.append(("RAM", False, "CodeCarbon's RAM power model"))
        else:
            devices.append((kind, False, "unknown CodeCarbon device"))
    return devices


def _measured(tracker: Any, data: Any, measure_power_secs: float) -> dict[str, Any]:
    """``result`` from CodeCarbon's final `EmissionsData` of a run."""
    devices = _devices(tracker)
    compute = [measured for device, measured, _ in devices if device in ("CPU", "GPU")]
    method = (
        "measured"
        if compute and all(compute)
        else "partly_measured"
        if any(compute)
        else "estimated"
    )
    detail = [
        (device, f"{device}: {'measured' if measured else 'estimated'}, {how}")
        for device, measured, how in devices
    ]
    if not any(device == "GPU" for device, _, _ in devices):
        detail.append(("GPU", "GPU: none found"))
    energy = float(data.energy_consumed)
    co2e = float(data.emissions)
    return {
        "tool": TOOL,
        "version": data.codecarbon_version,
        "method": method,
        "method_detail": "; ".join(text for _, text in sorted(detail)),
        "energy_kwh": energy,
        "cpu_energy_kwh": float(data.cpu_energy),
        "gpu_energy_kwh": float(data.gpu_energy),
        "ram_energy_kwh": float(data.ram_energy),
        "co2e_kg": co2e,
        "duration_s": float(data.duration),
        "cpu_power_w": float(data.cpu_power),
        "gpu_power_w": float(data.gpu_power),
        "ram_power_w": float(data.ram_power),
        "pue": float(data.pue),
        "country_iso_code": data.country_iso_code,
        "grid_intensity_kgco2e_per_kwh": co2e / energy if energy > 0 else None,
        "tracking_mode": data.tracking_mode,
        "measure_power_secs": measure_power_secs,
        "cpu_model": data.cpu_model,
        "gpu_model": data.gpu_model or None,
    }
