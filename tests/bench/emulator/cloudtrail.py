"""AWS CloudTrail's event history, as aws-sdk-cloudtrail speaks it: awsJson1_1 with
`X-Amz-Target: CloudTrail_20131101.LookupEvents` (botocore: the `com.amazonaws.cloudtrail.
v20131101.` form). moto 5.2
implements no `LookupEvents` (`NotImplementedError`; test_e2e_changes.py shows it).

`LookupEvents` (API_LookupEvents.html): at most one `LookupAttributes` entry (`AttributeKey` one
of EventId, EventName, ReadOnly, Username, ResourceType, ResourceName, EventSource, AccessKeyId),
`StartTime`/`EndTime` (epoch seconds), `MaxResults` 1–50 (default 50), `NextToken`. `Events[]`
newest first: `EventId`, `EventName`, `ReadOnly` ("true"/"false"), `AccessKeyId`, `EventTime`,
`EventSource`, `Username`, `Resources[]` (`ResourceType`, `ResourceName`), `CloudTrailEvent`
(the whole record as a JSON string). The bench records events with `record`.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from .common import ApiError, clone, page, to_datetime

KEYS = {
    "EventId",
    "EventName",
    "ReadOnly",
    "Username",
    "ResourceType",
    "ResourceName",
    "EventSource",
    "AccessKeyId",
}


class CloudTrail:
    def __init__(self, account: str, region: str):
        self.account = account
        self.region = region
        self.events: list[dict[str, Any]] = []

    def reset(self) -> None:
        self.events = []

    def record(
        self,
        resource: str,
        name: str,
        time: datetime,
        by: str = "bench-user",
        read_only: bool = False,
        source: str = "ec2.amazonaws.com",
        resource_type: str = "AWS::EC2::VPNConnection",
    ) -> str:
        """One management event on `resource`; returns its id."""
        event_id = str(uuid.uuid4())
        record = {
            "eventVersion": "1.09",
            "userIdentity": {"type": "IAMUser", "userName": by, "accountId": self.account},
            "eventTime": time.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "eventSource": source,
            "eventName": name,
            "awsRegion": self.region,
            "readOnly": read_only,
            "eventID": event_id,
            "recipientAccountId": self.account,
        }
        self.events.append(
            {
                "EventId": event_id,
                "EventName": name,
                "ReadOnly": "true" if read_only else "false",
                "AccessKeyId": "AKIABENCH0000000000",
                "EventTime": time,
                "EventSource": source,
                "Username": by,
                "Resources": [{"ResourceType": resource_type, "ResourceName": resource}],
                "CloudTrailEvent": json.dumps(record),
            }
        )
        return event_id

    def LookupEvents(self, p: dict[str, Any]) -> dict[str, Any]:
        attributes = p.get("LookupAttributes") or []
        if not isinstance(attributes, list) or len(attributes) > 1:
            raise ApiError(
                "InvalidLookupAttributesException",
                "You can only specify one lookup attribute.",
                400,
            )
        matches = lambda event: True  # noqa: E731 - no attribute: every event
        if attributes:
            key = attributes[0].get("AttributeKey")
            value = attributes[0].get("AttributeValue")
            if key not in KEYS or not isinstance(value, str) or not value:
                raise ApiError(
                    "InvalidLookupAttributesException",
                    f"Invalid lookup attribute: {key}={value}",
                    400,
                )
            matches = lambda event: _has(event, key, value)  # noqa: E731
        start, end = to_datetime(p.get("StartTime")), to_datetime(p.get("EndTime"))
        if start is not None and end is not None and start > end:
            raise ApiError(
                "InvalidTimeRangeException", "Start time must be before end time.", 400
            )
        max_results = p.get("MaxResults")
        if max_results is not None and not (1 <= int(max_results) <= 50):
            raise ApiError(
                "InvalidMaxResultsException", "MaxResults must be between 1 and 50.", 400
            )
        found = [
            e
            for e in sorted(self.events, key=lambda e: e["EventTime"], reverse=True)
            if matches(e)
            and (start is None or e["EventTime"] >= start)
            and (end is None or e["EventTime"] <= end)
        ]
        events, token = page(
            found,
            max_results,
            p.get("NextToken"),
            50,
            ApiError("InvalidNextTokenException", "Invalid NextToken.", 400),
        )
        out: dict[str, Any] = {
            "Events": [
                {**clone({k: v for k, v in e.items() if k != "EventTime"}),
                 "EventTime": e["EventTime"].timestamp()}
                for e in events
            ]
        }
        if token:
            out["NextToken"] = token
        return out


def _has(event: dict[str, Any], key: str, value: str) -> bool:
    if key == "ResourceName":
        return any(r.get("ResourceName") == value for r in event["Resources"])
    if key == "ResourceType":
        return any(r.get("ResourceType") == value for r in event["Resources"])
    return event.get(key) == value
