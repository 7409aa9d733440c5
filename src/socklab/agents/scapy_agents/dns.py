"""A tiny DNS responder and a DNS query, with scapy's DNS layers.

The server decodes and encodes with scapy but talks through a plain UDP socket, so it
behaves like any DNS server to a student's resolver. The query goes out with sr1()
and a "udp port 53" filter, the way the course uses sr1, so graders see that path.
"""

from __future__ import annotations

import argparse
import ipaddress
import random
import socket
import sys
from typing import Any

from socklab.agents.common import (
    AgentError,
    Deadline,
    bind,
    family_name,
    recv_datagram,
    resolve,
)
from socklab.agents.events import Emitter, format_addr
from socklab.agents.options import (
    add_family_options,
    add_kind,
    add_output_option,
    add_receiver_options,
    add_role,
    kind_epilog,
    port_type,
    positive_float,
)
from socklab.agents.scapy_agents.base import need_scapy, packet_fields

QTYPES = {"A": 1, "AAAA": 28}
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}

SERVER_EPILOG = """\
examples:
  python3 -m socklab.agents dns server --record www.lab=192.168.11.11
  python3 -m socklab.agents dns server --bind 192.168.11.1 --record www.lab=192.168.11.11 \\
      --record www.lab=fd00::11 --count 5 --json

Answers A and AAAA queries from the --record list (NAME=ADDRESS, repeatable; the
address says which type). A name with no record gets NXDOMAIN; a known name with no
record of the asked type gets an empty NOERROR answer. Port 53 needs root or
CAP_NET_BIND_SERVICE. Needs scapy (for the DNS layers).
"""

QUERY_EPILOG = """\
examples:
  python3 -m socklab.agents dns query --server 192.168.11.1 --name www.lab
  python3 -m socklab.agents dns query --server 192.168.11.1 --name www.lab --type AAAA --json

Sends one query with scapy's sr1(IP/UDP/DNS, filter="udp port 53") and prints the
answers. Exits 1 if no response comes within --timeout. Needs scapy, and root.
"""


def record_type(text: str) -> tuple[str, str, int]:
    """NAME=ADDRESS to (normalised name, address, 1 for A or 28 for AAAA)."""
    name, sep, addr = text.partition("=")
    try:
        ip = ipaddress.ip_address(addr.strip())
    except ValueError:
        ip = None
    if not sep or not name.strip() or ip is None:
        raise argparse.ArgumentTypeError(f"expected NAME=ADDRESS, e.g. www.lab=192.168.11.11: {text!r}")
    return normalise(name), str(ip), QTYPES["A"] if ip.version == 4 else QTYPES["AAAA"]


def normalise(name: str | bytes) -> str:
    if isinstance(name, bytes):
        name = name.decode("ascii", "replace")
    return name.strip().rstrip(".").lower()


def add_parsers(kinds: argparse._SubParsersAction) -> None:
    roles = add_kind(kinds, "dns", "DNS responder and DNS query, with scapy's DNS layers",
                     kind_epilog("dns", SERVER_EPILOG, QUERY_EPILOG))
    server = add_role(roles, "server", "answer A/AAAA queries from a list of records",
                      SERVER_EPILOG, serve)
    server.add_argument("--bind", default="0.0.0.0", metavar="ADDR",
                        help="address to listen on; '::' for IPv6 (default 0.0.0.0)")
    server.add_argument("--port", type=port_type, default=53, metavar="PORT", help="UDP port (default 53)")
    server.add_argument("--record", type=record_type, action="append", default=[],
                        metavar="NAME=ADDRESS", help="a record to serve (repeatable)")
    server.add_argument("--ttl", type=int, default=60, metavar="SECONDS", help="TTL of the answers (default 60)")
    add_family_options(server)
    add_receiver_options(server, "queries")

    query = add_role(roles, "query", "ask a DNS server with sr1 and print the answers",
                     QUERY_EPILOG, ask)
    query.add_argument("--server", required=True, metavar="ADDR", help="DNS server address")
    query.add_argument("--name", required=True, metavar="NAME", help="name to look up")
    query.add_argument("--type", choices=sorted(QTYPES), default="A", help="record type (default A)")
    query.add_argument("--port", type=port_type, default=53, metavar="PORT", help="server port (default 53)")
    query.add_argument("--timeout", type=positive_float, default=3.0, metavar="SECONDS",
                       help="how long to wait for the response (default 3)")
    add_family_options(query)
    add_output_option(query)


