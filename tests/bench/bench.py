"""The local AWS bench: moto for the services it emulates, our emulator for the rest.

    bench = Bench().start()      # moto + emulator on 127.0.0.1, free ports; resources created
    env = bench.endpoint_env()   # AWS_ENDPOINT_URL (moto), the three per-service overrides
                                 # (emulator), region and dummy credentials, for a function
    vpn_id = bench.create_vpn()  # a Site-to-Site VPN in moto, tunnel 1 DOWN, tunnel 2 UP, and
                                 # its TunnelState history in the emulator's CloudWatch
    event = bench.alarm_event("cloudwatch-alarm-vpn-tunnel-down", vpn_id)
    ...
    bench.bus_events()           # what was published on the responder bus (each one the
                                 # EventBridge event a Lambda target of the bus receives)
    bench.slack_messages()       # what notify posted to the Chatbot topic (each one checked
                                 # against the Chatbot custom-notification schema)
    bench.report_objects()       # the post-incident records resolve wrote to the report bucket
    bench.calls.by_key()         # the IAM actions of every AWS request, by the access key that
                                 # signed it (each function signs with its own name)
    bench.reset()                # between tests
    bench.stop()

moto runs in this process (`ThreadedMotoServer`), so its backends are reachable directly: the
bench uses that to give VPN connections the tunnel telemetry moto does not keep (see
`set_tunnels`). Resources are created as the SAM template will create them (`STATE_TABLE`,
`RESPONDER_BUS` with a rule on `source = incident.responder`, an Incident Manager response plan,
the IAM role SSM Automation assumes to run the runbooks, the Chatbot SNS topic `NOTIFY_TOPIC_ARN`
— read back through an SQS queue subscribed to it — and the report bucket `REPORT_BUCKET`).
"""

from __future__ import annotations

import copy
import io
import json
import logging
import os
import re
import threading
import time
import uuid
import zipfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import boto3
from boto3.dynamodb.types import TypeDeserializer
from botocore.config import Config

from paging import ESCALATE_FUNCTION, Paging

if TYPE_CHECKING:
    from runtime_api import Function, Result

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "events"
# The AWS Chatbot custom notification schema (written with notify): every message notify
# publishes must validate against it, or Chatbot drops it silently.
CHATBOT_SCHEMA = REPO / "tests" / "fixtures" / "chatbot" / "custom-notification.schema.json"

ACCOUNT = "111122223333"
REGION = "us-east-1"

# Names the SAM template will give the resources (and the functions' configuration).
STATE_TABLE = "responder-state"
RESPONDER_BUS = "responder"
RESPONDER_SOURCE = "incident.responder"
BUS_TAP_QUEUE = "responder-bus-tap"
BUS_TAP_RULE = "responder-bus-tap"
RESPONSE_PLAN = {"name": "responder-vpn", "title": "VPN incident", "impact": 3}
AUTOMATION_ROLE = "responder-automation"
# The SNS topic wired to AWS Chatbot (NOTIFY_TOPIC_ARN) and the bench's ear on it: an SQS queue
# subscribed without raw delivery, so each message body is the SNS envelope (Message and
# MessageAttributes), as a subscriber receives it.
NOTIFY_TOPIC = "responder-notify"
SLACK_QUEUE = "responder-notify-tap"
# Where resolve writes the post-incident records (REPORT_BUCKET).
REPORT_BUCKET = f"responder-reports-{ACCOUNT}"

# The VPN the fixtures describe, and the bench's stand-in values.
FIXTURE_ACCOUNT = "111122223333"
FIXTURE_REGION = "eu-west-1"
FIXTURE_VPN_ID = "vpn-0123456789abcdef0"
CUSTOMER_GATEWAY_IP = "198.51.100.7"
CUSTOMER_GATEWAY_ASN = 65000
TUNNEL_1_IP = "203.0.113.10"
TUNNEL_2_IP = "203.0.113.11"
# The TunnelState history put for a new VPN: one datapoint a minute over this many minutes, a
# DOWN tunnel at 0 for the last DOWN_MINUTES of them.
METRIC_MINUTES = 30
DOWN_MINUTES = 7

INCIDENT_MANAGER = "incident-manager"
OPSCENTER = "opscenter"
BACKENDS = (INCIDENT_MANAGER, OPSCENTER)

# The VPN story: the alarm fixture that starts it, and what AWSSupport-TroubleshootVPN reports
# when the emulator finishes its execution (its output, as the handler tests use it).
VPN_ALARM = "cloudwatch-alarm-vpn-tunnel-down"
OUTPUT = "TroubleshootVPN.Output"
FINDING = f"Tunnel {TUNNEL_1_IP}: IKE phase 1 negotiation failed (no proposal chosen)."

_DUMMY_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@dataclass
class Tunnel:
    """One tunnel's telemetry, as `DescribeVpnConnections` reports it in `VgwTelemetry`."""

    outside_ip: str
    status: str  # "UP" | "DOWN"
    message: str = ""
    accepted_routes: int = 0
    inside_cidr: str = "169.254.10.0/30"
    # Tunnel activity logging to CloudWatch Logs (`LogOptions.CloudWatchLogOptions`): "json" or
    # "text" (`LogOutputFormat`, into the log group /vpn/<VPN id>), or None for not enabled.
    log_format: str | None = "json"


def default_tunnels() -> list[Tunnel]:
    """The VPN story's tunnels: tunnel 1 down (IPsec), tunnel 2 up."""
    return [
        Tunnel(TUNNEL_1_IP, "DOWN", "IPSEC IS DOWN", 0, "169.254.10.0/30"),
        Tunnel(TUNNEL_2_IP, "UP", "", 2, "169.254.11.0/30"),
    ]


# --- who called what ----------------------------------------------------------------------------

# SigV4 signing name → IAM service prefix, where they differ.
_IAM_PREFIX = {"monitoring": "cloudwatch"}
_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/[^/]+/[^/]+/([^/]+)/aws4_request")
# PutObject request headers that need a second permission (Service Authorization Reference).
_S3_PUT_HEADER_ACTIONS = {
    "x-amz-tagging": "s3:PutObjectTagging",
    "x-amz-acl": "s3:PutObjectAcl",
    "x-amz-grant-full-control": "s3:PutObjectAcl",
    "x-amz-grant-read": "s3:PutObjectAcl",
    "x-amz-grant-read-acp": "s3:PutObjectAcl",
    "x-amz-grant-write-acp": "s3:PutObjectAcl",
}


@dataclass(frozen=True)
class Call:
    """One AWS request: the access key that signed it and an IAM action it needs
    (`dynamodb:PutItem`). A request the recorder cannot name shows as
    `<prefix>:<METHOD> <path>`, so a surprise stands out."""

    key: str
    action: str


