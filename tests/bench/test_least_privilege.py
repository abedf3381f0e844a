"""Each function's role in infra/template.yaml is exactly what the function calls.

Every function signs its AWS requests with its own access key (its name, see the `function`
fixture), and the bench records the IAM action of every request moto and the emulator receive,
by key (`bench.calls`). For each backend, the test plays the whole story through the built
functions — the VPN story to its resolution; a VPN on a transit gateway where every stage first
fails on an AWS error and Lambda's retry finishes it, and a second alarm joins; an EC2 instance's
status-check alarm to its resolution; alarms on a Lambda function, a target group and an RDS
instance; a Security Hub
finding about an SSM document — and then compares, per function, what it called with what its
role grants in the template evaluated with `IncidentBackend` = that backend (tests/infra/cfn.py):

- every action it called must be granted, or the function fails in AWS: "add it to <Name>Role";
- every action its role grants must have been called, except the Lambda runtime's own
  (`cfn.RUNTIME_ACTIONS`) and `NOT_EXERCISED` (each with the reason the bench cannot reach it):
  "remove it, or exercise it".

`iam:PassRole` is no request of its own: IAM checks it when StartAutomationExecution passes a
role (`AutomationAssumeRole`), so it counts as called when an execution the runbook started
carries one. Likewise `ssm:AddTagsToResource`, which IAM checks when StartAutomationExecution
carries Tags (runbook always tags its executions).
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from collections.abc import Callable
from typing import Any

import pytest

from bench import (
    FIXTURES,
    INCIDENT_MANAGER,
    OPSCENTER,
    REPO,
    VPN_ALARM,
    Bench,
    answered,
    at,
    play_to_recovery,
)
from paging import SCHEDULE_GROUP
from runtime_api import Function

sys.path.insert(0, str(REPO / "tests" / "infra"))
import cfn  # noqa: E402 - tests/infra's template reader, shared with the static checks


# Role actions the bench cannot make a function call, by function, each with the reason.
_RUN_ONCE_READ = (
    "only read back when a conditional PutItem fails without the row that stopped it "
    "(DynamoStateStore::put_unless_held); DynamoDB and moto return that row "
    "(ReturnValuesOnConditionCheckFailure ALL_OLD), so the bench never gets there"
)
NOT_EXERCISED: dict[str, dict[str, str]] = {
    "enrich": {"dynamodb:GetItem": _RUN_ONCE_READ},
    "inspect": {
        "dynamodb:GetItem": _RUN_ONCE_READ,
        "logs:StopQuery": (
            "only called when a Logs Insights query is still running when the bounded wait "
            "ends; moto completes every query at once (LogsInsights' adapter test stops one)"
        ),
    },
}

IP_ALARM = "cloudwatch-alarm-vpn-tunnel-ip-down"
IP_OK_ALARM = "cloudwatch-alarm-vpn-tunnel-ip-ok"
FINDING_FIXTURE = "securityhub-finding-critical"
# The call that opens an incident; the first write enrich makes onto one; the first read of
# resolve's close (the record, for the post-incident report).
OPEN = {INCIDENT_MANAGER: "StartIncident", OPSCENTER: "CreateOpsItem"}
ENRICH_WRITE = {INCIDENT_MANAGER: "UpdateRelatedItems", OPSCENTER: "UpdateOpsItem"}
RECORD_READ = {INCIDENT_MANAGER: "GetIncidentRecord", OPSCENTER: "GetOpsItem"}


def test_each_role_grants_exactly_what_its_function_calls(
    bench: Bench,
    backend: str,
    triage: Function,
    enrich: Function,
    runbook: Function,
    notify: Function,
    resolve: Function,
    escalate: Function,
    changes: Function,
    inspect: Function,
    vpn: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bench.calls.clear()
    functions = (triage, enrich, runbook, notify, resolve, escalate, changes, inspect)
    play_everything(bench, backend, functions, vpn, monkeypatch)

    by_key = bench.calls.by_key()
    called = {name: by_key.get(name, set()) for name in cfn.FUNCTION_NAMES}
    if any(e["Parameters"].get("AutomationAssumeRole") for e in bench.emu.automations()):
        called["runbook"].add("iam:PassRole")
    if called["runbook"] & {"ssm:StartAutomationExecution"}:
        # runbook tags every execution it starts (incident, rule): IAM checks
        # ssm:AddTagsToResource on the execution when StartAutomationExecution carries Tags.
        called["runbook"].add("ssm:AddTagsToResource")
    if called["escalate"] & {"scheduler:CreateSchedule"}:
        # CreateSchedule passes the scheduler role (Target.RoleArn): IAM checks iam:PassRole.
        called["escalate"].add("iam:PassRole")
    view = cfn.Template.load(cfn.TEMPLATE).evaluated({cfn.BACKEND_PARAMETER: backend})
    problems = []
    for name in cfn.FUNCTION_NAMES:
        role = view.function(name).role_id
        granted = view.role_actions(name)
        not_exercised = NOT_EXERCISED.get(name, {})
        for action in sorted(called[name] - granted):
            problems.append(
                f"{name} called {action} on the bench (IncidentBackend={backend}), but {role} "
                f"does not grant it: add it to {role}"
            )
        for action in sorted(granted - cfn.RUNTIME_ACTIONS - called[name] - set(not_exercised)):
            problems.append(
                f"{role} grants {action} but {name} never called it on the bench "
                f"(IncidentBackend={backend}): remove it, or exercise it"
            )
        for action in sorted(a for a in not_exercised if a in called[name] or a not in granted):
            problems.append(
                f"NOT_EXERCISED[{name!r}] lists {action}, which {name} called or {role} does not "
                "grant: drop it from the list"
            )
    assert not problems, "\n".join(problems)


# --- the story ------------------------------------------------------------------------------------


def play_everything(
    bench: Bench,
    backend: str,
    functions: tuple[Function, ...],
    vpn: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every call the functions make, as far as the bench can make them make it."""
    triage, enrich, runbook, notify, resolve, escalate, changes, inspect = functions
    # The VPN story, from the tunnel going down to the resolved incident and its report.
    story, recovered = play_to_recovery(bench, triage, enrich, runbook, notify, vpn)
    answered(resolve.invoke(recovered), "resolved")
    story.tell_notify()
    told = story.notified

    # A VPN on a transit gateway goes down. Each stage first fails on an AWS error (not retried
    # by the SDK), and Lambda's retry (here at once) finishes the work: the failed attempt
    # releases what it held in the state table. A second alarm on the VPN joins.
    tgw_vpn = bench.create_vpn(name="bench-tgw-vpn", transit_gateway=True)
    # A stack made it, and someone changed it since (what changes looks up).
    bench.deploy_stack_of(tgw_vpn)
    bench.emu.record_trail_event(tgw_vpn, "ModifyVpnTunnelOptions", datetime.now(timezone.utc))
    retried(triage, bench.alarm_event(VPN_ALARM, tgw_vpn, **at(5)), "opened",
            denied(bench, OPEN[backend]))
    answered(triage.invoke(bench.alarm_event(IP_ALARM, tgw_vpn, **at(4))), "joined")
    # An alarm tagged with the VPN's id folds into its incident (the default inhibition); its
    # re-check (escalate's timer) reads the alarm's state while the VPN still fires.
    downstream = bench.downstream_alarm(tgw_vpn, name=f"orders-via-{tgw_vpn}")
    answered(triage.invoke(downstream), "joined")
    answered(escalate.invoke(latest(bench, "Signal Held")), "scheduled")
    [recheck] = bench.paging.timers("hold-")
    bench.paging.scheduler.delete_schedule(Name=recheck.name, GroupName=SCHEDULE_GROUP)
    answered(triage.invoke(recheck.input), "joined")
    # escalate: the impact-2 incident waits in Slack on a timer; when it fires, the first page
    # fails on SNS and the retry pages; Acknowledge from Slack cancels what is pending.
    tgw_opened = latest(bench, "Incident Opened")
    answered(escalate.invoke(tgw_opened), "scheduled")
    [timer] = bench.paging.timers()
    bench.paging.scheduler.delete_schedule(Name=timer.name, GroupName=SCHEDULE_GROUP)
    publish_denied_once(monkeypatch)()
    assert not escalate.invoke(timer.input).ok, "escalate did not fail on the denied page"
    answered(escalate.invoke(timer.input), "paged")
    tgw_incident = tgw_opened["detail"]["incident"]["id"]
    pressed = {"action": "acknowledge", "incident": tgw_incident}
    answered(escalate.invoke(pressed, qualifier="buttons"), "acknowledged")
    retried(enrich, latest(bench, "Incident Opened"), "enriched",
            denied(bench, ENRICH_WRITE[backend]))
    started = retried(runbook, latest(bench, "Incident Enriched"), "started",
                      denied(bench, "StartAutomationExecution"))
    # changes: the writes on the VPN and its stack; the first write onto the incident is denied.
    retried(changes, latest(bench, "Incident Enriched"), "gathered",
            denied(bench, ENRICH_WRITE[backend]))
    bench.emu.finish_automation(started["execution"], "Failed", failure_message="Step timed out")
    status_change = bench.emu.automation_status_change_event(started["execution"])
    answered(runbook.invoke(status_change), "finished")
    # The incident recovers when both alarms are OK: the tunnel's alarm first, then the VPN's.
    answered(triage.invoke(bench.alarm_event(IP_OK_ALARM, tgw_vpn, **at(1))), "joined")
    answered(triage.invoke(bench.recover(tgw_vpn)), "recovered")
    retried(resolve, latest(bench, "Signal Recovered"), "resolved",
            denied(bench, RECORD_READ[backend]))
    answered(escalate.invoke(latest(bench, "Incident Resolved")), "stopped")

    # An EC2 instance fails its system status check: enrich reads the instance, its checks and
    # its console output; resolve verifies the checks once the alarm is OK.
    instance = bench.launch_instance("bench-lp-web")
    answered(triage.invoke(bench.instance_alarm(instance, "ALARM")), "opened")
    answered(enrich.invoke(latest(bench, "Incident Opened")), "enriched")
    answered(triage.invoke(bench.instance_alarm(instance, "OK")), "recovered")
    answered(resolve.invoke(latest(bench, "Signal Recovered")), "resolved")

    # A Lambda function's Errors alarm: inspect reads the function and its latest error lines
    # (its first write onto the incident is denied; Lambda's retry finishes it). A target
    # group's alarm: inspect reads its targets' health, and resolve verifies it. An RDS
    # instance's alarm: inspect reads the instance and its events.
    suffix = "".join(w[0] for w in backend.split("-"))
    function = f"bench-lp-fn-{suffix}"
    bench.create_function(function)
    bench.log(f"/aws/lambda/{function}", [(datetime.now(timezone.utc), "[ERROR] boom")])
    answered(triage.invoke(bench.metric_alarm(
        f"{function}-Errors", "AWS/Lambda", "Errors", {"FunctionName": function}, "ALARM",
        "cloudwatch-alarm-lambda-errors",
    )), "opened")
    answered(enrich.invoke(latest(bench, "Incident Opened")), "enriched")
    retried(inspect, latest(bench, "Incident Enriched"), "inspected",
            denied(bench, ENRICH_WRITE[backend]))
    balancer, group = bench.create_target_group(
        f"bench-lp-tg-{suffix}", [bench.launch_instance("bench-lp-target")]
    )

    def target_alarm(state: str) -> dict[str, Any]:
        return bench.metric_alarm(
            f"bench-lp-tg-{suffix}-UnHealthyHostCount", "AWS/ApplicationELB",
            "UnHealthyHostCount",
            {"TargetGroup": group.split(":")[-1],
             "LoadBalancer": balancer.split(":loadbalancer/")[-1]},
            state, "cloudwatch-alarm-alb-unhealthy-hosts",
        )

    answered(triage.invoke(target_alarm("ALARM")), "opened")
    answered(enrich.invoke(latest(bench, "Incident Opened")), "enriched")
    answered(inspect.invoke(latest(bench, "Incident Enriched")), "inspected")
    answered(triage.invoke(target_alarm("OK")), "recovered")
    answered(resolve.invoke(latest(bench, "Signal Recovered")), "resolved")
    database = f"bench-lp-db-{suffix}"
    bench.create_database(database)
    answered(triage.invoke(bench.metric_alarm(
        f"{database}-FreeStorageSpace", "AWS/RDS", "FreeStorageSpace",
        {"DBInstanceIdentifier": database}, "ALARM", "cloudwatch-alarm-rds-free-storage",
    )), "opened")
    answered(enrich.invoke(latest(bench, "Incident Opened")), "enriched")
    answered(inspect.invoke(latest(bench, "Incident Enriched")), "inspected")

    # A failed root sign-in opens an incident; a successful one joins and raises its impact.
    for event_id, login in (("lp-failed", "Failure"), ("lp-success", "Success")):
        root = json.loads((FIXTURES / "cloudtrail-root-console-signin.json").read_text())
        root["id"] = f"root-{event_id}"
        root["account"] = bench.account
        root["detail"]["eventID"] = event_id
        root["detail"]["responseElements"]["ConsoleLogin"] = login
        assert triage.invoke(root).kind == "response"

    # A Security Hub finding about an SSM document: with OpsCenter the document becomes an
    # associated related item (AssociateOpsItemRelatedItem), when opening and when enriching.
    finding = bench.alarm_event(FINDING_FIXTURE, vpn)
    document = f"arn:aws:ssm:{bench.region}:{bench.account}:document/bench-public-document"
    finding["detail"]["findings"][0]["Resources"] = [
        {"Type": "AwsSsmDocument", "Id": document, "Partition": "aws", "Region": bench.region}
    ]
    answered(triage.invoke(finding), "opened")
    answered(enrich.invoke(latest(bench, "Incident Opened")), "enriched")

    # notify hears all of it; its first post fails once on SNS (AuthorizationError).
    events = bench.bus_events()[told:]
    retried(notify, events[0], "posted", publish_denied_once(monkeypatch))
    for event in events[1:]:
        result = notify.invoke(event)
        assert result.ok, f"notify failed on {event['detail-type']}: {result}"


