"""Who may use and manage the server: `ServerSecurity` holds one process's `SecurityOptions` and
applies them to both ports.

- TLS (``--ssl_config_file``, TF Serving's ``SSLConfig``): `ServerSecurity.grpc_credentials` for
  the gRPC port, `ServerSecurity.rest_ssl_context` for the REST port; with ``client_verify`` both
  require a client certificate signed by ``custom_ca`` (mutual TLS).
- Bearer token (``--auth_token_file``): every REST request needs ``Authorization: Bearer <token>``
  (else 401 with ``WWW-Authenticate: Bearer`` and a JSON error), every gRPC call the metadata
  ``authorization: Bearer <token>`` (else UNAUTHENTICATED), compared in constant time; the health
  endpoints (`HEALTH_PATHS`, ``grpc.health.v1.Health``) answer without it, and a CORS preflight is
  answered by the CORS middleware before this check.
- Model management: `ServerSecurity.admit_reload` refuses ``HandleReloadConfigRequest`` unless
  ``--enable_model_management`` is given, and then refuses base paths outside the start-up models'
  folders (``model_roots``, symbolic links resolved) and request-log prefixes outside ``--log_dir``.
- Paths: unless ``--expose_paths``, the model folders, their parents and ``--log_dir`` are
  replaced by ``<base_path>``, ``<model_root>`` and ``<log_dir>`` in JSON answers of REST GETs
  (status, readiness, listing) and REST errors, and in gRPC error details and model status
  messages (`ServerSecurity.hide_paths`); the log keeps them.
"""

from __future__ import annotations

import hmac
import json
import os
import re
import ssl
import tempfile
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import grpc
from aiohttp import web

from dlsuite.serving.server.config import (
    ModelSpec,
    SecurityOptions,
    TlsOptions,
    models_from_config_proto,
)
from dlsuite.serving.server.errors import ServingError
from dlsuite.serving.server.health_grpc import SERVICE as HEALTH_SERVICE

# The REST routes answered without a token (liveness and readiness probes).
HEALTH_PATHS = frozenset(
    ("/v1/health/live", "/v1/health/ready", "/v2/health/live", "/v2/health/ready")
)
_MODEL_STATUS_METHOD = "/tensorflow.serving.ModelService/GetModelStatus"
_MANAGEMENT = "--enable_model_management"
_NAME_CHAR = r"[\w.~-]"  # a character that would continue a path's last component


def rest_ssl_context(tls: TlsOptions) -> ssl.SSLContext:
    """The REST port's server-side TLS context from ``tls``'s PEM contents.

    ``ssl`` loads a certificate chain from files only: the key and certificate are written to a
    private temporary folder (0700, files 0600), loaded and deleted. With ``custom_ca`` a client
    certificate is checked against it, and required with ``client_verify``.
    """
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    with tempfile.TemporaryDirectory(prefix="dlsuite-tls-") as folder:  # mkdtemp: mode 0700
        cert, key = Path(folder) / "server.crt", Path(folder) / "server.key"
        for path, text in ((cert, tls.server_cert), (key, tls.server_key)):
            with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
                f.write(text)
        try:
            context.load_cert_chain(cert, key)
        except ssl.SSLError as err:
            raise ValueError(
                f"--ssl_config_file: server_key and server_cert are not a PEM key and its "
                f"certificate: {err}"
            ) from None
    if tls.custom_ca:
        try:
            context.load_verify_locations(cadata=tls.custom_ca)
        except ssl.SSLError as err:
            raise ValueError(
                f"--ssl_config_file: custom_ca is not a PEM certificate: {err}"
            ) from None
        context.verify_mode = ssl.CERT_REQUIRED if tls.client_verify else ssl.CERT_OPTIONAL
    return context


def grpc_credentials(tls: TlsOptions) -> grpc.ServerCredentials:
    """The gRPC port's TLS credentials, as TF Serving builds them from its ``SSLConfig``."""
    return grpc.ssl_server_credentials(
        [(tls.server_key.encode(), tls.server_cert.encode())],
        root_certificates=tls.custom_ca.encode() or None,
        require_client_auth=tls.client_verify,
    )


def _path_forms(path: str) -> set[str]:
    """``path`` as configured (absolute) and with its symbolic links resolved."""
    return {os.path.abspath(path), os.path.realpath(path)}


def _check_under(name: str, what: str, path: str, roots: tuple[str, ...], where: str) -> None:
    """PERMISSION_DENIED unless ``path`` (model ``name``'s ``what``), its symbolic links resolved,
    lies under one of ``roots`` (described as ``where``); a path with ``..`` is refused as is."""
    if ".." in Path(path).parts:
        raise ServingError(
            "PERMISSION_DENIED",
            f"model {name!r}: {what} {path} contains '..'; give a path under {where}",
        )
    real = os.path.realpath(path)
    if not any(Path(real).is_relative_to(root) for root in roots):
        links = "" if real == os.path.abspath(path) else " once its symbolic links are resolved"
        raise ServingError(
            "PERMISSION_DENIED",
            f"model {name!r}: {what} {path} is not under {where}{links}; "
            f"{_MANAGEMENT} allows reloads only there",
        )