class CallRecorder:
    """Every AWS request moto and the emulator received, by the access key that signed it (the
    SigV4 `Credential`), as the IAM action it needs: the `X-Amz-Target` operation (JSON
    protocols), the form's `Action` (query protocol: EC2, SNS), the CBOR path's operation
    (CloudWatch), the REST path (Incident Manager `/startIncident` → `StartIncident`; S3 by its
    `x-id`, or a PUT on an object key → `PutObject`). Thread-safe: both servers handle requests
    on threads of their own."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: list[Call] = []

    def clear(self) -> None:
        with self._lock:
            self._calls.clear()

    def all(self) -> list[Call]:
        """Every request since the last `clear`, in arrival order."""
        with self._lock:
            return list(self._calls)

    def by_key(self) -> dict[str, set[str]]:
        """The actions each access key's requests needed."""
        found: dict[str, set[str]] = {}
        for call in self.all():
            found.setdefault(call.key, set()).add(call.action)
        return found

    def record(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> None:
        """Records one request (`headers.get` must answer lower-case names)."""
        key, actions = _request_actions(method, target, headers, body)
        with self._lock:
            self._calls.extend(Call(key, action) for action in actions)

    def wsgi(self, app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
        """`app` (moto's WSGI application) with every request recorded first."""

        def recording(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
            headers = {
                name[5:].replace("_", "-").lower(): value
                for name, value in environ.items()
                if name.startswith("HTTP_")
            }
            headers["content-type"] = environ.get("CONTENT_TYPE", "")
            body = b""
            if "x-www-form-urlencoded" in headers["content-type"]:
                # The query protocol's Action is in the body: read it, and hand moto a copy.
                length = int(environ.get("CONTENT_LENGTH") or 0)
                body = environ["wsgi.input"].read(length) if length > 0 else b""
                environ["wsgi.input"] = io.BytesIO(body)
            query = environ.get("QUERY_STRING", "")
            target = environ.get("PATH_INFO", "") + (f"?{query}" if query else "")
            self.record(environ["REQUEST_METHOD"], target, headers, body)
            return app(environ, start_response)

        return recording


def _request_actions(
    method: str, target: str, headers: Mapping[str, str], body: bytes
) -> tuple[str, list[str]]:
    """(access key, IAM actions) of one request."""
    url = urlsplit(target)
    query = parse_qs(url.query, keep_blank_values=True)
    credential = _CREDENTIAL.search(headers.get("authorization") or "")
    if credential:
        key, service = credential.groups()
    elif "X-Amz-Credential" in query:  # a presigned URL
        key, _, _, service, *_ = query["X-Amz-Credential"][0].split("/")
    else:
        return "(unsigned)", [f"?:{method} {url.path}"]
    prefix = _IAM_PREFIX.get(service, service)
    operation_target = headers.get("x-amz-target")
    content_type = headers.get("content-type") or ""
    if operation_target:
        operation = operation_target.rsplit(".", 1)[-1]
    elif url.path.startswith("/service/") and "/operation/" in url.path:
        operation = url.path.rsplit("/", 1)[-1]
    elif "x-www-form-urlencoded" in content_type:
        operation = parse_qs(body.decode("utf-8", "replace")).get("Action", ["?"])[0]
    elif prefix == "ssm-incidents":
        name = url.path.strip("/").split("/")[0]
        operation = name[:1].upper() + name[1:]
    elif prefix == "s3":
        return key, _s3_actions(method, url.path, query, headers, target)
    elif prefix == "scheduler":
        operation = _scheduler_operation(method, url.path)
    elif prefix == "lambda":
        operation = _lambda_operation(method, url.path)
    else:
        operation = f"{method} {target}"
    return key, [f"{prefix}:{operation}"]


def _scheduler_operation(method: str, path: str) -> str:
    """EventBridge Scheduler (REST-JSON): `/schedules/<name>` by method, `/schedules` lists."""
    one = {"POST": "CreateSchedule", "PUT": "UpdateSchedule", "GET": "GetSchedule",
           "DELETE": "DeleteSchedule"}
    parts = path.strip("/").split("/")
    if parts[0] == "schedules" and len(parts) == 2 and method in one:
        return one[method]
    if parts == ["schedules"] and method == "GET":
        return "ListSchedules"
    return f"{method} {path}"


def _lambda_operation(method: str, path: str) -> str:
    """Lambda (REST-JSON): `GET /<version>/functions/<name>` is GetFunction, `…/configuration`
    GetFunctionConfiguration, `…/concurrency` GetFunctionConcurrency."""
    parts = path.strip("/").split("/")
    if method != "GET" or len(parts) not in (3, 4) or parts[1] != "functions":
        return f"{method} {path}"
    if len(parts) == 3:
        return "GetFunction"
    by_tail = {"configuration": "GetFunctionConfiguration", "concurrency": "GetFunctionConcurrency"}
    return by_tail.get(parts[3], f"{method} {path}")


def _s3_actions(
    method: str, path: str, query: dict[str, list[str]], headers: Mapping[str, str], target: str
) -> list[str]:
    """S3 (path style, as the SDKs address an IP endpoint): the SDK's `x-id`, or a plain PUT of
    an object → PutObject (plus what its headers need); anything else as method and path."""
    has_key = len(path.lstrip("/").split("/", 1)) == 2
    plain_put = method == "PUT" and has_key and set(query) <= {"x-id"}
    if query.get("x-id"):
        operation = query["x-id"][0]
    elif plain_put and not headers.get("x-amz-copy-source"):
        operation = "PutObject"
    else:
        return [f"s3:{method} {target}"]
    actions = [f"s3:{operation}"]
    if operation == "PutObject":
        actions += sorted({a for h, a in _S3_PUT_HEADER_ACTIONS.items() if headers.get(h)})
    return actions


# Status checks the bench fails (`Bench.impair_instance`): instance id → check → since when.
_IMPAIRED: dict[str, dict[str, datetime]] = {}


def _install_status_overrides() -> None:
    """Wraps moto's `Instance.system_status` and `Instance.instance_status` so that a running
    instance in `_IMPAIRED` reports that check `impaired`, its reachability check failed since
    then (what DescribeInstanceStatus answers for a failing check). Installed once."""
    from moto.ec2.models.instances import Instance

    if getattr(Instance, "_bench_status_overrides", False):
        return

    def overridden(original: property, check: str) -> property:
        def status(instance: Any) -> dict[str, Any]:
            since = _IMPAIRED.get(instance.id, {}).get(check)
            if since is None or instance.state_code != 16:  # 16: running
                return dict(original.fget(instance))  # type: ignore[misc]
            return {
                "Details": [{"Name": "reachability", "Status": "failed", "ImpairedSince": since}],
                "Status": "impaired",
            }

        return property(status)

    Instance.system_status = overridden(Instance.system_status, "system")  # type: ignore[assignment,method-assign]
    Instance.instance_status = overridden(Instance.instance_status, "instance")  # type: ignore[assignment,method-assign]
    Instance._bench_status_overrides = True  # type: ignore[attr-defined]


class Bench:
    """moto and the emulator on 127.0.0.1, with the responder's resources in them."""

    def __init__(
        self, account: str = ACCOUNT, region: str = REGION, *, emulator: bool = True
    ) -> None:
        self.account = account
        self.region = region
        self.with_emulator = emulator
        self.moto_url = ""
        self.emu: Any = None
        self.response_plan_arn: str | None = None
        self.automation_role_arn = ""
        self.bus_tap_queue_url = ""
        self.notify_topic_arn = ""
        self.slack_queue_url = ""
        self.report_bucket = REPORT_BUCKET
        self._chatbot_validator: Any = None
        self._slack_log: list[SlackMessage] = []
        self._moto: Any = None
        self._restore_dynamodb: Any = None
        self._saved_account: str | None = None
        self._clients: dict[str, Any] = {}
        self._bus_log: list[dict[str, Any]] = []
        self.calls = CallRecorder()
        self.paging = Paging(self)

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> Bench:
        """Starts moto and the emulator, then creates the resources. Stops both on failure."""
        try:
            self._start_moto()
            if self.with_emulator:
                self._start_emulator()
            self.create_resources()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_moto(self) -> None:
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request

        # moto serves every request as the account in MOTO_ACCOUNT_ID (read per request, from
        # this process's environment): the bench's account, so ARNs agree with the emulator's
        # and the fixtures'. Restored in stop().
        self._saved_account = os.environ.get("MOTO_ACCOUNT_ID")
        os.environ["MOTO_ACCOUNT_ID"] = self.account
        self._restore_dynamodb = _serialise_moto_dynamodb_writes()
        # Port 0: the OS picks a free port while binding, so no other process can take it
        # between choosing and binding; the server reports the port it got.
        self._moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._moto.start()
        # Every request passes the recorder on its way to moto (werkzeug's handler calls the
        # server's `app` per request; nothing was served yet).
        self._moto._server.app = self.calls.wsgi(self._moto._server.app)
        host, port = self._moto.get_host_and_port()
        self.moto_url = f"http://{host}:{port}"

    def _start_emulator(self) -> None:
        try:
            from emulator import Emulator
        except ImportError as e:
            raise RuntimeError(
                "the AWS emulator package tests/bench/emulator is missing or broken "
                f"(import emulator: {e})"
            ) from e
        self.emu = Emulator(account=self.account, region=self.region)
        self.emu.observer = self.calls.record
        self.emu.start()

    def stop(self) -> None:
        """Stops the emulator and moto and frees their ports (safe to call twice)."""
        errors: list[BaseException] = []
        if self.emu is not None:
            try:
                self.emu.stop()
            except Exception as e:  # noqa: BLE001 - stop moto anyway
                errors.append(e)
            self.emu = None
        if self._moto is not None:
            try:
                self._moto.stop()
                # ThreadedMotoServer.stop() leaves the listening socket open: close it.
                server = getattr(self._moto, "_server", None)
                if server is not None:
                    server.server_close()
            except Exception as e:  # noqa: BLE001
                errors.append(e)
            self._moto = None
        if self._restore_dynamodb is not None:
            self._restore_dynamodb()
            self._restore_dynamodb = None
        if self._saved_account is None:
            os.environ.pop("MOTO_ACCOUNT_ID", None)
        else:
            os.environ["MOTO_ACCOUNT_ID"] = self._saved_account
        self._saved_account = None
        self._clients.clear()
        if errors:
            raise errors[0]

    def __enter__(self) -> Bench:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- configuration for functions ------------------------------------------------------

    def endpoint_env(self, access_key: str = "testing") -> dict[str, str]:
        """The environment a function needs to reach the bench instead of AWS. It signs its
        requests with `access_key` (the bench's emulators accept any): give each function its
        own, and `calls.by_key()` tells what each one called."""
        env = {
            "AWS_ENDPOINT_URL": self.moto_url,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ACCESS_KEY_ID": access_key,
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_EC2_METADATA_DISABLED": "true",
        }
        if self.emu is not None:
            for service in ("SSM_INCIDENTS", "SSM", "CLOUDWATCH", "CLOUDTRAIL", "HEALTH"):
                env[f"AWS_ENDPOINT_URL_{service}"] = self.emu.url
        return env

    def triage_env(self, backend: str) -> dict[str, str]:
        """`triage`'s configuration (the contract's variables) for `backend`."""
        env = self.stage_env(backend)
        if backend == "incident-manager":
            assert self.response_plan_arn, "no response plan: the bench runs without emulator"
            env["RESPONSE_PLAN_ARN"] = self.response_plan_arn
        return env

    def stage_env(self, backend: str) -> dict[str, str]:
        """The configuration every stage after triage shares (`enrich`'s whole configuration):
        INCIDENT_BACKEND, RESPONDER_BUS, STATE_TABLE."""
        return {
            "INCIDENT_BACKEND": backend,
            "RESPONDER_BUS": RESPONDER_BUS,
            "STATE_TABLE": STATE_TABLE,
        }

    def changes_env(self, backend: str) -> dict[str, str]:
        """`changes`' configuration as the template sets it: the stage's, plus CHANGES_LOOKBACK
        and CHANGES_MAX."""
        return {**self.stage_env(backend), "CHANGES_LOOKBACK": "3h", "CHANGES_MAX": "10"}

    def deploy_stack_of(self, vpn_id: str) -> str:
        """The VPN (or any EC2 resource: an instance) as if a CloudFormation stack had made it:
        a stack in moto (`partner-<id>`) and the resource's `aws:cloudformation:stack-name` tag
        naming it. Returns the stack's id."""
        stack = f"partner-{vpn_id}"
        template = {"Resources": {"Handle": {"Type": "AWS::CloudFormation::WaitConditionHandle"}}}
        stack_id = self.client("cloudformation").create_stack(
            StackName=stack, TemplateBody=json.dumps(template)
        )["StackId"]
        self.ec2.create_tags(
            Resources=[vpn_id], Tags=[{"Key": "aws:cloudformation:stack-name", "Value": stack}]
        )
        return stack_id

    def runbook_env(self, backend: str) -> dict[str, str]:
        """`runbook`'s configuration: the stage's, plus AUTOMATION_ROLE_ARN (the bench's role)."""
        assert self.automation_role_arn, "no automation role: create_resources() has not run"
        return {**self.stage_env(backend), "AUTOMATION_ROLE_ARN": self.automation_role_arn}

    def notify_env(self) -> dict[str, str]:
        """`notify`'s configuration: NOTIFY_TOPIC_ARN (the bench's Chatbot topic), STATE_TABLE,
        ESCALATE_FUNCTION (the buttons' function). No backend: it only reads the events."""
        assert self.notify_topic_arn, "no Chatbot topic: create_resources() has not run"
        return {
            "NOTIFY_TOPIC_ARN": self.notify_topic_arn,
            "STATE_TABLE": STATE_TABLE,
            "ESCALATE_FUNCTION": ESCALATE_FUNCTION,
        }

    def escalate_env(self, backend: str) -> dict[str, str]:
        """`escalate`'s configuration: the stage's, plus the paging topics and the timers'."""
        return {**self.stage_env(backend), **self.paging.env()}

    def resolve_env(self, backend: str) -> dict[str, str]:
        """`resolve`'s configuration: the stage's, plus REPORT_BUCKET (the bench's bucket)."""
        return {**self.stage_env(backend), "REPORT_BUCKET": self.report_bucket}

    # --- boto3 clients bound to moto --------------------------------------------------------

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = boto3.session.Session(
                region_name=self.region, **_DUMMY_CREDENTIALS
            ).client(
                service,
                endpoint_url=self.moto_url,
                config=Config(retries={"max_attempts": 1}, connect_timeout=3, read_timeout=30),
            )
        return self._clients[service]

    @property
    def dynamodb(self) -> Any:
        return self.client("dynamodb")

    @property
    def events(self) -> Any:
        return self.client("events")

    @property
    def sqs(self) -> Any:
        return self.client("sqs")

    @property
    def ec2(self) -> Any:
        return self.client("ec2")

    @property
    def sns(self) -> Any:
        return self.client("sns")

    @property
    def s3(self) -> Any:
        return self.client("s3")

    @property
    def sts(self) -> Any:
        return self.client("sts")

    @property
    def iam(self) -> Any:
        return self.client("iam")

    @property
    def cloudwatch(self) -> Any:
        """boto3's CloudWatch client bound to the emulator, whose CloudWatch the functions use
        (not moto's): boto3 speaks awsJson1_0 to it, the functions' SDK CBOR, to one state."""
        return self.emulated("cloudwatch")

    def emulated(self, service: str) -> Any:
        """boto3's client of a service the emulator serves (`cloudwatch`, `ssm-incidents`,
        `ssm`): what a person's console, or another tool, calls."""
        assert self.emu is not None, f"the bench runs without emulator: no {service}"
        name = f"emulated-{service}"
        if name not in self._clients:
            self._clients[name] = boto3.session.Session(
                region_name=self.region, **_DUMMY_CREDENTIALS
            ).client(
                service,
                endpoint_url=self.emu.url,
                config=Config(retries={"max_attempts": 1}, connect_timeout=3, read_timeout=30),
            )
        return self._clients[name]

    # --- resources --------------------------------------------------------------------------

    def create_resources(self) -> None:
        """The state table, the responder bus tapped by an SQS queue, the response plan, the
        automation role."""
        self.dynamodb.create_table(
            TableName=STATE_TABLE,
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        self.dynamodb.update_time_to_live(
            TableName=STATE_TABLE,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"},
        )

        self.events.create_event_bus(Name=RESPONDER_BUS)
        # The bench's ear on the bus: every responder event is copied to an SQS queue (moto
        # delivers to SQS targets synchronously within PutEvents; other target types fail).
        self.bus_tap_queue_url = self.sqs.create_queue(QueueName=BUS_TAP_QUEUE)["QueueUrl"]
        queue_arn = self.sqs.get_queue_attributes(
            QueueUrl=self.bus_tap_queue_url, AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        self.events.put_rule(
            Name=BUS_TAP_RULE,
            EventBusName=RESPONDER_BUS,
            EventPattern=json.dumps({"source": [RESPONDER_SOURCE]}),
            State="ENABLED",
        )
        self.events.put_targets(
            Rule=BUS_TAP_RULE,
            EventBusName=RESPONDER_BUS,
            Targets=[{"Id": "bench-tap", "Arn": queue_arn}],
        )
        self.create_response_plan()
        # The Chatbot topic, heard through an SQS queue (raw delivery off: the body is the SNS
        # envelope, with the message attributes a filter policy would see).
        self.notify_topic_arn = self.sns.create_topic(Name=NOTIFY_TOPIC)["TopicArn"]
        self.slack_queue_url = self.sqs.create_queue(QueueName=SLACK_QUEUE)["QueueUrl"]
        slack_queue_arn = self.sqs.get_queue_attributes(
            QueueUrl=self.slack_queue_url, AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        self.sns.subscribe(
            TopicArn=self.notify_topic_arn,
            Protocol="sqs",
            Endpoint=slack_queue_arn,
            Attributes={"RawMessageDelivery": "false"},
        )
        self.paging.create()
        # The report bucket (us-east-1: no LocationConstraint).
        if self.region == "us-east-1":
            self.s3.create_bucket(Bucket=self.report_bucket)
        else:
            self.s3.create_bucket(
                Bucket=self.report_bucket,
                CreateBucketConfiguration={"LocationConstraint": self.region},
            )
        # The role SSM Automation assumes to run the runbooks (AUTOMATION_ROLE_ARN): trusted by
        # ssm.amazonaws.com, as the SAM template will create it. IAM is global: it survives
        # reset(), like the VPNs.
        self.automation_role_arn = self.iam.create_role(
            RoleName=AUTOMATION_ROLE,
            Path="/",
            Description="SSM Automation runs the responder's runbooks as this role",
            AssumeRolePolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "ssm.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                }
            ),
        )["Role"]["Arn"]

    def create_response_plan(self) -> str | None:
        if self.emu is None:
            return None
        self.response_plan_arn = self.emu.create_response_plan(
            RESPONSE_PLAN["name"], RESPONSE_PLAN["title"], RESPONSE_PLAN["impact"]
        )
        return self.response_plan_arn

    def reset(self) -> None:
        """Back to freshly created resources: empty state table, empty bus tap, no Slack
        messages, an empty report bucket, a fresh emulator with the response plan (and no
        metrics or alarms), no recorded calls. VPNs and the automation role stay (each test
        makes its own VPN)."""
        table = self.dynamodb
        keys: list[dict[str, Any]] = []
        for page in table.get_paginator("scan").paginate(
            TableName=STATE_TABLE, ProjectionExpression="pk, sk", ConsistentRead=True
        ):
            keys.extend(page["Items"])
        for item in keys:
            table.delete_item(TableName=STATE_TABLE, Key={"pk": item["pk"], "sk": item["sk"]})
        self._drain_bus_tap()
        self._bus_log.clear()
        self._drain_slack(validate=False)
        self._slack_log.clear()
        for key in self._report_keys():
            self.s3.delete_object(Bucket=self.report_bucket, Key=key)
        self.paging.reset()
        _IMPAIRED.clear()
        if self.emu is not None:
            self.emu.reset()
            self.create_response_plan()
        self.calls.clear()

    # --- the VPN ----------------------------------------------------------------------------

    def create_vpn(
        self,
        tunnels: list[Tunnel] | None = None,
        name: str = "bench-vpn",
        down_minutes: int = DOWN_MINUTES,
        transit_gateway: bool = False,
    ) -> str:
        """A Site-to-Site VPN as a customer has it: customer gateway (198.51.100.7, ASN 65000),
        a virtual private gateway attached to a VPC (or, with `transit_gateway`, a transit
        gateway), an `ipsec.1` connection, its tunnel telemetry and options
        (`default_tunnels()` unless given), its `TunnelState` history in the emulator's
        CloudWatch (`put_tunnel_metrics`: DOWN tunnels down for the last `down_minutes`) and its
        alarm there (`create_alarm`: in ALARM while a tunnel is DOWN). Returns the VPN
        connection id."""
        tunnels = tunnels if tunnels is not None else default_tunnels()
        ec2 = self.ec2
        cgw_id = ec2.create_customer_gateway(
            Type="ipsec.1", PublicIp=CUSTOMER_GATEWAY_IP, BgpAsn=CUSTOMER_GATEWAY_ASN
        )["CustomerGateway"]["CustomerGatewayId"]
        if transit_gateway:
            gateway = {
                "TransitGatewayId": ec2.create_transit_gateway(
                    Description=f"{name} transit gateway", Options={"AmazonSideAsn": 64512}
                )["TransitGateway"]["TransitGatewayId"]
            }
        else:
            vpc_id = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
            vgw_id = ec2.create_vpn_gateway(Type="ipsec.1", AmazonSideAsn=64512)["VpnGateway"][
                "VpnGatewayId"
            ]
            ec2.attach_vpn_gateway(VpcId=vpc_id, VpnGatewayId=vgw_id)
            gateway = {"VpnGatewayId": vgw_id}
        vpn_id = ec2.create_vpn_connection(
            Type="ipsec.1",
            CustomerGatewayId=cgw_id,
            **gateway,
            Options={"StaticRoutesOnly": False},
            TagSpecifications=[
                {"ResourceType": "vpn-connection", "Tags": [{"Key": "Name", "Value": name}]}
            ],
        )["VpnConnection"]["VpnConnectionId"]
        self.set_tunnels(vpn_id, tunnels, down_minutes=down_minutes)
        if self.emu is not None:
            self.put_tunnel_metrics(vpn_id, tunnels, down_minutes=down_minutes)
            self.create_alarm(vpn_id, "ALARM" if any(t.status == "DOWN" for t in tunnels) else "OK")
        return vpn_id

    def vpn(self, vpn_id: str) -> dict[str, Any]:
        """The connection as `DescribeVpnConnections` answers it (boto3 shape)."""
        return self.ec2.describe_vpn_connections(VpnConnectionIds=[vpn_id])["VpnConnections"][0]

    def delete_vpn(self, vpn_id: str, *, purge: bool = False) -> None:
        """Deletes the connection (`DeleteVpnConnection`: it stays listed as `deleted`, as AWS
        keeps it for a while). `purge` also drops it from moto, as AWS eventually does: then
        `DescribeVpnConnections` on its id answers `InvalidVpnConnectionID.NotFound`."""
        self.ec2.delete_vpn_connection(VpnConnectionId=vpn_id)
        if purge:
            from moto.ec2.models import ec2_backends

            del ec2_backends[self.account][self.region].vpn_connections[vpn_id]

    def set_tunnels(
        self,
        vpn_id: str,
        tunnels: list[Tunnel],
        down_minutes: int = 0,
        changed_at: dict[str, datetime] | None = None,
    ) -> None:
        """Gives a moto VPN connection its tunnels: `VgwTelemetry` and `Options.TunnelOptions`
        (with each tunnel's logging, `Tunnel.log_format`). A DOWN tunnel's `LastStatusChange` is
        `down_minutes` ago, an UP one's the start of the metric history, unless `changed_at`
        gives it (by outside IP). Metrics are separate: `put_tunnel_metrics`.

        WORKAROUND (bench only, never product code): moto 5.2 keeps neither tunnel telemetry
        nor tunnel options — `VPNConnection` is created with `tunnels = None` and
        `options = None`, and `DescribeVpnConnections` returns no `VgwTelemetry`. moto
        serialises its model objects by the botocore shape: for each member it looks up the
        serialisation name, the member name and its snake_case form (`vgwTelemetry`,
        `VgwTelemetry`, `vgw_telemetry`) on the object, or as keys of a dict. So the bench sets
        those attributes on the object in moto's EC2 backend (same process) to plain dicts
        keyed by the shape's member names, and `describe_vpn_connections` returns them like
        AWS does. The customer-gateway configuration document is rewritten to the same
        addresses (moto renders fixed ones).
        """
        from moto.ec2.models import ec2_backends

        connection = ec2_backends[self.account][self.region].vpn_connections[vpn_id]
        now = datetime.now(timezone.utc).replace(microsecond=0)
        changed_at = changed_at or {}
        connection.vgw_telemetry = [
            {
                "OutsideIpAddress": t.outside_ip,
                "Status": t.status,
                "StatusMessage": t.message,
                "AcceptedRouteCount": t.accepted_routes,
                "LastStatusChange": changed_at.get(t.outside_ip)
                or now - timedelta(minutes=down_minutes if t.status == "DOWN" else METRIC_MINUTES),
            }
            for t in tunnels
        ]
        connection.options = {
            "EnableAcceleration": False,
            "StaticRoutesOnly": False,
            "LocalIpv4NetworkCidr": "0.0.0.0/0",
            "RemoteIpv4NetworkCidr": "0.0.0.0/0",
            "OutsideIpAddressType": "PublicIpv4",
            "TunnelInsideIpVersion": "ipv4",
            "TunnelOptions": [
                {
                    "OutsideIpAddress": t.outside_ip,
                    "TunnelInsideCidr": t.inside_cidr,
                    "IkeVersions": [{"Value": "ikev1"}, {"Value": "ikev2"}],
                    "Phase1LifetimeSeconds": 28800,
                    "Phase2LifetimeSeconds": 3600,
                    "DpdTimeoutSeconds": 30,
                    "DpdTimeoutAction": "clear",
                    "StartupAction": "add",
                    "LogOptions": {"CloudWatchLogOptions": self._log_options(vpn_id, t)},
                }
                for t in tunnels
            ],
        }
        config = connection.customer_gateway_configuration.replace(
            "12.1.2.3", CUSTOMER_GATEWAY_IP
        )
        for t in tunnels:  # moto renders 52.2.144.13 as every tunnel's AWS-side address
            config = config.replace("52.2.144.13", t.outside_ip, 1)
        # The member name takes precedence over moto's snake_case property.
        connection.CustomerGatewayConfiguration = config

    def log_group(self, vpn_id: str) -> str:
        """The log group the bench's tunnels log to (when they log)."""
        return f"/vpn/{vpn_id}"

    def _log_options(self, vpn_id: str, tunnel: Tunnel) -> dict[str, Any]:
        """`CloudWatchLogOptions` as DescribeVpnConnections reports it: logging off is
        `LogEnabled: false` and nothing else."""
        if tunnel.log_format is None:
            return {"LogEnabled": False}
        arn = f"arn:aws:logs:{self.region}:{self.account}:log-group:{self.log_group(vpn_id)}"
        return {"LogEnabled": True, "LogGroupArn": arn, "LogOutputFormat": tunnel.log_format}

    def put_tunnel_metrics(
        self,
        vpn_id: str,
        tunnels: list[Tunnel],
        down_minutes: int = DOWN_MINUTES,
        minutes: int = METRIC_MINUTES,
    ) -> dict[str, datetime | None]:
        """Puts the `AWS/VPN` `TunnelState` datapoints AWS publishes for the VPN into the
        emulator's CloudWatch: one a minute (on the minute) over the last `minutes`, per tunnel
        (dimension `TunnelIpAddress`) and for the connection (`VpnId`: the lowest of its
        tunnels). 1 is up, 0 down; a DOWN tunnel is 0 for the last `down_minutes` datapoints
        and 1 before. Returns, per tunnel IP, the time of its first 0 datapoint (None if up)."""
        assert self.emu is not None, "the bench runs without emulator: no CloudWatch"
        latest = datetime.now(timezone.utc).replace(second=0, microsecond=0)
        down_since: dict[str, datetime | None] = {}
        for t in tunnels:
            down = t.status == "DOWN" and down_minutes > 0
            down_since[t.outside_ip] = (
                latest - timedelta(minutes=min(down_minutes, minutes) - 1) if down else None
            )
        for age in range(minutes - 1, -1, -1):  # oldest first
            at = latest - timedelta(minutes=age)
            values = []
            for t in tunnels:
                since = down_since[t.outside_ip]
                value = 0.0 if since is not None and at >= since else 1.0
                values.append(value)
                self.emu.put_metric(
                    "AWS/VPN", "TunnelState", {"TunnelIpAddress": t.outside_ip}, value, at
                )
            if values:
                self.emu.put_metric("AWS/VPN", "TunnelState", {"VpnId": vpn_id}, min(values), at)
        return down_since

    # --- the VPN's alarm (in the emulator's CloudWatch) -------------------------------------

    def alarm_name(self, vpn_id: str) -> str:
        """The VPN's TunnelState alarm, named as the alarm fixtures name it."""
        return f"vpn-tunnel-down-{vpn_id}"

    def create_alarm(self, vpn_id: str, state: str = "ALARM") -> str:
        """The VPN's alarm in the emulator's CloudWatch, as the fixture
        `cloudwatch-alarm-vpn-tunnel-down` describes it (TunnelState Minimum < 1 on VpnId over 3
        minutes), put in `state` with the fixtures' reasons: what `DescribeAlarms` answers
        `resolve`. The emulator evaluates no alarms: `set_alarm_state` moves it. Returns the
        alarm name."""
        name = self.alarm_name(vpn_id)
        fixture = self.alarm_event("cloudwatch-alarm-vpn-tunnel-down", vpn_id)
        self.cloudwatch.put_metric_alarm(
            AlarmName=name,
            AlarmDescription=fixture["detail"]["configuration"]["description"],
            Namespace="AWS/VPN",
            MetricName="TunnelState",
            Dimensions=[{"Name": "VpnId", "Value": vpn_id}],
            Statistic="Minimum",
            Period=60,
            EvaluationPeriods=3,
            Threshold=1.0,
            ComparisonOperator="LessThanThreshold",
        )
        self.set_alarm_state(vpn_id, state)
        return name

    def downstream_alarm(self, vpn_id: str, name: str = "partner-orders-failing") -> dict[str, Any]:
        """An alarm of something behind the VPN (orders to a partner failing), tagged
        `VpnId=<vpn_id>`, put in ALARM in the emulator; returns its state-change event, which
        carries the tag (`alarmTags`) as with tag propagation on."""
        self.cloudwatch.put_metric_alarm(
            AlarmName=name,
            Namespace="Orders",
            MetricName="OrdersFailed",
            Dimensions=[{"Name": "Partner", "Value": "acme"}],
            Statistic="Sum",
            Period=60,
            EvaluationPeriods=1,
            Threshold=5.0,
            ComparisonOperator="GreaterThanOrEqualToThreshold",
            Tags=[{"Key": "VpnId", "Value": vpn_id}],
        )
        self.cloudwatch.set_alarm_state(
            AlarmName=name,
            StateValue="ALARM",
            StateReason="Threshold Crossed: 12 orders to the partner failed in a minute",
        )
        return self.emu.alarm_state_change_event(name)

    def set_alarm_state(self, vpn_id: str, state: str) -> dict[str, Any]:
        """Moves the VPN's alarm to `state` (`ALARM` or `OK`, with the fixtures' reason and
        reason data; `SetAlarmState` in the emulator) and returns the EventBridge
        `CloudWatch Alarm State Change` event of that transition, as CloudWatch would send it
        to `triage` (the emulator's `alarm_state_change_event`)."""
        assert state in ("ALARM", "OK"), state
        fixture = "cloudwatch-alarm-vpn-tunnel-down" if state == "ALARM" else (
            "cloudwatch-alarm-vpn-tunnel-ok"
        )
        detail = self.alarm_event(fixture, vpn_id)["detail"]["state"]
        name = self.alarm_name(vpn_id)
        self.cloudwatch.set_alarm_state(
            AlarmName=name,
            StateValue=state,
            StateReason=detail["reason"],
            StateReasonData=detail["reasonData"],
        )
        return self.emu.alarm_state_change_event(name)

    def alarm_state(self, vpn_id: str) -> str:
        """The VPN alarm's `StateValue`, as DescribeAlarms answers it."""
        [alarm] = self.cloudwatch.describe_alarms(AlarmNames=[self.alarm_name(vpn_id)])[
            "MetricAlarms"
        ]
        return str(alarm["StateValue"])

    def recover(self, vpn_id: str, tunnels: list[Tunnel] | None = None) -> dict[str, Any]:
        """The VPN comes back: its tunnels as given (default: both UP, with routes) in moto,
        its alarm OK in the emulator. A tunnel that was DOWN and is UP now changed status now;
        one still DOWN keeps its time. Returns the alarm's OK event for `triage`."""
        if tunnels is None:
            tunnels = default_tunnels()
            tunnels[0].status, tunnels[0].message, tunnels[0].accepted_routes = "UP", "", 2
        before = {t["OutsideIpAddress"]: t for t in self.vpn(vpn_id).get("VgwTelemetry", [])}
        now = datetime.now(timezone.utc).replace(microsecond=0)
        changed_at = {
            t.outside_ip: (now if before[t.outside_ip]["Status"] != t.status else
                           before[t.outside_ip]["LastStatusChange"])
            for t in tunnels
            if t.outside_ip in before
        }
        self.set_tunnels(vpn_id, tunnels, changed_at=changed_at)
        return self.set_alarm_state(vpn_id, "OK")

    # --- an EC2 instance (moto) and its alarms (the emulator's CloudWatch) --------------------

    def launch_instance(self, name: str) -> str:
        """A running t3.micro named `name` in moto (any of moto's images). moto reports a running
        instance's status checks `ok` and a stopped one's `not-applicable`, and serves a sample
        boot log as its console output. Returns the instance id."""
        image = self.ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
        [instance] = self.ec2.run_instances(
            ImageId=image,
            MinCount=1,
            MaxCount=1,
            InstanceType="t3.micro",
            TagSpecifications=[
                {"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": name}]}
            ],
        )["Instances"]
        return str(instance["InstanceId"])

    def impair_instance(self, instance_id: str, check: str, since: datetime | None = None) -> None:
        """Makes moto report the running instance's `check` ("system" or "instance") `impaired`
        since `since` (default now), until `heal_instance`. moto has no way to fail a status
        check (a running instance always reports both `ok`; test_e2e_instance shows it), so the
        bench overrides moto's answer for that instance, in moto's own process."""
        assert check in ("system", "instance"), check
        _install_status_overrides()
        _IMPAIRED.setdefault(instance_id, {})[check] = since or datetime.now(timezone.utc)

    def heal_instance(self, instance_id: str) -> None:
        """moto reports the instance's checks as it would again (`ok` while it runs)."""
        _IMPAIRED.pop(instance_id, None)

    def instance_alarm(
        self, instance_id: str, state: str, metric: str = "StatusCheckFailed_System"
    ) -> dict[str, Any]:
        """The instance's `metric` alarm (AWS/EC2, Maximum >= 1 over 2 minutes, as the EC2
        console's status-check alarm is), created in the emulator on first use and moved to
        `state` with the fixtures' reasons; returns the EventBridge state-change event."""
        assert state in ("ALARM", "OK"), state
        name = f"{instance_id}-{metric}"
        fixture = "cloudwatch-alarm-ec2-status-check-system" + ("" if state == "ALARM" else "-ok")
        event = json.loads((FIXTURES / f"{fixture}.json").read_text())
        if not self.cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"]:
            self.cloudwatch.put_metric_alarm(
                AlarmName=name,
                AlarmDescription=event["detail"]["configuration"]["description"],
                Namespace="AWS/EC2",
                MetricName=metric,
                Dimensions=[{"Name": "InstanceId", "Value": instance_id}],
                Statistic="Maximum",
                Period=60,
                EvaluationPeriods=2,
                Threshold=1.0,
                ComparisonOperator="GreaterThanOrEqualToThreshold",
            )
        detail = event["detail"]["state"]
        self.cloudwatch.set_alarm_state(
            AlarmName=name,
            StateValue=state,
            StateReason=detail["reason"],
            StateReasonData=detail["reasonData"],
        )
        return self.emu.alarm_state_change_event(name)

    # --- what inspect reads: Lambda functions, target groups, RDS instances (moto) ------------

    def metric_alarm(
        self, name: str, namespace: str, metric: str, dimensions: dict[str, str], state: str,
        fixture: str,
    ) -> dict[str, Any]:
        """An alarm on `namespace`/`metric` with `dimensions`, created in the emulator on first
        use (as `fixture`, one of tests/fixtures/events, describes it) and moved to `state`
        with the fixture's reason (ALARM) or a recovering one (OK); returns the EventBridge
        state-change event."""
        assert state in ("ALARM", "OK"), state
        event = json.loads((FIXTURES / f"{fixture}.json").read_text())
        stat = event["detail"]["configuration"]["metrics"][0]["metricStat"]
        if not self.cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"]:
            self.cloudwatch.put_metric_alarm(
                AlarmName=name,
                AlarmDescription=event["detail"]["configuration"]["description"],
                Namespace=namespace,
                MetricName=metric,
                Dimensions=[{"Name": k, "Value": v} for k, v in dimensions.items()],
                Statistic=stat["stat"],
                Period=stat["period"],
                EvaluationPeriods=1,
                Threshold=1.0,
                ComparisonOperator="GreaterThanOrEqualToThreshold",
            )
        reason = (
            event["detail"]["state"]["reason"] if state == "ALARM"
            else event["detail"]["previousState"]["reason"]
        )
        self.cloudwatch.set_alarm_state(AlarmName=name, StateValue=state, StateReason=reason)
        return self.emu.alarm_state_change_event(name)

    def create_function(self, name: str, reserved: int | None = 10) -> str:
        """A Python Lambda function `name` in moto (512 MB, 30 s), with `reserved` concurrency;
        returns its ARN. moto stores it without running it (nothing here invokes it)."""
        iam = self.client("iam")
        try:
            role = iam.get_role(RoleName="bench-function")["Role"]["Arn"]
        except iam.exceptions.NoSuchEntityException:
            trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {
                "Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
            role = iam.create_role(
                RoleName="bench-function", AssumeRolePolicyDocument=json.dumps(trust)
            )["Role"]["Arn"]
        code = io.BytesIO()
        with zipfile.ZipFile(code, "w") as archive:
            archive.writestr("index.py", "def handler(event, context):\n    return event\n")
        lam = self.client("lambda")
        arn = lam.create_function(
            FunctionName=name, Runtime="python3.12", Role=role, Handler="index.handler",
            Code={"ZipFile": code.getvalue()}, MemorySize=512, Timeout=30,
        )["FunctionArn"]
        if reserved is not None:
            lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=reserved)
        return str(arn)

    def log(self, group: str, lines: list[tuple[datetime, str]]) -> None:
        """Writes `lines` (time, message) into the log group `group` in moto (created on first
        use), as a function's runtime does."""
        logs = self.client("logs")
        if not logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]:
            logs.create_log_group(logGroupName=group)
        stream = f"2026/12/06/[$LATEST]{uuid.uuid4().hex}"
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
        logs.put_log_events(
            logGroupName=group,
            logStreamName=stream,
            logEvents=[
                {"timestamp": int(at.timestamp() * 1000), "message": message}
                for at, message in sorted(lines)
            ],
        )

    def create_target_group(self, name: str, instances: list[str]) -> tuple[str, str]:
        """An application load balancer forwarding to target group `name` (HTTP:80, health
        check /health) with `instances` registered, in moto; returns (load balancer ARN,
        target group ARN). moto reports a running instance's target `healthy` and a stopped
        one's `unused` (Target.InvalidState)."""
        elb = self.client("elbv2")
        vpc = self.ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
        zones = [z["ZoneName"] for z in self.ec2.describe_availability_zones()["AvailabilityZones"]]
        subnets = [
            self.ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.42.{i}.0/24", AvailabilityZone=zone)[
                "Subnet"]["SubnetId"]
            for i, zone in enumerate(zones[:2])
        ]
        [balancer] = elb.create_load_balancer(
            Name=f"{name}-alb", Subnets=subnets, Type="application"
        )["LoadBalancers"]
        [group] = elb.create_target_group(
            Name=name, Protocol="HTTP", Port=80, VpcId=vpc, TargetType="instance",
            HealthCheckProtocol="HTTP", HealthCheckPath="/health",
        )["TargetGroups"]
        elb.create_listener(
            LoadBalancerArn=balancer["LoadBalancerArn"], Protocol="HTTP", Port=80,
            DefaultActions=[{"Type": "forward", "TargetGroupArn": group["TargetGroupArn"]}],
        )
        elb.register_targets(
            TargetGroupArn=group["TargetGroupArn"],
            Targets=[{"Id": instance, "Port": 80} for instance in instances],
        )
        return str(balancer["LoadBalancerArn"]), str(group["TargetGroupArn"])

    def create_database(self, name: str) -> str:
        """A PostgreSQL db.t3.micro `name` with 20 GiB of gp3 in moto (which records its
        `DB instance created` event); returns its ARN."""
        [db] = [self.client("rds").create_db_instance(
            DBInstanceIdentifier=name, DBInstanceClass="db.t3.micro", Engine="postgres",
            AllocatedStorage=20, StorageType="gp3", MasterUsername="bench",
            MasterUserPassword="bench-password-1",
        )["DBInstance"]]
        return str(db["DBInstanceArn"])

    def instance_arn(self, instance_id: str) -> str:
        return f"arn:aws:ec2:{self.region}:{self.account}:instance/{instance_id}"

    def vpn_arn(self, vpn_id: str) -> str:
        return f"arn:aws:ec2:{self.region}:{self.account}:vpn-connection/{vpn_id}"

    def alarm_arn(self, alarm_name: str) -> str:
        return f"arn:aws:cloudwatch:{self.region}:{self.account}:alarm:{alarm_name}"

    # --- events -----------------------------------------------------------------------------

    def alarm_event(self, fixture_name: str, vpn_id: str, **overrides: Any) -> dict[str, Any]:
        """`tests/fixtures/events/<fixture_name>.json` about the bench's VPN: the fixture's VPN
        id (in dimensions, alarm names, alarm tags, ARNs, descriptions), account and region are
        replaced by the bench's. `overrides` then set fields; `__` separates nested keys:
        `alarm_event("…", vpn, id="x", detail__state__timestamp="…")`."""
        text = (FIXTURES / f"{fixture_name}.json").read_text()
        text = text.replace(FIXTURE_VPN_ID, vpn_id)
        text = text.replace(f":{FIXTURE_REGION}:", f":{self.region}:")
        text = text.replace(f'"{FIXTURE_REGION}"', f'"{self.region}"')
        text = text.replace(f":{FIXTURE_ACCOUNT}:", f":{self.account}:")
        text = text.replace(f'"{FIXTURE_ACCOUNT}"', f'"{self.account}"')
        event = json.loads(text)
        for path, value in overrides.items():
            target = event
            *parents, leaf = path.split("__")
            for key in parents:
                target = target.setdefault(key, {})
            target[leaf] = copy.deepcopy(value)
        return event

    def bus_events(
        self, wait: float = 1.0, count: int | None = None, detail_type: str | None = None
    ) -> list[dict[str, Any]]:
        """Every event the responder bus delivered since the last `reset`, in arrival order
        (parsed EventBridge events, read from the SQS queue the bus's rule targets): each one
        the event a Lambda target of the bus receives, to feed to the next function.

        Without `count`, returns what has arrived (moto delivers within `PutEvents`, so after an
        invocation answered its events are there). With `count`, polls for up to `wait`
        seconds until at least `count` events (of `detail_type`, if given) arrived."""
        deadline = time.monotonic() + wait

        def selected() -> list[dict[str, Any]]:
            return [
                e
                for e in self._bus_log
                if detail_type is None or e.get("detail-type") == detail_type
            ]

        while True:
            self._drain_bus_tap()
            if count is None or len(selected()) >= count or time.monotonic() >= deadline:
                return selected()
            time.sleep(0.05)

    def _drain_bus_tap(self) -> None:
        if not self.bus_tap_queue_url:
            return
        while True:
            messages = self.sqs.receive_message(
                QueueUrl=self.bus_tap_queue_url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=0,
                VisibilityTimeout=30,
            ).get("Messages", [])
            if not messages:
                return
            for message in messages:
                event = json.loads(message["Body"])
                # WORKAROUND (bench only): moto 5.2 renders a target's event through its default
                # input template, which leaves out `account`; EventBridge always delivers it
                # (the bus's own account), and functions fed these events may read it.
                event.setdefault("account", self.account)
                self._bus_log.append(event)
                self.sqs.delete_message(
                    QueueUrl=self.bus_tap_queue_url, ReceiptHandle=message["ReceiptHandle"]
                )

    # --- the Slack channel (the Chatbot topic) ---------------------------------------------

    def slack_messages(self, wait: float = 0.0, count: int | None = None) -> list[SlackMessage]:
        """Every message published to the Chatbot topic since the last `reset`, in arrival
        order, as Chatbot would receive it: read from the SQS queue subscribed to the topic,
        `message` the parsed Chatbot custom notification, `attributes` the SNS message
        attributes (Number values as `int`/`float`). Each message is validated against
        `tests/fixtures/chatbot/custom-notification.schema.json` when it is read: one Chatbot
        would drop fails here (`AssertionError` naming the problem).

        moto delivers to the queue within `Publish`; with `count`, polls up to `wait` seconds
        until at least `count` messages arrived."""
        deadline = time.monotonic() + wait
        while True:
            self._drain_slack(validate=True)
            if count is None or len(self._slack_log) >= count or time.monotonic() >= deadline:
                return list(self._slack_log)
            time.sleep(0.05)

    def chatbot_validator(self) -> Any:
        """The jsonschema validator of Chatbot custom notifications (the schema file's own
        draft, with format checking)."""
        if self._chatbot_validator is None:
            import jsonschema

            if not CHATBOT_SCHEMA.is_file():
                raise AssertionError(
                    f"no Chatbot schema at {CHATBOT_SCHEMA}: notify's messages cannot be checked"
                )
            schema = json.loads(CHATBOT_SCHEMA.read_text())
            cls = jsonschema.validators.validator_for(schema)
            cls.check_schema(schema)
            self._chatbot_validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
        return self._chatbot_validator

    def check_chatbot_message(self, message: Any) -> None:
        """Fails (AssertionError listing every violation) unless `message` is a valid Chatbot
        custom notification."""
        errors = sorted(
            self.chatbot_validator().iter_errors(message), key=lambda e: list(e.absolute_path)
        )
        if errors:
            problems = "; ".join(
                f"{'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}"
                for e in errors
            )
            raise AssertionError(
                f"not a valid Chatbot custom notification ({problems}): "
                f"{json.dumps(message)[:2000]}"
            )

    def _drain_slack(self, validate: bool) -> None:
        if not self.slack_queue_url:
            return
        while True:
            messages = self.sqs.receive_message(
                QueueUrl=self.slack_queue_url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=0,
                VisibilityTimeout=30,
            ).get("Messages", [])
            if not messages:
                return
            for raw in messages:
                self.sqs.delete_message(
                    QueueUrl=self.slack_queue_url, ReceiptHandle=raw["ReceiptHandle"]
                )
                if not validate:
                    continue
                envelope = json.loads(raw["Body"])
                assert envelope.get("Type") == "Notification", envelope
                assert envelope.get("TopicArn") == self.notify_topic_arn, envelope
                try:
                    message = json.loads(envelope["Message"])
                except ValueError as e:
                    raise AssertionError(
                        f"not JSON, Chatbot would drop it ({e}): {envelope['Message'][:500]!r}"
                    ) from e
                self.check_chatbot_message(message)
                self._slack_log.append(
                    SlackMessage(
                        message=message,
                        attributes={
                            name: _attribute(value)
                            for name, value in envelope.get("MessageAttributes", {}).items()
                        },
                        message_id=envelope["MessageId"],
                        subject=envelope.get("Subject"),
                    )
                )

    # --- the report bucket ------------------------------------------------------------------

    def _report_keys(self) -> list[str]:
        keys: list[str] = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.report_bucket):
            keys.extend(o["Key"] for o in page.get("Contents", []))
        return keys

    def report_objects(self) -> dict[str, ReportObject]:
        """Every object in the report bucket, by key: its text (UTF-8) and content type."""
        found: dict[str, ReportObject] = {}
        for key in sorted(self._report_keys()):
            response = self.s3.get_object(Bucket=self.report_bucket, Key=key)
            found[key] = ReportObject(
                key=key,
                text=response["Body"].read().decode("utf-8"),
                content_type=response.get("ContentType", ""),
            )
        return found

    # --- the state table --------------------------------------------------------------------

    def state_item(self, pk: str, sk: str) -> dict[str, Any] | None:
        """One row of the state table as plain Python (numbers as `Decimal`), or None."""
        item = self.dynamodb.get_item(
            TableName=STATE_TABLE, Key={"pk": {"S": pk}, "sk": {"S": sk}}, ConsistentRead=True
        ).get("Item")
        return _plain(item) if item is not None else None

    def state_items(self) -> list[dict[str, Any]]:
        """Every row of the state table as plain Python."""
        items: list[dict[str, Any]] = []
        for page in self.dynamodb.get_paginator("scan").paginate(
            TableName=STATE_TABLE, ConsistentRead=True
        ):
            items.extend(_plain(i) for i in page["Items"])
        return items


