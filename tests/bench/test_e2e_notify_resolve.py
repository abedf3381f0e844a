"""End-to-end: the VPN story's last act, through `notify` and `resolve`, as Lambda runs them.

The story of test_e2e_vpn_story.py (alarm → triage → enrich → runbook) goes on: the tunnel
comes back (both tunnels UP in moto, the alarm OK in the emulator's CloudWatch), the alarm's OK
event goes to `triage`, its `Signal Recovered` to `resolve`, which verifies the recovery
(DescribeVpnConnections, DescribeAlarms), resolves the incident, writes the post-incident record
to S3 and publishes `Incident Resolved`. Every lifecycle event the responder bus delivers also
goes to `notify`, which posts it to the incident's Slack thread: an AWS Chatbot custom
notification on the SNS topic, read back here from the SQS queue subscribed to it — each message
validated against the Chatbot schema, with its SNS message attributes.

The checks are what a responder would notice: the Slack thread, the report in S3, the incident
resolved (Incident Manager or OpsCenter) with the report linked, `Incident Resolved` on the bus.
"""

from __future__ import annotations

import copy
import re
import time
from datetime import timezone
from typing import Any

import pytest

from bench import (
    INCIDENT_MANAGER,
    OPSCENTER,
    REPO,
    RESPONDER_SOURCE,
    TUNNEL_1_IP,
    Bench,
    Incidents,
    SlackMessage,
    Tunnel,
    answered,
    at,
    default_tunnels,
    im_record,
    play_to_recovery,
    the_event,
)
from runtime_api import Function, Result
from test_e2e_vpn_story import DOCUMENT, failed

ALARM = "cloudwatch-alarm-vpn-tunnel-down"
IP_ALARM = "cloudwatch-alarm-vpn-tunnel-ip-down"
RULE = "vpn-tunnel-down"
SERVICE = "site-to-site-vpn"
IMPACT = 2  # business tier, high severity
REVIEW_QUESTIONS = ("root cause", "detected", "prevent", "action items")


# --- the story --------------------------------------------------------------------------------


def still_down() -> list[Tunnel]:
    """The tunnels after a partial recovery: the alarm is OK, tunnel 1 is still DOWN."""
    return default_tunnels()


def record_status(incidents: Incidents) -> str:
    record = incidents.one()
    if incidents.backend == INCIDENT_MANAGER:
        return str(im_record(record)["status"])
    return str(record["Status"])


RESOLVED_STATUS = {INCIDENT_MANAGER: "RESOLVED", OPSCENTER: "Resolved"}
OPEN_STATUS = {INCIDENT_MANAGER: "OPEN", OPSCENTER: "Open"}


def step_of(message: SlackMessage) -> str:
    return str(message.attributes.get("step"))


def by_step(messages: list[SlackMessage]) -> dict[str, list[SlackMessage]]:
    steps: dict[str, list[SlackMessage]] = {}
    for message in messages:
        steps.setdefault(step_of(message), []).append(message)
    return steps


def posted(results: list[tuple[str, Result]]) -> list[str]:
    """The detail-types notify posted."""
    return [kind for kind, r in results if r.ok and r.body["action"] == "posted"]


# --- the whole story ----------------------------------------------------------------------------


