"""What agents say: one event per thing that happened, as a human line or one JSON object.

Graders and the lab runner read `--json` output line by line while the agent is still
running (to learn an ephemeral port, or that a server is listening), so every event
is written and flushed at once. Humans get the same events as short sentences.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any, TextIO

EVENTS = ("bound", "listening", "connected", "sent", "received", "closed", "error")  # the only types


def payload_fields(data: bytes) -> dict[str, Any]:
    """The fields every sent/received event carries about application data."""
    return {
        "bytes": len(data),
        "payload": data.decode("utf-8", "backslashreplace"),
        "payload_hex": data.hex(),
    }


def format_addr(addr: Any) -> str:
    """An address as people write it: host:port, [v6]:port, a path, @abstract or (unnamed)."""
    if isinstance(addr, tuple) and len(addr) >= 2 and isinstance(addr[1], int):
        host, port = addr[0], addr[1]
        if port == 0 and len(addr) in (2, 4):  # raw sockets: no ports
            return str(host)
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    if isinstance(addr, bytes):  # AF_UNIX abstract names come back as bytes
        if addr.startswith(b"\0"):
            return "@" + addr[1:].decode("utf-8", "backslashreplace")
        addr = addr.decode("utf-8", "backslashreplace")
    if isinstance(addr, str):
        if addr.startswith("\0"):
            return "@" + addr[1:]
        return addr or "(unnamed)"
    return "(unnamed)" if addr is None else str(addr)


class Emitter:
    """Writes the events of one agent run to stdout (errors to stderr in human mode)."""

    def __init__(
        self,
        agent: str,
        role: str,
        json_lines: bool = False,
        stream: TextIO | None = None,
        err_stream: TextIO | None = None,
    ) -> None:
        self.agent, self.role, self.json_lines = agent, role, json_lines
        self.stream = stream or sys.stdout
        self.err_stream = err_stream or sys.stderr

    def emit(self, event: str, **fields: Any) -> dict[str, Any]:
        """Write one event now; returns the record (handy in tests and for chaining)."""
        record: dict[str, Any] = {
            "event": event,
            "agent": self.agent,
            "role": self.role,
            "time": time.time(),
            **fields,
        }
        if self.json_lines:
            print(json.dumps(record, default=str), file=self.stream, flush=True)
        else:
            stream = self.err_stream if event == "error" else self.stream
            print(human_line(record), file=stream, flush=True)
        return record


_HEADLINES = {
    "bound": "bound to {local}",
    "listening": "listening on {local}",
    "connected": "connected to {peer}",
    "sent": "sent {bytes} bytes to {peer}",
    "received": "received {bytes} bytes from {peer}",
    "closed": "closed",
    "error": "error: {message}",
}
_SCAPY_DETAIL = {"summary", "length", "peer"}
_IN_HEADLINE = {  # already said by the headline, or too long for a human line
    "event", "agent", "role", "time", "local", "peer", "bytes", "message", "address", "port",
    "payload_hex", "frame_hex", "packet_hex",
}


def human_line(record: dict[str, Any]) -> str:
    """One readable sentence, then any parsed headers or lists, indented."""
    event = record["event"]
    try:
        head = _HEADLINES.get(event, event).format(**record)
    except KeyError:  # e.g. a sniffed packet has no peer: fall back to the bare event name
        head = event
    if event == "closed" and "peer" in record:
        connection = record["agent"] == "tcp" or (record["agent"] == "unix" and record["role"] == "server")
        head = f"closed connection with {record['peer']}" if connection else f"closed ({record['peer']})"
    elif event == "connected" and record["role"] == "server":
        head = f"accepted a connection from {record.get('peer')}"
    elif "summary" in record:  # scapy agents: scapy's own one-line summary says it best
        head = f"{event} {record['summary']}"
    hidden = _IN_HEADLINE | (_SCAPY_DETAIL if "summary" in record else set())
    lines = [f"[{record['agent']} {record['role']}] {head}"]
    extras: list[str] = []
    for key, value in record.items():
        if key in hidden or key == "payload" or (key == "truncated" and not value):
            continue
        if isinstance(value, dict):
            lines.append(f"    {key}: " + " ".join(f"{k}={_show(v)}" for k, v in value.items()))
        elif isinstance(value, list):
            lines.append(f"    {key}:" + ("" if value else " (none)"))
            lines.extend(f"      {_show(item)}" for item in value)
        else:
            extras.append(f"{key}={_show(value)}")
    if extras:
        lines[0] += " (" + ", ".join(extras) + ")"
    if record.get("payload") and _looks_like_text(record["payload"]):
        lines[0] += ": " + printable(record["payload"])
    return "\n".join(lines)


def _looks_like_text(text: str) -> bool:
    """Binary payloads (a DNS message, say) stay in payload_hex; humans get the text ones."""
    shown = sum(c.isprintable() or c in "\n\t" for c in text.rstrip("\0"))
    return shown >= 0.8 * len(text.rstrip("\0"))


def printable(text: str) -> str:
    """Control characters (padding NULs, say) as \\xNN so a terminal shows them."""
    return "".join(c if c.isprintable() or c in "\n\t" else f"\\x{ord(c):02x}" for c in text)


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return " ".join(f"{k}={_show(v)}" for k, v in value.items())
    if isinstance(value, bool) or value is None:
        return str(value).lower() if isinstance(value, bool) else "-"
    return str(value)
