"""The server contract every Magellon example plugin meets, as reusable unittest mixins.

One copy lives in examples/runtime/; each plugin's tests/server_contract.py links to it, and
`hub pack` stores the file's contents in the archive. A plugin's tests/test_server.py mixes
ServerContract and LifecycleContract into unittest.TestCase with its own inputs.
"""

from __future__ import annotations

import http.client
import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import magellon_runtime


class _Contract:
    """Settings a plugin's test class provides; assert* come from unittest.TestCase."""

    PLUGIN_DIR: Path
    PLUGIN_ID: str

START_TIMEOUT = 20.0
STOP_TIMEOUT = 5.0


class PluginProcess:
    """python3 main.py in a subprocess on a free port; stdout parsed for the READY line."""

    def __init__(self, plugin_dir: Path, args: list[str] | None = None, env: dict[str, str] | None = None) -> None:
        clean = {k: v for k, v in os.environ.items() if not k.startswith("MAGELLON_")}
        clean["PYTHONDONTWRITEBYTECODE"] = "1"
        clean.update(env or {})
        self.stderr = tempfile.TemporaryFile(mode="w+", encoding="utf-8")
        self.proc = subprocess.Popen(
            [sys.executable, "main.py", *(["--port", "0"] if args is None else args)],
            cwd=plugin_dir,
            env=clean,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
            encoding="utf-8",
        )
        self.ready = self._wait_ready()
        self.port = int(self.ready["port"])

    def _wait_ready(self) -> dict[str, Any]:
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: lines.put(self.proc.stdout.readline()), daemon=True).start()
        try:
            line = lines.get(timeout=START_TIMEOUT)
        except queue.Empty:
            line = ""
        prefix = magellon_runtime.READY_PREFIX + " "
        if not line.startswith(prefix):
            self.close()
            raise AssertionError(f"no READY line (got {line!r}); stderr:\n{self.log()}")
        return json.loads(line[len(prefix) :])

    def request(self, method: str, path: str, body: Any = None, raw: bytes | None = None) -> tuple[int, Any]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
            headers = {"Content-Type": "application/json"} if data is not None else {}
            conn.request(method, path, body=data, headers=headers)
            response = conn.getresponse()
            text = response.read()
            return response.status, (json.loads(text) if text else None)
        finally:
            conn.close()

    def stop(self, sig: int = signal.SIGTERM) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=STOP_TIMEOUT)

    def log(self) -> str:
        self.stderr.seek(0)
        return self.stderr.read()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()
        self.stderr.close()


class ServerContract(_Contract):
    """The HTTP routes every plugin serves. Mix into a unittest.TestCase with the plugin's settings."""

    server: PluginProcess
    RUN_INPUT: dict[str, Any]
    BAD_INPUT: dict[str, Any]

    def check_result(self, result: dict[str, Any]) -> None:
        raise NotImplementedError

    @classmethod
    def setUpClass(cls) -> None:
        cls.server = PluginProcess(cls.PLUGIN_DIR)
        cls.manifest = magellon_runtime.read_identity(cls.PLUGIN_DIR)

    @classmethod
    def tearDownClass(cls) -> None:
        cls.server.close()

    def test_ready_line(self) -> None:
        ready = self.server.ready
        self.assertEqual(set(ready), {"plugin_id", "version", "host", "port", "pid"})
        self.assertEqual(ready["plugin_id"], self.PLUGIN_ID)
        self.assertEqual(ready["version"], self.manifest["version"])
        self.assertEqual(ready["host"], "127.0.0.1")
        self.assertGreater(ready["port"], 0)
        self.assertEqual(ready["pid"], self.server.proc.pid)

    def test_health(self) -> None:
        status, body = self.server.request("GET", "/health")
        self.assertEqual(status, 200)
        self.assertEqual(body["status"], "ok")
        self.assertEqual(body["plugin_id"], self.PLUGIN_ID)
        self.assertEqual(body["version"], self.manifest["version"])
        self.assertGreaterEqual(body["uptime_seconds"], 0)

    def test_version(self) -> None:
        status, body = self.server.request("GET", "/version")
        self.assertEqual(status, 200)
        self.assertEqual(body["plugin_id"], self.PLUGIN_ID)
        self.assertEqual(body["version"], self.manifest["version"])
        self.assertEqual(body["python"], ".".join(map(str, sys.version_info[:3])))

    def test_schemas(self) -> None:
        for kind in ("input", "output"):
            status, body = self.server.request("GET", f"/schema/{kind}")
            self.assertEqual(status, 200)
            on_disk = json.loads((self.PLUGIN_DIR / "schemas" / f"{kind}.json").read_text(encoding="utf-8"))
            self.assertEqual(body, on_disk)
            self.assertEqual(body["$schema"], "https://json-schema.org/draft/2020-12/schema")

    def test_run(self) -> None:
        status, body = self.server.request("POST", "/run", self.RUN_INPUT)
        self.assertEqual(status, 200, body)
        self.assertEqual(set(body), {"result"})
        self.check_result(body["result"])

    def test_run_rejects_bad_input(self) -> None:
        status, body = self.server.request("POST", "/run", self.BAD_INPUT)
        self.assertEqual(status, 400, body)
        self.assertEqual(body["error"]["code"], "bad_input")
        self.assertTrue(body["error"]["message"])

    def test_run_rejects_invalid_json(self) -> None:
        for raw in (b"{not json", b"[1, 2]", b'{"x": NaN}'):
            status, body = self.server.request("POST", "/run", raw=raw)
            self.assertEqual(status, 400, raw)
            self.assertEqual(body["error"]["code"], "bad_input")

    def test_unknown_route_and_wrong_method(self) -> None:
        status, body = self.server.request("GET", "/nope")
        self.assertEqual(status, 404)
        self.assertEqual(body["error"]["code"], "not_found")
        status, body = self.server.request("GET", "/run")
        self.assertEqual(status, 405)
        self.assertEqual(body["error"]["code"], "method_not_allowed")

    def test_body_too_large(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=30)
        try:
            conn.putrequest("POST", "/run")
            conn.putheader("Content-Length", str(magellon_runtime.MAX_BODY_BYTES + 1))
            conn.endheaders()  # the body is never sent: the server must refuse from the header
            response = conn.getresponse()
            self.assertEqual(response.status, 413)
            self.assertEqual(json.loads(response.read())["error"]["code"], "payload_too_large")
        finally:
            conn.close()


