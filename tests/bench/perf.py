"""`make bench`: a report, not a test. Measures the `triage` release binary:

- file size (stripped) and zipped size (what a Lambda deployment package holds);
- cold start: process exec → first answer posted to the Runtime API, median of N starts, with
  the SDK clients built at init and credentials/region from env — once for an event that needs
  no AWS call (pure runtime cost) and once for the VPN alarm (state table, incident, bus);
- peak RSS (VmHWM) of one process over 1,000 events;
- end-to-end events per second through that process against the bench (moto + emulator; moto,
  a Python server, dominates the time).

Classification cost per event (no I/O) is measured by `cargo bench -p responder --bench classify`.
"""

from __future__ import annotations

import io
import os
import platform
import statistics
import sys
import time
import zipfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

from bench import REPO, Bench
from runtime_api import Function

STARTS = int(os.environ.get("BENCH_STARTS", "20"))
EVENTS = int(os.environ.get("BENCH_EVENTS", "1000"))


def binary() -> Path:
    path = Path(os.environ.get("RESPONDER_RELEASE_DIR") or REPO / "target" / "release") / "triage"
    if not path.is_file():
        sys.exit(f"perf: no release binary at {path}: run `make release` first")
    return path


def zipped_size(path: Path) -> int:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.write(path, "bootstrap")
    return len(buffer.getvalue())


def cold_start(bench: Bench, path: Path, env: dict[str, str], event_for: object) -> tuple[list[float], list[float]]:
    """Times of N fresh processes: exec → polling for the first event (init), and exec → the
    first answer posted."""
    inits, firsts = [], []
    for n in range(STARTS):
        function = Function("triage", path, env, account=bench.account, region=bench.region)
        started = time.perf_counter()
        function.start()
        inits.append(time.perf_counter() - started)
        result = function.invoke(event_for(n))  # type: ignore[operator]
        firsts.append(time.perf_counter() - started)
        function.stop()
        if not result.ok:
            sys.exit(f"perf: cold-start invocation failed: {result}")
    return inits, firsts


def vm_hwm_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def main() -> int:
    path = binary()
    size = path.stat().st_size
    print(f"triage release binary: {size / 1048576:.2f} MiB stripped ({size:,} bytes), "
          f"{zipped_size(path) / 1048576:.2f} MiB zipped ({path})")
    for other in ("enrich", "runbook", "notify", "resolve", "escalate", "changes", "inspect"):
        sibling = path.with_name(other)
        if sibling.is_file():
            bytes_ = sibling.stat().st_size
            print(f"{other} release binary: {bytes_ / 1048576:.2f} MiB stripped "
                  f"({bytes_:,} bytes), {zipped_size(sibling) / 1048576:.2f} MiB zipped")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.system()} "
          f"{platform.release()}; {datetime.now(timezone.utc):%Y-%m-%d}")

    bench = Bench()
    try:
        bench.start()
        vpn_id = bench.create_vpn()
        env = {**bench.endpoint_env(), **bench.triage_env("incident-manager")}
        base = datetime.now(timezone.utc)

        def alarm(n: int) -> dict:
            # A distinct transition each time (its own state timestamp), so each is real work.
            t = base + timedelta(seconds=n)
            return bench.alarm_event(
                "cloudwatch-alarm-vpn-tunnel-down",
                vpn_id,
                time=t.strftime("%Y-%m-%dT%H:%M:%SZ"),
                detail__state__timestamp=t.strftime("%Y-%m-%dT%H:%M:%S.000+0000"),
            )

        unknown = bench.alarm_event("unknown-source", vpn_id)
        inits, firsts = cold_start(bench, path, env, lambda n: unknown)
        print(f"cold start, {STARTS} starts (median / min / max):")
        print(f"  exec → polling for the first event (init)    "
              f"{ms(statistics.median(inits))} / {ms(min(inits))} / {ms(max(inits))}")
        print(f"  exec → first answer, event with no AWS call  "
              f"{ms(statistics.median(firsts))} / {ms(min(firsts))} / {ms(max(firsts))}")
        _, vpn_firsts = cold_start(bench, path, env, lambda n: alarm(10_000 + n))
        print(f"  exec → first answer, VPN alarm (7 AWS calls) "
              f"{ms(statistics.median(vpn_firsts))} / {ms(min(vpn_firsts))} / {ms(max(vpn_firsts))}")

        function = Function("triage", path, env, account=bench.account, region=bench.region)
        function.start()
        try:
            started = time.perf_counter()
            for n in range(EVENTS):
                result = function.invoke(alarm(n) if n % 4 else unknown)
                if not result.ok:
                    sys.exit(f"perf: invocation {n} failed: {result}")
            elapsed = time.perf_counter() - started
            assert function.process is not None
            peak = vm_hwm_kib(function.process.pid)
        finally:
            function.stop()
        print(f"{EVENTS} events through one process (3 of 4 VPN alarms joining one incident, "
              f"1 of 4 ignored):")
        print(f"  peak RSS (VmHWM) {peak / 1024:.1f} MiB")
        print(f"  {EVENTS / elapsed:.0f} events/s end to end against moto + emulator "
              f"({ms(elapsed / EVENTS)} per event, mostly moto's)")
    finally:
        bench.stop()
    return 0


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


if __name__ == "__main__":
    sys.exit(main())
