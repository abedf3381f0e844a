"""Static checks: infra/template.yaml's IAM and configuration match what the code really does.

No AWS, no build: the template is read with `cfn` (short tags, conditions evaluated per
`IncidentBackend` value) and the code as text (config.rs, the adapters' SDK calls, each
function's Cargo features). What the bench proves by running the functions is in
tests/bench/test_least_privilege.py.

    .venv/bin/pytest -q tests/infra
"""

from __future__ import annotations

import json
import re

from typing import Any

import pytest

import cfn

BACKENDS = tuple(sorted(cfn.backends().values()))

# Actions a statement may grant on `Resource: "*"`, each with the reason.
STAR_RESOURCE_ACTIONS = {
    "ec2:DescribeVpnConnections": "EC2 Describe* actions support no resource-level permissions",
    "ec2:DescribeVpnGateways": "EC2 Describe* actions support no resource-level permissions",
    "ec2:DescribeCustomerGateways": "EC2 Describe* actions support no resource-level permissions",
    "ec2:DescribeTransitGateways": "EC2 Describe* actions support no resource-level permissions",
    "ec2:DescribeInstances": "EC2 Describe* actions support no resource-level permissions",
    "ec2:DescribeInstanceStatus": "EC2 Describe* actions support no resource-level permissions",
    "cloudwatch:GetMetricData": "GetMetricData supports no resource-level permissions",
    "cloudwatch:GetMetricWidgetImage": "GetMetricWidgetImage supports no resource-level permissions",
    "ssm:CreateOpsItem": "the OpsItem does not exist before the call: there is no ARN to name",
    "logs:GetQueryResults": "it takes a query id and supports no resource-level permissions",
    "cloudtrail:LookupEvents": "LookupEvents supports no resource-level permissions (no resource type)",
    "health:DescribeEvents": "DescribeEvents supports no resource-level permissions (no resource type)",
    "logs:StopQuery": "it takes a query id and supports no resource-level permissions",
    "elasticloadbalancing:DescribeTargetGroups": "ELB Describe* actions support no resource-level permissions",
    "elasticloadbalancing:DescribeTargetHealth": "ELB Describe* actions support no resource-level permissions",
    "rds:DescribeEvents": "DescribeEvents supports no resource-level permissions (no resource type)",
}


def is_platform_variable(name: str) -> bool:
    """Lambda's variables (set by the service, or reserved) and the logger's: not part of a
    function's configuration contract."""
    return name.startswith("AWS_") or name == "RUST_LOG"


# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def template() -> cfn.Template:
    return cfn.Template.load(cfn.TEMPLATE)


@pytest.fixture(scope="module", params=[cfn.TEMPLATE, cfn.VPN_ALARM_TEMPLATE, cfn.INSTANCE_ALARM_TEMPLATE], ids=lambda p: p.name)
def any_template(request: pytest.FixtureRequest) -> cfn.Template:
    """Each template of infra/."""
    return cfn.Template.load(request.param)


@pytest.fixture(scope="module", params=BACKENDS)
def view(request: pytest.FixtureRequest, template: cfn.Template) -> cfn.View:
    """template.yaml as deployed with IncidentBackend = each backend."""
    return template.evaluated({cfn.BACKEND_PARAMETER: request.param})


# --- loading -----------------------------------------------------------------------------------


def test_templates_load(any_template: cfn.Template) -> None:
    resources = any_template.data.get("Resources")
    assert isinstance(resources, dict) and resources, f"{any_template.path.name}: no Resources"
    # Every condition a resource or an Fn::If names can be evaluated for both backends.
    for backend in BACKENDS:
        any_template.evaluated({cfn.BACKEND_PARAMETER: backend})


# The longest stack name the README promises works: every name the template builds from it fits
# its service's limit.
STACK_NAME_MAX = 54
NAME_LIMITS = {
    "AWS::Events::Rule": ("Name", 64),
    "AWS::Events::EventBus": ("Name", 256),
    "AWS::Serverless::Function": ("FunctionName", 64),
    "AWS::Lambda::Function": ("FunctionName", 64),
    "AWS::SQS::Queue": ("QueueName", 80),
    "AWS::Chatbot::SlackChannelConfiguration": ("ConfigurationName", 128),
    "AWS::SSMIncidents::ResponsePlan": ("Name", 200),
    "AWS::Logs::LogGroup": ("LogGroupName", 512),
    "AWS::CloudWatch::Dashboard": ("DashboardName", 255),
    "AWS::Scheduler::ScheduleGroup": ("Name", 64),
    "AWS::Chatbot::CustomAction": ("ActionName", 64),
}


