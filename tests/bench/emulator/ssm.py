"""AWS Systems Manager (`ssm`), awsJson1_1: OpsCenter OpsItems, Automation executions and
Change Calendar state (`GetCalendarState`, calendars set with `set_calendar`).

Requests are `POST /` with `X-Amz-Target: AmazonSSM.<Operation>`. Shapes and limits follow the
API reference (`API_CreateOpsItem.html`, `API_UpdateOpsItem.html`, `API_DescribeOpsItems.html`,
`API_AssociateOpsItemRelatedItem.html`, `API_StartAutomationExecution.html`, ...) and botocore's
`ssm` model. Constraints the model declares (required members, lengths, ranges, patterns) fail
with `ValidationException`, as AWS's request validation does; the OpsCenter rules the model does
not express (Source words, Severity, Category, operational-data keys and sizes, `/aws/dedup`)
fail with `OpsItemInvalidParameterException` and its `ParameterNames`.
"""

from __future__ import annotations

import json
import re
import secrets
import uuid
from datetime import datetime, timezone
from typing import Any

from .common import ApiError, Checker, clone, drop_none, iso, now, page

check = Checker("ValidationException", 400)

OPS_CATEGORIES = ("Availability", "Cost", "Performance", "Recovery", "Security")
OPS_SEVERITIES = ("1", "2", "3", "4")
# For OpsItems of the default type (/aws/issue) these are the statuses that apply.
OPS_STATUSES = ("Open", "InProgress", "Resolved")
OPS_DATA_VALUE_MAX_BYTES = 20 * 1024  # "The value has a maximum size of 20 KB."
# "Operational data keys can't begin with the following: amazon, aws, amzn, ssm, /amazon, /aws,
# /amzn, /ssm." — except the documented reserved keys, which exist to be set.
OPS_DATA_FORBIDDEN_PREFIXES = ("amazon", "aws", "amzn", "ssm", "/amazon", "/aws", "/amzn", "/ssm")
OPS_DATA_RESERVED_KEYS = ("/aws/dedup", "/aws/resources", "/aws/automations")
# AssociateOpsItemRelatedItem: the resource types and association types OpsCenter supports.
RELATED_RESOURCE_TYPES = ("AWS::SSMIncidents::IncidentRecord", "AWS::SSM::Document")
ASSOCIATION_TYPES = ("RelatesTo", "IsParentOf")

# The members of an OpsItemSummary (DescribeOpsItems): an OpsItem without Description, ...
SUMMARY_KEYS = (
    "CreatedBy", "CreatedTime", "LastModifiedBy", "LastModifiedTime", "Priority", "Source",
    "Status", "OpsItemId", "Title", "OperationalData", "Category", "Severity", "OpsItemType",
    "ActualStartTime", "ActualEndTime", "PlannedStartTime", "PlannedEndTime",
)  # fmt: skip
# DescribeOpsItems filter keys that compare an OpsItem member of the same name.
SUMMARY_FILTER_KEYS = (
    "Status",
    "OpsItemId",
    "Title",
    "Source",
    "Priority",
    "Severity",
    "Category",
    "CreatedBy",
    "OpsItemType",
)
AUTOMATION_TERMINAL = (
    "Success",
    "Failed",
    "TimedOut",
    "Cancelled",
    "CompletedWithSuccess",
    "CompletedWithFailure",
)

_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
IPV4 = rf"^({_OCTET}\.){{3}}{_OCTET}$"

# Automation runbooks the emulator knows, with their parameters (type String, one value each).
# AWSSupport-TroubleshootVPN: https://docs.aws.amazon.com/systems-manager-automation-runbooks/
# latest/userguide/automation-aws-troubleshoot-vpn.html (handbook, aws-reference.md).
DOCUMENTS: dict[str, dict[str, dict[str, Any]]] = {
    "AWSSupport-TroubleshootVPN": {
        "VpnConnectionId": {"required": True, "pattern": r"^vpn-[0-9a-f]{8,17}$"},
        "TunnelAIPAddress": {"required": True, "pattern": IPV4},
        "TunnelBIPAddress": {"required": False, "pattern": IPV4},
        "IKEVersion": {"required": True, "allowed": ["IKEv1", "IKEv2"]},
        "LogGroupName": {"required": True, "pattern": r"^[\.\-_/#A-Za-z0-9]{1,512}$"},
        "LookBackPeriod": {"required": False, "pattern": r"^(0[1-9]|[1-9][0-9])$"},
        "AutomationAssumeRole": {
            "required": False,
            "pattern": r"^arn:aws[a-z0-9-]*:iam::\d{12}:role/[\w+=/,.@-]+$",
        },
    },
}


