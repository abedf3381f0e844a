"""End-to-end: an EC2 instance fails a status check, through the built functions, on both
backends.

moto 5.2.5 serves the instance: DescribeInstances, DescribeInstanceStatus (a running instance
reports both checks `ok`, a stopped one `not-applicable`) and GetConsoleOutput (its sample boot
log); the alarm lives in the emulator's CloudWatch. moto cannot fail a status check (the first
test shows it), so `Bench.impair_instance` overrides its answer for one instance. The StatusCheckFailed_System alarm opens an
incident under the default rule `ec2-status-check`; enrich writes the instance, its checks and
its console output's last lines onto the incident and notify posts them; changes finds the write
on the instance and the stack that made it; when the alarm is OK, resolve verifies that the
instance passes its status checks before it resolves — a stopped instance waits for a responder.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from bench import Bench, Incidents, answered, the_event
from runtime_api import Function

# The last line of moto's sample console output.
CONSOLE_LAST = "Enabling fast FPU save and restore... done."


def test_moto_cannot_fail_a_status_check_so_the_bench_overrides_it(bench: Bench) -> None:
    from moto.ec2.models.instances import Instance

    instance = bench.launch_instance("web-0")
    [status] = bench.ec2.describe_instance_status(InstanceIds=[instance])["InstanceStatuses"]
    assert status["SystemStatus"]["Status"] == status["InstanceStatus"]["Status"] == "ok"
    # moto computes both checks from the state alone: nothing sets them.
    assert isinstance(Instance.__dict__["system_status"], property)
    bench.impair_instance(instance, "system")
    [status] = bench.ec2.describe_instance_status(InstanceIds=[instance])["InstanceStatuses"]
    assert status["SystemStatus"]["Status"] == "impaired"
    assert status["SystemStatus"]["Details"][0]["ImpairedSince"]
    assert status["InstanceStatus"]["Status"] == "ok"
    bench.heal_instance(instance)
    [status] = bench.ec2.describe_instance_status(InstanceIds=[instance])["InstanceStatuses"]
    assert status["SystemStatus"]["Status"] == "ok"


def opened_and_enriched(
    bench: Bench, triage: Function, enrich: Function, instance: str
) -> dict[str, Any]:
    """The instance's status-check alarm fires and enrich diagnoses the incident: its answer."""
    opened = answered(triage.invoke(bench.instance_alarm(instance, "ALARM")), "opened")
    assert opened["rule"] == "ec2-status-check", opened
    assert opened["dedupe_key"] == f"ec2-status-check:{instance}", opened
    return answered(enrich.invoke(the_event(bench, "Incident Opened")), "enriched")


def test_a_status_check_failure_is_diagnosed_posted_and_resolved_once_the_checks_pass(
    bench: Bench, backend: str, incidents: Incidents, triage: Function, enrich: Function,
    changes: Function, notify: Function, resolve: Function,
) -> None:
    instance = bench.launch_instance("web-1")
    stack_id = bench.deploy_stack_of(instance)
    bench.emu.record_trail_event(
        instance, "ModifyInstanceAttribute", datetime.now(timezone.utc) - timedelta(minutes=20),
        by="alice",
    )

    bench.impair_instance(instance, "system", datetime.now(timezone.utc) - timedelta(minutes=3))
    answer = opened_and_enriched(bench, triage, enrich, instance)
    assert answer["summary"].startswith(
        f"Instance web-1 ({instance}) fails its system status check since "
    ), answer
    assert "a stop and start moves it to healthy hardware" in answer["summary"], answer
    assert answer["notes"] == [], answer

    record = incidents.one()
    [diagnosis] = [e for e in incidents.entries(record) if e["kind"] == "diagnosis"]
    lines = diagnosis["text"].splitlines()
    assert lines[1].startswith(f"Alarm {instance}-StatusCheckFailed_System: Threshold Crossed")
    assert lines[2].startswith("Instance: t3.micro · "), lines
    assert "Console output (last 10 lines):" in lines, lines
    assert lines[-1] == f"| {CONSOLE_LAST}", lines
    assert bench.instance_arn(instance) in incidents.related_arns(record)

    enriched = the_event(bench, "Incident Enriched")
    facts = enriched["detail"]["diagnosis"]["instance"]
    assert facts["instance"]["id"] == instance and facts["instance"]["state"] == "running"
    assert facts["health"]["system"]["status"] == "impaired", facts
    assert facts["health"]["system"]["impaired_since"], facts
    assert facts["health"]["instance"]["status"] == "ok", facts
    assert facts["console"][-1] == CONSOLE_LAST

    # The thread: the diagnosed post shows the instance, its checks and the console's tail.
    assert notify.invoke(enriched).ok
    post = bench.slack_messages()[-1]
    assert post.content["title"].startswith(":mag:"), post.content
    description = post.content["description"]
    assert f"*Instance:* `{instance}` (web-1) · t3.micro" in description, description
    assert "*Status checks:* system *impaired* since " in description, description
    assert CONSOLE_LAST in description, description
    assert post.next_steps[0].startswith("System check failing"), post.next_steps

    # What changed: the write on the instance and the stack whose tag it carries.
    gathered = answered(changes.invoke(enriched), "gathered")
    assert gathered["count"] == 2, gathered
    detail = the_event(bench, "Changes Gathered")["detail"]["changes"]
    assert detail["stack"]["id"] == stack_id, detail
    assert [c["what"] for c in detail["items"]][-1] == "ModifyInstanceAttribute", detail

    # Recovery: the instance moved to healthy hardware, the alarm is OK, and
    # DescribeInstanceStatus says both checks pass.
    bench.heal_instance(instance)
    answered(triage.invoke(bench.instance_alarm(instance, "OK")), "recovered")
    resolved = answered(resolve.invoke(the_event(bench, "Signal Recovered")), "resolved")
    checks = the_event(bench, "Incident Resolved")["detail"]["resolution"]["checks"]
    assert checks == [
        f"DescribeAlarms: alarm {instance}-StatusCheckFailed_System is OK",
        f"DescribeInstanceStatus: {instance} passes its status checks (system ok, instance ok)",
    ], (checks, resolved)


