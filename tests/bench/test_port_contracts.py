"""The ports' contract suites (`shared/src/contract`) on the real adapters: the DynamoDB state
store on moto, each incident backend on the emulator. The same suites run on the in-memory fakes
with the unit tests, so a fake cannot drift from what the adapter does (DynamoDB's conditional
writes: concurrent claims, expiry, take-over of an abandoned lease, re-claim after release,
settling; the backends' idempotent opening and the timeline's kinds).

The suites are Rust tests of the library's unit-test binary, ignored unless run here: this module
finds the binary (`cargo test --no-run`, the build `make test` just made), then runs each suite
with the bench's endpoints and the `CONTRACT_*` variables it reads.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from bench import INCIDENT_MANAGER, REPO, STATE_TABLE, Bench, Incidents, im_record, ops_data

# The flags of `make test`'s build, so that no rebuild is needed.
CARGO_TEST = ["test", "--workspace", "--all-features", "--locked", "--no-run"]


@pytest.fixture(scope="session")
def contract_binary() -> Path:
    """The library's unit-test binary, built as `make test` builds it."""
    cargo = shutil.which("cargo") or str(Path.home() / ".cargo" / "bin" / "cargo")
    built = subprocess.run(
        [cargo, *CARGO_TEST, "--message-format=json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert built.returncode == 0, built.stderr[-4000:]
    for line in built.stdout.splitlines():
        message = json.loads(line)
        if (
            message.get("reason") == "compiler-artifact"
            and message["target"]["name"] == "responder"
            and "lib" in message["target"]["kind"]
            and message["profile"]["test"]
            and message.get("executable")
        ):
            return Path(message["executable"])
    raise AssertionError("cargo built no unit-test binary for the responder library")


def run_suite(binary: Path, test: str, env: dict[str, str]) -> str:
    """Runs one suite, `contract::bench::<test>`, and returns its output; fails with it."""
    result = subprocess.run(
        [str(binary), "--ignored", "--exact", f"contract::bench::{test}", "--nocapture"],
        env={"PATH": os.environ.get("PATH", ""), "RUST_BACKTRACE": "1", **env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "test result: ok. 1 passed" in output, f"the suite did not run:\n{output}"
    return output


# Each state-table suite, with the rows it leaves in the table (its keys are `contract-<what>-…`).
STATE_SUITES = {
    "dynamodb_keeps_the_dedupe_contract": "dedupe#contract-dedupe-",
    "dynamodb_keeps_the_run_once_contract": "idem#contract-run-",
    "dynamodb_keeps_the_reference_contract": "ref#contract-ref-",
    "dynamodb_keeps_the_change_contract": "change#contract-arn:aws:cloudwatch:",
}
INCIDENT_SUITE = "the_incident_backend_keeps_the_contract"


def test_every_suite_on_the_adapters_runs_here(contract_binary: Path) -> None:
    """A suite added to `contract::bench` without a test here would never run."""
    listed = subprocess.run(
        [str(contract_binary), "--list", "--ignored", "--format", "terse"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert listed.returncode == 0, listed.stderr
    suites = {
        line.split(": ")[0].removeprefix("contract::bench::")
        for line in listed.stdout.splitlines()
        if line.startswith("contract::bench::")
    }
    assert suites == {*STATE_SUITES, INCIDENT_SUITE}, suites


@pytest.mark.parametrize("suite", sorted(STATE_SUITES))
def test_the_state_table_keeps_the_contract_on_dynamodb(
    bench: Bench, contract_binary: Path, suite: str
) -> None:
    env = {**bench.endpoint_env(access_key="contract"), "CONTRACT_STATE_TABLE": STATE_TABLE}
    run_suite(contract_binary, suite, env)
    # It ran against moto's table: this suite's rows are there.
    rows = [row["pk"] for row in bench.state_items()]
    assert any(pk.startswith(STATE_SUITES[suite]) for pk in rows), rows


def test_the_incident_backend_keeps_the_contract(
    bench: Bench, backend: str, contract_binary: Path
) -> None:
    env = {**bench.endpoint_env(access_key="contract"), "CONTRACT_INCIDENT_BACKEND": backend}
    if backend == INCIDENT_MANAGER:
        assert bench.response_plan_arn, "the bench created no response plan"
        env["CONTRACT_RESPONSE_PLAN_ARN"] = bench.response_plan_arn
    run_suite(contract_binary, INCIDENT_SUITE, env)
    # It ran against the emulator: two incidents; the first raised to impact 1 and resolved with
    # its summary, its entries stored with their kinds, the customer gateway attached once.
    incidents = Incidents(bench, backend)
    stored = incidents.all()
    assert len(stored) == 2, stored
    first = stored[0]
    if backend == INCIDENT_MANAGER:
        statuses = [im_record(r)["status"] for r in stored]
        assert statuses == ["RESOLVED", "OPEN"], statuses
        assert im_record(first).get("summary") == "Resolved: both tunnels UP.", im_record(first)
        assert im_record(first)["impact"] == 1, im_record(first)
    else:
        statuses = [r["Status"] for r in stored]
        assert statuses == ["Resolved", "Open"], statuses
        assert ops_data(first, "responder:resolution") == "Resolved: both tunnels UP.", first
        assert (first["Priority"], first["Severity"]) == (1, "1"), first
    kinds = [e["kind"] for e in incidents.entries(first) if e["kind"] != "external"]
    assert kinds == [
        "diagnosis",
        "runbook-started",
        "signal-joined",
        "runbook-finished",
        "impact-raised",
    ], kinds
    gateways = [
        i for i in incidents.related_items(first) if "cgw-0123456789abcdef0" in i["value"]
    ]
    assert len(gateways) == 1, incidents.related_items(first)
