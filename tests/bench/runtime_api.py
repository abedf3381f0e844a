"""An emulator of the Lambda Runtime API, and `Function`: a built binary run as Lambda runs it.

Lambda starts the function's process with `AWS_LAMBDA_RUNTIME_API=<host:port>` and the function
(here through the `lambda_runtime` crate) long-polls that endpoint for work:

    GET  /2018-06-01/runtime/invocation/next             → the event, with the invocation's
         Lambda-Runtime-Aws-Request-Id, -Deadline-Ms, -Invoked-Function-Arn, -Trace-Id headers
    POST /2018-06-01/runtime/invocation/{id}/response    → the handler's answer (202)
    POST /2018-06-01/runtime/invocation/{id}/error       → {errorType, errorMessage} (202), with the
         Lambda-Runtime-Function-Error-Type header
    POST /2018-06-01/runtime/init/error                  → the function could not initialise (202)

One `RuntimeApi` serves one execution environment: invocations are handed out one at a time, in
the order they were submitted, and the next one only after the previous one was answered — like
Lambda, which never sends a second event to an environment that is still busy.

`Function(name, binary, env)` starts the binary as a real process configured only through its
environment (what the SAM template will set, plus the variables Lambda itself sets), captures
its stdout/stderr in a log file, and `invoke(event)` returns a `Result`.
"""

from __future__ import annotations

import atexit
import collections
import itertools
import json
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

API_PREFIX = "/2018-06-01/runtime"
_INVOCATION_PATH = re.compile(
    r"^/2018-06-01/runtime/invocation/(?P<id>[^/]+)/(?P<kind>response|error)$"
)


class FunctionError(AssertionError):
    """The function process did not behave like a Lambda function (crashed, hung, failed init).

    An `AssertionError`, so pytest shows it as a test failure with the function's logs."""


@dataclass
class Result:
    """What one invocation came back with.

    `kind` is "response" (the handler returned) or "error" (it reported an error through
    `/error`); `body` is the JSON posted (for errors: `{"errorType", "errorMessage"}`)."""

    kind: str
    body: Any
    request_id: str
    error_type_header: str | None = None
    duration: float = 0.0

    @property
    def ok(self) -> bool:
        return self.kind == "response"

    def __str__(self) -> str:
        return f"{self.kind} {json.dumps(self.body, sort_keys=True)}"


@dataclass
class _Invocation:
    request_id: str
    payload: bytes
    deadline_ms: int
    function_arn: str
    trace_id: str
    timeout: float
    done: threading.Event = field(default_factory=threading.Event)
    result: Result | None = None
    started: float = 0.0


