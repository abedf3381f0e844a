"""End-to-end: the built `triage` binary, run as Lambda runs it, against the local AWS bench.

Each test starts `target/debug/triage` behind the Lambda Runtime API emulator, configured only
through its environment (the contract's variables), and plays CloudWatch alarm events about a
VPN that exists in moto. It then checks what an operator would see: the answer, the incident in
Incident Manager or OpsCenter (our emulator), the state table, the responder bus.
"""

from __future__ import annotations

import json
import threading
import time
from decimal import Decimal
from typing import Any

import pytest

from bench import (
    INCIDENT_MANAGER,
    OPSCENTER,
    RESPONDER_SOURCE,
    Bench,
    Incidents,
    im_record,
    ops_data,
)
from runtime_api import Function, FunctionError, Result

DOWN = "cloudwatch-alarm-vpn-tunnel-down"
IP_DOWN = "cloudwatch-alarm-vpn-tunnel-ip-down"
OK = "cloudwatch-alarm-vpn-tunnel-ok"
LAMBDA_ACTION = "cloudwatch-alarm-lambda-action"
MALFORMED = "malformed-alarm-missing-state"

# The operation that opens an incident, per backend.
OPEN_OPERATION = {INCIDENT_MANAGER: "StartIncident", OPSCENTER: "CreateOpsItem"}


# --- helpers ----------------------------------------------------------------------------------


def answered(result: Result, action: str) -> dict[str, Any]:
    """The answer of a successful invocation, checked to be `action`."""
    assert result.kind == "response", f"triage failed: {result}"
    answer = result.body
    assert set(answer) >= {"action", "rule", "impact", "dedupe_key", "incident", "reason"}, answer
    assert answer["action"] == action, f"expected {action}, got {answer}"
    assert isinstance(answer["reason"], str) and answer["reason"].strip(), answer
    return answer


def outcome(result: Result) -> str:
    """The action answered, or the errorType of a failed invocation."""
    return result.body["action"] if result.kind == "response" else result.body["errorType"]


def of_type(events: list[dict[str, Any]], detail_type: str) -> list[dict[str, Any]]:
    return [e for e in events if e["detail-type"] == detail_type]


def spy(monkeypatch: pytest.MonkeyPatch, service: Any, operation: str) -> list[dict[str, Any]]:
    """Records the decoded requests of one emulator operation (the emulator dispatches to
    `getattr(service, operation)(params)`), for what no read API returns."""
    seen: list[dict[str, Any]] = []
    real = getattr(service, operation)

    def recording(params: dict[str, Any]) -> Any:
        seen.append(json.loads(json.dumps(params, default=str)))
        return real(params)

    monkeypatch.setattr(service, operation, recording)
    return seen


# --- the VPN story ----------------------------------------------------------------------------