@dataclass
class SlackMessage:
    """One message on the Chatbot topic, as its SQS subscriber received it."""

    message: dict[str, Any]  # the Chatbot custom notification (validated)
    attributes: dict[str, Any]  # SNS message attributes: str, or int/float for Number
    message_id: str
    subject: str | None = None

    @property
    def content(self) -> dict[str, Any]:
        return dict(self.message.get("content", {}))

    @property
    def metadata(self) -> dict[str, Any]:
        return dict(self.message.get("metadata", {}))

    @property
    def title(self) -> str:
        return str(self.content.get("title", ""))

    @property
    def description(self) -> str:
        return str(self.content.get("description", ""))

    @property
    def next_steps(self) -> list[str]:
        return list(self.content.get("nextSteps", []))

    @property
    def thread(self) -> str | None:
        return self.metadata.get("threadId")

    def text(self) -> str:
        """Title, description and next steps: what a responder reads in Slack."""
        return "\n".join([self.title, self.description, *self.next_steps])


@dataclass
class ReportObject:
    key: str
    text: str
    content_type: str


def _attribute(value: dict[str, Any]) -> Any:
    """An SNS envelope's message attribute: `{"Type": "Number", "Value": "2"}` → 2."""
    if value.get("Type") == "Number":
        number = float(value["Value"])
        return int(number) if number.is_integer() else number
    return value.get("Value")


