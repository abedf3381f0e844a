"""AWS Health's `DescribeEvents`, as aws-sdk-health speaks it: Smithy RPC v2 CBOR
(`POST /service/AWSHealth_20160804/operation/DescribeEvents`), and as botocore does: awsJson1_1
with `X-Amz-Target: AWSHealth_20160804.DescribeEvents`. moto 5.2 has no Health service at all
(test_e2e_changes.py shows it).

`DescribeEvents` (API_DescribeEvents.html): `filter` (`services`, `regions`,
`eventStatusCodes` — open, closed, upcoming —, `eventTypeCategories` — issue,
accountNotification, scheduledChange, investigation —, and more that the emulator refuses),
`maxResults` 10–100, `nextToken`, `locale`. `events[]`: `arn`, `service`, `eventTypeCode`,
`eventTypeCategory`, `region`, `availabilityZone`, `startTime`, `lastUpdatedTime`,
`statusCode`, `eventScopeCode` (timestamps as the protocol writes them). An account without a Business,
Enterprise On-Ramp or Enterprise support plan gets `SubscriptionRequiredException` for every
call: `subscribed = False`.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from .common import ApiError, page

FILTERS = {"services", "regions", "eventStatusCodes", "eventTypeCategories"}
STATUS_CODES = {"open", "closed", "upcoming"}
CATEGORIES = {"issue", "accountNotification", "scheduledChange", "investigation"}


class Health:
    def __init__(self, account: str, region: str):
        self.account = account
        self.region = region
        self.events: list[dict[str, Any]] = []
        self.subscribed = True

    def reset(self) -> None:
        self.events = []
        self.subscribed = True

    def record(
        self,
        service: str,
        event_type: str,
        region: str,
        start: datetime,
        status: str = "open",
        category: str = "issue",
    ) -> str:
        """One Health event; returns its ARN."""
        suffix = uuid.uuid4().hex[:12].upper()
        arn = f"arn:aws:health:{region}::event/{service}/{event_type}/{event_type}_{suffix}"
        self.events.append(
            {
                "arn": arn,
                "service": service,
                "eventTypeCode": event_type,
                "eventTypeCategory": category,
                "region": region,
                "startTime": start,
                "lastUpdatedTime": start,
                "statusCode": status,
                "eventScopeCode": "PUBLIC",
            }
        )
        return arn

    def DescribeEvents(self, p: dict[str, Any]) -> dict[str, Any]:
        if not self.subscribed:
            raise ApiError(
                "SubscriptionRequiredException",
                "The AWS Health API is available only to accounts with a Business, Enterprise "
                "On-Ramp or Enterprise support plan.",
                400,
            )
        given = p.get("filter") or {}
        unknown = set(given) - FILTERS
        if unknown:
            raise ApiError(
                "ValidationException", f"filter fields not served by the emulator: {unknown}", 400
            )
        for field, allowed in (("eventStatusCodes", STATUS_CODES),
                               ("eventTypeCategories", CATEGORIES)):
            bad = set(given.get(field) or []) - allowed
            if bad:
                raise ApiError("ValidationException", f"invalid {field}: {sorted(bad)}", 400)
        max_results = p.get("maxResults")
        if max_results is not None and not (10 <= int(max_results) <= 100):
            raise ApiError(
                "ValidationException", "maxResults must be between 10 and 100.", 400
            )

        def matches(event: dict[str, Any]) -> bool:
            return all(
                not given.get(field) or event[key] in given[field]
                for field, key in (("services", "service"), ("regions", "region"),
                                   ("eventStatusCodes", "statusCode"),
                                   ("eventTypeCategories", "eventTypeCategory"))
            )

        found = sorted(
            (e for e in self.events if matches(e)), key=lambda e: e["startTime"], reverse=True
        )
        events, token = page(
            found,
            max_results,
            p.get("nextToken"),
            100,
            ApiError("InvalidPaginationToken", "Invalid nextToken.", 400),
        )
        out: dict[str, Any] = {"events": [dict(e) for e in events]}
        if token:
            out["nextToken"] = token
        return out
