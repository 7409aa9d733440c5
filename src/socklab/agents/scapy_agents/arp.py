"""ARP who-has with scapy: srp(Ether(dst=broadcast)/ARP(pdst=...)) on one interface.

Shows layer-2 discovery: which IP answers from which MAC. `--one` uses srp1 and stops
at the first answer; a network (192.168.11.0/24) asks every address in it.
"""

from __future__ import annotations

import argparse
import sys

from socklab.agents.common import (
    AgentError,
    iface_exists,
)
from socklab.agents.events import Emitter
from socklab.agents.options import (
    add_output_option,
    add_single,
    positive_float,
)
from socklab.agents.scapy_agents.base import need_scapy, packet_fields

EPILOG = """\
examples:
  python3 -m socklab.agents arp --iface eth0 --target 192.168.11.2
  python3 -m socklab.agents arp --iface eth0 --target 192.168.11.0/24 --timeout 2 --json
  python3 -m socklab.agents arp --iface eth0 --target 192.168.11.2 --one

Broadcasts ARP who-has requests for --target (an address or a network) with srp()
(srp1() with --one) and prints each answer: IP is-at MAC. Exits 1 if nobody answers
within --timeout. Needs scapy, and root or CAP_NET_RAW.
"""


def add_parsers(kinds: argparse._SubParsersAction) -> None:
    parser = add_single(kinds, "arp", "client", "ARP who-has with scapy's srp (or srp1)", EPILOG, run)
    parser.add_argument("--iface", required=True, metavar="IF", help="interface to ask on")
    parser.add_argument("--target", required=True, metavar="IP|NET",
                        help="address or network to ask for (ARP pdst)")
    parser.add_argument("--one", action="store_true", help="srp1: stop at the first answer")
    parser.add_argument("--timeout", type=positive_float, default=2.0, metavar="SECONDS",
                        help="how long to wait for answers (default 2)")
    add_output_option(parser)


def run(args: argparse.Namespace, out: Emitter) -> None:
    need_scapy()
    if not iface_exists(args.iface):
        raise AgentError(f"no such interface: {args.iface}")
    from scapy.layers.l2 import ARP, Ether
    from scapy.sendrecv import srp, srp1

    request = Ether(dst="ff:ff:ff:ff:ff:ff") / ARP(pdst=args.target)
    out.emit("sent", peer="ff:ff:ff:ff:ff:ff", iface=args.iface, target=args.target,
             **packet_fields(request))
    if args.one:
        reply = srp1(request, iface=args.iface, timeout=args.timeout, verbose=0)
        replies = [] if reply is None else [reply]
    else:
        answered, _unanswered = srp(request, iface=args.iface, timeout=args.timeout, verbose=0)
        replies = [received for _sent, received in answered]
    for reply in replies:
        out.emit("received", peer=reply[ARP].hwsrc, ip=reply[ARP].psrc, mac=reply[ARP].hwsrc,
                 **packet_fields(reply))
    if not replies:
        raise AgentError(f"no ARP answer for {args.target} on {args.iface} within {args.timeout:g}s")
    out.emit("closed", iface=args.iface, answers=len(replies))


if __name__ == "__main__":  # `python3 -m socklab.agents.scapy_agents.arp --iface ...` works too
    from socklab.agents.cli import main

    raise SystemExit(main(["arp", *sys.argv[1:]]))
