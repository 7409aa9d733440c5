"""UDP server and client over IPv4 or IPv6: datagrams in, optional datagram replies out.

The client connects its socket (which sends nothing on the wire) so that an ICMP port
unreachable from a missing server surfaces as "connection refused" instead of a
silent timeout: a useful thing for a student to see.
"""

from __future__ import annotations

import argparse
import socket
import sys

from socklab.agents.common import (
    AgentError,
    Deadline,
    bind,
    family_name,
    recv_datagram,
    resolve,
    text_bytes,
)
from socklab.agents.events import Emitter, format_addr, payload_fields
from socklab.agents.options import (
    DEFAULT_MESSAGE,
    DEFAULT_PORT,
    add_client_options,
    add_family_options,
    add_kind,
    add_receiver_options,
    add_reply_options,
    add_role,
    kind_epilog,
    port_type,
    size_type,
)

SERVER_EPILOG = """\
examples:
  python3 -m socklab.agents udp server --bind 192.168.11.11 --port 12345
  python3 -m socklab.agents udp server --bind ::1 --port 0 --count 5 --json
  python3 -m socklab.agents udp server --port 12345 --no-reply

For each datagram: recvfrom(--recv-size), print it, sendto the sender --reply.
A datagram longer than --recv-size is cut and reported with truncated=true.
"""

CLIENT_EPILOG = """\
examples:
  python3 -m socklab.agents udp client --host 192.168.11.11 --port 12345
  python3 -m socklab.agents udp client --host ::1 --port 12345 --message "hi" --json
  python3 -m socklab.agents udp client --host 192.168.11.11 --no-wait

Sends --message in one datagram, then waits for one reply unless --no-wait.
"""


def add_parsers(kinds: argparse._SubParsersAction) -> None:
    roles = add_kind(kinds, "udp", "UDP (SOCK_DGRAM) server and client, IPv4 or IPv6",
                     kind_epilog("udp", SERVER_EPILOG, CLIENT_EPILOG))
    server = add_role(roles, "server", "receive datagrams, print them, reply to each",
                      SERVER_EPILOG, serve)
    server.add_argument("--bind", default="0.0.0.0", metavar="ADDR",
                        help="address to bind; '::' for IPv6 (default 0.0.0.0)")
    server.add_argument("--port", type=port_type, default=DEFAULT_PORT, metavar="PORT",
                        help=f"port to bind, 0 for any (default {DEFAULT_PORT})")
    add_reply_options(server)
    add_family_options(server)
    add_receiver_options(server, "datagrams")

    client = add_role(roles, "client", "send one datagram, print the reply",
                      CLIENT_EPILOG, send)
    client.add_argument("--host", required=True, metavar="HOST", help="server address or name (getaddrinfo)")
    client.add_argument("--port", type=port_type, default=DEFAULT_PORT, metavar="PORT",
                        help=f"server port (default {DEFAULT_PORT})")
    client.add_argument("--message", default=DEFAULT_MESSAGE, metavar="TEXT",
                        help=f"text to send (default {DEFAULT_MESSAGE!r})")
    client.add_argument("--recv-size", type=size_type, default=100, metavar="N",
                        help="bytes to ask recv() for (default 100)")
    client.add_argument("--no-wait", action="store_true",
                        help="send and exit; do not wait for a reply")
    add_family_options(client)
    add_client_options(client)


def serve(args: argparse.Namespace, out: Emitter) -> None:
    deadline = Deadline(args.timeout)
    family, address = resolve(args.bind, args.port, socket.SOCK_DGRAM, args.family, passive=True)[0]
    reply = text_bytes(args, "reply")
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        bind(sock, address, format_addr(address))
        local = sock.getsockname()
        out.emit("bound", local=format_addr(local), address=local[0], port=local[1],
                 family=family_name(family))
        for _ in range(args.count):
            with deadline.waiting(sock, "a datagram"):
                data, peer, truncated, _anc = recv_datagram(sock, args.recv_size)
            shown = format_addr(peer)
            out.emit("received", peer=shown, truncated=truncated, **payload_fields(data))
            if reply:
                sock.sendto(reply, peer)
                out.emit("sent", peer=shown, **payload_fields(reply))
        out.emit("closed", local=format_addr(local), handled=args.count)


def send(args: argparse.Namespace, out: Emitter) -> None:
    deadline = Deadline(args.timeout)
    message = text_bytes(args, "message")
    family, address = resolve(args.host, args.port, socket.SOCK_DGRAM, args.family)[0]
    shown = format_addr(address)
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.connect(address)  # no packet: only fixes the peer and enables ICMP errors
        sock.send(message)
        out.emit("sent", peer=shown, local=format_addr(sock.getsockname()),
                 **payload_fields(message))
        if not args.no_wait:
            with deadline.waiting(sock, f"a reply from {shown}"):
                try:
                    data, peer, truncated, _anc = recv_datagram(sock, args.recv_size)
                except ConnectionRefusedError:
                    raise AgentError(
                        f"connection refused: nothing listens on {shown} (ICMP port unreachable)"
                    ) from None
            out.emit("received", peer=format_addr(peer), truncated=truncated,
                     **payload_fields(data))
    out.emit("closed", peer=shown)


if __name__ == "__main__":  # `python3 -m socklab.agents.udp server ...` works too
    from socklab.agents.cli import main

    raise SystemExit(main(["udp", *sys.argv[1:]]))
