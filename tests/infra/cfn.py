"""The SAM template as plain data, and what the code says it needs, for the infra checks.

Template side:

    template = Template.load(INFRA / "template.yaml")   # CloudFormation short tags → long form
    view = template.evaluated({"IncidentBackend": "opscenter"})   # conditions applied
    view.functions()                 # {"triage": Function(logical_id, name, properties, role_id)}
    view.role_actions("triage")      # {"dynamodb:PutItem", ...}: every Allow action of its role
    view.environment("triage")       # Globals + the function's Environment.Variables
    template.comment_near(mapping)   # is there a `#` comment on or just above it (raw text)?

Every mapping the loader builds is a `Located` dict that remembers its first and last line, so a
check can go back to the raw text. `evaluated` resolves `Fn::If` / `Condition` from the
template's `Conditions` for the given parameter values (the template's defaults otherwise),
drops `AWS::NoValue` and the resources whose condition is false, and replaces `Ref`s to
parameters by their values; every other intrinsic stays as written.

Code side (the Rust sources, read as text):

    sdk_actions()                    # {"ec2": {"ec2:DescribeVpnConnections", ...}, ...}
    linked_modules("notify")         # {"dynamodb", "sns"}: responder's features in Cargo.toml
    code_actions("notify")           # the IAM actions of the SDK calls those adapters make
    env_contract("triage")           # the variables its config type reads, and when required
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"
TEMPLATE = INFRA / "template.yaml"
VPN_ALARM_TEMPLATE = INFRA / "vpn-alarm.yaml"
INSTANCE_ALARM_TEMPLATE = INFRA / "instance-alarm.yaml"
SHARED_SRC = REPO / "shared" / "src"
FUNCTIONS_DIR = REPO / "functions"

FUNCTION_NAMES = (
    "triage", "enrich", "runbook", "notify", "resolve", "escalate", "changes", "inspect",
)
BACKEND_PARAMETER = "IncidentBackend"

# What every role grants for the Lambda runtime rather than for the code: its own log group,
# and its own failure queue (Lambda sends the on-failure destination's record as the role).
RUNTIME_ACTIONS = frozenset({"logs:CreateLogStream", "logs:PutLogEvents", "sqs:SendMessage"})

# IAM prefix of each adapter module's SDK calls (shared/src/aws/<module>.rs).
ADAPTER_PREFIXES = {
    "incident_manager": "ssm-incidents",
    "opscenter": "ssm",
    "automation": "ssm",
    "dynamodb": "dynamodb",
    "eventbridge": "events",
    "ec2": "ec2",
    "cloudwatch": "cloudwatch",
    "sns": "sns",
    "s3": "s3",
    "scheduler": "scheduler",
    "cloudtrail": "cloudtrail",
    "cloudformation": "cloudformation",
    "health": "health",
    "lambda_functions": "lambda",
    "logs": "logs",
    "elbv2": "elasticloadbalancing",
    "rds": "rds",
}

NO_VALUE = {"Ref": "AWS::NoValue"}


# --- loading ------------------------------------------------------------------------------------


class Located(dict):  # type: ignore[type-arg]
    """A mapping of the template, with the 1-based lines it spans in the raw text."""

    first_line: int = 0
    last_line: int = 0


_TAGS = {
    "!Ref": "Ref",
    "!Condition": "Condition",
    "!Sub": "Fn::Sub",
    "!GetAtt": "Fn::GetAtt",
    "!If": "Fn::If",
    "!Equals": "Fn::Equals",
    "!Not": "Fn::Not",
    "!And": "Fn::And",
    "!Or": "Fn::Or",
    "!Join": "Fn::Join",
    "!Select": "Fn::Select",
    "!Split": "Fn::Split",
    "!FindInMap": "Fn::FindInMap",
    "!ImportValue": "Fn::ImportValue",
    "!Base64": "Fn::Base64",
    "!Cidr": "Fn::Cidr",
    "!GetAZs": "Fn::GetAZs",
    "!Transform": "Fn::Transform",
    "!Length": "Fn::Length",
    "!ToJsonString": "Fn::ToJsonString",
}


class _Loader(yaml.SafeLoader):
    """SafeLoader with CloudFormation's short tags, building `Located` mappings."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text_lines = text.splitlines()

    def lines_of(self, node: yaml.Node) -> tuple[int, int]:
        """The 1-based first and last line of `node`: the last one holding its own text, not
        the blank or comment lines before the next token (where the node's end mark points)."""
        first = node.start_mark.line + 1
        end = node.end_mark
        # The end mark's line, unless only indentation precedes the mark on it.
        end_line = self.text_lines[end.line] if end.line < len(self.text_lines) else ""
        last = end.line + 1 if end_line[: end.column].strip() else end.line
        while last > first and (
            not self.text_lines[last - 1].strip()
            or self.text_lines[last - 1].lstrip().startswith("#")
        ):
            last -= 1
        return first, max(first, last)

    def construct_mapping(  # type: ignore[override]
        self, node: yaml.MappingNode, deep: bool = False
    ) -> Located:
        # Always deep: the values must be built (as `Located` mappings too) before they are read.
        mapping = Located(super().construct_mapping(node, deep=True))
        mapping.first_line, mapping.last_line = self.lines_of(node)
        return mapping


