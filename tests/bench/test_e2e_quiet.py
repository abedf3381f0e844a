"""End-to-end: quiet hours through the built functions, on both backends.

- A recurring maintenance window holds the VPN's alarm: no incident, no page; escalate sets the
  re-check's timer (EventBridge Scheduler in moto) and, when the window ends with the alarm still
  in ALARM (DescribeAlarms, in the emulator), triage opens the incident. A recovery inside the
  window releases the hold and the end opens nothing.
- Silence 1 h from Slack (the template's custom action on the message notify posted): paging
  stops, the key's new signals are held, and when the hour ends with the VPN still down the
  thread says so and paging resumes. A recovery during a silence still verifies, resolves and
  posts the resolution.
- An alarm tagged with the VPN's id folds into the open VPN incident as downstream (the default
  rules' inhibition), is counted in the thread and the record, and opens its own incident when
  it still fires after the VPN recovered.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from bench import REPO, VPN_ALARM, Bench, Incidents, answered, at, the_event
from paging import custom_actions, press, routed_detail_types
from runtime_api import Function

TEMPLATE = (REPO / "infra" / "template.yaml").read_text()
DEFAULT_RULES = (REPO / "infra" / "rules" / "default.yaml").read_text()
IP_ALARM = "cloudwatch-alarm-vpn-tunnel-ip-down"
DOWNSTREAM = "partner-orders-failing"


def rules_with(tmp_path: Path, windows: str, critical: bool = False) -> str:
    """The default rules with `windows` (YAML list items) and, if `critical`, the VPN rule in
    the critical tier (impact 1: pages at once)."""
    text = DEFAULT_RULES
    if windows:
        text = text.replace("silences:\n", f"windows:\n{windows}\nsilences:\n", 1)
    if critical:
        text = text.replace(
            "    service: site-to-site-vpn\n    tier: business\n",
            "    service: site-to-site-vpn\n    tier: critical\n",
            1,
        )
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    return str(path)


def latest(bench: Bench, detail_type: str) -> dict[str, Any]:
    events = bench.bus_events(count=1, detail_type=detail_type)
    assert events, f"no {detail_type} on the bus: {[e['detail-type'] for e in bench.bus_events()]}"
    return events[-1]


def tell_notify(bench: Bench, notify: Function, told: int) -> int:
    """Delivers the bus events after the first `told` that the template routes to notify (the
    lifecycle rule, and the downstream rule's held signals); returns how many the bus has."""
    lifecycle = routed_detail_types(TEMPLATE, "LifecycleRule")
    events = bench.bus_events()
    for event in events[told:]:
        folded = (event["detail"].get("hold") or {}).get("kind") == "downstream"
        if event["detail-type"] in lifecycle or (event["detail-type"] == "Signal Held" and folded):
            result = notify.invoke(event)
            assert result.ok, f"notify failed on {event['detail-type']}: {result}"
    return len(events)


def shows(button: str, message: dict[str, Any]) -> bool:
    """Whether Chatbot shows `button` on `message`: every criterion's variable has a value."""
    attachment = custom_actions(TEMPLATE)[button]["Attachments"][0]
    for name, path in attachment["Variables"].items():
        value: Any = {"event": message}
        for part in path.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if any(c["VariableName"] == name for c in attachment["Criteria"]) and not value:
            return False
    return True


# --- maintenance windows ----------------------------------------------------------------------


def test_moto_has_no_change_calendar_so_the_emulator_serves_it(bench: Bench) -> None:
    """The gap the emulator fills: moto's SSM fails GetCalendarState (NotImplementedError, an
    HTTP 500); the emulator, where the functions' SSM calls go, answers it."""
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as failed:
        bench.client("ssm").get_calendar_state(CalendarNames=["MaintenanceCalendar"])
    assert failed.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    from moto.ssm.responses import SimpleSystemManagerResponse

    assert not hasattr(SimpleSystemManagerResponse, "get_calendar_state")
    bench.emu.set_calendar("MaintenanceCalendar", "CLOSED")
    assert bench.emu.url in bench.endpoint_env()["AWS_ENDPOINT_URL_SSM"]


def test_a_recurring_window_holds_the_vpn_alarm_and_its_end_opens_the_incident(
    bench: Bench, backend: str, incidents: Incidents, function: Any, vpn: str, tmp_path: Path
) -> None:
    start = (datetime.now(timezone.utc) - timedelta(minutes=2)).replace(second=0, microsecond=0)
    window = (
        "  - id: partner-vpn-nightly\n"
        "    match: { rule: vpn-tunnel-down }\n"
        f'    recurring: {{ cron: "{start.minute} {start.hour} * * *", duration: 30m, '
        "time_zone: UTC }"
    )
    rules = rules_with(tmp_path, window)
    triage = function("triage", env={**bench.triage_env(backend), "RULES": rules})
    escalate = function("escalate", env={**bench.escalate_env(backend), "RULES": rules})

    held = answered(triage.invoke(bench.alarm_event(VPN_ALARM, vpn, **at(1))), "suppressed")
    assert "Maintenance window partner-vpn-nightly" in held["reason"], held
    assert incidents.all() == [], "nothing opens in the window"
    event = the_event(bench, "Signal Held")
    hold = event["detail"]["hold"]
    assert (hold["kind"], hold["by"]) == ("window", "partner-vpn-nightly")
    end = start + timedelta(minutes=30)
    assert hold["recheck_at"].startswith(end.strftime("%Y-%m-%dT%H:%M:%S")), hold

    answered(escalate.invoke(event), "scheduled")
    answered(escalate.invoke(event), "scheduled")  # re-delivered: the same timer
    [timer] = bench.paging.timers("hold-")
    assert timer.target == bench.paging.function_arn("triage")
    assert timer.at == end, timer
    assert bench.paging.timers("esc-") == [], "nobody is paged"

    # The window ends; the alarm is still in ALARM: triage opens the incident then.
    assert bench.alarm_state(vpn) == "ALARM"
    opened = bench.paging.fire_next(triage, "hold-")
    assert opened["action"] == "opened", opened
    assert opened["reason"].startswith("Re-checked"), opened
    assert len(incidents.all()) == 1
    the_event(bench, "Incident Opened")
    # Scheduler's retry of the fired timer opens nothing more.
    answered(triage.invoke(timer.input), "ignored")
    assert len(incidents.all()) == 1


def test_a_recovery_inside_the_window_releases_the_hold(
    bench: Bench, backend: str, incidents: Incidents, function: Any, vpn: str, tmp_path: Path
) -> None:
    now = datetime.now(timezone.utc).replace(microsecond=0)
    window = (
        "  - id: migration\n"
        f'    once: {{ start: "{(now - timedelta(minutes=10)).isoformat()}", '
        f'end: "{(now + timedelta(minutes=20)).isoformat()}" }}'
    )
    triage = function("triage", env={**bench.triage_env(backend), "RULES": rules_with(tmp_path, window)})
    escalate = function("escalate", env=bench.escalate_env(backend))
    answered(triage.invoke(bench.alarm_event(VPN_ALARM, vpn, **at(1))), "suppressed")
    answered(escalate.invoke(the_event(bench, "Signal Held")), "scheduled")
    recovered = answered(triage.invoke(bench.recover(vpn)), "ignored")
    assert "no open incident" in recovered["reason"], recovered
    end = bench.paging.fire_next(triage, "hold-")
    assert end["action"] == "ignored" and "no longer held" in end["reason"], end
    assert incidents.all() == []


# --- silences from Slack ----------------------------------------------------------------------


def test_silence_for_an_hour_stops_paging_holds_the_key_and_its_end_resumes(
    bench: Bench, backend: str, function: Any, vpn: str, tmp_path: Path
) -> None:
    rules = rules_with(tmp_path, "", critical=True)
    triage = function("triage", env={**bench.triage_env(backend), "RULES": rules})
    escalate = function("escalate", env={**bench.escalate_env(backend), "RULES": rules})
    notify = function("notify", env=bench.notify_env())
    answered(triage.invoke(bench.alarm_event(VPN_ALARM, vpn, **at(1))), "opened")
    incident = the_event(bench, "Incident Opened")["detail"]["incident"]["id"]
    answered(escalate.invoke(the_event(bench, "Incident Opened")), "paged")
    assert [p.topic for p in bench.paging.pages()] == ["primary"]
    told = tell_notify(bench, notify, 0)
    post = bench.slack_messages()[-1]
    assert shows("Silence 1 h", post.message) and not shows("Lift silence", post.message)

    _, payload = press(custom_actions(TEMPLATE)["Silence 1 h"], post.message)
    assert payload == {"action": "silence_1h", "incident": incident}
    answered(escalate.invoke(payload, qualifier="buttons"), "silenced")
    assert bench.paging.timers("esc-") == [], "the pending page was cancelled"
    [end] = bench.paging.timers("sil-")
    assert end.target == bench.paging.function_arn("escalate")
    assert timedelta(minutes=59) < end.at - datetime.now(timezone.utc) <= timedelta(hours=1)
    told = tell_notify(bench, notify, told)
    [silenced] = [m for m in bench.slack_messages() if "Silenced" in m.content["title"]]
    assert "someone in Slack" in silenced.content["description"]
    assert shows("Lift silence", silenced.message)

    # Another signal on the silenced key is held, and posts nothing.
    held = answered(triage.invoke(bench.alarm_event(IP_ALARM, vpn, **at(0))), "suppressed")
    assert "silenced by someone in Slack" in held["reason"], held
    answered(escalate.invoke(latest(bench, "Signal Held")), "scheduled")
    [recheck] = bench.paging.timers("hold-")
    assert recheck.at - datetime.now(timezone.utc) <= timedelta(minutes=5), \
        "a held signal is looked at again every 5 minutes while the silence lasts"
    before = len(bench.slack_messages())
    told = tell_notify(bench, notify, told)
    assert len(bench.slack_messages()) == before

    # The hour ends with the VPN still down: the thread says so and paging resumes.
    resumed = bench.paging.fire_next(escalate, "sil-")
    assert resumed["action"] == "resumed", resumed
    assert [p.topic for p in bench.paging.pages()] == ["primary"]
    tell_notify(bench, notify, told)
    assert any("Silence ended" in m.content["title"] for m in bench.slack_messages())


def test_a_recovery_during_a_silence_still_resolves_and_posts_the_resolution(
    bench: Bench, backend: str, incidents: Incidents, triage: Function, escalate: Function,
    notify: Function, resolve: Function, vpn: str,
) -> None:
    answered(triage.invoke(bench.alarm_event(VPN_ALARM, vpn, **at(3))), "opened")
    opened = the_event(bench, "Incident Opened")
    answered(escalate.invoke(opened), "scheduled")
    told = tell_notify(bench, notify, 0)
    _, payload = press(custom_actions(TEMPLATE)["Silence until resolved"],
                       bench.slack_messages()[-1].message)
    assert payload["action"] == "silence_open"
    answered(escalate.invoke(payload, qualifier="buttons"), "silenced")
    told = tell_notify(bench, notify, told)
    posted = len(bench.slack_messages())

    answered(triage.invoke(bench.recover(vpn)), "recovered")
    told = tell_notify(bench, notify, told)
    assert len(bench.slack_messages()) == posted, "the recovery is muted"
    answered(resolve.invoke(latest(bench, "Signal Recovered")), "resolved")
    told = tell_notify(bench, notify, told)
    titles = [m.content["title"] for m in bench.slack_messages()[posted:]]
    assert len(titles) == 1 and "Resolved" in titles[0], titles
    answered(escalate.invoke(latest(bench, "Incident Resolved")), "stopped")
    assert bench.paging.timers("sil-") == [], "the silence ended with the incident"
    assert bench.report_objects(), "the record was written"


# --- inhibition by dependency -----------------------------------------------------------------


def test_an_alarm_behind_the_vpn_folds_into_its_incident_and_opens_its_own_after(
    bench: Bench, backend: str, incidents: Incidents, triage: Function, escalate: Function,
    notify: Function, resolve: Function, vpn: str,
) -> None:
    assert routed_detail_types(TEMPLATE, "DownstreamRule") == ["Signal Held"]
    downstream = bench.downstream_alarm(vpn, DOWNSTREAM)
    assert downstream["detail"]["alarmTags"] == {"VpnId": vpn}

    vpn_opened = answered(triage.invoke(bench.alarm_event(VPN_ALARM, vpn, **at(3))), "opened")
    told = tell_notify(bench, notify, 0)
    folded = answered(triage.invoke(downstream), "joined")
    assert folded["incident"] == vpn_opened["incident"], folded
    assert "inhibition vpn-dependents" in folded["reason"], folded
    assert len(incidents.all()) == 1, "no incident of its own"
    held = latest(bench, "Signal Held")
    assert held["detail"]["hold"]["kind"] == "downstream" and held["detail"]["hold"]["folded"] == 1
    answered(escalate.invoke(held), "scheduled")
    told = tell_notify(bench, notify, told)
    [post] = [m for m in bench.slack_messages() if "Downstream" in m.content["title"]]
    assert "1 downstream signal" in post.content["description"]
    assert post.metadata["threadId"] == bench.slack_messages()[0].metadata["threadId"]

    # The VPN recovers and resolves; the record counts what folded into it.
    answered(triage.invoke(bench.recover(vpn)), "recovered")
    answered(resolve.invoke(latest(bench, "Signal Recovered")), "resolved")
    [report] = bench.report_objects().values()
    assert "**Downstream signals folded:** 1" in report.text, report.text

    # The orders alarm still fires: at its next look it opens its own incident.
    own = bench.paging.fire_next(triage, "hold-")
    assert own["action"] == "opened" and own["rule"] == "cloudwatch-alarm", own
    assert len(incidents.all()) == 2
