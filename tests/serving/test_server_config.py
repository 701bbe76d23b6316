"""Unit tests of the server's config parsing and flag handling (no server process)."""

from __future__ import annotations

import argparse

import pytest

from dlsuite.cli import serve
from dlsuite.serving.server import app, config


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


@pytest.mark.parametrize(
    "text, match",
    [
        ('model_config_list { config { name: "../x" base_path: "/m" } }', "model name"),
        (
            'model_config_list { config { name: "a" base_path: "/m" } config { name: "a" '
            'base_path: "/n" } }',
            "twice",
        ),
        ('model_config_list { config { name: "a" } }', "base_path"),
        ("model_config_list { }", "no models"),
        ('model_config_list { config { nme: "a" } }', "ModelServerConfig"),
    ],
)
def test_model_config_errors(text, match):
    with pytest.raises(ValueError, match=match):
        config.parse_model_config_text(text)


def test_batching_and_monitoring_files(tmp_path):
    options = config.BatchingOptions(
        max_batch_size=8, batch_timeout_micros=500, allowed_batch_sizes=(4, 8)
    )
    (tmp_path / "b").write_text(config.batching_parameters_text(options))
    assert config.read_batching_parameters(tmp_path / "b") == options
    (tmp_path / "m").write_text(config.monitoring_config_text())
    assert config.read_monitoring_config(tmp_path / "m") == "/monitoring/prometheus/metrics"
    (tmp_path / "off").write_text("prometheus_config { enable: false }")
    assert config.read_monitoring_config(tmp_path / "off") is None
    (tmp_path / "bad").write_text("max_batch_size { value: 8 }\nallowed_batch_sizes: 4\n")
    with pytest.raises(ValueError, match="allowed_batch_sizes"):
        config.read_batching_parameters(tmp_path / "bad")


def _args(*argv: str) -> dict:
    """The flags of `dlsuite serve` for ``argv``, as `config.server_options` takes them."""
    parser = argparse.ArgumentParser()
    serve.add_arguments(parser)
    return vars(parser.parse_args(list(argv)))


def test_serve_flags(tmp_path):
    (tmp_path / "m" / "1").mkdir(parents=True)
    options = config.server_options(_args("--model_name=m", f"--model_base_path={tmp_path / 'm'}"))
    assert options.port == 8500 and options.rest_api_port == 8501
    assert (
        options.models[0].name == "m"
        and options.batching is None
        and options.prometheus_path is None
    )
    assert options.access_log is False
    assert config.server_options(
        _args(f"--model_base_path={tmp_path / 'm'}", "--access_log")
    ).access_log
    with pytest.raises(ValueError, match="model_base_path"):
        config.server_options(_args())
    with pytest.raises(ValueError, match="model name"):
        config.server_options(_args("--model_name=../x", f"--model_base_path={tmp_path}"))
    with pytest.raises(ValueError, match="enable_batching"):
        config.server_options(
            _args(f"--model_base_path={tmp_path}", "--batching_parameters_file=x")
        )


def test_tfserving_backend_argv_and_missing_binary(tmp_path, monkeypatch):
    args = _args(
        "--model_name=m", f"--model_base_path={tmp_path}", "--enable_batching", "--port=9000"
    )
    argv = config.tfserving_argv(args, "/bin/tensorflow_model_server")
    assert "--port=9000" in argv and "--enable_batching=true" in argv and "--model_name=m" in argv
    assert not any(a.startswith("--max_request_size_bytes") for a in argv)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="tensorflow_model_server"):
        app.serve(_args("--backend=tfserving", f"--model_base_path={tmp_path}"))
    ssl = tmp_path / "ssl.config"
    argv = config.tfserving_argv(
        _args(f"--model_base_path={tmp_path}", f"--ssl_config_file={ssl}"), "tms"
    )
    assert f"--ssl_config_file={ssl}" in argv  # TF Serving has TLS too
    with pytest.raises(ValueError, match="--trusted_signers is a dlsuite server protection"):
        config.tfserving_argv(
            _args(f"--model_base_path={tmp_path}", "--trusted_signers=k.pem"), "t"
        )


def test_limits_overload_and_security_flags(tmp_path):
    base = f"--model_base_path={tmp_path}"
    options = config.server_options(_args(base))
    assert options.limits == config.RequestLimits() and options.limits.max_batch_rows == 1024
    assert options.overload == config.OverloadOptions()
    assert options.security.model_roots == (str(tmp_path.parent.resolve()),)
    assert not options.security.enable_model_management and options.security.tls is None
    options = config.server_options(
        _args(base, "--max_json_depth=8", "--rest_read_timeout_in_ms=5")
    )
    assert options.limits.max_json_depth == 8 and options.overload.rest_read_timeout_in_ms == 5
    with pytest.raises(ValueError, match="max_tensor_elements"):
        config.server_options(_args(base, "--max_tensor_elements=0"))
    (tmp_path / "token").write_text("\n")
    with pytest.raises(ValueError, match="is empty"):
        config.server_options(_args(base, f"--auth_token_file={tmp_path / 'token'}"))
    (tmp_path / "token").write_text("s3cret\n")
    options = config.server_options(_args(base, f"--auth_token_file={tmp_path / 'token'}"))
    assert options.security.auth_token == "s3cret" and "s3cret" not in repr(options)
    (tmp_path / "keys.pem").write_text("not a key")
    with pytest.raises(ValueError, match="holds no PEM public key"):
        config.server_options(_args(base, f"--trusted_signers={tmp_path / 'keys.pem'}"))
    (tmp_path / "ssl.config").write_text('server_key: "k"')
    with pytest.raises(ValueError, match="needs server_key and server_cert"):
        config.server_options(_args(base, f"--ssl_config_file={tmp_path / 'ssl.config'}"))
    (tmp_path / "ssl.config").write_text('server_key: "k" server_cert: "c" client_verify: true')
    with pytest.raises(ValueError, match="client_verify needs custom_ca"):
        config.server_options(_args(base, f"--ssl_config_file={tmp_path / 'ssl.config'}"))
    (tmp_path / "ssl.config").write_text('server_key: "k" server_cert: "c" custom_ca: "a"')
    tls = config.server_options(_args(base, f"--ssl_config_file={tmp_path / 'ssl.config'}"))
    assert tls.security.tls == config.TlsOptions("k", "c", "a", False)
    assert "server_key" not in repr(tls.security.tls)


