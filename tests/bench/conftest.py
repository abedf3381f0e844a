"""Fixtures of the local AWS bench (rootdir: tests/bench, see pytest.ini).

- `bench`: the running `Bench` (moto + emulator, started once per session), reset before each
  test: empty state table, empty bus tap, fresh emulator with the response plan.
- `backend`: parametrised, "incident-manager" then "opscenter"; `incidents`: `Incidents` for it.
- `vpn`: a fresh VPN connection id (tunnel 1 down, tunnel 2 up, both logging to /vpn/<id> in
  JSON), with its TunnelState history in the emulator's CloudWatch.
- `function(name, env=None, **kw)`: starts the built binary `<name>` behind its own Lambda
  Runtime API with the bench's endpoints plus `env`, and returns the `Function`; every process
  started is stopped at the end of the test, and its output is attached to a failed test's
  report. Binaries are taken from `$RESPONDER_BIN_DIR`, else `<repo>/target/debug`.
- `triage`, `enrich`, `runbook`, `notify`, `resolve`, `escalate`: each `function(name, env=...)`
  with only the contract's variables for it: `bench.triage_env(backend)`,
  `bench.stage_env(backend)`, `bench.runbook_env(backend)`, `bench.notify_env()`,
  `bench.resolve_env(backend)`, `bench.escalate_env(backend)`. A later
  function joins with one fixture of the same shape.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bench import BACKENDS, REPO, Bench, Incidents
from runtime_api import Function, FunctionError


def bin_dir() -> Path:
    return Path(os.environ.get("RESPONDER_BIN_DIR") or REPO / "target" / "debug")


def binary_path(name: str) -> Path:
    """The built binary of function `name`; fails the test with what to do if it is missing."""
    path = bin_dir() / name
    if not path.is_file():
        raise FunctionError(
            f"no `{name}` binary at {path}: run `make functions` first "
            "(or set RESPONDER_BIN_DIR to the directory holding the built functions)"
        )
    return path


@pytest.fixture(scope="session")
def bench_session() -> Iterator[Bench]:
    bench = Bench().start()
    try:
        yield bench
    finally:
        bench.stop()


@pytest.fixture
def bench(bench_session: Bench) -> Bench:
    """The bench, with fresh contents for this test."""
    bench_session.reset()
    return bench_session


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The incident backend: every test using it runs for `incident-manager` and `opscenter`."""
    return request.param


@pytest.fixture
def vpn(bench: Bench) -> str:
    """A fresh VPN connection in moto: tunnel 1 (203.0.113.10) DOWN, tunnel 2 UP; TunnelState
    in the emulator's CloudWatch (tunnel 1 at 0 for the last minutes)."""
    return bench.create_vpn()


@pytest.fixture
def incidents(bench: Bench, backend: str) -> Incidents:
    """The incidents in the emulator, in one vocabulary for both backends."""
    return Incidents(bench, backend)


StartFunction = Callable[..., Function]


@pytest.fixture
def function(
    bench: Bench, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[StartFunction]:
    """Factory: `function("triage", env={...})` → a started `Function` on the bench.

    The process gets `bench.endpoint_env()` and `env` (the function's own configuration) —
    nothing else from this process. It signs its AWS requests with the access key `name`, so
    `bench.calls.by_key()[name]` is what it called. Extra keyword arguments go to `Function`
    (`memory_mb`) and `Function.start` is called with its defaults."""
    started: list[Function] = []
    request.node.stash[_FUNCTIONS] = started

    def start(name: str, env: dict[str, str] | None = None, **kwargs: Any) -> Function:
        function = Function(
            name,
            binary_path(name),
            {**bench.endpoint_env(access_key=name), **(env or {})},
            log_dir=tmp_path,
            account=bench.account,
            region=bench.region,
            **kwargs,
        )
        started.append(function)
        return function.start()

    yield start
    for function in started:
        function.stop()


@pytest.fixture
def triage(function: StartFunction, bench: Bench, backend: str) -> Function:
    """`triage` configured only as the SAM template will: INCIDENT_BACKEND, RESPONSE_PLAN_ARN
    (Incident Manager), RESPONDER_BUS, STATE_TABLE."""
    return function("triage", env=bench.triage_env(backend))


@pytest.fixture
def enrich(function: StartFunction, bench: Bench, backend: str) -> Function:
    """`enrich` configured as the SAM template will: INCIDENT_BACKEND, RESPONDER_BUS,
    STATE_TABLE."""
    return function("enrich", env=bench.stage_env(backend))


@pytest.fixture
def runbook(function: StartFunction, bench: Bench, backend: str) -> Function:
    """`runbook` configured as the SAM template will: INCIDENT_BACKEND, RESPONDER_BUS,
    STATE_TABLE, AUTOMATION_ROLE_ARN (the bench's role, trusted by ssm.amazonaws.com)."""
    return function("runbook", env=bench.runbook_env(backend))


@pytest.fixture
def notify(function: StartFunction, bench: Bench) -> Function:
    """`notify` configured as the SAM template will: NOTIFY_TOPIC_ARN (the bench's Chatbot
    topic, read back through SQS: `bench.slack_messages()`), STATE_TABLE. It needs no backend:
    everything it posts comes with the event."""
    return function("notify", env=bench.notify_env())


@pytest.fixture
def resolve(function: StartFunction, bench: Bench, backend: str) -> Function:
    """`resolve` configured as the SAM template will: INCIDENT_BACKEND, RESPONDER_BUS,
    STATE_TABLE, REPORT_BUCKET (the bench's bucket in moto S3: `bench.report_objects()`)."""
    return function("resolve", env=bench.resolve_env(backend))


@pytest.fixture
def escalate(function: StartFunction, bench: Bench, backend: str) -> Function:
    """`escalate` configured as the SAM template will: INCIDENT_BACKEND, RESPONDER_BUS,
    STATE_TABLE, PAGING_TOPICS (the bench's topics, heard through SQS: `bench.paging.pages()`),
    SCHEDULE_GROUP, SCHEDULE_ROLE_ARN, SCHEDULE_TARGET_ARN (moto's Scheduler, fired by
    `bench.paging.fire_next`)."""
    return function("escalate", env=bench.escalate_env(backend))


_FUNCTIONS = pytest.StashKey[list[Function]]()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Iterator[None]:
    """A failed test's report carries the output of every function it started."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.failed:
        for function in item.stash.get(_FUNCTIONS, []):
            report.sections.append((f"{function.name} output", function.logs()))


@pytest.fixture
def changes(function: StartFunction, bench: Bench, backend: str) -> Function:
    """`changes` configured as the SAM template will: INCIDENT_BACKEND, RESPONDER_BUS,
    STATE_TABLE, CHANGES_LOOKBACK, CHANGES_MAX (CloudTrail in the emulator, CloudFormation in
    moto)."""
    return function("changes", env=bench.changes_env(backend))


@pytest.fixture
def inspect(function: StartFunction, bench: Bench, backend: str) -> Function:
    """`inspect` configured as the SAM template will: INCIDENT_BACKEND, RESPONDER_BUS,
    STATE_TABLE (Lambda, CloudWatch Logs, ELB and RDS in moto)."""
    return function("inspect", env=bench.stage_env(backend))