def test_vpn_story_ends_resolved_with_its_slack_thread_and_report(
    bench: Bench,
    triage: Function,
    enrich: Function,
    runbook: Function,
    notify: Function,
    resolve: Function,
    vpn: str,
    incidents: Incidents,
    backend: str,
) -> None:
    story, recovered = play_to_recovery(bench, triage, enrich, runbook, notify, vpn)
    incident_id = story.incident_id

    # resolve: both tunnels UP, the alarm OK → resolved, with the record in S3.
    answer = answered(resolve.invoke(recovered), "resolved")
    assert answer["incident"] == incident_id
    resolved = the_event(bench, "Incident Resolved")
    story.tell_notify()

    # --- the responder bus: the whole lifecycle, each event posted once ---------------------
    kinds = [e["detail-type"] for e in bench.bus_events()]
    assert kinds == [
        "Incident Opened",
        "Incident Enriched",
        "Runbook Started",
        "Runbook Finished",
        "Signal Recovered",
        "Incident Resolved",
    ], kinds
    for kind, result in story.answers:
        body = answered(result, "posted")  # impact 2: every step
        assert body["incident"] == incident_id, (kind, body)
        assert body["message_id"], (kind, body)
    resolution = resolved["detail"]["resolution"]
    assert resolution["status"] == "resolved" and resolution["verified"] is True, resolution
    assert any("DescribeVpnConnections" in c for c in resolution["checks"]), resolution
    assert any("DescribeAlarms" in c for c in resolution["checks"]), resolution
    report_link = resolution["report"]
    assert answer["report"] == report_link["uri"], (answer, report_link)

    # --- Slack: one thread, a message per step, as a responder reads them -------------------
    messages = bench.slack_messages()
    assert len(messages) == 6, [m.title for m in messages]
    assert [m.message_id for m in messages] == [r.body["message_id"] for _, r in story.answers]
    threads = {m.thread for m in messages}
    assert len(threads) == 1 and None not in threads, threads
    for message in messages:
        assert message.attributes["impact"] == IMPACT, message.attributes
        assert message.attributes["service"] == SERVICE, message.attributes
        assert message.attributes["rule"] == RULE, message.attributes
        assert f"Impact {IMPACT}" in message.title and SERVICE in message.title, message.title
    steps = by_step(messages)
    assert list(steps) == ["opened", "diagnosed", "runbook", "recovered", "resolved"], list(steps)

    [opened_msg] = steps["opened"]
    assert bench.alarm_name(vpn) in opened_msg.text(), opened_msg.text()
    assert vpn in opened_msg.text(), opened_msg.text()
    assert opened_msg.next_steps, opened_msg.message  # the rule's next_steps
    [diagnosed_msg] = steps["diagnosed"]
    assert story.diagnosis in diagnosed_msg.description, (story.diagnosis, diagnosed_msg.text())
    run_started, run_finished = steps["runbook"]
    for message in (run_started, run_finished):
        assert DOCUMENT in message.text() and story.execution_id in message.text(), message.text()
    assert "Success" in run_finished.text(), run_finished.text()
    [resolved_msg] = steps["resolved"]
    assert report_link["url"] in resolved_msg.description, resolved_msg.description

    # --- the post-incident record in S3 ------------------------------------------------------
    objects = bench.report_objects()
    assert len(objects) == 1, list(objects)
    [report] = objects.values()
    day = story.detected.astimezone(timezone.utc).strftime("%Y/%m/%d")
    assert re.fullmatch(rf"incidents/{day}/[A-Za-z0-9._-]+\.md", report.key), report.key
    assert safe_tail(incident_id) in report.key, (incident_id, report.key)
    assert report_link["uri"] == f"s3://{bench.report_bucket}/{report.key}"
    assert report.content_type.startswith("text/markdown"), report.content_type
    text = report.text
    lower = text.lower()
    assert text.startswith("# "), text[:200]
    assert incident_id in text and vpn in text, text[:500]
    assert story.diagnosis in text, text
    assert "timeline" in lower, text
    for milestone in ("detected", "opened", "diagnosed", "runbook", "recovered", "resolved"):
        assert milestone in lower, (milestone, text)
    assert re.search(r"time to (open|resolve)", lower), text
    for question in REVIEW_QUESTIONS:
        assert question in lower, (question, text)

    # --- the timeline: each stage's entry stored with its kind, which the record reads ---------
    ours = [e for e in incidents.entries(incidents.one()) if e["kind"] != "external"]
    by_kind = {e["kind"]: e for e in ours}
    assert sorted(by_kind) == sorted(
        ["diagnosis", "runbook-started", "runbook-finished", "signal-recovered", "resolved"]
    ), ours
    started = by_kind["runbook-started"]
    assert (started["document"], started["execution"]) == (DOCUMENT, story.execution_id), started
    assert ["VpnConnectionId", vpn] in started["parameters"], started
    assert by_kind["runbook-finished"]["status"] == "Success", by_kind["runbook-finished"]
    assert story.diagnosis in by_kind["diagnosis"]["text"], by_kind["diagnosis"]
    # Every milestone has its time, and the runbook's parameters are listed: read from the kinds.
    assert "not on the timeline" not in text, text
    assert f"### {DOCUMENT}: Success" in text, text
    assert f"`VpnConnectionId={vpn}`" in text, text

    # --- the incident: resolved, the record linked --------------------------------------------
    assert record_status(incidents) == RESOLVED_STATUS[backend]
    values = [i["value"] for i in incidents.related_items(incidents.one())]
    assert any(
        report_link["url"] == v or report_link["uri"] == v for v in values
    ), (report_link, values)
    assert any("resolv" in t.lower() for t in incidents.timeline(incidents.one()))


