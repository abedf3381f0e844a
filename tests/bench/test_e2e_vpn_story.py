"""End-to-end: the VPN story through `triage`, `enrich` and `runbook`, as Lambda runs them.

A Site-to-Site VPN in moto loses tunnel 1 (its TunnelState history is in the emulator's
CloudWatch). Its alarm goes to `triage`; the `Incident Opened` the responder bus delivers (the
SQS tap's message body is the EventBridge event a Lambda target of the bus receives) goes to
`enrich`; its `Incident Enriched` goes to `runbook`, which starts AWSSupport-TroubleshootVPN in
the emulator's SSM Automation; the emulator then finishes the execution and Automation's
status-change event goes to `runbook` again. Each test checks what a responder would notice:
the answers, the incident (Incident Manager or OpsCenter), the executions, the bus.
"""

from __future__ import annotations

import copy
import threading
from datetime import datetime, timezone
from typing import Any

import pytest

from bench import (
    CUSTOMER_GATEWAY_ASN,
    CUSTOMER_GATEWAY_IP,
    FINDING,
    INCIDENT_MANAGER,
    OPSCENTER,
    OUTPUT,
    RESPONDER_SOURCE,
    TUNNEL_1_IP,
    TUNNEL_2_IP,
    Bench,
    Incidents,
    answered,
    default_tunnels,
    the_event,
)
from runtime_api import Function, Result

ALARM = "cloudwatch-alarm-vpn-tunnel-down"
DOCUMENT = "AWSSupport-TroubleshootVPN"
STATUS_CHANGE = "EC2 Automation Execution Status-change Notification"
TUNNEL_LOGGING_FIX = "enable tunnel logging to CloudWatch Logs in JSON format"

# The call after which a failed write leaves work half done, per backend: enrich's timeline
# write (after its related items went on), and runbook's related item (after the start).
ENRICH_TIMELINE_WRITE = {
    INCIDENT_MANAGER: ("CreateTimelineEvent", 0),
    OPSCENTER: ("UpdateOpsItem", 1),  # the first UpdateOpsItem adds the related items
}
RUNBOOK_FIRST_WRITE = {INCIDENT_MANAGER: "UpdateRelatedItems", OPSCENTER: "UpdateOpsItem"}
# Attempts the functions' SDK clients make per call (shared/src/aws/config.rs MAX_ATTEMPTS).
SDK_ATTEMPTS = 4


# --- helpers ----------------------------------------------------------------------------------


def failed(result: Result, error_type: str, *words: str) -> dict[str, Any]:
    """The error report of a failed invocation: `error_type`, a message naming `words`."""
    assert result.kind == "error", f"expected the invocation to fail: {result}"
    assert result.body["errorType"] == error_type, result.body
    assert result.error_type_header, "no Lambda-Runtime-Function-Error-Type header"
    for word in words:
        assert word in result.body["errorMessage"], (word, result.body)
    return result.body


def outcome(result: Result) -> str:
    return result.body["action"] if result.kind == "response" else result.body["errorType"]


def open_incident(bench: Bench, triage: Function, vpn: str) -> dict[str, Any]:
    """The alarm → triage; returns the `Incident Opened` the bus delivered."""
    answered(triage.invoke(bench.alarm_event(ALARM, vpn)), "opened")
    return the_event(bench, "Incident Opened")


def enriched(bench: Bench, triage: Function, enrich: Function, vpn: str) -> dict[str, Any]:
    """The story up to enrich; returns the `Incident Enriched` the bus delivered."""
    answered(enrich.invoke(open_incident(bench, triage, vpn)), "enriched")
    return the_event(bench, "Incident Enriched")


def entries(incidents: Incidents, text: str) -> list[str]:
    """The incident's timeline entries that contain `text`."""
    return [t for t in incidents.timeline(incidents.one()) if text in t]


def executions(bench: Bench) -> list[dict[str, Any]]:
    return [e for e in bench.emu.automations() if e["DocumentName"] == DOCUMENT]


