"""Loading as tensorflow_model_server loads: zero-padded version folders, TF1 SavedModels, retries.

Each test starts its own `dlsuite serve` process over a repository it lays out itself. The models
are TF Serving's own test SavedModels (``half_plus_two``: y = x/2 + 2), recreated with TF1 APIs by
`tests.serving.tfserving_models`, in folders named as in TF Serving's repository (``00000123``).
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path

import pytest
import requests

from dlsuite.serving.repository import list_versions, parse_version_dir_name, version_dirs
from dlsuite.serving.server.config import ModelSpec
from dlsuite.serving.server.manager import ModelManager
from tests.serving.conftest import ServerProcess, wait_until
from tests.serving.tfserving_models import write_half_plus_tf1


@pytest.fixture(scope="module")
def tf1_version(tmp_path_factory) -> Path:
    """One TF1 ``half_plus_two`` SavedModel, written once and copied where a test needs it."""
    return write_half_plus_tf1(tmp_path_factory.mktemp("tf1") / "half_plus_two", b=2.0, c=3.0)


def _status(server: ServerProcess, model: str) -> dict[str, dict]:
    resp = requests.get(f"{server.rest}/v1/models/{model}", timeout=10)
    return {s["version"]: s for s in resp.json().get("model_version_status", [])}


def _predict(server: ServerProcess, path: str, instances: list) -> requests.Response:
    return requests.post(
        f"{server.rest}/v1/models/{path}:predict", json={"instances": instances}, timeout=30
    )


def test_version_folder_names_follow_tf_serving(tmp_path):
    # TF Serving: a folder is a version when its whole name parses as a non-negative int64
    for name, version in [
        ("00000123", 123),
        ("124", 124),
        ("0", 0),
        ("9223372036854775807", 2**63 - 1),
    ]:
        assert parse_version_dir_name(name) == version
    for name in ["9223372036854775808", "-1", "12a", " 12", "1.0", "tflite", ".tmp-3", ""]:
        assert parse_version_dir_name(name) is None, name
    for name in ["00000123", "00000124", "tflite", ".tmp-125", "126"]:
        (tmp_path / name).mkdir()
    (tmp_path / "127").write_text("a file, not a folder")
    (tmp_path / "123").mkdir()  # the same version twice: the name that sorts first wins
    assert list_versions(tmp_path) == [123, 124, 126]
    assert version_dirs(tmp_path)[123] == tmp_path / "00000123"


def test_tf1_model_in_zero_padded_folders_serves(tf1_version, tmp_path):
    base = tmp_path / "saved_model_half_plus_two_2_versions"
    for version in ("00000123", "00000124"):
        shutil.copytree(tf1_version, base / version)
    server = ServerProcess(
        [
            "--model_name=half_plus_two",
            f"--model_base_path={base}",
            "--file_system_poll_wait_seconds=0",
        ],
        tmp_path / "server.log",
    )
    try:
        server.wait_ready("half_plus_two")
        # latest-1 policy: version 124 serves, named by its number although its folder is 00000124
        assert {v: s["state"] for v, s in _status(server, "half_plus_two").items()} == {
            "124": "AVAILABLE"
        }
        # api_rest.md's first example: {"instances": [1.0, 2.0, 5.0]}
        #   -> {"predictions": [2.5, 3.0, 4.5]}
        resp = _predict(server, "half_plus_two/versions/124", [1.0, 2.0, 5.0])
        assert resp.status_code == 200 and resp.json() == {"predictions": [2.5, 3.0, 4.5]}
    finally:
        server.stop()


def test_half_written_version_becomes_available_within_the_retry_window(tf1_version, tmp_path):
    base = tmp_path / "model"
    shutil.copytree(tf1_version, base / "00000001")
    server = ServerProcess(
        [
            "--model_name=m",
            f"--model_base_path={base}",
            "--file_system_poll_wait_seconds=1",
            "--max_num_load_retries=20",
            "--load_retry_interval_micros=500000",
        ],
        tmp_path / "server.log",
    )
    try:
        server.wait_ready("m")
        # A copy caught half-way: the folder exists, its saved_model.pb does not yet.
        half = base / "00000002"
        half.mkdir()
        shutil.copytree(tf1_version / "variables", half / "variables")
        assert wait_until(lambda: _status(server, "m").get("2", {}).get("state") == "LOADING")
        time.sleep(1.5)  # at least two failed attempts, each retried rather than given up
        assert _status(server, "m")["2"]["state"] == "LOADING"
        assert _predict(server, "m", [1.0]).json() == {"predictions": [2.5]}  # version 1 serves
        # The copy completes: a retry finds the whole SavedModel and the version becomes AVAILABLE.
        shutil.copy(tf1_version / "saved_model.pb", half / "saved_model.pb.tmp")
        shutil.copytree(tf1_version / "assets", half / "assets")
        os.rename(half / "saved_model.pb.tmp", half / "saved_model.pb")
        assert wait_until(lambda: _status(server, "m").get("2", {}).get("state") == "AVAILABLE"), (
            server.log()
        )
        assert _status(server, "m")["2"]["status"] == {"error_code": "OK", "error_message": ""}
        assert _predict(server, "m/versions/2", [4.0]).json() == {"predictions": [4.0]}
        # version 1 is unloaded once version 2 (the policy's latest) serves
        assert wait_until(lambda: _status(server, "m").get("1", {}).get("state") == "END")
    finally:
        server.stop()
    assert "attempt 1 of 21" in server.log_path.read_text()


def test_version_that_stays_broken_is_reported_and_never_replaces_the_serving_one(
    tf1_version, tmp_path
):
    base = tmp_path / "model"
    shutil.copytree(tf1_version, base / "1")
    server = ServerProcess(
        [
            "--model_name=m",
            f"--model_base_path={base}",
            "--file_system_poll_wait_seconds=1",
            "--max_num_load_retries=2",
            "--load_retry_interval_micros=200000",
        ],
        tmp_path / "server.log",
    )
    try:
        server.wait_ready("m")
        broken = base / "2"
        broken.mkdir()
        (broken / "saved_model.pb").write_bytes(b"not a SavedModel")
        assert wait_until(lambda: _status(server, "m").get("2", {}).get("state") == "END"), (
            server.log()
        )
        status = _status(server, "m")
        assert status["2"]["status"]["error_code"] != "OK"
        assert status["2"]["status"]["error_message"]
        assert status["1"]["state"] == "AVAILABLE"
        assert _predict(server, "m", [1.0]).json() == {"predictions": [2.5]}
        assert _predict(server, "m/versions/2", [1.0]).status_code == 404
        time.sleep(1.5)  # given up: no further attempts, however often the folder is scanned
        assert _status(server, "m")["2"]["state"] == "END"
    finally:
        server.stop()
    log = server.log_path.read_text()
    assert "attempt 1 of 3" in log and "attempt 2 of 3" in log and "attempt 3 of 3" not in log
    assert log.count("failed to load m version 2:") == 1


def test_no_retries_gives_up_at_once(tf1_version, tmp_path):
    base = tmp_path / "model"
    shutil.copytree(tf1_version, base / "1")
    (base / "2").mkdir()  # empty: fails to load
    server = ServerProcess(
        [
            "--model_name=m",
            f"--model_base_path={base}",
            "--file_system_poll_wait_seconds=0",
            "--max_num_load_retries=0",
        ],
        tmp_path / "server.log",
    )
    try:
        server.wait_ready("m")
        # the latest-1 policy wants version 2 only; it failed once and was given up
        status = _status(server, "m")
        assert status["2"]["state"] == "END" and status["2"]["status"]["error_code"] != "OK"
    finally:
        server.stop()
    log = server.log_path.read_text()
    assert log.count("failed to load m version 2:") == 1 and "retrying" not in log


def test_keras_model_export_serves_as_in_memory(tmp_path):
    """A SavedModel made by Keras 3's own ``model.export()`` (not by the suite) answers as
    the model."""
    import keras
    import numpy as np

    keras.utils.set_random_seed(3)
    inputs = keras.Input((4,), name="features")
    hidden = keras.layers.Dense(8, activation="relu")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="probs")(hidden))
    model.export(
        str(tmp_path / "keras_model" / "0000000007")
    )  # serve_default: features -> output_0
    rows = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    expected = model.predict(rows, verbose=0)
    server = ServerProcess(
        [
            "--model_name=keras_model",
            f"--model_base_path={tmp_path / 'keras_model'}",
            "--file_system_poll_wait_seconds=0",
        ],
        tmp_path / "server.log",
    )
    try:
        server.wait_ready("keras_model")
        assert list(_status(server, "keras_model")) == ["7"]
        resp = requests.post(
            f"{server.rest}/v1/models/keras_model:predict",
            timeout=30,
            json={"signature_name": "serve", "instances": rows.tolist()},
        )
        assert resp.status_code == 200, resp.text
        np.testing.assert_allclose(
            np.array(resp.json()["predictions"]), expected, rtol=1e-5, atol=1e-6
        )
    finally:
        server.stop()


class _FakeServable:
    """Stands in for a loaded version: counts requests holding it, records when it is closed."""

    def __init__(self, name: str, version: int) -> None:
        self.name, self.version, self.batcher = name, version, None
        self.held = 0
        self.closed = threading.Event()

    def acquire(self) -> None:
        self.held += 1

    def release(self) -> None:
        self.held -= 1

    def drain_and_close(self, timeout: float | None = None) -> None:
        self.closed.set()


class _SlowLoads(ModelManager):
    """A manager whose loads make fake servables and wait until the test lets them finish."""

    def __init__(self, models: tuple[ModelSpec, ...]) -> None:
        super().__init__(models, max_load_retries=0)
        self.started, self.finish = threading.Event(), threading.Event()
        self.loaded: list[_FakeServable] = []

    def _load_servable(self, name: str, version: int, path: Path) -> _FakeServable:
        self.started.set()
        assert self.finish.wait(30)
        self.loaded.append(_FakeServable(name, version))
        return self.loaded[-1]


@pytest.mark.parametrize("change", ["removed", "kept", "moved"])
def test_version_whose_model_is_removed_while_it_loads_is_unloaded_when_it_finishes(
    tmp_path, change
):
    for folder in ("m", "m2"):
        (tmp_path / folder / "1").mkdir(parents=True)
    spec = ModelSpec("m", str(tmp_path / "m"))
    new_config = {
        "removed": (),
        "kept": (spec,),
        "moved": (ModelSpec("m", str(tmp_path / "m2")),),  # same name, another base path
    }[change]
    manager = _SlowLoads((spec,))
    loading = threading.Thread(target=manager.reconcile)
    loading.start()
    assert manager.started.wait(30)
    # HandleReloadConfigRequest while version 1 loads: the new config is in place at once, its
    # reconcile waits for the load in progress
    reload = threading.Thread(target=manager.reload_config, args=(new_config,))
    reload.start()
    assert wait_until(lambda: manager.model_names() == [m.name for m in new_config], timeout=10)
    manager.finish.set()
    loading.join(30)
    reload.join(30)
    first = manager.loaded[0]
    if change == "kept":
        assert [s.state for s in manager.status("m")] == ["AVAILABLE"]
        assert not first.closed.is_set()
        with manager.servable("m") as servable:
            assert servable is first
    else:
        assert first.closed.wait(10)  # unloaded once its load finished, not leaked
    if change == "moved":  # the model's new base path has its own version 1, loaded afresh
        assert len(manager.loaded) == 2 and [s.state for s in manager.status("m")] == ["AVAILABLE"]
        with manager.servable("m") as servable:
            assert servable is manager.loaded[1]
