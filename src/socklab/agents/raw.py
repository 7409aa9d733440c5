"""Raw IP sockets (SOCK_RAW with an IP protocol number): the course's protocol-102 exchange.

The sender gives the kernel a payload and a protocol number; the kernel writes the IP
header. The receiver shows what it got: for IPv4 the kernel hands over the whole
header, which we parse; for IPv6 it never does, so we ask for what the kernel will tell
(destination, hop limit, traffic class) through ancillary data.
"""

from __future__ import annotations

import argparse
import socket
import struct
import sys
from typing import Any

from socklab.agents.common import (
    AgentError,
    Deadline,
    bind,
    family_name,
    open_socket,
    recv_datagram,
    resolve,
    text_bytes,
)
from socklab.agents.events import Emitter, format_addr, payload_fields
from socklab.agents.frames import parse_ipv4
from socklab.agents.options import (
    DEFAULT_MESSAGE,
    add_client_options,
    add_family_options,
    add_kind,
    add_receiver_options,
    add_role,
    byte_type,
    kind_epilog,
    size_type,
)

DEFAULT_PROTO = 102

RECEIVER_EPILOG = """\
examples:
  python3 -m socklab.agents raw receiver --proto 102 --bind 192.168.11.13
  python3 -m socklab.agents raw receiver --proto 102 --bind ::1 --json
  python3 -m socklab.agents raw receiver --proto 102 --count 3 --timeout 10

Opens socket(AF_INET or AF_INET6, SOCK_RAW, PROTO) and prints each packet of that
protocol addressed to --bind. IPv4: the IP header is parsed and shown (version, ihl,
tos, total_length, id, flags, ttl, protocol, checksum, src, dst). IPv6: the kernel
strips the header; src, dst, hop_limit and traffic_class are reported instead.
Needs root or CAP_NET_RAW.
"""

SENDER_EPILOG = """\
examples:
  python3 -m socklab.agents raw sender --host 192.168.11.13 --proto 102
  python3 -m socklab.agents raw sender --host ::1 --proto 253 --message "experimental"

Sends --message as the payload of one IP packet with protocol --proto; the kernel
fills in the IP header (source address, TTL, checksum). Needs root or CAP_NET_RAW.
"""


def add_parsers(kinds: argparse._SubParsersAction) -> None:
    roles = add_kind(kinds, "raw", "raw IP (SOCK_RAW) sender and receiver for any protocol number",
                     kind_epilog("raw", RECEIVER_EPILOG, SENDER_EPILOG))
    receiver = add_role(roles, "receiver", "print IP packets of one protocol and their header",
                        RECEIVER_EPILOG, receive)
    receiver.add_argument("--proto", type=byte_type, default=DEFAULT_PROTO, metavar="N",
                          help=f"IP protocol number to receive (default {DEFAULT_PROTO})")
    receiver.add_argument("--bind", default="0.0.0.0", metavar="ADDR",
                          help="only packets to this address; '::' for IPv6 (default 0.0.0.0)")
    receiver.add_argument("--recv-size", type=size_type, default=65535, metavar="N",
                          help="bytes to ask recv() for (default 65535)")
    add_family_options(receiver)
    add_receiver_options(receiver, "packets")

    sender = add_role(roles, "sender", "send one IP packet with a given protocol number",
                      SENDER_EPILOG, send)
    sender.add_argument("--host", required=True, metavar="HOST", help="destination address or name")
    sender.add_argument("--proto", type=byte_type, default=DEFAULT_PROTO, metavar="N",
                        help=f"IP protocol number to send (default {DEFAULT_PROTO})")
    sender.add_argument("--message", default=DEFAULT_MESSAGE, metavar="TEXT",
                        help=f"payload text (default {DEFAULT_MESSAGE!r})")
    add_family_options(sender)
    add_client_options(sender)


def receive(args: argparse.Namespace, out: Emitter) -> None:
    deadline = Deadline(args.timeout)
    family, address = resolve(args.bind, 0, socket.SOCK_DGRAM, args.family, passive=True)[0]
    with open_socket(family, socket.SOCK_RAW, args.proto) as sock:
        ancillary = 0
        if family == socket.AF_INET6:
            for option in (socket.IPV6_RECVPKTINFO, socket.IPV6_RECVHOPLIMIT, socket.IPV6_RECVTCLASS):
                sock.setsockopt(socket.IPPROTO_IPV6, option, 1)
            ancillary = 256
        bind(sock, address, format_addr(address))
        local = sock.getsockname()[0]  # the "port" of a raw socket is its protocol number
        out.emit("bound", local=local, address=address[0], protocol=args.proto,
                 family=family_name(family))
        for _ in range(args.count):
            with deadline.waiting(sock, f"a protocol {args.proto} packet"):
                data, peer, truncated, anc = recv_datagram(sock, args.recv_size, ancillary)
            if family == socket.AF_INET:
                ip, payload = parse_ipv4_or_report(data)
            else:
                ip, payload = ipv6_fields(peer, args.proto, len(data), anc), data
            out.emit("received", peer=format_addr(peer), truncated=truncated, ip=ip,
                     **payload_fields(payload))
        out.emit("closed", local=local, handled=args.count)


def parse_ipv4_or_report(data: bytes) -> tuple[dict[str, Any], bytes]:
    try:
        return parse_ipv4(data)
    except ValueError as exc:
        return {"version": 4, "error": str(exc)}, data


def ipv6_fields(peer: tuple, proto: int, length: int, ancdata: list) -> dict[str, Any]:
    """What an IPv6 raw socket can learn about the header it never sees."""
    fields: dict[str, Any] = {"version": 6, "src": peer[0], "next_header": proto, "payload_length": length}
    for level, kind, value in ancdata:
        if level != socket.IPPROTO_IPV6:
            continue
        if kind == socket.IPV6_PKTINFO and len(value) >= 20:
            fields["dst"] = socket.inet_ntop(socket.AF_INET6, value[:16])
            fields["ifindex"] = struct.unpack("@i", value[16:20])[0]
        elif kind == socket.IPV6_HOPLIMIT and len(value) >= 4:
            fields["hop_limit"] = struct.unpack("@i", value[:4])[0]
        elif kind == socket.IPV6_TCLASS and len(value) >= 4:
            fields["traffic_class"] = struct.unpack("@i", value[:4])[0]
    return fields


def send(args: argparse.Namespace, out: Emitter) -> None:
    message = text_bytes(args, "message")
    family, address = resolve(args.host, 0, socket.SOCK_DGRAM, args.family)[0]
    with open_socket(family, socket.SOCK_RAW, args.proto) as sock:
        sock.settimeout(args.timeout)
        try:
            sock.sendto(message, address)
        except TimeoutError:
            raise AgentError(f"timed out after {args.timeout:g}s sending") from None
        out.emit("sent", peer=format_addr(address), protocol=args.proto,
                 family=family_name(family), **payload_fields(message))
    out.emit("closed", peer=format_addr(address))


if __name__ == "__main__":  # `python3 -m socklab.agents.raw receiver ...` works too
    from socklab.agents.cli import main

    raise SystemExit(main(["raw", *sys.argv[1:]]))