def first_down_minute(bench: Bench, tunnel_ip: str) -> datetime:
    """When the tunnel's current run of 0s began in the emulator's TunnelState."""
    [metric] = [
        m
        for m in bench.emu.state()["metrics"]
        if m["MetricName"] == "TunnelState"
        and m["Dimensions"] == [{"Name": "TunnelIpAddress", "Value": tunnel_ip}]
    ]
    points = metric["Datapoints"]  # oldest first
    down = [p for p in points if p["Minimum"] == 0.0]
    assert down and points[-1]["Minimum"] == 0.0, points
    return datetime.fromisoformat(down[0]["Timestamp"].replace("Z", "+00:00"))


def clock_time(time: datetime) -> str:
    """A time as the diagnosis writes it: `HH:MM UTC` today, with the date before."""
    today = datetime.now(timezone.utc).date()
    return time.strftime("%H:%M UTC" if time.date() == today else "%Y-%m-%d %H:%M UTC")


def vpn_arn(bench: Bench, kind: str, resource_id: str) -> str:
    return f"arn:aws:ec2:{bench.region}:{bench.account}:{kind}/{resource_id}"


# --- the story --------------------------------------------------------------------------------


def test_vpn_story_from_alarm_to_runbook_outcome(
    bench: Bench,
    triage: Function,
    enrich: Function,
    runbook: Function,
    vpn: str,
    incidents: Incidents,
    backend: str,
) -> None:
    described = bench.vpn(vpn)
    cgw, vgw = described["CustomerGatewayId"], described["VpnGatewayId"]
    opened = open_incident(bench, triage, vpn)
    incident_id = opened["detail"]["incident"]["id"]

    # enrich: the diagnosis, on the incident before anyone is paged.
    answer = answered(enrich.invoke(opened), "enriched")
    assert answer["incident"] == incident_id
    assert answer["notes"] == []
    line = answer["summary"]
    since = clock_time(first_down_minute(bench, TUNNEL_1_IP))
    assert line == (
        f"Tunnel 1 ({TUNNEL_1_IP}) DOWN since {since} — 'IPSEC IS DOWN'; "
        f"tunnel 2 ({TUNNEL_2_IP}) UP; "
        f"customer gateway {cgw} {CUSTOMER_GATEWAY_IP} (ASN {CUSTOMER_GATEWAY_ASN})"
    )

    record = incidents.one()
    assert incidents.id(record) == incident_id
    [diagnosis] = entries(incidents, f"Tunnel 1 ({TUNNEL_1_IP}) DOWN")
    assert diagnosis == line  # one line, no notes
    assert incidents.related_arns(record) >= {
        bench.vpn_arn(vpn),
        vpn_arn(bench, "vpn-gateway", vgw),
        vpn_arn(bench, "customer-gateway", cgw),
    }
    # Both backends keep the metric and the console links (OpsCenter as responder:related data).
    [metric] = incidents.related_items(record, "METRIC")
    assert '["AWS/VPN","TunnelState","VpnId","' + vpn + '"]' in metric["value"]
    assert '"stat":"Minimum"' in metric["value"] and '"period":60' in metric["value"]
    links = {i["title"]: i["value"] for i in incidents.related_items(record, "OTHER")}
    assert links[f"{vpn} in the VPC console"].endswith(f"VpnConnectionId={vpn}")
    for n, ip in ((1, TUNNEL_1_IP), (2, TUNNEL_2_IP)):
        insights = links[f"Tunnel {n} ({ip}) logs in Logs Insights"]
        assert "logs-insights" in insights and ip in insights, insights

    event = the_event(bench, "Incident Enriched")
    assert event["detail"]["incident"]["id"] == incident_id
    assert event["detail"]["diagnosis"]["summary"] == line
    facts = event["detail"]["diagnosis"]["vpn"]
    assert facts["connection"]["id"] == vpn
    assert facts["customer_gateway"]["ip_address"] == CUSTOMER_GATEWAY_IP
    assert [t["status"] for t in facts["connection"]["tunnels"]] == ["DOWN", "UP"]

    # runbook: AWSSupport-TroubleshootVPN on the DOWN tunnel, with the diagnosis's values.
    started = answered(runbook.invoke(event), "started")
    [execution] = executions(bench)
    execution_id = execution["AutomationExecutionId"]
    assert started["execution"] == execution_id and started["incident"] == incident_id
    expected = {
        "VpnConnectionId": vpn,
        "TunnelAIPAddress": TUNNEL_1_IP,
        "TunnelBIPAddress": TUNNEL_2_IP,
        "IKEVersion": "IKEv2",  # the bench's tunnels allow IKEv1 and IKEv2
        "LogGroupName": bench.log_group(vpn),
        "LookBackPeriod": "03",
        "AutomationAssumeRole": bench.automation_role_arn,
    }
    assert execution["Parameters"] == {k: [v] for k, v in expected.items()}
    assert execution["AutomationExecutionStatus"] == "InProgress"

    record = incidents.one()
    [item] = incidents.related_items(record, "AUTOMATION")
    assert item["value"] == (
        f"arn:aws:ssm:{bench.region}:{bench.account}:automation-execution/{execution_id}"
    )
    [note] = entries(incidents, f"Runbook {DOCUMENT} started (execution {execution_id})")
    for name, value in expected.items():
        assert f"{name}={value}" in note, note
    assert "IKEv2 was assumed" in note  # says why IKEv2

    run_started = the_event(bench, "Runbook Started")
    assert run_started["detail"]["incident"]["id"] == incident_id
    automation = run_started["detail"]["automation"]
    assert automation["document"] == DOCUMENT
    assert automation["execution_id"] == execution_id
    assert automation["status"] == "InProgress"
    assert automation["parameters"] == execution["Parameters"]

    # The execution ends; Automation's status-change event goes to runbook.
    bench.emu.finish_automation(execution_id, "Success", {OUTPUT: FINDING})
    status_change = bench.emu.automation_status_change_event(execution_id)
    assert status_change["detail-type"] == STATUS_CHANGE

    finished = answered(runbook.invoke(status_change), "finished")
    assert finished["execution"] == execution_id and finished["incident"] == incident_id
    [outcome_note] = entries(incidents, f"Runbook {DOCUMENT} finished")
    assert outcome_note == (
        f"Runbook {DOCUMENT} finished: Success (execution {execution_id}).\n{OUTPUT}: {FINDING}"
    )
    run_finished = the_event(bench, "Runbook Finished")
    assert run_finished["detail"]["automation"]["status"] == "Success"
    assert run_finished["detail"]["automation"]["outputs"] == {OUTPUT: [FINDING]}
    assert run_finished["detail"]["automation"]["parameters"] == execution["Parameters"]

    assert [e["detail-type"] for e in bench.bus_events()] == [
        "Incident Opened",
        "Incident Enriched",
        "Runbook Started",
        "Runbook Finished",
    ]
    assert len(executions(bench)) == 1


