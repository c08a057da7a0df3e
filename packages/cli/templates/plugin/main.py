#!/usr/bin/env python3
"""Entry point of the {{plugin_id}} plugin: ``python3 main.py --port N [--host 127.0.0.1]``.

magellon_runtime reads plugin_id and version from manifest.yaml, prints the READY
line, serves GET /health, /version, /schema/* and POST /run, and stops on SIGTERM.
magellon_broker announces the plugin and heartbeats on Magellon's broker, as the
Magellon SDK does, when CoreService hands it one (MAGELLON_BROKER_URL).
You should not need to edit this file, magellon_runtime.py or magellon_broker.py:
edit plugin/compute.py.
"""

import sys
from pathlib import Path

import magellon_broker
import magellon_runtime
from plugin.plugin import Plugin

if __name__ == "__main__":
    here = Path(__file__).resolve().parent
    magellon_broker.start(here)
    sys.exit(magellon_runtime.main(Plugin(), here))
