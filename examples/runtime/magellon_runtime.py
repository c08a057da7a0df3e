"""Magellon plugin runtime: a tiny, stdlib-only HTTP host for one plugin.

Every example plugin ships this exact file next to its main.py; main.py builds the
plugin object and calls ``main(plugin, plugin_dir)``. Nothing here is specific to a
plugin: identity comes from manifest.yaml, the work from ``plugin.execute``.

Command line
    python3 main.py --port N [--host H]
    --port   required unless MAGELLON_PLUGIN_PORT is set; 0 binds a free port
    --host   default MAGELLON_PLUGIN_HOST, else 127.0.0.1

Standard output carries exactly one line, printed once the socket listens:
    MAGELLON_PLUGIN_READY {"plugin_id": "...", "version": "...", "host": "...", "port": N, "pid": N}
Everything else (one line per request, progress, errors, tracebacks) goes to stderr.

Routes (all answers are JSON)
    GET  /health         {"status": "ok", "plugin_id", "version", "uptime_seconds"}
    GET  /version        {"plugin_id", "version", "python"}
    GET  /schema/input   the manifest's input_schema file
    GET  /schema/output  the manifest's output_schema file
    POST /run            JSON object in, {"result": ...} out
Errors are {"error": {"code": "...", "message": "..."}}: 400 bad_input (invalid JSON,
or a ValueError raised by the plugin), 404 not_found, 405 method_not_allowed,
411 length_required, 413 payload_too_large (body over 16 MiB), 500 internal_error
(the traceback goes to stderr, never to the client).

Heartbeat: if MAGELLON_HEARTBEAT_URL is set, a daemon thread POSTs
{"plugin_id", "version", "replica_id", "ts", "status": "ok"} there every
MAGELLON_HEARTBEAT_SECONDS (default 5) seconds; replica_id is MAGELLON_REPLICA_ID or
<hostname>-<pid>. Failed beats are logged (one line) and otherwise ignored.

SIGTERM or SIGINT stops the server, waits briefly for requests in flight, exits 0.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import platform
import re
import signal
import socket
import socketserver
import sys
import threading
import time
import traceback
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol, TextIO

READY_PREFIX = "MAGELLON_PLUGIN_READY"
MAX_BODY_BYTES = 16 * 1024 * 1024
DEFAULT_HOST = "127.0.0.1"
DEFAULT_HEARTBEAT_SECONDS = 5.0
HEARTBEAT_TIMEOUT_SECONDS = 2.0
#: How long a stopping server waits for requests in flight before it exits anyway.
SHUTDOWN_GRACE_SECONDS = 3.0
#: Seconds a client may stay silent mid-request before its connection is dropped.
CLIENT_TIMEOUT_SECONDS = 60

MANIFEST_NAMES = ("manifest.yaml", "plugin.yaml")  # plugin.yaml: the legacy alias packs also carry
DEFAULT_SCHEMAS = {"input": "schemas/input.json", "output": "schemas/output.json"}

#: Path -> methods it answers (HEAD is answered wherever GET is).
ROUTES: dict[str, tuple[str, ...]] = {
    "/health": ("GET", "HEAD"),
    "/version": ("GET", "HEAD"),
    "/schema/input": ("GET", "HEAD"),
    "/schema/output": ("GET", "HEAD"),
    "/run": ("POST",),
}

ERROR_CODES = {
    400: "bad_input",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    411: "length_required",
    413: "payload_too_large",
    414: "uri_too_long",
    431: "headers_too_large",
    500: "internal_error",
    501: "not_implemented",
    505: "http_version_not_supported",
}


class Plugin(Protocol):
    """What the runtime needs from a plugin: one method."""

    def execute(self, input: dict[str, Any], reporter: Any) -> Any: ...


# --------------------------------------------------------------------------- manifest


_TOP_LEVEL_KEY = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)[ \t]*:(?:[ \t]+(.*))?$")


def _yaml_scalar(raw: str) -> str:
    """The value of a one-line YAML scalar: quotes removed, a trailing comment dropped."""
    text = raw.strip()
    if text.startswith("'"):
        out, i = [], 1
        while i < len(text):
            if text[i] == "'":
                if text[i + 1 : i + 2] == "'":  # '' is an escaped quote
                    out.append("'")
                    i += 2
                    continue
                return "".join(out)
            out.append(text[i])
            i += 1
        raise ValueError(f"unterminated quote in {raw.strip()!r}")
    if text.startswith('"'):
        i = 1
        while i < len(text):
            if text[i] == "\\":
                i += 2
                continue
            if text[i] == '"':
                try:
                    return json.loads(text[: i + 1])
                except ValueError:
                    return text[1:i]
            i += 1
        raise ValueError(f"unterminated quote in {raw.strip()!r}")
    comment = re.search(r"(^|[ \t])#", text)
    if comment:
        text = text[: comment.start()]
    return text.strip()


def read_manifest_fields(path: str | os.PathLike[str], keys: tuple[str, ...]) -> dict[str, str]:
    """Top-level one-line ``key: value`` pairs of a manifest, found by plain line parsing.

    There is no YAML library in the standard library; the few keys the runtime needs
    are one-line scalars at column 0, which this reads the way YAML would.
    """
    found: dict[str, str] = {}
    text = Path(path).read_text(encoding="utf-8-sig")
    for line in text.splitlines():
        match = _TOP_LEVEL_KEY.match(line.rstrip())
        if not match or match.group(1) not in keys or match.group(1) in found:
            continue
        value = _yaml_scalar(match.group(2) or "")
        if value:
            found[match.group(1)] = value
    return found


def find_manifest(plugin_dir: str | os.PathLike[str]) -> Path:
    for name in MANIFEST_NAMES:
        candidate = Path(plugin_dir) / name
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"no manifest.yaml in {plugin_dir}")


def read_identity(plugin_dir: str | os.PathLike[str]) -> dict[str, str]:
    """plugin_id, version and the schema paths, from the manifest next to main.py."""
    manifest = find_manifest(plugin_dir)
    fields = read_manifest_fields(manifest, ("plugin_id", "version", "input_schema", "output_schema"))
    for key in ("plugin_id", "version"):
        if not fields.get(key):
            raise ValueError(f"{manifest} has no top-level '{key}:' line")
    return fields


# --------------------------------------------------------------------------- logging and progress


def _timestamp(t: float | None = None) -> str:
    t = time.time() if t is None else t
    millis = int((t % 1) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{millis:03d}Z"


class Log:
    """One timestamped line per call, written whole to stderr (safe across threads)."""

    def __init__(self, name: str, stream: TextIO | None = None) -> None:
        self._name = name
        self._stream = stream or sys.stderr
        self._lock = threading.Lock()

    def __call__(self, message: str) -> None:
        lines = str(message).rstrip("\n").replace("\n", "\n    ")
        with self._lock:
            try:
                self._stream.write(f"{_timestamp()} {self._name} {lines}\n")
                self._stream.flush()
            except (OSError, ValueError):
                pass  # stderr closed; nothing useful left to do


class Reporter:
    """Handed to ``plugin.execute``: progress and messages go to the plugin log."""

    def __init__(self, log: Log, request_id: str) -> None:
        self._log = log
        self.request_id = request_id

    def progress(self, fraction: float, message: str = "") -> None:
        percent = max(0.0, min(1.0, float(fraction))) * 100
        self._log(f"[{self.request_id}] progress {percent:.0f}%" + (f" {message}" if message else ""))

    def log(self, message: str) -> None:
        self._log(f"[{self.request_id}] {message}")


class NullReporter:
    """A reporter that drops everything, for calling ``execute`` outside the server."""

    request_id = "-"

    def progress(self, fraction: float, message: str = "") -> None:
        pass

    def log(self, message: str) -> None:
        pass


# --------------------------------------------------------------------------- HTTP


class ClientError(Exception):
    """Answered with a JSON error; not logged as a plugin failure."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