def serve(args: argparse.Namespace, out: Emitter) -> None:
    need_scapy()
    deadline = Deadline(args.timeout)
    family, address = resolve(args.bind, args.port, socket.SOCK_DGRAM, args.family, passive=True)[0]
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        bind(sock, address, format_addr(address))
        local = sock.getsockname()
        out.emit("bound", local=format_addr(local), address=local[0], port=local[1],
                 family=family_name(family), records=len(args.record))
        for _ in range(args.count):
            with deadline.waiting(sock, "a DNS query"):
                data, peer, _truncated, _anc = recv_datagram(sock, 4096)
            shown = format_addr(peer)
            query, response = respond(data, args.record, args.ttl)
            out.emit("received", peer=shown, **query)
            if response is not None:
                sock.sendto(bytes(response), peer)
                out.emit("sent", peer=shown, **describe_response(response))
        out.emit("closed", local=format_addr(local), handled=args.count)


def respond(data: bytes, records: list[tuple[str, str, int]], ttl: int) -> tuple[dict[str, Any], Any]:
    """What the query asked (for the event) and the response to send, or None for junk."""
    from scapy.layers.dns import DNS, DNSRR

    try:
        query = DNS(data)
    except Exception:  # scapy raises assorted errors on junk; junk is not our failure
        return {"bytes": len(data), "note": "not a DNS message"}, None
    if query.qr != 0 or not query.qd:
        return {"bytes": len(data), "note": "not a DNS query"}, None
    answers, rcode, asked = [], 0, []
    for question in query.qd:
        name, qtype = normalise(question.qname), int(question.qtype)
        asked.append({"name": name, "type": _type_name(qtype)})
        known = [r for r in records if r[0] == name]
        if not known:
            rcode = 3
        answers += [DNSRR(rrname=question.qname, type=t, ttl=ttl, rdata=addr)
                    for _n, addr, t in known if t == qtype]
    response = DNS(id=query.id, qr=1, opcode=query.opcode, aa=1, rd=query.rd, ra=0,
                   rcode=rcode, qd=query.qd, an=answers)
    return {"bytes": len(data), "id": query.id, "questions": asked}, response


def describe_response(dns: Any) -> dict[str, Any]:
    return {"id": dns.id, "rcode": int(dns.rcode), "rcode_name": RCODES.get(int(dns.rcode), str(dns.rcode)),
            "answers": [_answer(rr) for rr in (dns.an or [])]}


def _answer(rr: Any) -> dict[str, Any]:
    data = rr.rdata
    if isinstance(data, bytes):
        data = data.decode("ascii", "backslashreplace")
    return {"name": normalise(rr.rrname), "type": _type_name(int(rr.type)), "ttl": rr.ttl, "data": str(data)}


def _type_name(qtype: int) -> str:
    from scapy.layers.dns import dnstypes

    return str(dnstypes.get(qtype, qtype))


def ask(args: argparse.Namespace, out: Emitter) -> None:
    need_scapy()
    from scapy.layers.dns import DNS, DNSQR
    from scapy.layers.inet import IP, UDP
    from scapy.layers.inet6 import IPv6
    from scapy.packet import bind_layers
    from scapy.sendrecv import sr1

    if args.port != 53:  # scapy dissects DNS only on its well-known ports; teach it this one
        bind_layers(UDP, DNS, sport=args.port)
    family, address = resolve(args.server, args.port, socket.SOCK_DGRAM, args.family)[0]
    server = address[0]
    network = IP(dst=server) if family == socket.AF_INET else IPv6(dst=server)
    # A fixed source port: a RandShort would be drawn again when sr1 matches the answer.
    probe = (network / UDP(sport=random.randint(20000, 60000), dport=args.port)
             / DNS(id=random.randint(1, 0xFFFF), rd=1, qd=DNSQR(qname=args.name, qtype=args.type)))
    out.emit("sent", peer=format_addr(address), name=normalise(args.name), type=args.type,
             **packet_fields(probe))
    reply = sr1(probe, filter=f"udp port {args.port}", timeout=args.timeout, verbose=0)
    if reply is None or not reply.haslayer(DNS):
        raise AgentError(f"no DNS response from {format_addr(address)} within {args.timeout:g}s")
    out.emit("received", peer=format_addr((reply.src, reply.sport)), **describe_response(reply[DNS]),
             **packet_fields(reply))
    out.emit("closed", peer=format_addr(address))


if __name__ == "__main__":  # `python3 -m socklab.agents.scapy_agents.dns server ...` works too
    from socklab.agents.cli import main

    raise SystemExit(main(["dns", *sys.argv[1:]]))
