"""Amazon CloudWatch metrics and alarms, as aws-sdk-cloudwatch speaks it: Smithy RPC v2 CBOR,
`POST /service/GraniteServiceVersion20100801/operation/<Operation>` (the same operations are
reachable over awsJson1_0 with `X-Amz-Target: GraniteServiceVersion20100801.<Operation>`).

CloudWatch is `awsQueryCompatible`: every error also carries its legacy query code in
`x-amzn-query-error` (the codes are those of botocore's `cloudwatch` model, e.g.
`ResourceNotFound` for `SetAlarmState` on an unknown alarm, `InvalidParameterValue`,
`MissingParameter`, `InvalidParameterCombination`, `InvalidFormat`).

Metric values are kept as statistic sets (min, max, sum, count) per data point, so `Value`,
`Values`/`Counts` and `StatisticValues` all aggregate the same way. `GetMetricData` buckets the
points of exactly matching metrics (namespace, name and the *whole* dimension set, as CloudWatch
does) into periods aligned on the epoch, and computes Minimum, Maximum, Sum, SampleCount or
Average per bucket.
"""

from __future__ import annotations

import json
import math
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from .common import (
    ApiError,
    Checker,
    clone,
    drop_none,
    iso,
    iso_millis_offset,
    now,
    page,
    to_datetime,
)

check = Checker(
    "InvalidParameterValueException",
    400,
    query_code="InvalidParameterValue",
    missing_code="MissingRequiredParameterException",
    missing_query_code="MissingParameter",
)

STATISTICS = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")
STATE_VALUES = ("OK", "ALARM", "INSUFFICIENT_DATA")
COMPARISON_OPERATORS = (
    "GreaterThanOrEqualToThreshold",
    "GreaterThanThreshold",
    "LessThanThreshold",
    "LessThanOrEqualToThreshold",
    "LessThanLowerOrGreaterThanUpperThreshold",
    "LessThanLowerThreshold",
    "GreaterThanUpperThreshold",
)
TREAT_MISSING = ("breaching", "notBreaching", "ignore", "missing")
UNITS = (
    "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes",
    "Terabytes", "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count",
    "Bytes/Second", "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second",
    "Terabytes/Second", "Bits/Second", "Kilobits/Second", "Megabits/Second", "Gigabits/Second",
    "Terabits/Second", "Count/Second", "None",
)  # fmt: skip
STATE_KEYS = (
    "StateValue",
    "StateReason",
    "StateReasonData",
    "StateUpdatedTimestamp",
    "StateTransitionedTimestamp",
)
VALUE_LIMIT = 2.0**360  # "Values must be in the range of -2^360 to 2^360"


def combination(message: str) -> ApiError:
    return ApiError(
        "InvalidParameterCombinationException",
        message,
        400,
        query_code="InvalidParameterCombination",
    )


@dataclass
class Point:
    timestamp: datetime
    minimum: float
    maximum: float
    total: float
    count: float
    unit: str | None


MetricKey = tuple[str, str, frozenset[tuple[str, str]]]