# --- a backend-neutral view of the incidents in the emulator ----------------------------------


class Incidents:
    """What the responder sees in Incident Manager or OpsCenter (the emulator), one vocabulary
    for both backends: `all()`, `one()`, `id()`, `title()`, `related_arns()`,
    `related_items()`, `timeline()`."""

    def __init__(self, bench: Bench, backend: str) -> None:
        self.bench = bench
        self.backend = backend

    def all(self) -> list[dict[str, Any]]:
        if self.backend == INCIDENT_MANAGER:
            return list(self.bench.emu.incidents())
        return list(self.bench.emu.ops_items())

    def one(self) -> dict[str, Any]:
        found = self.all()
        assert len(found) == 1, f"expected exactly one incident, found {len(found)}: {found}"
        return found[0]

    def id(self, record: dict[str, Any]) -> str:
        if self.backend == INCIDENT_MANAGER:
            return im_record(record)["arn"]
        return record["OpsItemId"]

    def title(self, record: dict[str, Any]) -> str:
        return im_record(record)["title"] if self.backend == INCIDENT_MANAGER else record["Title"]

    def close_in_console(self, record: dict[str, Any]) -> None:
        """A person resolves the incident in the console (the API call the console makes); no
        event about it reaches the responder."""
        if self.backend == INCIDENT_MANAGER:
            self.bench.emulated("ssm-incidents").update_incident_record(
                arn=self.id(record), status="RESOLVED"
            )
        else:
            self.bench.emulated("ssm").update_ops_item(
                OpsItemId=self.id(record), Status="Resolved"
            )

    def impact(self, record: dict[str, Any]) -> int:
        """The impact as the console shows it (OpsCenter: the OpsItem's priority)."""
        if self.backend == INCIDENT_MANAGER:
            return int(im_record(record)["impact"])
        return int(record["Priority"])

    def related_arns(self, record: dict[str, Any]) -> set[str]:
        """ARNs of the resources attached to the incident (related items / `/aws/resources`)."""
        if self.backend == INCIDENT_MANAGER:
            return {
                item["identifier"]["value"]["arn"]
                for item in record.get("relatedItems", [])
                if "arn" in item["identifier"]["value"]
            }
        raw = ops_data(record, "/aws/resources")
        return {element["arn"] for element in json.loads(raw)} if raw else set()

    def related_items(
        self, record: dict[str, Any], kind: str | None = None
    ) -> list[dict[str, str]]:
        """The incident's related items as `{"kind", "title", "value"}` (of `kind`, if given).

        Incident Manager: every related item, `kind` its identifier type (`INVOLVED_RESOURCE`,
        `METRIC`, `OTHER` for a URL, `AUTOMATION`, ...), `value` its ARN, URL or metric
        definition. OpsCenter: each `/aws/resources` element as kind `RESOURCE` (untitled), the
        `responder:related:*` entries (URLs, metric definitions, automation executions) as
        written, and the associated related items (`AssociateOpsItemRelatedItem`) as kind
        `ASSOCIATED`."""
        items: list[dict[str, str]] = []
        if self.backend == INCIDENT_MANAGER:
            for item in record.get("relatedItems", []):
                identifier = item["identifier"]
                items.append(
                    {
                        "kind": identifier["type"],
                        "title": item.get("title", ""),
                        "value": next(iter(identifier["value"].values())),
                    }
                )
        else:
            raw = ops_data(record, "/aws/resources")
            for element in json.loads(raw) if raw else []:
                items.append({"kind": "RESOURCE", "title": "", "value": element["arn"]})
            data = record.get("OperationalData", {})
            for key in sorted(data):
                if key.startswith("responder:related:"):
                    entry = json.loads(data[key]["Value"])
                    items.append(
                        {"kind": entry["kind"], "title": entry["title"], "value": entry["value"]}
                    )
            for related in record.get("relatedItems", []):
                items.append(
                    {
                        "kind": "ASSOCIATED",
                        "title": related.get("ResourceType", ""),
                        "value": related.get("ResourceUri", ""),
                    }
                )
        return [i for i in items if kind is None or i["kind"] == kind]

    def entries(self, record: dict[str, Any]) -> list[dict[str, Any]]:
        """The incident's timeline entries, oldest first, as the responder stored them: each its
        `text` and its machine-readable `kind` with the kind's fields (Incident Manager's
        `eventData`, an OpsItem's `responder:timeline:*` value). Anything else on the timeline
        (the service's own events) reads as kind `external`."""
        if self.backend == INCIDENT_MANAGER:
            events = sorted(record.get("timeline", []), key=lambda e: str(e.get("eventTime")))
            stored = [event.get("eventData", "") for event in events]
        else:
            data = record.get("OperationalData", {})
            stored = [
                data[key]["Value"] for key in sorted(data) if key.startswith("responder:timeline:")
            ]
        entries = []
        for value in stored:
            try:
                entry = json.loads(value)
            except (TypeError, ValueError):
                entry = None
            if not (isinstance(entry, dict) and "text" in entry and "kind" in entry):
                entry = {"kind": "external", "text": value}
            entries.append(entry)
        return entries

    def timeline(self, record: dict[str, Any]) -> list[str]:
        """The texts of the incident's timeline entries, oldest first."""
        return [entry["text"] for entry in self.entries(record)]