def _construct_tag(loader: _Loader, tag_suffix: str, node: yaml.Node) -> Located:
    name = _TAGS[tag_suffix]
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if name == "Fn::GetAtt":
            resource, _, attribute = str(value).partition(".")
            value = [resource, attribute]
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    tagged = Located({name: value})
    tagged.first_line, tagged.last_line = loader.lines_of(node)
    return tagged


for _tag in _TAGS:
    _Loader.add_constructor(_tag, lambda loader, node, tag=_tag: _construct_tag(loader, tag, node))
_Loader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    lambda loader, node: loader.construct_mapping(node),
)


def load_yaml(text: str) -> Any:
    """A CloudFormation YAML document as plain data (long-form intrinsics, `Located` mappings)."""
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass


# --- templates and their evaluation -------------------------------------------------------------


@dataclass
class Function:
    """A function of the template: `name` is the binary (`Metadata.BuildProperties.Binary`, else
    the `CodeUri` directory), `role_id` the role resource its `Role` points at (None if none)."""

    logical_id: str
    name: str
    resource: dict[str, Any]
    role_id: str | None

    @property
    def properties(self) -> dict[str, Any]:
        return dict(self.resource.get("Properties") or {})


@dataclass
class Template:
    """One template: its raw text and its data as written (conditions not applied)."""

    path: Path
    text: str
    data: dict[str, Any]

    @classmethod
    def load(cls, path: Path) -> Template:
        text = path.read_text()
        data = load_yaml(text)
        if not isinstance(data, dict):
            raise ValueError(f"{path}: not a YAML mapping")
        return cls(path, text, data)

    def parameter_defaults(self) -> dict[str, Any]:
        return {
            name: spec["Default"]
            for name, spec in (self.data.get("Parameters") or {}).items()
            if isinstance(spec, dict) and "Default" in spec
        }

    def allowed_values(self, parameter: str) -> list[str]:
        spec = (self.data.get("Parameters") or {}).get(parameter) or {}
        return [str(v) for v in spec.get("AllowedValues") or []]

    def evaluated(self, parameters: dict[str, Any] | None = None) -> View:
        """The template as deployed with `parameters` (over the defaults)."""
        values = {**self.parameter_defaults(), **(parameters or {})}
        return View(self, _Evaluator(self.data, values).template(), values)

    def comment_near(self, node: Any) -> str | None:
        """The comment on the lines of `node` (a `Located` mapping), else the block of comment
        lines right above it; None if there is neither."""
        if not isinstance(node, Located) or not node.first_line:
            return None
        lines = self.text.splitlines()
        within = [
            _comment_of(lines[number - 1])
            for number in range(node.first_line, min(node.last_line, len(lines)) + 1)
        ]
        if any(within):
            return " ".join(c for c in within if c)
        above: list[str] = []
        number = node.first_line - 1
        while number >= 1 and lines[number - 1].lstrip().startswith("#"):
            above.insert(0, lines[number - 1].lstrip().lstrip("#").strip())
            number -= 1
        return " ".join(line for line in above if line) or None


