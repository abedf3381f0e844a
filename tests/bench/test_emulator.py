"""The emulator (tests/bench/emulator) against real clients: boto3 for Incident Manager
(restJson1) and SSM (awsJson1_1); hand-built CBOR requests and botocore's own RPC v2 CBOR
serializer/parser for CloudWatch; plain urllib for the wire-level error shapes."""

from __future__ import annotations

import gzip
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import cbor2
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from emulator import Emulator

ACCOUNT = "111122223333"
REGION = "us-east-1"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "events"
CW_PATH = "/service/GraniteServiceVersion20100801/operation/"
VPN_PARAMS = {
    "VpnConnectionId": ["vpn-0123456789abcdef0"],
    "TunnelAIPAddress": ["203.0.113.10"],
    "IKEVersion": ["IKEv2"],
    "LogGroupName": ["/vpn/tunnel-logs"],
}


@pytest.fixture(scope="module")
def emu():
    e = Emulator(account=ACCOUNT, region=REGION).start()
    yield e
    e.stop()


@pytest.fixture(autouse=True)
def fresh(emu):
    emu.reset()
    emu.ops_dedup_mode = "return-existing"
    yield


# botocore's legacy retry mode counts `max_attempts` as *retries* (1 → two attempts);
# `total_max_attempts` counts attempts, the first included.
NO_RETRY = {"mode": "standard", "total_max_attempts": 1}


def client(emu: Emulator, service: str, **config: Any):
    return boto3.client(
        service,
        endpoint_url=emu.url,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(**config) if config else None,
    )


@pytest.fixture(scope="module")
def im(emu):
    # No client-side validation: the emulator's rules are what is tested.
    return client(emu, "ssm-incidents", parameter_validation=False, retries=NO_RETRY)


@pytest.fixture(scope="module")
def ssm(emu):
    return client(emu, "ssm", parameter_validation=False, retries=NO_RETRY)


@pytest.fixture(scope="module")
def cw_json(emu):
    """boto3's own CloudWatch client: botocore 1.44 lists ["smithy-rpc-v2-cbor", "json",
    "query"] and picks by its priority order, json first, so this one speaks awsJson1_0."""
    return client(emu, "cloudwatch", retries=NO_RETRY)


@pytest.fixture(scope="module")
def cw_cbor(emu):
    """botocore's RPC v2 CBOR serializer and parser, forced by a service model whose only
    protocol is smithy-rpc-v2-cbor: an independent client of the CBOR side."""
    base = botocore.session.get_session()
    model = base.get_component("data_loader").load_service_model("cloudwatch", "service-2")
    model["metadata"]["protocols"] = ["smithy-rpc-v2-cbor"]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp, "cloudwatch", model["metadata"]["apiVersion"])
        folder.mkdir(parents=True)
        (folder / "service-2.json").write_text(json.dumps(model))
        session = botocore.session.get_session()
        session.get_component("data_loader").search_paths.insert(0, tmp)
        c = boto3.Session(botocore_session=session).client(
            "cloudwatch",
            endpoint_url=emu.url,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(retries=NO_RETRY),
        )
    assert c.meta.service_model.resolved_protocol == "smithy-rpc-v2-cbor"
    return c


def error_of(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, str, int]:
    r = excinfo.value.response
    return r["Error"]["Code"], r["Error"].get("Message", ""), r["ResponseMetadata"][
        "HTTPStatusCode"
    ]