class App:
    """Everything a request handler needs, shared by all handler threads."""

    def __init__(self, plugin: Plugin, plugin_dir: Path, identity: Mapping[str, str], log: Log) -> None:
        self.plugin = plugin
        self.plugin_dir = plugin_dir
        self.plugin_id = identity["plugin_id"]
        self.version = identity["version"]
        self.schema_paths = {
            kind: identity.get(f"{kind}_schema") or default for kind, default in DEFAULT_SCHEMAS.items()
        }
        self.log = log
        self.started = time.monotonic()
        self._ids = itertools.count(1)
        self._active = 0
        self._idle = threading.Condition()

    def next_request_id(self) -> str:
        return f"r{next(self._ids)}"

    @contextlib.contextmanager
    def in_flight(self) -> Iterator[None]:
        with self._idle:
            self._active += 1
        try:
            yield
        finally:
            with self._idle:
                self._active -= 1
                self._idle.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        with self._idle:
            return self._idle.wait_for(lambda: self._active == 0, timeout)

    def schema(self, kind: str) -> Any:
        rel = self.schema_paths[kind]
        root = self.plugin_dir.resolve()
        path = (root / rel).resolve()
        if root not in path.parents or not path.is_file():
            raise ClientError(404, f"this plugin has no {kind} schema ({rel})")
        return json.loads(path.read_text(encoding="utf-8"))


