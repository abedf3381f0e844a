"""The three wire protocols: decoding requests and shaping responses and errors.

Evidence for the error shapes (what the clients read):

* restJson1 (Incident Manager): aws-sdk-ssmincidents 1.119 `src/json_errors.rs`,
  `parse_error_metadata`: the code is the `x-amzn-errortype` header, else the body's `code`,
  else `__type` (a `#namespace` prefix and `:suffix` are trimmed); the message is the body's
  `message` / `Message` / `errorMessage`. botocore's `RestJSONParser` reads the header too.
  We send the header *and* `__type`, plus the error structure's members (`message`, ...).
* awsJson1_1 (SSM): aws-smithy-json 0.65 `protocol/aws_json_rpc.rs` → `parse_error_envelope_
  metadata`: `__type` (or legacy `code`) of the body, `X-Amzn-Errortype` taking priority;
  message from `message` / `Message` / `errorMessage`. SSM's error structures name the member
  `Message`, so both spellings are sent.
* Smithy RPC v2 CBOR (CloudWatch): smithy-rs `rust-runtime/inlineable/src/cbor_errors.rs`
  reads `__type` (sanitised like above) and `message` / `Message` / `errorMessage` from a CBOR
  map; botocore's `RpcV2CBORParser._do_error_parse` the same, and, CloudWatch being
  `awsQueryCompatible`, the `x-amzn-query-error: <Code>;<Sender|Receiver>` header (Smithy
  protocol test `QueryCompatibleRpcV2CborCustomCodeError`). Responses carry
  `smithy-protocol: rpc-v2-cbor` and `Content-Type: application/cbor`.

CBOR value types matter to the Rust SDK (aws-smithy-cbor `decode.rs`): a timestamp must be
tag 1 around a *float* (`decoder.f64()`), a double a CBOR float; `to_cbor` makes sure of both.
"""

from __future__ import annotations

import gzip
import json
import zlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from xml.sax.saxutils import escape

import cbor2

from .common import ApiError

CBOR_CONTENT_TYPE = "application/cbor"
CLOUDWATCH_NAMESPACE = "com.amazonaws.cloudwatch"
HEALTH_NAMESPACE = "com.amazonaws.health"


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


# --- request bodies --------------------------------------------------------------------------


def decompress(body: bytes, headers: Any) -> bytes:
    """Request compression (CloudWatch PutMetricData is `@requestCompression(gzip)`: SDKs gzip
    bodies over 10 KiB)."""
    encoding = (headers.get("Content-Encoding") or "").lower()
    if not body or not encoding or encoding == "identity":
        return body
    try:
        if "gzip" in encoding:
            return gzip.decompress(body)
        if "deflate" in encoding:
            return zlib.decompress(body)
    except (OSError, zlib.error, EOFError) as e:
        raise ApiError("SerializationException", f"cannot decompress the request body: {e}")
    return body


def parse_json(body: bytes) -> dict[str, Any]:
    if not body.strip():
        return {}
    try:
        value = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise ApiError("SerializationException", f"the request body is not valid JSON: {e}")
    if not isinstance(value, dict):
        raise ApiError("SerializationException", "the request body must be a JSON object")
    return value


def parse_cbor(body: bytes) -> dict[str, Any]:
    if not body:
        return {}
    try:
        value = cbor2.loads(body)
    except Exception as e:  # cbor2 raises several types (CBORDecodeError, ValueError, ...)
        raise ApiError("SerializationException", f"the request body is not valid CBOR: {e}")
    if not isinstance(value, dict):
        raise ApiError("SerializationException", "the request body must be a CBOR map")
    return _from_cbor(value)


def _from_cbor(value: Any) -> Any:
    if isinstance(value, cbor2.CBORTag):
        # Tag 1 is decoded to datetime by cbor2 already; other tags carry their value.
        return _from_cbor(value.value)
    if isinstance(value, dict):
        return {k: _from_cbor(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_from_cbor(v) for v in value]
    return value


# --- response bodies -------------------------------------------------------------------------


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return round(value.timestamp(), 3)  # epoch seconds, the JSON protocols' default
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def to_json(value: Any) -> bytes:
    return json.dumps(value, default=_json_default, separators=(",", ":")).encode("utf-8")


def to_cbor(value: Any) -> bytes:
    return cbor2.dumps(_for_cbor(value))


def _for_cbor(value: Any) -> Any:
    if isinstance(value, datetime):
        return cbor2.CBORTag(1, float(value.timestamp()))
    if isinstance(value, dict):
        return {k: _for_cbor(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_for_cbor(v) for v in value]
    return value


# --- per-protocol responses ------------------------------------------------------------------


def rest_json_ok(status: int, output: dict[str, Any] | None) -> Response:
    if output is None or status == 204:
        return Response(status, b"", {})
    return Response(status, to_json(output), {"Content-Type": "application/json"})


def rest_json_error(err: ApiError) -> Response:
    body = {"__type": err.code, "message": err.message, **err.fields}
    return Response(
        err.status,
        to_json(body),
        {"Content-Type": "application/json", "x-amzn-ErrorType": err.code},
    )


def aws_json_ok(output: dict[str, Any] | None, version: str = "1.1") -> Response:
    return Response(
        200, to_json(output or {}), {"Content-Type": f"application/x-amz-json-{version}"}
    )


def aws_json_error(err: ApiError, version: str = "1.1") -> Response:
    body = {"__type": err.code, "message": err.message, "Message": err.message, **err.fields}
    headers = {"Content-Type": f"application/x-amz-json-{version}"}
    if err.query_code:
        headers["x-amzn-query-error"] = query_error_header(err)
    return Response(err.status, to_json(body), headers)


def query_error_header(err: ApiError) -> str:
    """`x-amzn-query-error: <query code>;<Sender|Receiver>` (awsQueryCompatible services)."""
    return f"{err.query_code};{'Sender' if err.sender_fault else 'Receiver'}"


def _cbor_headers() -> dict[str, str]:
    return {"smithy-protocol": "rpc-v2-cbor", "Content-Type": CBOR_CONTENT_TYPE}


def cbor_ok(output: dict[str, Any] | None) -> Response:
    # Operations without output (PutMetricData, PutMetricAlarm, SetAlarmState): empty body.
    return Response(200, to_cbor(output) if output is not None else b"", _cbor_headers())


def cbor_error(err: ApiError, namespace: str = CLOUDWATCH_NAMESPACE) -> Response:
    code = err.code if "#" in err.code else f"{namespace}#{err.code}"
    body = {"__type": code, "message": err.message, "Message": err.message, **err.fields}
    headers = _cbor_headers()
    if err.query_code:
        headers["x-amzn-query-error"] = query_error_header(err)
    return Response(err.status, to_cbor(body), headers)


def query_error(err: ApiError) -> Response:
    """The awsQuery error document, for callers speaking CloudWatch's legacy query protocol."""
    kind = "Sender" if err.sender_fault else "Receiver"
    xml = (
        '<ErrorResponse xmlns="http://monitoring.amazonaws.com/doc/2010-08-01/">'
        f"<Error><Type>{kind}</Type><Code>{escape(err.query_code or err.code)}</Code>"
        f"<Message>{escape(err.message)}</Message></Error>"
        "<RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>"
    )
    return Response(err.status, xml.encode("utf-8"), {"Content-Type": "text/xml"})


def bench_ok(output: Any, status: int = 200) -> Response:
    return Response(status, to_json(output), {"Content-Type": "application/json"})


def bench_error(message: str, status: int = 400) -> Response:
    return Response(status, to_json({"error": message}), {"Content-Type": "application/json"})