def test_redeliveries_change_nothing(
    bench: Bench,
    triage: Function,
    enrich: Function,
    runbook: Function,
    vpn: str,
    incidents: Incidents,
) -> None:
    opened = open_incident(bench, triage, vpn)
    first = answered(enrich.invoke(opened), "enriched")
    items = incidents.related_items(incidents.one())

    again = answered(enrich.invoke(opened), "enriched")  # EventBridge delivers it again

    assert again["summary"] == first["summary"]
    assert len(entries(incidents, f"Tunnel 1 ({TUNNEL_1_IP}) DOWN")) == 1
    assert incidents.related_items(incidents.one()) == items
    event = the_event(bench, "Incident Enriched")

    started = answered(runbook.invoke(event), "started")
    replayed = answered(runbook.invoke(event), "ignored")

    assert replayed["execution"] == started["execution"]
    assert [e["AutomationExecutionId"] for e in executions(bench)] == [started["execution"]]
    assert bench.emu.calls("StartAutomationExecution") == 1
    assert len(entries(incidents, f"Runbook {DOCUMENT} started")) == 1
    assert len(incidents.related_items(incidents.one(), "AUTOMATION")) == 1
    the_event(bench, "Runbook Started")

    # Events that are not for a stage are ignored by it, without side effects.
    answered(enrich.invoke(event), "ignored")
    answered(runbook.invoke(opened), "ignored")
    # A status change that is not final is not reported.
    running = bench.emu.automation_status_change_event(started["execution"])
    assert running["detail"]["Status"] == "InProgress"
    answered(runbook.invoke(running), "ignored")
    assert entries(incidents, f"Runbook {DOCUMENT} finished") == []

    bench.emu.finish_automation(started["execution"], "Failed", failure_message="Step failed.")
    final = bench.emu.automation_status_change_event(started["execution"])
    answered(runbook.invoke(final), "finished")
    answered(runbook.invoke(final), "ignored")

    [outcome_note] = entries(incidents, f"Runbook {DOCUMENT} finished")
    assert outcome_note.startswith(f"Runbook {DOCUMENT} finished: Failed")
    assert "Failure: Step failed." in outcome_note
    assert [e["detail-type"] for e in bench.bus_events()] == [
        "Incident Opened",
        "Incident Enriched",
        "Runbook Started",
        "Runbook Finished",
    ]


