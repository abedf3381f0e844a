"""End-to-end: alarms on a Lambda function, a load balancer's target group and an RDS instance,
through the built functions, on both backends.

moto 5.2.5 serves what inspect reads: Lambda's GetFunctionConfiguration and
GetFunctionConcurrency, CloudWatch Logs Insights (StartQuery/GetQueryResults: it completes a query at
once and ignores its `filter` command — the first test shows it — so the bench writes error
lines only), ELBv2's DescribeTargetGroups/DescribeTargetHealth (a running instance's target
`healthy`, a stopped one's `unused` with `Target.InvalidState`) and RDS's
DescribeDBInstances/DescribeEvents (the `DB instance created` event it records). The alarms live
in the emulator's CloudWatch. Each alarm opens an incident under its default rule
(`lambda-function`, `target-group-health`, `rds-instance`); enrich diagnoses the alarm, inspect
writes the resource's facts onto the incident, notify posts them in the thread, and when the
alarm is OK resolve verifies it (and, for a target group, that its targets are healthy).
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Any

from bench import INCIDENT_MANAGER, Bench, Incidents, answered, the_event
from runtime_api import Function, FunctionError, Result

ERROR = "[ERROR] KeyError: 'customer_id'"


def named(base: str, backend: str) -> str:
    """moto keeps its resources from test to test: one name per test and backend."""
    return f"{base}-{''.join(w[0] for w in backend.split('-'))}"


def lambda_alarm(bench: Bench, function: str, state: str) -> dict[str, Any]:
    return bench.metric_alarm(
        f"{function}-Errors", "AWS/Lambda", "Errors", {"FunctionName": function}, state,
        "cloudwatch-alarm-lambda-errors",
    )


def diagnosed(bench: Bench, triage: Function, enrich: Function, alarm: dict[str, Any],
              rule: str) -> dict[str, Any]:
    """The alarm opens an incident under `rule` and enrich diagnoses it: `Incident Enriched`."""
    opened = answered(triage.invoke(alarm), "opened")
    assert opened["rule"] == rule, opened
    answered(enrich.invoke(the_event(bench, "Incident Opened")), "enriched")
    return the_event(bench, "Incident Enriched")


def test_moto_ignores_a_logs_insights_filter_so_the_bench_writes_error_lines_only(
    bench: Bench,
) -> None:
    group = "/aws/lambda/bench-filter-gap"
    now = datetime.now(timezone.utc)
    bench.log(group, [(now - timedelta(minutes=1), "START RequestId: 1 Version: $LATEST")])
    logs = bench.client("logs")
    query = logs.start_query(
        logGroupName=group, startTime=int(now.timestamp()) - 600, endTime=int(now.timestamp()),
        queryString="fields @timestamp, @message | filter @message like /ERROR/ | limit 5",
    )["queryId"]
    results = logs.get_query_results(queryId=query)
    assert results["status"] == "Complete"
    messages = [f["value"] for row in results["results"] for f in row if f["field"] == "@message"]
    assert messages == ["START RequestId: 1 Version: $LATEST"], messages


def test_a_lambda_alarm_shows_the_function_and_its_latest_errors_and_resolves_by_the_alarm(
    bench: Bench, backend: str, incidents: Incidents, triage: Function, enrich: Function,
    inspect: Function, notify: Function, resolve: Function,
) -> None:
    FUNCTION = named("bench-orders-api", backend)
    arn = bench.create_function(FUNCTION)
    now = datetime.now(timezone.utc)
    bench.log(f"/aws/lambda/{FUNCTION}", [
        (now - timedelta(minutes=2), f"{ERROR}\nTraceback (most recent call last):"),
        (now - timedelta(minutes=1), ERROR),
    ])
    enriched = diagnosed(bench, triage, enrich, lambda_alarm(bench, FUNCTION, "ALARM"), "lambda-function")

    answer = answered(inspect.invoke(enriched), "inspected")
    assert answer["summary"].startswith(
        f"Lambda function {FUNCTION} ($LATEST, python3.12, 512 MB, 30 s timeout), last modified "
    ), answer
    assert "reserved concurrency 10; 2 error lines in its logs from 15 min before the signal, " \
        f"the latest: " in answer["summary"], answer
    assert answer["summary"].endswith(ERROR), answer
    assert answer["notes"] == [], answer

    record = incidents.one()
    [entry] = [e["text"] for e in incidents.entries(record) if e["kind"] == "inspected"]
    assert entry.startswith(f"Lambda function {FUNCTION} "), entry
    assert f"Latest errors in /aws/lambda/{FUNCTION}:" in entry, entry
    assert arn in incidents.related_arns(record)
    facts = the_event(bench, "Resource Inspected")["detail"]["inspection"]["function"]
    assert facts["reserved_concurrency"] == 10 and len(facts["errors"]) == 2, facts

    # The thread: the function linked to its console page, the latest errors in a code block.
    assert notify.invoke(the_event(bench, "Resource Inspected")).ok
    post = bench.slack_messages()[-1]
    assert post.content["title"].startswith(":mag_right:"), post.content
    description = post.content["description"]
    assert f"#/functions/{FUNCTION}|Lambda function {FUNCTION} ($LATEST" in description, description
    assert "```" in description and ERROR in description, description

    # A re-delivery replays the answer: nothing read, written or published again.
    published = len(bench.bus_events())
    again = answered(inspect.invoke(enriched), "inspected")
    assert again["summary"] == answer["summary"]
    assert len(bench.bus_events()) == published

    answered(triage.invoke(lambda_alarm(bench, FUNCTION, "OK")), "recovered")
    answered(resolve.invoke(the_event(bench, "Signal Recovered")), "resolved")
    checks = the_event(bench, "Incident Resolved")["detail"]["resolution"]["checks"]
    assert checks == [f"DescribeAlarms: alarm {FUNCTION}-Errors is OK"], checks
    # The post-incident record quotes what inspect found, after the alarm's diagnosis.
    [report] = [r for r in bench.report_objects().values() if FUNCTION in r.text]
    assert f"The resource at the time: Lambda function {FUNCTION} " in report.text, report.text
    assert f"> Latest errors in /aws/lambda/{FUNCTION}:" in report.text, report.text


def test_a_throttled_read_fails_the_invocation_and_the_retry_inspects(
    bench: Bench, backend: str, triage: Function, enrich: Function, inspect: Function,
    monkeypatch: Any,
) -> None:
    from moto.awslambda.exceptions import LambdaClientError
    from moto.awslambda.models import LambdaBackend

    FUNCTION = named("bench-throttled", backend)
    bench.create_function(FUNCTION, reserved=None)
    enriched = diagnosed(bench, triage, enrich, lambda_alarm(bench, FUNCTION, "ALARM"), "lambda-function")
    real = LambdaBackend.get_function

    def throttled(self: LambdaBackend, *args: Any, **kwargs: Any) -> Any:
        raise LambdaClientError("TooManyRequestsException", "Rate exceeded (bench)")

    monkeypatch.setattr(LambdaBackend, "get_function", throttled)
    assert not inspect.invoke(enriched).ok, "a throttled read must fail the invocation"
    assert not bench.bus_events(detail_type="Resource Inspected")
    monkeypatch.setattr(LambdaBackend, "get_function", real)
    answer = answered(inspect.invoke(enriched), "inspected")
    # No log group yet: said, not failed.
    assert answer["notes"] == [
        f"Logs Insights: not gathered for /aws/lambda/{FUNCTION}: it no longer exists"
    ], answer
    assert "no reserved concurrency" in answer["summary"], answer


def target_alarm(bench: Bench, balancer: str, group: str, state: str) -> dict[str, Any]:
    return bench.metric_alarm(
        f"{group.split('/')[-2]}-UnHealthyHostCount", "AWS/ApplicationELB", "UnHealthyHostCount",
        {"TargetGroup": group.split(":")[-1], "LoadBalancer": balancer.split(":loadbalancer/")[-1]},
        state, "cloudwatch-alarm-alb-unhealthy-hosts",
    )


def test_a_target_group_alarm_names_the_failing_target_and_resolves_once_it_is_healthy(
    bench: Bench, backend: str, incidents: Incidents, triage: Function, enrich: Function,
    inspect: Function, notify: Function, resolve: Function,
) -> None:
    web = [bench.launch_instance("bench-web-a"), bench.launch_instance("bench-web-b")]
    name = named("bench-web-tg", backend)
    balancer, group = bench.create_target_group(name, web)
    bench.ec2.stop_instances(InstanceIds=[web[1]])
    enriched = diagnosed(
        bench, triage, enrich, target_alarm(bench, balancer, group, "ALARM"),
        "target-group-health",
    )
    answer = answered(inspect.invoke(enriched), "inspected")
    assert answer["summary"] == (
        f"Target group {name} (HTTP:80, instance targets, health check HTTP /health): "
        f"1 of 2 targets healthy; {web[1]}:80 unused (Target.InvalidState: Target is in the "
        "stopped state)"
    ), answer
    assert group in incidents.related_arns(incidents.one())
    assert notify.invoke(the_event(bench, "Resource Inspected")).ok
    description = bench.slack_messages()[-1].content["description"]
    assert f"• *{web[1]}:80 unused (Target.InvalidState" in description, description

    # The alarm clears while the target is still stopped: a responder decides.
    answered(triage.invoke(target_alarm(bench, balancer, group, "OK")), "recovered")
    answered(resolve.invoke(the_event(bench, "Signal Recovered")), "awaiting_responder")
    checks = the_event(bench, "Incident Updated")["detail"]["resolution"]["checks"]
    assert (
        f"DescribeTargetHealth: target group {name}: 1 of 2 targets healthy; {web[1]}:80 "
        "unused (Target.InvalidState: Target is in the stopped state)"
    ) in checks, checks

    # Started again, every target healthy: the next recovery resolves.
    bench.ec2.start_instances(InstanceIds=[web[1]])
    answered(triage.invoke(target_alarm(bench, balancer, group, "ALARM")), "joined")
    answered(triage.invoke(target_alarm(bench, balancer, group, "OK")), "recovered")
    recovered = bench.bus_events(detail_type="Signal Recovered")[-1]
    answered(resolve.invoke(recovered), "resolved")
    checks = the_event(bench, "Incident Resolved")["detail"]["resolution"]["checks"]
    assert checks[-1] == (
        f"DescribeTargetHealth: target group {name}: 2 of 2 targets healthy, none failing"
    ), checks


def test_an_rds_alarm_shows_the_instance_and_its_events(
    bench: Bench, backend: str, incidents: Incidents, triage: Function, enrich: Function,
    inspect: Function, notify: Function, resolve: Function,
) -> None:
    db = named("bench-orders-db", backend)
    arn = bench.create_database(db)

    def alarm(state: str) -> dict[str, Any]:
        return bench.metric_alarm(
            f"{db}-FreeStorageSpace", "AWS/RDS", "FreeStorageSpace",
            {"DBInstanceIdentifier": db}, state, "cloudwatch-alarm-rds-free-storage",
        )

    enriched = diagnosed(bench, triage, enrich, alarm("ALARM"), "rds-instance")
    answer = answered(inspect.invoke(enriched), "inspected")
    assert answer["summary"].startswith(
        f"RDS instance {db} (db.t3.micro, postgres "
    ), answer
    assert ", 20 GiB gp3; the latest event: " in answer["summary"], answer
    events = the_event(bench, "Resource Inspected")["detail"]["inspection"]["database"]["events"]
    assert "DB instance created" in [e["message"] for e in events], events
    assert arn in incidents.related_arns(incidents.one())
    assert notify.invoke(the_event(bench, "Resource Inspected")).ok
    description = bench.slack_messages()[-1].content["description"]
    assert f"#database:id={db};is-cluster=false|RDS instance {db}" in description

    answered(triage.invoke(alarm("OK")), "recovered")
    answered(resolve.invoke(the_event(bench, "Signal Recovered")), "resolved")


# The incident write each backend's first timeline entry takes.
TIMELINE_WRITE = {INCIDENT_MANAGER: "CreateTimelineEvent", "opscenter": "UpdateOpsItem"}


def inspect_entries(incidents: Incidents, function: str) -> list[str]:
    return [
        e["text"] for e in incidents.entries(incidents.one())
        if e["kind"] == "inspected" and e["text"].startswith(f"Lambda function {function} ")
    ]


def test_two_invocations_on_one_incident_inspect_it_once(
    bench: Bench, backend: str, incidents: Incidents, function: Any, triage: Function,
    enrich: Function,
) -> None:
    """EventBridge delivers `Incident Enriched` twice at once (two environments): one inspects,
    the other finds the work in progress and fails (`EventInProgress`, for Lambda to retry);
    the retry replays the answer. One entry, one `Resource Inspected`."""
    name = named("bench-twice", backend)
    bench.create_function(name)
    bench.log(f"/aws/lambda/{name}", [(datetime.now(timezone.utc), ERROR)])
    enriched = diagnosed(bench, triage, enrich, lambda_alarm(bench, name, "ALARM"),
                         "lambda-function")
    first, second = (function("inspect", env=bench.stage_env(backend)) for _ in range(2))
    bench.emu.slow(TIMELINE_WRITE[backend], 1.5)
    results: dict[str, Result] = {}

    def deliver(which: str, to: Function) -> None:
        results[which] = to.invoke(enriched, timeout=30)

    threads = [threading.Thread(target=deliver, args=pair) for pair in
               (("first", first), ("second", second))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    bench.emu.slow(TIMELINE_WRITE[backend], 0)
    outcomes = sorted(r.body.get("action") or r.body.get("errorType") for r in results.values())
    assert outcomes == ["EventInProgress", "inspected"], results
    [failed] = [r for r in results.values() if not r.ok]
    retried = second if results["second"] is failed else first
    again = answered(retried.invoke(enriched), "inspected")
    [done] = [r for r in results.values() if r.ok]
    assert again["summary"] == done.body["summary"]
    assert len(inspect_entries(incidents, name)) == 1
    assert len(bench.bus_events(detail_type="Resource Inspected")) == 1


def test_a_retry_after_a_timed_out_inspection_writes_it_once(
    bench: Bench, backend: str, incidents: Incidents, function: Any, triage: Function,
    enrich: Function,
) -> None:
    """The backend answers inspect's first write slowly (Incident Manager: the timeline entry;
    OpsCenter: the OpsItem update) and Lambda ends the invocation at its timeout; the backend
    still makes the write. Lambda's retry (another environment, once the run-once lease has run
    out) writes with the same client tokens: one entry, and the `Resource Inspected` the first
    never published. Slow: it waits out the 30 s lease."""
    name = named("bench-timeout", backend)
    bench.create_function(name)
    # The errors came before the alarm: both attempts read the same lines (a retry that reads
    # something new adds an entry of its own, with its own words and token).
    bench.log(f"/aws/lambda/{name}", [(datetime.now(timezone.utc) - timedelta(minutes=1), ERROR)])
    enriched = diagnosed(bench, triage, enrich, lambda_alarm(bench, name, "ALARM"),
                         "lambda-function")
    first, retry = (function("inspect", env=bench.stage_env(backend)) for _ in range(2))
    writes = bench.emu.calls(TIMELINE_WRITE[backend])
    bench.emu.slow(TIMELINE_WRITE[backend], 5.0)
    started = time.monotonic()
    try:
        first.invoke(enriched, timeout=3)
        raise AssertionError("the first invocation should have timed out")
    except FunctionError:
        pass
    time.sleep(6.0)  # the slow write completes in the backend, unconfirmed
    bench.emu.slow(TIMELINE_WRITE[backend], 0)
    assert bench.emu.calls(TIMELINE_WRITE[backend]) > writes, "the write never reached it"
    assert not bench.bus_events(detail_type="Resource Inspected")
    # A run-once lease is at least 30 s (shell::once::MIN_LEASE): wait it out.
    time.sleep(max(0.0, started + 32.0 - time.monotonic()))
    answered(retry.invoke(enriched, timeout=30), "inspected")
    entries = inspect_entries(incidents, name)
    assert len(entries) == 1, "\n----\n".join(entries)
    assert len(bench.bus_events(detail_type="Resource Inspected")) == 1