class CloudWatch:
    def __init__(self, account: str, region: str):
        self.account = account
        self.region = region
        self.reset()

    def reset(self) -> None:
        self.metrics: dict[MetricKey, list[Point]] = {}
        self.alarms: dict[str, dict[str, Any]] = {}  # name -> DescribeAlarms MetricAlarm shape
        # name -> DescribeAlarms CompositeAlarm shape (PutCompositeAlarm; no rule evaluation:
        # the state changes only through SetAlarmState, as for metric alarms)
        self.composites: dict[str, dict[str, Any]] = {}
        self.alarm_meta: dict[str, dict[str, Any]] = {}  # name -> tags, event metric id
        self.transitions: dict[str, list[dict[str, Any]]] = {}  # name -> state changes

    # --- in-process -------------------------------------------------------------------------

    def put_metric(
        self,
        namespace: str,
        name: str,
        dimensions: dict[str, str] | None,
        value: float,
        timestamp: datetime | None = None,
        unit: str | None = None,
    ) -> None:
        """Seeds a data point, without PutMetricData's rules (so `AWS/...` namespaces work)."""
        t = to_datetime(timestamp) if timestamp is not None else now()
        v = float(value)
        key = metric_key(namespace, name, dimensions or {})
        self.metrics.setdefault(key, []).append(Point(t, v, v, v, 1.0, unit))

    def alarms_snapshot(self) -> list[dict[str, Any]]:
        out = []
        for name, alarm in sorted(self.alarms.items()):
            entry = clone(alarm)
            entry["transitions"] = clone(self.transitions.get(name, []))
            out.append(entry)
        return out

    def metrics_snapshot(self) -> list[dict[str, Any]]:
        return [
            {
                "Namespace": ns,
                "MetricName": name,
                "Dimensions": [{"Name": k, "Value": v} for k, v in sorted(dims)],
                "Datapoints": [
                    drop_none(
                        {
                            "Timestamp": p.timestamp,
                            "Minimum": p.minimum,
                            "Maximum": p.maximum,
                            "Sum": p.total,
                            "SampleCount": p.count,
                            "Unit": p.unit,
                        }
                    )
                    for p in sorted(points, key=lambda p: p.timestamp)
                ],
            }
            for (ns, name, dims), points in self.metrics.items()
        ]

    def alarm_state_change_event(
        self, alarm_name: str, account: str, region: str
    ) -> dict[str, Any]:
        """The EventBridge `CloudWatch Alarm State Change` event of the alarm's latest state
        transition (SetAlarmState to a different state), shaped like
        tests/fixtures/events/cloudwatch-alarm-vpn-tunnel-down.json."""
        if alarm_name not in self.alarms:
            raise KeyError(f"no alarm {alarm_name}")
        changes = self.transitions.get(alarm_name) or []
        if not changes:
            raise LookupError(f"alarm {alarm_name} has not changed state yet (use SetAlarmState)")
        change = changes[-1]
        alarm = self.alarms[alarm_name]
        arn = f"arn:aws:cloudwatch:{region}:{account}:alarm:{alarm_name}"
        configuration: dict[str, Any] = {}
        if alarm.get("AlarmDescription"):
            configuration["description"] = alarm["AlarmDescription"]
        configuration["metrics"] = self._event_metrics(alarm_name)
        meta = self.alarm_meta.get(alarm_name, {})
        tags = {t["Key"]: t["Value"] for t in meta.get("tags", []) if "Key" in t}
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "CloudWatch Alarm State Change",
            "source": "aws.cloudwatch",
            "account": account,
            "time": iso(change["time"]),
            "region": region,
            "resources": [arn],
            "detail": {
                "alarmName": alarm_name,
                # Tag propagation on: the alarm's tags ride in the event (AWS documents
                # `alarmTags` only then; an alarm without tags carries none).
                **({"alarmTags": tags} if tags else {}),
                "configuration": configuration,
                "previousState": self._event_state(change["previous"]),
                "state": self._event_state(change["state"]),
            },
        }

    # --- operations -------------------------------------------------------------------------

    def PutMetricData(self, p: dict[str, Any]) -> None:
        namespace = check.string(check.required(p, "Namespace"), "Namespace", 1, 255, r"^[^:].*")
        if namespace.startswith("AWS/"):
            raise ApiError(
                "InvalidParameterValueException",
                f"The value {namespace} for parameter Namespace is invalid: namespaces starting "
                "with AWS/ are reserved for AWS services.",
                400,
                query_code="InvalidParameterValue",
            )
        if p.get("EntityMetricData"):
            raise check.fail("EntityMetricData is not supported by the emulator")
        data = check.list(check.required(p, "MetricData"), "MetricData", 1, 1000)
        t_now = now()
        points: list[tuple[MetricKey, Point]] = []
        for i, datum in enumerate(data):
            path = f"MetricData.member.{i + 1}"
            check.struct(datum, path)
            name = check.string(
                check.required(datum, "MetricName", f"{path}.MetricName"),
                f"{path}.MetricName",
                1,
                255,
            )
            dims = self._dimensions(datum.get("Dimensions"), f"{path}.Dimensions")
            t = check.timestamp(datum.get("Timestamp"), f"{path}.Timestamp") or t_now
            if t < t_now - timedelta(days=14) or t > t_now + timedelta(hours=2):
                raise check.fail(
                    f"The parameter {path}.Timestamp must specify a time no more than two weeks "
                    "in the past and no more than two hours in the future."
                )
            unit = check.enum(datum.get("Unit"), f"{path}.Unit", UNITS)
            resolution = check.integer(
                datum.get("StorageResolution"), f"{path}.StorageResolution", 1
            )
            if resolution is not None and resolution not in (1, 60):
                raise check.fail(f"The parameter {path}.StorageResolution must be 1 or 60.")
            given = [k for k in ("Value", "Values", "StatisticValues") if datum.get(k) is not None]
            if len(given) > 1:
                raise combination(
                    f"The parameters {path}.{' and '.join(given)} are mutually exclusive."
                )
            if not given:
                raise ApiError(
                    "MissingRequiredParameterException",
                    f"One of {path}.Value, {path}.Values or {path}.StatisticValues is required.",
                    400,
                    query_code="MissingParameter",
                )
            key = (namespace, name, dims)
            if given[0] == "Value":
                v = self._value(datum["Value"], f"{path}.Value")
                points.append((key, Point(t, v, v, v, 1.0, unit)))
            elif given[0] == "Values":
                values = check.list(datum["Values"], f"{path}.Values", 0, 150)
                counts = check.list(datum.get("Counts"), f"{path}.Counts", 0, 150)
                if counts is not None and len(counts) != len(values):
                    raise combination(
                        f"The parameters {path}.Values and {path}.Counts must be of the same size."
                    )
                for j, raw in enumerate(values):
                    v = self._value(raw, f"{path}.Values.member.{j + 1}")
                    c = self._value(counts[j], f"{path}.Counts.member.{j + 1}") if counts else 1.0
                    if c > 0:
                        points.append((key, Point(t, v, v, v * c, c, unit)))
            else:
                s = check.struct(datum["StatisticValues"], f"{path}.StatisticValues")
                parts = {
                    k: self._value(
                        check.required(s, k, f"{path}.StatisticValues.{k}"),
                        f"{path}.StatisticValues.{k}",
                    )
                    for k in ("SampleCount", "Sum", "Minimum", "Maximum")
                }
                points.append(
                    (
                        key,
                        Point(
                            t,
                            parts["Minimum"],
                            parts["Maximum"],
                            parts["Sum"],
                            parts["SampleCount"],
                            unit,
                        ),
                    )
                )
        for key, point in points:
            self.metrics.setdefault(key, []).append(point)
        return None

    def GetMetricData(self, p: dict[str, Any]) -> dict[str, Any]:
        queries = check.list(check.required(p, "MetricDataQueries"), "MetricDataQueries", 1, 500)
        start = check.timestamp(check.required(p, "StartTime"), "StartTime")
        end = check.timestamp(check.required(p, "EndTime"), "EndTime")
        if start >= end:
            raise check.fail("The parameter StartTime must be less than the parameter EndTime.")
        scan = check.enum(p.get("ScanBy"), "ScanBy", ("TimestampDescending", "TimestampAscending"))
        ids: set[str] = set()
        results = []
        for i, q in enumerate(queries):
            path = f"MetricDataQueries.member.{i + 1}"
            check.struct(q, path)
            qid = check.string(
                check.required(q, "Id", f"{path}.Id"), f"{path}.Id", 1, 255, r"^[a-z][a-zA-Z0-9_]*$"
            )
            if qid in ids:
                raise check.fail(f"The value {qid} for parameter {path}.Id is not unique.")
            ids.add(qid)
            if (q.get("MetricStat") is None) == (q.get("Expression") is None):
                raise combination(
                    f"Exactly one of {path}.MetricStat and {path}.Expression must be set."
                )
            if q.get("Expression") is not None:
                raise check.fail(
                    f"{path}.Expression: metric math is not supported by the emulator."
                )
            stat = check.struct(q["MetricStat"], f"{path}.MetricStat")
            metric = check.struct(
                check.required(stat, "Metric", f"{path}.MetricStat.Metric"),
                f"{path}.MetricStat.Metric",
            )
            period = check.integer(
                check.required(stat, "Period", f"{path}.MetricStat.Period"),
                f"{path}.MetricStat.Period",
                1,
            )
            self._check_period(period, f"{path}.MetricStat.Period")
            statistic = check.string(
                check.required(stat, "Stat", f"{path}.MetricStat.Stat"), f"{path}.MetricStat.Stat"
            )
            if statistic not in STATISTICS:
                raise check.fail(
                    f"{path}.MetricStat.Stat: {statistic} is not supported by the emulator "
                    f"(supported: {', '.join(STATISTICS)})."
                )
            unit = check.enum(stat.get("Unit"), f"{path}.MetricStat.Unit", UNITS)
            namespace = check.string(
                metric.get("Namespace"), f"{path}.MetricStat.Metric.Namespace", 1, 255
            )
            name = check.string(
                metric.get("MetricName"), f"{path}.MetricStat.Metric.MetricName", 1, 255
            )
            dims = self._dimensions(
                metric.get("Dimensions"), f"{path}.MetricStat.Metric.Dimensions"
            )
            if q.get("ReturnData") is False:
                continue
            buckets = self._aggregate((namespace or "", name or "", dims), start, end, period, unit)
            ordered = sorted(buckets.items(), reverse=scan != "TimestampAscending")
            results.append(
                {
                    "Id": qid,
                    "Label": q.get("Label") or name,
                    "Timestamps": [t for t, _ in ordered],
                    "Values": [statistic_of(statistic, pts) for _, pts in ordered],
                    "StatusCode": "Complete",
                    "Messages": [],
                }
            )
        return {"MetricDataResults": results, "Messages": []}

    def DescribeAlarms(self, p: dict[str, Any]) -> dict[str, Any]:
        """`AlarmTypes` absent means metric alarms only ("If you omit this parameter, only metric
        alarms are returned, even if composite alarms exist in the account.",
        API_DescribeAlarms); the other filters apply to every type asked for. One page holds at
        most `MaxRecords` alarms of all types together (metric alarms first)."""
        names = check.list(p.get("AlarmNames"), "AlarmNames", 0, 100)
        prefix = check.string(p.get("AlarmNamePrefix"), "AlarmNamePrefix", 1, 255)
        if names and prefix:
            raise combination("AlarmNames and AlarmNamePrefix cannot be specified together.")
        state = check.enum(p.get("StateValue"), "StateValue", STATE_VALUES)
        types = check.list(p.get("AlarmTypes"), "AlarmTypes") or ["MetricAlarm"]
        for i, t in enumerate(types):
            check.enum(
                t, f"AlarmTypes.member.{i + 1}", ("CompositeAlarm", "MetricAlarm", "LogAlarm")
            )
        action_prefix = check.string(p.get("ActionPrefix"), "ActionPrefix", 1, 1024)
        max_records = check.integer(p.get("MaxRecords"), "MaxRecords", 1, 100)

        def wanted(name: str, alarm: dict[str, Any]) -> bool:
            if names and name not in names:
                return False
            if prefix and not name.startswith(prefix):
                return False
            if state and alarm["StateValue"] != state:
                return False
            return not action_prefix or any(
                a.startswith(action_prefix)
                for a in alarm["AlarmActions"] + alarm["OKActions"] + alarm[
                    "InsufficientDataActions"
                ]
            )

        alarms: list[tuple[str, dict[str, Any]]] = []
        if "MetricAlarm" in types:
            alarms += [
                ("MetricAlarms", a) for n, a in sorted(self.alarms.items()) if wanted(n, a)
            ]
        if "CompositeAlarm" in types:
            alarms += [
                ("CompositeAlarms", a) for n, a in sorted(self.composites.items()) if wanted(n, a)
            ]
        bad_token = ApiError(
            "InvalidNextToken",
            "The service couldn't process the token.",
            400,
            query_code="InvalidNextToken",
        )
        chunk, token = page(alarms, max_records, p.get("NextToken"), 50, bad_token)
        return drop_none(
            {
                "MetricAlarms": [clone(a) for kind, a in chunk if kind == "MetricAlarms"],
                "CompositeAlarms": [clone(a) for kind, a in chunk if kind == "CompositeAlarms"],
                "NextToken": token,
            }
        )

    def PutCompositeAlarm(self, p: dict[str, Any]) -> None:
        """Creates or updates a composite alarm (API_PutCompositeAlarm). The rule is kept, not
        evaluated: a new alarm starts INSUFFICIENT_DATA, an update keeps its state, and
        SetAlarmState changes it, as for metric alarms."""
        name = check.string(check.required(p, "AlarmName"), "AlarmName", 1, 255)
        rule = check.string(check.required(p, "AlarmRule"), "AlarmRule", 1, 10240)
        description = check.string(p.get("AlarmDescription"), "AlarmDescription", 0, 1024)
        actions = {
            key: check.list(p.get(key), key, 0, 5) or []
            for key in ("OKActions", "AlarmActions", "InsufficientDataActions")
        }
        t = now()
        existing = self.composites.get(name)
        state = (
            {k: existing.get(k) for k in STATE_KEYS}
            if existing
            else {
                "StateValue": "INSUFFICIENT_DATA",
                "StateReason": "Unchecked: Initial alarm creation",
                "StateUpdatedTimestamp": t,
                "StateTransitionedTimestamp": t,
            }
        )
        self.composites[name] = drop_none(
            {
                "AlarmName": name,
                "AlarmArn": f"arn:aws:cloudwatch:{self.region}:{self.account}:alarm:{name}",
                "AlarmDescription": description,
                "AlarmRule": rule,
                "AlarmConfigurationUpdatedTimestamp": t,
                "ActionsEnabled": p.get("ActionsEnabled", True) is not False,
                **{k: list(v) for k, v in actions.items()},
                **state,
            }
        )
        self.transitions.setdefault(name, [])
        return None

    def PutMetricAlarm(self, p: dict[str, Any]) -> None:
        name = check.string(check.required(p, "AlarmName"), "AlarmName", 1, 255)
        description = check.string(p.get("AlarmDescription"), "AlarmDescription", 0, 1024)
        actions = {
            key: check.list(p.get(key), key, 0, 5) or []
            for key in ("OKActions", "AlarmActions", "InsufficientDataActions")
        }
        metric_name = check.string(p.get("MetricName"), "MetricName", 1, 255)
        namespace = check.string(p.get("Namespace"), "Namespace", 1, 255, r"^[^:].*")
        statistic = check.enum(p.get("Statistic"), "Statistic", STATISTICS)
        extended = check.string(p.get("ExtendedStatistic"), "ExtendedStatistic")
        dims = self._dimensions(p.get("Dimensions"), "Dimensions")
        period = check.integer(p.get("Period"), "Period", 1)
        unit = check.enum(p.get("Unit"), "Unit", UNITS)
        metrics = check.list(p.get("Metrics"), "Metrics")
        evaluation_periods = check.integer(
            check.required(p, "EvaluationPeriods"), "EvaluationPeriods", 1
        )
        datapoints = check.integer(p.get("DatapointsToAlarm"), "DatapointsToAlarm", 1)
        operator = check.enum(
            check.required(p, "ComparisonOperator"), "ComparisonOperator", COMPARISON_OPERATORS
        )
        threshold_metric = check.string(p.get("ThresholdMetricId"), "ThresholdMetricId", 1, 255)
        threshold = check.number(p.get("Threshold"), "Threshold")
        if threshold is None and threshold_metric is None:
            check.required(p, "Threshold")
        treat_missing = check.enum(p.get("TreatMissingData"), "TreatMissingData", TREAT_MISSING)
        if metrics and (metric_name or namespace or statistic or extended or dims or period):
            raise combination(
                "Metrics cannot be combined with MetricName, Namespace, Statistic, Dimensions "
                "or Period."
            )
        if not metrics:
            if not metric_name or not namespace:
                raise ApiError(
                    "MissingRequiredParameterException",
                    "MetricName and Namespace (or Metrics) must be specified.",
                    400,
                    query_code="MissingParameter",
                )
            if (statistic is None) == (extended is None):
                raise combination(
                    "Exactly one of Statistic and ExtendedStatistic must be specified."
                )
            if period is None:
                check.required(p, "Period")
            self._check_period(period, "Period")
        if datapoints is not None and datapoints > evaluation_periods:
            raise check.fail("DatapointsToAlarm must be less than or equal to EvaluationPeriods.")

        t = now()
        existing = self.alarms.get(name)
        # An update keeps the alarm's state; a new alarm starts INSUFFICIENT_DATA.
        state = (
            {k: existing.get(k) for k in STATE_KEYS}
            if existing
            else {
                "StateValue": "INSUFFICIENT_DATA",
                "StateReason": "Unchecked: Initial alarm creation",
                "StateUpdatedTimestamp": t,
                "StateTransitionedTimestamp": t,
            }
        )
        alarm = drop_none(
            {
                "AlarmName": name,
                "AlarmArn": f"arn:aws:cloudwatch:{self.region}:{self.account}:alarm:{name}",
                "AlarmDescription": description,
                "AlarmConfigurationUpdatedTimestamp": t,
                "ActionsEnabled": p.get("ActionsEnabled", True) is not False,
                **{k: list(v) for k, v in actions.items()},
                **state,
                "MetricName": metric_name,
                "Namespace": namespace,
                "Statistic": statistic,
                "ExtendedStatistic": extended,
                # as put, in the caller's order (DescribeAlarms echoes the configuration)
                "Dimensions": [
                    {"Name": n, "Value": v} for n, v in dimension_list(p.get("Dimensions"))
                ]
                if not metrics
                else None,
                "Period": period,
                "Unit": unit,
                "EvaluationPeriods": evaluation_periods,
                "DatapointsToAlarm": datapoints,
                "Threshold": threshold,
                "ComparisonOperator": operator,
                "TreatMissingData": treat_missing or "missing",
                "Metrics": clone(metrics) if metrics else None,
                "ThresholdMetricId": threshold_metric,
            }
        )
        self.alarms[name] = alarm
        meta = self.alarm_meta.setdefault(name, {"metricId": str(uuid.uuid4())})
        meta["tags"] = clone(p.get("Tags") or [])
        self.transitions.setdefault(name, [])
        return None

    def SetAlarmState(self, p: dict[str, Any]) -> None:
        name = check.string(check.required(p, "AlarmName"), "AlarmName", 1, 255)
        value = check.enum(check.required(p, "StateValue"), "StateValue", STATE_VALUES)
        reason = check.string(check.required(p, "StateReason"), "StateReason", 0, 1023)
        reason_data = check.string(p.get("StateReasonData"), "StateReasonData", 0, 4000)
        if reason_data is not None:
            try:
                json.loads(reason_data)
            except ValueError:
                raise ApiError(
                    "InvalidFormatFault",
                    "StateReasonData is not valid JSON.",
                    400,
                    query_code="InvalidFormat",
                )
        alarm = self.alarms.get(name) or self.composites.get(name)
        if alarm is None:
            raise ApiError(
                "ResourceNotFound",
                f"Alarm {name} does not exist.",
                404,
                query_code="ResourceNotFound",
            )
        t = now()
        previous = self._state_of(alarm)
        alarm["StateValue"] = value
        alarm["StateReason"] = reason
        if reason_data is not None:
            alarm["StateReasonData"] = reason_data
        else:
            alarm.pop("StateReasonData", None)
        alarm["StateUpdatedTimestamp"] = t
        if value != previous["value"]:
            # Only a change of state is a transition (and an EventBridge event).
            alarm["StateTransitionedTimestamp"] = t
            self.transitions.setdefault(name, []).append(
                {"time": t, "previous": previous, "state": self._state_of(alarm)}
            )
        return None

    # --- helpers ----------------------------------------------------------------------------

    def _dimensions(self, value: Any, path: str) -> frozenset[tuple[str, str]]:
        dims = check.list(value, path, 0, 30) or []
        out = []
        for i, d in enumerate(dims):
            dpath = f"{path}.member.{i + 1}"
            check.struct(d, dpath)
            n = check.string(check.required(d, "Name", f"{dpath}.Name"), f"{dpath}.Name", 1, 255)
            v = check.string(
                check.required(d, "Value", f"{dpath}.Value"), f"{dpath}.Value", 1, 1024
            )
            out.append((n, v))
        if len({n for n, _ in out}) != len(out):
            raise check.fail(f"{path}: dimension names must be unique.")
        return frozenset(out)

    def _value(self, raw: Any, path: str) -> float:
        v = check.number(raw, path)
        if v is None or not math.isfinite(v) or abs(v) > VALUE_LIMIT:
            raise check.fail(f"The value {raw} for parameter {path} is invalid.")
        return v

    def _check_period(self, period: int | None, path: str) -> None:
        if period is not None and period not in (1, 5, 10, 20, 30) and period % 60 != 0:
            raise check.fail(
                f"The parameter {path} must be 1, 5, 10, 20, 30, 60, or any multiple of 60."
            )

    def _aggregate(
        self, key: MetricKey, start: datetime, end: datetime, period: int, unit: str | None
    ) -> dict[datetime, list[Point]]:
        buckets: dict[datetime, list[Point]] = {}
        for point in self.metrics.get(key, []):
            if not start <= point.timestamp < end:
                continue
            if unit is not None and point.unit != unit:
                continue
            epoch = point.timestamp.timestamp()
            bucket = datetime.fromtimestamp(epoch - (epoch % period), start.tzinfo)
            buckets.setdefault(bucket, []).append(point)
        return buckets

    def _state_of(self, alarm: dict[str, Any]) -> dict[str, Any]:
        return drop_none(
            {
                "value": alarm["StateValue"],
                "reason": alarm["StateReason"],
                "reasonData": alarm.get("StateReasonData"),
                "timestamp": alarm["StateUpdatedTimestamp"],
            }
        )

    def _event_state(self, state: dict[str, Any]) -> dict[str, Any]:
        out = {"reason": state["reason"]}
        if state.get("reasonData") is not None:
            out["reasonData"] = state["reasonData"]
        out["timestamp"] = iso_millis_offset(state["timestamp"])
        out["value"] = state["value"]
        return out

    def _event_metrics(self, name: str) -> list[dict[str, Any]]:
        alarm = self.alarms[name]
        if alarm.get("Metrics"):
            out = []
            for q in alarm["Metrics"]:
                entry: dict[str, Any] = {"id": q["Id"]}
                if q.get("MetricStat"):
                    stat = q["MetricStat"]
                    m = stat["Metric"]
                    entry["metricStat"] = {
                        "metric": drop_none(
                            {
                                "dimensions": {
                                    d["Name"]: d["Value"] for d in m.get("Dimensions", [])
                                },
                                "name": m.get("MetricName"),
                                "namespace": m.get("Namespace"),
                            }
                        ),
                        "period": stat["Period"],
                        "stat": stat["Stat"],
                    }
                if q.get("Expression"):
                    entry["expression"] = q["Expression"]
                if q.get("Label"):
                    entry["label"] = q["Label"]
                entry["returnData"] = q.get("ReturnData", True) is not False
                out.append(entry)
            return out
        return [
            {
                "id": self.alarm_meta[name]["metricId"],
                "metricStat": {
                    "metric": {
                        "dimensions": {d["Name"]: d["Value"] for d in alarm.get("Dimensions", [])},
                        "name": alarm["MetricName"],
                        "namespace": alarm["Namespace"],
                    },
                    "period": alarm["Period"],
                    "stat": alarm.get("Statistic") or alarm.get("ExtendedStatistic"),
                },
                "returnData": True,
            }
        ]


def metric_key(namespace: str, name: str, dimensions: dict[str, str]) -> MetricKey:
    return namespace, name, frozenset((str(k), str(v)) for k, v in dimensions.items())


def dimension_list(value: Any) -> list[tuple[str, str]]:
    """Validated `Dimensions` as (name, value) pairs in the order given."""
    return [(d["Name"], d["Value"]) for d in value or []]


def statistic_of(statistic: str, points: list[Point]) -> float:
    count = sum(p.count for p in points)
    if statistic == "Minimum":
        return float(min(p.minimum for p in points))
    if statistic == "Maximum":
        return float(max(p.maximum for p in points))
    if statistic == "Sum":
        return float(sum(p.total for p in points))
    if statistic == "SampleCount":
        return float(count)
    return float(sum(p.total for p in points) / count) if count else 0.0

