"""Liveness over Magellon's broker, as the Magellon SDK speaks it: one announce at start (and again
after every reconnect), then a heartbeat every MAGELLON_HEARTBEAT_SECONDS (default 15, the SDK's).

Used by a plugin's main.py next to magellon_runtime: ``magellon_broker.start(plugin_dir)`` before
``magellon_runtime.main``. It does nothing unless MAGELLON_BROKER_URL is set (CoreService sets it when
it has a broker), and only says so once when the ``pika`` client is missing (Debian: python3-pika);
the plugin then proves it is alive over HTTP alone (its READY line, /health and HTTP heartbeats).

On the wire, exactly as magellon_sdk.discovery publishes:
    exchange      magellon.plugins (topic, durable)
    routing key   magellon.plugins.announce.<category>.<plugin_id>
                  magellon.plugins.heartbeat.<category>.<plugin_id>
    headers       ce-specversion 1.0, ce-id, ce-source magellon/plugin/discovery,
                  ce-type magellon.plugin.announce.v1 | magellon.plugin.heartbeat.v1, ce-time, ce-subject
    body          JSON: plugin_id, plugin_version, category, instance_id, ts, and for an announce
                  manifest {info}, task_queue, backend_id, http_endpoint; for a heartbeat status
The instance id is MAGELLON_REPLICA_ID (so CoreService knows which replica beat), else a uuid.
Everything runs on one daemon thread (pika connections are not thread-safe); a lost broker is
retried with backoff and never stops the plugin.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import magellon_runtime

EXCHANGE = "magellon.plugins"
SOURCE = "magellon/plugin/discovery"
DEFAULT_HEARTBEAT_SECONDS = 15.0
MAX_BACKOFF_SECONDS = 30.0


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def _say(message: str) -> None:
    print(f"{_iso(_now())} magellon_broker: {message}", file=sys.stderr, flush=True)


def _masked(url: str) -> str:
    """The broker URL with its password replaced, for the log."""
    try:
        from urllib.parse import urlsplit, urlunsplit

        parts = urlsplit(url)
        if parts.password is None:
            return url
        netloc = f"{parts.username or ''}:***@{parts.hostname or ''}"
        if parts.port:
            netloc += f":{parts.port}"
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    except ValueError:
        return "(an unreadable URL)"


class _Liveness:
    def __init__(self, url: str, identity: dict[str, str], interval: float) -> None:
        self.url = url
        self.identity = identity
        self.interval = interval
        self.instance_id = os.environ.get("MAGELLON_REPLICA_ID") or str(uuid.uuid4())
        self.stop = threading.Event()

    def _body(self, kind: str) -> dict[str, Any]:
        ident = self.identity
        body: dict[str, Any] = {
            "plugin_id": ident["plugin_id"],
            "plugin_version": ident["version"],
            "category": ident["category"],
            "instance_id": self.instance_id,
            "ts": _iso(_now()),
        }
        if kind == "announce":
            body.update(
                manifest={"info": {"name": ident.get("name") or ident["plugin_id"], "version": ident["version"]}},
                task_queue=None,
                backend_id=ident.get("backend_id") or None,
                http_endpoint=None,
            )
        else:
            body["status"] = "ready"
        return body

    def _publish(self, channel: Any, pika: Any, kind: str) -> None:
        subject = f"{EXCHANGE}.{kind}.{self.identity['category']}.{self.identity['plugin_id']}"
        headers = {
            "ce-specversion": "1.0",
            "ce-id": str(uuid.uuid4()),
            "ce-source": SOURCE,
            "ce-type": f"magellon.plugin.{kind}.v1",
            "ce-time": _now().isoformat(),
            "ce-subject": subject,
        }
        channel.basic_publish(
            exchange=EXCHANGE,
            routing_key=subject,
            body=json.dumps(self._body(kind)).encode("utf-8"),
            properties=pika.BasicProperties(delivery_mode=2, content_type="application/json", headers=headers),
        )

    def run(self) -> None:
        import pika

        backoff = 0.5
        while not self.stop.is_set():
            connection = None
            try:
                params = pika.URLParameters(self.url)
                params.connection_attempts = 1
                params.socket_timeout = 5
                connection = pika.BlockingConnection(params)
                channel = connection.channel()
                channel.exchange_declare(exchange=EXCHANGE, exchange_type="topic", durable=True)
                self._publish(channel, pika, "announce")
                _say(f"announced {self.identity['plugin_id']} as {self.instance_id} on {_masked(self.url)}")
                backoff = 0.5
                while not self.stop.is_set():
                    connection.sleep(self.interval)
                    self._publish(channel, pika, "heartbeat")
            except Exception as err:  # noqa: BLE001 - a lost broker must never end the plugin
                _say(f"broker {_masked(self.url)} unavailable ({type(err).__name__}); retrying in {backoff:g} s")
                self.stop.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
            finally:
                if connection is not None:
                    try:
                        connection.close()
                    except Exception:  # noqa: BLE001
                        pass


def start(plugin_dir: str | os.PathLike[str]) -> threading.Event | None:
    """Starts announcing and heartbeating when MAGELLON_BROKER_URL is set; returns the event that stops it."""
    url = os.environ.get("MAGELLON_BROKER_URL", "").strip()
    if not url:
        return None
    try:
        import pika  # noqa: F401
    except ImportError:
        _say("MAGELLON_BROKER_URL is set but the pika client is not installed; liveness over HTTP only")
        return None
    manifest = magellon_runtime.find_manifest(Path(plugin_dir))
    fields = magellon_runtime.read_manifest_fields(manifest, ("plugin_id", "version", "name", "category", "backend_id"))
    if not fields.get("plugin_id") or not fields.get("version") or not fields.get("category"):
        _say(f"{manifest} names no plugin_id, version or category; not announcing on the broker")
        return None
    fields["category"] = fields["category"].lower()
    if fields.get("backend_id", "").lower() in ("null", "~"):
        del fields["backend_id"]
    try:
        interval = float(os.environ.get("MAGELLON_HEARTBEAT_SECONDS", DEFAULT_HEARTBEAT_SECONDS))
    except ValueError:
        interval = DEFAULT_HEARTBEAT_SECONDS
    liveness = _Liveness(url, fields, max(0.2, interval))
    threading.Thread(target=liveness.run, name="magellon-broker", daemon=True).start()
    return liveness.stop