def test_vpn_tunnel_down_opens_an_incident(
    bench: Bench,
    triage: Function,
    vpn: str,
    incidents: Incidents,
    backend: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    start_requests = spy(monkeypatch, bench.emu.incident_manager, "StartIncident")
    event = bench.alarm_event(DOWN, vpn)
    alarm_name = event["detail"]["alarmName"]
    key = f"vpn-tunnel-down:{vpn}"

    answer = answered(triage.invoke(event), "opened")

    # The answer (contract).
    record = incidents.one()
    assert answer["rule"] == "vpn-tunnel-down"
    assert answer["impact"] == 2
    assert answer["dedupe_key"] == key
    assert answer["incident"] == incidents.id(record)
    label = "Incident Manager" if backend == INCIDENT_MANAGER else "OpsCenter"
    assert label in answer["reason"] and "impact 2" in answer["reason"], answer["reason"]

    # The incident, as the responder finds it in the console.
    title = f"Site-to-Site VPN {vpn}: tunnel down"
    assert incidents.title(record) == title
    assert incidents.related_arns(record) >= {bench.vpn_arn(vpn), bench.alarm_arn(alarm_name)}
    if backend == INCIDENT_MANAGER:
        im = im_record(record)
        assert im["impact"] == 2
        assert im["status"] == "OPEN"
        assert im["incidentRecordSource"]["source"] == RESPONDER_SOURCE
        assert im["incidentRecordSource"]["resourceArn"] == bench.alarm_arn(alarm_name)
        # GetIncidentRecord does not return rawData (nor does the emulator's snapshot): read
        # it from the StartIncident request itself.
        [start] = start_requests
        trigger = start["triggerDetails"]
        assert trigger["source"] == RESPONDER_SOURCE
        assert alarm_name in trigger["rawData"]
        assert json.loads(trigger["rawData"])["detail"]["alarmName"] == alarm_name
    else:
        assert record["Severity"] == "2"
        assert record["Priority"] == 2
        assert record["Category"] == "Availability"
        assert record["Status"] == "Open"
        assert record["Source"] == RESPONDER_SOURCE
        assert alarm_name in ops_data(record, "responder:trigger")
        assert ops_data(record, "responder:dedupe_key") == key

    # The state table binds the key to the incident.
    row = bench.state_item(f"dedupe#{key}", "incident")
    assert row is not None, bench.state_items()
    assert row["status"] == "open"
    assert row["incident_id"] == answer["incident"]
    assert row["incident_backend"] == backend
    assert isinstance(row["expires_at"], Decimal) and row["expires_at"] > time.time()

    # The responder bus announced it.
    [opened] = bench.bus_events(count=1)
    assert opened["source"] == RESPONDER_SOURCE
    assert opened["detail-type"] == "Incident Opened"
    detail = opened["detail"]
    assert detail["incident"]["id"] == answer["incident"]
    assert detail["incident"]["backend"] == backend
    assert detail["incident"]["title"] == title
    assert detail["incident"]["impact"] == 2
    assert detail["incident"]["dedupe_key"] == key
    assert bench.vpn_arn(vpn) in detail["incident"]["resources"]
    assert detail["signal"]["alarm_name"] == alarm_name


def test_redeliveries_and_a_second_alarm_join_the_incident(
    bench: Bench, triage: Function, vpn: str, incidents: Incidents
) -> None:
    down = bench.alarm_event(DOWN, vpn)
    ip_down = bench.alarm_event(IP_DOWN, vpn)  # alarm on TunnelIpAddress, tagged VpnId

    results = [triage.invoke(e) for e in (down, down, down, ip_down)]

    assert [outcome(r) for r in results] == ["opened", "joined", "joined", "joined"], results
    record = incidents.one()
    assert {r.body["incident"] for r in results} == {incidents.id(record)}
    # The second alarm is attached to the incident and noted on its timeline.
    assert bench.alarm_arn(ip_down["detail"]["alarmName"]) in incidents.related_arns(record)
    assert any(ip_down["detail"]["alarmName"] in text for text in incidents.timeline(record))
    # Re-deliveries announce nothing: one "Opened" (first delivery), one "Updated" (2nd alarm).
    events = bench.bus_events()
    assert [e["detail-type"] for e in events] == ["Incident Opened", "Incident Updated"], events
    assert {e["detail"]["incident"]["id"] for e in events} == {incidents.id(record)}


def test_ok_recovers_the_incident(
    bench: Bench, triage: Function, vpn: str, incidents: Incidents
) -> None:
    opened = answered(triage.invoke(bench.alarm_event(DOWN, vpn)), "opened")

    answer = answered(triage.invoke(bench.alarm_event(OK, vpn)), "recovered")

    assert answer["incident"] == opened["incident"]
    assert answer["dedupe_key"] == f"vpn-tunnel-down:{vpn}"
    record = incidents.one()
    assert any(text.startswith("Signal recovered") for text in incidents.timeline(record)), (
        incidents.timeline(record)
    )
    row = bench.state_item(f"dedupe#vpn-tunnel-down:{vpn}", "incident")
    assert row is not None and row["status"] == "recovered"
    recovered = of_type(bench.bus_events(count=2), "Signal Recovered")
    assert len(recovered) == 1, bench.bus_events()
    assert recovered[0]["source"] == RESPONDER_SOURCE
    assert recovered[0]["detail"]["incident"]["id"] == opened["incident"]


def test_malformed_event_fails_and_the_process_serves_on(
    bench: Bench, triage: Function, vpn: str, incidents: Incidents
) -> None:
    pid = triage.process.pid if triage.process else None

    failed = triage.invoke(bench.alarm_event(MALFORMED, vpn))

    assert failed.kind == "error", f"a malformed event must fail the invocation: {failed}"
    assert failed.body["errorType"] == "MalformedEvent"
    assert "detail.state" in failed.body["errorMessage"], failed.body
    assert failed.error_type_header  # Lambda-Runtime-Function-Error-Type
    # CloudWatch Logs shows it as a JSON error line naming the error type.
    assert any(
        r.get("level") == "ERROR" and r.get("fields", {}).get("error_type") == "MalformedEvent"
        for r in triage.log_records()
    ), triage.logs()
    assert incidents.all() == []
    assert bench.bus_events() == []
    # The same process handles the next event normally.
    answered(triage.invoke(bench.alarm_event(DOWN, vpn)), "opened")
    assert triage.running and triage.process and triage.process.pid == pid
    assert len(incidents.all()) == 1


def test_throttling_is_ridden_out(
    bench: Bench, triage: Function, vpn: str, incidents: Incidents, backend: str
) -> None:
    operation = OPEN_OPERATION[backend]
    bench.emu.inject(operation, 2, "ThrottlingException")

    answer = answered(triage.invoke(bench.alarm_event(DOWN, vpn)), "opened")

    assert bench.emu.calls(operation) == 3  # two throttled, the third went through
    record = incidents.one()
    assert answer["incident"] == incidents.id(record)
    assert len(of_type(bench.bus_events(), "Incident Opened")) == 1


def test_a_failed_invocation_can_be_retried_at_once(
    bench: Bench, triage: Function, vpn: str, incidents: Incidents, backend: str
) -> None:
    """Throttling outlasts the SDK's retries: the invocation fails, and Lambda's retry (here at
    once) opens the incident — the failed attempt left nothing that blocks it."""
    operation = OPEN_OPERATION[backend]
    bench.emu.inject(operation, 4, "ThrottlingException")

    failed = triage.invoke(bench.alarm_event(DOWN, vpn))
    assert failed.kind == "error", failed
    assert failed.body["errorType"] == "Throttled", failed
    assert operation in failed.body["errorMessage"]
    assert incidents.all() == []

    answer = answered(triage.invoke(bench.alarm_event(DOWN, vpn)), "opened")
    assert answer["incident"] == incidents.id(incidents.one())
    assert [e["detail-type"] for e in bench.bus_events()] == ["Incident Opened"]


def test_lambda_action_after_eventbridge_is_the_same_occurrence(
    bench: Bench, triage: Function, vpn: str, incidents: Incidents
) -> None:
    """An alarm that both routes through EventBridge and invokes the function directly
    delivers one transition twice, in two shapes: one incident, one announcement."""
    opened = answered(triage.invoke(bench.alarm_event(DOWN, vpn)), "opened")

    answer = answered(triage.invoke(bench.alarm_event(LAMBDA_ACTION, vpn)), "joined")

    assert answer["incident"] == opened["incident"]
    assert answer["dedupe_key"] == opened["dedupe_key"]
    incidents.one()
    assert [e["detail-type"] for e in bench.bus_events()] == ["Incident Opened"]


def test_concurrent_environments_open_one_incident(
    bench: Bench, function: Any, vpn: str, incidents: Incidents, backend: str
) -> None:
    """Lambda runs concurrent events in separate environments: three `triage` processes get
    the alarm, the second alarm and a duplicate of the alarm at once."""
    environments = [function("triage", env=bench.triage_env(backend)) for _ in range(3)]
    down, ip_down = bench.alarm_event(DOWN, vpn), bench.alarm_event(IP_DOWN, vpn)
    events = [down, ip_down, down]
    results: list[Any] = [None] * 3

    def deliver(i: int) -> None:
        try:
            results[i] = environments[i].invoke(events[i])
        except BaseException as e:  # noqa: BLE001 - re-raised below, in the test's thread
            results[i] = e

    threads = [threading.Thread(target=deliver, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for result in results:
        if not isinstance(result, Result):
            raise AssertionError(f"an invocation did not complete: {result!r}")

    outcomes = [outcome(r) for r in results]
    # One of the two alarms opens, the other joins; the duplicate is replayed as joined, or
    # refused while its twin is in flight (EventInProgress, for Lambda to retry).
    assert sorted(outcomes) in (
        ["joined", "joined", "opened"],
        ["EventInProgress", "joined", "opened"],
    ), outcomes
    record = incidents.one()
    assert {r.body["incident"] for r in results if r.kind == "response"} == {
        incidents.id(record)
    }
    # One announcement each (EventBridge promises no order between them).
    assert sorted(e["detail-type"] for e in bench.bus_events()) == [
        "Incident Opened",
        "Incident Updated",
    ]


# --- configuration ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "missing, backend", [("STATE_TABLE", OPSCENTER), ("RESPONSE_PLAN_ARN", INCIDENT_MANAGER)]
)
def test_missing_configuration_stops_the_function_at_init(
    bench: Bench, function: Any, missing: str, backend: str
) -> None:
    env = bench.triage_env(backend)
    del env[missing]
    with pytest.raises(FunctionError) as failure:
        function("triage", env=env)
    assert f"environment variable {missing} is required" in str(failure.value)