def im_record(record: dict[str, Any]) -> dict[str, Any]:
    """The incident record itself (GetIncidentRecord's `incidentRecord`)."""
    return record.get("incidentRecord", record)


def ops_data(ops_item: dict[str, Any], key: str) -> str | None:
    value = ops_item.get("OperationalData", {}).get(key)
    return value["Value"] if value else None


# --- the story, as the end-to-end tests play it --------------------------------------------------


def answered(result: Result, action: str) -> dict[str, Any]:
    """The answer of a successful invocation, checked to be `action`."""
    assert result.kind == "response", f"the invocation failed: {result}"
    assert result.body["action"] == action, f"expected {action}, got {result.body}"
    return result.body


def the_event(bench: Bench, detail_type: str) -> dict[str, Any]:
    """The one `detail_type` event the responder bus delivered (waits for it)."""
    bench.bus_events(count=1, detail_type=detail_type)
    events = bench.bus_events(detail_type=detail_type)
    assert len(events) == 1, f"expected one {detail_type}, got {bench.bus_events()}"
    assert events[0]["source"] == RESPONDER_SOURCE
    return events[0]


def at(minutes_ago: float) -> dict[str, str]:
    """Overrides putting an alarm event `minutes_ago` in the past (EventBridge time and the
    alarm's state timestamp), so the incident is tonight's, not the fixture's."""
    t = datetime.now(timezone.utc) - timedelta(minutes=minutes_ago)
    return {
        "time": t.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "detail__state__timestamp": t.strftime("%Y-%m-%dT%H:%M:%S.")
        + f"{t.microsecond // 1000:03d}+0000",
    }