class _HiddenPaths:
    """Regular expressions replacing each of ``placeholders``' paths (the longest first, whole
    path components only) by its placeholder, in plain text and in JSON text."""

    def __init__(self, placeholders: dict[str, str]) -> None:
        self.placeholders = {p: v for p, v in placeholders.items() if len(p) > 1}  # never "/"
        self._json = {json.dumps(p)[1:-1]: v for p, v in self.placeholders.items()}
        self._plain_pattern = self._pattern(self.placeholders)
        self._json_pattern = self._pattern(self._json)

    @staticmethod
    def _pattern(placeholders: dict[str, str]) -> re.Pattern[str] | None:
        if not placeholders:
            return None
        prefixes = sorted(placeholders, key=len, reverse=True)
        return re.compile(f"(?:{'|'.join(map(re.escape, prefixes))})(?!{_NAME_CHAR})")

    def hide(self, text: str) -> str:
        """Plain ``text`` with the paths replaced."""
        if self._plain_pattern is None:
            return text
        return self._plain_pattern.sub(lambda m: self.placeholders[m.group(0)], text)

    def hide_json(self, body: bytes) -> bytes:
        """A JSON ``body`` with the paths replaced (its strings hold them JSON-escaped)."""
        if self._json_pattern is None:
            return body
        text = body.decode("utf-8", "surrogateescape")
        hidden = self._json_pattern.sub(lambda m: self._json[m.group(0)], text)
        return body if hidden == text else hidden.encode("utf-8", "surrogateescape")


class ServerSecurity:
    """The security options of one server process, for the REST app and the gRPC server.

    Args:
        options: the security flags (`serving.server.config.security_options`); None: the
            defaults (no TLS, no token, management refused, paths hidden).
        models: the start-up models (their folders are hidden from answers like ``model_roots``).
    """

    def __init__(
        self, options: SecurityOptions | None = None, models: Iterable[ModelSpec] = ()
    ) -> None:
        options = options or SecurityOptions()
        self.options = options
        self._token = options.auth_token.encode() if options.auth_token else None
        self._log_dir = os.path.realpath(options.log_dir) if options.log_dir else None
        self.rest_ssl_context = rest_ssl_context(options.tls) if options.tls else None
        self.grpc_credentials = grpc_credentials(options.tls) if options.tls else None
        self._lock = threading.Lock()
        known: dict[str, str] = {}
        for root in options.model_roots:
            known.update(dict.fromkeys(_path_forms(root), "<model_root>"))
        if options.log_dir:
            known.update(dict.fromkeys(_path_forms(options.log_dir), "<log_dir>"))
        self._paths = _HiddenPaths(known)
        self._remember(models)

    # -- paths in answers -----------------------------------------------------------------------
    def _remember(self, models: Iterable[ModelSpec]) -> None:
        """Add the models' folders to the paths `hide_paths` replaces."""
        with self._lock:
            known = dict(self._paths.placeholders)
            for model in models:
                known.update(dict.fromkeys(_path_forms(model.base_path), "<base_path>"))
            self._paths = _HiddenPaths(known)

    def hide_paths(self, text: str) -> str:
        """``text`` with the model folders, their parents and ``--log_dir`` replaced by
        ``<base_path>``, ``<model_root>`` and ``<log_dir>`` (unchanged with ``--expose_paths``)."""
        if self.options.expose_paths:
            return text
        return self._paths.hide(text)

    # -- model management -----------------------------------------------------------------------
    def admit_reload(self, config: Any) -> tuple[ModelSpec, ...]:
        """The models of a ``HandleReloadConfigRequest``'s ``ModelServerConfig``, or
        PERMISSION_DENIED unless ``--enable_model_management`` is given (checked before the
        config is read), every base path lies under ``model_roots`` and every request-log prefix
        under ``--log_dir``; an admitted config's folders are hidden from answers from now on."""
        if not self.options.enable_model_management:
            raise ServingError(
                "PERMISSION_DENIED",
                "HandleReloadConfigRequest is disabled: start the server with "
                f"{_MANAGEMENT} to allow reloading the model config",
            )
        models = models_from_config_proto(config)
        folders = f"the start-up models' folders ({', '.join(self.options.model_roots)})"
        for model in models:
            _check_under(
                model.name, "base_path", model.base_path, self.options.model_roots, folders
            )
            if model.logging is None:
                continue
            if self._log_dir is None:
                raise ServingError(
                    "PERMISSION_DENIED",
                    f"model {model.name!r}: a reloaded config may write request logs only under "
                    "--log_dir, which the server was not started with",
                )
            _check_under(
                model.name,
                "logging_config filename_prefix",
                model.logging.filename_prefix,
                (self._log_dir,),
                f"--log_dir ({self._log_dir})",
            )
        self._remember(models)
        return models

    # -- bearer token ---------------------------------------------------------------------------
    def token_problem(self, authorization: str | None) -> str | None:
        """Why a request with this ``Authorization`` value is refused, or None when it may pass
        (always None without ``--auth_token_file``)."""
        if self._token is None:
            return None
        if not authorization:
            return (
                "Missing bearer token: send 'Authorization: Bearer <token>' (the server was "
                "started with --auth_token_file)"
            )
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            token.strip().encode("utf-8", "surrogatepass"), self._token
        ):
            return "Invalid bearer token (the one in the server's --auth_token_file is expected)"
        return None

    # -- REST -----------------------------------------------------------------------------------
    def rest_middlewares(self) -> list[Any]:
        """The aiohttp middlewares to install inside the CORS middleware (so a preflight is
        answered without a token): path hiding, then the token check."""
        middlewares = []
        if not self.options.expose_paths:
            middlewares.append(self._rest_hide_paths)
        if self._token is not None:
            middlewares.append(self._rest_authorize)
        return middlewares

    @web.middleware
    async def _rest_authorize(self, request: web.Request, handler) -> web.StreamResponse:
        resource = request.match_info.route.resource
        if resource is not None and resource.canonical in HEALTH_PATHS:
            return await handler(request)
        problem = self.token_problem(request.headers.get("Authorization"))
        if problem is None:
            return await handler(request)
        challenge = (
            'Bearer error="invalid_token"' if "Authorization" in request.headers else "Bearer"
        )
        return web.json_response(
            {"error": problem}, status=401, headers={"WWW-Authenticate": challenge}
        )

    @web.middleware
    async def _rest_hide_paths(self, request: web.Request, handler) -> web.StreamResponse:
        """Hide paths in JSON errors and GET answers (status, readiness, listing, metadata);
        predict answers are left as they are."""
        response = await handler(request)
        if (
            isinstance(response, web.Response)
            and (response.status >= 400 or request.method == "GET")
            and response.content_type == "application/json"
            and isinstance(response.body, bytes)
        ):
            response.body = self._paths.hide_json(response.body)
        return response

    # -- gRPC -----------------------------------------------------------------------------------
    def grpc_interceptors(self) -> list[grpc.ServerInterceptor]:
        """The token check and path hiding for every gRPC service but ``grpc.health.v1.Health``."""
        if self._token is None and self.options.expose_paths:
            return []
        return [_Interceptor(self)]


