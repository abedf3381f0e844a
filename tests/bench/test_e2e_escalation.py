"""End-to-end: people in the loop. An impact-1 VPN incident pages the on-call through the
built `escalate`, on EventBridge Scheduler timers (moto stores them; the bench fires them as
Scheduler would, `bench.paging.fire_next`), until someone presses Acknowledge in Slack (the
bench runs the template's AWS Chatbot custom action on the message `notify` posted).

Rules: the default rules with the VPN rule in the `critical` tier (impact 1), given to triage
and escalate through RULES, as a deployment would.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench import (
    INCIDENT_MANAGER,
    OPSCENTER,
    REPO,
    VPN_ALARM,
    Bench,
    Incidents,
    answered,
    at,
    im_record,
    the_event,
)
from paging import (
    ESCALATE_FUNCTION,
    PERSON,
    console_event,
    custom_actions,
    press,
    routed_detail_types,
)
from runtime_api import Function

TEMPLATE = (REPO / "infra" / "template.yaml").read_text()
DEFAULT_RULES = (REPO / "infra" / "rules" / "default.yaml").read_text()


@pytest.fixture
def critical_rules(tmp_path: Path) -> str:
    """The default rules with the VPN in the critical tier: a tunnel down is impact 1."""
    text = DEFAULT_RULES.replace(
        "    service: site-to-site-vpn\n    tier: business\n",
        "    service: site-to-site-vpn\n    tier: critical\n",
        1,
    )
    assert text != DEFAULT_RULES, "the VPN rule's tier line moved: update this fixture"
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    return str(path)


@pytest.fixture
def people(
    function: Any, bench: Bench, backend: str, critical_rules: str
) -> tuple[Function, Function, Function]:
    """triage and escalate with the critical rules, and notify."""
    triage = function("triage", env={**bench.triage_env(backend), "RULES": critical_rules})
    escalate = function("escalate", env={**bench.escalate_env(backend), "RULES": critical_rules})
    notify = function("notify", env=bench.notify_env())
    return triage, escalate, notify


NOTIFIED = routed_detail_types(TEMPLATE, "LifecycleRule")


def tell_notify(bench: Bench, notify: Function, told: int) -> int:
    """Delivers the bus events after the first `told` that the template routes to notify;
    returns how many events the bus delivered."""
    events = bench.bus_events()
    for event in events[told:]:
        if event["detail-type"] not in NOTIFIED:
            continue
        result = notify.invoke(event)
        assert result.ok, f"notify failed on {event['detail-type']}: {result}"
    return len(events)


def test_an_unanswered_impact_1_incident_pages_until_acknowledged_in_slack(
    bench: Bench, incidents: Incidents, people: tuple[Function, Function, Function], vpn: str
) -> None:
    triage, escalate, notify = people
    answered(triage.invoke(bench.alarm_event(VPN_ALARM, vpn, **at(1))), "opened")
    opened = the_event(bench, "Incident Opened")
    assert opened["detail"]["incident"]["impact"] == 1
    incident = opened["detail"]["incident"]["id"]

    first = answered(escalate.invoke(opened), "paged")
    assert first["paged"] == ["primary"] and first["policy"] == "page-now"
    [page] = bench.paging.pages()
    assert page.topic == "primary"
    assert page.body["incident"] == incident and page.body["impact"] == 1
    assert (page.body["stage"], page.body["round"]) == (1, 1)
    assert page.attributes["target"] == "primary"
    assert page.subject and page.subject.startswith("[Impact 1 ")
    # The next page waits on a one-time schedule: deterministic name, this function, the role.
    [timer] = bench.paging.timers()
    assert timer.name.startswith("esc-") and timer.name.endswith("-s1-r2")
    assert timer.expression.startswith("at(") and timer.role == bench.paging.scheduler_role_arn
    # A re-delivered `Incident Opened` pages nobody again.
    answered(escalate.invoke(opened), "ignored")
    assert bench.paging.pages() == []

    # Nobody answers: two more pages to the primary, then the secondary joins.
    for _ in range(3):
        fired_input = bench.paging.timers()[0].input
        bench.paging.fire_next(escalate)
    pages = bench.paging.pages()
    assert sorted(p.topic for p in pages) == ["primary", "primary", "primary", "secondary"]
    last = [p for p in pages if p.topic == "secondary"][0]
    assert (last.body["stage"], last.body["round"]) == (2, 1)
    assert last.body["unanswered_secs"] >= 15 * 60
    # Scheduler's retry of a step that ran (a time-out, an at-least-once delivery) pages nobody.
    answered(escalate.invoke(fired_input), "ignored")
    assert bench.paging.pages() == []

    # The thread shows each page; someone presses Acknowledge on the latest one.
    tell_notify(bench, notify, 0)
    posts = [m for m in bench.slack_messages() if m.attributes.get("step") == "escalation"]
    assert len(posts) == 4, [m.content["title"] for m in bench.slack_messages()]
    name, payload = press(custom_actions(TEMPLATE)["Acknowledge"], posts[-1].message)
    assert name == ESCALATE_FUNCTION
    assert payload == {"action": "acknowledge", "incident": incident}
    # Through the buttons' alias (all Chatbot may invoke), a forged event of another kind fails.
    forged = escalate.invoke(the_event(bench, "Incident Opened") | {"detail-type": "Incident Resolved"},
                             qualifier="buttons")
    assert forged.kind == "error" and forged.body["errorType"] == "UnknownEvent", forged
    pending = bench.paging.timers()
    assert len(pending) == 1
    answered(escalate.invoke(payload, qualifier="buttons"), "acknowledged")
    assert bench.paging.timers() == [], "the pending step was not cancelled"
    # A step that fires anyway (the cancel raced it) pages nobody; a second press says so.
    answered(escalate.invoke(pending[0].input), "ignored")
    again = answered(escalate.invoke(payload, qualifier="buttons"), "ignored")
    assert "acknowledged" in again["reason"]
    assert bench.paging.pages() == []

    the_event(bench, "Incident Acknowledged")
    told = tell_notify(bench, notify, 0)
    acknowledged = [m for m in bench.slack_messages() if "Acknowledged" in m.content["title"]]
    assert len(acknowledged) == 1 and told
    timeline = "\n".join(incidents.timeline(incidents.one()))
    assert timeline.count("Paged ") == 4, timeline
    assert "Acknowledged by someone in Slack" in timeline


def test_a_step_after_the_incident_closed_in_the_console_pages_nobody(
    bench: Bench, incidents: Incidents, people: tuple[Function, Function, Function], vpn: str
) -> None:
    triage, escalate, _ = people
    answered(triage.invoke(bench.alarm_event(VPN_ALARM, vpn, **at(1))), "opened")
    answered(escalate.invoke(the_event(bench, "Incident Opened")), "paged")
    assert len(bench.paging.pages()) == 1
    incidents.close_in_console(incidents.one())
    step = bench.paging.fire_next(escalate)
    assert step["action"] == "ignored" and "paging stopped" in step["reason"], step
    assert bench.paging.pages() == [] and bench.paging.timers() == []


def test_escalate_now_from_slack_pages_an_incident_that_stays_in_slack(
    bench: Bench, function: Any, backend: str, vpn: str
) -> None:
    """The default rules: a VPN tunnel down is impact 2, which waits 10 minutes in Slack before
    paging; Escalate now pages the primary at once."""
    triage = function("triage", env=bench.triage_env(backend))
    escalate = function("escalate", env=bench.escalate_env(backend))
    notify = function("notify", env=bench.notify_env())
    answered(triage.invoke(bench.alarm_event(VPN_ALARM, vpn, **at(1))), "opened")
    opened = the_event(bench, "Incident Opened")
    waiting = answered(escalate.invoke(opened), "scheduled")
    assert waiting["next"]["stage"] == 2 and bench.paging.pages() == []
    tell_notify(bench, notify, 0)
    [post] = bench.slack_messages()
    _, payload = press(custom_actions(TEMPLATE)["Escalate now"], post.message)
    now = answered(escalate.invoke(payload, qualifier="buttons"), "paged")
    assert now["paged"] == ["primary"] and now["stage"] == 2
    assert [p.topic for p in bench.paging.pages()] == ["primary"]
    [timer] = bench.paging.timers()
    assert timer.name.endswith("-s2-r2"), timer


def test_in_progress_set_in_the_opsitem_console_acknowledges_and_the_responders_own_change_does_not(
    bench: Bench, incidents: Incidents, people: tuple[Function, Function, Function], vpn: str,
    backend: str,
) -> None:
    if backend != OPSCENTER:
        pytest.skip("Incident Manager has no acknowledged status for an incident")
    triage, escalate, _ = people
    answered(triage.invoke(bench.alarm_event(VPN_ALARM, vpn, **at(1))), "opened")
    answered(escalate.invoke(the_event(bench, "Incident Opened")), "paged")
    incident = incidents.id(incidents.one())
    # The responder's own role setting the status (its automation, say) is not a person.
    own = bench.automation_role_arn.replace(":iam::", ":sts::").replace(":role/", ":assumed-role/")
    answered(escalate.invoke(console_event(bench, incident, "InProgress", f"{own}/session")),
             "ignored")
    assert len(bench.paging.timers()) == 1
    # A person sets it In progress in the console.
    bench.emulated("ssm").update_ops_item(OpsItemId=incident, Status="InProgress")
    ack = answered(escalate.invoke(console_event(bench, incident, "InProgress")), "acknowledged")
    assert "paging stopped" in ack["reason"]
    assert bench.paging.timers() == []
    acknowledged = the_event(bench, "Incident Acknowledged")["detail"]["escalation"]
    assert acknowledged["acknowledged_by"] == PERSON and acknowledged["via"] == "console"
    assert "Acknowledged by " + PERSON in "\n".join(incidents.timeline(incidents.one()))


def test_an_incident_resolved_in_the_console_gets_its_record_and_paging_stops(
    bench: Bench, incidents: Incidents, people: tuple[Function, Function, Function], vpn: str,
    function: Any, backend: str,
) -> None:
    triage, escalate, notify = people
    resolve = function("resolve", env=bench.resolve_env(backend))
    answered(triage.invoke(bench.alarm_event(VPN_ALARM, vpn, **at(1))), "opened")
    answered(escalate.invoke(the_event(bench, "Incident Opened")), "paged")
    record = incidents.one()
    incident = incidents.id(record)
    incidents.close_in_console(record)
    status = "RESOLVED" if backend == INCIDENT_MANAGER else "Resolved"
    answered(escalate.invoke(console_event(bench, incident, status)), "resolution_requested")
    resolved = answered(resolve.invoke(the_event(bench, "Resolution Requested")), "resolved")
    [report] = bench.report_objects().values()
    assert resolved["report"].endswith(report.key)
    assert f"by {PERSON}" in report.text, report.text
    assert "- **Pages sent:** primary ×1" in report.text, report.text
    # resolve's announcement ends escalation; the thread says who resolved it.
    ended = answered(escalate.invoke(the_event(bench, "Incident Resolved")), "stopped")
    assert PERSON in ended["reason"]
    assert bench.paging.timers() == []
    tell_notify(bench, notify, 0)
    last = bench.slack_messages()[-1]
    assert f"*Resolved by* `{PERSON}`" in last.content["description"], last.content
    # The alarm's OK afterwards changes nothing: the key was settled with the resolution.
    late = answered(triage.invoke(bench.recover(vpn)), "ignored")
    assert "no open incident" in late["reason"]
    assert len(bench.report_objects()) == 1


def test_resolve_from_slack_resolves_in_the_backend_with_the_record(
    bench: Bench, incidents: Incidents, people: tuple[Function, Function, Function], vpn: str,
    function: Any, backend: str,
) -> None:
    triage, escalate, notify = people
    resolve = function("resolve", env=bench.resolve_env(backend))
    answered(triage.invoke(bench.alarm_event(VPN_ALARM, vpn, **at(1))), "opened")
    answered(escalate.invoke(the_event(bench, "Incident Opened")), "paged")
    tell_notify(bench, notify, 0)
    _, payload = press(custom_actions(TEMPLATE)["Resolve"], bench.slack_messages()[-1].message)
    answered(escalate.invoke(payload, qualifier="buttons"), "resolution_requested")
    answered(resolve.invoke(the_event(bench, "Resolution Requested")), "resolved")
    record = incidents.one()
    status = im_record(record)["status"] if backend == INCIDENT_MANAGER else record["Status"]
    assert status in ("RESOLVED", "Resolved"), record
    [report] = bench.report_objects().values()
    assert "by someone in Slack" in report.text