@dataclass
class Story:
    """Where the story stands, and what it left behind."""

    bench: Bench
    notify: Function
    vpn: str
    detected: datetime
    incident_id: str = ""
    diagnosis: str = ""
    execution_id: str = ""
    notified: int = 0  # how many bus events went to notify so far
    answers: list[tuple[str, Result]] = field(default_factory=list)  # (detail-type, result)

    def tell_notify(self) -> list[tuple[str, Result]]:
        """Every bus event not yet given to notify goes to it, in arrival order, as the bus's
        rule would deliver them; returns (detail-type, result) of each."""
        events = self.bench.bus_events()
        new = []
        for event in events[self.notified :]:
            new.append((event["detail-type"], self.notify.invoke(event)))
        self.notified = len(events)
        self.answers.extend(new)
        return new


def play_to_recovery(
    bench: Bench,
    triage: Function,
    enrich: Function,
    runbook: Function,
    notify: Function,
    vpn: str,
    recovered_tunnels: list[Tunnel] | None = None,
) -> tuple[Story, dict[str, Any]]:
    """The VPN story from the alarm to the OK event's `Signal Recovered` (alarm → triage →
    enrich → runbook started and finished → the VPN recovers → triage; every bus event told to
    notify as it comes); returns the story and the `Signal Recovered` event."""
    down = bench.alarm_event(VPN_ALARM, vpn, **at(6))
    story = Story(bench, notify, vpn, _parse_alarm_time(down["detail"]["state"]["timestamp"]))
    answered(triage.invoke(down), "opened")
    opened = the_event(bench, "Incident Opened")
    story.incident_id = opened["detail"]["incident"]["id"]
    story.tell_notify()

    story.diagnosis = answered(enrich.invoke(opened), "enriched")["summary"]
    story.tell_notify()
    started = answered(runbook.invoke(the_event(bench, "Incident Enriched")), "started")
    story.execution_id = started["execution"]
    story.tell_notify()
    bench.emu.finish_automation(story.execution_id, "Success", {OUTPUT: FINDING})
    status_change = bench.emu.automation_status_change_event(story.execution_id)
    answered(runbook.invoke(status_change), "finished")
    story.tell_notify()

    ok = bench.recover(vpn, recovered_tunnels)
    answered(triage.invoke(ok), "recovered")
    recovered = the_event(bench, "Signal Recovered")
    story.tell_notify()
    return story, recovered