def safe_tail(incident_id: str) -> str:
    """The part of an incident id a key keeps whatever the sanitising: the record's UUID (IM
    ARN's last segment) or the OpsItem id."""
    return incident_id.rsplit("/", 1)[-1]


def test_redelivering_every_event_posts_nothing_new(
    bench: Bench,
    triage: Function,
    enrich: Function,
    runbook: Function,
    notify: Function,
    resolve: Function,
    vpn: str,
    incidents: Incidents,
) -> None:
    story, recovered = play_to_recovery(bench, triage, enrich, runbook, notify, vpn)
    first = answered(resolve.invoke(recovered), "resolved")
    story.tell_notify()
    before = bench.slack_messages()
    assert len(before) == 6, [m.title for m in before]

    # EventBridge delivers at least once: every event again, to notify and to resolve.
    again = [notify.invoke(copy.deepcopy(e)) for e in bench.bus_events()]
    replayed = resolve.invoke(copy.deepcopy(recovered))

    for result in again:
        assert answered(result, "ignored")["message_id"], result  # names what it posted
    assert bench.slack_messages() == before
    # resolve replays its first answer: the same record, nothing resolved or written again.
    assert answered(replayed, "resolved")["report"] == first["report"], replayed
    assert len(bench.report_objects()) == 1
    assert len(bench.bus_events(detail_type="Incident Resolved")) == 1, bench.bus_events()


def test_recovery_with_a_tunnel_still_down_waits_for_a_responder(
    bench: Bench,
    triage: Function,
    enrich: Function,
    runbook: Function,
    notify: Function,
    resolve: Function,
    vpn: str,
    incidents: Incidents,
    backend: str,
) -> None:
    """The alarm went back to OK, but DescribeVpnConnections still shows tunnel 1 DOWN:
    nothing is resolved; the thread says a responder must look."""
    story, recovered = play_to_recovery(
        bench, triage, enrich, runbook, notify, vpn, recovered_tunnels=still_down()
    )
    assert bench.alarm_state(vpn) == "OK"

    answer = answered(resolve.invoke(recovered), "awaiting_responder")
    assert answer["incident"] == story.incident_id
    assert not answer.get("report"), answer
    updated = the_event(bench, "Incident Updated")
    resolution = updated["detail"]["resolution"]
    assert resolution["status"] == "awaiting_responder" and resolution["verified"] is False
    assert TUNNEL_1_IP in resolution["waiting_reason"] or "tunnel" in (
        resolution["waiting_reason"].lower()
    ), resolution
    assert not resolution.get("report"), resolution
    waiting = story.tell_notify()
    assert posted(waiting) == ["Incident Updated"], waiting

    assert bench.bus_events(detail_type="Incident Resolved") == []
    assert bench.report_objects() == {}
    assert record_status(incidents) == OPEN_STATUS[backend]
    assert any(
        "waiting for a responder" in t.lower() for t in incidents.timeline(incidents.one())
    ), incidents.timeline(incidents.one())
    messages = bench.slack_messages()
    waiting_messages = [m for m in messages if "waiting for a responder" in m.text().lower()]
    assert len(waiting_messages) == 1, [m.text() for m in messages]
    [message] = waiting_messages
    assert message is messages[-1]
    assert TUNNEL_1_IP in message.text() or "DOWN" in message.text(), message.text()
    assert len({m.thread for m in messages}) == 1


# --- a storm ------------------------------------------------------------------------------------


def storm(bench: Bench, vpn: str, size: int, start_minutes_ago: float) -> list[dict[str, Any]]:
    """`size` distinct alarm events on the VPN: its per-tunnel alarm (TunnelIpAddress, tagged
    VpnId), then re-fires of its VpnId alarm (new ids, new state timestamps: new signals)."""
    events = [bench.alarm_event(IP_ALARM, vpn, **at(start_minutes_ago))]
    for n in range(1, size):
        events.append(
            bench.alarm_event(
                ALARM,
                vpn,
                id=f"{start_minutes_ago:08.0f}-{n:04d}-4000-8000-000000000000",
                **at(start_minutes_ago - n * 0.1),
            )
        )
    return events


