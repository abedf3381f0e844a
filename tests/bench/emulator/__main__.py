"""`python -m emulator [--port N] [--account ID] [--region R] [--response-plan NAME:TITLE:IMPACT]`

Starts the emulator on 127.0.0.1, prints `EMULATOR_URL=http://127.0.0.1:<port>` on stdout (and,
for each --response-plan, `RESPONSE_PLAN_ARN=<arn>`), then serves until SIGTERM or SIGINT.
Control it over HTTP: POST /_bench/faults, /_bench/response-plans, /_bench/reset,
/_bench/automations/finish, /_bench/metrics, /_bench/alarm-event; GET /_bench/state.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from .core import Emulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m emulator", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)"
    )
    parser.add_argument("--account", default="111122223333")
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument(
        "--response-plan",
        action="append",
        default=[],
        metavar="NAME:TITLE:IMPACT",
        help="create a response plan at start (repeatable)",
    )
    args = parser.parse_args(argv)

    emu = Emulator(account=args.account, region=args.region)
    emu.start(port=args.port)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        print(f"EMULATOR_URL={emu.url}", flush=True)
        for spec in args.response_plan:
            name, rest = spec.split(":", 1)
            title, impact = rest.rsplit(":", 1)
            print(
                f"RESPONSE_PLAN_ARN={emu.create_response_plan(name, title, int(impact))}",
                flush=True,
            )
        while not stop.wait(0.5):
            pass
    finally:
        emu.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