def _parse_alarm_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z")


def _serialise_moto_dynamodb_writes() -> Any:
    """WORKAROUND (bench only): makes moto's DynamoDB writes atomic, as DynamoDB's are.

    moto's server handles requests on concurrent threads, and its `put_item` / `update_item` /
    `delete_item` evaluate a ConditionExpression and then write, with no lock between the two:
    only the GIL's timing keeps two concurrent conditional writes on one key from both
    succeeding (a stress test of 8 racing claims × 200 did not catch it, but nothing prevents
    it). The state table's claims rely on DynamoDB's guarantee that they cannot, and the
    concurrency tests must not depend on luck, so the bench serialises moto's DynamoDB writes
    with one lock. Returns the undo."""
    import functools
    import threading

    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.RLock()
    originals = {}
    for name in ("put_item", "update_item", "delete_item", "transact_write_items"):
        original = getattr(DynamoDBBackend, name)
        originals[name] = original

        def locked(*args: Any, __original: Any = original, **kwargs: Any) -> Any:
            with lock:
                return __original(*args, **kwargs)

        setattr(DynamoDBBackend, name, functools.wraps(original)(locked))

    def restore() -> None:
        for name, original in originals.items():
            setattr(DynamoDBBackend, name, original)

    return restore


_deserializer = TypeDeserializer()


def _plain(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _deserializer.deserialize(v) for k, v in item.items()}