def test_an_alarm_that_clears_while_a_check_still_fails_waits_for_a_responder(
    bench: Bench, backend: str, incidents: Incidents, triage: Function, enrich: Function,
    resolve: Function,
) -> None:
    instance = bench.launch_instance("web-4")
    bench.impair_instance(instance, "instance")
    answer = opened_and_enriched(bench, triage, enrich, instance)
    assert "fails its instance status check" in answer["summary"], answer
    # The system check alarm clears, but the instance check still fails: nothing is resolved.
    answered(triage.invoke(bench.instance_alarm(instance, "OK")), "recovered")
    answered(resolve.invoke(the_event(bench, "Signal Recovered")), "awaiting_responder")
    resolution = the_event(bench, "Incident Updated")["detail"]["resolution"]
    assert (
        f"DescribeInstanceStatus: {instance} status checks: system ok, instance impaired"
    ) in resolution["checks"], resolution
    assert incidents.one()  # still open, waiting for a responder


def test_a_stopped_instance_is_said_and_its_recovery_waits_for_a_responder(
    bench: Bench, backend: str, incidents: Incidents, triage: Function, enrich: Function,
    resolve: Function,
) -> None:
    instance = bench.launch_instance("web-2")
    bench.ec2.stop_instances(InstanceIds=[instance])
    answer = opened_and_enriched(bench, triage, enrich, instance)
    assert answer["summary"].startswith(f"Instance web-2 ({instance}) is stopped"), answer

    # The alarm clears (a stopped instance reports no failed check), but the instance is not
    # running: nothing is resolved, and the check says why.
    answered(triage.invoke(bench.instance_alarm(instance, "OK")), "recovered")
    answered(resolve.invoke(the_event(bench, "Signal Recovered")), "awaiting_responder")
    resolution = the_event(bench, "Incident Updated")["detail"]["resolution"]
    assert resolution["verified"] is False
    assert (
        f"DescribeInstanceStatus: {instance} status checks: system not-applicable, instance "
        "not-applicable (the instance is not running)"
    ) in resolution["checks"], resolution
    record = incidents.one()
    assert incidents.title(record).startswith(f"EC2 instance {instance}")


def test_a_denied_console_output_is_a_note_and_a_throttled_read_is_retried(
    bench: Bench, backend: str, incidents: Incidents, triage: Function, enrich: Function,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from moto.ec2.exceptions import EC2ClientError
    from moto.ec2.responses.general import General

    instance = bench.launch_instance("web-3")
    real = General.get_console_output
    failures = ["RequestLimitExceeded"] * 4 + ["UnauthorizedOperation"]  # the SDK's 4 attempts

    def refused(self: General) -> Any:
        if not failures:
            return real(self)
        code = failures.pop(0)
        raise EC2ClientError(code, f"{code} (bench)")

    monkeypatch.setattr(General, "get_console_output", refused)
    answered(triage.invoke(bench.instance_alarm(instance, "ALARM")), "opened")
    opened = the_event(bench, "Incident Opened")
    failed = enrich.invoke(opened)
    assert not failed.ok and failed.body["errorType"] == "Throttled", failed
    answer = answered(enrich.invoke(opened), "enriched")
    assert answer["notes"] == [
        f"GetConsoleOutput: not gathered for {instance}: AccessDenied"
    ], answer
    assert answer["summary"].startswith(f"Instance web-3 ({instance}) is running"), answer
    [diagnosis] = [e for e in incidents.entries(incidents.one()) if e["kind"] == "diagnosis"]
    assert "Console output" not in diagnosis["text"]
    assert diagnosis["text"].endswith(
        f"Note: GetConsoleOutput: not gathered for {instance}: AccessDenied"
    )
