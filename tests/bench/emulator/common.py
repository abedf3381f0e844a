"""What every emulated service shares: the API error, time, validation and paging helpers.

Services work on plain Python values: request members as decoded from the wire (timestamps may
arrive as epoch numbers, ISO strings or `datetime`s; `to_datetime` takes them all) and responses
with timezone-aware `datetime`s, which the wire layer (`wire.py`) encodes per protocol.
"""

from __future__ import annotations

import base64
import copy
import math
import re
from datetime import datetime, timezone
from typing import Any


class ApiError(Exception):
    """An AWS error response, shaped per protocol by `wire.py`.

    code:       the error shape name (restJson1 `x-amzn-ErrorType`, awsJson/CBOR `__type`)
    status:     the HTTP status
    fields:     extra members of the error structure (e.g. `OpsItemId`)
    query_code: for CloudWatch (awsQueryCompatible): the legacy query code sent in
                `x-amzn-query-error: <code>;<Sender|Receiver>`
    """

    def __init__(
        self,
        code: str,
        message: str,
        status: int = 400,
        fields: dict[str, Any] | None = None,
        query_code: str | None = None,
    ):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.fields = dict(fields or {})
        self.query_code = query_code

    @property
    def sender_fault(self) -> bool:
        return self.status < 500


# --- time ------------------------------------------------------------------------------------


def now() -> datetime:
    """The current time, UTC, at millisecond precision (what AWS services keep)."""
    t = datetime.now(timezone.utc)
    return t.replace(microsecond=(t.microsecond // 1000) * 1000)


def to_datetime(value: Any) -> datetime | None:
    """A request timestamp as an aware UTC datetime: `datetime` (CBOR tag 1, boto3 in-process),
    epoch seconds (awsJson / restJson1 default), or an ISO 8601 string. None if it is neither."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            return None
        return datetime.fromtimestamp(float(value), timezone.utc)
    if isinstance(value, str):
        text = value.strip()
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
    return None


def iso(t: datetime) -> str:
    """`2024-05-14T03:02:10Z` (EventBridge envelope `time`)."""
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_millis_offset(t: datetime) -> str:
    """`2024-05-14T03:02:10.485+0000` (CloudWatch alarm event `state.timestamp`)."""
    t = t.astimezone(timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}+0000"


def jsonable(value: Any) -> Any:
    """A deep copy with datetimes as ISO 8601 strings (for `GET /_bench/state`)."""
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def clone(value: Any) -> Any:
    return copy.deepcopy(value)


def drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


# --- validation ------------------------------------------------------------------------------


class Checker:
    """Raises the service's validation error, with the message AWS's request validation uses
    ("1 validation error detected: Value ... at '<member>' failed to satisfy constraint: ...").
    The member path uses the wire names, so the message names the offending field."""

    def __init__(
        self,
        code: str = "ValidationException",
        status: int = 400,
        query_code: str | None = None,
        missing_code: str | None = None,
        missing_query_code: str | None = None,
    ):
        self.code = code
        self.status = status
        self.query_code = query_code
        self.missing_code = missing_code or code
        self.missing_query_code = missing_query_code or query_code

    def fail(self, message: str, path: str | None = None) -> ApiError:
        return ApiError(self.code, message, self.status, query_code=self.query_code)

    def _constraint(self, value: Any, path: str, constraint: str) -> ApiError:
        shown = "null" if value is None else f"'{_short(value)}'"
        return self.fail(
            f"1 validation error detected: Value {shown} at '{path}' failed to satisfy "
            f"constraint: {constraint}",
            path,
        )

    def required(self, container: dict[str, Any], key: str, path: str | None = None) -> Any:
        value = container.get(key) if isinstance(container, dict) else None
        if value is None:
            path = path or key
            raise ApiError(
                self.missing_code,
                f"1 validation error detected: Value null at '{path}' failed to satisfy "
                "constraint: Member must not be null",
                self.status,
                query_code=self.missing_query_code,
            )
        return value

    def string(
        self,
        value: Any,
        path: str,
        min_len: int | None = None,
        max_len: int | None = None,
        pattern: str | None = None,
    ) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str):
            raise self._constraint(value, path, "Member must be a string")
        if min_len is not None and len(value) < min_len:
            raise self._constraint(
                value, path, f"Member must have length greater than or equal to {min_len}"
            )
        if max_len is not None and len(value) > max_len:
            raise self._constraint(
                value, path, f"Member must have length less than or equal to {max_len}"
            )
        if pattern is not None and not re.search(pattern, value):
            raise self._constraint(
                value, path, f"Member must satisfy regular expression pattern: {pattern}"
            )
        return value

    def integer(
        self, value: Any, path: str, min_value: int | None = None, max_value: int | None = None
    ) -> int | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
            raise self._constraint(value, path, "Member must be an integer")
        value = int(value)
        if min_value is not None and value < min_value:
            raise self._constraint(
                value, path, f"Member must have value greater than or equal to {min_value}"
            )
        if max_value is not None and value > max_value:
            raise self._constraint(
                value, path, f"Member must have value less than or equal to {max_value}"
            )
        return value

    def number(self, value: Any, path: str) -> float | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self._constraint(value, path, "Member must be a number")
        return float(value)

    def enum(self, value: Any, path: str, allowed: list[str] | tuple[str, ...]) -> str | None:
        if value is None:
            return None
        if value not in allowed:
            raise self._constraint(
                value, path, f"Member must satisfy enum value set: [{', '.join(allowed)}]"
            )
        return value

    def list(
        self, value: Any, path: str, min_len: int | None = None, max_len: int | None = None
    ) -> list[Any] | None:
        if value is None:
            return None
        if not isinstance(value, list):
            raise self._constraint(value, path, "Member must be a list")
        if min_len is not None and len(value) < min_len:
            raise self._constraint(
                f"[{len(value)} items]",
                path,
                f"Member must have length greater than or equal to {min_len}",
            )
        if max_len is not None and len(value) > max_len:
            raise self._constraint(
                f"[{len(value)} items]",
                path,
                f"Member must have length less than or equal to {max_len}",
            )
        return value

    def struct(self, value: Any, path: str) -> dict[str, Any] | None:
        if value is None:
            return None
        if not isinstance(value, dict):
            raise self._constraint(value, path, "Member must be a structure")
        return value

    def timestamp(self, value: Any, path: str) -> datetime | None:
        if value is None:
            return None
        parsed = to_datetime(value)
        if parsed is None:
            raise self._constraint(value, path, "Member must be a timestamp")
        return parsed


def _short(value: Any, limit: int = 80) -> str:
    text = str(value)
    return text if len(text) <= limit else text[:limit] + "..."


# --- paging ----------------------------------------------------------------------------------


def page(
    items: list[Any],
    max_results: int | None,
    next_token: str | None,
    default: int,
    bad_token: ApiError,
) -> tuple[list[Any], str | None]:
    """One page of `items` and the token of the next one (an opaque offset)."""
    start = 0
    if next_token:
        try:
            start = int(base64.urlsafe_b64decode(next_token.encode()).decode().removeprefix("o:"))
        except (ValueError, UnicodeDecodeError):
            raise bad_token
        if start < 0 or start > len(items):
            raise bad_token
    size = max_results or default
    chunk = items[start : start + size]
    end = start + size
    token = base64.urlsafe_b64encode(f"o:{end}".encode()).decode() if end < len(items) else None
    return chunk, token