def retried(
    function: Function, event: dict[str, Any], action: str, fault: Callable[[], None]
) -> dict[str, Any]:
    """`fault()` makes the next invocation fail; Lambda's retry of the same event (here at
    once) then answers `action`. Returns that answer."""
    fault()
    failed = function.invoke(event)
    assert not failed.ok, f"{function.name} did not fail on the injected error: {failed}"
    return answered(function.invoke(event), action)


def denied(bench: Bench, operation: str) -> Callable[[], None]:
    """The emulator denies the next call of `operation` (AccessDeniedException)."""
    return lambda: bench.emu.inject(operation, 1, "AccessDeniedException")


def publish_denied_once(monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    """moto's SNS refuses the next Publish with AuthorizationError, as SNS does when IAM
    denies it."""
    from moto.sns.exceptions import SNSException
    from moto.sns.models import SNSBackend

    def fault() -> None:
        real = SNSBackend.publish

        def denied_once(self: SNSBackend, *args: Any, **kwargs: Any) -> str:
            monkeypatch.setattr(SNSBackend, "publish", real)
            raise SNSException("AuthorizationError", "not authorized to publish (bench)")

        monkeypatch.setattr(SNSBackend, "publish", denied_once)

    return fault


def latest(bench: Bench, detail_type: str) -> dict[str, Any]:
    """The last `detail_type` event the responder bus delivered."""
    events = bench.bus_events(count=1, detail_type=detail_type)
    assert events, f"no {detail_type} on the bus: {bench.bus_events()}"
    return events[-1]