def _comment_of(line: str) -> str | None:
    """The comment of one YAML line, ignoring `#` inside quotes (good enough for templates)."""
    quote = None
    for i, char in enumerate(line):
        if quote:
            if char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or line[i - 1].isspace()):
            text = line[i + 1 :].strip()
            return text or None
    return None


class _Evaluator:
    """Applies conditions and parameter values to a template's data."""

    def __init__(self, data: dict[str, Any], parameters: dict[str, Any]) -> None:
        self.data = data
        self.parameters = parameters
        self.conditions: dict[str, bool] = {}
        self._evaluating: set[str] = set()

    def condition(self, name: str) -> bool:
        if name not in self.conditions:
            definitions = self.data.get("Conditions") or {}
            if name not in definitions:
                raise KeyError(f"condition {name!r} is used but not defined under Conditions")
            if name in self._evaluating:
                raise ValueError(f"condition {name!r} refers to itself")
            self._evaluating.add(name)
            self.conditions[name] = bool(self.value(definitions[name]))
            self._evaluating.discard(name)
        return self.conditions[name]

    def value(self, node: Any) -> Any:
        """The value of a condition expression (Fn::Equals/Not/And/Or, Condition, Ref, ...)."""
        if isinstance(node, dict) and len(node) == 1:
            [(key, arg)] = node.items()
            if key == "Fn::Equals":
                left, right = (self.value(a) for a in arg)
                return str(left) == str(right)
            if key == "Fn::Not":
                return not self.value(arg[0])
            if key == "Fn::And":
                return all(self.value(a) for a in arg)
            if key == "Fn::Or":
                return any(self.value(a) for a in arg)
            if key == "Condition":
                return self.condition(arg)
            if key == "Ref" and arg in self.parameters:
                return self.parameters[arg]
            if key == "Fn::FindInMap":
                table, first, second = (self.value(a) for a in arg)
                return self.data["Mappings"][table][first][second]
            if key == "Fn::If":
                name, then, otherwise = arg
                return self.value(then if self.condition(name) else otherwise)
            # Lists in conditions (a CommaDelimitedList parameter is its text, "a,b").
            if key == "Fn::Join":
                delimiter, items = arg
                return delimiter.join(str(self.value(i)) for i in _items(self.value(items)))
            if key == "Fn::Split":
                delimiter, text = arg
                return str(self.value(text)).split(delimiter)
            if key == "Fn::Select":
                index, items = arg
                return _items(self.value(items))[int(self.value(index))]
        if isinstance(node, list):
            return [self.value(n) for n in node]
        return node

    def resolve(self, node: Any) -> Any:
        """`node` with Fn::If decided, AWS::NoValue dropped and parameter Refs replaced."""
        if isinstance(node, dict):
            if len(node) == 1:
                [(key, arg)] = node.items()
                if key == "Fn::If":
                    name, then, otherwise = arg
                    chosen = self.resolve(then if self.condition(name) else otherwise)
                    if isinstance(chosen, Located) and isinstance(node, Located):
                        # The wrapper's lines are the chosen value's too (a comment above
                        # `- !If` is about what it holds).
                        chosen.first_line = min(chosen.first_line or node.first_line,
                                                node.first_line)
                    return chosen
                if key == "Ref" and isinstance(arg, str) and arg in self.parameters:
                    return self.parameters[arg]
            out = Located()
            if isinstance(node, Located):
                out.first_line, out.last_line = node.first_line, node.last_line
            for key, value in node.items():
                resolved = self.resolve(value)
                if resolved != NO_VALUE:
                    out[key] = resolved
            return out
        if isinstance(node, list):
            return [r for r in (self.resolve(v) for v in node) if r != NO_VALUE]
        return node

    def template(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for section, content in self.data.items():
            if section in ("Resources", "Outputs") and isinstance(content, dict):
                out[section] = {
                    name: self.resolve(body)
                    for name, body in content.items()
                    if not (isinstance(body, dict) and "Condition" in body)
                    or self.condition(body["Condition"])
                }
            elif section in ("Conditions", "Parameters", "Mappings"):
                out[section] = content
            else:
                out[section] = self.resolve(content)
        return out


@dataclass
class View:
    """A template with its conditions applied for one set of parameter values."""

    template: Template
    data: dict[str, Any]
    parameters: dict[str, Any]
    _functions: dict[str, Function] = field(default_factory=dict)

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        return dict(self.data.get("Resources") or {})

    def of_type(self, *types: str) -> dict[str, dict[str, Any]]:
        return {k: r for k, r in self.resources.items() if r.get("Type") in types}

    def functions(self) -> dict[str, Function]:
        """The Lambda functions by name (the binary they run)."""
        if not self._functions:
            found = self.of_type("AWS::Serverless::Function", "AWS::Lambda::Function")
            for logical_id, resource in found.items():
                props = resource.get("Properties") or {}
                binary = ((resource.get("Metadata") or {}).get("BuildProperties") or {}).get(
                    "Binary"
                )
                code_uri = props.get("CodeUri")
                name = binary or (Path(code_uri).name if isinstance(code_uri, str) else logical_id)
                self._functions[str(name)] = Function(
                    logical_id, str(name), resource, referenced_resource(props.get("Role"))
                )
        return self._functions

    def function(self, name: str) -> Function:
        functions = self.functions()
        if name not in functions:
            raise AssertionError(
                f"{self.template.path.name}: no function runs the `{name}` binary "
                f"(functions: {sorted(functions) or 'none'})"
            )
        return functions[name]

    def role_statements(self, name: str) -> list[dict[str, Any]]:
        """Every statement of the policies of function `name`'s role: its inline `Policies`,
        and the `AWS::IAM::Policy` / `AWS::IAM::ManagedPolicy` resources attached to it."""
        function = self.function(name)
        if function.role_id is None:
            raise AssertionError(
                f"{function.logical_id}: `Role` is not `!GetAtt <Role>.Arn` of a role in the "
                "template, so its permissions cannot be checked"
            )
        role = self.resources.get(function.role_id)
        if role is None or role.get("Type") != "AWS::IAM::Role":
            raise AssertionError(f"{function.logical_id}: role {function.role_id} is not an "
                                 "AWS::IAM::Role of the template")
        documents = [
            p.get("PolicyDocument") or {}
            for p in (role.get("Properties") or {}).get("Policies") or []
        ]
        for resource in self.of_type("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy").values():
            props = resource.get("Properties") or {}
            if function.role_id in {referenced_resource(r) for r in props.get("Roles") or []}:
                documents.append(props.get("PolicyDocument") or {})
        return [s for d in documents for s in as_list(d.get("Statement"))]

    def role_actions(self, name: str) -> set[str]:
        """Every action function `name`'s role allows (as written: no wildcard expansion)."""
        return {
            action
            for statement in self.role_statements(name)
            if statement.get("Effect") == "Allow"
            for action in as_list(statement.get("Action"))
        }

    def environment(self, name: str) -> dict[str, Any]:
        """Function `name`'s environment variables: Globals, then its own."""
        globals_ = (((self.data.get("Globals") or {}).get("Function") or {}).get(
            "Environment"
        ) or {}).get("Variables") or {}
        own = (self.function(name).properties.get("Environment") or {}).get("Variables") or {}
        return {**globals_, **own}


def as_list(value: Any) -> list[Any]:
    """A policy element that may be one value or a list, as a list."""
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def referenced_resource(value: Any) -> str | None:
    """The logical id `value` points at: `!GetAtt X.Arn`, `!Ref X`."""
    if isinstance(value, dict) and len(value) == 1:
        [(key, arg)] = value.items()
        if key == "Fn::GetAtt" and isinstance(arg, list) and arg:
            return str(arg[0])
        if key == "Ref" and isinstance(arg, str):
            return arg
    return None


def referenced_ids(value: Any) -> set[str]:
    """Every logical id or parameter `value` mentions: Ref, GetAtt, `${X}` / `${X.Attr}` in Sub."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, arg in value.items():
            if key == "Ref" and isinstance(arg, str):
                found.add(arg)
            elif key == "Fn::GetAtt" and isinstance(arg, list) and arg:
                found.add(str(arg[0]))
            elif key == "Fn::Sub":
                text = arg[0] if isinstance(arg, list) else arg
                found |= {m.split(".")[0] for m in re.findall(r"\$\{([^!}][^}]*)\}", str(text))}
                if isinstance(arg, list) and len(arg) > 1:
                    found |= referenced_ids(arg[1])
            else:
                found |= referenced_ids(arg)
    elif isinstance(value, list):
        for item in value:
            found |= referenced_ids(item)
    return {f for f in found if not f.startswith("AWS::")}


def alternatives(value: Any) -> list[Any]:
    """Every value a policy element may take: the items of a list, both branches of an
    `Fn::If` (AWS::NoValue left out)."""
    if isinstance(value, list):
        return [leaf for item in value for leaf in alternatives(item)]
    if isinstance(value, dict) and list(value) == ["Fn::If"]:
        return [leaf for branch in value["Fn::If"][1:] for leaf in alternatives(branch)]
    return [] if value is None or value == NO_VALUE else [value]


def policy_statements(data: Any) -> list[Located]:
    """Every IAM statement anywhere in a template's data (identity and resource policies, both
    branches of each `Fn::If`): the mappings under a `Statement` key. A statement chosen by an
    `Fn::If` starts at the `!If` (a comment above it is about the statement)."""
    found: list[Located] = []
    if isinstance(data, dict):
        for key, value in data.items():
            if key == "Statement":
                found.extend(_statements(value, None))
            else:
                found.extend(policy_statements(value))
    elif isinstance(data, list):
        for item in data:
            found.extend(policy_statements(item))
    return found


def _statements(value: Any, first_line: int | None) -> list[Located]:
    if isinstance(value, list):
        return [s for item in value for s in _statements(item, first_line)]
    if isinstance(value, dict) and list(value) == ["Fn::If"]:
        line = getattr(value, "first_line", None) if first_line is None else first_line
        return [s for branch in value["Fn::If"][1:] for s in _statements(branch, line)]
    if not isinstance(value, dict) or value == NO_VALUE:
        return []
    statement = Located(value)
    statement.first_line = min(filter(None, (first_line, getattr(value, "first_line", 0))),
                               default=0)
    statement.last_line = getattr(value, "last_line", 0)
    return [statement]


# --- the code's side ----------------------------------------------------------------------------


def rust_code(path: Path) -> str:
    """A Rust source without its tests: the text before the first `#[cfg(test)]`."""
    return path.read_text().split("#[cfg(test)]", 1)[0]


def camel(snake: str) -> str:
    """`describe_vpn_connections` → `DescribeVpnConnections` (the SDK's operation name)."""
    return "".join(part[:1].upper() + part[1:] for part in snake.split("_"))


# Where the SDK's operation name (from its snake_case method) is spelled otherwise than the
# service's own action name.
_SPELLED = {"rds:DescribeDbInstances": "rds:DescribeDBInstances"}

_SDK_CALL = re.compile(r"\.client\s*\.\s*([a-z][a-z0-9_]*)\s*\(")


def sdk_actions() -> dict[str, set[str]]:
    """The IAM action of every SDK call each adapter module makes (`.client.<op>(`), by module."""
    actions: dict[str, set[str]] = {}
    for module, prefix in ADAPTER_PREFIXES.items():
        # An adapter is a file, or a directory of files (`aws/dynamodb/`).
        file, directory = SHARED_SRC / "aws" / f"{module}.rs", SHARED_SRC / "aws" / module
        paths = [file] if file.is_file() else sorted(directory.glob("*.rs"))
        paths = [p for p in paths if p.name != "tests.rs"]
        if not paths:
            raise AssertionError(f"adapter {module} is mapped to {prefix}: but {file} is gone")
        calls = [op for path in paths for op in _SDK_CALL.findall(rust_code(path))]
        named = (f"{prefix}:{camel(op)}" for op in calls)
        actions[module] = {_SPELLED.get(action, action) for action in named}
    return actions


def linked_modules(name: str) -> set[str]:
    """The adapter modules function `name` links: the `responder` features in its Cargo.toml
    that are adapters (`incident-manager` → `incident_manager`)."""
    manifest = FUNCTIONS_DIR / name / "Cargo.toml"
    # The one line `responder = { workspace = true, features = [...] }` (no TOML parser before
    # Python 3.11's tomllib, and the README promises 3.10).
    found = _RESPONDER_FEATURES.search(manifest.read_text())
    if found is None:
        raise AssertionError(f"{manifest}: no `responder = {{ ..., features = [...] }}` line")
    features = {f.replace("-", "_") for f in re.findall(r'"([^"]+)"', found.group(1))}
    return features & set(ADAPTER_PREFIXES)


_RESPONDER_FEATURES = re.compile(r"^responder\s*=\s*\{[^}\n]*features\s*=\s*\[([^\]]*)\]", re.M)


def code_actions(name: str) -> set[str]:
    """The IAM actions of every SDK call of the adapters function `name` links."""
    by_module = sdk_actions()
    return {a for module in linked_modules(name) for a in by_module[module]}


@dataclass
class EnvContract:
    """What a function's configuration code reads from the environment.

    `read`: every variable it reads. `required[var]`: the backends for which a missing `var`
    stops the function (all of them, or one when the code requires it only under
    `if backend == Backend::<X>`)."""

    config_type: str
    read: set[str]
    required: dict[str, set[str]]

    def required_for(self, backend: str) -> set[str]:
        return {var for var, backends in self.required.items() if backend in backends}


_ENV_NAME = r'"([A-Z][A-Z0-9_]*)"'
# A read: a call of a snake_case function or closure (`get`, `require`, `trimmed(&lookup, …)`,
# `lookup`) with the variable's name as its (last) argument.
_READ = re.compile(
    r"\b[a-z_][a-z0-9_]*\s*\(\s*(?:&?[a-z_][a-z0-9_]*\s*,\s*)?" + _ENV_NAME + r"\s*\)"
)
_MISSING = re.compile(r"ConfigError::Missing\(\s*" + _ENV_NAME + r"\s*\)")
_BACKEND_ARM = re.compile(r'"([a-z-]+)"\s*=>\s*Some\(\s*Backend::(\w+)\s*\)')


def _block(text: str, open_index: int) -> str:
    """The text of the `{ … }` block whose `{` is at `open_index` (braces only; the config code
    has no braces in its strings that matter)."""
    depth = 0
    for i in range(open_index, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return text[open_index : i + 1]
    raise ValueError("unbalanced braces in shared/src/config/mod.rs")


def _function_body(text: str, pattern: str) -> str | None:
    match = re.search(pattern, text)
    if match is None:
        return None
    return _block(text, text.index("{", match.end()))


def backends() -> dict[str, str]:
    """`Backend` variant → its `INCIDENT_BACKEND` value (from `Backend::parse`)."""
    text = (SHARED_SRC / "domain" / "incident.rs").read_text()
    return {v: k for k, v in _BACKEND_ARM.findall(text)}


def config_type(name: str) -> str:
    """The configuration type function `name`'s main.rs reads (`<Type>::from_env()`)."""
    main = (FUNCTIONS_DIR / name / "src" / "main.rs").read_text()
    found = set(re.findall(r"\b(\w+Config)::from_env\(\)", main))
    if len(found) != 1:
        raise AssertionError(f"functions/{name}/src/main.rs: expected one <X>Config::from_env(), "
                             f"found {sorted(found) or 'none'}")
    return found.pop()


def env_contract(name: str) -> EnvContract:
    """The variables function `name`'s configuration code reads, from the `from_lookup` body of
    its config type in shared/src/config/mod.rs, the helpers it calls there and the config types it
    nests (ResolveConfig → StageConfig)."""
    config = "\n".join(rust_code(p) for p in sorted((SHARED_SRC / "config").glob("*.rs"))
                       if p.name != "tests.rs")
    variants = backends()
    all_backends = set(variants.values())
    read: set[str] = set()
    required: dict[str, set[str]] = {}
    seen: set[str] = set()

    def visit(body: str) -> None:
        # Free functions of config/mod.rs it calls (not methods, not `Type::f`).
        helpers = set(re.findall(r"(?<![:.\w])([a-z_][a-z0-9_]*)\s*\(", body))
        for helper in sorted(helpers - seen):
            helper_body = _function_body(config, rf"\bfn\s+{helper}\b[^{{]*")
            if helper_body is not None:
                seen.add(helper)
                visit(helper_body)
        for nested in sorted(set(re.findall(r"\b(\w+Config)::from_lookup\(", body)) - seen):
            seen.add(nested)
            visit(_from_lookup(config, nested))
        read.update(_READ.findall(body))
        requiring = set(re.findall(r"let\s+(\w+)\s*=\s*\|[^|]*\|[^;]*ConfigError::Missing\(", body))
        for closure in requiring:
            for var in re.findall(rf"\b{closure}\(\s*{_ENV_NAME}\s*\)", body):
                required.setdefault(var, set()).update(all_backends)
        for match in _MISSING.finditer(body):
            required.setdefault(match.group(1), set()).update(
                _backends_at(body, match.start(), variants) or all_backends
            )

    kind = config_type(name)
    seen.add(kind)
    visit(_from_lookup(config, kind))
    return EnvContract(kind, read | set(required), required)


def _from_lookup(config: str, kind: str) -> str:
    impl = _function_body(config, rf"\bimpl\s+{kind}\s*")
    body = _function_body(impl or "", r"\bfn\s+from_lookup\b[^{]*")
    if body is None:
        raise AssertionError(f"shared/src/config/mod.rs: no `impl {kind}` with `fn from_lookup`")
    return body


def _backends_at(body: str, index: int, variants: dict[str, str]) -> set[str]:
    """The backends an `if backend == Backend::<X> {` or a match arm `Backend::<X> => {` around
    `index` restricts it to (empty: no such condition)."""
    depth = 0
    for i in range(index - 1, -1, -1):
        if body[i] == "}":
            depth += 1
        elif body[i] == "{":
            if depth == 0:
                header = body[max(0, body.rfind(";", 0, i), body.rfind("}", 0, i)) : i]
                match = re.search(
                    r"(?:\bif\s+\w+\s*==\s*Backend::(\w+)|\bBackend::(\w+)\s*=>)\s*$", header
                )
                variant = match and (match.group(1) or match.group(2))
                if variant in variants:
                    return {variants[variant]}
            else:
                depth -= 1
    return set()


def _items(value: Any) -> list[Any]:
    """A list value: a list as it is, a CommaDelimitedList parameter's text split on commas."""
    return value if isinstance(value, list) else str(value).split(",")
