"""send / sendp with scapy: put one hand-written packet on the wire, at layer 3 or layer 2.

The packet is a scapy expression, as students write them in the scapy shell, evaluated
with only scapy's layer classes in scope (no builtins); or hex bytes. This is a
convenience for lab authors and graders, not a sandbox: it runs what they wrote.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from socklab.agents.common import (
    AgentError,
    AgentUsageError,
    iface_exists,
)
from socklab.agents.events import Emitter
from socklab.agents.options import (
    add_output_option,
    add_single,
    count_type,
)
from socklab.agents.scapy_agents.base import need_scapy, packet_fields

SEND_EPILOG = """\
examples:
  python3 -m socklab.agents send --packet "IP(dst='192.168.11.2')/UDP(dport=9)/Raw(b'x')"
  python3 -m socklab.agents send --packet "IP(dst='192.168.11.2', proto=102)/Raw(b'hi')" --count 3
  python3 -m socklab.agents send --hex 4500001c000100004011...

Layer 3: the kernel routes the packet and writes the Ethernet header. --packet is a
scapy expression with only layer names in scope (IP, IPv6, TCP, UDP, ICMP, DNS, Raw,
...); --hex is the raw IP packet. Needs scapy, and root or CAP_NET_RAW.
"""

SENDP_EPILOG = """\
examples:
  python3 -m socklab.agents sendp --iface eth0 --packet "Ether(dst='ff:ff:ff:ff:ff:ff')/ARP(pdst='192.168.11.2')"
  python3 -m socklab.agents sendp --iface eth0 --packet "Ether(type=0x88b5)/Raw(b'hello')"
  python3 -m socklab.agents sendp --iface eth0 --hex ffffffffffff0200000000010800...

Layer 2: the frame goes out on --iface exactly as given. --packet is a scapy
expression with only layer names in scope; --hex is the whole frame. Needs scapy,
and root or CAP_NET_RAW.
"""


def add_parsers(kinds: argparse._SubParsersAction) -> None:
    for name, layer, epilog in (("send", 3, SEND_EPILOG), ("sendp", 2, SENDP_EPILOG)):
        parser = add_single(kinds, name, "sender", f"send a packet at layer {layer} with scapy's {name}",
                            epilog, run)
        parser.set_defaults(layer=layer)
        what = parser.add_mutually_exclusive_group(required=True)
        what.add_argument("--packet", metavar="EXPR", help="scapy expression, e.g. \"IP(dst='...')/ICMP()\"")
        what.add_argument("--hex", metavar="HEX", help="the packet's bytes in hex")
        parser.add_argument("--iface", required=layer == 2, metavar="IF",
                            help="interface to send on" + (" (default: by the routing table)" if layer == 3 else ""))
        parser.add_argument("--count", type=count_type, default=1, metavar="N",
                            help="how many copies to send (default 1)")
        add_output_option(parser)


def layer_names() -> dict[str, Any]:
    """Every packet class of the common layers, by name: all an expression may use."""
    from scapy.layers import dns, inet, inet6, l2
    from scapy.packet import Packet, Padding, Raw

    names: dict[str, Any] = {"Raw": Raw, "Padding": Padding}
    for module in (l2, inet, inet6, dns):
        for name, value in vars(module).items():
            if isinstance(value, type) and issubclass(value, Packet) and not name.startswith("_"):
                names[name] = value
    return names


def build(args: argparse.Namespace) -> Any:
    from scapy.packet import Packet

    if args.hex is not None:
        try:
            data = bytes.fromhex(args.hex)
        except ValueError:
            raise AgentUsageError(f"--hex is not hex bytes: {args.hex!r}") from None
        if args.layer == 2:
            from scapy.layers.l2 import Ether

            return Ether(data)
        from scapy.layers.inet import IP
        from scapy.layers.inet6 import IPv6

        return IPv6(data) if data[:1] and data[0] >> 4 == 6 else IP(data)
    try:
        packet = eval(args.packet, {"__builtins__": {}}, layer_names())  # noqa: S307 - see module doc
    except Exception as exc:
        raise AgentUsageError(f"cannot evaluate --packet: {type(exc).__name__}: {exc}") from None
    if not isinstance(packet, Packet):
        raise AgentUsageError(f"--packet must build a scapy packet, not {type(packet).__name__}")
    return packet


def run(args: argparse.Namespace, out: Emitter) -> None:
    need_scapy()
    if args.iface is not None and not iface_exists(args.iface):
        raise AgentError(f"no such interface: {args.iface}")
    from scapy.sendrecv import send, sendp

    packet = build(args)
    if args.layer == 2:
        sendp(packet, iface=args.iface, count=args.count, verbose=0)
    else:
        send(packet, iface=args.iface, count=args.count, verbose=0)
    out.emit("sent", peer=str(getattr(packet, "dst", "?")), iface=args.iface, count=args.count,
             **packet_fields(packet))
    out.emit("closed", sent=args.count)


if __name__ == "__main__":  # `python3 -m socklab.agents.scapy_agents.send --packet ...` works too
    from socklab.agents.cli import main

    raise SystemExit(main(["send", *sys.argv[1:]]))
