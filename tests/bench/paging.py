"""The bench's paging and timers: the paging topics (each heard through an SQS queue), the
schedule group escalate's timers go in (moto's EventBridge Scheduler), the scheduler role, and
the Slack buttons as AWS Chatbot runs them.

moto stores schedules but never fires one: `Timers.fire_next` does what Scheduler would — take
the earliest pending schedule of the group, delete it (`ActionAfterCompletion: DELETE`) and
invoke its target with its `Input` — without sleeping: the step's own `at` is its "now".
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import yaml

SCHEDULE_GROUP = "responder-timers"
SCHEDULER_ROLE = "responder-scheduler"
# What the Slack buttons invoke: escalate's `buttons` alias (notify's ESCALATE_FUNCTION).
ESCALATE_FUNCTION = "responder-escalate:buttons"
PAGING_TOPICS = ("primary", "secondary")


@dataclass
class Page:
    """One page as a subscriber received it: the topic's name, the SQS form (JSON), the e-mail
    subject, the SNS message attributes."""

    topic: str
    body: dict[str, Any]
    subject: str | None
    attributes: dict[str, str]


@dataclass
class Timer:
    name: str
    target: str
    role: str
    expression: str
    action_after_completion: str
    input: dict[str, Any]

    @property
    def at(self) -> datetime:
        """When it is due: the `at` of its input (an escalation step, a watchdog check, a
        re-check), or a silence's `until`."""
        [body] = self.input.values()
        due = body.get("at") or body["until"]
        return datetime.fromisoformat(due.replace("Z", "+00:00"))


class Paging:
    """Paging topics, timers and buttons on one bench (`bench.paging`)."""

    def __init__(self, bench: Any) -> None:
        self.bench = bench
        self.topic_arns: dict[str, str] = {}
        self.queue_urls: dict[str, str] = {}
        self.scheduler_role_arn = ""
        self.target_arn = self.function_arn("escalate")

    def function_arn(self, name: str) -> str:
        """The ARN a timer for function `name` targets (the template's `<stack>-<name>`)."""
        return f"arn:aws:lambda:{self.bench.region}:{self.bench.account}:function:responder-{name}"

    def timer_env(self, name: str) -> dict[str, str]:
        """The timers' variables of function `name`: the group, the role, its own ARN."""
        return {
            "SCHEDULE_GROUP": SCHEDULE_GROUP,
            "SCHEDULE_ROLE_ARN": self.scheduler_role_arn,
            "SCHEDULE_TARGET_ARN": self.function_arn(name),
        }

    @property
    def scheduler(self) -> Any:
        return self.bench.client("scheduler")

    def create(self) -> None:
        sns, sqs = self.bench.sns, self.bench.sqs
        for name in PAGING_TOPICS:
            arn = sns.create_topic(Name=f"responder-page-{name}")["TopicArn"]
            url = sqs.create_queue(QueueName=f"responder-page-{name}-tap")["QueueUrl"]
            queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
                "Attributes"
            ]["QueueArn"]
            sns.subscribe(
                TopicArn=arn,
                Protocol="sqs",
                Endpoint=queue_arn,
                Attributes={"RawMessageDelivery": "false"},
            )
            self.topic_arns[name], self.queue_urls[name] = arn, url
        self.scheduler.create_schedule_group(Name=SCHEDULE_GROUP)
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "scheduler.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
        self.scheduler_role_arn = self.bench.iam.create_role(
            RoleName=SCHEDULER_ROLE, AssumeRolePolicyDocument=json.dumps(trust)
        )["Role"]["Arn"]

    def reset(self) -> None:
        """No schedules pending, no pages waiting."""
        for timer in self.timers(""):
            self.scheduler.delete_schedule(Name=timer.name, GroupName=SCHEDULE_GROUP)
        self.pages()

    def env(self) -> dict[str, str]:
        """escalate's own variables (README): the paging topics, the schedule group, the role
        Scheduler assumes, the function the timers invoke, the responder's own roles (here the
        bench's automation role: its console changes are not a person's), runbook's ARN for
        the watchdog's timers and triage's for the re-checks of held signals."""
        return {
            "PAGING_TOPICS": ",".join(f"{n}={a}" for n, a in self.topic_arns.items()),
            **self.timer_env("escalate"),
            "RESPONDER_ROLE_ARNS": self.bench.automation_role_arn,
            "WATCHDOG_TARGET_ARN": self.function_arn("runbook"),
            "RECHECK_TARGET_ARN": self.function_arn("triage"),
        }

    # --- timers ---------------------------------------------------------------------------------

    def timers(self, prefix: str = "esc-") -> list[Timer]:
        """The schedules pending in the group whose name starts with `prefix` (`esc-` escalation
        steps, `wd-` runbook watchdogs, `hold-` re-checks of held signals, `sil-` silences' ends,
        `` all), earliest first."""
        names: list[str] = []
        for page in self.scheduler.get_paginator("list_schedules").paginate(
            GroupName=SCHEDULE_GROUP
        ):
            names.extend(s["Name"] for s in page["Schedules"] if s["Name"].startswith(prefix))
        timers = []
        for name in names:
            s = self.scheduler.get_schedule(Name=name, GroupName=SCHEDULE_GROUP)
            timers.append(
                Timer(
                    name=name,
                    target=s["Target"]["Arn"],
                    role=s["Target"]["RoleArn"],
                    expression=s["ScheduleExpression"],
                    action_after_completion=s.get("ActionAfterCompletion", ""),
                    input=json.loads(s["Target"]["Input"]),
                )
            )
        return sorted(timers, key=lambda t: (t.at, t.name))

    def fire_next(self, function: Any, prefix: str = "esc-") -> dict[str, Any]:
        """Fires the earliest pending timer (named `prefix…`) as Scheduler would: deletes it,
        then invokes `function` (the timer's target) with its input. Returns the answer."""
        timers = self.timers(prefix)
        assert timers, "no timer is pending"
        timer = timers[0]
        assert timer.target == self.function_arn(function.name), timer
        assert timer.action_after_completion == "DELETE", timer
        self.scheduler.delete_schedule(Name=timer.name, GroupName=SCHEDULE_GROUP)
        result = function.invoke(timer.input)
        assert result.kind == "response", f"the timer's step failed: {result}"
        return result.body

    # --- pages ----------------------------------------------------------------------------------

    def pages(self) -> list[Page]:
        """Every page delivered since the last call, topic by topic."""
        found = []
        for name in PAGING_TOPICS:
            while True:
                messages = self.bench.sqs.receive_message(
                    QueueUrl=self.queue_urls[name], MaxNumberOfMessages=10, WaitTimeSeconds=0
                ).get("Messages", [])
                if not messages:
                    break
                for raw in messages:
                    self.bench.sqs.delete_message(
                        QueueUrl=self.queue_urls[name], ReceiptHandle=raw["ReceiptHandle"]
                    )
                    envelope = json.loads(raw["Body"])
                    found.append(
                        Page(
                            topic=name,
                            body=json.loads(envelope["Message"]),
                            subject=envelope.get("Subject"),
                            attributes={
                                k: v["Value"]
                                for k, v in envelope.get("MessageAttributes", {}).items()
                            },
                        )
                    )
        return found


