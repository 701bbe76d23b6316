"""Unit tests of the server's config parsing and flag handling (no server process)."""

from __future__ import annotations

import argparse

import pytest

from serving.server import commands, config


def test_model_config_round_trip(tmp_path):
    specs = (
        config.ModelSpec("a", "/m/a", config.VersionPolicy("all"), (("stable", 1),)),
        config.ModelSpec("b", "/m/b", config.VersionPolicy("latest", num_versions=2)),
        config.ModelSpec("c", "/m/c", config.VersionPolicy("specific", versions=(3, 5))),
    )
    path = tmp_path / "models.config"
    path.write_text(config.model_config_text(specs))
    assert config.read_model_config_file(path) == specs


def test_version_policies_select():
    assert config.VersionPolicy().select([1, 2, 3]) == {3}
    assert config.VersionPolicy("latest", 2).select([1, 2, 3]) == {2, 3}
    assert config.VersionPolicy("all").select([1, 2]) == {1, 2}
    assert config.VersionPolicy("specific", versions=(1, 9)).select([1, 2]) == {1}
    assert config.VersionPolicy().select([]) == set()


@pytest.mark.parametrize("text, match", [
    ('model_config_list { config { name: "../x" base_path: "/m" } }', "model name"),
    ('model_config_list { config { name: "a" base_path: "/m" } config { name: "a" base_path: "/n" } }', "twice"),
    ('model_config_list { config { name: "a" } }', "base_path"),
    ('model_config_list { }', "no models"),
    ('model_config_list { config { nme: "a" } }', "ModelServerConfig"),
])
def test_model_config_errors(text, match):
    with pytest.raises(ValueError, match=match):
        config.parse_model_config_text(text)


def test_batching_and_monitoring_files(tmp_path):
    options = config.BatchingOptions(max_batch_size=8, batch_timeout_micros=500, allowed_batch_sizes=(4, 8))
    (tmp_path / "b").write_text(config.batching_parameters_text(options))
    assert config.read_batching_parameters(tmp_path / "b") == options
    (tmp_path / "m").write_text(config.monitoring_config_text())
    assert config.read_monitoring_config(tmp_path / "m") == "/monitoring/prometheus/metrics"
    (tmp_path / "off").write_text("prometheus_config { enable: false }")
    assert config.read_monitoring_config(tmp_path / "off") is None
    (tmp_path / "bad").write_text("max_batch_size { value: 8 }\nallowed_batch_sizes: 4\n")
    with pytest.raises(ValueError, match="allowed_batch_sizes"):
        config.read_batching_parameters(tmp_path / "bad")


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    commands.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_serve_flags(tmp_path):
    (tmp_path / "m" / "1").mkdir(parents=True)
    options = commands.options_from_args(_args("--model_name=m", f"--model_base_path={tmp_path / 'm'}"))
    assert options.port == 8500 and options.rest_api_port == 8501
    assert options.models[0].name == "m" and options.batching is None and options.prometheus_path is None
    assert options.access_log is False
    assert commands.options_from_args(_args(f"--model_base_path={tmp_path / 'm'}", "--access_log")).access_log
    with pytest.raises(ValueError, match="model_base_path"):
        commands.options_from_args(_args())
    with pytest.raises(ValueError, match="model name"):
        commands.options_from_args(_args("--model_name=../x", f"--model_base_path={tmp_path}"))
    with pytest.raises(ValueError, match="enable_batching"):
        commands.options_from_args(_args(f"--model_base_path={tmp_path}", "--batching_parameters_file=x"))


def test_tfserving_backend_argv_and_missing_binary(tmp_path, monkeypatch):
    args = _args("--model_name=m", f"--model_base_path={tmp_path}", "--enable_batching", "--port=9000")
    argv = commands.tfserving_argv(args, "/bin/tensorflow_model_server")
    assert "--port=9000" in argv and "--enable_batching=true" in argv and "--model_name=m" in argv
    assert not any(a.startswith("--max_request_size_bytes") for a in argv)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="tensorflow_model_server"):
        commands.run(_args("--backend=tfserving", f"--model_base_path={tmp_path}"))