def test_names_fit_their_limits_with_the_longest_stack_name(any_template: cfn.Template) -> None:
    stack = "s" * STACK_NAME_MAX
    problems = []
    for logical_id, resource in any_template.data["Resources"].items():
        if resource.get("Type") not in NAME_LIMITS:
            continue
        prop, limit = NAME_LIMITS[resource["Type"]]
        value = resource.get("Properties", {}).get(prop)
        if isinstance(value, dict) and "Fn::Sub" in value and isinstance(value["Fn::Sub"], str):
            name = value["Fn::Sub"].replace("${AWS::StackName}", stack)
            name = re.sub(r"\$\{[^}]+\}", "", name)  # other parameters: at their shortest
            if len(name) > limit:
                problems.append(f"{logical_id}.{prop}: {len(name)} > {limit} characters")
    assert not problems, "\n".join(problems)


def test_the_backend_parameter_offers_the_codes_backends(template: cfn.Template) -> None:
    assert template.data.get("Transform") == "AWS::Serverless-2016-10-31", (
        "template.yaml is not a SAM template (Transform: AWS::Serverless-2016-10-31)"
    )
    assert sorted(template.allowed_values(cfn.BACKEND_PARAMETER)) == list(BACKENDS), (
        f"parameter {cfn.BACKEND_PARAMETER}: AllowedValues must be the values INCIDENT_BACKEND "
        f"accepts ({', '.join(BACKENDS)}), found {template.allowed_values(cfn.BACKEND_PARAMETER)}"
    )


def test_every_function_is_in_the_template(view: cfn.View) -> None:
    functions = view.functions()
    assert sorted(functions) == sorted(cfn.FUNCTION_NAMES), (
        f"functions in the template: {sorted(functions)}; in functions/: "
        f"{sorted(cfn.FUNCTION_NAMES)}"
    )
    for name, function in functions.items():
        code_uri = function.properties.get("CodeUri")
        assert code_uri == f"../functions/{name}", (
            f"{function.logical_id}: CodeUri is {code_uri!r}, expected ../functions/{name}"
        )


# --- 1. no wildcard actions --------------------------------------------------------------------


def test_no_wildcard_or_not_action(any_template: cfn.Template) -> None:
    """No Allow statement grants `*` or `service:Prefix*`, and no statement uses NotAction.

    A Deny statement may name `s3:*`: denying more is stricter (the bucket policy's
    aws:SecureTransport guard denies every S3 action)."""
    problems = []
    for statement in cfn.policy_statements(any_template.data):
        where = f"{any_template.path.name} line {statement.first_line}"
        if "NotAction" in statement:
            problems.append(f"{where}: NotAction {statement['NotAction']!r}: list the actions")
        if statement.get("Effect") == "Deny":
            continue
        for action in cfn.alternatives(statement.get("Action")):
            if not isinstance(action, str):
                problems.append(f"{where}: action {action!r} is not a literal string")
            elif "*" in action or "?" in action:
                problems.append(f"{where}: wildcard action {action!r}: list the actions")
    assert not problems, "\n".join(problems)


# --- 2. Resource "*" only where IAM allows nothing narrower ------------------------------------


def test_star_resource_only_for_actions_without_resource_level_permissions(
    any_template: cfn.Template,
) -> None:
    problems = []
    for statement in cfn.policy_statements(any_template.data):
        if statement.get("Effect") != "Allow" or "Principal" in statement:
            continue  # resource policies name their own resource
        if "*" not in cfn.alternatives(statement.get("Resource")):
            continue
        where = f"{any_template.path.name} line {statement.first_line}"
        for action in cfn.alternatives(statement.get("Action")):
            if action not in STAR_RESOURCE_ACTIONS:
                problems.append(
                    f"{where}: {action} on Resource \"*\": it supports resource-level "
                    "permissions, name the resource (or, if it really does not, add it to "
                    "STAR_RESOURCE_ACTIONS with the reason)"
                )
        if any_template.comment_near(statement) is None:
            problems.append(
                f"{where}: Resource \"*\" without a comment saying why (on or just above the "
                "statement)"
            )
    assert not problems, "\n".join(problems)