class LifecycleContract(_Contract):
    """Start, stop and heartbeat behaviour every plugin shares."""

    def test_sigterm_exits_zero(self) -> None:
        server = PluginProcess(self.PLUGIN_DIR)
        try:
            self.assertEqual(server.request("GET", "/health")[0], 200)
            self.assertEqual(server.stop(signal.SIGTERM), 0)
            self.assertEqual(server.proc.stdout.read(), "", "stdout must carry only the READY line")
            self.assertIn("GET /health", server.log())
        finally:
            server.close()

    def test_sigint_exits_zero(self) -> None:
        server = PluginProcess(self.PLUGIN_DIR)
        try:
            self.assertEqual(server.stop(signal.SIGINT), 0)
        finally:
            server.close()

    def test_port_from_environment(self) -> None:
        server = PluginProcess(self.PLUGIN_DIR, args=[], env={"MAGELLON_PLUGIN_PORT": "0", "MAGELLON_PLUGIN_HOST": "127.0.0.1"})
        try:
            self.assertGreater(server.port, 0)
            self.assertEqual(server.request("GET", "/health")[0], 200)
        finally:
            server.stop()
            server.close()

    def test_no_port_is_a_usage_error(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MAGELLON_")}
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        done = subprocess.run(
            [sys.executable, "main.py"], cwd=self.PLUGIN_DIR, env=env, capture_output=True, text=True, timeout=30
        )
        self.assertEqual(done.returncode, 2)
        self.assertEqual(done.stdout, "")
        self.assertIn("--port", done.stderr)

    def test_heartbeat(self) -> None:
        beats: queue.Queue[dict[str, Any]] = queue.Queue()

        class Receiver(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                beats.put(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        receiver = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
        threading.Thread(target=receiver.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{receiver.server_address[1]}/heartbeat"
        env = {"MAGELLON_HEARTBEAT_URL": url, "MAGELLON_HEARTBEAT_SECONDS": "0.2", "MAGELLON_REPLICA_ID": "test-1"}
        server = PluginProcess(self.PLUGIN_DIR, env=env)
        try:
            first, second = beats.get(timeout=10), beats.get(timeout=10)
            self.assertEqual(set(first), {"plugin_id", "version", "replica_id", "ts", "status"})
            self.assertEqual(first["plugin_id"], self.PLUGIN_ID)
            self.assertEqual(first["version"], server.ready["version"])
            self.assertEqual(first["replica_id"], "test-1")
            self.assertEqual(first["status"], "ok")
            self.assertLess(abs(first["ts"] - time.time()), 60)
            self.assertGreater(second["ts"], first["ts"])
            self.assertEqual(server.stop(), 0)
        finally:
            server.close()
            receiver.shutdown()
            receiver.server_close()


def contract_tests(
    plugin_dir: Path,
    plugin_id: str,
    run_input: dict[str, Any],
    bad_input: dict[str, Any],
    check_result: Callable[[unittest.TestCase, dict[str, Any]], None],
) -> tuple[type[unittest.TestCase], type[unittest.TestCase]]:
    """The two contract test classes for one plugin; assign them to module names so unittest finds them."""
    settings = {"PLUGIN_DIR": plugin_dir, "PLUGIN_ID": plugin_id}
    server = type(
        "ServerTest",
        (ServerContract, unittest.TestCase),
        {**settings, "RUN_INPUT": run_input, "BAD_INPUT": bad_input, "check_result": lambda self, r: check_result(self, r)},
    )
    lifecycle = type("LifecycleTest", (LifecycleContract, unittest.TestCase), dict(settings))
    return server, lifecycle
