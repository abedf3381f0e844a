"""End-to-end: what changed before an incident, through the built functions, on both backends.

moto 5.2.5 has no CloudTrail `LookupEvents` and no AWS Health (the first tests show it), so the
emulator serves them (awsJson1_1, `tests/bench/emulator/cloudtrail.py` and `health.py`);
CloudFormation is moto's. The VPN of the
story was made by a stack (its `aws:cloudformation:stack-name` tag): after enrich, `changes`
lists the write calls CloudTrail recorded on the connection in the three hours before the alarm
(not the reads, not older ones) and the stack, writes them on the incident's timeline, and
notify posts them in the thread with their console links, with the open AWS Health issues of
the VPN service in the region. A lookup IAM denies is "not gathered", and the rest still
arrives; a re-delivered event changes nothing; an account without the support plan the Health
API needs is told so on its first incident only. Two invocations on one incident at once, and
a retry after a timed-out write, write and publish it once.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto.cloudtrail.responses import CloudTrailResponse

from bench import INCIDENT_MANAGER, VPN_ALARM, Bench, Incidents, answered, at, the_event
from runtime_api import Function, FunctionError, Result


def test_moto_has_no_cloudtrail_lookup_so_the_emulator_serves_it(bench: Bench) -> None:
    moto_trail = boto3.client(
        "cloudtrail",
        region_name=bench.region,
        endpoint_url=bench.moto_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1}),
    )
    with pytest.raises(ClientError) as gap:
        moto_trail.lookup_events(MaxResults=1)
    # moto's server answers NotImplementedError as an HTML 500 page.
    assert gap.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500, gap.value
    assert not hasattr(CloudTrailResponse, "lookup_events")
    emu_trail = boto3.client(
        "cloudtrail",
        region_name=bench.region,
        endpoint_url=bench.emu.url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    bench.emu.record_trail_event("vpn-0example", "CreateTags", datetime.now(timezone.utc))
    found = emu_trail.lookup_events(
        LookupAttributes=[{"AttributeKey": "ResourceName", "AttributeValue": "vpn-0example"}]
    )
    assert [e["EventName"] for e in found["Events"]] == ["CreateTags"]


def test_moto_has_no_aws_health_so_the_emulator_serves_it(bench: Bench) -> None:
    from moto.backends import list_of_moto_modules

    assert "health" not in list(list_of_moto_modules())
    moto_health = boto3.client(
        "health",
        region_name="us-east-1",
        endpoint_url=bench.moto_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1}),
    )
    with pytest.raises(ClientError) as gap:
        moto_health.describe_events()
    assert gap.value.response["ResponseMetadata"]["HTTPStatusCode"] >= 400, gap.value
    emu_health = boto3.client(
        "health",
        region_name="us-east-1",
        endpoint_url=bench.emu.url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    arn = bench.emu.record_health_event(
        "EC2", "AWS_EC2_OPERATIONAL_ISSUE", bench.region, datetime.now(timezone.utc)
    )
    found = emu_health.describe_events(
        filter={"services": ["EC2"], "eventStatusCodes": ["open"]}
    )
    assert [e["arn"] for e in found["events"]] == [arn]
    bench.emu.health_subscription(False)
    with pytest.raises(ClientError) as refused:
        emu_health.describe_events()
    assert refused.value.response["Error"]["Code"] == "SubscriptionRequiredException"


def enriched_vpn_incident(
    bench: Bench, triage: Function, enrich: Function, vpn: str
) -> dict[str, Any]:
    """The VPN alarm opens the incident and enrich diagnoses it: the `Incident Enriched` event."""
    answered(triage.invoke(bench.alarm_event(VPN_ALARM, vpn, **at(6))), "opened")
    answered(enrich.invoke(the_event(bench, "Incident Opened")), "enriched")
    return the_event(bench, "Incident Enriched")


def test_the_writes_on_the_vpn_and_its_stack_reach_the_incident_and_the_thread(
    bench: Bench, backend: str, incidents: Incidents, triage: Function, enrich: Function,
    changes: Function, notify: Function, vpn: str,
) -> None:
    stack_id = bench.deploy_stack_of(vpn)
    now = datetime.now(timezone.utc)
    bench.emu.record_trail_event(vpn, "ModifyVpnTunnelOptions", now - timedelta(minutes=40),
                                 by="alice")
    bench.emu.record_trail_event(vpn, "DescribeVpnConnections", now - timedelta(minutes=30),
                                 by="monitoring", read_only=True)
    bench.emu.record_trail_event(vpn, "CreateTags", now - timedelta(hours=5), by="bob")
    # AWS Health: an open VPN issue in the region (listed), one elsewhere and a closed one (not).
    issue = bench.emu.record_health_event(
        "VPN", "AWS_VPN_CONNECTIVITY_ISSUE", bench.region, now - timedelta(minutes=25))
    bench.emu.record_health_event(
        "VPN", "AWS_VPN_CONNECTIVITY_ISSUE", "ap-south-1", now - timedelta(minutes=25))
    bench.emu.record_health_event(
        "VPN", "AWS_VPN_CONNECTIVITY_ISSUE", bench.region, now - timedelta(days=2), "closed")
    enriched = enriched_vpn_incident(bench, triage, enrich, vpn)

    answer = answered(changes.invoke(enriched), "gathered")
    assert answer["count"] == 2, answer
    assert answer["summary"].startswith(
        "2 changes from 3 h before the signal until it was diagnosed"), answer
    assert answer["summary"].endswith("; AWS Health: 1 open issue"), answer
    assert answer["notes"] == [], answer

    record = incidents.one()
    [entry] = [e for e in incidents.entries(record) if e["kind"] == "changes"]
    lines = entry["text"].splitlines()
    # The stack, the open Health issue, then newest first: the stack's creation (as the test
    # began), alice's change.
    assert lines[1].startswith(f"Stack partner-{vpn}: CREATE_COMPLETE"), lines
    assert lines[2].startswith(
        f"AWS Health: AWS_VPN_CONNECTIVITY_ISSUE (VPN, {bench.region}) open since "), lines
    assert lines[3].startswith(f"- CREATE_COMPLETE on stack partner-{vpn}"), lines
    assert lines[4].startswith(f"- ModifyVpnTunnelOptions on {vpn}"), lines
    assert lines[4].endswith("by alice"), lines
    assert "DescribeVpnConnections" not in entry["text"] and "bob" not in entry["text"]
    assert stack_id in incidents.related_arns(record)

    gathered = the_event(bench, "Changes Gathered")
    assert gathered["detail"]["changes"]["stack"]["id"] == stack_id
    assert [i["arn"] for i in gathered["detail"]["changes"]["health"]] == [issue]
    result = notify.invoke(gathered)
    assert result.ok, result
    post = bench.slack_messages()[-1]
    assert "recent change" in post.content["title"], post.content
    assert "cloudtrailv2/home" in post.content["description"], post.content
    assert "ModifyVpnTunnelOptions" in post.content["description"]
    assert "*AWS Health:* <https://health.aws.amazon.com/health/home#/account/event-log?eventID=" \
        in post.content["description"], post.content

    # Re-delivered (EventBridge's at-least-once): the first answer; nothing looked up again.
    lookups = bench.emu.calls("LookupEvents")
    again = answered(changes.invoke(enriched), "gathered")
    assert again == answer
    assert bench.emu.calls("LookupEvents") == lookups
    assert len(bench.bus_events(detail_type="Changes Gathered")) == 1


def test_a_denied_lookup_is_not_gathered_and_throttling_is_retried(
    bench: Bench, backend: str, incidents: Incidents, triage: Function, enrich: Function,
    changes: Function, vpn: str,
) -> None:
    enriched = enriched_vpn_incident(bench, triage, enrich, vpn)
    # Throttled past the SDK's retries: the invocation fails, and Lambda's retry does the work.
    bench.emu.inject("LookupEvents", 4, "ThrottlingException")  # the SDK's four attempts
    failed = changes.invoke(enriched)
    assert not failed.ok and failed.body["errorType"] == "Throttled", failed
    bench.emu.inject("LookupEvents", 1, "AccessDeniedException")
    answer = answered(changes.invoke(enriched), "gathered")
    assert answer["notes"] == [f"CloudTrail: not gathered for {vpn}: AccessDenied"], answer
    assert answer["summary"].startswith("What changed could not be gathered"), answer
    [entry] = [e for e in incidents.entries(incidents.one()) if e["kind"] == "changes"]
    assert "not gathered" in entry["text"]


def test_without_a_support_plan_aws_health_is_said_once_per_account(
    bench: Bench, backend: str, triage: Function, enrich: Function, changes: Function,
    vpn: str,
) -> None:
    bench.emu.health_subscription(False)
    first = answered(changes.invoke(enriched_vpn_incident(bench, triage, enrich, vpn)), "gathered")
    assert [n for n in first["notes"] if n.startswith("AWS Health")] == [
        "AWS Health: not read: the Health API needs a Business or Enterprise support plan, "
        "which this account does not have (said once; asked again in 7 days)"
    ], first
    asked = bench.emu.calls("DescribeEvents")
    assert asked == 1

    # The account's next incident (another VPN): no call, no note.
    other = bench.create_vpn(name="bench-second-vpn")
    answered(triage.invoke(bench.alarm_event(VPN_ALARM, other, **at(2))), "opened")
    opened = bench.bus_events(count=2, detail_type="Incident Opened")[-1]
    answered(enrich.invoke(opened), "enriched")
    enriched = bench.bus_events(count=2, detail_type="Incident Enriched")[-1]
    second = answered(changes.invoke(enriched), "gathered")
    assert not [n for n in second["notes"] if n.startswith("AWS Health")], second
    assert bench.emu.calls("DescribeEvents") == asked


# The incident write a `changes` entry takes on each backend.
TIMELINE_WRITE = {INCIDENT_MANAGER: "CreateTimelineEvent", "opscenter": "UpdateOpsItem"}


def changes_entries(incidents: Incidents) -> list[dict[str, Any]]:
    return [e for e in incidents.entries(incidents.one()) if e["kind"] == "changes"]


def test_two_invocations_on_one_incident_look_it_up_once(
    bench: Bench, backend: str, incidents: Incidents, function: Any, triage: Function,
    enrich: Function, vpn: str,
) -> None:
    """EventBridge delivers `Incident Enriched` twice at once: one `changes` looks up and
    writes, the other finds the work in progress and fails (`EventInProgress`, for Lambda to
    retry); the retry replays. One entry, one `Changes Gathered`, one look-up."""
    bench.emu.record_trail_event(vpn, "ModifyVpnTunnelOptions",
                                 datetime.now(timezone.utc) - timedelta(minutes=30), by="alice")
    enriched = enriched_vpn_incident(bench, triage, enrich, vpn)
    first, second = (function("changes", env=bench.changes_env(backend)) for _ in range(2))
    bench.emu.slow("LookupEvents", 1.5)
    results: dict[str, Result] = {}

    def deliver(which: str, to: Function) -> None:
        results[which] = to.invoke(enriched, timeout=30)

    threads = [threading.Thread(target=deliver, args=pair)
               for pair in (("first", first), ("second", second))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    bench.emu.slow("LookupEvents", 0)
    outcomes = sorted(r.body.get("action") or r.body.get("errorType") for r in results.values())
    assert outcomes == ["EventInProgress", "gathered"], results
    lookups = bench.emu.calls("LookupEvents")
    retried = second if not results["second"].ok else first
    again = answered(retried.invoke(enriched), "gathered")
    assert again["count"] == 1, again
    assert bench.emu.calls("LookupEvents") == lookups
    assert len(changes_entries(incidents)) == 1
    assert len(bench.bus_events(detail_type="Changes Gathered")) == 1


def test_a_retry_after_a_timed_out_write_writes_the_changes_once(
    bench: Bench, backend: str, incidents: Incidents, function: Any, triage: Function,
    enrich: Function, vpn: str,
) -> None:
    """The backend answers the entry's write slowly and Lambda ends the invocation at its
    timeout; the backend still writes it. Lambda's retry (another environment, once the
    run-once lease has run out) looks at the same window (it ends when the incident was
    diagnosed) and writes with the same client token: one entry, and the `Changes Gathered` the
    first never published. Slow: it waits out the 30 s lease."""
    bench.emu.record_trail_event(vpn, "ModifyVpnTunnelOptions",
                                 datetime.now(timezone.utc) - timedelta(minutes=30), by="alice")
    enriched = enriched_vpn_incident(bench, triage, enrich, vpn)
    first, retry = (function("changes", env=bench.changes_env(backend)) for _ in range(2))
    writes = bench.emu.calls(TIMELINE_WRITE[backend])
    bench.emu.slow(TIMELINE_WRITE[backend], 5.0)
    started = time.monotonic()
    with pytest.raises(FunctionError):
        first.invoke(enriched, timeout=3)
    time.sleep(6.0)  # the slow write completes in the backend, unconfirmed
    bench.emu.slow(TIMELINE_WRITE[backend], 0)
    assert bench.emu.calls(TIMELINE_WRITE[backend]) > writes, "the write never reached it"
    assert not bench.bus_events(detail_type="Changes Gathered")
    assert len(changes_entries(incidents)) == 1
    # A run-once lease is at least 30 s (shell::once::MIN_LEASE): wait it out.
    time.sleep(max(0.0, started + 32.0 - time.monotonic()))
    answer = answered(retry.invoke(enriched, timeout=30), "gathered")
    assert answer["count"] == 1, answer
    assert len(changes_entries(incidents)) == 1, changes_entries(incidents)
    assert len(bench.bus_events(detail_type="Changes Gathered")) == 1