# --- 3. failures land somewhere ---------------------------------------------------------------


def queue_of(view: cfn.View, arn: Any) -> str | None:
    """The template's SQS queue `arn` is `!GetAtt <Queue>.Arn` of, else None."""
    if not (isinstance(arn, dict) and "Fn::GetAtt" in arn and arn["Fn::GetAtt"][1:] == ["Arn"]):
        return None
    queue = cfn.referenced_resource(arn)
    if (view.resources.get(queue or "") or {}).get("Type") != "AWS::SQS::Queue":
        return None
    return queue


def failure_destination(function: cfn.Function) -> Any:
    """Where Lambda sends an event the function failed on: the on-failure destination
    (`EventInvokeConfig`), else the dead-letter queue; None if neither."""
    props = function.properties
    config = (props.get("EventInvokeConfig") or {}).get("DestinationConfig") or {}
    on_failure = config.get("OnFailure") or {}
    if on_failure:
        return on_failure.get("Destination") if on_failure.get("Type") == "SQS" else on_failure
    dlq = props.get("DeadLetterQueue") or {}
    if dlq:
        return dlq.get("TargetArn") if dlq.get("Type") == "SQS" else dlq
    return None


def test_every_function_has_an_on_failure_queue(view: cfn.View) -> None:
    problems = []
    for name, function in sorted(view.functions().items()):
        target = failure_destination(function)
        queue = queue_of(view, target)
        if target is None:
            problems.append(
                f"{function.logical_id}: no EventInvokeConfig.DestinationConfig.OnFailure (or "
                "DeadLetterQueue): a failed event would be dropped"
            )
        elif queue is None:
            problems.append(
                f"{function.logical_id}: the on-failure destination {target!r} is not "
                "`!GetAtt <Queue>.Arn` of an AWS::SQS::Queue in the template"
            )
        elif not any(
            s.get("Effect") == "Allow"
            and "sqs:SendMessage" in cfn.as_list(s.get("Action"))
            and queue in cfn.referenced_ids(s.get("Resource"))
            for s in view.role_statements(name)
        ):
            problems.append(
                f"{function.role_id}: no sqs:SendMessage on {queue}, {function.logical_id}'s "
                "on-failure queue (Lambda sends the record as the function's role)"
            )
    assert not problems, "\n".join(problems)


def eventbridge_targets(view: cfn.View) -> list[tuple[str, dict[str, Any]]]:
    """(where, target properties) of every EventBridge rule target: SAM `EventBridgeRule` /
    `CloudWatchEvent` events of the functions, and `AWS::Events::Rule` targets."""
    targets = []
    for function in view.functions().values():
        for event_id, event in (function.properties.get("Events") or {}).items():
            if event.get("Type") in ("EventBridgeRule", "CloudWatchEvent"):
                targets.append((f"{function.logical_id} event {event_id}",
                                event.get("Properties") or {}))
    for rule_id, rule in view.of_type("AWS::Events::Rule").items():
        for target in (rule.get("Properties") or {}).get("Targets") or []:
            targets.append((f"{rule_id} target {target.get('Id')}", target))
    return targets


def test_every_eventbridge_target_retries_and_dead_letters(view: cfn.View) -> None:
    problems = []
    dead_letter_queues: dict[str, str] = {}
    for where, target in eventbridge_targets(view):
        if not target.get("RetryPolicy"):
            problems.append(f"{where}: no RetryPolicy")
        dead_letter = target.get("DeadLetterConfig") or {}
        if not dead_letter:
            problems.append(f"{where}: no DeadLetterConfig: an undeliverable event is dropped")
        elif "Arn" in dead_letter:
            queue = queue_of(view, dead_letter["Arn"])
            if queue is None:
                problems.append(
                    f"{where}: DeadLetterConfig.Arn {dead_letter['Arn']!r} is not `!GetAtt "
                    "<Queue>.Arn` of an AWS::SQS::Queue in the template"
                )
            else:
                dead_letter_queues.setdefault(queue, where)
        elif dead_letter.get("Type") != "SQS":
            problems.append(f"{where}: DeadLetterConfig has neither Arn nor Type: SQS")
    for queue, where in sorted(dead_letter_queues.items()):
        if not events_may_send_to(view, queue):
            problems.append(
                f"{where}: EventBridge cannot deliver to its dead-letter queue {queue}: no "
                "AWS::SQS::QueuePolicy on it allows events.amazonaws.com sqs:SendMessage"
            )
    assert not problems, "\n".join(problems)