def test_limit_cors_label_and_adaptive_flags(tmp_path):
    base = f"--model_base_path={tmp_path}"
    options = config.server_options(_args(base))
    assert options.grpc_max_receive_bytes == options.max_request_bytes
    assert (
        options.cors_allowed_origins == ()
        and not options.allow_version_labels_for_unavailable_models
    )
    options = config.server_options(
        _args(
            base,
            "--max_request_size_bytes=5000",
            "--grpc_max_receive_message_bytes=7000",
            "--grpc_max_send_message_bytes=9000",
            "--cors_allowed_origins=http://a, http://b",
            "--allow_version_labels_for_unavailable_models",
            "--enable_batching",
            "--adaptive_batching",
        )
    )
    assert (
        options.max_request_bytes,
        options.grpc_max_receive_bytes,
        options.grpc_max_send_bytes,
    ) == (5000, 7000, 9000)
    assert options.cors_allowed_origins == ("http://a", "http://b") and options.batching.adaptive
    assert options.allow_version_labels_for_unavailable_models
    with pytest.raises(ValueError, match="grpc_max_send_message_bytes"):
        config.server_options(_args(base, "--grpc_max_send_message_bytes=10"))
    with pytest.raises(ValueError, match="enable_batching"):
        config.server_options(_args(base, "--adaptive_batching"))
    argv = config.tfserving_argv(
        _args(base, "--allow_version_labels_for_unavailable_models"), "tms"
    )
    assert "--allow_version_labels_for_unavailable_models=true" in argv


def test_thread_pool_and_process_flags(tmp_path):
    base = f"--model_base_path={tmp_path}"
    options = config.server_options(_args(base))
    assert options.session == config.SessionOptions(0, 0) and options.num_processes == 1
    options = config.server_options(
        _args(
            base,
            "--tensorflow_intra_op_parallelism=1",
            "--tensorflow_inter_op_parallelism=2",
            "--num_processes=3",
        )
    )
    assert options.session == config.SessionOptions(intra_op=1, inter_op=2)
    assert options.num_processes == 3
    with pytest.raises(ValueError, match="--tensorflow_intra_op_parallelism"):
        config.server_options(_args(base, "--tensorflow_intra_op_parallelism=-1"))
    with pytest.raises(ValueError, match="--num_processes"):
        config.server_options(_args(base, "--num_processes=0"))
    with pytest.raises(ValueError, match="fixed --port and --rest_api_port"):
        config.server_options(_args(base, "--num_processes=2", "--port=0"))
    argv = config.tfserving_argv(_args(base, "--tensorflow_inter_op_parallelism=4"), "tms")
    assert "--tensorflow_inter_op_parallelism=4" in argv
    assert "--tensorflow_intra_op_parallelism=0" in argv


def test_logging_config_parsed_and_written_back(tmp_path):
    text = (
        f'model_config_list {{ config {{ name: "m" base_path: "{tmp_path}" logging_config {{ '
        'log_collector_config { type: "file" filename_prefix: "logs/m" } '
        "sampling_config { sampling_rate: 0.25 } } } }"
    )
    (spec,) = config.parse_model_config_text(text, tmp_path)
    assert spec.logging == config.RequestLogging(str(tmp_path / "logs" / "m"), 0.25)
    assert config.parse_model_config_text(config.model_config_text([spec])) == (spec,)
    with pytest.raises(ValueError, match="type must be 'file'"):
        config.parse_model_config_text(text.replace('"file"', '"kafka"'))


def test_labels_on_unavailable_versions_need_the_flag(tmp_path):
    from dlsuite.serving.server.errors import ServingError
    from dlsuite.serving.server.manager import ModelManager

    models = (config.ModelSpec("m", str(tmp_path), labels=(("canary", 2),)),)
    strict = ModelManager(models)
    strict.reconcile()
    with pytest.raises(ServingError, match="not currently available"):
        strict.check_labels()
    allowed = ModelManager(models, allow_unavailable_labels=True)
    allowed.reconcile()
    allowed.check_labels()
    with pytest.raises(ServingError, match="Specific"):
        with allowed.servable("m", label="canary"):
            pass