class _Answered(Exception):
    """The response was already written (a 413); unwind without writing another."""


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


class Handler(BaseHTTPRequestHandler):
    server_version = "magellon-plugin"
    protocol_version = "HTTP/1.0"  # one request per connection: nothing idles open at shutdown
    timeout = CLIENT_TIMEOUT_SECONDS
    server: Server

    # BaseHTTPRequestHandler calls do_<METHOD>; every method goes through _dispatch so
    # unknown routes are 404 and known routes with the wrong method 405, all in JSON.
    def do_GET(self) -> None:
        self._dispatch()

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_GET

    def version_string(self) -> str:
        return self.server_version

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass  # _dispatch logs one line per request itself, with status, size and time

    def log_message(self, format: str, *args: Any) -> None:
        self.server.app.log(f"{self.client_address[0]} {format % args}")

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Errors the stdlib detects before routing (malformed request line, …), as JSON."""
        self.close_connection = True
        if not hasattr(self, "_request_id"):
            self._begin()
        with contextlib.suppress(OSError):
            default = self.responses.get(code, ("malformed request",))[0]
            self._reply(code, _error_body(code, message or explain or default))
        self._log_access()

    # ------------------------------------------------------------------ plumbing

    def _begin(self) -> None:
        self._request_id = self.server.app.next_request_id()
        self._started = time.monotonic()
        self._status = 0
        self._size = 0

    def _log_access(self) -> None:
        millis = (time.monotonic() - self._started) * 1000
        request = f"{getattr(self, 'command', None) or '-'} {getattr(self, 'path', None) or '-'}"
        self.server.app.log(
            f'{self.client_address[0]} "{request}" {self._status or "-"} {self._size}B {millis:.1f}ms [{self._request_id}]'
        )

    def _reply(self, status: int, payload: Any, headers: Mapping[str, str] | None = None) -> None:
        try:
            body = (json.dumps(payload, allow_nan=False) + "\n").encode("utf-8")
        except (TypeError, ValueError) as exc:
            raise RuntimeError(f"the response is not JSON (NaN, infinity or an unknown type?): {exc}") from exc
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Request-Id", self._request_id)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if getattr(self, "command", None) != "HEAD":
            self.wfile.write(body)
        self._status, self._size = status, len(body)

    def _dispatch(self) -> None:
        self._begin()
        try:
            path = urllib.parse.urlsplit(self.path).path
            methods = ROUTES.get(path)
            if methods is None:
                raise ClientError(404, f"no route {path}; try GET /health or POST /run")
            if self.command not in methods:
                allow = ", ".join(methods)
                raise ClientError(405, f"{path} answers {allow}, not {self.command}", {"Allow": allow})
            status, payload = self._route(path)
            self._reply(status, payload)
        except ClientError as err:
            self._reply(err.status, _error_body(err.status, err.message), err.headers)
        except _Answered:
            pass
        except (BrokenPipeError, ConnectionResetError):
            self._status = self._status or 499  # the client went away before the answer
        except Exception:
            self.server.app.log(f"[{self._request_id}] internal error\n{traceback.format_exc().rstrip()}")
            with contextlib.suppress(OSError):
                self._reply(500, _error_body(500, "internal error; see the plugin log"))
        finally:
            self._log_access()

    def _route(self, path: str) -> tuple[int, Any]:
        app = self.server.app
        if path == "/health":
            uptime = round(time.monotonic() - app.started, 3)
            return 200, {"status": "ok", "plugin_id": app.plugin_id, "version": app.version, "uptime_seconds": uptime}
        if path == "/version":
            return 200, {"plugin_id": app.plugin_id, "version": app.version, "python": platform.python_version()}
        if path.startswith("/schema/"):
            return 200, app.schema(path.rsplit("/", 1)[1])
        return 200, {"result": self._run()}

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "identity").lower() != "identity":
            raise ClientError(411, "send the body with a Content-Length; chunked bodies are not supported")
        header = self.headers.get("Content-Length")
        if header is None:
            raise ClientError(411, "POST /run needs a Content-Length header")
        try:
            length = int(header)
            if length < 0:
                raise ValueError
        except ValueError:
            raise ClientError(400, f"invalid Content-Length {header!r}") from None
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            self._reply(413, _error_body(413, f"request body is {length} bytes; the limit is {MAX_BODY_BYTES}"))
            self._discard(length)
            raise _Answered
        body = self.rfile.read(length)
        if len(body) < length:
            raise ClientError(400, f"request body ended after {len(body)} of {length} bytes")
        return body

    def _discard(self, length: int) -> None:
        """Reads (and drops) a refused body the client is already sending, so it sees our 413
        rather than a connection reset; gives up after a short silence or 4x the limit."""
        remaining = min(length, 4 * MAX_BODY_BYTES)
        with contextlib.suppress(OSError):
            self.connection.settimeout(1.0)
            while remaining > 0:
                chunk = self.rfile.read1(min(1 << 16, remaining))
                if not chunk:
                    break
                remaining -= len(chunk)

    def _run(self) -> Any:
        app = self.server.app
        body = self._read_body()
        try:
            payload = json.loads(body, parse_constant=_reject_constant)
        except (ValueError, RecursionError) as exc:
            raise ClientError(400, f"request body is not valid JSON: {exc}") from None
        if not isinstance(payload, dict):
            raise ClientError(400, f"request body must be a JSON object, not {type(payload).__name__}")
        with app.in_flight():
            try:
                result = app.plugin.execute(payload, Reporter(app.log, self._request_id))
            except ValueError as exc:
                raise ClientError(400, str(exc) or "invalid input") from None
        return result


def _error_body(status: int, message: str) -> dict[str, Any]:
    return {"error": {"code": ERROR_CODES.get(status, "error"), "message": message}}


class Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # shutdown waits for requests in flight itself, with a bound
    request_queue_size = 64
    app: App

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn(), which can stall for seconds
        # without DNS; the plugin only needs the address it bound.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), port

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Errors that escape a handler (not ones _dispatch answers): log them, keep serving.
        self.app.log(f"{client_address[0]} connection error\n{traceback.format_exc().rstrip()}")


class Server6(Server):
    address_family = socket.AF_INET6


def make_server(host: str, port: int, app: App) -> Server:
    cls = Server6 if ":" in host else Server
    server = cls((host, port), Handler)
    server.app = app
    return server


# --------------------------------------------------------------------------- heartbeat


def heartbeat_loop(app: App, url: str, interval: float, stop: threading.Event) -> None:
    replica_id = os.environ.get("MAGELLON_REPLICA_ID") or f"{socket.gethostname()}-{os.getpid()}"
    while True:
        beat = {"plugin_id": app.plugin_id, "version": app.version, "replica_id": replica_id, "ts": time.time(), "status": "ok"}
        request = urllib.request.Request(
            url, data=json.dumps(beat).encode("utf-8"), headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=HEARTBEAT_TIMEOUT_SECONDS) as response:
                response.read(1 << 16)
        except Exception as exc:  # a missed beat must never hurt the plugin
            app.log(f"heartbeat to {url} failed: {type(exc).__name__}: {exc}")
        if stop.wait(interval):
            return


def start_heartbeat(app: App, stop: threading.Event) -> threading.Thread | None:
    url = os.environ.get("MAGELLON_HEARTBEAT_URL", "").strip()
    if not url:
        return None
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        app.log(f"heartbeat disabled: MAGELLON_HEARTBEAT_URL={url!r} is not an http(s) URL")
        return None
    raw = os.environ.get("MAGELLON_HEARTBEAT_SECONDS", "").strip()
    interval = DEFAULT_HEARTBEAT_SECONDS
    if raw:
        try:
            interval = float(raw)
            if not interval > 0 or interval == float("inf"):
                raise ValueError
        except ValueError:
            app.log(f"MAGELLON_HEARTBEAT_SECONDS={raw!r} is not a positive number; using {DEFAULT_HEARTBEAT_SECONDS:g}")
            interval = DEFAULT_HEARTBEAT_SECONDS
    thread = threading.Thread(target=heartbeat_loop, args=(app, url, interval, stop), name="heartbeat", daemon=True)
    thread.start()
    app.log(f"heartbeat every {interval:g}s to {url}")
    return thread


# --------------------------------------------------------------------------- entry point


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port number (0-65535)")
    return port


def parse_args(argv: list[str] | None, plugin_id: str = "plugin") -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="main.py",
        description=f"Serve the Magellon plugin {plugin_id} over HTTP (GET /health, GET /version, POST /run).",
    )
    parser.add_argument("--port", type=_port, help="port to listen on; 0 picks a free one (default $MAGELLON_PLUGIN_PORT)")
    parser.add_argument(
        "--host",
        default=os.environ.get("MAGELLON_PLUGIN_HOST") or DEFAULT_HOST,
        help=f"address to bind (default $MAGELLON_PLUGIN_HOST, else {DEFAULT_HOST})",
    )
    args = parser.parse_args(argv)
    if args.port is None:
        env_port = os.environ.get("MAGELLON_PLUGIN_PORT", "").strip()
        if not env_port:
            parser.error("--port is required (or set MAGELLON_PLUGIN_PORT)")
        try:
            args.port = _port(env_port)
        except argparse.ArgumentTypeError as exc:
            parser.error(f"MAGELLON_PLUGIN_PORT: {exc}")
    return args


def main(plugin: Plugin, plugin_dir: str | os.PathLike[str] | None = None, argv: list[str] | None = None) -> int:
    """Serves ``plugin`` until SIGTERM/SIGINT; returns the process exit code."""
    plugin_dir = Path(plugin_dir or Path(sys.argv[0]).resolve().parent)
    try:
        identity = read_identity(plugin_dir)
        problem = None
    except (OSError, ValueError) as exc:
        identity, problem = {}, exc
    args = parse_args(argv, identity.get("plugin_id", "plugin"))  # --help works even without a manifest
    if problem is not None:
        Log("magellon-plugin")(f"error: cannot read the manifest: {problem}")
        return 1

    # Standard output is the host's channel: the READY line and nothing else.
    ready_out = sys.stdout
    sys.stdout = sys.stderr

    log = Log(identity["plugin_id"])
    app = App(plugin, plugin_dir, identity, log)

    stopping: list[int] = []  # the signal handler only appends: it must not take locks

    def on_signal(signum: int, _frame: Any) -> None:
        stopping.append(signum)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)

    try:
        server = make_server(args.host, args.port, app)
    except OSError as exc:
        log(f"error: cannot listen on {args.host}:{args.port}: {exc}")
        return 1

    host, port = server.server_address[:2]
    serving = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, name="http", daemon=True)
    serving.start()
    ready = {"plugin_id": app.plugin_id, "version": app.version, "host": host, "port": port, "pid": os.getpid()}
    ready_out.write(f"{READY_PREFIX} {json.dumps(ready)}\n")
    ready_out.flush()
    log(f"version {app.version} listening on http://{host}:{port} (python {platform.python_version()})")

    stop_heartbeat = threading.Event()
    start_heartbeat(app, stop_heartbeat)

    exit_code = 0
    while not stopping:
        if not serving.is_alive():
            log("error: the HTTP server stopped unexpectedly")
            exit_code = 1
            break
        time.sleep(0.1)
    if stopping:
        log(f"received {signal.Signals(stopping[0]).name}; shutting down")
    stop_heartbeat.set()
    server.shutdown()
    if not app.wait_idle(SHUTDOWN_GRACE_SECONDS):
        log(f"stopping with requests still running after {SHUTDOWN_GRACE_SECONDS:g}s")
    server.server_close()
    log("stopped")
    return exit_code