# --- the Slack buttons, as AWS Chatbot runs them -------------------------------------------------


def _resources(template: str) -> dict[str, Any]:
    """The template's resources, its intrinsic functions left out (None)."""

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    return dict(yaml.load(template, Loader=Loader)["Resources"])  # noqa: S506 - SafeLoader


def routed_detail_types(template: str, rule: str) -> list[str]:
    """The detail-types the template's EventBridge rule `rule` delivers to its target."""
    return list(_resources(template)[rule]["Properties"]["EventPattern"]["detail-type"])


def custom_actions(template: str) -> dict[str, dict[str, Any]]:
    """The template's AWS::Chatbot::CustomAction resources, by button text."""
    return {
        a["Attachments"][0]["ButtonText"]: a
        for r in _resources(template).values()
        if r.get("Type") == "AWS::Chatbot::CustomAction"
        for a in [r["Properties"]]
    }


def press(action: dict[str, Any], message: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """What Chatbot runs when the button of `action` is pressed on `message` (a custom
    notification): its Variables read from the message's paths, substituted into CommandText;
    returns the function name and the payload of the `lambda invoke` command."""
    attachment = action["Attachments"][0]
    values: dict[str, str] = {}
    for name, path in attachment["Variables"].items():
        value: Any = {"event": message}
        for part in path.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        assert isinstance(value, str), f"the message has no {path}: the button would not show"
        values[name] = value
    for criterion in attachment["Criteria"]:
        assert criterion["Operator"] == "HAS_VALUE" and values.get(criterion["VariableName"])
    command = action["Definition"]["CommandText"]
    assert len(command) <= 100, f"CommandText is {len(command)} characters (Chatbot: 100)"
    text = re.sub(r"\$([A-Za-z0-9_-]+)", lambda m: values[m.group(1)], command)
    # Chatbot passes the command's words as written (its examples put unquoted JSON after
    # --payload), not through a POSIX shell that would strip the JSON's quotes.
    words = text.split()
    assert words[:2] == ["lambda", "invoke"], words
    function = words[words.index("--function-name") + 1]
    payload = json.loads(words[words.index("--payload") + 1])
    return function, payload


# --- what people do in the console, as EventBridge delivers it ---------------------------------

PERSON = "arn:aws:iam::111122223333:user/oncall-engineer"


def console_event(bench: Any, incident: str, status: str, by: str = PERSON) -> dict[str, Any]:
    """The event a person's change in the console produces: OpsCenter's `OpsItem Update`
    (`status` `InProgress`, `Resolved`), or Incident Manager's `UpdateIncidentRecord` through
    CloudTrail (`status` `RESOLVED`), from the fixtures in the AWS documentation's shapes."""
    from bench import FIXTURES  # noqa: PLC0415 - bench imports this module

    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    if incident.startswith("oi-"):
        event = json.loads((FIXTURES / "ssm-opsitem-update.json").read_text())
        event["detail"].update({"ops-item-id": incident, "status": status, "modified-by": by})
        event["resources"] = [f"arn:aws:ssm:{bench.region}:{bench.account}:opsitem/{incident}"]
    else:
        name = "cloudtrail-ssm-incidents-update-incident-record.json"
        event = json.loads((FIXTURES / name).read_text())
        event["detail"]["requestParameters"] = {"arn": incident, "status": status}
        event["detail"]["userIdentity"]["arn"] = by
    event.update({"account": bench.account, "region": bench.region, "time": now})
    return event