# --- throttling and retries -------------------------------------------------------------------


def test_throttled_automation_start_is_ridden_out(
    bench: Bench,
    triage: Function,
    enrich: Function,
    runbook: Function,
    vpn: str,
    incidents: Incidents,
) -> None:
    event = enriched(bench, triage, enrich, vpn)
    bench.emu.inject("StartAutomationExecution", 2, "ThrottlingException")

    started = answered(runbook.invoke(event), "started")

    assert bench.emu.calls("StartAutomationExecution") == 3  # two throttled, the third started
    assert [e["AutomationExecutionId"] for e in executions(bench)] == [started["execution"]]
    assert len(entries(incidents, f"Runbook {DOCUMENT} started")) == 1
    the_event(bench, "Runbook Started")


def test_a_runbook_retried_after_a_failed_write_starts_no_second_execution(
    bench: Bench,
    triage: Function,
    enrich: Function,
    runbook: Function,
    vpn: str,
    incidents: Incidents,
    backend: str,
) -> None:
    """The execution started, then writing onto the incident was throttled past the SDK's
    retries: the invocation fails, and Lambda's retry (here at once) finishes the job with the
    same execution (same ClientToken) — never a second one."""
    event = enriched(bench, triage, enrich, vpn)
    write = RUNBOOK_FIRST_WRITE[backend]
    bench.emu.inject(write, SDK_ATTEMPTS, "ThrottlingException")

    failed(runbook.invoke(event), "Throttled", write)
    [execution] = executions(bench)
    assert bench.bus_events(detail_type="Runbook Started") == []

    started = answered(runbook.invoke(event), "started")

    assert started["execution"] == execution["AutomationExecutionId"]
    assert bench.emu.calls("StartAutomationExecution") == 2
    assert len(executions(bench)) == 1
    assert len(incidents.related_items(incidents.one(), "AUTOMATION")) == 1
    assert len(entries(incidents, f"Runbook {DOCUMENT} started")) == 1
    assert the_event(bench, "Runbook Started")["detail"]["automation"]["execution_id"] == (
        started["execution"]
    )


def test_enrich_retried_after_a_failed_write_writes_one_diagnosis(
    bench: Bench,
    triage: Function,
    enrich: Function,
    vpn: str,
    incidents: Incidents,
    backend: str,
) -> None:
    """The related items went on, then the timeline write was throttled past the SDK's retries:
    the invocation fails, and Lambda's retry writes the same items and entry again (same client
    tokens) — one of each, and one `Incident Enriched`."""
    opened = open_incident(bench, triage, vpn)
    operation, after = ENRICH_TIMELINE_WRITE[backend]
    bench.emu.inject(operation, SDK_ATTEMPTS, "ThrottlingException", after=after)

    failed(enrich.invoke(opened), "Throttled", operation)
    # Half done: the customer gateway (attached by enrich only) is on, the diagnosis is not.
    cgw_arn = vpn_arn(bench, "customer-gateway", bench.vpn(vpn)["CustomerGatewayId"])
    assert cgw_arn in incidents.related_arns(incidents.one())
    assert entries(incidents, "DOWN") == []
    assert bench.bus_events(detail_type="Incident Enriched") == []

    answer = answered(enrich.invoke(opened), "enriched")

    assert entries(incidents, f"Tunnel 1 ({TUNNEL_1_IP}) DOWN") == [answer["summary"]]
    values = [i["value"] for i in incidents.related_items(incidents.one())]
    assert len(values) == len(set(values)), values
    assert bench.vpn_arn(vpn) in values
    the_event(bench, "Incident Enriched")


