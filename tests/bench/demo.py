"""`make demo`: the VPN-down story, end to end, on the local AWS bench.

A Site-to-Site VPN in moto loses tunnel 1; its TunnelState alarm fires and the real
`CloudWatch Alarm State Change` event goes to the built `triage` binary (through a Lambda
Runtime API, configured only by environment variables, as in Lambda). The `Incident Opened` the
responder bus delivers goes to `enrich`, which diagnoses the VPN (EC2 in moto, TunnelState in the
emulator's CloudWatch); its `Incident Enriched` goes to `runbook`, which starts
AWSSupport-TroubleshootVPN in the emulator's SSM Automation; the execution finishes and
Automation's status-change event goes to `runbook` again. The demo prints what a responder would
see: each decision, the diagnosis, the runbook execution and its outcome, the incident with its
related items and timeline, what the responder bus carried, and the state table. It plays once
per incident backend and stops every server and process on exit, also on Ctrl-C or failure.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from bench import REPO, TUNNEL_1_IP, Bench, Incidents
from runtime_api import Function, FunctionError, Result

WIDTH = 100


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


def act(function: Function, event: dict[str, Any], what: str) -> Result:
    """Delivers `event` to `function` and prints its decision."""
    result = function.invoke(event)
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
            for entry in timeline:
                data = entry.get("eventData", "")
                try:
                    data = json.loads(data) if isinstance(data, str) else data
                except ValueError:
                    pass
                if isinstance(data, dict):
                    data = ", ".join(f"{k}={v}" for k, v in data.items())
                say(f"{_time(entry.get('eventTime'))}  {data}", 6)
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
            for key in notes:
                say(f"{key.split(':', 2)[2][:20]}  {data[key]['Value']}", 6)


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

    def start(name: str, config: dict[str, str]) -> Function:
        env = {**bench.endpoint_env(), **config}
        function = Function(name, binary(name), env, account=bench.account, region=bench.region)
        functions.append(function)
        return function.start()

    try:
        triage = start("triage", bench.triage_env(backend))
        enrich = start("enrich", bench.stage_env(backend))
        runbook = start("runbook", bench.runbook_env(backend))

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

        opened = delivered(bench, "Incident Opened")
        if opened is not None:
            act(enrich, opened, "responder bus → enrich: Incident Opened")
        enriched = delivered(bench, "Incident Enriched")
        execution_id = None
        if enriched is not None:
            result = act(runbook, enriched, "responder bus → runbook: Incident Enriched")
            execution_id = result.body.get("execution") if result.ok else None
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

        ok = bench.alarm_event("cloudwatch-alarm-vpn-tunnel-ok", vpn_id, **at(0))
        decide(triage, ok, f"{ok['detail']['alarmName']} back to OK")
        print()
        show_incident(bench, backend)
        show_bus_and_state(bench)
    finally:
        for function in functions:
            function.stop()
    say(
        "\nStill to come on this story: notify (Slack through Chatbot) and resolve (verification "
        "and the post-incident record).",
        2,
    )


def main() -> int:
    # Ctrl-C and SIGTERM both end in the `finally` below, which stops every server.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    bench = Bench()
    try:
        heading("Local AWS bench")
        bench.start()
        say(f"moto (EC2, DynamoDB, EventBridge, SQS) at {bench.moto_url}", 2)
        say(f"responder emulator (Incident Manager, OpsCenter, SSM Automation, CloudWatch) at "
            f"{bench.emu.url}", 2)
        for backend in ("incident-manager", "opscenter"):
            story(bench, backend)
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
