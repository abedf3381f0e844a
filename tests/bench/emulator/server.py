"""HTTP: telling the protocols apart, fault injection, the `/_bench` control plane, the server.

A request is routed by its shape:

* `/_bench/...`                                     → control plane (JSON)
* `POST /service/<Service>/operation/<Operation>`    → Smithy RPC v2 CBOR (CloudWatch, Health)
* `POST /` with `X-Amz-Target: AmazonSSM.<Op>`       → awsJson1_1 (SSM)
* `POST /` with `X-Amz-Target: GraniteServiceVersion20100801.<Op>` → awsJson1_0 (CloudWatch)
* `POST /` with `X-Amz-Target: CloudTrail_20131101.<Op>` (or its `com.amazonaws.cloudtrail.
  v20131101.` form)                                  → awsJson1_1 (CloudTrail LookupEvents)
* `POST /` with `X-Amz-Target: AWSHealth_20160804.<Op>` → awsJson1_1 (AWS Health, as botocore
  speaks it)
* a form-encoded `Action=...` body                  → awsQuery: only an `InvalidAction` error
* anything else                                     → restJson1 (Incident Manager) by path

Whatever happens, the answer is an AWS-shaped error of the caller's protocol, never an HTML page.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
import traceback
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Callable
from urllib.parse import parse_qs, urlsplit

from . import incidents, wire
from .common import ApiError, jsonable, now, to_datetime
from .wire import Response

if TYPE_CHECKING:
    from .core import Emulator

SSM_TARGET_PREFIX = "AmazonSSM"
CLOUDWATCH_SERVICE = "GraniteServiceVersion20100801"
# aws-sdk-cloudtrail sends the short form, botocore the long one.
CLOUDTRAIL_TARGETS = (
    "CloudTrail_20131101",
    "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101",
)

HEALTH_TARGET_PREFIX = "AWSHealth_20160804"
HEALTH_OPERATIONS = ("DescribeEvents",)

INCIDENT_OPERATIONS = tuple(incidents.HTTP)
SSM_OPERATIONS = (
    "CreateOpsItem",
    "GetOpsItem",
    "UpdateOpsItem",
    "DescribeOpsItems",
    "AssociateOpsItemRelatedItem",
    "ListOpsItemRelatedItems",
    "StartAutomationExecution",
    "GetAutomationExecution",
    "DescribeAutomationExecutions",
    "GetCalendarState",
)
CLOUDWATCH_OPERATIONS = (
    "PutMetricData",
    "GetMetricData",
    "DescribeAlarms",
    "PutMetricAlarm",
    "PutCompositeAlarm",
    "SetAlarmState",
)
CLOUDTRAIL_OPERATIONS = ("LookupEvents",)
ALL_OPERATIONS = INCIDENT_OPERATIONS + SSM_OPERATIONS + CLOUDWATCH_OPERATIONS + CLOUDTRAIL_OPERATIONS


def fault_error(service: str, error: str) -> ApiError:
    """The error an injected fault answers with, as the service would send it."""
    if error == "ThrottlingException":
        if service == "incidents":
            # Incident Manager models ThrottlingException with HTTP 429 (+ quotaCode, serviceCode)
            return ApiError(
                "ThrottlingException",
                "Rate exceeded",
                429,
                fields={"serviceCode": "ssm-incidents", "quotaCode": "bench"},
            )
        if service == "cloudwatch":
            return ApiError("ThrottlingException", "Rate exceeded", 400, query_code="Throttling")
        return ApiError("ThrottlingException", "Rate exceeded", 400)
    if error in ("InternalServerError", "InternalServerException", "InternalServiceFault"):
        if service == "incidents":
            return ApiError("InternalServerException", "Internal server error (injected)", 500)
        if service == "cloudwatch":
            return ApiError(
                "InternalServiceFault",
                "Internal service error (injected)",
                500,
                query_code="InternalServiceError",
            )
        return ApiError("InternalServerError", "Internal server error (injected)", 500)
    status = {
        "AccessDeniedException": 403,
        "ServiceUnavailable": 503,
        "ServiceUnavailableException": 503,
    }.get(error, 500 if "Internal" in error else 400)
    return ApiError(error, f"{error} (injected)", status)


def route(emu: "Emulator", method: str, raw_path: str, headers: Any, body: bytes) -> Response:
    url = urlsplit(raw_path)
    path = url.path
    if path.startswith("/_bench/") or path == "/_bench":
        return control(emu, method, path, body)
    if path.startswith("/service/"):
        return cbor_call(emu, method, path, headers, body)
    target = headers.get("X-Amz-Target")
    if target:
        return aws_json_call(emu, target, headers, body)
    if "x-www-form-urlencoded" in (headers.get("Content-Type") or "").lower():
        action = parse_qs(body.decode("utf-8", "replace")).get("Action", ["?"])[0]
        err = ApiError(
            "InvalidAction",
            f"The action {action} is not valid for this endpoint: the emulator speaks CloudWatch "
            "only over Smithy RPC v2 CBOR and awsJson1_0.",
            400,
        )
        emu._record("query", action, err.status, err.code)
        return wire.query_error(err)
    return rest_json_call(emu, method, url, headers, body)


def _invoke(
    emu: "Emulator",
    protocol: str,
    service: str,
    handler_owner: Any,
    operation: str,
    decode: Callable[[], dict[str, Any]],
    ok: Callable[[Any], Response],
    fail: Callable[[ApiError], Response],
) -> Response:
    """Counts the call, applies an injected fault, decodes, runs the operation under the lock."""
    emu._count(operation)
    latency = emu._latency_of(operation)
    if latency:
        time.sleep(latency)
    fault = emu._take_fault(operation)
    try:
        if fault is not None:
            raise fault_error(service, fault)
        params = decode()
        with emu.lock:
            output = getattr(handler_owner, operation)(params)
        response = ok(output)
        emu._record(protocol, operation, response.status)
        return response
    except ApiError as err:
        emu._record(protocol, operation, err.status, err.code, err.message)
        return fail(err)
    except Exception as e:  # a bug in the emulator: still an AWS-shaped 500
        traceback.print_exc(file=sys.stderr)
        code = {
            "incidents": "InternalServerException",
            "cloudwatch": "InternalServiceFault",
        }.get(service, "InternalServerError")
        err = ApiError(code, f"emulator error: {type(e).__name__}: {e}", 500)
        emu._record(protocol, operation, 500, code, err.message)
        return fail(err)


def rest_json_call(emu: "Emulator", method: str, url: Any, headers: Any, body: bytes) -> Response:
    operation = incidents.ROUTES.get((method, url.path))
    if operation is None:
        known = [op for op, (_, p, _) in incidents.HTTP.items() if p == url.path]
        message = (
            f"{method} is not allowed on {url.path} (use {incidents.HTTP[known[0]][0]})"
            if known
            else f"Unknown operation: {method} {url.path}"
        )
        err = ApiError("UnknownOperationException", message, 400)
        emu._record("restJson1", f"{method} {url.path}", 400, err.code)
        return wire.rest_json_error(err)
    status = incidents.HTTP[operation][2]

    def decode() -> dict[str, Any]:
        params = wire.parse_json(wire.decompress(body, headers)) if method != "GET" else {}
        for key, values in parse_qs(url.query, keep_blank_values=True).items():
            params[key] = values[0]
        return params

    return _invoke(
        emu,
        "restJson1",
        "incidents",
        emu.incident_manager,
        operation,
        decode,
        lambda out: wire.rest_json_ok(status, out),
        wire.rest_json_error,
    )


def aws_json_call(emu: "Emulator", target: str, headers: Any, body: bytes) -> Response:
    prefix, _, operation = target.partition(".")
    if target.rpartition(".")[0] in CLOUDTRAIL_TARGETS:
        prefix, _, operation = target.rpartition(".")
    if prefix in CLOUDTRAIL_TARGETS:
        service, owner, operations = "cloudtrail", emu.cloudtrail, CLOUDTRAIL_OPERATIONS
        version = "1.1"
    elif prefix == SSM_TARGET_PREFIX:
        service, owner, operations = "ssm", emu.ssm, SSM_OPERATIONS
        version = "1.1"
    elif prefix == HEALTH_TARGET_PREFIX:
        service, owner, operations = "health", emu.health, HEALTH_OPERATIONS
        version = "1.1"
    elif prefix == CLOUDWATCH_SERVICE:
        service, owner, operations = "cloudwatch", emu.cloudwatch, CLOUDWATCH_OPERATIONS
        version = "1.0"
    else:
        err = ApiError("UnknownOperationException", f"Unknown X-Amz-Target: {target}", 400)
        emu._record("awsJson", target, 400, err.code)
        return wire.aws_json_error(err)
    if operation not in operations:
        err = ApiError(
            "UnknownOperationException",
            f"Unknown operation {operation} (the emulator implements: {', '.join(operations)})",
            400,
        )
        emu._record("awsJson", target, 400, err.code)
        return wire.aws_json_error(err, version)
    return _invoke(
        emu,
        f"awsJson{version.replace('.', '_')}",
        service,
        owner,
        operation,
        lambda: wire.parse_json(wire.decompress(body, headers)),
        lambda out: wire.aws_json_ok(out, version),
        lambda err: wire.aws_json_error(err, version),
    )


def cbor_call(emu: "Emulator", method: str, path: str, headers: Any, body: bytes) -> Response:
    parts = path.strip("/").split("/")
    # service / <ServiceName> / operation / <Operation>
    if len(parts) != 4 or parts[0] != "service" or parts[2] != "operation" or method != "POST":
        err = ApiError("UnknownOperationException", f"Unknown operation: {method} {path}", 400)
        emu._record("rpcv2Cbor", path, 400, err.code)
        return wire.cbor_error(err)
    service_name, operation = parts[1], parts[3]
    services: dict[str, tuple[str, Any, tuple[str, ...], str]] = {
        CLOUDWATCH_SERVICE: ("cloudwatch", emu.cloudwatch, CLOUDWATCH_OPERATIONS,
                             wire.CLOUDWATCH_NAMESPACE),
        HEALTH_TARGET_PREFIX: ("health", emu.health, HEALTH_OPERATIONS, wire.HEALTH_NAMESPACE),
    }
    known = services.get(service_name)
    if known is None or operation not in known[2]:
        served = "; ".join(f"{name}: {', '.join(ops)}" for name, (_, _, ops, _) in services.items())
        err = ApiError(
            "UnknownOperationException",
            f"Unknown operation {service_name}.{operation} (the emulator implements {served})",
            400,
        )
        emu._record("rpcv2Cbor", f"{service_name}.{operation}", 400, err.code)
        return wire.cbor_error(err)
    service, owner, _, namespace = known
    return _invoke(
        emu,
        "rpcv2Cbor",
        service,
        owner,
        operation,
        lambda: wire.parse_cbor(wire.decompress(body, headers)),
        wire.cbor_ok,
        lambda err: wire.cbor_error(err, namespace),
    )


# --- control plane ---------------------------------------------------------------------------


def control(emu: "Emulator", method: str, path: str, body: bytes) -> Response:
    try:
        data = json.loads(body.decode("utf-8")) if body.strip() else {}
    except (UnicodeDecodeError, ValueError) as e:
        return wire.bench_error(f"the body is not valid JSON: {e}")
    if not isinstance(data, dict):
        return wire.bench_error("the body must be a JSON object")
    try:
        if (method, path) == ("GET", "/_bench/state"):
            return wire.bench_ok(emu.state())
        if (method, path) == ("GET", "/_bench/calls"):
            return wire.bench_ok(emu.all_calls())
        if (method, path) == ("GET", "/_bench/requests"):
            return wire.bench_ok(jsonable(emu.requests()))
        if (method, path) == ("POST", "/_bench/reset"):
            emu.reset(keep_response_plans=bool(data.get("keepResponsePlans", False)))
            return wire.bench_ok({})
        if (method, path) == ("POST", "/_bench/faults"):
            emu.inject(
                _field(data, "operation"),
                int(_field(data, "count")),
                data.get("error") or "ThrottlingException",
                after=int(data.get("after") or 0),
            )
            return wire.bench_ok({})
        if (method, path) == ("POST", "/_bench/response-plans"):
            arn = emu.create_response_plan(
                _field(data, "name"),
                _field(data, "title"),
                int(_field(data, "impact")),
                dedupe_string=data.get("dedupeString"),
                chat_sns=data.get("chatChannelSns"),
            )
            return wire.bench_ok({"arn": arn})
        if (method, path) == ("POST", "/_bench/automations/finish"):
            execution = emu.finish_automation(
                _field(data, "executionId"),
                data.get("status") or "Success",
                data.get("outputs"),
            )
            return wire.bench_ok(execution)
        if (method, path) == ("POST", "/_bench/metrics"):
            t = to_datetime(data["timestamp"]) if data.get("timestamp") is not None else now()
            emu.put_metric(
                _field(data, "namespace"),
                _field(data, "name"),
                data.get("dimensions") or {},
                float(_field(data, "value")),
                t,
            )
            return wire.bench_ok({})
        if (method, path) == ("POST", "/_bench/alarm-event"):
            event = emu.alarm_state_change_event(
                _field(data, "alarmName"), data.get("account"), data.get("region")
            )
            return wire.bench_ok(event)
    except ApiError as e:
        return wire.bench_error(f"{e.code}: {e.message}")
    except (KeyError, LookupError, ValueError, TypeError) as e:
        return wire.bench_error(str(e))
    return wire.bench_error(f"unknown control request {method} {path}", 404)


def _field(data: dict[str, Any], key: str) -> Any:
    if data.get(key) is None:
        raise ValueError(f"missing field {key!r}")
    return data[key]


# --- the server ------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the SDKs expect
    server_version = "bench-aws-emulator"
    sys_version = ""
    timeout = 120  # idle keep-alive connections end eventually
    disable_nagle_algorithm = True  # headers and body go out as separate writes

    server: "_Server"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base's name)
        pass  # the emulator keeps its own request log (Emulator.requests())

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _serve(self) -> None:
        try:
            body = self._read_body()
        except (ValueError, OSError) as e:
            response = wire.bench_error(f"cannot read the request body: {e}")
            self.close_connection = True
        else:
            try:
                observer = self.server.emulator.observer
                if observer is not None:
                    observer(self.command, self.path, self.headers, body)
                response = route(self.server.emulator, self.command, self.path, self.headers, body)
            except Exception as e:  # never an HTML error page
                traceback.print_exc(file=sys.stderr)
                response = Response(
                    500,
                    wire.to_json({"__type": "InternalFailure", "message": f"emulator error: {e}"}),
                    {"Content-Type": "application/json", "x-amzn-ErrorType": "InternalFailure"},
                )
        self.send_response(response.status)
        request_id = str(uuid.uuid4())
        self.send_header("x-amzn-RequestId", request_id)
        self.send_header("x-amz-request-id", request_id)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD" and response.body:
            self.wfile.write(response.body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _serve


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, emulator: "Emulator", port: int):
        self.emulator = emulator
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(("127.0.0.1", port), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Ends open keep-alive connections, so no handler thread outlives stop()."""
        with self._connections_lock:
            connections = list(self._connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