class RuntimeApi:
    """The Runtime API endpoint of one execution environment, on 127.0.0.1 and a free port."""

    def __init__(self, function_name: str, function_arn: str) -> None:
        self.function_name = function_name
        self.function_arn = function_arn
        self._pending: collections.deque[_Invocation] = collections.deque()
        self._by_id: dict[str, _Invocation] = {}
        self._in_flight: _Invocation | None = None
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self.polled = threading.Event()  # set once the function asked for its first event
        self.init_error: dict[str, Any] | None = None
        self.init_error_event = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.api = self
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{host}:{port}"

    def start(self) -> RuntimeApi:
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"runtime-api-{self.function_name}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            self._idle.notify_all()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()

    def submit(self, event: Any, timeout: float, qualifier: str | None = None) -> _Invocation:
        """Queues one invocation; the function picks it up on its next poll. `qualifier`: the
        alias it is invoked through (the invoked function ARN then ends with `:<qualifier>`)."""
        payload = event if isinstance(event, bytes) else json.dumps(event).encode()
        invocation = _Invocation(
            request_id=str(uuid.uuid4()),
            payload=payload,
            deadline_ms=0,  # set when handed out: Lambda's clock starts at delivery
            function_arn=self.function_arn + (f":{qualifier}" if qualifier else ""),
            trace_id=_trace_id(),
            timeout=timeout,
        )
        with self._lock:
            self._by_id[invocation.request_id] = invocation
            self._pending.append(invocation)
            self._idle.notify_all()
        return invocation

    # --- called by the request handler -----------------------------------------------------

    def _next(self) -> _Invocation | None:
        """Blocks until an invocation is due and the environment is idle; None when stopping."""
        self.polled.set()
        with self._lock:
            while not self._stopping.is_set():
                if self._in_flight is None and self._pending:
                    invocation = self._pending.popleft()
                    self._in_flight = invocation
                    invocation.started = time.monotonic()
                    # Lambda's clock starts when the event is handed to the function.
                    invocation.deadline_ms = int((time.time() + invocation.timeout) * 1000)
                    return invocation
                self._idle.wait(0.1)
        return None

    def _finish(self, request_id: str, result: Result) -> bool:
        with self._lock:
            invocation = self._by_id.get(request_id)
            if invocation is None or invocation.done.is_set():
                return False
            result.duration = time.monotonic() - invocation.started
            invocation.result = result
            if self._in_flight is invocation:
                self._in_flight = None
            self._idle.notify_all()
        invocation.done.set()
        return True

    def _init_failed(self, body: Any) -> None:
        self.init_error = body
        self.init_error_event.set()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = False
    api: RuntimeApi

    def handle_error(self, request: Any, client_address: Any) -> None:
        # The function process went away mid-request (stopped, crashed): nothing to report
        # here, `Function` reports a dead process with its logs.
        if self.api._stopping.is_set() or isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the runtime client expects
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        pass

    # -- helpers

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _reply(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    # -- routes

    def do_GET(self) -> None:  # noqa: N802
        if self.path != f"{API_PREFIX}/invocation/next":
            self._reply(404, {"errorType": "NotFound", "errorMessage": self.path})
            return
        invocation = self.server.api._next()
        if invocation is None:  # shutting down: the process is being stopped anyway
            self._reply(500, {"errorType": "ShuttingDown", "errorMessage": "bench stopping"})
            self.close_connection = True
            return
        self._reply(
            200,
            invocation.payload,
            {
                "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
                "Lambda-Runtime-Deadline-Ms": str(invocation.deadline_ms),
                "Lambda-Runtime-Invoked-Function-Arn": invocation.function_arn,
                "Lambda-Runtime-Trace-Id": invocation.trace_id,
            },
        )

    def do_POST(self) -> None:  # noqa: N802
        body = self._body()
        if self.path == f"{API_PREFIX}/init/error":
            self.server.api._init_failed(_json_or_text(body))
            self._reply(202, {"status": "OK"})
            return
        match = _INVOCATION_PATH.match(self.path)
        if match is None:
            self._reply(404, {"errorType": "NotFound", "errorMessage": self.path})
            return
        result = Result(
            kind=match["kind"],
            body=_json_or_text(body),
            request_id=match["id"],
            error_type_header=self.headers.get("Lambda-Runtime-Function-Error-Type"),
        )
        if self.server.api._finish(match["id"], result):
            self._reply(202, {"status": "OK"})
        else:
            self._reply(
                400,
                {
                    "errorType": "InvalidRequestID",
                    "errorMessage": f"unknown or already answered request id {match['id']}",
                },
            )


def _json_or_text(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return body.decode(errors="replace")


def _trace_id() -> str:
    epoch = f"{int(time.time()):08x}"
    return f"Root=1-{epoch}-{uuid.uuid4().hex[:24]};Parent={uuid.uuid4().hex[:16]};Sampled=0"


# --- the function process -------------------------------------------------------------------

_LIVE: set[Function] = set()
_counter = itertools.count(1)


@atexit.register
def _stop_leftovers() -> None:
    """Safety net: never leave a function process behind, whatever happened to the session."""
    for function in list(_LIVE):
        function.stop()


class Function:
    """A function binary running as in Lambda, behind its own Runtime API.

    The process's environment is exactly: what Lambda sets (`AWS_LAMBDA_RUNTIME_API`,
    `AWS_LAMBDA_FUNCTION_NAME`, `_MEMORY_SIZE`, `_VERSION`, `AWS_LAMBDA_LOG_FORMAT=JSON`, the log
    group and stream names), `PATH`, and `env` (the function's configuration, as the SAM template
    sets it). Nothing is inherited from the test process — no `AWS_PROFILE`, no `~/.aws`.
    """

    def __init__(
        self,
        name: str,
        binary_path: str | os.PathLike[str],
        env: dict[str, str] | None = None,
        *,
        log_dir: str | os.PathLike[str] | None = None,
        account: str = "111122223333",
        region: str = "us-east-1",
        memory_mb: int = 128,
    ) -> None:
        self.name = name
        self.binary_path = Path(binary_path)
        self.arn = f"arn:aws:lambda:{region}:{account}:function:{name}"
        self.config_env = dict(env or {})
        self.memory_mb = memory_mb
        directory = Path(log_dir) if log_dir is not None else Path(
            os.environ.get("TMPDIR", "/tmp")
        )
        directory.mkdir(parents=True, exist_ok=True)
        self.log_path = directory / f"{name}-{os.getpid()}-{next(_counter)}.log"
        self.api: RuntimeApi | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self._log_file: Any = None
        self.invocations = 0

    # -- lifecycle

    def environment(self) -> dict[str, str]:
        assert self.api is not None
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "AWS_LAMBDA_RUNTIME_API": self.api.address,
            "AWS_LAMBDA_FUNCTION_NAME": self.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(self.memory_mb),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_LOG_FORMAT": "JSON",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{self.name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": time.strftime("%Y/%m/%d/[$LATEST]")
            + uuid.uuid4().hex,
        }
        env.update(self.config_env)
        return env

    def start(self, ready_timeout: float = 10.0) -> Function:
        """Starts the process and waits until it polls for its first event (init done).

        Raises `FunctionError` with the logs if it exits or reports an init error first."""
        if not self.binary_path.is_file():
            raise FunctionError(
                f"no `{self.name}` binary at {self.binary_path}: "
                "run `make functions` first "
                "(or point RESPONDER_BIN_DIR at the directory holding the binaries)"
            )
        self.api = RuntimeApi(self.name, self.arn).start()
        self._log_file = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [str(self.binary_path)],
            env=self.environment(),
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            cwd=self.log_path.parent,
        )
        _LIVE.add(self)
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if self.api.polled.is_set():
                return self
            self._raise_if_dead("during init")
            time.sleep(0.01)
        raise FunctionError(
            f"{self.name} did not poll for an event within {ready_timeout}s of starting\n"
            + self.logs()
        )

    def stop(self) -> None:
        """Terminates the process (SIGTERM, then SIGKILL after 3 s) and its Runtime API."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        if self.api is not None:
            self.api.stop()
            self.api = None
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        _LIVE.discard(self)

    def __enter__(self) -> Function:
        return self.start() if self.process is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    # -- invoking

    def invoke(self, event: Any, timeout: float = 30, qualifier: str | None = None) -> Result:
        """Sends one event (a dict, or raw bytes) and waits for the answer; through the alias
        `qualifier` when given (as `lambda invoke --function-name <name>:<alias>` does).

        `timeout` is the function's timeout: the invocation's deadline is `timeout` seconds after
        delivery. Raises `FunctionError` (with the logs) if the process dies, reports an init
        error, or does not answer in time — what Lambda would report as a crash or time-out."""
        if self.api is None or self.process is None:
            raise FunctionError(f"{self.name} is not started")
        self._raise_if_dead("before the invocation")
        invocation = self.api.submit(event, timeout, qualifier)
        self.invocations += 1
        deadline = time.monotonic() + timeout + 2.0
        while not invocation.done.wait(0.02):
            self._raise_if_dead(f"while handling invocation {invocation.request_id}")
            if time.monotonic() > deadline:
                # Lambda would end this environment: so do we, the next invoke gets an error.
                logs = self.logs()
                self.stop()
                raise FunctionError(
                    f"{self.name} did not answer invocation {invocation.request_id} "
                    f"within {timeout}s (process stopped)\n" + logs
                )
        assert invocation.result is not None
        return invocation.result

    def _raise_if_dead(self, when: str) -> None:
        assert self.api is not None and self.process is not None
        if self.api.init_error_event.is_set():
            raise FunctionError(
                f"{self.name} reported an init error {when}: {self.api.init_error}\n"
                + self.logs()
            )
        code = self.process.poll()
        if code is not None:
            raise FunctionError(f"{self.name} exited with code {code} {when}\n" + self.logs())

    # -- logs

    def logs(self) -> str:
        """The process's stdout and stderr so far, headed by the binary's path."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            text = ""
        return f"--- {self.name} ({self.binary_path}) output, {self.log_path} ---\n{text}"

    def log_records(self) -> list[dict[str, Any]]:
        """The JSON log lines (AWS_LAMBDA_LOG_FORMAT=JSON), parsed; other lines skipped."""
        records = []
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return records
        for line in lines:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                records.append(record)
        return records
