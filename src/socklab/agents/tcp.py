"""TCP server and client over IPv4 or IPv6: the course's hello exchange, one recv and one reply.

The server does what the course's server does (accept, recv, print, send, close) so a
student's client can be graded against it, and the client mirrors the course's client.
"""

from __future__ import annotations

import argparse
import socket
import sys

from socklab.agents.common import (
    AgentError,
    Deadline,
    bind,
    describe_oserror,
    family_name,
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
  python3 -m socklab.agents tcp server --bind 192.168.11.11 --port 12345
  python3 -m socklab.agents tcp server --bind :: --port 0 --count 3 --json
  python3 -m socklab.agents tcp server --port 12345 --no-reply --timeout 60

For each connection: accept, recv once (--recv-size bytes), print it, send --reply,
close. Exits 0 after --count connections, 1 (error event) on timeout.
"""

CLIENT_EPILOG = """\
examples:
  python3 -m socklab.agents tcp client --host 192.168.11.11 --port 12345
  python3 -m socklab.agents tcp client --host ::1 --port 12345 --message "hi" --json
  python3 -m socklab.agents tcp client --host server.lab --port 80 -4

Connects, sends --message, receives one reply (up to --recv-size bytes), closes.
Exits 1 (error event) if the connection is refused or nothing answers in time.
"""


def add_parsers(kinds: argparse._SubParsersAction) -> None:
    roles = add_kind(kinds, "tcp", "TCP (SOCK_STREAM) server and client, IPv4 or IPv6",
                     kind_epilog("tcp", SERVER_EPILOG, CLIENT_EPILOG))
    server = add_role(roles, "server", "accept connections, print what arrives, reply",
                      SERVER_EPILOG, serve)
    server.add_argument("--bind", default="0.0.0.0", metavar="ADDR",
                        help="address to bind; '::' for IPv6 (default 0.0.0.0)")
    server.add_argument("--port", type=port_type, default=DEFAULT_PORT, metavar="PORT",
                        help=f"port to listen on, 0 for any (default {DEFAULT_PORT})")
    add_reply_options(server)
    server.add_argument("--backlog", type=int, default=10, metavar="N", help="listen() backlog (default 10)")
    add_family_options(server)
    add_receiver_options(server, "connections")

    client = add_role(roles, "client", "connect, send a message, print the reply",
                      CLIENT_EPILOG, connect)
    client.add_argument("--host", required=True, metavar="HOST", help="server address or name (getaddrinfo)")
    client.add_argument("--port", type=port_type, default=DEFAULT_PORT, metavar="PORT",
                        help=f"server port (default {DEFAULT_PORT})")
    client.add_argument("--message", default=DEFAULT_MESSAGE, metavar="TEXT",
                        help=f"text to send (default {DEFAULT_MESSAGE!r})")
    client.add_argument("--recv-size", type=size_type, default=100, metavar="N",
                        help="bytes to ask recv() for (default 100)")
    add_family_options(client)
    add_client_options(client)


def serve(args: argparse.Namespace, out: Emitter) -> None:
    deadline = Deadline(args.timeout)
    family, address = resolve(args.bind, args.port, socket.SOCK_STREAM, args.family, passive=True)[0]
    reply = text_bytes(args, "reply")
    with socket.socket(family, socket.SOCK_STREAM) as srv:
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        bind(srv, address, format_addr(address))
        local = srv.getsockname()
        out.emit("bound", local=format_addr(local), address=local[0], port=local[1],
                 family=family_name(family))
        srv.listen(args.backlog)
        out.emit("listening", local=format_addr(local), address=local[0], port=local[1],
                 backlog=args.backlog)
        for _ in range(args.count):
            with deadline.waiting(srv, "a connection"):
                conn, peer = srv.accept()
            with conn:
                shown = format_addr(peer)
                out.emit("connected", peer=shown, local=format_addr(conn.getsockname()))
                with deadline.waiting(conn, f"data from {shown}"):
                    data = conn.recv(args.recv_size)
                if data:
                    out.emit("received", peer=shown, **payload_fields(data))
                    if reply:
                        send_all(conn, reply, shown)
                        out.emit("sent", peer=shown, **payload_fields(reply))
                else:
                    out.emit("received", peer=shown, note="peer closed without sending",
                             **payload_fields(data))
            out.emit("closed", peer=shown)
        out.emit("closed", local=format_addr(local), handled=args.count)


def connect(args: argparse.Namespace, out: Emitter) -> None:
    deadline = Deadline(args.timeout)
    message = text_bytes(args, "message")
    conn, peer = open_connection(args.host, args.port, args.family, deadline)
    with conn:
        shown = format_addr(peer)
        out.emit("connected", peer=shown, local=format_addr(conn.getsockname()))
        send_all(conn, message, shown)
        out.emit("sent", peer=shown, **payload_fields(message))
        with deadline.waiting(conn, f"a reply from {shown}"):
            try:
                data = conn.recv(args.recv_size)
            except ConnectionResetError:
                raise AgentError(f"connection reset by {shown}") from None
        if data:
            out.emit("received", peer=shown, **payload_fields(data))
        else:
            out.emit("received", peer=shown, note="server closed without replying",
                     **payload_fields(data))
    out.emit("closed", peer=shown)


def open_connection(host: str, port: int, family: int, deadline: Deadline) -> tuple[socket.socket, tuple]:
    """Try each address the name resolves to, like socket.create_connection, with our errors."""
    failures: list[str] = []
    for fam, address in resolve(host, port, socket.SOCK_STREAM, family):
        sock = socket.socket(fam, socket.SOCK_STREAM)
        shown = format_addr(address)
        try:
            with deadline.waiting(sock, f"a connection to {shown}"):
                sock.connect(address)
            return sock, address
        except ConnectionRefusedError:
            failures.append(f"connection refused by {shown}")
        except AgentError as exc:
            failures.append(str(exc))
        except OSError as exc:
            failures.append(f"cannot connect to {shown}: {describe_oserror(exc)}")
        sock.close()
    raise AgentError("; ".join(failures))


def send_all(conn: socket.socket, data: bytes, shown: str) -> None:
    try:
        conn.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        raise AgentError(f"{shown} closed the connection before we could send") from None


if __name__ == "__main__":  # `python3 -m socklab.agents.tcp server ...` works too (DESIGN.md)
    from socklab.agents.cli import main

    raise SystemExit(main(["tcp", *sys.argv[1:]]))
