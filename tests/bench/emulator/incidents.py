"""AWS Systems Manager Incident Manager (`ssm-incidents`), restJson1.

HTTP bindings (method, path, success status) are those of the service model, as generated into
aws-sdk-ssmincidents 1.119 (`src/operation/*.rs`: `uri_base`, `builder.method(..)`) and botocore's
`ssm-incidents` model: everything is `POST /<camelCaseOperation>` with a JSON body, except
`GetIncidentRecord` and `GetResponsePlan` (`GET ...?arn=<arn>`) and `GetTimelineEvent`
(`GET /getTimelineEvent?incidentRecordArn=<arn>&eventId=<id>`); `UpdateIncidentRecord` and
`UpdateRelatedItems` answer 204 without a body, `CreateTimelineEvent` 201.

`ListTimelineEvents` answers `EventSummary` items, which carry no `eventData`
(`API_EventSummary.html`): an event's data is read with `GetTimelineEvent`.

Limits enforced are the documented ones (API reference, `API_StartIncident.html`,
`API_RelatedItem.html`, `API_CreateTimelineEvent.html`, `API_UpdateIncidentRecord.html`).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from .common import ApiError, Checker, clone, drop_none, now, page

ARN_PATTERN = r"^arn:aws(-cn|-us-gov)?:[a-z0-9-]*:[a-z0-9-]*:([0-9]{12})?:.+$"
ITEM_TYPES = (
    "ANALYSIS",
    "INCIDENT",
    "METRIC",
    "PARENT",
    "ATTACHMENT",
    "OTHER",
    "AUTOMATION",
    "INVOLVED_RESOURCE",
    "TASK",
)
STATUSES = ("OPEN", "RESOLVED")
GENERATED_ID_PATTERN = r"^related-item/(" + "|".join(ITEM_TYPES) + r")/([0-9]|[A-F]){32}$"
# "Currently Incident Manager supports only the Custom Event and Note types." (API_TimelineEvent)
CUSTOM_EVENT_TYPES = ("Custom Event", "Note")
# The type of the events Incident Manager writes itself (creation, status changes).
SERVICE_EVENT_TYPE = "SSM Incident Record Update"
# incidentRecordSource.source when StartIncident carries no triggerDetails (a manual start).
MANUAL_SOURCE = "aws.ssm-incidents.custom"

# operation -> (method, path, success status)
HTTP: dict[str, tuple[str, str, int]] = {
    "StartIncident": ("POST", "/startIncident", 200),
    "GetIncidentRecord": ("GET", "/getIncidentRecord", 200),
    "ListIncidentRecords": ("POST", "/listIncidentRecords", 200),
    "UpdateIncidentRecord": ("POST", "/updateIncidentRecord", 204),
    "UpdateRelatedItems": ("POST", "/updateRelatedItems", 204),
    "ListRelatedItems": ("POST", "/listRelatedItems", 200),
    "CreateTimelineEvent": ("POST", "/createTimelineEvent", 201),
    "ListTimelineEvents": ("POST", "/listTimelineEvents", 200),
    "GetTimelineEvent": ("GET", "/getTimelineEvent", 200),
    "GetResponsePlan": ("GET", "/getResponsePlan", 200),
}
ROUTES = {(method, path): op for op, (method, path, _) in HTTP.items()}

check = Checker("ValidationException", 400)


def not_found(kind: str, identifier: str) -> ApiError:
    return ApiError(
        "ResourceNotFoundException",
        f"{kind} {identifier} not found",
        404,
        fields={"resourceIdentifier": identifier, "resourceType": kind},
    )


@dataclass
class Incident:
    record: dict[str, Any]
    timeline: list[dict[str, Any]] = field(default_factory=list)
    related: list[dict[str, Any]] = field(default_factory=list)
    # clientToken -> eventId (CreateTimelineEvent), clientTokens seen (UpdateRelatedItems)
    timeline_tokens: dict[str, str] = field(default_factory=dict)
    related_tokens: set[str] = field(default_factory=set)


class IncidentManager:
    def __init__(self, account: str, region: str):
        self.account = account
        self.region = region
        self.caller = f"arn:aws:sts::{account}:assumed-role/bench-caller/emulator"
        self.reset()

    def reset(self, keep_response_plans: bool = False) -> None:
        if not keep_response_plans or not hasattr(self, "plans"):
            self.plans: dict[str, dict[str, Any]] = {}  # ARN -> GetResponsePlan output
        self.incidents: dict[str, Incident] = {}  # ARN -> incident, in creation order
        self.start_tokens: dict[str, str] = {}  # StartIncident clientToken -> incident ARN
        self.dedupe_hits: list[dict[str, Any]] = []  # starts absorbed by an open incident

    # --- in-process -------------------------------------------------------------------------

    def create_response_plan(
        self,
        name: str,
        title: str,
        impact: int,
        dedupe_string: str | None = None,
        chat_sns: list[str] | None = None,
    ) -> str:
        check.string(name, "name", 1, 200, r"^[a-zA-Z0-9-_]*$")
        check.string(title, "incidentTemplate.title", 0, 200)
        check.integer(impact, "incidentTemplate.impact", 1, 5)
        check.string(dedupe_string, "incidentTemplate.dedupeString", 0, 1000)
        if chat_sns is not None:
            check.list(chat_sns, "chatChannel.chatbotSns", 1, 5)
            for i, arn in enumerate(chat_sns):
                check.string(arn, f"chatChannel.chatbotSns.{i + 1}.member", 0, 1000, ARN_PATTERN)
        arn = f"arn:aws:ssm-incidents::{self.account}:response-plan/{name}"
        template: dict[str, Any] = {"title": title, "impact": int(impact)}
        if dedupe_string:
            template["dedupeString"] = dedupe_string
        template["notificationTargets"] = []
        self.plans[arn] = {
            "arn": arn,
            "name": name,
            "displayName": title,
            "incidentTemplate": template,
            "chatChannel": {"chatbotSns": list(chat_sns)} if chat_sns else {"empty": {}},
            "engagements": [],
            "actions": [],
        }
        return arn

    def snapshot(self) -> list[dict[str, Any]]:
        out = []
        for incident in self.incidents.values():
            entry = clone(incident.record)
            entry["timeline"] = clone(incident.timeline)
            entry["relatedItems"] = clone(incident.related)
            out.append(entry)
        return out

    # --- operations -------------------------------------------------------------------------

    def StartIncident(self, p: dict[str, Any]) -> dict[str, Any]:
        plan_arn = check.required(p, "responsePlanArn")
        check.string(plan_arn, "responsePlanArn", 0, 1000, ARN_PATTERN)
        token = check.string(p.get("clientToken"), "clientToken", 0, 128)
        impact = check.integer(p.get("impact"), "impact", 1, 5)
        title = check.string(p.get("title"), "title", 0, 200)
        trigger = check.struct(p.get("triggerDetails"), "triggerDetails")
        if trigger is not None:
            source = check.required(trigger, "source", "triggerDetails.source")
            check.string(source, "triggerDetails.source", 0, 50)
            if source.startswith("aws."):
                raise check.fail(
                    "triggerDetails.source must not start with 'aws.' (reserved for AWS services)"
                )
            check.timestamp(
                check.required(trigger, "timestamp", "triggerDetails.timestamp"),
                "triggerDetails.timestamp",
            )
            check.string(trigger.get("rawData"), "triggerDetails.rawData", 0, 10000)
            check.string(
                trigger.get("triggerArn"), "triggerDetails.triggerArn", 0, 1000, ARN_PATTERN
            )
        related = check.list(p.get("relatedItems"), "relatedItems", 0, 100) or []
        items = [
            self._related_item(item, f"relatedItems.{i + 1}.member")
            for i, item in enumerate(related)
        ]
        seen: set[tuple[str, str, str]] = set()
        for item in items:
            key = item_key(item["identifier"])
            if key in seen:
                raise check.fail(f"relatedItems contains a duplicate item: {key[2]}")
            seen.add(key)

        if token and token in self.start_tokens:
            return {"incidentRecordArn": self.start_tokens[token]}

        plan = self.plans.get(plan_arn)
        if plan is None:
            raise not_found("RESPONSE_PLAN", plan_arn)
        template = plan["incidentTemplate"]
        dedupe = template.get("dedupeString") or ""
        if dedupe:
            for incident in self.incidents.values():
                record = incident.record
                if record["status"] == "OPEN" and record["dedupeString"] == dedupe:
                    # "If a duplicate is detected, Incident Manager deduplicates the newer
                    # incident into the existing incident." (IncidentTemplate.dedupeString)
                    self.dedupe_hits.append(
                        drop_none(
                            {
                                "incidentRecordArn": record["arn"],
                                "clientToken": token,
                                "title": title,
                                "triggerDetails": clone(trigger),
                                "time": now(),
                            }
                        )
                    )
                    if token:
                        self.start_tokens[token] = record["arn"]
                    return {"incidentRecordArn": record["arn"]}

        created = now()
        arn = f"arn:aws:ssm-incidents::{self.account}:incident-record/{plan['name']}/{uuid.uuid4()}"
        source: dict[str, Any] = {"createdBy": self.caller, "source": MANUAL_SOURCE}
        if trigger is not None:
            source["source"] = trigger["source"]
            if trigger.get("triggerArn"):
                source["resourceArn"] = trigger["triggerArn"]
        record: dict[str, Any] = {
            "arn": arn,
            "title": title if title else template["title"],
            "status": "OPEN",
            "impact": impact if impact is not None else template["impact"],
            "creationTime": created,
            "lastModifiedTime": created,
            "lastModifiedBy": self.caller,
            "incidentRecordSource": source,
            "dedupeString": dedupe,
            "chatChannel": clone(plan["chatChannel"]),
            "notificationTargets": clone(template.get("notificationTargets", [])),
            "automationExecutions": [],
        }
        if template.get("summary"):
            record["summary"] = template["summary"]
        incident = Incident(record=record, related=items)
        incident.timeline.append(
            self._service_event(
                arn,
                created,
                {
                    "summary": "Incident Created",
                    "title": record["title"],
                    "impact": record["impact"],
                    "status": "OPEN",
                    "source": source["source"],
                },
            )
        )
        self.incidents[arn] = incident
        if token:
            self.start_tokens[token] = arn
        return {"incidentRecordArn": arn}

    def GetIncidentRecord(self, p: dict[str, Any]) -> dict[str, Any]:
        arn = check.string(check.required(p, "arn"), "arn", 0, 1000, ARN_PATTERN)
        return {"incidentRecord": clone(self._incident(arn).record)}

    def ListIncidentRecords(self, p: dict[str, Any]) -> dict[str, Any]:
        max_results = check.integer(p.get("maxResults"), "maxResults", 1, 100)
        filters = check.list(p.get("filters"), "filters", 0, 5) or []
        records = [i.record for i in self.incidents.values()]
        for i, f in enumerate(filters):
            records = [r for r in records if self._matches(r, f, f"filters.{i + 1}.member")]
        records.sort(key=lambda r: r["creationTime"], reverse=True)
        chunk, token = page(
            records, max_results, p.get("nextToken"), 100, check.fail("invalid nextToken")
        )
        summaries = [
            drop_none(
                {
                    "arn": r["arn"],
                    "title": r["title"],
                    "status": r["status"],
                    "impact": r["impact"],
                    "creationTime": r["creationTime"],
                    "resolvedTime": r.get("resolvedTime"),
                    "incidentRecordSource": clone(r["incidentRecordSource"]),
                }
            )
            for r in chunk
        ]
        return drop_none({"incidentRecordSummaries": summaries, "nextToken": token})

    def UpdateIncidentRecord(self, p: dict[str, Any]) -> None:
        arn = check.string(check.required(p, "arn"), "arn", 0, 1000, ARN_PATTERN)
        check.string(p.get("clientToken"), "clientToken", 0, 128)
        status = check.enum(p.get("status"), "status", STATUSES)
        impact = check.integer(p.get("impact"), "impact", 1, 5)
        title = check.string(p.get("title"), "title", 0, 200)
        summary = check.string(p.get("summary"), "summary", 0, 8000)
        chat = check.struct(p.get("chatChannel"), "chatChannel")
        if chat is not None:
            self._chat_channel(chat)
        targets = check.list(p.get("notificationTargets"), "notificationTargets", 0, 10)
        for i, t in enumerate(targets or []):
            check.string(
                check.required(t, "snsTopicArn", f"notificationTargets.{i + 1}.member.snsTopicArn"),
                f"notificationTargets.{i + 1}.member.snsTopicArn",
                0,
                1000,
                ARN_PATTERN,
            )
        incident = self._incident(arn)
        record = incident.record
        t = now()
        changes: dict[str, Any] = {}
        if title is not None and title != record["title"]:
            record["title"] = changes["title"] = title
        if impact is not None and impact != record["impact"]:
            record["impact"] = changes["impact"] = impact
        if summary is not None:
            record["summary"] = summary
        if chat is not None:
            record["chatChannel"] = clone(chat)
        if targets is not None:
            record["notificationTargets"] = clone(targets)
        if status is not None and status != record["status"]:
            record["status"] = changes["status"] = status
            if status == "RESOLVED":
                record["resolvedTime"] = t
            else:
                record.pop("resolvedTime", None)
        record["lastModifiedTime"] = t
        record["lastModifiedBy"] = self.caller
        if "status" in changes:
            label = "Incident Resolved" if changes["status"] == "RESOLVED" else "Incident Reopened"
            incident.timeline.append(self._service_event(arn, t, {"summary": label, **changes}))
        return None

    def UpdateRelatedItems(self, p: dict[str, Any]) -> None:
        arn = check.string(
            check.required(p, "incidentRecordArn"), "incidentRecordArn", 0, 1000, ARN_PATTERN
        )
        token = check.string(p.get("clientToken"), "clientToken", 0, 128)
        update = check.struct(check.required(p, "relatedItemsUpdate"), "relatedItemsUpdate")
        present = [k for k in ("itemToAdd", "itemToRemove") if update.get(k) is not None]
        if len(present) != 1:
            raise check.fail(
                "relatedItemsUpdate must set exactly one of itemToAdd, itemToRemove "
                f"(got {present or 'none'})"
            )
        if present[0] == "itemToAdd":
            item = self._related_item(update["itemToAdd"], "relatedItemsUpdate.itemToAdd")
            removal = None
        else:
            item = None
            removal = self._identifier(update["itemToRemove"], "relatedItemsUpdate.itemToRemove")
        incident = self._incident(arn)
        if token and token in incident.related_tokens:
            return None  # the same request again: done already
        if item is not None:
            key = item_key(item["identifier"])
            if any(item_key(r["identifier"]) == key for r in incident.related):
                raise ApiError(
                    "ConflictException",
                    f"The related item {key[2]} already exists on the incident record",
                    409,
                    fields={"resourceIdentifier": arn, "resourceType": "INCIDENT_RECORD"},
                )
            if len(incident.related) >= 100:
                raise check.fail("An incident record holds at most 100 related items")
            incident.related.append(item)
        else:
            key = item_key(removal)
            kept = [r for r in incident.related if item_key(r["identifier"]) != key]
            if len(kept) == len(incident.related):
                raise not_found("RELATED_ITEM", key[2])
            incident.related = kept
        if token:
            incident.related_tokens.add(token)
        return None

    def ListRelatedItems(self, p: dict[str, Any]) -> dict[str, Any]:
        arn = check.string(
            check.required(p, "incidentRecordArn"), "incidentRecordArn", 0, 1000, ARN_PATTERN
        )
        max_results = check.integer(p.get("maxResults"), "maxResults", 1, 100)
        incident = self.incidents.get(arn)
        items = incident.related if incident else []
        chunk, token = page(
            items, max_results, p.get("nextToken"), 100, check.fail("invalid nextToken")
        )
        return drop_none({"relatedItems": clone(chunk), "nextToken": token})

    def CreateTimelineEvent(self, p: dict[str, Any]) -> dict[str, Any]:
        arn = check.string(
            check.required(p, "incidentRecordArn"), "incidentRecordArn", 0, 1000, ARN_PATTERN
        )
        token = check.string(p.get("clientToken"), "clientToken", 0, 128)
        event_time = check.timestamp(check.required(p, "eventTime"), "eventTime")
        event_type = check.string(check.required(p, "eventType"), "eventType", 0, 100)
        if event_type not in CUSTOM_EVENT_TYPES:
            raise check.fail(
                f"eventType '{event_type}' is not supported; use one of: "
                + ", ".join(CUSTOM_EVENT_TYPES)
            )
        data = check.string(check.required(p, "eventData"), "eventData", 0, 12000)
        refs = check.list(p.get("eventReferences"), "eventReferences", 0, 10) or []
        for i, ref in enumerate(refs):
            path = f"eventReferences.{i + 1}.member"
            check.struct(ref, path)
            set_keys = [k for k in ("resource", "relatedItemId") if ref.get(k) is not None]
            if len(set_keys) != 1:
                raise check.fail(f"{path} must set exactly one of resource, relatedItemId")
            check.string(ref.get("resource"), f"{path}.resource", 0, 1000, ARN_PATTERN)
            check.string(ref.get("relatedItemId"), f"{path}.relatedItemId", 0, 200)
        incident = self._incident(arn)
        if token and token in incident.timeline_tokens:
            return {"incidentRecordArn": arn, "eventId": incident.timeline_tokens[token]}
        t = now()
        event: dict[str, Any] = {
            "incidentRecordArn": arn,
            "eventId": str(uuid.uuid4()),
            "eventTime": event_time,
            "eventUpdatedTime": t,
            "eventType": event_type,
            "eventData": data,  # verbatim
        }
        if refs:
            event["eventReferences"] = clone(refs)
        incident.timeline.append(event)
        if token:
            incident.timeline_tokens[token] = event["eventId"]
        return {"incidentRecordArn": arn, "eventId": event["eventId"]}

    def ListTimelineEvents(self, p: dict[str, Any]) -> dict[str, Any]:
        arn = check.string(
            check.required(p, "incidentRecordArn"), "incidentRecordArn", 0, 1000, ARN_PATTERN
        )
        max_results = check.integer(p.get("maxResults"), "maxResults", 1, 100)
        check.enum(p.get("sortBy"), "sortBy", ("EVENT_TIME",))
        order = check.enum(p.get("sortOrder"), "sortOrder", ("ASCENDING", "DESCENDING"))
        filters = check.list(p.get("filters"), "filters", 0, 5) or []
        incident = self.incidents.get(arn)
        events = list(incident.timeline) if incident else []
        for i, f in enumerate(filters):
            events = [e for e in events if self._matches(e, f, f"filters.{i + 1}.member")]
        events.sort(key=lambda e: e["eventTime"], reverse=order == "DESCENDING")
        chunk, token = page(
            events, max_results, p.get("nextToken"), 100, check.fail("invalid nextToken")
        )
        summaries = [{k: clone(v) for k, v in e.items() if k != "eventData"} for e in chunk]
        return drop_none({"eventSummaries": summaries, "nextToken": token})

    def GetTimelineEvent(self, p: dict[str, Any]) -> dict[str, Any]:
        arn = check.string(
            check.required(p, "incidentRecordArn"), "incidentRecordArn", 0, 1000, ARN_PATTERN
        )
        event_id = check.string(check.required(p, "eventId"), "eventId", 0, 50)
        incident = self.incidents.get(arn)
        event = next(
            (e for e in (incident.timeline if incident else []) if e["eventId"] == event_id), None
        )
        if event is None:
            raise not_found("TIMELINE_EVENT", event_id)
        return {"event": clone(event)}

    def GetResponsePlan(self, p: dict[str, Any]) -> dict[str, Any]:
        arn = check.string(check.required(p, "arn"), "arn", 0, 1000, ARN_PATTERN)
        plan = self.plans.get(arn)
        if plan is None:
            raise not_found("RESPONSE_PLAN", arn)
        return clone(plan)

    # --- helpers ----------------------------------------------------------------------------

    def _incident(self, arn: str) -> Incident:
        incident = self.incidents.get(arn)
        if incident is None:
            raise not_found("INCIDENT_RECORD", arn)
        return incident

    def _service_event(self, arn: str, t: Any, data: dict[str, Any]) -> dict[str, Any]:
        return {
            "incidentRecordArn": arn,
            "eventId": str(uuid.uuid4()),
            "eventTime": t,
            "eventUpdatedTime": t,
            "eventType": SERVICE_EVENT_TYPE,
            "eventData": json.dumps(data, separators=(",", ":")),
        }

    def _identifier(self, ident: Any, path: str) -> dict[str, Any]:
        check.struct(ident, path)
        check.enum(check.required(ident, "type", f"{path}.type"), f"{path}.type", ITEM_TYPES)
        value = check.struct(check.required(ident, "value", f"{path}.value"), f"{path}.value")
        kinds = [
            k
            for k in ("arn", "url", "metricDefinition", "pagerDutyIncidentDetail")
            if value.get(k) is not None
        ]
        if len(kinds) != 1:
            raise check.fail(
                f"{path}.value must set exactly one of arn, url, metricDefinition, "
                f"pagerDutyIncidentDetail (got {kinds or 'none'})"
            )
        check.string(value.get("arn"), f"{path}.value.arn", 0, 1000, ARN_PATTERN)
        check.string(value.get("url"), f"{path}.value.url", 0, 1000)
        check.string(value.get("metricDefinition"), f"{path}.value.metricDefinition", 0, 4000)
        return {"type": ident["type"], "value": clone(value)}

    def _related_item(self, item: Any, path: str) -> dict[str, Any]:
        check.struct(item, path)
        identifier = self._identifier(
            check.required(item, "identifier", f"{path}.identifier"), f"{path}.identifier"
        )
        title = check.string(item.get("title"), f"{path}.title", 0, 200)
        generated = check.string(
            item.get("generatedId"),
            f"{path}.generatedId",
            0,
            200,
            GENERATED_ID_PATTERN,
        )
        return drop_none({"identifier": identifier, "title": title, "generatedId": generated})

    def _chat_channel(self, chat: dict[str, Any]) -> None:
        kinds = [k for k in ("chatbotSns", "empty") if chat.get(k) is not None]
        if len(kinds) != 1:
            raise check.fail("chatChannel must set exactly one of chatbotSns, empty")
        if "chatbotSns" in kinds:
            for i, arn in enumerate(check.list(chat["chatbotSns"], "chatChannel.chatbotSns", 1, 5)):
                check.string(arn, f"chatChannel.chatbotSns.{i + 1}.member", 0, 1000, ARN_PATTERN)

    def _matches(self, obj: dict[str, Any], f: Any, path: str) -> bool:
        """ListIncidentRecords / ListTimelineEvents filter: `key` + a `condition` union
        (before | after | equals {stringValues | integerValues})."""
        check.struct(f, path)
        key = check.string(check.required(f, "key", f"{path}.key"), f"{path}.key", 0, 50)
        cond = check.struct(
            check.required(f, "condition", f"{path}.condition"), f"{path}.condition"
        )
        attr = {
            "status": "status",
            "impact": "impact",
            "creationTime": "creationTime",
            "createdBy": None,
            "eventTime": "eventTime",
            "eventType": "eventType",
            "eventReference": None,
        }
        if key not in attr:
            raise check.fail(f"unsupported filter key '{key}'")
        if key == "createdBy":
            value: Any = obj.get("incidentRecordSource", {}).get("createdBy")
        elif key == "eventReference":
            value = [
                r.get("resource") or r.get("relatedItemId") for r in obj.get("eventReferences", [])
            ]
        else:
            value = obj.get(attr[key])
        kinds = [k for k in ("before", "after", "equals") if cond.get(k) is not None]
        if len(kinds) != 1:
            raise check.fail(f"{path}.condition must set exactly one of before, after, equals")
        kind = kinds[0]
        if kind in ("before", "after"):
            bound = check.timestamp(cond[kind], f"{path}.condition.{kind}")
            if value is None or not hasattr(value, "timestamp"):
                return False
            return value < bound if kind == "before" else value > bound
        equals = check.struct(cond["equals"], f"{path}.condition.equals")
        wanted = list(equals.get("stringValues") or []) + list(equals.get("integerValues") or [])
        if isinstance(value, list):
            return any(v in wanted for v in value)
        return value in wanted


def item_key(identifier: dict[str, Any]) -> tuple[str, str, str]:
    """(type, value kind, value) — what makes two related items the same."""
    value = identifier.get("value", {})
    for kind in ("arn", "url", "metricDefinition"):
        if value.get(kind) is not None:
            return identifier.get("type", ""), kind, str(value[kind])
    detail = value.get("pagerDutyIncidentDetail") or {}
    return identifier.get("type", ""), "pagerDutyIncidentDetail", str(detail.get("id", ""))

