"""ping with scapy: sr1(IP(dst)/ICMP()) per request, the way the course teaches sr1.

Exit 1 unless every echo request got an echo reply, so a grader can use it as a
reachability check between two lab nodes. IPv6 addresses use ICMPv6 echo.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
from typing import Any

from socklab.agents.common import (
    AgentError,
    resolve,
)
from socklab.agents.events import Emitter
from socklab.agents.options import (
    add_family_options,
    add_output_option,
    add_single,
    byte_type,
    count_type,
    positive_float,
)
from socklab.agents.scapy_agents.base import need_scapy, packet_fields

EPILOG = """\
examples:
  python3 -m socklab.agents ping --host 192.168.11.2
  python3 -m socklab.agents ping --host 192.168.11.2 --count 3 --timeout 1 --json
  python3 -m socklab.agents ping --host fd00::2 --ttl 1

Sends --count ICMP echo requests one by one with scapy's sr1() and prints each
reply's summary, source, TTL and round-trip time. Exits 1 if any request got no
echo reply within --timeout seconds. Needs scapy, and root or CAP_NET_RAW.
"""


def add_parsers(kinds: argparse._SubParsersAction) -> None:
    parser = add_single(kinds, "ping", "client", "ICMP echo with scapy's sr1, one reply per request",
                        EPILOG, run)
    parser.add_argument("--host", required=True, metavar="HOST", help="address or name to ping")
    parser.add_argument("--count", type=count_type, default=1, metavar="N",
                        help="echo requests to send (default 1)")
    parser.add_argument("--timeout", type=positive_float, default=2.0, metavar="SECONDS",
                        help="how long to wait for each reply (default 2)")
    parser.add_argument("--ttl", type=byte_type, default=64, metavar="N", help="IP TTL / hop limit (default 64)")
    parser.add_argument("--message", default="", metavar="TEXT", help="ICMP payload text (default none)")
    add_family_options(parser)
    add_output_option(parser)


def run(args: argparse.Namespace, out: Emitter) -> None:
    need_scapy()
    from scapy.sendrecv import sr1

    family, address = resolve(args.host, 0, socket.SOCK_DGRAM, args.family)[0]
    host = address[0]
    build, is_echo_reply = _icmp(family)
    ident = os.getpid() & 0xFFFF
    answered = 0
    for seq in range(1, args.count + 1):
        probe = build(host, args.ttl, ident, seq, args.message.encode("utf-8"))
        out.emit("sent", peer=host, seq=seq, **packet_fields(probe))
        reply = sr1(probe, timeout=args.timeout, verbose=0)
        if reply is None:
            continue
        ok = is_echo_reply(reply)
        answered += ok
        out.emit("received", peer=reply.src, seq=seq, echo_reply=ok,
                 ttl=getattr(reply, "hlim", None) if family == socket.AF_INET6 else reply.ttl,
                 rtt_ms=round((reply.time - probe.sent_time) * 1000, 3), **packet_fields(reply))
    if answered < args.count:
        raise AgentError(f"no echo reply from {host} to {args.count - answered} of {args.count} "
                         f"requests (timeout {args.timeout:g}s each)", sent=args.count, received=answered)
    out.emit("closed", peer=host, sent=args.count, received=answered)


def _icmp(family: int) -> tuple[Any, Any]:
    """A request builder and an echo-reply test for ICMP (IPv4) or ICMPv6."""
    if family == socket.AF_INET:
        from scapy.layers.inet import ICMP, IP
        from scapy.packet import Raw

        def build(host: str, ttl: int, ident: int, seq: int, data: bytes) -> Any:
            probe = IP(dst=host, ttl=ttl) / ICMP(id=ident, seq=seq)
            return probe / Raw(data) if data else probe

        return build, lambda reply: reply.haslayer(ICMP) and reply[ICMP].type == 0

    from scapy.layers.inet6 import ICMPv6EchoReply, ICMPv6EchoRequest, IPv6

    def build6(host: str, ttl: int, ident: int, seq: int, data: bytes) -> Any:
        return IPv6(dst=host, hlim=ttl) / ICMPv6EchoRequest(id=ident, seq=seq, data=data)

    return build6, lambda reply: reply.haslayer(ICMPv6EchoReply)


if __name__ == "__main__":  # `python3 -m socklab.agents.scapy_agents.ping --host ...` works too
    from socklab.agents.cli import main

    raise SystemExit(main(["ping", *sys.argv[1:]]))
