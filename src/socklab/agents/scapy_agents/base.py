"""What the scapy agents share: a friendly failure when scapy is missing, and packet fields."""

from __future__ import annotations

import importlib.util
import logging
from typing import Any

from socklab.agents.common import (
    AgentError,
)
from socklab.agents.events import payload_fields


def need_scapy() -> None:
    """Fail as an error event, not an ImportError, in a node without scapy; silence its warnings."""
    if importlib.util.find_spec("scapy") is None:
        raise AgentError("this agent needs scapy, which is not installed in this node")
    # scapy logs routing/interface warnings at import; they would interleave with our events.
    logging.getLogger("scapy").setLevel(logging.ERROR)


def packet_fields(pkt: Any) -> dict[str, Any]:
    """summary, length and hex of a whole packet, plus its application data.

    The application data is what follows the TCP or UDP header (scapy may have dissected
    it as DNS or something else because of the port), else the Raw load, else nothing.
    """
    from scapy.layers.inet import TCP, UDP
    from scapy.packet import Raw

    data = bytes(pkt)
    for layer in (TCP, UDP, Raw):
        if pkt.haslayer(layer):
            found = pkt[layer]
            load = bytes(found.load) if layer is Raw else bytes(found.payload)
            break
    else:
        load = b""
    return {"summary": pkt.summary(), "length": len(data), "packet_hex": data.hex(),
            **payload_fields(load)}