def events_may_send_to(view: cfn.View, queue: str) -> bool:
    for policy in view.of_type("AWS::SQS::QueuePolicy").values():
        props = policy.get("Properties") or {}
        if queue not in cfn.referenced_ids(props.get("Queues")):
            continue
        for statement in cfn.as_list((props.get("PolicyDocument") or {}).get("Statement")):
            principal = statement.get("Principal") or {}
            services = cfn.as_list(principal.get("Service")) if isinstance(principal, dict) else []
            if (
                statement.get("Effect") == "Allow"
                and "events.amazonaws.com" in services
                and "sqs:SendMessage" in cfn.as_list(statement.get("Action"))
            ):
                return True
    return False


# --- 4. data stores encrypted ----------------------------------------------------------------


def is_true(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def data_store_problems(view: cfn.View) -> list[str]:
    problems = []
    for table_id, table in view.of_type("AWS::Serverless::SimpleTable").items():
        problems.append(
            f"{table_id}: AWS::Serverless::SimpleTable has no point-in-time recovery or TTL: "
            "use AWS::DynamoDB::Table"
        )
    for table_id, table in view.of_type("AWS::DynamoDB::Table").items():
        props = table.get("Properties") or {}
        if not is_true((props.get("SSESpecification") or {}).get("SSEEnabled")):
            problems.append(f"{table_id}: SSESpecification.SSEEnabled is not true")
        pitr = props.get("PointInTimeRecoverySpecification") or {}
        if not is_true(pitr.get("PointInTimeRecoveryEnabled")):
            problems.append(f"{table_id}: PointInTimeRecoverySpecification is not enabled")
        ttl = props.get("TimeToLiveSpecification") or {}
        if ttl.get("AttributeName") != "expires_at" or not is_true(ttl.get("Enabled")):
            problems.append(
                f"{table_id}: TimeToLiveSpecification must be enabled on `expires_at` (the "
                f"state table's TTL attribute), found {dict(ttl)}"
            )
    for bucket_id, bucket in view.of_type("AWS::S3::Bucket").items():
        props = bucket.get("Properties") or {}
        encryption = (props.get("BucketEncryption") or {}).get("ServerSideEncryptionConfiguration")
        if not encryption:
            problems.append(f"{bucket_id}: no BucketEncryption.ServerSideEncryptionConfiguration")
        block = props.get("PublicAccessBlockConfiguration") or {}
        for setting in (
            "BlockPublicAcls",
            "BlockPublicPolicy",
            "IgnorePublicAcls",
            "RestrictPublicBuckets",
        ):
            if not is_true(block.get(setting)):
                problems.append(
                    f"{bucket_id}: PublicAccessBlockConfiguration.{setting} is not true"
                )
        if not denies_insecure_transport(view, bucket_id):
            problems.append(
                f"{bucket_id}: no AWS::S3::BucketPolicy on it denies requests with "
                "aws:SecureTransport false (to Principal \"*\", on the bucket's objects)"
            )
    for topic_id, topic in view.of_type("AWS::SNS::Topic").items():
        if not (topic.get("Properties") or {}).get("KmsMasterKeyId"):
            problems.append(
                f"{topic_id}: no KmsMasterKeyId (SNS topics are not encrypted by default)"
            )
    for queue_id, queue in view.of_type("AWS::SQS::Queue").items():
        props = queue.get("Properties") or {}
        if not props.get("KmsMasterKeyId") and not is_true(props.get("SqsManagedSseEnabled")):
            problems.append(f"{queue_id}: neither KmsMasterKeyId nor SqsManagedSseEnabled: true")
    return problems


def denies_insecure_transport(view: cfn.View, bucket_id: str) -> bool:
    for policy in view.of_type("AWS::S3::BucketPolicy").values():
        props = policy.get("Properties") or {}
        if bucket_id not in cfn.referenced_ids(props.get("Bucket")):
            continue
        for statement in cfn.as_list((props.get("PolicyDocument") or {}).get("Statement")):
            secure = ((statement.get("Condition") or {}).get("Bool") or {}).get(
                "aws:SecureTransport"
            )
            principal = statement.get("Principal")
            everyone = principal == "*" or (
                isinstance(principal, dict) and cfn.as_list(principal.get("AWS")) == ["*"]
            )
            objects = any(
                bucket_id in cfn.referenced_ids(r) and "/*" in str(r)
                for r in cfn.as_list(statement.get("Resource"))
            )
            if statement.get("Effect") == "Deny" and str(secure).lower() == "false" and everyone \
                    and objects:
                return True
    return False


def test_only_the_responders_publishing_roles_put_events_on_its_bus(template: cfn.Template) -> None:
    """An explicit Deny for every other principal: in one account an identity policy allowing
    events:PutEvents would otherwise do."""
    resources = template.data["Resources"]
    [policy] = [r for r in resources.values() if r.get("Type") == "AWS::Events::EventBusPolicy"]
    statement = policy["Properties"]["Statement"]
    assert policy["Properties"]["EventBusName"] == {"Ref": "ResponderBus"}
    assert (statement["Effect"], statement["Principal"], statement["Action"]) == (
        "Deny",
        "*",
        "events:PutEvents",
    )
    allowed = statement["Condition"]["ArnNotEquals"]["aws:PrincipalArn"]
    roles = {
        att[0] if isinstance(att, list) else att.split(".")[0]
        for att in (a["Fn::GetAtt"] for a in allowed)
    }
    publishing = {
        logical_id
        for logical_id, r in resources.items()
        if r.get("Type") == "AWS::IAM::Role"
        and any(
            "events:PutEvents" in cfn.as_list(s.get("Action"))
            for s in cfn.policy_statements({"Resources": {logical_id: r}})
        )
    }
    assert roles == publishing, (roles, publishing)


def test_root_activity_is_read_from_cloudtrail_only_read_only_calls_included(
    template: cfn.Template,
) -> None:
    rule = template.data["Resources"]["RootAccountRule"]["Properties"]
    assert rule["State"] == "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS"
    assert rule["EventPattern"]["source"] == [{"prefix": "aws."}]


def test_every_data_store_is_encrypted(any_template: cfn.Template) -> None:
    problems = []
    for backend in BACKENDS:
        view = any_template.evaluated({cfn.BACKEND_PARAMETER: backend})
        problems += [f"{p} (IncidentBackend={backend})" for p in data_store_problems(view)]
    assert not problems, "\n".join(dict.fromkeys(problems))


# --- 5. environment variables ↔ the configuration code -----------------------------------------


@pytest.mark.parametrize("name", cfn.FUNCTION_NAMES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_environment_matches_the_configuration_code(
    template: cfn.Template, name: str, backend: str
) -> None:
    view = template.evaluated({cfn.BACKEND_PARAMETER: backend})
    function = view.function(name)
    contract = cfn.env_contract(name)
    env = {k: v for k, v in view.environment(name).items() if not is_platform_variable(k)}
    where = f"{function.logical_id} (IncidentBackend={backend})"
    problems = []
    for var in sorted(contract.required_for(backend) - set(env)):
        problems.append(
            f"{where}: {var} is missing; {name}'s {contract.config_type} requires it: add it"
        )
    for var in sorted(set(env) - contract.read):
        problems.append(
            f"{where}: sets {var}, which {name}'s {contract.config_type} never reads: remove it"
        )
    for var in sorted(contract.required_for(backend) & set(env)):
        if isinstance(env[var], str) and not env[var].strip():
            problems.append(f"{where}: {var} is empty; {name} requires a value")
    if "INCIDENT_BACKEND" in env and env["INCIDENT_BACKEND"] != backend:
        problems.append(
            f"{where}: INCIDENT_BACKEND is {env['INCIDENT_BACKEND']!r}: it must be "
            f"!Ref {cfn.BACKEND_PARAMETER}"
        )
    assert not problems, "\n".join(problems)


# --- 6. role actions ↔ the SDK calls of the adapters each function links ----------------------


@pytest.mark.parametrize("name", cfn.FUNCTION_NAMES)
def test_role_grants_only_what_the_linked_adapters_call(view: cfn.View, name: str) -> None:
    function = view.function(name)
    backend = view_backend(view)
    where = f"{function.role_id} (IncidentBackend={backend})"
    problems = []
    if "Policies" in function.properties:
        problems.append(
            f"{function.logical_id}: SAM `Policies` on the function: grant through its role only"
        )
    role = view.resources.get(function.role_id or "") or {}
    if (role.get("Properties") or {}).get("ManagedPolicyArns"):
        problems.append(
            f"{where}: ManagedPolicyArns: a managed policy's actions cannot be checked against "
            "the code; use inline Policies"
        )
    granted = view.role_actions(name)
    code = cfn.code_actions(name)
    # IAM checks these inside StartAutomationExecution: the role it passes, the Tags it carries;
    # and inside CreateSchedule: the scheduler role.
    passed_role = {
        "runbook": {"iam:PassRole", "ssm:AddTagsToResource"},
        "escalate": {"iam:PassRole"},
    }.get(name, set())
    extra = granted - cfn.RUNTIME_ACTIONS - code - passed_role
    modules = ", ".join(sorted(cfn.linked_modules(name)))
    for action in sorted(extra):
        problems.append(
            f"{where} grants {action}, but {name} makes no such SDK call (its adapters: {modules})"
        )
    for action in sorted(cfn.RUNTIME_ACTIONS - granted):
        problems.append(f"{where} lacks {action}, which the Lambda runtime needs for {name}")
    problems += runtime_scope_problems(view, function, where)
    if name in PASSED_ROLES:
        problems += pass_role_problems(view, name, where)
    assert not problems, "\n".join(problems)


def runtime_scope_problems(view: cfn.View, function: cfn.Function, where: str) -> list[str]:
    """The runtime's actions reach only the function's own log group (`LoggingConfig.LogGroup`,
    or `/aws/lambda/${<Function>}`) and its own failure queue."""
    logs = cfn.referenced_ids(
        (function.properties.get("LoggingConfig") or {}).get("LogGroup")
    ) | {function.logical_id}
    own = {
        "logs:CreateLogStream": logs,
        "logs:PutLogEvents": logs,
        "sqs:SendMessage": {queue_of(view, failure_destination(function))} - {None},
    }
    problems = []
    for statement in view.role_statements(function.name):
        if statement.get("Effect") != "Allow":
            continue
        for action in sorted(set(cfn.as_list(statement.get("Action"))) & set(own)):
            for resource in cfn.as_list(statement.get("Resource")):
                if not cfn.referenced_ids(resource) & own[action]:
                    problems.append(
                        f"{where}: {action} on {resource!r}, which is not {function.logical_id}'s "
                        f"own ({' or '.join(sorted(own[action])) or 'no failure queue'})"
                    )
    return problems


# The functions that pass roles: to which service, the variable naming the role, and the call.
PASSED_ROLES = {
    "runbook": [("ssm.amazonaws.com", "AUTOMATION_ROLE_ARN", "StartAutomationExecution")],
    "escalate": [("scheduler.amazonaws.com", "SCHEDULE_ROLE_ARN", "CreateSchedule")],
}


def pass_role_problems(view: cfn.View, name: str, where: str) -> list[str]:
    """A function's iam:PassRole: one statement per role it passes, each only to its service and
    only the role its variable names."""
    problems = []
    statements = [
        s
        for s in view.role_statements(name)
        if s.get("Effect") == "Allow" and "iam:PassRole" in cfn.as_list(s.get("Action"))
    ]

    def service_of(statement: Any) -> list[Any]:
        condition = (statement.get("Condition") or {}).get("StringEquals") or {}
        return cfn.as_list(condition.get("iam:PassedToService"))

    services = [[service] for service, _, _ in PASSED_ROLES[name]]
    for statement in statements:
        if service_of(statement) not in services:
            problems.append(
                f"{where}: iam:PassRole without Condition StringEquals iam:PassedToService "
                f"naming one service it passes a role to ({', '.join(s for [s] in services)})"
            )
    for service, variable, call in PASSED_ROLES[name]:
        mine = [s for s in statements if service_of(s) == [service]]
        if not mine:
            problems.append(
                f"{where} lacks iam:PassRole with iam:PassedToService {service}: {call} passes "
                f"{variable}"
            )
        problems += _passed_role_resources(view, name, where, variable, mine)
    return problems


def _passed_role_resources(
    view: cfn.View, name: str, where: str, variable: str, statements: list[Any]
) -> list[str]:
    problems = []
    passed_role = view.environment(name).get(variable)
    for statement in statements:
        resources = cfn.as_list(statement.get("Resource"))
        if "*" in resources:
            problems.append(f"{where}: iam:PassRole on Resource \"*\": name the role")
        elif not all(
            r == passed_role or cfn.referenced_ids(r) & cfn.referenced_ids(passed_role)
            for r in resources
        ):
            problems.append(
                f"{where}: iam:PassRole on {resources}, not the role {variable} names "
                f"({passed_role!r})"
            )
    return problems


def view_backend(view: cfn.View) -> str:
    return str(view.parameters[cfn.BACKEND_PARAMETER])


@pytest.mark.parametrize(
    "calendars, granted",
    [("", 0), ("MaintenanceCalendar", 1), ("MaintenanceCalendar,Releases", 2), ("A,B,C", 3)],
)
def test_triage_reads_only_the_change_calendars_named(
    template: cfn.Template, calendars: str, granted: int
) -> None:
    """ssm:GetCalendarState on one document ARN per calendar the ChangeCalendars parameter names
    (up to three), and none without calendars."""
    view = template.evaluated({"ChangeCalendars": calendars})
    function = view.function("triage")
    role = view.resources[str(function.role_id)]
    statements = [
        st
        for policy in role["Properties"]["Policies"]
        for st in policy["PolicyDocument"]["Statement"]
        if st.get("Sid") == "ReadTheChangeCalendars"
    ]
    if granted == 0:
        assert statements == []
        return
    [statement] = statements
    assert statement["Action"] == ["ssm:GetCalendarState"]
    resources = statement["Resource"]
    assert len(resources) == granted, resources
    for resource in resources:
        sub = resource["Fn::Sub"]
        assert sub[0].endswith(":document/${Name}"), sub
    assert "CHANGE_CALENDARS" in function.properties["Environment"]["Variables"]


@pytest.mark.parametrize("opt_in", ["none", "AWS-RestartEC2Instance"])
def test_the_instance_runbook_is_granted_only_when_opted_in_and_only_on_tagged_instances(
    template: cfn.Template, opt_in: str
) -> None:
    """InstanceRunbook=AWS-RestartEC2Instance lets runbook start that document (its status
    changes routed back) and the automation role stop and start only instances tagged
    responder-may-restart=true; `none` grants nothing of it."""
    view = template.evaluated({"InstanceRunbook": opt_in})
    automation = view.resources["AutomationRole"]["Properties"]["Policies"]
    restart = [p for p in automation if p["PolicyName"] == "restart-ec2-instance"]
    runbook_role = view.resources[str(view.function("runbook").role_id)]
    [start] = [
        st
        for policy in runbook_role["Properties"]["Policies"]
        for st in policy["PolicyDocument"]["Statement"]
        if st.get("Sid") == "StartTheRunbook"
    ]
    started = json.dumps(start["Resource"])
    definitions = view.resources["AutomationStatusRule"]["Properties"]["EventPattern"]["detail"][
        "Definition"
    ]
    if opt_in == "none":
        assert restart == []
        assert "RestartEC2Instance" not in started
        assert "AWS-RestartEC2Instance" not in json.dumps(definitions)
        return
    [policy] = restart
    statements = {st["Sid"]: st for st in policy["PolicyDocument"]["Statement"]}
    stop_start = statements["StopAndStartTaggedInstances"]
    assert sorted(stop_start["Action"]) == ["ec2:StartInstances", "ec2:StopInstances"]
    assert stop_start["Resource"]["Fn::Sub"].endswith(":instance/*")
    assert stop_start["Condition"] == {
        "StringEquals": {"aws:ResourceTag/responder-may-restart": "true"}
    }
    assert "automation-definition/${InstanceRunbook}:*" in started
    assert "document/${InstanceRunbook}" in started
    assert "AWS-RestartEC2Instance" in json.dumps(definitions)