def test_concurrent_deliveries_to_runbook_start_one_execution(
    bench: Bench,
    function: Any,
    triage: Function,
    enrich: Function,
    vpn: str,
    incidents: Incidents,
    backend: str,
) -> None:
    """EventBridge delivers at least once: two `runbook` environments get the same
    `Incident Enriched` at the same time."""
    event = enriched(bench, triage, enrich, vpn)
    environments = [function("runbook", env=bench.runbook_env(backend)) for _ in range(2)]
    results: list[Any] = [None, None]

    def deliver(i: int) -> None:
        try:
            results[i] = environments[i].invoke(copy.deepcopy(event))
        except BaseException as e:  # noqa: BLE001 - re-raised below, in the test's thread
            results[i] = e

    threads = [threading.Thread(target=deliver, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for result in results:
        if not isinstance(result, Result):
            raise AssertionError(f"an invocation did not complete: {result!r}")

    # One starts; the other replays it, or is refused while its twin is in flight.
    assert sorted(outcome(r) for r in results) in (
        ["ignored", "started"],
        ["EventInProgress", "started"],
    ), results
    assert len(executions(bench)) == 1
    assert len(entries(incidents, f"Runbook {DOCUMENT} started")) == 1
    the_event(bench, "Runbook Started")


# --- what the runbook cannot do ---------------------------------------------------------------


@pytest.mark.parametrize(
    "log_format, why",
    [
        (None, f"tunnel {TUNNEL_1_IP} does not log to CloudWatch Logs"),
        ("text", f"tunnel {TUNNEL_1_IP} logs in text format, not JSON"),
    ],
)
def test_without_json_tunnel_logs_the_runbook_is_skipped_and_the_fix_is_on_the_timeline(
    bench: Bench,
    triage: Function,
    enrich: Function,
    runbook: Function,
    incidents: Incidents,
    log_format: str | None,
    why: str,
) -> None:
    tunnels = default_tunnels()
    for tunnel in tunnels:
        tunnel.log_format = log_format
    vpn = bench.create_vpn(tunnels)
    event = enriched(bench, triage, enrich, vpn)

    answer = answered(runbook.invoke(event), "skipped")

    assert "LogGroupName" in answer["reason"], answer
    assert executions(bench) == []
    assert bench.emu.calls("StartAutomationExecution") == 0
    [note] = entries(incidents, f"Runbook {DOCUMENT} not started")
    assert why in note, note
    assert TUNNEL_LOGGING_FIX in note, note
    assert incidents.related_items(incidents.one(), "AUTOMATION") == []
    assert bench.bus_events(detail_type="Runbook Started") == []
    # The diagnosis itself did not need the logs.
    assert len(entries(incidents, f"Tunnel 1 ({TUNNEL_1_IP}) DOWN")) == 1


def test_the_other_tunnels_log_group_is_used(
    bench: Bench,
    triage: Function,
    enrich: Function,
    runbook: Function,
) -> None:
    """LogGroupName is `{tunnel_a.log_group|tunnel_b.log_group}`: tunnel 1 (down) does not log,
    tunnel 2 does, in JSON."""
    tunnels = default_tunnels()
    tunnels[0].log_format = None
    vpn = bench.create_vpn(tunnels)

    answered(runbook.invoke(enriched(bench, triage, enrich, vpn)), "started")

    [execution] = executions(bench)
    assert execution["Parameters"]["TunnelAIPAddress"] == [TUNNEL_1_IP]
    assert execution["Parameters"]["LogGroupName"] == [bench.log_group(vpn)]


# --- events that are not for them -------------------------------------------------------------


def _without_backend(event: dict[str, Any]) -> dict[str, Any]:
    broken = copy.deepcopy(event)
    del broken["detail"]["incident"]["backend"]
    return broken


def _status_change_without_id(event: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": "0",
        "id": "0f0e0d0c-0000-4000-8000-000000000000",
        "detail-type": STATUS_CHANGE,
        "source": "aws.ssm",
        "account": event["account"],
        "time": event["time"],
        "region": event["region"],
        "resources": [],
        "detail": {"Definition": DOCUMENT, "Status": "Success"},
    }


def test_foreign_and_malformed_events_fail_and_the_process_serves_on(
    bench: Bench,
    triage: Function,
    enrich: Function,
    runbook: Function,
    vpn: str,
    incidents: Incidents,
) -> None:
    alarm = bench.alarm_event(ALARM, vpn)
    opened = open_incident(bench, triage, vpn)
    pids = {f.name: f.process.pid for f in (enrich, runbook) if f.process}

    cases = [
        # (function, event, errorType, words the message must name)
        (enrich, alarm, "UnknownEvent", ["aws.cloudwatch", RESPONDER_SOURCE]),
        (enrich, ["not", "an", "event"], "UnknownEvent", ["not a JSON object"]),
        (enrich, _without_backend(opened), "MalformedEvent", ["detail.incident", "backend"]),
        (runbook, alarm, "UnknownEvent", ["aws.cloudwatch", "Incident Enriched"]),
        (runbook, {"hello": "world"}, "UnknownEvent", ["source and detail-type"]),
        (runbook, _without_backend(opened), "MalformedEvent", ["detail.incident", "backend"]),
        (runbook, _status_change_without_id(opened), "MalformedEvent", ["ExecutionId"]),
    ]
    for function, event, error_type, words in cases:
        failed(function.invoke(event), error_type, *words)
    for function in (enrich, runbook):
        assert any(
            r.get("level") == "ERROR" and r.get("fields", {}).get("error_type")
            for r in function.log_records()
        ), function.logs()
    assert entries(incidents, "DOWN") == [] and entries(incidents, "Runbook") == []
    assert executions(bench) == []
    assert [e["detail-type"] for e in bench.bus_events()] == ["Incident Opened"]

    # The same processes handle the real events next.
    event_enriched = answered(enrich.invoke(opened), "enriched")
    assert event_enriched["incident"] == opened["detail"]["incident"]["id"]
    answered(runbook.invoke(the_event(bench, "Incident Enriched")), "started")
    for function in (enrich, runbook):
        assert function.running and function.process and function.process.pid == pids[function.name]


# --- a VPN that went away ---------------------------------------------------------------------


def test_a_vpn_gone_before_enrich_is_noted_and_the_runbook_says_why_it_did_not_start(
    bench: Bench,
    triage: Function,
    enrich: Function,
    runbook: Function,
    vpn: str,
    incidents: Incidents,
) -> None:
    """Deleted, and past the time AWS keeps listing deleted connections: DescribeVpnConnections
    answers InvalidVpnConnectionID.NotFound."""
    opened = open_incident(bench, triage, vpn)
    bench.delete_vpn(vpn, purge=True)

    answer = answered(enrich.invoke(opened), "enriched")

    assert answer["notes"] == [f"{vpn} no longer exists"], answer
    [diagnosis] = entries(incidents, answer["summary"])
    assert f"Note: {vpn} no longer exists" in diagnosis
    # What is known without describing it is still attached.
    record = incidents.one()
    assert bench.vpn_arn(vpn) in incidents.related_arns(record)
    assert len(incidents.related_items(record, "METRIC")) == 1
    event = the_event(bench, "Incident Enriched")
    assert event["detail"]["diagnosis"]["notes"] == [f"{vpn} no longer exists"]

    skipped = answered(runbook.invoke(event), "skipped")

    assert "VpnConnectionId" in skipped["reason"]
    assert executions(bench) == []
    [note] = entries(incidents, f"Runbook {DOCUMENT} not started")
    assert f"{vpn} no longer exists" in note, note


def test_a_vpn_deleted_before_enrich_is_said_to_be_deleted(
    bench: Bench,
    triage: Function,
    enrich: Function,
    runbook: Function,
    vpn: str,
    incidents: Incidents,
) -> None:
    """Deleted moments ago: DescribeVpnConnections still lists it, in state `deleted`; there is
    nothing left for the runbook to troubleshoot."""
    opened = open_incident(bench, triage, vpn)
    bench.delete_vpn(vpn)

    answer = answered(enrich.invoke(opened), "enriched")

    assert answer["summary"].startswith(f"VPN {vpn} is deleted: "), answer
    assert len(entries(incidents, f"VPN {vpn} is deleted")) == 1
    event = the_event(bench, "Incident Enriched")

    skipped = answered(runbook.invoke(event), "skipped")

    assert executions(bench) == []
    [note] = entries(incidents, f"Runbook {DOCUMENT} not started")
    assert f"VPN {vpn} is deleted" in note, (note, skipped)


def test_a_final_status_while_a_start_is_in_flight_is_retried_not_dropped(
    bench: Bench,
    triage: Function,
    enrich: Function,
    runbook: Function,
    vpn: str,
) -> None:
    """runbook notes a start of the document before `StartAutomationExecution` and links the
    execution to its incident after it. A final status of an execution it cannot link while a
    start is in flight (here: one that failed) fails the invocation, so Lambda retries it once
    the link can be there, instead of answering `ignored` and losing the outcome."""
    event = enriched(bench, triage, enrich, vpn)
    bench.emu.inject("StartAutomationExecution", 1, "AccessDeniedException")
    failed(runbook.invoke(event), "AccessDenied", "StartAutomationExecution")
    # An execution of the document the responder cannot link yet reaches its final status.
    unlinked = bench.emulated("ssm").start_automation_execution(
        DocumentName=DOCUMENT,
        Parameters={
            "VpnConnectionId": [vpn],
            "TunnelAIPAddress": ["203.0.113.10"],
            "IKEVersion": ["IKEv2"],
            "LogGroupName": [bench.log_group(vpn)],
        },
    )
    bench.emu.finish_automation(unlinked["AutomationExecutionId"], "Success")
    status = bench.emu.automation_status_change_event(unlinked["AutomationExecutionId"])
    failed(runbook.invoke(status), "EventInProgress", f"automation-starting#{DOCUMENT}")

    # Lambda's retry of the start links its execution; that execution's outcome is reported.
    started = answered(runbook.invoke(event), "started")
    bench.emu.finish_automation(started["execution"], "Success")
    own = bench.emu.automation_status_change_event(started["execution"])
    answered(runbook.invoke(own), "finished")


def test_the_watchdog_records_an_outcome_whose_status_event_was_lost(
    bench: Bench,
    incidents: Incidents,
    triage: Function,
    enrich: Function,
    runbook: Function,
    escalate: Function,
    vpn: str,
) -> None:
    """SSM's status events are best-effort: the execution ends, no event comes, and a timer of
    the watchdog (set by escalate on `Runbook Started`, fired by the bench as EventBridge
    Scheduler would) has runbook read the outcome."""
    started = answered(runbook.invoke(enriched(bench, triage, enrich, vpn)), "started")
    answered(escalate.invoke(the_event(bench, "Runbook Started")), "scheduled")
    timers = bench.paging.timers("wd-")
    assert len(timers) == 12 and timers[0].name.endswith("-c1"), [t.name for t in timers]
    assert timers[0].input["runbook_watchdog"]["execution"] == started["execution"]
    # Still running at the first check: it waits for the next.
    still = bench.paging.fire_next(runbook, "wd-")
    assert still["action"] == "ignored" and "looks again" in still["reason"], still
    # It ends; its status event never reaches the runbook function.
    bench.emu.finish_automation(started["execution"], "Success", {OUTPUT: FINDING})
    finished = bench.paging.fire_next(runbook, "wd-")
    assert finished["action"] == "finished", finished
    assert the_event(bench, "Runbook Finished")["detail"]["automation"]["status"] == "Success"
    assert len(entries(incidents, "finished: Success")) == 1
    # The rest of the watchdog goes; the late status event records nothing twice.
    answered(escalate.invoke(the_event(bench, "Runbook Finished")), "stopped")
    assert bench.paging.timers("wd-") == []
    late = runbook.invoke(bench.emu.automation_status_change_event(started["execution"]))
    assert late.ok and late.body["action"] == "ignored", late
