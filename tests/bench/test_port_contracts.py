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

from bench import REPO, STATE_TABLE, Bench

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


@pytest.mark.parametrize(
    "suite",
    [
        "dynamodb_keeps_the_dedupe_contract",
        "dynamodb_keeps_the_run_once_contract",
        "dynamodb_keeps_the_reference_contract",
    ],
)
def test_the_state_table_keeps_the_contract_on_dynamodb(
    bench: Bench, contract_binary: Path, suite: str
) -> None:
    env = {**bench.endpoint_env(access_key="contract"), "CONTRACT_STATE_TABLE": STATE_TABLE}
    run_suite(contract_binary, suite, env)
    # It ran against moto's table: the rows are there.
    assert any(row["pk"].startswith(("dedupe#", "idem#", "ref#")) for row in bench.state_items())


def test_the_incident_backend_keeps_the_contract(
    bench: Bench, backend: str, contract_binary: Path
) -> None:
    env = {
        **bench.endpoint_env(access_key="contract"),
        "CONTRACT_INCIDENT_BACKEND": backend,
        "CONTRACT_RESPONSE_PLAN_ARN": bench.response_plan_arn or "",
    }
    run_suite(contract_binary, "the_incident_backend_keeps_the_contract", env)
    # It ran against the emulator: two incidents, one of them resolved, with the entries' kinds.
    stored = bench.emu.incidents() if backend == "incident-manager" else bench.emu.ops_items()
    assert len(stored) == 2, stored
