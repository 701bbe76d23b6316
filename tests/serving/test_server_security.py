"""Who may use and manage the server: TLS on both ports (mutual, from an ``SSLConfig``), the
bearer token (health excepted), ``HandleReloadConfigRequest`` only with
``--enable_model_management`` and within the start-up roots and ``--log_dir``, and file-system
paths kept out of answers unless ``--expose_paths``.

Two real servers: ``secured`` (mutual TLS, token, management, CORS; paths hidden) and ``plain``
(defaults, ``--expose_paths``). The certificates are made here with ``cryptography``.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
from pathlib import Path

import grpc
import pytest
import requests
from google.protobuf import text_format
from tensorflow_serving.apis import (
    get_model_status_pb2,
    model_management_pb2,
    model_service_pb2_grpc,
    prediction_service_pb2_grpc,
)

from dlsuite.serving.server import health_grpc, v2_grpc
from dlsuite.serving.server.config import ModelSpec, SecurityOptions
from dlsuite.serving.server.errors import ServingError
from dlsuite.serving.server.security import ServerSecurity
from tests.serving.conftest import copy_version, predict_request, start_server, wait_until

pytestmark = pytest.mark.slow
TOKEN = "s3cret-token"
ORIGIN = "http://app.example"


# --- certificates --------------------------------------------------------------------------------
def _certificate(name: str, key, issuer_name: str, issuer_key, *, ca: bool = False, server=False):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    else:
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256())


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> dict[str, Path]:
    """A CA, a server certificate (localhost, 127.0.0.1) and a client certificate, as PEM files."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    folder = tmp_path_factory.mktemp("pki")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _certificate("dlsuite test CA", ca_key, "dlsuite test CA", ca_key, ca=True)
    files = {"ca": folder / "ca.pem"}
    files["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    for name in ("server", "client"):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _certificate(name, key, "dlsuite test CA", ca_key, server=name == "server")
        files[name] = folder / f"{name}.pem"
        files[name].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        files[f"{name}_key"] = folder / f"{name}.key"
        files[f"{name}_key"].write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    return files


# --- the servers ---------------------------------------------------------------------------------
def config_text(models: Path, extra: str = "") -> str:
    return f"""model_config_list {{
  config {{ name: "hp" base_path: "{models}/hp" model_platform: "tensorflow" }}
  config {{ name: "broken" base_path: "{models}/broken" model_platform: "tensorflow" }}
  {extra}
}}
"""


def write_repo(root: Path, golden_versions) -> Path:
    """``root/models`` with ``hp`` (version 1) and ``broken`` (an empty version 1 that fails to
    load: its error names its folder); returns the config file."""
    models = root / "models"
    copy_version(golden_versions["two"], models / "hp", 1)
    (models / "broken" / "1").mkdir(parents=True)
    (root / "models.config").write_text(config_text(models))
    return root / "models.config"


def grpc_call(channel, service: str, method: str, request, response_type, **kwargs):
    call = channel.unary_unary(
        f"/{service}/{method}",
        request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=response_type.FromString,
    )
    return call(request, timeout=30, **kwargs)


@pytest.fixture(scope="module")
def secured(golden_versions, pki, tmp_path_factory):
    """Mutual TLS on both ports, a bearer token, model management with a --log_dir, CORS."""
    root = tmp_path_factory.mktemp("secured")
    config = write_repo(root, golden_versions)
    ssl_config = root / "ssl.config"
    ssl_config.write_text(
        f"server_key: {json.dumps(pki['server_key'].read_text())}\n"
        f"server_cert: {json.dumps(pki['server'].read_text())}\n"
        f"custom_ca: {json.dumps(pki['ca'].read_text())}\n"
        "client_verify: true\n"
    )
    (root / "token").write_text(TOKEN + "\n")
    (root / "logs").mkdir()
    srv = start_server(
        [
            f"--model_config_file={config}",
            "--max_num_load_retries=0",
            f"--ssl_config_file={ssl_config}",
            f"--auth_token_file={root / 'token'}",
            "--enable_model_management",
            f"--log_dir={root / 'logs'}",
            f"--cors_allowed_origins={ORIGIN}",
        ],
        root / "server.log",
        "hp",
        scheme="https",
        verify=str(pki["ca"]),
        cert=(str(pki["client"]), str(pki["client_key"])),
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    srv.root = root
    credentials = grpc.ssl_channel_credentials(
        root_certificates=pki["ca"].read_bytes(),
        private_key=pki["client_key"].read_bytes(),
        certificate_chain=pki["client"].read_bytes(),
    )
    srv.channel = grpc.secure_channel(srv.grpc_target, credentials)
    yield srv
    srv.channel.close()
    srv.stop()


@pytest.fixture(scope="module")
def plain(golden_versions, tmp_path_factory):
    """The defaults (no TLS, no token, no management) with --expose_paths."""
    root = tmp_path_factory.mktemp("plain")
    config = write_repo(root, golden_versions)
    srv = start_server(
        [f"--model_config_file={config}", "--max_num_load_retries=0", "--expose_paths"],
        root / "server.log",
        "hp",
    )
    srv.root = root
    srv.channel = grpc.insecure_channel(srv.grpc_target)
    yield srv
    srv.channel.close()
    srv.stop()


def authorized(server) -> dict:
    """``requests`` options of a client the secured server accepts (its CA, certificate, token)."""
    return dict(server.requests_options)


def tls_only(server) -> dict:
    """The secured server's TLS options without the token."""
    return {**server.requests_options, "headers": {}}


BEARER = (("authorization", f"Bearer {TOKEN}"),)


# --- REST ----------------------------------------------------------------------------------------
def test_rest_needs_the_token_except_for_health(secured):
    ok = requests.post(
        f"{secured.rest}/v1/models/hp:predict",
        json={"instances": [1.0]},
        timeout=30,
        **authorized(secured),
    )
    assert (ok.status_code, ok.json()) == (200, {"predictions": [2.5]})
    assert requests.get(f"{secured.rest}/metrics", timeout=10, **authorized(secured)).ok
    for path in ("/v1/models/hp", "/v1/models/hp:predict", "/v2/models/hp", "/metrics", "/nope"):
        missing = requests.post if path.endswith(":predict") else requests.get
        resp = missing(f"{secured.rest}{path}", timeout=10, **tls_only(secured))
        assert resp.status_code == 401, (path, resp.text)
        assert resp.headers["WWW-Authenticate"] == "Bearer"
        assert "Missing bearer token" in resp.json()["error"]
    for value in (f"Bearer {TOKEN}x", f"Basic {TOKEN}", "Bearer", TOKEN):
        resp = requests.get(
            f"{secured.rest}/v1/models/hp",
            timeout=10,
            **{**tls_only(secured), "headers": {"Authorization": value}},
        )
        assert resp.status_code == 401, value
        assert resp.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
        assert resp.json() == {
            "error": "Invalid bearer token (the one in the server's --auth_token_file is expected)"
        }
    # health answers without a token (readiness is 503 / 400: "broken" failed to load)
    for path, status in (
        ("/v1/health/live", 200),
        ("/v2/health/live", 200),
        ("/v1/health/ready", 503),
        ("/v2/health/ready", 400),
    ):
        resp = requests.get(f"{secured.rest}{path}", timeout=10, **tls_only(secured))
        assert resp.status_code == status, (path, resp.text)
    # a CORS preflight carries no Authorization header: it is answered before the token check
    pre = requests.options(
        f"{secured.rest}/v1/models/hp:predict",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
        timeout=10,
        verify=tls_only(secured)["verify"],
        cert=tls_only(secured)["cert"],
    )
    assert pre.status_code == 204 and pre.headers["Access-Control-Allow-Origin"] == ORIGIN


def test_rest_needs_tls_and_a_client_certificate(secured, pki):
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{secured.rest_port}/v1/health/live", timeout=10)
    with pytest.raises(requests.ConnectionError):  # SSLError is one
        requests.get(f"{secured.rest}/v1/health/live", verify=str(pki["ca"]), timeout=10)
    with pytest.raises(requests.exceptions.SSLError):  # a server certificate of another CA
        requests.get(f"{secured.rest}/v1/health/live", timeout=10)


# --- gRPC ----------------------------------------------------------------------------------------
def test_grpc_needs_the_token_except_for_health(secured):
    stub = prediction_service_pb2_grpc.PredictionServiceStub(secured.channel)
    response = stub.Predict(predict_request("hp", [1.0]), timeout=30, metadata=BEARER)
    assert list(response.outputs["y"].float_val) == [2.5]
    m = v2_grpc.messages()
    calls = [
        lambda **kw: stub.Predict(predict_request("hp", [1.0]), timeout=30, **kw),
        lambda **kw: model_service_pb2_grpc.ModelServiceStub(secured.channel).GetModelStatus(
            get_model_status_pb2.GetModelStatusRequest(model_spec={"name": "hp"}), timeout=30, **kw
        ),
        lambda **kw: grpc_call(
            secured.channel,
            v2_grpc.SERVICE,
            "ServerLive",
            m["ServerLiveRequest"](),
            m["ServerLiveResponse"],
            **kw,
        ),
    ]
    for call in calls:
        for metadata in ((), (("authorization", f"Bearer {TOKEN}!"),)):
            with pytest.raises(grpc.RpcError) as info:
                call(metadata=metadata)
            assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
            assert "bearer token" in info.value.details()
    h = health_grpc.messages()
    answer = grpc_call(
        secured.channel,
        health_grpc.SERVICE,
        "Check",
        h["HealthCheckRequest"](service=""),
        h["HealthCheckResponse"],
    )
    assert answer.status == health_grpc.NOT_SERVING  # "broken" failed to load


def test_grpc_needs_tls_and_a_client_certificate(secured, pki):
    h = health_grpc.messages()
    without_cert = grpc.ssl_channel_credentials(root_certificates=pki["ca"].read_bytes())
    for channel in (
        grpc.insecure_channel(secured.grpc_target),
        grpc.secure_channel(secured.grpc_target, without_cert),
    ):
        with channel, pytest.raises(grpc.RpcError) as info:
            grpc_call(
                channel,
                health_grpc.SERVICE,
                "Check",
                h["HealthCheckRequest"](),
                h["HealthCheckResponse"],
            )
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE


# --- paths in answers ----------------------------------------------------------------------------
def _broken_status_message(server, **options) -> str:
    body = requests.get(f"{server.rest}/v1/models/broken", timeout=10, **options).json()
    assert body["model_version_status"][0]["state"] == "END", body
    return body["model_version_status"][0]["status"]["error_message"]


def test_paths_are_hidden_from_answers_but_logged(secured):
    root = str(secured.root)
    message = _broken_status_message(secured, **authorized(secured))
    assert root not in message and "<base_path>/1" in message, message
    ready = requests.get(f"{secured.rest}/v1/health/ready", timeout=10, **tls_only(secured)).text
    assert root not in ready and "<base_path>/1" in ready, ready
    v2_ready = requests.get(f"{secured.rest}/v2/health/ready", timeout=10, **tls_only(secured))
    assert root not in v2_ready.text and "<base_path>" in v2_ready.json()["error"]
    status = model_service_pb2_grpc.ModelServiceStub(secured.channel).GetModelStatus(
        get_model_status_pb2.GetModelStatusRequest(model_spec={"name": "broken"}),
        timeout=30,
        metadata=BEARER,
    )
    grpc_message = status.model_version_status[0].status.error_message
    assert root not in grpc_message and "<base_path>/1" in grpc_message, grpc_message
    assert f"{root}/models/broken/1" in secured.log_path.read_text(errors="replace")


def test_paths_are_shown_with_expose_paths(plain):
    assert f"{plain.root}/models/broken/1" in _broken_status_message(plain)
    ready = requests.get(f"{plain.rest}/v1/health/ready", timeout=10).json()
    assert f"{plain.root}/models/broken/1" in ready["not_ready"]["broken"]


# --- model management ----------------------------------------------------------------------------
def reload(server, text: str, metadata=()) -> None:
    request = model_management_pb2.ReloadConfigRequest()
    text_format.Parse(text, request.config)
    stub = model_service_pb2_grpc.ModelServiceStub(server.channel)
    stub.HandleReloadConfigRequest(request, timeout=60, metadata=metadata)


def served(server, **options) -> list[str]:
    body = requests.get(f"{server.rest}/v1/models", timeout=10, **options).json()
    return sorted(m["name"] for m in body["models"])


def test_management_is_refused_without_the_flag(plain):
    with pytest.raises(grpc.RpcError) as info:
        reload(plain, config_text(plain.root / "models").replace('"broken"', '"other"', 1))
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "--enable_model_management" in info.value.details()
    assert served(plain) == ["broken", "hp"]


def test_management_only_under_the_model_roots_and_log_dir(secured, golden_versions, tmp_path):
    models, logs = secured.root / "models", secured.root / "logs"
    copy_version(golden_versions["three"], models / "hp2", 1)
    outside = copy_version(golden_versions["three"], tmp_path / "outside", 1).parent
    (models / "link").symlink_to(outside, target_is_directory=True)

    def model(name: str, base: str, log: str = "") -> str:
        logging = (
            f'logging_config {{ log_collector_config {{ type: "file" filename_prefix: "{log}" }} '
            "sampling_config { sampling_rate: 1.0 } }"
            if log
            else ""
        )
        return f'config {{ name: "{name}" base_path: "{base}" {logging} }}'

    for extra, why in [
        (model("evil", str(outside)), "is not under the start-up models' folders (<model_root>)"),
        (model("evil", str(models / "link")), "once its symbolic links are resolved"),
        (model("evil", f"{models}/../../{outside.parent.name}/outside"), "contains '..'"),
        (model("evil", str(models / "hp2"), str(tmp_path / "log")), "is not under --log_dir"),
    ]:
        with pytest.raises(grpc.RpcError) as info:
            reload(secured, config_text(models, extra), BEARER)
        assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED, info.value.details()
        assert why in info.value.details()
        assert str(secured.root) not in info.value.details()
        assert served(secured, **authorized(secured)) == ["broken", "hp"]  # unchanged
    reload(secured, config_text(models, model("hp2", str(models / "hp2"), f"{logs}/hp2")), BEARER)
    assert served(secured, **authorized(secured)) == ["broken", "hp", "hp2"]
    assert wait_until(
        lambda: (
            requests.post(
                f"{secured.rest}/v1/models/hp2:predict",
                json={"instances": [1.0]},
                timeout=30,
                **authorized(secured),
            ).json()
            == {"predictions": [3.5]}
        )
    )
    assert list(logs.glob("hp2.*.tfrecord"))


def test_admit_reload_without_log_dir_and_relative_paths(tmp_path, monkeypatch):
    from tensorflow_serving.config import model_server_config_pb2

    def config(text: str):
        return text_format.Parse(text, model_server_config_pb2.ModelServerConfig())

    (tmp_path / "models" / "hp").mkdir(parents=True)
    start = (ModelSpec("hp", str(tmp_path / "models" / "hp")),)
    security = ServerSecurity(
        SecurityOptions(enable_model_management=True, model_roots=(str(tmp_path / "models"),)),
        start,
    )
    logged = config(
        f'model_config_list {{ config {{ name: "hp" base_path: "{tmp_path}/models/hp" '
        'logging_config { log_collector_config { type: "file" filename_prefix: "/tmp/x" } '
        "sampling_config { sampling_rate: 0.5 } } } }"
    )
    with pytest.raises(ServingError, match="only under --log_dir, which the server"):
        security.admit_reload(logged)
    monkeypatch.chdir(tmp_path / "models")  # a relative base path is resolved like the server's
    relative = config('model_config_list { config { name: "hp" base_path: "hp" } }')
    assert [m.base_path for m in security.admit_reload(relative)] == ["hp"]
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ServingError, match="is not under"):
        security.admit_reload(relative)
    assert security.hide_paths(f"{tmp_path}/models/hp/1/x; {tmp_path}/models/hpx") == (
        "<base_path>/1/x; <model_root>/hpx"
    )


# --- the dlsuite predict client ------------------------------------------------------------------
def test_predict_client_over_tls_with_a_token(secured, pki, capsys):
    import argparse

    from dlsuite.cli import predict

    parser = argparse.ArgumentParser()
    predict.register(parser.add_subparsers())
    (secured.root / "client-token").write_text(TOKEN)
    tls = [
        "--tls_ca",
        str(pki["ca"]),
        "--tls_cert",
        str(pki["client"]),
        "--tls_key",
        str(pki["client_key"]),
    ]
    token = ["--auth_token_file", str(secured.root / "client-token")]
    for protocol, target, expected in (
        ("rest", f"127.0.0.1:{secured.rest_port}", {"predictions": [2.5]}),
        ("grpc", secured.grpc_target, {"outputs": {"y": [2.5]}}),
    ):
        argv = ["predict", "--server", target, "--protocol", protocol, "--model", "hp"]
        args = parser.parse_args([*argv, *tls, *token, "--input", "[1.0]"])
        assert args.func(args) == 0
        assert json.loads(capsys.readouterr().out) == expected
        args = parser.parse_args([*argv, *tls, "--input", "[1.0]"])
        with pytest.raises(ValueError, match="401|UNAUTHENTICATED"):
            args.func(args)