class _Interceptor(grpc.ServerInterceptor):
    """`ServerSecurity`'s token check and path hiding on the gRPC port."""

    def __init__(self, security: ServerSecurity) -> None:
        self.security = security

    def intercept_service(self, continuation, handler_call_details):  # -> RpcMethodHandler
        """The method's handler, refusing a call without the token (UNAUTHENTICATED) and hiding
        paths in what it answers; ``grpc.health.v1.Health`` is left as it is."""
        handler = continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or method.startswith(f"/{HEALTH_SERVICE}/"):
            return handler
        metadata = dict(handler_call_details.invocation_metadata or ())
        problem = self.security.token_problem(metadata.get("authorization"))
        if problem is not None:
            return _refusal(handler, problem)
        if self.security.options.expose_paths or handler.unary_unary is None:
            return handler
        return grpc.unary_unary_rpc_method_handler(
            self._hiding(handler.unary_unary, method == _MODEL_STATUS_METHOD),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )

    def _hiding(self, behavior: Callable, model_status: bool) -> Callable:
        hide = self.security.hide_paths

        def call(request: Any, context: Any) -> Any:
            response = behavior(request, _PathHidingContext(context, hide))
            if model_status:
                for entry in response.model_version_status:
                    entry.status.error_message = hide(entry.status.error_message)
            return response

        return call


def _refusal(handler: grpc.RpcMethodHandler, message: str) -> grpc.RpcMethodHandler:
    """A handler of ``handler``'s kind that answers UNAUTHENTICATED ``message``."""

    def refuse(request: Any, context: grpc.ServicerContext) -> None:
        context.abort(grpc.StatusCode.UNAUTHENTICATED, message)

    make = {
        (False, False): grpc.unary_unary_rpc_method_handler,
        (False, True): grpc.unary_stream_rpc_method_handler,
        (True, False): grpc.stream_unary_rpc_method_handler,
        (True, True): grpc.stream_stream_rpc_method_handler,
    }[(handler.request_streaming, handler.response_streaming)]
    return make(
        refuse,
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


class _PathHidingContext:
    """A ``grpc.ServicerContext`` whose error details pass through `ServerSecurity.hide_paths`."""

    def __init__(self, context: grpc.ServicerContext, hide: Callable[[str], str]) -> None:
        self._context = context
        self._hide = hide

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)

    def abort(self, code: grpc.StatusCode, details: str) -> None:
        self._context.abort(code, self._hide(details))

    def set_details(self, details: str) -> None:
        self._context.set_details(self._hide(details))
