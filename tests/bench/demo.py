"""`make demo`: the VPN-down story, end to end, on the local AWS bench.

A Site-to-Site VPN in moto loses tunnel 1; its TunnelState alarm fires and the real
`CloudWatch Alarm State Change` event goes to the built `triage` binary (through a Lambda
Runtime API, configured only by environment variables, as in Lambda). The demo prints what a
responder would see: the decision, the incident with its resources and timeline, what the
responder bus carried, and the state table. It plays once per incident backend and stops every
server and process on exit, also on Ctrl-C or failure.
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

from bench import REPO, Bench
from runtime_api import Function, FunctionError

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


def show_incident(bench: Bench, backend: str) -> None:
    if backend == "incident-manager":
        for incident in bench.emu.incidents():
            say(f"Incident Manager record {incident['arn']}", 2)
            say(f"title   {incident['title']}", 4)
            say(f"impact  {incident['impact']}   status {incident['status']}", 4)
            source = incident.get("incidentRecordSource", {})
            say(f"trigger {source.get('source')} ← {source.get('resourceArn', '')}", 4)
            say("related items:", 4)
            for item in incident.get("relatedItems", []):
                value = item["identifier"]["value"]
                say(f"{item['identifier']['type']:<18} {next(iter(value.values()))}", 6)
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
            resources = json.loads(data.get("/aws/resources", {}).get("Value", "[]"))
            say("resources:", 4)
            for resource in resources:
                say(resource.get("arn", ""), 6)
            notes = sorted(k for k in data if k.startswith("responder:timeline:"))
            say("timeline notes:", 4)
            for key in notes:
                say(f"{key.split(':', 2)[2][:20]}  {data[key]['Value']}", 6)


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

    env = {**bench.endpoint_env(), **bench.triage_env(backend)}
    triage = Function("triage", binary("triage"), env, account=bench.account, region=bench.region)
    triage.start()
    try:
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
        ok = bench.alarm_event("cloudwatch-alarm-vpn-tunnel-ok", vpn_id, **at(0))
        decide(triage, ok, f"{ok['detail']['alarmName']} back to OK")
        print()
        show_incident(bench, backend)
        show_bus_and_state(bench)
    finally:
        triage.stop()
    say(
        "\nStill to come on this story: enrich (diagnosis), runbook (AWSSupport-TroubleshootVPN), "
        "notify (Slack through Chatbot) and resolve (verification and the post-incident record).",
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
