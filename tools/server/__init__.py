"""The local OVMS v2-compatible server (`tcu-server`)."""

from tools.server.core import OvmsServer
from tools.server.store import Alert, Record

__all__ = ["Alert", "OvmsServer", "Record"]