def invalid_parameter(names: list[str], message: str) -> ApiError:
    return ApiError(
        "OpsItemInvalidParameterException", message, 400, fields={"ParameterNames": names}
    )


def ops_item_not_found(ops_item_id: str) -> ApiError:
    return ApiError("OpsItemNotFoundException", f"OpsItem with id {ops_item_id} not found", 400)


class Ssm:
    def __init__(self, account: str, region: str):
        self.account = account
        self.region = region
        self.caller = f"arn:aws:sts::{account}:assumed-role/bench-caller/emulator"
        # What CreateOpsItem answers while an open OpsItem has the same /aws/dedup string:
        # "return-existing" (success, the existing OpsItemId) or "already-exists"
        # (OpsItemAlreadyExistsException carrying OpsItemId). See CreateOpsItem.
        self.ops_dedup_mode = "return-existing"
        self.documents = clone(DOCUMENTS)
        self.reset()

    def reset(self) -> None:
        self.ops_items: dict[str, dict[str, Any]] = {}  # id -> GetOpsItem shape, creation order
        self.ops_tags: dict[str, list[dict[str, str]]] = {}
        self.ops_related: dict[str, list[dict[str, Any]]] = {}  # id -> related item summaries
        self.dedup_hits: list[dict[str, Any]] = []
        self.automations: dict[str, dict[str, Any]] = {}  # id -> GetAutomationExecution shape
        self.automation_tokens: dict[str, tuple[str, Any]] = {}  # ClientToken -> (id, request)
        # Change Calendars: name -> {"state": OPEN|CLOSED, "next": datetime | None}
        self.calendars: dict[str, dict[str, Any]] = {}

    # --- in-process -------------------------------------------------------------------------

    def ops_snapshot(self) -> list[dict[str, Any]]:
        out = []
        for item_id, item in self.ops_items.items():
            entry = clone(item)
            entry["relatedItems"] = clone(self.ops_related.get(item_id, []))
            out.append(entry)
        return out

    def automations_snapshot(self) -> list[dict[str, Any]]:
        return [self._execution_view(a) for a in self.automations.values()]

    def finish_automation(
        self,
        execution_id: str,
        status: str = "Success",
        outputs: dict[str, Any] | None = None,
        failure_message: str | None = None,
    ) -> dict[str, Any]:
        execution = self.automations.get(execution_id)
        if execution is None:
            raise KeyError(f"no automation execution {execution_id}")
        if status not in AUTOMATION_TERMINAL:
            raise ValueError(f"status must be one of {AUTOMATION_TERMINAL}, not {status!r}")
        execution["AutomationExecutionStatus"] = status
        execution["ExecutionEndTime"] = now()
        execution["Outputs"] = {
            k: [str(x) for x in v] if isinstance(v, (list, tuple)) else [str(v)]
            for k, v in (outputs or {}).items()
        }
        if failure_message:
            execution["FailureMessage"] = failure_message
        elif status == "Failed":
            execution.setdefault("FailureMessage", "Step fails when it is executing (bench).")
        return clone(execution)

    def automation_status_change_event(self, execution_id: str) -> dict[str, Any]:
        """The EventBridge event Automation sends on a status change (source `aws.ssm`,
        detail-type `EC2 Automation Execution Status-change Notification`), for the execution's
        current status. Detail members as in the documented example / aws_lambda_events'
        `EC2AutomationExecutionStatusChange`."""
        e = self.automations[execution_id]
        start: datetime = e["ExecutionStartTime"]
        end: datetime = e.get("ExecutionEndTime") or now()
        fmt = "%b %d, %Y %I:%M:%S %p"
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "EC2 Automation Execution Status-change Notification",
            "source": "aws.ssm",
            "account": self.account,
            "time": iso(end),
            "region": self.region,
            "resources": [
                f"arn:aws:ssm:{self.region}:{self.account}:automation-execution/{execution_id}",
                f"arn:aws:ssm:{self.region}:{self.account}:automation-definition/"
                f"{e['DocumentName']}:{e['DocumentVersion']}",
            ],
            "detail": {
                "ExecutionId": execution_id,
                "Definition": e["DocumentName"],
                "DefinitionVersion": float(e["DocumentVersion"]),
                "Status": e["AutomationExecutionStatus"],
                "StartTime": start.strftime(fmt),
                "EndTime": end.strftime(fmt),
                "Time": round((end - start).total_seconds() * 1000.0, 1),
                "ExecutedBy": e["ExecutedBy"],
            },
        }

    def set_calendar(self, name: str, state: str, next_transition: Any = None) -> None:
        """A Change Calendar (a `ChangeCalendar` document) and its state now: OPEN or CLOSED,
        and when it changes next (a datetime, or None)."""
        assert state in ("OPEN", "CLOSED"), state
        self.calendars[name] = {"state": state, "next": next_transition}

    def register_document(self, name: str, parameters: dict[str, dict[str, Any]]) -> None:
        """Teach the emulator another Automation runbook: parameter name -> {"required": bool,
        "pattern": regex?, "allowed": [values]?}."""
        self.documents[name] = clone(parameters)

    # --- OpsItems ---------------------------------------------------------------------------

    def CreateOpsItem(self, p: dict[str, Any]) -> dict[str, Any]:
        description = check.required(p, "Description")
        check.string(description, "Description", 1, 2048, r"[\s\S]*\S[\s\S]*")
        source = check.string(check.required(p, "Source"), "Source", 1, 128, r"^(?!\s*$).+")
        title = check.string(check.required(p, "Title"), "Title", 1, 1024, r"^(?!\s*$).+")
        if re.search(r"aws|amazon|amzn", source, re.IGNORECASE):
            raise invalid_parameter(
                ["Source"],
                "The source name can't contain the following strings: aws, amazon, and amzn.",
            )
        self._common_fields(p)
        data = self._operational_data(p.get("OperationalData"))
        notifications = self._notifications(p.get("Notifications"))
        related_ops = self._related_ops_items(p.get("RelatedOpsItems"))
        tags = check.list(p.get("Tags"), "Tags", 0, 1000) or []
        for i, tag in enumerate(tags):
            check.string(
                check.required(tag, "Key", f"Tags.{i + 1}.member.Key"),
                f"Tags.{i + 1}.member.Key",
                1,
                128,
            )
            check.string(
                check.required(tag, "Value", f"Tags.{i + 1}.member.Value"),
                f"Tags.{i + 1}.member.Value",
                0,
                256,
            )
        check.string(p.get("AccountId"), "AccountId", pattern=r"^[0-9]{12}$")
        item_type = check.string(p.get("OpsItemType"), "OpsItemType") or "/aws/issue"

        dedup = dedup_string(data)
        if dedup is not None:
            # OpsCenter: "If the status of an existing OpsItem is open or in progress, the
            # OpsItem is not created. If the existing OpsItem is resolved, Systems Manager creates
            # a new OpsItem." What CreateOpsItem *answers* in that case is not documented; the
            # emulator answers with the existing OpsItem's id (or, with ops_dedup_mode
            # "already-exists", OpsItemAlreadyExistsException carrying that id).
            for existing in self.ops_items.values():
                if existing["Status"] in ("Open", "InProgress") and (
                    dedup_string(existing.get("OperationalData", {})) == dedup
                ):
                    self.dedup_hits.append(
                        {
                            "OpsItemId": existing["OpsItemId"],
                            "dedupString": dedup,
                            "Title": title,
                            "time": now(),
                        }
                    )
                    if self.ops_dedup_mode == "already-exists":
                        raise ApiError(
                            "OpsItemAlreadyExistsException",
                            f"The OpsItem already exists: {existing['OpsItemId']}",
                            400,
                            fields={"OpsItemId": existing["OpsItemId"]},
                        )
                    return {
                        "OpsItemId": existing["OpsItemId"], "OpsItemArn": existing["OpsItemArn"]
                    }

        t = now()
        item_id = "oi-" + secrets.token_hex(6)
        while item_id in self.ops_items:
            item_id = "oi-" + secrets.token_hex(6)
        arn = f"arn:aws:ssm:{self.region}:{self.account}:opsitem/{item_id}"
        item = drop_none(
            {
                "OpsItemId": item_id,
                "OpsItemArn": arn,
                "OpsItemType": item_type,
                "Title": title,
                "Description": description,
                "Source": source,
                "Status": "Open",
                "Priority": p.get("Priority"),
                "Severity": p.get("Severity"),
                "Category": p.get("Category"),
                "OperationalData": data,
                "Notifications": notifications,
                "RelatedOpsItems": related_ops,
                "CreatedBy": self.caller,
                "CreatedTime": t,
                "LastModifiedBy": self.caller,
                "LastModifiedTime": t,
                "Version": str(uuid.uuid4()),
                "ActualStartTime": check.timestamp(p.get("ActualStartTime"), "ActualStartTime"),
                "ActualEndTime": check.timestamp(p.get("ActualEndTime"), "ActualEndTime"),
                "PlannedStartTime": check.timestamp(p.get("PlannedStartTime"), "PlannedStartTime"),
                "PlannedEndTime": check.timestamp(p.get("PlannedEndTime"), "PlannedEndTime"),
            }
        )
        self.ops_items[item_id] = item
        self.ops_tags[item_id] = clone(tags)
        self.ops_related[item_id] = []
        return {"OpsItemId": item_id, "OpsItemArn": arn}

    def GetOpsItem(self, p: dict[str, Any]) -> dict[str, Any]:
        item = self._ops_item(p)
        return {"OpsItem": clone(item)}

    def UpdateOpsItem(self, p: dict[str, Any]) -> dict[str, Any]:
        item = self._ops_item(p)
        check.string(p.get("Title"), "Title", 1, 1024, r"^(?!\s*$).+")
        check.string(p.get("Description"), "Description", 1, 2048, r"[\s\S]*\S[\s\S]*")
        status = p.get("Status")
        if status is not None and status not in OPS_STATUSES:
            raise invalid_parameter(
                ["Status"], f"Status must be one of {', '.join(OPS_STATUSES)} for this OpsItem"
            )
        self._common_fields(p)
        data = self._operational_data(p.get("OperationalData"))
        to_delete = check.list(p.get("OperationalDataToDelete"), "OperationalDataToDelete") or []
        notifications = self._notifications(p.get("Notifications"))
        related_ops = self._related_ops_items(p.get("RelatedOpsItems"))
        current = item.get("OperationalData", {})
        if data and "/aws/dedup" in data and "/aws/dedup" in current and (
            data["/aws/dedup"].get("Value") != current["/aws/dedup"].get("Value")
        ):
            raise invalid_parameter(
                ["OperationalData"],
                "After you create an OpsItem, you can't edit or change its deduplication string.",
            )
        if "/aws/dedup" in to_delete and "/aws/dedup" in current:
            raise invalid_parameter(
                ["OperationalDataToDelete"],
                "The deduplication string of an OpsItem can't be deleted.",
            )

        merged = dict(current)
        for key in to_delete:
            merged.pop(key, None)
        merged.update(data or {})
        if merged:
            item["OperationalData"] = merged
        else:
            item.pop("OperationalData", None)
        for key in ("Title", "Description", "Priority", "Severity", "Category", "Status"):
            if p.get(key) is not None:
                item[key] = p[key]
        for key in ("ActualStartTime", "ActualEndTime", "PlannedStartTime", "PlannedEndTime"):
            if p.get(key) is not None:
                item[key] = check.timestamp(p[key], key)
        if notifications is not None:
            item["Notifications"] = notifications
        if related_ops is not None:
            item["RelatedOpsItems"] = related_ops
        item["LastModifiedBy"] = self.caller
        item["LastModifiedTime"] = now()
        item["Version"] = str(uuid.uuid4())
        return {}

    def DescribeOpsItems(self, p: dict[str, Any]) -> dict[str, Any]:
        max_results = check.integer(p.get("MaxResults"), "MaxResults", 1, 50)
        filters = check.list(p.get("OpsItemFilters"), "OpsItemFilters") or []
        items = list(self.ops_items.values())
        for i, f in enumerate(filters):
            items = [
                it for it in items if self._ops_filter(it, f, f"OpsItemFilters.{i + 1}.member")
            ]
        items.sort(key=lambda it: it["CreatedTime"], reverse=True)
        chunk, token = page(
            items, max_results, p.get("NextToken"), 50, check.fail("invalid NextToken")
        )
        summaries = [{k: clone(it[k]) for k in SUMMARY_KEYS if k in it} for it in chunk]
        return drop_none({"OpsItemSummaries": summaries, "NextToken": token})

    def AssociateOpsItemRelatedItem(self, p: dict[str, Any]) -> dict[str, Any]:
        item = self._ops_item(p)
        association = check.string(check.required(p, "AssociationType"), "AssociationType")
        resource_type = check.string(check.required(p, "ResourceType"), "ResourceType")
        uri = check.string(check.required(p, "ResourceUri"), "ResourceUri")
        if association not in ASSOCIATION_TYPES:
            raise invalid_parameter(
                ["AssociationType"],
                f"AssociationType must be one of {', '.join(ASSOCIATION_TYPES)}",
            )
        if resource_type not in RELATED_RESOURCE_TYPES:
            raise invalid_parameter(
                ["ResourceType"], f"ResourceType must be one of {', '.join(RELATED_RESOURCE_TYPES)}"
            )
        related = self.ops_related.setdefault(item["OpsItemId"], [])
        if any(r["ResourceUri"] == uri for r in related):
            raise ApiError(
                "OpsItemRelatedItemAlreadyExistsException",
                f"The related item {uri} is already associated with {item['OpsItemId']}",
                400,
                fields={"ResourceUri": uri, "OpsItemId": item["OpsItemId"]},
            )
        t = now()
        association_id = str(uuid.uuid4())
        related.append(
            {
                "OpsItemId": item["OpsItemId"],
                "AssociationId": association_id,
                "ResourceType": resource_type,
                "AssociationType": association,
                "ResourceUri": uri,
                "CreatedBy": {"Arn": self.caller},
                "CreatedTime": t,
                "LastModifiedBy": {"Arn": self.caller},
                "LastModifiedTime": t,
            }
        )
        return {"AssociationId": association_id}

    def ListOpsItemRelatedItems(self, p: dict[str, Any]) -> dict[str, Any]:
        ops_item_id = check.string(p.get("OpsItemId"), "OpsItemId", pattern=r"^(oi)-[0-9a-f]{12}$")
        max_results = check.integer(p.get("MaxResults"), "MaxResults", 1, 50)
        filters = check.list(p.get("Filters"), "Filters") or []
        if ops_item_id is not None:
            related = list(self.ops_related.get(ops_item_id, []))
        else:
            related = [r for rs in self.ops_related.values() for r in rs]
        for i, f in enumerate(filters):
            path = f"Filters.{i + 1}.member"
            key = check.enum(
                check.required(f, "Key", f"{path}.Key"),
                f"{path}.Key",
                ("ResourceType", "AssociationId", "ResourceUri"),
            )
            values = check.list(check.required(f, "Values", f"{path}.Values"), f"{path}.Values")
            check.enum(
                check.required(f, "Operator", f"{path}.Operator"), f"{path}.Operator", ("Equal",)
            )
            related = [r for r in related if r.get(key) in values]
        chunk, token = page(
            related, max_results, p.get("NextToken"), 50, check.fail("invalid NextToken")
        )
        return drop_none({"Summaries": clone(chunk), "NextToken": token})

    # --- Automation -------------------------------------------------------------------------

    def StartAutomationExecution(self, p: dict[str, Any]) -> dict[str, Any]:
        name = check.string(
            check.required(p, "DocumentName"), "DocumentName", pattern=r"^[a-zA-Z0-9_\-.:/]{3,128}$"
        )
        version = check.string(
            p.get("DocumentVersion"),
            "DocumentVersion",
            pattern=r"([$]LATEST|[$]DEFAULT|^[1-9][0-9]*$)",
        )
        params = p.get("Parameters")
        if params is not None:
            if not isinstance(params, dict):
                raise check.fail("Parameters must be a map of string to list of strings")
            if not 1 <= len(params) <= 200:
                raise check.fail(
                    "1 validation error detected: Value at 'parameters' failed to satisfy "
                    "constraint: Member must have length between 1 and 200"
                )
            for key, values in params.items():
                check.string(key, "Parameters.key", 1, 50)
                if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                    raise check.fail(f"Parameters[{key}] must be a list of strings")
        token = check.string(
            p.get("ClientToken"),
            "ClientToken",
            36,
            36,
            r"[a-fA-F0-9]{8}-[a-fA-F0-9]{4}-[a-fA-F0-9]{4}-[a-fA-F0-9]{4}-[a-fA-F0-9]{12}",
        )
        check.enum(p.get("Mode"), "Mode", ("Auto", "Interactive"))
        request = {"DocumentName": name, "DocumentVersion": version, "Parameters": params or {}}
        if token and token in self.automation_tokens:
            execution_id, seen = self.automation_tokens[token]
            if seen != request:
                raise ApiError(
                    "IdempotentParameterMismatch",
                    "The ClientToken was used before with different parameters.",
                    400,
                )
            return {"AutomationExecutionId": execution_id}

        document = self.documents.get(name)
        if document is None:
            # The documented error of StartAutomationExecution for an unknown runbook
            # (API_StartAutomationExecution.html, "Errors"; botocore's ssm model).
            raise ApiError(
                "AutomationDefinitionNotFoundException",
                f"An Automation runbook with the specified name could not be found: {name}",
                400,
            )
        if version not in (None, "$DEFAULT", "$LATEST", "1"):
            raise ApiError(
                "AutomationDefinitionVersionNotFoundException",
                f"Version {version} of Automation runbook {name} could not be found",
                400,
            )
        self._check_automation_parameters(document, params or {})

        execution_id = str(uuid.uuid4())
        execution = {
            "AutomationExecutionId": execution_id,
            "DocumentName": name,
            "DocumentVersion": "1",
            "ExecutionStartTime": now(),
            "AutomationExecutionStatus": "InProgress",
            "StepExecutions": [],
            "StepExecutionsTruncated": False,
            "Parameters": clone(params or {}),
            "Outputs": {},
            "Mode": p.get("Mode") or "Auto",
            "ExecutedBy": self.caller,
            "Tags": clone(p.get("Tags") or []),
        }
        self.automations[execution_id] = execution
        if token:
            self.automation_tokens[token] = (execution_id, request)
        return {"AutomationExecutionId": execution_id}

    def GetAutomationExecution(self, p: dict[str, Any]) -> dict[str, Any]:
        execution_id = check.string(
            check.required(p, "AutomationExecutionId"), "AutomationExecutionId", 36, 36
        )
        execution = self.automations.get(execution_id)
        if execution is None:
            raise ApiError(
                "AutomationExecutionNotFoundException",
                f"Automation execution {execution_id} could not be found",
                400,
            )
        return {"AutomationExecution": self._execution_view(execution)}

    def DescribeAutomationExecutions(self, p: dict[str, Any]) -> dict[str, Any]:
        max_results = check.integer(p.get("MaxResults"), "MaxResults", 1, 50)
        filters = check.list(p.get("Filters"), "Filters", 1, 10) or []
        executions = list(self.automations.values())
        for i, f in enumerate(filters):
            path = f"Filters.{i + 1}.member"
            key = check.required(f, "Key", f"{path}.Key")
            values = check.list(
                check.required(f, "Values", f"{path}.Values"), f"{path}.Values", 1, 10
            )
            if key == "ExecutionId":
                executions = [e for e in executions if e["AutomationExecutionId"] in values]
            elif key == "DocumentNamePrefix":
                executions = [
                    e for e in executions if any(e["DocumentName"].startswith(v) for v in values)
                ]
            elif key == "ExecutionStatus":
                executions = [e for e in executions if e["AutomationExecutionStatus"] in values]
            elif key in ("StartTimeBefore", "StartTimeAfter"):
                bound = check.timestamp(values[0], f"{path}.Values")
                if key == "StartTimeBefore":
                    executions = [e for e in executions if e["ExecutionStartTime"] < bound]
                else:
                    executions = [e for e in executions if e["ExecutionStartTime"] > bound]
            elif key == "AutomationType":
                executions = [e for e in executions if "Local" in values]
            elif key == "ParentExecutionId":
                executions = []
            elif key == "TagKey":
                executions = [
                    e for e in executions if any(t.get("Key") in values for t in e.get("Tags", []))
                ]
            else:
                raise ApiError("InvalidFilterKey", f"The filter key {key} is not supported", 400)
        executions.sort(key=lambda e: e["ExecutionStartTime"], reverse=True)
        chunk, token = page(
            executions,
            max_results,
            p.get("NextToken"),
            50,
            ApiError("InvalidNextToken", "The NextToken is invalid", 400),
        )
        metadata = []
        for e in chunk:
            metadata.append(
                drop_none(
                    {
                        "AutomationExecutionId": e["AutomationExecutionId"],
                        "DocumentName": e["DocumentName"],
                        "DocumentVersion": e["DocumentVersion"],
                        "AutomationExecutionStatus": e["AutomationExecutionStatus"],
                        "ExecutionStartTime": e["ExecutionStartTime"],
                        "ExecutionEndTime": e.get("ExecutionEndTime"),
                        "ExecutedBy": e["ExecutedBy"],
                        "Outputs": clone(e["Outputs"]),
                        "Mode": e["Mode"],
                        "FailureMessage": e.get("FailureMessage"),
                        "AutomationType": "Local",
                    }
                )
            )
        return drop_none({"AutomationExecutionMetadataList": metadata, "NextToken": token})

    # --- helpers ----------------------------------------------------------------------------

    def GetCalendarState(self, p: dict[str, Any]) -> dict[str, Any]:
        """`CalendarNames` (names or `arn:…:document/<name>`), optional ISO 8601 `AtTime`.
        OPEN only if every calendar is open; `NextTransitionTime` the earliest known. A name that
        is no calendar: `InvalidDocument` (API_GetCalendarState.html)."""
        names = p.get("CalendarNames")
        if not isinstance(names, list) or not names:
            raise ApiError(
                "ValidationException", "1 validation error detected: CalendarNames is required", 400
            )
        states, nexts = [], []
        for raw in names:
            name = str(raw).rsplit(":document/", 1)[-1]
            calendar = self.calendars.get(name)
            if calendar is None:
                raise ApiError("InvalidDocument", f"Document {raw} does not exist.", 400)
            states.append(calendar["state"])
            if calendar["next"] is not None:
                nexts.append(calendar["next"])
        at = p.get("AtTime") or datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        out: dict[str, Any] = {
            "State": "OPEN" if all(s == "OPEN" for s in states) else "CLOSED",
            "AtTime": at,
        }
        if nexts:
            out["NextTransitionTime"] = min(nexts).strftime("%Y-%m-%dT%H:%M:%SZ")
        return out

    @staticmethod
    def _execution_view(execution: dict[str, Any]) -> dict[str, Any]:
        """GetAutomationExecution's shape (the tags are kept aside, for TagKey filters)."""
        return {k: clone(v) for k, v in execution.items() if k != "Tags"}

    def _ops_item(self, p: dict[str, Any]) -> dict[str, Any]:
        ops_item_id = check.string(
            check.required(p, "OpsItemId"), "OpsItemId", pattern=r"^(oi)-[0-9a-f]{12}$"
        )
        item = self.ops_items.get(ops_item_id)
        if item is None:
            raise ops_item_not_found(ops_item_id)
        return item

    def _common_fields(self, p: dict[str, Any]) -> None:
        """Priority, Severity and Category, on create and update."""
        check.integer(p.get("Priority"), "Priority", 1, 5)
        severity = check.string(p.get("Severity"), "Severity", 1, 64)
        if severity is not None and severity not in OPS_SEVERITIES:
            raise invalid_parameter(["Severity"], "Severity must be one of 1, 2, 3, 4")
        category = check.string(p.get("Category"), "Category", 1, 64)
        if category is not None and category not in OPS_CATEGORIES:
            raise invalid_parameter(
                ["Category"], f"Category must be one of {', '.join(OPS_CATEGORIES)}"
            )

    def _operational_data(self, data: Any) -> dict[str, dict[str, Any]] | None:
        if data is None:
            return None
        if not isinstance(data, dict):
            raise check.fail("OperationalData must be a map")
        out: dict[str, dict[str, Any]] = {}
        for key, entry in data.items():
            path = f"OperationalData.{key}"
            check.string(key, "OperationalData.key", 1, 128, r"^(?!\s*$).+")
            lowered = key.lower()
            reserved = key in OPS_DATA_RESERVED_KEYS
            if not reserved and lowered.startswith(OPS_DATA_FORBIDDEN_PREFIXES):
                raise invalid_parameter(
                    ["OperationalData"],
                    f"Operational data key {key} is invalid: keys can't begin with amazon, aws, "
                    "amzn, ssm, /amazon, /aws, /amzn or /ssm",
                )
            if not isinstance(entry, dict):
                raise check.fail(f"{path} must be an OpsItemDataValue structure")
            value = entry.get("Value")
            check.string(value, f"{path}.Value", pattern=r"[\s\S]*\S[\s\S]*")
            check.enum(entry.get("Type"), f"{path}.Type", ("SearchableString", "String"))
            if value is None:
                raise invalid_parameter(["OperationalData"], f"Operational data {key} has no Value")
            if len(value.encode("utf-8")) > OPS_DATA_VALUE_MAX_BYTES:
                raise invalid_parameter(
                    ["OperationalData"],
                    f"The value of operational data {key} exceeds the maximum size of 20 KB",
                )
            if key == "/aws/dedup":
                try:
                    parsed = json.loads(value)
                except ValueError:
                    parsed = None
                dedup = parsed.get("dedupString") if isinstance(parsed, dict) else None
                if not isinstance(dedup, str) or not dedup:
                    raise invalid_parameter(
                        ["OperationalData"],
                        '/aws/dedup must be a JSON object {"dedupString": "<string>"}',
                    )
            if key == "/aws/resources":
                try:
                    parsed = json.loads(value)
                except ValueError:
                    parsed = None
                if not isinstance(parsed, list) or not all(
                    isinstance(e, dict) and isinstance(e.get("arn"), str) for e in parsed
                ):
                    raise invalid_parameter(
                        ["OperationalData"],
                        '/aws/resources must be a JSON array [{"arn": "<ARN>"}, ...]',
                    )
            out[key] = drop_none({"Value": value, "Type": entry.get("Type")})
        return out

    def _notifications(self, value: Any) -> list[dict[str, Any]] | None:
        items = check.list(value, "Notifications")
        if items is None:
            return None
        for i, n in enumerate(items):
            check.struct(n, f"Notifications.{i + 1}.member")
            check.string(n.get("Arn"), f"Notifications.{i + 1}.member.Arn")
        return clone(items)

    def _related_ops_items(self, value: Any) -> list[dict[str, Any]] | None:
        items = check.list(value, "RelatedOpsItems")
        if items is None:
            return None
        for i, r in enumerate(items):
            check.string(
                check.required(r, "OpsItemId", f"RelatedOpsItems.{i + 1}.member.OpsItemId"),
                f"RelatedOpsItems.{i + 1}.member.OpsItemId",
            )
        return clone(items)

    def _ops_filter(self, item: dict[str, Any], f: Any, path: str) -> bool:
        check.struct(f, path)
        key = check.required(f, "Key", f"{path}.Key")
        values = check.list(check.required(f, "Values", f"{path}.Values"), f"{path}.Values")
        op = check.enum(
            check.required(f, "Operator", f"{path}.Operator"),
            f"{path}.Operator",
            ("Equal", "Contains", "GreaterThan", "LessThan"),
        )

        def compare(actual: Any, wanted: str) -> bool:
            if actual is None:
                return False
            if op == "Equal":
                return str(actual) == wanted
            if op == "Contains":
                return wanted.lower() in str(actual).lower()
            try:
                a, w = float(actual), float(wanted)
            except (TypeError, ValueError):
                return False
            return a > w if op == "GreaterThan" else a < w

        data = item.get("OperationalData", {})
        if key in SUMMARY_FILTER_KEYS:
            return any(compare(item.get(key), v) for v in values)
        if key == "OperationalDataKey":
            return any(compare(k, v) for k in data for v in values)
        if key == "OperationalDataValue":
            return any(compare(d.get("Value"), v) for d in data.values() for v in values)
        if key == "OperationalData":
            # Values are JSON: {"key": "<data key>", "value": "<data value>"}
            for v in values:
                try:
                    wanted = json.loads(v)
                except ValueError:
                    raise check.fail(
                        f'{path}.Values: expected JSON {{"key": ..., "value": ...}}, got {v}'
                    )
                entry = data.get(wanted.get("key"))
                if entry is not None and compare(entry.get("Value"), str(wanted.get("value"))):
                    return True
            return False
        raise check.fail(f"{path}.Key: filter key {key} is not supported by the emulator")

    def _check_automation_parameters(
        self, document: dict[str, dict[str, Any]], params: dict[str, list[str]]
    ) -> None:
        def bad(message: str) -> ApiError:
            return ApiError("InvalidAutomationExecutionParametersException", message, 400)

        for name in params:
            if name not in document:
                raise bad(f'Parameter "{name}" is not defined in the Automation runbook.')
        missing = [n for n, spec in document.items() if spec.get("required") and n not in params]
        if missing:
            raise bad(
                "Parameters "
                + ", ".join(f'"{n}"' for n in missing)
                + " are required but not provided."
            )
        for name, values in params.items():
            spec = document[name]
            if len(values) != 1:
                raise bad(
                    f'Parameter "{name}" is of type String and takes exactly one value, '
                    f"got {len(values)}."
                )
            value = values[0]
            allowed = spec.get("allowed")
            if allowed is not None and value not in allowed:
                raise bad(
                    f'Parameter "{name}" has value "{value}" not found in [{", ".join(allowed)}].'
                )
            pattern = spec.get("pattern")
            if pattern is not None and not re.search(pattern, value):
                raise bad(f'Parameter "{name}" has value "{value}" not matching "{pattern}".')


def dedup_string(data: dict[str, dict[str, Any]] | None) -> str | None:
    """The `dedupString` of an OpsItem's `/aws/dedup` operational data (validated on the way in)."""
    entry = (data or {}).get("/aws/dedup")
    if not entry:
        return None
    try:
        return json.loads(entry["Value"]).get("dedupString")
    except (ValueError, AttributeError, KeyError):
        return None