def http(
    emu: Emulator,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
):
    req = urllib.request.Request(emu.url + path, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


def cbor_call(
    emu: Emulator,
    operation: str,
    payload: Any = None,
    raw: bytes | None = None,
    headers: dict[str, str] | None = None,
):
    body = raw if raw is not None else cbor2.dumps(payload)
    h = {
        "smithy-protocol": "rpc-v2-cbor",
        "Content-Type": "application/cbor",
        "Accept": "application/cbor",
    }
    h.update(headers or {})
    return http(emu, "POST", CW_PATH + operation, body, h)


def trigger(source: str = "incident.responder", **extra: Any) -> dict[str, Any]:
    return {"source": source, "timestamp": datetime.now(timezone.utc), **extra}


# --- Incident Manager ------------------------------------------------------------------------


def test_start_incident_records_what_was_sent(emu, im):
    plan = emu.create_response_plan(
        "vpn-plan", "VPN down", 3, chat_sns=[f"arn:aws:sns:{REGION}:{ACCOUNT}:chat"]
    )
    alarm = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:vpn-tunnel-down"
    arn = im.start_incident(
        responsePlanArn=plan,
        clientToken="occurrence-1",
        title="VPN vpn-0abc: tunnel down",
        impact=2,
        triggerDetails=trigger(rawData='{"alarm": 1}', triggerArn=alarm),
        relatedItems=[
            {
                "identifier": {"type": "INVOLVED_RESOURCE", "value": {"arn": alarm}},
                "title": "alarm",
            },
            {"identifier": {"type": "OTHER", "value": {"url": "https://example.com/runbook"}}},
        ],
    )["incidentRecordArn"]
    assert re.fullmatch(
        rf"arn:aws:ssm-incidents::{ACCOUNT}:incident-record/vpn-plan/[0-9a-f-]{{36}}", arn
    )

    record = im.get_incident_record(arn=arn)["incidentRecord"]
    assert record["arn"] == arn
    assert record["title"] == "VPN vpn-0abc: tunnel down"
    assert record["impact"] == 2 and record["status"] == "OPEN"
    assert record["incidentRecordSource"]["source"] == "incident.responder"
    assert record["incidentRecordSource"]["resourceArn"] == alarm
    assert record["incidentRecordSource"]["createdBy"].startswith(f"arn:aws:sts::{ACCOUNT}:")
    assert record["chatChannel"] == {"chatbotSns": [f"arn:aws:sns:{REGION}:{ACCOUNT}:chat"]}
    assert record["dedupeString"] == "" and record["automationExecutions"] == []
    assert record["creationTime"] == record["lastModifiedTime"] and "resolvedTime" not in record

    (stored,) = emu.incidents()
    assert stored["arn"] == arn and len(stored["relatedItems"]) == 2
    assert [json.loads(e["eventData"])["summary"] for e in stored["timeline"]] == [
        "Incident Created"
    ]

    # the plan's template applies when the call does not override it
    other = im.start_incident(responsePlanArn=plan, triggerDetails=trigger())["incidentRecordArn"]
    record = im.get_incident_record(arn=other)["incidentRecord"]
    assert (record["title"], record["impact"]) == ("VPN down", 3)


def test_start_incident_is_idempotent_on_client_token(emu, im):
    plan = emu.create_response_plan("p", "t", 3)
    first = im.start_incident(responsePlanArn=plan, clientToken="tok", triggerDetails=trigger())
    again = im.start_incident(responsePlanArn=plan, clientToken="tok", triggerDetails=trigger())
    assert first["incidentRecordArn"] == again["incidentRecordArn"]
    assert len(emu.incidents()) == 1
    assert emu.calls("StartIncident") == 2


@pytest.mark.parametrize(
    "change, field",
    [
        ({"impact": 0}, "impact"),
        ({"impact": 6}, "impact"),
        ({"title": "x" * 201}, "title"),
        ({"triggerDetails": trigger("aws.cloudwatch")}, "aws."),
        ({"triggerDetails": trigger("s" * 51)}, "triggerDetails.source"),
        ({"triggerDetails": {"timestamp": datetime.now(timezone.utc)}}, "triggerDetails.source"),
        ({"triggerDetails": trigger(rawData="r" * 10_001)}, "triggerDetails.rawData"),
        ({"clientToken": "c" * 129}, "clientToken"),
        (
            {
                "relatedItems": [
                    {"identifier": {"type": "OTHER", "value": {"url": f"https://x/{i}"}}}
                    for i in range(101)
                ]
            },
            "relatedItems",
        ),
        (
            {"relatedItems": [{"identifier": {"type": "NOPE", "value": {"url": "https://x"}}}]},
            "type",
        ),
        ({"responsePlanArn": None}, "responsePlanArn"),
    ],
)
def test_start_incident_rejects_what_the_api_rejects(emu, im, change, field):
    plan = emu.create_response_plan("p", "t", 3)
    request = {"responsePlanArn": plan, "triggerDetails": trigger(), **change}
    request = {k: v for k, v in request.items() if v is not None}
    with pytest.raises(ClientError) as e:
        im.start_incident(**request)
    code, message, status = error_of(e)
    assert (code, status) == ("ValidationException", 400)
    assert field in message
    assert emu.incidents() == []


def test_unknown_response_plan_is_not_found(im):
    with pytest.raises(ClientError) as e:
        im.start_incident(
            responsePlanArn=f"arn:aws:ssm-incidents::{ACCOUNT}:response-plan/nope",
            triggerDetails=trigger(),
        )
    assert error_of(e)[0::2] == ("ResourceNotFoundException", 404)


def test_dedupe_string_absorbs_starts_while_the_incident_is_open(emu, im):
    plan = emu.create_response_plan("dedupe-plan", "VPN down", 2, dedupe_string="vpn-0abc")
    first = im.start_incident(responsePlanArn=plan, clientToken="a", triggerDetails=trigger())[
        "incidentRecordArn"
    ]
    second = im.start_incident(responsePlanArn=plan, clientToken="b", triggerDetails=trigger())[
        "incidentRecordArn"
    ]
    assert second == first and len(emu.incidents()) == 1
    assert im.get_incident_record(arn=first)["incidentRecord"]["dedupeString"] == "vpn-0abc"

    im.update_incident_record(arn=first, status="RESOLVED")
    third = im.start_incident(responsePlanArn=plan, clientToken="c", triggerDetails=trigger())[
        "incidentRecordArn"
    ]
    assert third != first and len(emu.incidents()) == 2


def test_timeline_events_and_related_items(emu, im):
    plan = emu.create_response_plan("p", "t", 3)
    arn = im.start_incident(responsePlanArn=plan, triggerDetails=trigger())["incidentRecordArn"]
    when = datetime(2024, 5, 14, 3, 2, 10, tzinfo=timezone.utc)
    data = json.dumps("Tunnel 203.0.113.10 DOWN since 03:01")
    ids = {
        im.create_timeline_event(
            incidentRecordArn=arn,
            clientToken="note-1",
            eventTime=when,
            eventType="Custom Event",
            eventData=data,
        )["eventId"]
        for _ in range(2)
    }
    assert len(ids) == 1  # same clientToken: one event

    events = im.list_timeline_events(incidentRecordArn=arn, sortOrder="ASCENDING")["eventSummaries"]
    assert [e["eventType"] for e in events] == ["Custom Event", "SSM Incident Record Update"]
    custom = [e for e in emu.incidents()[0]["timeline"] if e["eventType"] == "Custom Event"]
    assert custom[0]["eventData"] == data and custom[0]["eventTime"] == when  # verbatim

    with pytest.raises(ClientError) as e:
        im.create_timeline_event(
            incidentRecordArn=arn, eventTime=when, eventType="Custom Event", eventData="d" * 12_001
        )
    assert error_of(e)[0] == "ValidationException" and "eventData" in error_of(e)[1]

    item = {
        "identifier": {"type": "OTHER", "value": {"url": "https://example.com/dash"}},
        "title": "dashboard",
    }
    for _ in range(2):  # same clientToken: no duplicate
        im.update_related_items(
            incidentRecordArn=arn, clientToken="rel-1", relatedItemsUpdate={"itemToAdd": item}
        )
    with pytest.raises(ClientError) as e:  # the same item under another token
        im.update_related_items(
            incidentRecordArn=arn, clientToken="rel-2", relatedItemsUpdate={"itemToAdd": item}
        )
    assert error_of(e)[0::2] == ("ConflictException", 409)
    assert im.list_related_items(incidentRecordArn=arn)["relatedItems"] == [item]

    im.update_related_items(
        incidentRecordArn=arn, clientToken="rel-3", relatedItemsUpdate={
            "itemToRemove": item["identifier"]
        }
    )
    assert im.list_related_items(incidentRecordArn=arn)["relatedItems"] == []


def test_update_incident_record_resolves(emu, im):
    plan = emu.create_response_plan("p", "t", 3)
    arn = im.start_incident(responsePlanArn=plan, triggerDetails=trigger())["incidentRecordArn"]
    im.update_incident_record(arn=arn, status="RESOLVED", summary="tunnel back up")
    record = im.get_incident_record(arn=arn)["incidentRecord"]
    assert record["status"] == "RESOLVED" and record["summary"] == "tunnel back up"
    assert record["resolvedTime"] >= record["creationTime"]

    def listed(status: str) -> list[str]:
        f = [{"key": "status", "condition": {"equals": {"stringValues": [status]}}}]
        return [s["arn"] for s in im.list_incident_records(filters=f)["incidentRecordSummaries"]]

    assert listed("RESOLVED") == [arn] and listed("OPEN") == []
    with pytest.raises(ClientError) as e:
        im.update_incident_record(arn=arn, status="CLOSED")
    assert error_of(e)[0] == "ValidationException"


def test_get_timeline_event_gives_the_data_the_list_leaves_out(emu, im):
    """ListTimelineEvents answers EventSummary items (no eventData); GetTimelineEvent answers
    the whole TimelineEvent, eventData verbatim."""
    plan = emu.create_response_plan("p", "t", 3)
    arn = im.start_incident(responsePlanArn=plan, triggerDetails=trigger())["incidentRecordArn"]
    when = datetime(2024, 5, 14, 3, 2, 10, tzinfo=timezone.utc)
    data = json.dumps('Tunnel "A" DOWN')
    event_id = im.create_timeline_event(
        incidentRecordArn=arn, eventTime=when, eventType="Custom Event", eventData=data
    )["eventId"]
    listed = im.list_timeline_events(incidentRecordArn=arn)["eventSummaries"]
    assert all("eventData" not in e for e in listed)

    event = im.get_timeline_event(incidentRecordArn=arn, eventId=event_id)["event"]
    assert (event["eventId"], event["eventType"], event["eventData"]) == (
        event_id, "Custom Event", data
    )
    assert event["eventTime"] == when and event["incidentRecordArn"] == arn
    created = next(e for e in listed if e["eventType"] == "SSM Incident Record Update")
    service = im.get_timeline_event(incidentRecordArn=arn, eventId=created["eventId"])["event"]
    assert json.loads(service["eventData"])["summary"] == "Incident Created"

    with pytest.raises(ClientError) as e:
        im.get_timeline_event(incidentRecordArn=arn, eventId="no-such-event")
    assert error_of(e)[0::2] == ("ResourceNotFoundException", 404)
    assert e.value.response["resourceType"] == "TIMELINE_EVENT"
    with pytest.raises(ClientError) as e:
        im.get_timeline_event(incidentRecordArn=arn)
    assert error_of(e)[0] == "ValidationException"
    status, _, _ = http(
        emu, "GET", f"/getTimelineEvent?incidentRecordArn={arn}&eventId={event_id}"
    )
    assert status == 200


def test_list_timeline_events_sorts_by_event_time_and_pages(emu, im):
    plan = emu.create_response_plan("p", "t", 3)
    arn = im.start_incident(responsePlanArn=plan, triggerDetails=trigger())["incidentRecordArn"]
    base = datetime.now(timezone.utc) - timedelta(hours=1)
    for minute in (30, 10, 20):  # created out of order
        im.create_timeline_event(
            incidentRecordArn=arn,
            eventTime=base + timedelta(minutes=minute),
            eventType="Custom Event",
            eventData=json.dumps(f"m{minute}"),
        )
    im.update_incident_record(arn=arn, status="RESOLVED", summary="done")

    def all_pages(order: str) -> list[datetime]:
        times, token, pages = [], None, 0
        while True:
            extra = {"nextToken": token} if token else {}
            out = im.list_timeline_events(
                incidentRecordArn=arn, sortBy="EVENT_TIME", sortOrder=order, maxResults=2, **extra
            )
            pages += 1
            assert len(out["eventSummaries"]) <= 2
            times += [e["eventTime"] for e in out["eventSummaries"]]
            token = out.get("nextToken")
            if not token:
                return times if pages == 3 else pytest.fail(f"{pages} pages")

    ascending = all_pages("ASCENDING")
    assert len(ascending) == 5 and ascending == sorted(ascending)  # created, 3 notes, resolved
    assert all_pages("DESCENDING") == ascending[::-1]
    types = [
        e["eventType"]
        for e in im.list_timeline_events(incidentRecordArn=arn, sortOrder="ASCENDING")[
            "eventSummaries"
        ]
    ]
    # the notes are dated before the incident was started; its creation and resolution after
    assert types == ["Custom Event"] * 3 + ["SSM Incident Record Update"] * 2
    with pytest.raises(ClientError) as e:
        im.list_timeline_events(incidentRecordArn=arn, sortBy="EVENT_TYPE")
    assert error_of(e)[0] == "ValidationException"
    with pytest.raises(ClientError) as e:
        im.list_timeline_events(incidentRecordArn=arn, maxResults=101)
    assert error_of(e)[0] == "ValidationException"


def test_resolving_again_keeps_the_resolution_time(emu, im):
    plan = emu.create_response_plan("p", "t", 3)
    arn = im.start_incident(responsePlanArn=plan, triggerDetails=trigger())["incidentRecordArn"]
    im.update_incident_record(arn=arn, clientToken="r1", status="RESOLVED", summary="first")
    first = im.get_incident_record(arn=arn)["incidentRecord"]
    im.update_incident_record(arn=arn, clientToken="r2", status="RESOLVED", summary="second")
    second = im.get_incident_record(arn=arn)["incidentRecord"]
    assert second["status"] == "RESOLVED" and second["summary"] == "second"
    assert second["resolvedTime"] == first["resolvedTime"]
    with pytest.raises(ClientError) as e:
        im.update_incident_record(arn=arn, summary="s" * 8001)
    assert error_of(e)[0] == "ValidationException" and "summary" in error_of(e)[1]


def test_rest_json_errors_on_the_wire(emu):
    status, headers, body = http(
        emu,
        "GET",
        "/getIncidentRecord?arn=" + f"arn:aws:ssm-incidents::{ACCOUNT}:incident-record/p/x",
    )
    assert status == 404 and headers["x-amzn-errortype"] == "ResourceNotFoundException"
    assert json.loads(body)["__type"] == "ResourceNotFoundException" and "message" in json.loads(
        body
    )

    status, headers, body = http(
        emu, "POST", "/startIncident", b"{not json", {"Content-Type": "application/json"}
    )
    assert (status, headers["x-amzn-errortype"]) == (400, "SerializationException")

    status, headers, body = http(
        emu, "POST", "/noSuchOperation", b"{}", {"Content-Type": "application/json"}
    )
    assert (status, json.loads(body)["__type"]) == (400, "UnknownOperationException")


# --- OpsCenter -------------------------------------------------------------------------------


def dedup(key: str) -> dict[str, Any]:
    return {"/aws/dedup": {"Value": json.dumps({"dedupString": key}), "Type": "SearchableString"}}


def create_ops_item(ssm, **extra: Any) -> str:
    request = {
        "Title": "VPN down",
        "Description": "A tunnel is down",
        "Source": "incident.responder",
        **extra,
    }
    return ssm.create_ops_item(**request)["OpsItemId"]


def test_ops_item_create_dedup_resolve_recreate(emu, ssm):
    first = create_ops_item(
        ssm, Severity="2", Priority=2, Category="Availability", OperationalData=dedup("vpn-0abc")
    )
    assert re.fullmatch(r"oi-[0-9a-f]{12}", first)
    item = ssm.get_ops_item(OpsItemId=first)["OpsItem"]
    assert (item["Status"], item["Severity"], item["Priority"], item["Category"]) == (
        "Open", "2", 2, "Availability"
    )
    assert item["OpsItemArn"] == f"arn:aws:ssm:{REGION}:{ACCOUNT}:opsitem/{first}"

    assert create_ops_item(ssm, OperationalData=dedup("vpn-0abc")) == first  # open: nothing created
    ssm.update_ops_item(OpsItemId=first, Status="InProgress")
    assert create_ops_item(ssm, OperationalData=dedup("vpn-0abc")) == first  # in progress: same
    assert len(emu.ops_items()) == 1

    ssm.update_ops_item(OpsItemId=first, Status="Resolved")
    second = create_ops_item(ssm, OperationalData=dedup("vpn-0abc"))
    assert second != first and len(emu.ops_items()) == 2

    emu.ops_dedup_mode = "already-exists"
    with pytest.raises(ClientError) as e:
        create_ops_item(ssm, OperationalData=dedup("vpn-0abc"))
    assert error_of(e)[0] == "OpsItemAlreadyExistsException"
    assert e.value.response["OpsItemId"] == second


@pytest.mark.parametrize(
    "change, parameter",
    [
        ({"Source": "aws.cloudwatch"}, "Source"),
        ({"Source": "my-Amazon-thing"}, "Source"),
        ({"Source": "AMZN"}, "Source"),
        ({"Severity": "5"}, "Severity"),
        ({"Category": "Outage"}, "Category"),
        ({"OperationalData": {"aws:custom": {"Value": "x"}}}, "OperationalData"),
        ({"OperationalData": {"big": {"Value": "x" * (20 * 1024 + 1)}}}, "OperationalData"),
        ({"OperationalData": {"/aws/dedup": {"Value": "not json"}}}, "OperationalData"),
    ],
)
def test_ops_item_invalid_parameters(emu, ssm, change, parameter):
    with pytest.raises(ClientError) as e:
        create_ops_item(ssm, **change)
    code, _, status = error_of(e)
    assert (code, status) == ("OpsItemInvalidParameterException", 400)
    assert e.value.response["ParameterNames"] == [parameter]
    assert emu.ops_items() == []


@pytest.mark.parametrize(
    "change, field",
    [
        ({"Title": "t" * 1025}, "Title"),
        ({"Description": "d" * 2049}, "Description"),
        ({"Description": None}, "Description"),
        ({"Priority": 6}, "Priority"),
        ({"OperationalData": {"k" * 129: {"Value": "v"}}}, "OperationalData"),
    ],
)
def test_ops_item_model_constraints(ssm, change, field):
    request = {"Title": "t", "Description": "d", "Source": "incident.responder", **change}
    with pytest.raises(ClientError) as e:
        ssm.create_ops_item(**{k: v for k, v in request.items() if v is not None})
    assert error_of(e)[0] == "ValidationException" and field in error_of(e)[1]


def test_update_ops_item_merges_operational_data(emu, ssm):
    oid = create_ops_item(
        ssm, OperationalData={**dedup("k"), "keep": {"Value": "1"}, "drop": {"Value": "2"}}
    )
    ssm.update_ops_item(
        OpsItemId=oid,
        OperationalData={"added": {"Value": "3", "Type": "String"}, "keep": {"Value": "1b"}},
        OperationalDataToDelete=["drop"],
        Description="updated",
    )
    item = ssm.get_ops_item(OpsItemId=oid)["OpsItem"]
    assert sorted(item["OperationalData"]) == ["/aws/dedup", "added", "keep"]
    assert item["OperationalData"]["keep"]["Value"] == "1b" and item["Description"] == "updated"
    with pytest.raises(ClientError) as e:
        ssm.update_ops_item(OpsItemId=oid, OperationalData=dedup("other"))
    assert error_of(e)[0] == "OpsItemInvalidParameterException"
    with pytest.raises(ClientError) as e:
        ssm.update_ops_item(OpsItemId="oi-000000000000", Status="Resolved")
    assert error_of(e)[0] == "OpsItemNotFoundException"


def test_describe_ops_items_filters(emu, ssm):
    a = create_ops_item(ssm, Title="alpha", OperationalData=dedup("a"))
    b = create_ops_item(ssm, Title="beta", OperationalData=dedup("b"))
    ssm.update_ops_item(OpsItemId=b, Status="Resolved")

    def ids(*filters: dict[str, Any]) -> list[str]:
        return [
            s["OpsItemId"] for s in ssm.describe_ops_items(OpsItemFilters=list(filters))[
                "OpsItemSummaries"
            ]
        ]

    assert ids({"Key": "Status", "Values": ["Open"], "Operator": "Equal"}) == [a]
    assert ids({"Key": "OpsItemId", "Values": [b], "Operator": "Equal"}) == [b]
    assert ids({"Key": "Title", "Values": ["alp"], "Operator": "Contains"}) == [a]
    assert set(ids({"Key": "Source", "Values": ["incident.responder"], "Operator": "Equal"})) == {
        a, b
    }
    wanted = json.dumps({"key": "/aws/dedup", "value": json.dumps({"dedupString": "b"})})
    assert ids({"Key": "OperationalData", "Values": [wanted], "Operator": "Equal"}) == [b]


def test_associate_ops_item_related_item(emu, ssm):
    oid = create_ops_item(ssm)
    incident = f"arn:aws:ssm-incidents::{ACCOUNT}:incident-record/p/1234"
    args = {
        "OpsItemId": oid,
        "AssociationType": "RelatesTo",
        "ResourceType": "AWS::SSMIncidents::IncidentRecord",
        "ResourceUri": incident,
    }
    assert ssm.associate_ops_item_related_item(**args)["AssociationId"]
    with pytest.raises(ClientError) as e:
        ssm.associate_ops_item_related_item(**args)
    assert error_of(e)[0] == "OpsItemRelatedItemAlreadyExistsException"
    with pytest.raises(ClientError) as e:
        ssm.associate_ops_item_related_item(**{**args, "ResourceType": "AWS::EC2::VPNConnection"})
    assert error_of(e)[0] == "OpsItemInvalidParameterException"
    (summary,) = ssm.list_ops_item_related_items(OpsItemId=oid)["Summaries"]
    assert summary["ResourceUri"] == incident
    assert emu.ops_items()[0]["relatedItems"][0]["ResourceUri"] == incident


def test_aws_json_errors_on_the_wire(emu):
    headers = {
        "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "AmazonSSM.NoSuchThing"
    }
    status, h, body = http(emu, "POST", "/", b"{}", headers)
    assert status == 400 and json.loads(body)["__type"] == "UnknownOperationException"
    headers["X-Amz-Target"] = "AmazonSSM.GetOpsItem"
    status, h, body = http(emu, "POST", "/", b"{oops", headers)
    assert status == 400 and json.loads(body)["__type"] == "SerializationException"
    assert h["content-type"] == "application/x-amz-json-1.1"


# --- Automation ------------------------------------------------------------------------------


def test_automation_start_is_idempotent_and_finishes(emu, ssm):
    token = "0b0e2a59-3c1f-4e55-9c4e-0a4c1b2d3e4f"
    first = ssm.start_automation_execution(
        DocumentName="AWSSupport-TroubleshootVPN", Parameters=VPN_PARAMS, ClientToken=token
    )
    again = ssm.start_automation_execution(
        DocumentName="AWSSupport-TroubleshootVPN", Parameters=VPN_PARAMS, ClientToken=token
    )
    execution_id = first["AutomationExecutionId"]
    assert again["AutomationExecutionId"] == execution_id and len(emu.automations()) == 1
    assert re.fullmatch(r"[0-9a-f-]{36}", execution_id)

    with pytest.raises(ClientError) as e:  # the same token for another request
        ssm.start_automation_execution(
            DocumentName="AWSSupport-TroubleshootVPN",
            Parameters={**VPN_PARAMS, "IKEVersion": ["IKEv1"]},
            ClientToken=token,
        )
    assert error_of(e)[0] == "IdempotentParameterMismatch"

    running = ssm.get_automation_execution(AutomationExecutionId=execution_id)[
        "AutomationExecution"
    ]
    assert running["AutomationExecutionStatus"] == "InProgress"
    assert running["Parameters"] == VPN_PARAMS
    assert "ExecutionEndTime" not in running

    emu.finish_automation(execution_id, outputs={"generateReport.Report": "no IKE errors found"})
    done = ssm.get_automation_execution(AutomationExecutionId=execution_id)["AutomationExecution"]
    assert done["AutomationExecutionStatus"] == "Success"
    assert done["Outputs"] == {"generateReport.Report": ["no IKE errors found"]}
    assert done["ExecutionEndTime"] >= done["ExecutionStartTime"]

    def described(key: str, value: str) -> list[str]:
        listed = ssm.describe_automation_executions(Filters=[{"Key": key, "Values": [value]}])
        return [m["AutomationExecutionId"] for m in listed["AutomationExecutionMetadataList"]]

    assert described("ExecutionId", execution_id) == [execution_id]
    assert described("DocumentNamePrefix", "AWSSupport-Troubleshoot") == [execution_id]
    assert described("ExecutionStatus", "Success") == [execution_id]
    assert described("ExecutionStatus", "InProgress") == []

    event = emu.automation_status_change_event(execution_id)
    assert event["detail-type"] == "EC2 Automation Execution Status-change Notification"
    assert event["detail"]["Status"] == "Success" and event["detail"]["ExecutionId"] == execution_id


@pytest.mark.parametrize(
    "params, named",
    [
        ({**VPN_PARAMS, "VpnConnectionId": ["vpn-XYZ"]}, "VpnConnectionId"),
        ({**VPN_PARAMS, "IKEVersion": ["ikev2"]}, "IKEVersion"),
        ({**VPN_PARAMS, "TunnelAIPAddress": ["300.1.1.1"]}, "TunnelAIPAddress"),
        ({**VPN_PARAMS, "LookBackPeriod": ["100"]}, "LookBackPeriod"),
        ({k: v for k, v in VPN_PARAMS.items() if k != "LogGroupName"}, "LogGroupName"),
        ({**VPN_PARAMS, "Unknown": ["x"]}, "Unknown"),
    ],
)
def test_automation_parameters_are_checked(emu, ssm, params, named):
    with pytest.raises(ClientError) as e:
        ssm.start_automation_execution(DocumentName="AWSSupport-TroubleshootVPN", Parameters=params)
    code, message, _ = error_of(e)
    assert code == "InvalidAutomationExecutionParametersException" and named in message
    assert emu.automations() == []


def test_automation_unknown_document(ssm):
    with pytest.raises(ClientError) as e:
        ssm.start_automation_execution(DocumentName="AWS-NoSuchRunbook", Parameters={"A": ["b"]})
    assert error_of(e)[0] == "AutomationDefinitionNotFoundException"


# --- faults ----------------------------------------------------------------------------------


def test_injected_throttles_then_success(emu, im):
    plan = emu.create_response_plan("p", "t", 3)
    emu.inject("StartIncident", 2)
    for _ in range(2):
        with pytest.raises(ClientError) as e:
            im.start_incident(responsePlanArn=plan, triggerDetails=trigger())
        assert error_of(e)[0::2] == ("ThrottlingException", 429)
    assert emu.incidents() == []  # a fault happens before anything is done
    im.start_incident(responsePlanArn=plan, triggerDetails=trigger())
    assert emu.calls("StartIncident") == 3 and len(emu.incidents()) == 1


def test_injected_faults_on_ssm_and_sdk_retry(emu, ssm):
    emu.inject("CreateOpsItem", 1, "InternalServerError")
    with pytest.raises(ClientError) as e:
        create_ops_item(ssm)
    assert error_of(e)[0::2] == ("InternalServerError", 500)
    emu.inject("GetOpsItem", 1)  # ThrottlingException, HTTP 400 on awsJson
    oid = create_ops_item(ssm)
    with pytest.raises(ClientError) as e:
        ssm.get_ops_item(OpsItemId=oid)
    assert error_of(e)[0::2] == ("ThrottlingException", 400)

    emu.inject("GetOpsItem", 1)
    retrying = client(emu, "ssm", retries={"mode": "standard", "total_max_attempts": 3})
    assert retrying.get_ops_item(OpsItemId=oid)["OpsItem"]["OpsItemId"] == oid
    assert emu.calls("GetOpsItem") == 3

    with pytest.raises(ValueError):
        emu.inject("NoSuchOperation", 1)


def test_injected_fault_after_calls_that_go_through(emu, ssm):
    """`after`: fail a later call of an operation a handler makes several times."""
    oid = create_ops_item(ssm)
    emu.inject("GetOpsItem", 1, after=2)
    assert emu.state()["faults"] == {"GetOpsItem": ["(passes)", "(passes)", "ThrottlingException"]}
    for _ in range(2):
        assert ssm.get_ops_item(OpsItemId=oid)["OpsItem"]["OpsItemId"] == oid
    with pytest.raises(ClientError) as e:
        ssm.get_ops_item(OpsItemId=oid)
    assert error_of(e)[0] == "ThrottlingException"
    assert ssm.get_ops_item(OpsItemId=oid)["OpsItem"]["OpsItemId"] == oid
    assert emu.calls("GetOpsItem") == 4
    with pytest.raises(ValueError):
        emu.inject("GetOpsItem", 1, after=-1)


def test_control_plane_over_http(emu, ssm):
    status, _, body = http(
        emu,
        "POST",
        "/_bench/response-plans",
        json.dumps({"name": "http-plan", "title": "T", "impact": 2, "dedupeString": "d"}).encode(),
    )
    assert status == 200 and json.loads(body)["arn"].endswith(":response-plan/http-plan")
    status, _, _ = http(
        emu,
        "POST",
        "/_bench/faults",
        json.dumps(
            {"operation": "CreateOpsItem", "count": 1, "error": "ThrottlingException"}
        ).encode(),
    )
    assert status == 200
    with pytest.raises(ClientError):
        create_ops_item(ssm)
    oid = create_ops_item(ssm)

    status, _, body = http(emu, "GET", "/_bench/state")
    state = json.loads(body)
    assert status == 200 and state["opsItems"][0]["OpsItemId"] == oid
    assert state["responsePlans"][0]["incidentTemplate"]["dedupeString"] == "d"
    assert state["calls"]["CreateOpsItem"] == 2 and isinstance(
        state["opsItems"][0]["CreatedTime"], str
    )
    for key in ("incidents", "automations", "alarms"):
        assert state[key] == []

    assert http(emu, "POST", "/_bench/reset", b"{}")[0] == 200
    assert json.loads(http(emu, "GET", "/_bench/state")[2])["opsItems"] == []
    assert http(emu, "POST", "/_bench/nope", b"{}")[0] == 404


# --- CloudWatch over RPC v2 CBOR -------------------------------------------------------------


def minute(t: datetime) -> datetime:
    return t.replace(second=0, microsecond=0)


def test_cbor_put_then_get_metric_data_minimum(emu):
    base = minute(datetime.now(timezone.utc)) - timedelta(minutes=4)
    dims = [{"Name": "VpnId", "Value": "vpn-0abc"}]
    data = [
        {
            "MetricName": "TunnelState",
            "Dimensions": dims,
            "Timestamp": base + timedelta(seconds=s),
            "Value": v,
        }
        for s, v in [(5, 1.0), (35, 0.0), (65, 1.0), (95, 1.0), (125, 0.5)]
    ]
    status, headers, body = cbor_call(
        emu, "PutMetricData", {"Namespace": "Bench/VPN", "MetricData": data}
    )
    assert (status, body) == (200, b"")
    assert headers["smithy-protocol"] == "rpc-v2-cbor"

    query = {
        "MetricDataQueries": [
            {
                "Id": "tunnel",
                "MetricStat": {
                    "Metric": {
                        "Namespace": "Bench/VPN", "MetricName": "TunnelState", "Dimensions": dims
                    },
                    "Period": 60,
                    "Stat": "Minimum",
                },
            },
            {
                "Id": "other",
                "MetricStat": {
                    "Metric": {"Namespace": "Bench/VPN", "MetricName": "TunnelState"},
                    "Period": 60,
                    "Stat": "Minimum",
                },
            },
        ],
        "StartTime": base - timedelta(minutes=1),
        "EndTime": base + timedelta(minutes=5),
        "ScanBy": "TimestampAscending",
    }
    status, headers, body = cbor_call(emu, "GetMetricData", query)
    assert status == 200 and headers["content-type"] == "application/cbor"
    assert headers["smithy-protocol"] == "rpc-v2-cbor"
    assert b"\xc1\xfb" in body and b"\xc1\x1a" not in body  # tag 1 around a float64, never an int
    tunnel, other = cbor2.loads(body)["MetricDataResults"]
    assert (tunnel["Id"], tunnel["StatusCode"]) == ("tunnel", "Complete")
    assert tunnel["Label"] == "TunnelState"
    assert tunnel["Timestamps"] == [base, base + timedelta(minutes=1), base + timedelta(minutes=2)]
    assert tunnel["Values"] == [0.0, 1.0, 0.5] and all(type(v) is float for v in tunnel["Values"])
    assert other["Values"] == []  # dimensions must match exactly, as in CloudWatch

    query["MetricDataQueries"] = query["MetricDataQueries"][:1]
    for stat, expected in [
        ("Maximum", [1.0, 1.0, 0.5]),
        ("Average", [0.5, 1.0, 0.5]),
        ("Sum", [1.0, 2.0, 0.5]),
        ("SampleCount", [2.0, 2.0, 1.0]),
    ]:
        query["MetricDataQueries"][0]["MetricStat"]["Stat"] = stat
        (result,) = cbor2.loads(cbor_call(emu, "GetMetricData", query)[2])["MetricDataResults"]
        assert result["Values"] == expected, stat


def test_cbor_seeded_aws_namespace_and_gzip(emu):
    now = datetime.now(timezone.utc)
    emu.put_metric(
        "AWS/VPN", "TunnelState", {"VpnId": "vpn-0abc"}, 0.0, now - timedelta(seconds=30)
    )
    status, _, body = cbor_call(
        emu,
        "PutMetricData",
        {"Namespace": "AWS/VPN", "MetricData": [{"MetricName": "TunnelState", "Value": 1.0}]},
    )
    assert status == 400 and cbor2.loads(body)["__type"].endswith("#InvalidParameterValueException")

    payload = {
        "Namespace": "Bench",
        "MetricData": [{"MetricName": "m", "Value": 2.0, "Timestamp": now - timedelta(seconds=30)}],
    }
    status, _, _ = cbor_call(
        emu,
        "PutMetricData",
        raw=gzip.compress(cbor2.dumps(payload)),
        headers={"Content-Encoding": "gzip"},
    )
    assert status == 200

    query = {
        "MetricDataQueries": [
            {
                "Id": "vpn",
                "MetricStat": {
                    "Metric": {
                        "Namespace": "AWS/VPN",
                        "MetricName": "TunnelState",
                        "Dimensions": [{"Name": "VpnId", "Value": "vpn-0abc"}],
                    },
                    "Period": 300,
                    "Stat": "Minimum",
                },
            },
            {
                "Id": "bench",
                "MetricStat": {
                    "Metric": {"Namespace": "Bench", "MetricName": "m"}, "Period": 60, "Stat": "Sum"
                },
            },
        ],
        "StartTime": now - timedelta(hours=1),
        "EndTime": now + timedelta(minutes=1),
    }
    vpn, bench = cbor2.loads(cbor_call(emu, "GetMetricData", query)[2])["MetricDataResults"]
    assert vpn["Values"] == [0.0] and bench["Values"] == [2.0]


def test_cbor_alarm_lifecycle(emu):
    alarm = {
        "AlarmName": "vpn-tunnel-down-vpn-0abc",
        "AlarmDescription": "A tunnel of vpn-0abc is down",
        "Namespace": "AWS/VPN",
        "MetricName": "TunnelState",
        "Dimensions": [{"Name": "VpnId", "Value": "vpn-0abc"}],
        "Statistic": "Minimum",
        "Period": 60,
        "EvaluationPeriods": 3,
        "Threshold": 1.0,
        "ComparisonOperator": "LessThanThreshold",
        "TreatMissingData": "breaching",
    }
    assert cbor_call(emu, "PutMetricAlarm", alarm)[0] == 200
    status, _, _ = cbor_call(
        emu,
        "SetAlarmState",
        {
            "AlarmName": alarm["AlarmName"],
            "StateValue": "ALARM",
            "StateReason": "Threshold Crossed",
            "StateReasonData": "{}",
        },
    )
    assert status == 200

    status, _, body = cbor_call(emu, "DescribeAlarms", {"AlarmNames": [alarm["AlarmName"]]})
    (described,) = cbor2.loads(body)["MetricAlarms"]
    assert described["StateValue"] == "ALARM" and described["StateReason"] == "Threshold Crossed"
    arn = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{alarm['AlarmName']}"
    assert described["AlarmArn"] == arn
    for key in set(alarm) - {"AlarmName", "AlarmDescription"}:
        assert described[key] == alarm[key], key
    assert type(described["Threshold"]) is float and type(described["Period"]) is int
    assert isinstance(described["StateUpdatedTimestamp"], datetime)

    for filters, expected in [
        ({"StateValue": "OK"}, 0),
        ({"StateValue": "ALARM"}, 1),
        ({"AlarmNamePrefix": "vpn-"}, 1),
        ({"AlarmNamePrefix": "x"}, 0),
    ]:
        alarms = cbor2.loads(cbor_call(emu, "DescribeAlarms", filters)[2])["MetricAlarms"]
        assert len(alarms) == expected, filters

    status, headers, body = cbor_call(
        emu, "SetAlarmState", {"AlarmName": "nope", "StateValue": "OK", "StateReason": "r"}
    )
    assert status == 404 and headers["x-amzn-query-error"] == "ResourceNotFound;Sender"
    assert cbor2.loads(body)["__type"] == "com.amazonaws.cloudwatch#ResourceNotFound"


def test_describe_alarms_by_name_and_type_metric_and_composite(emu, cw_cbor):
    """AlarmTypes decides which alarms come back: without it only metric alarms
    (API_DescribeAlarms); with [MetricAlarm, CompositeAlarm] both kinds, each in its list."""
    cw_cbor.put_metric_alarm(
        AlarmName="tunnel-1",
        Namespace="Bench",
        MetricName="m",
        Statistic="Minimum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1.0,
        ComparisonOperator="LessThanThreshold",
    )
    with emu.lock:  # not routed over the wire: PutCompositeAlarm is in-process only
        emu.cloudwatch.PutCompositeAlarm(
            {"AlarmName": "vpn-down", "AlarmRule": 'ALARM("tunnel-1")', "AlarmDescription": "d"}
        )
    both = ["MetricAlarm", "CompositeAlarm"]

    out = cw_cbor.describe_alarms(AlarmNames=["vpn-down"])
    assert out["MetricAlarms"] == [] and out.get("CompositeAlarms", []) == []
    out = cw_cbor.describe_alarms(AlarmNames=["vpn-down"], AlarmTypes=both)
    assert out["MetricAlarms"] == []
    (composite,) = out["CompositeAlarms"]
    assert composite["AlarmName"] == "vpn-down" and composite["AlarmRule"] == 'ALARM("tunnel-1")'
    assert composite["StateValue"] == "INSUFFICIENT_DATA"
    assert composite["AlarmArn"] == f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:vpn-down"
    assert isinstance(composite["StateUpdatedTimestamp"], datetime)

    out = cw_cbor.describe_alarms(AlarmNames=["tunnel-1"], AlarmTypes=both)
    assert [a["AlarmName"] for a in out["MetricAlarms"]] == ["tunnel-1"]
    assert out["CompositeAlarms"] == []
    out = cw_cbor.describe_alarms(AlarmTypes=["CompositeAlarm"])
    assert out["MetricAlarms"] == [] and len(out["CompositeAlarms"]) == 1
    assert cw_cbor.describe_alarms(AlarmTypes=both, MaxRecords=1).get("NextToken")

    cw_cbor.set_alarm_state(AlarmName="vpn-down", StateValue="ALARM", StateReason="tunnel-1 down")
    out = cw_cbor.describe_alarms(AlarmNames=["vpn-down"], AlarmTypes=both, StateValue="ALARM")
    (composite,) = out["CompositeAlarms"]
    assert (composite["StateValue"], composite["StateReason"]) == ("ALARM", "tunnel-1 down")
    out = cw_cbor.describe_alarms(AlarmNames=["vpn-down"], AlarmTypes=both, StateValue="OK")
    assert out["CompositeAlarms"] == []

    status, _, body = cbor_call(
        emu, "DescribeAlarms", {"AlarmNames": ["vpn-down"], "AlarmTypes": ["Bogus"]}
    )
    assert status == 400 and cbor2.loads(body)["__type"].endswith("InvalidParameterValueException")


def test_cbor_errors(emu):
    status, headers, body = cbor_call(emu, "DeleteDashboards", {})
    error = cbor2.loads(body)
    assert status == 400 and error["__type"].endswith("#UnknownOperationException") and error[
        "message"
    ]
    assert headers["smithy-protocol"] == "rpc-v2-cbor"
    assert headers["content-type"] == "application/cbor"

    status, _, body = cbor_call(emu, "GetMetricData", raw=b"\xbf\x61")  # truncated map
    assert status == 400 and cbor2.loads(body)["__type"].endswith("#SerializationException")

    status, headers, body = cbor_call(emu, "GetMetricData", {})
    assert status == 400 and headers["x-amzn-query-error"].startswith("MissingParameter;")

    status, _, body = http(
        emu,
        "POST",
        "/",
        b"Action=DescribeAlarms&Version=2010-08-01",
        {"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert status == 400 and b"<Code>InvalidAction</Code>" in body


def test_botocore_cbor_client(emu, cw_cbor):
    """botocore's genuine RPC v2 CBOR serializer and parser against the emulator."""
    now = datetime.now(timezone.utc)
    cw_cbor.put_metric_data(
        Namespace="Bench", MetricData=[{"MetricName": "m", "Value": 3.0, "Timestamp": now}]
    )
    result = cw_cbor.get_metric_data(
        MetricDataQueries=[
            {
                "Id": "q",
                "MetricStat": {
                    "Metric": {"Namespace": "Bench", "MetricName": "m"},
                    "Period": 60,
                    "Stat": "Maximum",
                },
            }
        ],
        StartTime=now - timedelta(minutes=2),
        EndTime=now + timedelta(minutes=1),
    )["MetricDataResults"][0]
    assert result["Values"] == [3.0] and result["Timestamps"][0] == minute(now)

    cw_cbor.put_metric_alarm(
        AlarmName="a",
        Namespace="Bench",
        MetricName="m",
        Statistic="Maximum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1.0,
        ComparisonOperator="GreaterThanThreshold",
    )
    cw_cbor.set_alarm_state(AlarmName="a", StateValue="ALARM", StateReason="test")
    assert cw_cbor.describe_alarms(AlarmNames=["a"])["MetricAlarms"][0]["StateValue"] == "ALARM"
    with pytest.raises(ClientError) as e:
        cw_cbor.set_alarm_state(AlarmName="nope", StateValue="OK", StateReason="r")
    assert error_of(e)[0::2] == ("ResourceNotFound", 404)
    assert {r["protocol"] for r in emu.requests()} == {"rpcv2Cbor"}


def test_boto3_default_cloudwatch_client_speaks_aws_json(emu, cw_json):
    assert cw_json.meta.service_model.resolved_protocol == "json"
    cw_json.put_metric_alarm(
        AlarmName="a",
        Namespace="Bench",
        MetricName="m",
        Statistic="Minimum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1.0,
        ComparisonOperator="LessThanThreshold",
    )
    assert cw_json.describe_alarms()["MetricAlarms"][0]["AlarmName"] == "a"
    with pytest.raises(ClientError) as e:
        cw_json.set_alarm_state(AlarmName="nope", StateValue="OK", StateReason="r")
    assert error_of(e)[0] == "ResourceNotFound"
    assert {r["protocol"] for r in emu.requests()} == {"awsJson1_0"}


def key_shape(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: key_shape(v) for k, v in value.items() if k != "dimensions"}
    if isinstance(value, list):
        return [key_shape(value[0])] if value else []
    return type(value).__name__


def test_alarm_state_change_event_matches_the_fixture(emu, cw_cbor):
    fixture = json.loads((FIXTURES / "cloudwatch-alarm-vpn-tunnel-down.json").read_text())
    name = fixture["detail"]["alarmName"]
    cw_cbor.put_metric_alarm(
        AlarmName=name,
        AlarmDescription=fixture["detail"]["configuration"]["description"],
        Namespace="AWS/VPN",
        MetricName="TunnelState",
        Dimensions=[{"Name": "VpnId", "Value": "vpn-0123456789abcdef0"}],
        Statistic="Minimum",
        Period=60,
        EvaluationPeriods=3,
        Threshold=1.0,
        ComparisonOperator="LessThanThreshold",
    )
    with pytest.raises(LookupError):
        emu.alarm_state_change_event(name, fixture["account"], fixture["region"])
    for state in ("OK", "ALARM"):
        detail = fixture["detail"]["state" if state == "ALARM" else "previousState"]
        cw_cbor.set_alarm_state(
            AlarmName=name,
            StateValue=state,
            StateReason=detail["reason"],
            StateReasonData=detail["reasonData"],
        )

    event = emu.alarm_state_change_event(name, fixture["account"], fixture["region"])
    assert key_shape(event) == key_shape(fixture)
    assert event["resources"] == fixture["resources"]
    metric = event["detail"]["configuration"]["metrics"][0]
    assert metric["metricStat"] == fixture["detail"]["configuration"]["metrics"][0]["metricStat"]
    assert (event["detail"]["previousState"]["value"], event["detail"]["state"]["value"]) == (
        "OK", "ALARM"
    )
    assert event["detail"]["state"]["reasonData"] == fixture["detail"]["state"]["reasonData"]
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000", event["detail"]["state"]["timestamp"]
    )
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", event["time"])


# --- the server itself -----------------------------------------------------------------------


def test_stop_frees_the_port_and_connections():
    e = Emulator().start()
    port = e.port
    c = client(e, "ssm", retries=NO_RETRY)
    c.describe_ops_items()  # leaves a keep-alive connection open
    e.stop()
    e.stop()  # twice is fine
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_python_dash_m_emulator_serves_until_sigterm():
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "emulator", "--port", "0", "--response-plan", "demo:Demo plan:2"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        url = proc.stdout.readline().strip()
        plan = proc.stdout.readline().strip()
        assert re.fullmatch(r"EMULATOR_URL=http://127\.0\.0\.1:\d+", url)
        assert plan == f"RESPONSE_PLAN_ARN=arn:aws:ssm-incidents::{ACCOUNT}:response-plan/demo"
        with urllib.request.urlopen(url.split("=", 1)[1] + "/_bench/state", timeout=5) as r:
            assert json.loads(r.read())["responsePlans"][0]["name"] == "demo"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# --- Change Calendar (moto has none: test_e2e_quiet.py) ------------------------------------------------------------


def test_change_calendar_state_at_a_time(emu, ssm):
    change = datetime(2026, 12, 6, 3, 0, tzinfo=timezone.utc)
    emu.set_calendar("MaintenanceCalendar", "CLOSED", change)
    emu.set_calendar("Releases", "OPEN")
    got = ssm.get_calendar_state(
        CalendarNames=["MaintenanceCalendar"], AtTime="2026-12-06T02:10:00Z"
    )
    assert (got["State"], got["AtTime"], got["NextTransitionTime"]) == (
        "CLOSED",
        "2026-12-06T02:10:00Z",
        "2026-12-06T03:00:00Z",
    )
    arn = f"arn:aws:ssm:{REGION}:{ACCOUNT}:document/Releases"
    assert ssm.get_calendar_state(CalendarNames=[arn])["State"] == "OPEN"
    assert "NextTransitionTime" not in ssm.get_calendar_state(CalendarNames=["Releases"])
    # Closed if any is closed.
    both = ssm.get_calendar_state(CalendarNames=["Releases", "MaintenanceCalendar"])
    assert both["State"] == "CLOSED"
    with pytest.raises(ClientError) as e:
        ssm.get_calendar_state(CalendarNames=["Nope"])
    assert e.value.response["Error"]["Code"] == "InvalidDocument"


def test_an_alarm_event_carries_the_alarms_tags(emu, cw_json):
    cw_json.put_metric_alarm(
        AlarmName="partner-orders-failing",
        Namespace="Orders",
        MetricName="OrdersFailed",
        Dimensions=[{"Name": "Partner", "Value": "acme"}],
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=5,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        Tags=[{"Key": "VpnId", "Value": "vpn-0abc"}],
    )
    cw_json.set_alarm_state(
        AlarmName="partner-orders-failing", StateValue="ALARM", StateReason="test"
    )
    event = emu.alarm_state_change_event("partner-orders-failing")
    assert event["detail"]["alarmTags"] == {"VpnId": "vpn-0abc"}
