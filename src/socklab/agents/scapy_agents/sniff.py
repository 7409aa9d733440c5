"""sniff with scapy: print a summary of each packet on an interface, optionally save a pcap.

A probe for students (what is really on the wire?) and for graders who want a pcap
from inside a node. Without --count, it stops at the first matching packet.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from socklab.agents.common import (
    AgentError,
    iface_exists,
)
from socklab.agents.events import Emitter
from socklab.agents.options import (
    SERVER_TIMEOUT,
    add_output_option,
    add_single,
    int_in_range,
    positive_float,
)
from socklab.agents.scapy_agents.base import need_scapy, packet_fields

EPILOG = """\
examples:
  python3 -m socklab.agents sniff --iface eth0 --filter "udp port 53"
  python3 -m socklab.agents sniff --iface eth0 --filter "ip proto 102" --count 5 --json
  python3 -m socklab.agents sniff --iface eth0 --count 0 --timeout 10 --write eth0.pcap

Captures with scapy's sniff() until --count packets matched the BPF --filter, and
prints each one's summary. --count 0 captures until --timeout and succeeds; otherwise
a timeout before --count packets is an error (exit 1), after the pcap (--write) is
saved with what was caught. Needs scapy, and root or CAP_NET_RAW.
"""


def add_parsers(kinds: argparse._SubParsersAction) -> None:
    parser = add_single(kinds, "sniff", "receiver", "capture packets with scapy's sniff", EPILOG, run)
    parser.add_argument("--iface", required=True, metavar="IF", help="interface to capture on")
    parser.add_argument("--filter", metavar="BPF", help="capture filter, tcpdump syntax")
    parser.add_argument("--count", type=lambda text: int_in_range(text, 0, 1_000_000), default=1,
                        metavar="N", help="packets to capture, 0 for all until --timeout (default 1)")
    parser.add_argument("--timeout", type=positive_float, default=SERVER_TIMEOUT, metavar="SECONDS",
                        help=f"stop after this time (default {SERVER_TIMEOUT:g})")
    parser.add_argument("--write", metavar="FILE.pcap", help="save the captured packets to a pcap")
    add_output_option(parser)


def run(args: argparse.Namespace, out: Emitter) -> None:
    need_scapy()
    if not iface_exists(args.iface):
        raise AgentError(f"no such interface: {args.iface}")
    from scapy.error import Scapy_Exception
    from scapy.layers import dns, inet, inet6, l2  # noqa: F401 - importing registers their dissectors
    from scapy.sendrecv import sniff

    def started() -> None:
        out.emit("listening", local=args.iface, iface=args.iface, filter=args.filter)

    def show(pkt: Any) -> None:
        out.emit("received", peer=getattr(pkt, "src", "?"), iface=args.iface, **packet_fields(pkt))

    try:
        packets = sniff(iface=args.iface, filter=args.filter, count=args.count, timeout=args.timeout,
                        prn=show, store=True, started_callback=started)
    except Scapy_Exception as exc:  # e.g. a BPF filter that does not compile
        raise AgentError(f"cannot capture on {args.iface}: {exc}") from None
    if args.write:
        from scapy.utils import wrpcap

        wrpcap(args.write, packets)
    if args.count and len(packets) < args.count:
        raise AgentError(f"timed out after {args.timeout:g}s: captured {len(packets)} of "
                         f"{args.count} packets", captured=len(packets), written=args.write)
    out.emit("closed", iface=args.iface, captured=len(packets), written=args.write)


if __name__ == "__main__":  # `python3 -m socklab.agents.scapy_agents.sniff --iface ...` works too
    from socklab.agents.cli import main

    raise SystemExit(main(["sniff", *sys.argv[1:]]))
