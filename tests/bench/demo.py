"""`make demo`: the VPN-down story, end to end, on the local AWS bench.

A Site-to-Site VPN in moto loses tunnel 1; its TunnelState alarm fires and the real
`CloudWatch Alarm State Change` event goes to the built `triage` binary (through a Lambda
Runtime API, configured only by environment variables, as in Lambda). The `Incident Opened` the
responder bus delivers goes to `enrich`, which diagnoses the VPN (EC2 in moto, TunnelState in the
emulator's CloudWatch); its `Incident Enriched` goes to `runbook`, which starts
AWSSupport-TroubleshootVPN in the emulator's SSM Automation; the execution finishes and
Automation's status-change event goes to `runbook` again. Then the tunnel comes back (both
tunnels UP in moto, the alarm OK in the emulator's CloudWatch): the OK event goes to `triage`,
its `Signal Recovered` to `resolve`, which verifies the recovery, resolves the incident and
writes the post-incident record to S3. Every event the responder bus carries also goes to
`notify`, which posts it to the incident's Slack thread through AWS Chatbot (an SNS topic in
moto, read back through SQS).

The demo prints what a responder would see: each decision, the diagnosis, the runbook execution
and its outcome, the incident with its related items and timeline, what the responder bus
carried, the state table, the Slack thread as it reads in the channel, and the post-incident
record. It plays once per incident backend and stops every server and process on exit, also on
Ctrl-C or failure.

Then the escalation story: a VPN whose rule puts it in the critical tier (impact 1) goes down at
night; `escalate` pages the primary on-call (an SNS topic read back through SQS), nobody answers,
the timers (EventBridge Scheduler in moto, fired by the bench as Scheduler would) page again and
add the secondary, someone presses Acknowledge in Slack (the template's AWS Chatbot custom
action, run on the message notify posted) and paging stops; later a person resolves the incident
in the console, and `resolve` writes its record "by" that person.

Last, quiet hours (OpsCenter): a partner VPN goes down inside its nightly maintenance window —
held, nobody paged — and when the window ends with the tunnel still down the incident opens;
an orders alarm tagged with the VPN's id folds into that incident instead of paging on its own,
and opens its own incident once the VPN is back while orders still fail.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from bench import REPO, TUNNEL_1_IP, Bench, Incidents, SlackMessage
from paging import (
    PERSON,
    SCHEDULE_GROUP,
    console_event,
    custom_actions,
    press,
    routed_detail_types,
)
from runtime_api import Function, FunctionError, Result

TEMPLATE = (REPO / "infra" / "template.yaml").read_text()
NOTIFIED = routed_detail_types(TEMPLATE, "LifecycleRule")

WIDTH = 100
REPORT_LINES = 60  # the post-incident record is printed up to this many lines


def say(text: str = "", indent: int = 0) -> None:
    prefix = " " * indent
    for line in text.splitlines() or [""]:
        print(
            textwrap.fill(line, WIDTH, initial_indent=prefix, subsequent_indent=prefix + "  ")
            if line
            else ""
        )


def heading(text: str) -> None:
    print()
    print(f"── {text} " + "─" * max(0, WIDTH - len(text) - 4))


def binary(name: str) -> Path:
    path = Path(os.environ.get("RESPONDER_BIN_DIR") or REPO / "target" / "debug") / name
    if not path.is_file():
        sys.exit(f"demo: no {name} binary at {path} (make demo builds it; or set RESPONDER_BIN_DIR)")
    return path


def show_vpn(bench: Bench, vpn_id: str) -> None:
    vpn = bench.ec2.describe_vpn_connections(VpnConnectionIds=[vpn_id])["VpnConnections"][0]
    gateway = vpn.get("VpnGatewayId") or vpn.get("TransitGatewayId") or "?"
    cgw = bench.ec2.describe_customer_gateways(
        CustomerGatewayIds=[vpn["CustomerGatewayId"]]
    )["CustomerGateways"][0]
    say(
        f"VPN {vpn_id} ({vpn.get('Type')}, {vpn.get('State')}) via {gateway}, customer gateway "
        f"{cgw['CustomerGatewayId']} {cgw.get('IpAddress')} (ASN {cgw.get('BgpAsn')})",
        2,
    )
    for number, tunnel in enumerate(vpn.get("VgwTelemetry", []), 1):
        say(
            f"tunnel {number} {tunnel['OutsideIpAddress']}: {tunnel['Status']}"
            f" — {tunnel.get('StatusMessage') or 'no message'}",
            4,
        )


def decide(triage: Function, event: dict[str, Any], what: str) -> None:
    result = triage.invoke(event)
    say(f"▶ {what}", 2)
    if result.ok:
        answer = result.body
        say(f"triage: {answer['action'].upper()} — {answer['reason']}", 4)
    else:
        say(f"triage failed the invocation ({result.body.get('errorType')}): "
            f"{result.body.get('errorMessage')}", 4)
        say("Lambda would retry it, then send it to the dead-letter queue.", 4)


def act(
    function: Function, event: dict[str, Any], what: str, qualifier: str | None = None
) -> Result:
    """Delivers `event` to `function` (through the alias `qualifier`, if any) and prints its
    decision."""
    result = function.invoke(event, qualifier=qualifier)
    say(f"▶ {what}", 2)
    if result.ok:
        answer = result.body
        text = answer.get("reason") or answer.get("summary") or ""
        say(f"{function.name}: {answer['action'].upper()} — {text}", 4)
        for note in answer.get("notes") or []:
            say(f"note: {note}", 6)
    else:
        say(f"{function.name} failed the invocation ({result.body.get('errorType')}): "
            f"{result.body.get('errorMessage')}", 4)
    return result


def delivered(bench: Bench, detail_type: str) -> dict[str, Any] | None:
    """The latest `detail_type` event the responder bus delivered (what its rule would hand to
    the next function), or None."""
    events = bench.bus_events(wait=2.0, count=1, detail_type=detail_type)
    return events[-1] if events else None


# AWSSupport-TroubleshootVPN's parameters, in the order infra/rules/default.yaml lists them.
PARAMETER_ORDER = (
    "VpnConnectionId", "TunnelAIPAddress", "TunnelBIPAddress", "IKEVersion", "LogGroupName",
    "LookBackPeriod", "AutomationAssumeRole",
)  # fmt: skip


def show_execution(bench: Bench, execution_id: str, parameters: bool = True) -> None:
    """The execution as SSM Automation has it: status, then parameters or outputs."""
    for execution in bench.emu.automations():
        if execution["AutomationExecutionId"] != execution_id:
            continue
        say(
            f"SSM Automation: {execution['DocumentName']} execution {execution_id} "
            f"{execution['AutomationExecutionStatus']}",
            4,
        )
        given = execution.get("Parameters", {}) if parameters else {}
        order = {name: i for i, name in enumerate(PARAMETER_ORDER)}
        for name in sorted(given, key=lambda n: (order.get(n, len(order)), n)):
            say(f"{name:<22} {', '.join(given[name])}", 6)
        for name, values in execution.get("Outputs", {}).items():
            say(f"output {name}: {', '.join(values)}", 6)


def show_incident(bench: Bench, backend: str) -> None:
    if backend == "incident-manager":
        for incident in bench.emu.incidents():
            say(f"Incident Manager record {incident['arn']}", 2)
            say(f"title   {incident['title']}", 4)
            say(f"impact  {incident['impact']}   status {incident['status']}", 4)
            source = incident.get("incidentRecordSource", {})
            say(f"trigger {source.get('source')} ← {source.get('resourceArn', '')}", 4)
            say("related items:", 4)
            for item in Incidents(bench, backend).related_items(incident):
                say(related_line(item), 6)
            say("timeline:", 4)
            timeline = sorted(incident.get("timeline", []), key=lambda e: str(e.get("eventTime")))
            for entry, stored in zip(timeline, Incidents(bench, backend).entries(incident)):
                say(f"{_time(entry.get('eventTime'))}  {_entry(stored)}", 6)
    else:
        for item in bench.emu.ops_items():
            data = item.get("OperationalData", {})
            say(f"OpsCenter OpsItem {item['OpsItemId']} ({item.get('Status')})", 2)
            say(f"title    {item['Title']}", 4)
            say(
                f"severity {item.get('Severity')}   priority {item.get('Priority')}   "
                f"category {item.get('Category')}",
                4,
            )
            say("resources and related items:", 4)
            for related in Incidents(bench, backend).related_items(item):
                say(related_line(related), 6)
            notes = sorted(k for k in data if k.startswith("responder:timeline:"))
            say("timeline notes:", 4)
            for key, stored in zip(notes, Incidents(bench, backend).entries(item)):
                say(f"{key.split(':', 2)[2][:20]}  {_entry(stored)}", 6)


def _entry(stored: dict[str, Any]) -> str:
    """One timeline entry: its kind, then its words (the service's own events as key=value)."""
    text = stored["text"]
    if stored["kind"] == "external":
        try:
            data = json.loads(text)
        except ValueError:
            data = text
        if isinstance(data, dict):
            text = ", ".join(f"{k}={v}" for k, v in data.items())
        elif isinstance(data, str):
            text = data
    return f"[{stored['kind']}] {text}"


def related_line(item: dict[str, str]) -> str:
    """One related item: its ARN when it is one, else its title (URLs and metric definitions
    are long)."""
    value = item["value"]
    shown = value if value.startswith("arn:") else (item["title"] or value[:80])
    return f"{item['kind']:<18} {shown}"


def show_bus_and_state(bench: Bench) -> None:
    events = bench.bus_events()
    say("responder bus: " + (", ".join(e["detail-type"] for e in events) or "nothing"), 2)
    for row in bench.state_items():
        if row["sk"] == "incident":
            say(
                f"state table: {row['pk']} → {row.get('status')} "
                f"({row.get('signal_count')} signals, incident {row.get('incident_id')})",
                2,
            )


class Notifier:
    """`notify` subscribed to the responder bus: `catch_up()` hands it every event the bus
    delivered since the last call, in order, and prints one line per answer."""

    def __init__(self, bench: Bench, function: Function) -> None:
        self.bench = bench
        self.function = function
        self.seen = 0

    def catch_up(self) -> None:
        events = self.bench.bus_events()
        for event in events[self.seen :]:
            folded = (event["detail"].get("hold") or {}).get("kind") == "downstream"
            if event["detail-type"] not in NOTIFIED and not folded:
                continue  # the template routes notify only these (and folded signals)
            result = self.function.invoke(event)
            if result.ok:
                answer = result.body
                say(
                    f"notify ← {event['detail-type']}: {answer['action'].upper()}"
                    + (f" ({answer.get('step')})" if answer.get("step") else "")
                    + (f" — {answer['reason']}" if answer["action"] != "posted" else ""),
                    4,
                )
            else:
                say(
                    f"notify ← {event['detail-type']}: failed ({result.body.get('errorType')}): "
                    f"{result.body.get('errorMessage')}",
                    4,
                )
        self.seen = len(events)


def show_slack(bench: Bench) -> None:
    """The Slack thread as the channel shows it: each Chatbot message's title, description and
    next steps, and the SNS attributes subscribers can filter on."""
    messages = bench.slack_messages()
    threads = {m.thread for m in messages}
    say(
        f"Slack (AWS Chatbot custom notifications on {bench.notify_topic_arn.split(':')[-1]}, "
        f"each checked against the Chatbot schema): {len(messages)} messages in "
        f"{len(threads)} thread{'s' if len(threads) != 1 else ''}",
        2,
    )
    for message in messages:
        show_message(message)


def show_message(message: SlackMessage) -> None:
    attributes = ", ".join(f"{k}={v}" for k, v in sorted(message.attributes.items()))
    print()
    say(f"┃ {slack_text(message.title)}", 4)
    for line in message.description.splitlines():
        say(f"┃ {slack_text(line)}" if line.strip() else "┃", 4)
    if message.next_steps:
        say("┃ Next steps:", 4)
        for step in message.next_steps:
            say(f"┃  • {slack_text(step)}", 4)
    say(f"┗ thread {message.thread} · {attributes}", 4)


# The emoji notify's titles start with, as Slack draws them.
EMOJI = {
    "red_circle": "🔴", "large_red_circle": "🔴", "large_orange_circle": "🟠",
    "large_yellow_circle": "🟡", "large_blue_circle": "🔵", "white_circle": "⚪", "large_green_circle": "🟢", "mag": "🔍",
    "gear": "⚙️", "clipboard": "📋", "white_check_mark": "✅", "raised_hand": "✋",
    "heavy_plus_sign": "➕", "x": "❌", "warning": "⚠️", "rotating_light": "🚨",
    "hourglass_flowing_sand": "⏳", "information_source": "ℹ️", "no_bell": "🔕", "bell": "🔔",
    "link": "🔗",
}  # fmt: skip


def slack_text(text: str) -> str:
    """Slack mrkdwn as the channel shows it: a link `<url|text>` is its text (underlined in
    Slack), `*bold*` and `` `code` `` lose their marks, `:emoji:` codes are drawn."""
    text = re.sub(r"<(?:https?://|mailto:)[^|>]+\|([^>]+)>", r"\1", text)
    text = re.sub(r"<(https?://[^>]+)>", r"\1", text)
    text = re.sub(r"(?<![\w*])\*([^*\n]+)\*(?![\w*])", r"\1", text)
    text = re.sub(r"`([^`\n]*)`", r"\1", text)
    return re.sub(r":([a-z0-9_+-]+):", lambda m: EMOJI.get(m.group(1), m.group(0)), text)


def show_report(bench: Bench) -> None:
    objects = bench.report_objects()
    if not objects:
        say("post-incident record: none written", 2)
        return
    for obj in objects.values():
        lines = obj.text.splitlines()
        say(
            f"post-incident record s3://{bench.report_bucket}/{obj.key} "
            f"({obj.content_type}, {len(lines)} lines"
            + (f", the first {REPORT_LINES} shown" if len(lines) > REPORT_LINES else "")
            + "):",
            2,
        )
        print()
        for line in lines[:REPORT_LINES]:
            print(f"    │ {line}" if line else "    │")
        if len(lines) > REPORT_LINES:
            print(f"    │ … ({len(lines) - REPORT_LINES} more lines)")


def _time(value: Any) -> str:
    return value.strftime("%H:%M:%S") if hasattr(value, "strftime") else str(value)[:19]


def story(bench: Bench, backend: str) -> None:
    heading(f"Backend: {backend}")
    vpn_id = bench.create_vpn()
    say("A Site-to-Site VPN in moto; tunnel 1 has just gone down:", 0)
    show_vpn(bench, vpn_id)

    # The fixtures' times are rewritten to "now" so the timeline reads like tonight's incident.
    now = datetime.now(timezone.utc)

    def at(minutes_ago: int) -> dict[str, str]:
        t = now - timedelta(minutes=minutes_ago)
        return {
            "time": t.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "detail__state__timestamp": t.strftime("%Y-%m-%dT%H:%M:%S.000+0000"),
        }

    functions: list[Function] = []
    start = starter(bench, functions)

    try:
        triage = start("triage", bench.triage_env(backend))
        enrich = start("enrich", bench.stage_env(backend))
        runbook = start("runbook", bench.runbook_env(backend))
        notify = Notifier(bench, start("notify", bench.notify_env()))
        resolve = start("resolve", bench.resolve_env(backend))

        down = bench.alarm_event("cloudwatch-alarm-vpn-tunnel-down", vpn_id, **at(3))
        decide(triage, down, f"CloudWatch alarm {down['detail']['alarmName']} → ALARM")
        decide(triage, down, "the same event delivered again (EventBridge retries)")
        second = bench.alarm_event("cloudwatch-alarm-vpn-tunnel-ip-down", vpn_id, **at(2))
        decide(triage, second, f"a second alarm on the same VPN: {second['detail']['alarmName']}")
        decide(
            triage,
            bench.alarm_event("malformed-alarm-missing-state", vpn_id),
            "a malformed event",
        )

        notify.catch_up()

        opened = delivered(bench, "Incident Opened")
        if opened is not None:
            act(enrich, opened, "responder bus → enrich: Incident Opened")
            notify.catch_up()
        enriched = delivered(bench, "Incident Enriched")
        execution_id = None
        if enriched is not None:
            result = act(runbook, enriched, "responder bus → runbook: Incident Enriched")
            execution_id = result.body.get("execution") if result.ok else None
            notify.catch_up()
        if execution_id:
            show_execution(bench, execution_id)
            bench.emu.finish_automation(
                execution_id,
                "Success",
                {
                    "TroubleshootVPN.Output": f"Tunnel {TUNNEL_1_IP}: IKE phase 1 negotiation "
                    "failed (no proposal chosen)."
                },
            )
            act(
                runbook,
                bench.emu.automation_status_change_event(execution_id),
                "SSM Automation → runbook: the execution ended (Success)",
            )
            show_execution(bench, execution_id, parameters=False)
            notify.catch_up()

        print()
        say("The customer fixes the gateway; the tunnel comes back:", 0)
        ok = bench.recover(vpn_id)  # both tunnels UP in moto, the alarm OK in CloudWatch
        show_vpn(bench, vpn_id)
        # Two alarms fire on the VPN: the incident recovers only when both are OK.
        second_ok = bench.alarm_event("cloudwatch-alarm-vpn-tunnel-ip-ok", vpn_id, **at(0.5))
        decide(
            triage,
            second_ok,
            f"{second_ok['detail']['alarmName']} back to OK (the other alarm still fires)",
        )
        decide(triage, ok, f"{ok['detail']['alarmName']} back to OK: both alarms are OK")
        notify.catch_up()
        recovered = delivered(bench, "Signal Recovered")
        if recovered is not None:
            act(resolve, recovered, "responder bus → resolve: Signal Recovered")
            notify.catch_up()
        resolved = delivered(bench, "Incident Resolved")
        if resolved is not None:
            for check in resolved["detail"].get("resolution", {}).get("checks", []):
                say(f"verified: {check}", 4)
        print()
        show_incident(bench, backend)
        show_bus_and_state(bench)
        print()
        show_slack(bench)
        print()
        show_report(bench)

        print()
        say("Later the VPN fails again; a person resolves that incident in the console,", 0)
        say("and the next alarm opens a new incident instead of joining the closed one:", 0)
        again = bench.alarm_event("cloudwatch-alarm-vpn-tunnel-down", vpn_id, **at(-1))
        decide(triage, again, f"{again['detail']['alarmName']} → ALARM again")
        incidents = Incidents(bench, backend)
        incidents.close_in_console(incidents.all()[-1])
        say(f"a person resolves {incidents.id(incidents.all()[-1])} in the console", 2)
        refire = bench.alarm_event("cloudwatch-alarm-vpn-tunnel-ip-down", vpn_id, **at(-2))
        decide(triage, refire, f"{refire['detail']['alarmName']} → ALARM")
    finally:
        for function in functions:
            function.stop()


def starter(bench: Bench, functions: list[Function]) -> Any:
    """`start(name, config)`: starts the built function `name` on the bench with `config`,
    remembering it in `functions` (to stop)."""

    def start(name: str, config: dict[str, str]) -> Function:
        env = {**bench.endpoint_env(), **config}
        function = Function(name, binary(name), env, account=bench.account, region=bench.region)
        functions.append(function)
        return function.start()

    return start


def escalation_story(bench: Bench, backend: str, rules: Path) -> None:
    heading(f"People in the loop ({backend}): paging until someone answers")
    text = (REPO / "infra" / "rules" / "default.yaml").read_text()
    rules.write_text(
        text.replace("    service: site-to-site-vpn\n    tier: business\n",
                     "    service: site-to-site-vpn\n    tier: critical\n", 1)
    )
    say("This VPN carries payments: its rule is in the critical tier, so a tunnel down is "
        "impact 1, and the default escalation policy `page-now` applies.", 0)
    vpn_id = bench.create_vpn(name="payments-vpn")
    functions: list[Function] = []
    start = starter(bench, functions)

    def pages() -> None:
        for page in bench.paging.pages():
            say(f"📟 page on `{page.topic}` — e-mail subject: {page.subject}", 4)

    try:
        triage = start("triage", {**bench.triage_env(backend), "RULES": str(rules)})
        escalate = start("escalate", {**bench.escalate_env(backend), "RULES": str(rules)})
        resolve = start("resolve", bench.resolve_env(backend))
        notify = Notifier(bench, start("notify", bench.notify_env()))
        now = datetime.now(timezone.utc)
        down = bench.alarm_event(
            "cloudwatch-alarm-vpn-tunnel-down", vpn_id,
            time=now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            detail__state__timestamp=now.strftime("%Y-%m-%dT%H:%M:%S.000+0000"),
        )
        decide(triage, down, f"03:02 — CloudWatch alarm {down['detail']['alarmName']} → ALARM")
        opened = delivered(bench, "Incident Opened")
        if opened is None:
            return
        act(escalate, opened, "responder bus → escalate: Incident Opened")
        pages()
        for minute in (5, 10, 15):
            [timer] = bench.paging.timers()
            # As Scheduler does: the one-time schedule fires, then is deleted (DELETE).
            bench.paging.scheduler.delete_schedule(Name=timer.name, GroupName=SCHEDULE_GROUP)
            act(escalate, timer.input, f"+{minute} min, nobody has answered — Scheduler fires "
                f"{timer.name} ({timer.expression})")
            pages()
        notify.catch_up()
        posts = [m for m in bench.slack_messages() if m.attributes.get("step") == "escalation"]
        say("(The bench fires each timer at once, as its time came; the acknowledgement below is "
            "timed by the clock, as in Lambda.)", 2)
        say(f"The incident's Slack thread shows {len(posts)} escalation posts; the last one:", 2)
        if posts:
            show_message(posts[-1])
            _, payload = press(custom_actions(TEMPLATE)["Acknowledge"], posts[-1].message)
            print()
            command = f"--payload {json.dumps(payload, separators=(',', ':'))}"
            act(escalate, payload, "someone presses Acknowledge in Slack (AWS Chatbot runs "
                f"`lambda invoke --function-name <stack>-escalate:buttons {command}`)",
                qualifier="buttons")
            say(f"timers pending now: {len(bench.paging.timers())}", 4)
        notify.catch_up()

        print()
        incidents = Incidents(bench, backend)
        record = incidents.all()[-1]
        incidents.close_in_console(record)
        status = "RESOLVED" if backend == "incident-manager" else "Resolved"
        say(f"The on-call fixes it and resolves {incidents.id(record)} in the console "
            f"(status {status}, as {PERSON}).", 0)
        act(escalate, console_event(bench, incidents.id(record), status),
            "the console's change → escalate" + (
                " (CloudTrail's UpdateIncidentRecord: needs a trail)"
                if backend == "incident-manager" else " (OpsItem Update)"))
        requested = delivered(bench, "Resolution Requested")
        if requested is not None:
            act(resolve, requested, "responder bus → resolve: Resolution Requested")
        notify.catch_up()
        for obj in bench.report_objects().values():
            say(f"post-incident record s3://{bench.report_bucket}/{obj.key}, excerpts:", 2)
            for line in obj.text.splitlines():
                if line.startswith(("- **Resolved:**", "- **Time to acknowledge", "- **Pages sent",
                                    "| First page", "| Acknowledged")):
                    print(f"    │ {line}")
    finally:
        for function in functions:
            function.stop()


def quiet_story(bench: Bench, backend: str, rules: Path) -> None:
    heading(f"Quiet hours ({backend}): a maintenance window, and a VPN's dependents")
    from zoneinfo import ZoneInfo  # noqa: PLC0415 - only this story shows a local time

    berlin = datetime.now(ZoneInfo("Europe/Berlin")) - timedelta(minutes=2)
    window = (
        "  - id: partner-vpn-nightly\n"
        "    match: { rule: vpn-tunnel-down }\n"
        f'    recurring: {{ cron: "{berlin.minute} {berlin.hour} * * *", duration: 30m, '
        "time_zone: Europe/Berlin }"
    )
    text = (REPO / "infra" / "rules" / "default.yaml").read_text()
    rules.write_text(text.replace("silences:\n", f"windows:\n{window}\nsilences:\n", 1))
    say("The partner restarts its VPN endpoint every night: the rules hold the VPN's alarms in "
        f"a window from {berlin:%H:%M} Berlin time, for 30 minutes:", 0)
    print(textwrap.indent(window, "    "))
    vpn_id = bench.create_vpn(name="partner-vpn")
    functions: list[Function] = []
    start = starter(bench, functions)

    def fire(function: Function, what: str) -> None:
        [timer] = bench.paging.timers("hold-")
        # As Scheduler does: the one-time schedule fires, then is deleted (DELETE).
        bench.paging.scheduler.delete_schedule(Name=timer.name, GroupName=SCHEDULE_GROUP)
        act(function, timer.input, f"{what} — Scheduler fires {timer.name} ({timer.expression})")

    try:
        triage = start("triage", {**bench.triage_env(backend), "RULES": str(rules)})
        escalate = start("escalate", {**bench.escalate_env(backend), "RULES": str(rules)})
        resolve = start("resolve", bench.resolve_env(backend))
        notify = Notifier(bench, start("notify", bench.notify_env()))
        now = datetime.now(timezone.utc)
        down = bench.alarm_event(
            "cloudwatch-alarm-vpn-tunnel-down", vpn_id,
            time=now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            detail__state__timestamp=now.strftime("%Y-%m-%dT%H:%M:%S.000+0000"),
        )
        decide(triage, down, f"the tunnel drops — {down['detail']['alarmName']} → ALARM")
        held = delivered(bench, "Signal Held")
        if held is None:
            return
        act(escalate, held, "responder bus → escalate: Signal Held")
        notify.catch_up()
        say(f"Slack messages: {len(bench.slack_messages())}; pages: "
            f"{len(bench.paging.pages())}. The signal waits in the state table.", 4)
        print()
        fire(triage, "the window ends and the tunnel is still down (DescribeAlarms: ALARM)")
        opened = delivered(bench, "Incident Opened")
        if opened is None:
            return
        notify.catch_up()

        print()
        say("An orders alarm carries the tag VpnId=" + vpn_id + " (alarm tags reach EventBridge "
            "with tag propagation on); the default rules' inhibition `vpn-dependents` folds it:", 0)
        decide(triage, bench.downstream_alarm(vpn_id), "partner-orders-failing → ALARM")
        held = delivered(bench, "Signal Held")
        if held is not None:
            act(escalate, held, "responder bus → escalate: Signal Held (downstream)")
        notify.catch_up()
        folded = [m for m in bench.slack_messages() if "Downstream" in m.title]
        if folded:
            say("In the VPN incident's thread:", 2)
            show_message(folded[-1])
        print()
        decide(triage, bench.recover(vpn_id), "the partner's endpoint is back — the VPN alarm → OK")
        recovered = delivered(bench, "Signal Recovered")
        if recovered is not None:
            act(resolve, recovered, "responder bus → resolve: Signal Recovered")
        notify.catch_up()
        fire(triage, "5 min later, orders still fail")
        notify.catch_up()
        for obj in bench.report_objects().values():
            for line in obj.text.splitlines():
                if line.startswith("- **Downstream signals folded"):
                    say(f"the VPN incident's record: {line[2:]}", 2)
    finally:
        for function in functions:
            function.stop()


def instance_story(bench: Bench, backend: str) -> None:
    heading(f"An EC2 instance ({backend}): a status check fails twenty minutes after a change")
    instance = bench.launch_instance("web-1")
    bench.deploy_stack_of(instance)
    bench.emu.record_trail_event(
        instance, "ModifyInstanceAttribute", datetime.now(timezone.utc) - timedelta(minutes=20),
        by="alice",
    )
    bench.impair_instance(instance, "system", datetime.now(timezone.utc) - timedelta(minutes=3))
    say(f"web-1 ({instance}) in moto, made by stack partner-{instance}; twenty minutes ago alice "
        "changed its attributes (CloudTrail). Three minutes ago the host under it failed "
        "(DescribeInstanceStatus: system impaired), and its status check alarm fires:", 0)
    functions: list[Function] = []
    start = starter(bench, functions)
    try:
        triage = start("triage", bench.triage_env(backend))
        enrich = start("enrich", bench.stage_env(backend))
        changes = start("changes", bench.changes_env(backend))
        resolve = start("resolve", bench.resolve_env(backend))
        notify = Notifier(bench, start("notify", bench.notify_env()))
        alarm = bench.instance_alarm(instance, "ALARM")
        decide(triage, alarm, f"CloudWatch alarm {alarm['detail']['alarmName']} → ALARM")
        opened = delivered(bench, "Incident Opened")
        if opened is None:
            return
        act(enrich, opened, "responder bus → enrich: Incident Opened")
        enriched = delivered(bench, "Incident Enriched")
        if enriched is None:
            return
        act(changes, enriched, "responder bus → changes: Incident Enriched")
        notify.catch_up()
        for message in bench.slack_messages():
            if message.attributes.get("step") == "diagnosed":
                show_message(message)
        print()
        say("The on-call stops and starts it (it moves to healthy hardware); the alarm clears:", 0)
        bench.heal_instance(instance)
        decide(triage, bench.instance_alarm(instance, "OK"), "the alarm → OK")
        recovered = delivered(bench, "Signal Recovered")
        if recovered is not None:
            act(resolve, recovered, "responder bus → resolve: Signal Recovered")
        resolved = delivered(bench, "Incident Resolved")
        if resolved is not None:
            for check in resolved["detail"].get("resolution", {}).get("checks", []):
                say(f"verified: {check}", 4)
        notify.catch_up()
    finally:
        for function in functions:
            function.stop()


def main() -> int:
    # Ctrl-C and SIGTERM both end in the `finally` below, which stops every server.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    bench = Bench()
    try:
        heading("Local AWS bench")
        bench.start()
        say(f"moto (EC2, DynamoDB, EventBridge, SQS, SNS, S3) at {bench.moto_url}", 2)
        say(f"responder emulator (Incident Manager, OpsCenter, SSM Automation, CloudWatch) at "
            f"{bench.emu.url}", 2)
        for backend in ("incident-manager", "opscenter"):
            story(bench, backend)
            bench.reset()
        import tempfile  # noqa: PLC0415 - only the escalation story needs it

        with tempfile.TemporaryDirectory() as scratch:
            for backend in ("incident-manager", "opscenter"):
                escalation_story(bench, backend, Path(scratch) / "critical-rules.yaml")
                bench.reset()
            quiet_story(bench, "opscenter", Path(scratch) / "window-rules.yaml")
            bench.reset()
        instance_story(bench, "incident-manager")
        bench.reset()
        print()
        return 0
    except KeyboardInterrupt:
        print("\ndemo: interrupted; everything stopped.")
        return 130
    except FunctionError as e:
        print(f"\ndemo: {e}", file=sys.stderr)
        return 1
    finally:
        bench.stop()


if __name__ == "__main__":
    sys.exit(main())
