"""`Emulator`: the state of the emulated services, their in-process API, faults, the server."""

from __future__ import annotations

import threading
from collections import Counter, deque
from datetime import datetime
from typing import Any, Callable

from .cloudtrail import CloudTrail
from .health import Health
from .cloudwatch import CloudWatch
from .common import jsonable, now
from .incidents import IncidentManager
from .server import ALL_OPERATIONS, _Server
from .ssm import Ssm


class Emulator:
    """Incident Manager, SSM (OpsItems, Automation) and CloudWatch (metrics, alarms) on
    127.0.0.1, speaking the real wire protocols.

        emu = Emulator(account="111122223333", region="us-east-1")
        emu.start()          # a free port; serves in a daemon thread
        emu.url              # "http://127.0.0.1:<port>" for AWS_ENDPOINT_URL_{
            SSM_INCIDENTS,SSM,CLOUDWATCH
        }
        ...
        emu.stop()

    Every method is thread-safe (one lock around all state). Values returned in-process are
    deep copies, timestamps as aware UTC `datetime`s (as boto3 returns them).
    """

    def __init__(self, account: str = "111122223333", region: str = "us-east-1"):
        self.account = account
        self.region = region
        self.lock = threading.RLock()
        self.incident_manager = IncidentManager(account, region)
        self.ssm = Ssm(account, region)
        self.cloudwatch = CloudWatch(account, region)
        self.cloudtrail = CloudTrail(account, region)
        self.health = Health(account, region)
        self._faults: dict[str, deque[str | None]] = {}  # None: a call let through
        self._latency: dict[str, float] = {}  # seconds each call of an operation takes
        self._calls: Counter[str] = Counter()
        self._log: deque[dict[str, Any]] = deque(maxlen=2000)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        # Called with (method, path, headers, body) for every request before it is handled,
        # on the handler's thread (the bench records who called what with it).
        self.observer: Callable[[str, str, Any, bytes], None] | None = None

    # --- lifecycle --------------------------------------------------------------------------

    def start(self, port: int = 0) -> "Emulator":
        """Binds 127.0.0.1 (a free port unless `port` is given) and serves in a daemon thread."""
        if self._server is not None:
            return self
        self._server = _Server(self, port)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"aws-emulator-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the emulator is not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        """Stops serving, closes open connections and frees the port (safe to call twice)."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        server.shutdown()
        server.close_connections()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> "Emulator":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def reset(self, keep_response_plans: bool = False) -> None:
        """Forgets everything: records, OpsItems, automations, metrics, alarms, response plans
        (unless keep_response_plans), faults and call counts."""
        with self.lock:
            self.incident_manager.reset(keep_response_plans=keep_response_plans)
            self.ssm.reset()
            self.cloudwatch.reset()
            self.cloudtrail.reset()
            self.health.reset()
            self._faults.clear()
            self._latency.clear()
            self._calls.clear()
            self._log.clear()

    # --- Incident Manager -------------------------------------------------------------------

    def create_response_plan(
        self,
        name: str,
        title: str,
        impact: int,
        dedupe_string: str | None = None,
        chat_sns: list[str] | None = None,
    ) -> str:
        """A response plan (`incidentTemplate` title, impact, optional dedupeString; chat channel
        = the SNS topics in chat_sns). Returns its ARN
        `arn:aws:ssm-incidents::<account>:response-plan/<name>`; the same name again replaces it."""
        with self.lock:
            return self.incident_manager.create_response_plan(
                name, title, impact, dedupe_string=dedupe_string, chat_sns=chat_sns
            )

    def incidents(self) -> list[dict[str, Any]]:
        """Incident records in creation order: the GetIncidentRecord `incidentRecord` plus
        "timeline" (events, including the service's own "SSM Incident Record Update" ones, with
        eventData) and "relatedItems"."""
        with self.lock:
            return self.incident_manager.snapshot()

    # --- SSM --------------------------------------------------------------------------------

    def ops_items(self) -> list[dict[str, Any]]:
        """OpsItems in creation order: the GetOpsItem `OpsItem` plus "relatedItems"
        (AssociateOpsItemRelatedItem summaries)."""
        with self.lock:
            return self.ssm.ops_snapshot()

    def automations(self) -> list[dict[str, Any]]:
        """Automation executions in start order, GetAutomationExecution shape."""
        with self.lock:
            return self.ssm.automations_snapshot()

    def finish_automation(
        self,
        execution_id: str,
        status: str = "Success",
        outputs: dict[str, Any] | None = None,
        failure_message: str | None = None,
    ) -> dict[str, Any]:
        """Ends an execution (status Success, Failed, TimedOut, Cancelled, ...); outputs values
        may be strings or lists of strings. Returns the execution."""
        with self.lock:
            return self.ssm.finish_automation(execution_id, status, outputs, failure_message)

    def automation_status_change_event(self, execution_id: str) -> dict[str, Any]:
        """The EventBridge `EC2 Automation Execution Status-change Notification` event for the
        execution's current status."""
        with self.lock:
            return self.ssm.automation_status_change_event(execution_id)

    @property
    def ops_dedup_mode(self) -> str:
        return self.ssm.ops_dedup_mode

    @ops_dedup_mode.setter
    def ops_dedup_mode(self, mode: str) -> None:
        """What CreateOpsItem answers for a duplicate of an open OpsItem: "return-existing"
        (default: success with the existing OpsItemId) or "already-exists"
        (OpsItemAlreadyExistsException with OpsItemId). Real SSM's answer is not documented."""
        if mode not in ("return-existing", "already-exists"):
            raise ValueError("ops_dedup_mode is 'return-existing' or 'already-exists'")
        with self.lock:
            self.ssm.ops_dedup_mode = mode

    def set_calendar(self, name: str, state: str, next_transition: datetime | None = None) -> None:
        """A Change Calendar GetCalendarState answers for: OPEN or CLOSED, changing next at
        `next_transition` (moto has no Change Calendar)."""
        with self.lock:
            self.ssm.set_calendar(name, state, next_transition)

    def register_document(self, name: str, parameters: dict[str, dict[str, Any]]) -> None:
        """Another Automation runbook StartAutomationExecution accepts: parameter name ->
        {"required": bool, "pattern": regex, "allowed": [values]}."""
        with self.lock:
            self.ssm.register_document(name, parameters)

    # --- CloudWatch -------------------------------------------------------------------------

    def put_metric(
        self,
        namespace: str,
        name: str,
        dimensions: dict[str, str],
        value: float,
        timestamp: datetime | None = None,
        unit: str | None = None,
    ) -> None:
        """Seeds one data point (no PutMetricData rules: `AWS/VPN` is fine here)."""
        with self.lock:
            self.cloudwatch.put_metric(namespace, name, dimensions, value, timestamp, unit)

    def record_trail_event(
        self, resource: str, name: str, time: datetime, by: str = "bench-user",
        read_only: bool = False,
    ) -> str:
        """A CloudTrail management event on `resource` (what `LookupEvents` finds)."""
        with self.lock:
            return self.cloudtrail.record(resource, name, time, by, read_only)

    def record_health_event(
        self, service: str, event_type: str, region: str, start: datetime, status: str = "open"
    ) -> str:
        """An AWS Health issue (what `DescribeEvents` finds); returns its ARN."""
        with self.lock:
            return self.health.record(service, event_type, region, start, status)

    def health_subscription(self, subscribed: bool) -> None:
        """Whether the account has a support plan that lets it call the Health API (without
        one, every call is `SubscriptionRequiredException`)."""
        with self.lock:
            self.health.subscribed = subscribed

    def alarms(self) -> list[dict[str, Any]]:
        """Alarms by name, DescribeAlarms `MetricAlarms` shape plus "transitions"."""
        with self.lock:
            return self.cloudwatch.alarms_snapshot()

    def alarm_state_change_event(
        self, alarm_name: str, account: str | None = None, region: str | None = None
    ) -> dict[str, Any]:
        """The EventBridge `CloudWatch Alarm State Change` event of the alarm's latest state
        change (SetAlarmState to a different state), in the shape of
        tests/fixtures/events/cloudwatch-alarm-vpn-tunnel-down.json. account and region default
        to the emulator's."""
        with self.lock:
            return self.cloudwatch.alarm_state_change_event(
                alarm_name, account or self.account, region or self.region
            )

    # --- faults, calls, introspection -------------------------------------------------------

    def inject(
        self, operation: str, count: int, error: str = "ThrottlingException", after: int = 0
    ) -> None:
        """The next `count` calls of `operation` (API name, e.g. "StartIncident") fail with
        `error` before doing anything (they still count in calls()). With `after`, the `after`
        calls before them go through first (to fail a later step of a handler that calls the
        same operation several times). Faults queue up, in the order injected.

        error: "ThrottlingException" (Incident Manager: HTTP 429, as its model has it; SSM and
        CloudWatch: HTTP 400; the SDKs retry it), "InternalServerError" (HTTP 500: Incident
        Manager's InternalServerException, SSM's InternalServerError, CloudWatch's
        InternalServiceFault), or any other error code (HTTP 400; 403 for
        AccessDeniedException, 503 for ServiceUnavailable).
        """
        if operation not in ALL_OPERATIONS:
            raise ValueError(
                f"unknown operation {operation!r}; the emulator implements: "
                + ", ".join(ALL_OPERATIONS)
            )
        if int(count) < 0 or int(after) < 0:
            raise ValueError("count and after must be >= 0")
        if not error:
            raise ValueError("error must be an error code")
        with self.lock:
            queue = self._faults.setdefault(operation, deque())
            queue.extend([None] * int(after))  # None: this call goes through
            queue.extend([error] * int(count))

    def slow(self, operation: str, seconds: float) -> None:
        """Every call of `operation` takes `seconds` before it answers (as a real service's
        round trip does); calls in parallel wait in parallel. 0 (or `reset`) ends it."""
        if operation not in ALL_OPERATIONS:
            raise ValueError(f"unknown operation {operation!r}")
        with self.lock:
            self._latency[operation] = max(0.0, float(seconds))

    def _latency_of(self, operation: str) -> float:
        with self.lock:
            return self._latency.get(operation, 0.0)

    def calls(self, operation: str) -> int:
        """How many calls of `operation` were received (failed and faulted ones included)."""
        with self.lock:
            return self._calls[operation]

    def all_calls(self) -> dict[str, int]:
        with self.lock:
            return dict(self._calls)

    def requests(self) -> list[dict[str, Any]]:
        """The request log (latest 2000): time, protocol, operation, status, error code/message."""
        with self.lock:
            return [dict(r) for r in self._log]

    def state(self) -> dict[str, Any]:
        """Everything, JSON-ready (timestamps as ISO 8601): what `GET /_bench/state` answers."""
        with self.lock:
            return jsonable(
                {
                    "account": self.account,
                    "region": self.region,
                    "responsePlans": list(self.incident_manager.plans.values()),
                    "incidents": self.incident_manager.snapshot(),
                    "incidentDedupeHits": self.incident_manager.dedupe_hits,
                    "opsItems": self.ssm.ops_snapshot(),
                    "opsItemDedupHits": self.ssm.dedup_hits,
                    "automations": self.ssm.automations_snapshot(),
                    "alarms": self.cloudwatch.alarms_snapshot(),
                    "metrics": self.cloudwatch.metrics_snapshot(),
                    "calls": dict(self._calls),
                    "faults": {
                        op: [f or "(passes)" for f in q] for op, q in self._faults.items() if q
                    },
                }
            )

    # --- used by the server -----------------------------------------------------------------

    def _count(self, operation: str) -> None:
        with self.lock:
            self._calls[operation] += 1

    def _take_fault(self, operation: str) -> str | None:
        with self.lock:
            queue = self._faults.get(operation)
            return queue.popleft() if queue else None

    def _record(
        self,
        protocol: str,
        operation: str,
        status: int,
        code: str | None = None,
        message: str | None = None,
    ) -> None:
        entry: dict[str, Any] = {
            "time": now(), "protocol": protocol, "operation": operation, "status": status
        }
        if code:
            entry["error"] = code
        if message:
            entry["message"] = message
        with self.lock:
            self._log.append(entry)