def join_all(bench: Bench, triage: Function, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each event joins the incident (triage); returns the `Incident Updated` events it
    announced, one per new signal."""
    before = len(bench.bus_events(detail_type="Incident Updated"))
    for event in events:
        answered(triage.invoke(event), "joined")
    updates = bench.bus_events(detail_type="Incident Updated")[before:]
    assert len(updates) == len(events), [e["detail-type"] for e in bench.bus_events()]
    return updates


def joined_messages(bench: Bench) -> list[SlackMessage]:
    return [m for m in bench.slack_messages() if step_of(m) == "joined"]


def test_a_storm_of_joined_alarms_posts_at_most_one_update(
    bench: Bench,
    triage: Function,
    notify: Function,
    vpn: str,
    incidents: Incidents,
) -> None:
    """Six alarms on the VPN right after it opened: each joins the incident and triage
    announces each (`Incident Updated`), but with the default rules (one joined-signals update
    per 15 minutes, counted from the opened post) none of them posts on its own."""
    answered(triage.invoke(bench.alarm_event(ALARM, vpn, **at(10))), "opened")
    opened = the_event(bench, "Incident Opened")
    answered(notify.invoke(opened), "posted")

    updates = join_all(bench, triage, storm(bench, vpn, 6, 9))
    results = [notify.invoke(e) for e in updates]

    actions = [r.body["action"] if r.ok else r.body for r in results]
    assert actions == ["throttled"] * len(updates), actions
    assert len(joined_messages(bench)) == 0
    assert len(bench.slack_messages()) == 1
    assert incidents.id(incidents.one()) == opened["detail"]["incident"]["id"]
    assert updates[-1]["detail"]["signal_count"] == 7


def test_a_storm_sums_up_once_per_joined_interval(
    bench: Bench,
    function: Any,
    tmp_path: Any,
    backend: str,
    vpn: str,
) -> None:
    """With `notifications.joined_interval: 1s` (RULES, for triage and notify alike): a storm
    inside the first second after the opened post posts nothing; the storm after it posts one
    "N more signals joined" message in the incident's thread, counting every signal since the
    opened post, and no more."""
    rules = tmp_path / "rules.yaml"
    default = (REPO / "infra" / "rules" / "default.yaml").read_text()
    assert "joined_interval: 15m" in default
    rules.write_text(default.replace("joined_interval: 15m", "joined_interval: 1s"))
    triage = function("triage", env={**bench.triage_env(backend), "RULES": str(rules)})
    notify = function("notify", env={**bench.notify_env(), "RULES": str(rules)})

    answered(triage.invoke(bench.alarm_event(ALARM, vpn, **at(10))), "opened")
    opened = answered(notify.invoke(the_event(bench, "Incident Opened")), "posted")
    posted_at = time.monotonic()
    early = join_all(bench, triage, storm(bench, vpn, 2, 9))
    early_actions = []
    last_post = posted_at
    for event in early:
        early_actions.append(notify.invoke(event).body["action"])
        if early_actions[-1] == "posted":  # the second had passed on a slow machine
            last_post = time.monotonic()
    if time.monotonic() - posted_at < 0.9:
        assert early_actions == ["throttled", "throttled"], early_actions
    # The next storm comes more than an interval after the last post, whichever it was.
    time.sleep(max(0.0, last_post + 1.1 - time.monotonic()))

    updates = join_all(bench, triage, storm(bench, vpn, 5, 8))
    results = [notify.invoke(e) for e in updates]

    actions = [r.body["action"] if r.ok else r.body for r in results]
    assert actions[0] == "posted" and set(actions[1:]) <= {"throttled"}, actions
    joined = joined_messages(bench)
    # One per interval: none for the early storm (unless the second had passed), one now.
    assert len(joined) == (1 if early_actions == ["throttled", "throttled"] else 2), [
        m.text() for m in bench.slack_messages()
    ]
    message = joined[-1]
    assert message.message_id == results[0].body["message_id"]
    assert message.thread == bench.slack_messages()[0].thread
    assert message.attributes["step"] == "joined" and message.attributes["impact"] == IMPACT
    total = updates[0]["detail"]["signal_count"]
    more = re.search(r"(\d+) more signals? joined", message.text())
    assert more, message.text()
    if early_actions == ["throttled", "throttled"]:
        assert int(more.group(1)) == total - 1, (total, message.text())  # all since opening
    assert str(total) in message.text(), message.text()
    assert opened["incident"] == updates[0]["detail"]["incident"]["id"]


# --- events that are not for them ------------------------------------------------------------


@pytest.mark.parametrize("backend", [OPSCENTER])
def test_malformed_and_foreign_events_fail_and_the_processes_serve_on(
    bench: Bench,
    triage: Function,
    notify: Function,
    resolve: Function,
    vpn: str,
    incidents: Incidents,
) -> None:
    alarm = bench.alarm_event(ALARM, vpn)
    answered(triage.invoke(alarm), "opened")
    opened = the_event(bench, "Incident Opened")
    broken = copy.deepcopy(opened)
    del broken["detail"]["incident"]
    pids = {f.name: f.process.pid for f in (notify, resolve) if f.process}

    cases = [
        # (function, event, errorType, words the message must name)
        (notify, alarm, "UnknownEvent", ["aws.cloudwatch", RESPONDER_SOURCE]),
        (notify, {"hello": "world"}, "UnknownEvent", ["source and detail-type"]),
        (notify, ["not", "an", "event"], "UnknownEvent", ["not a JSON object"]),
        (notify, broken, "MalformedEvent", ["Incident Opened", "incident"]),
        (resolve, alarm, "UnknownEvent", ["aws.cloudwatch", RESPONDER_SOURCE]),
        (resolve, {"hello": "world"}, "UnknownEvent", ["source"]),
        (
            resolve,
            {**broken, "detail-type": "Signal Recovered"},
            "MalformedEvent",
            ["Signal Recovered", "incident"],
        ),
    ]
    for function, event, error_type, words in cases:
        failed(function.invoke(event), error_type, *words)
    for function in (notify, resolve):
        assert any(
            r.get("level") == "ERROR" and r.get("fields", {}).get("error_type")
            for r in function.log_records()
        ), function.logs()
    assert bench.slack_messages() == []
    assert bench.report_objects() == {}
    assert [e["detail-type"] for e in bench.bus_events()] == ["Incident Opened"]

    # The same processes handle the real events next.
    answered(notify.invoke(opened), "posted")
    answered(resolve.invoke(opened), "ignored")  # not a Signal Recovered: not resolve's
    assert len(bench.slack_messages()) == 1
    for function in (notify, resolve):
        assert function.running and function.process and function.process.pid == pids[function.name]


def test_a_post_whose_record_fails_is_posted_again_not_lost(
    bench: Bench, triage: Function, notify: Function, vpn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """notify's guarantee is at least once. SNS took the message, then the state table failed
    to record it (every SDK attempt): the invocation fails, and Lambda's retry posts it again.
    Two messages for one step, never none."""
    from moto.dynamodb.models import DynamoDBBackend

    answered(triage.invoke(bench.alarm_event("cloudwatch-alarm-vpn-tunnel-down", vpn)), "opened")
    opened = the_event(bench, "Incident Opened")
    real = DynamoDBBackend.put_item
    left = {"failures": 4}  # the SDK's attempts (aws::config::MAX_ATTEMPTS)

    def failing(self: Any, table_name: str, item_attrs: dict[str, Any], *a: Any, **k: Any) -> Any:
        pk = item_attrs.get("pk", {}).get("S", "")
        done = item_attrs.get("status", {}).get("S", "") == "completed"
        if pk.startswith("idem#notify#") and done and left["failures"] > 0:
            left["failures"] -= 1
            raise RuntimeError("the state table is unavailable (bench)")
        return real(self, table_name, item_attrs, *a, **k)

    monkeypatch.setattr(DynamoDBBackend, "put_item", failing)
    first = notify.invoke(opened)
    assert first.kind == "error", first
    assert len(bench.slack_messages(wait=2.0, count=1)) == 1, "SNS took it"
    retry = answered(notify.invoke(opened), "posted")
    assert retry["message_id"], retry
    assert len(bench.slack_messages(wait=2.0, count=2)) == 2
    # Recorded now: a re-delivery posts nothing.
    answered(notify.invoke(opened), "ignored")
    assert len(bench.slack_messages()) == 2
