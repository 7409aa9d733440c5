"""AF_UNIX server and client, stream or datagram, on a filesystem path or an abstract '@name'.

Same exchange as tcp/udp, on the local domain: no network, only a name in the file
system (or in the kernel's abstract namespace, which leaves no file behind).
"""

from __future__ import annotations

import argparse
import os
import socket
import stat
import struct
import sys
from typing import Any

from socklab.agents.common import (
    AgentError,
    Deadline,
    bind,
    describe_oserror,
    recv_datagram,
    text_bytes,
)
from socklab.agents.events import Emitter, format_addr, payload_fields
from socklab.agents.options import (
    DEFAULT_MESSAGE,
    add_client_options,
    add_kind,
    add_receiver_options,
    add_reply_options,
    add_role,
    kind_epilog,
    size_type,
)

TYPES = {"stream": socket.SOCK_STREAM, "dgram": socket.SOCK_DGRAM}

SERVER_EPILOG = """\
examples:
  python3 -m socklab.agents unix server --path /tmp/lab.sock
  python3 -m socklab.agents unix server --type dgram --path /tmp/lab-dgram.sock --count 3
  python3 -m socklab.agents unix server --path @lab-abstract --json

stream: accept, recv, print, reply, close (per connection, --count connections).
dgram: recvfrom, print, reply to the sender if it has an address (--count datagrams).
A leftover socket file at --path is replaced; any other file there is an error.
A leading '@' names an abstract socket (no file is created).
"""

CLIENT_EPILOG = """\
examples:
  python3 -m socklab.agents unix client --path /tmp/lab.sock
  python3 -m socklab.agents unix client --type dgram --path /tmp/lab-dgram.sock --message hi
  python3 -m socklab.agents unix client --path @lab-abstract --json

A dgram client binds to an automatic abstract address so the server can reply;
--no-wait sends without waiting for that reply.
"""


def add_parsers(kinds: argparse._SubParsersAction) -> None:
    roles = add_kind(kinds, "unix", "AF_UNIX server and client, stream or datagram",
                     kind_epilog("unix", SERVER_EPILOG, CLIENT_EPILOG))
    server = add_role(roles, "server", "serve on a socket path, print what arrives, reply",
                      SERVER_EPILOG, serve)
    add_common(server)
    add_reply_options(server)
    add_receiver_options(server, "connections (stream) or datagrams (dgram)")

    client = add_role(roles, "client", "send a message to a socket path, print the reply",
                      CLIENT_EPILOG, connect)
    add_common(client)
    client.add_argument("--message", default=DEFAULT_MESSAGE, metavar="TEXT",
                        help=f"text to send (default {DEFAULT_MESSAGE!r})")
    client.add_argument("--recv-size", type=size_type, default=100, metavar="N",
                        help="bytes to ask recv() for (default 100)")
    client.add_argument("--no-wait", action="store_true",
                        help="dgram: send and exit without waiting for a reply")
    add_client_options(client)


def add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--type", choices=sorted(TYPES), default="stream", metavar="stream|dgram",
                        help="SOCK_STREAM or SOCK_DGRAM (default stream)")
    parser.add_argument("--path", required=True, metavar="PATH|@NAME",
                        help="socket file path, or @name for an abstract socket")


def sockaddr(path: str) -> str:
    return "\0" + path[1:] if path.startswith("@") else path


def serve(args: argparse.Namespace, out: Emitter) -> None:
    deadline = Deadline(args.timeout)
    reply = text_bytes(args, "reply")
    stream = args.type == "stream"
    with socket.socket(socket.AF_UNIX, TYPES[args.type]) as sock:
        remove_stale(args.path)
        bind(sock, sockaddr(args.path), args.path)
        try:
            out.emit("bound", local=args.path, path=args.path, family="unix", type=args.type)
            if stream:
                sock.listen(10)
                out.emit("listening", local=args.path, path=args.path, backlog=10)
            for _ in range(args.count):
                if stream:
                    serve_connection(sock, args.recv_size, reply, deadline, out)
                else:
                    serve_datagram(sock, args.recv_size, reply, deadline, out)
            out.emit("closed", local=args.path, handled=args.count)
        finally:
            if not args.path.startswith("@"):
                try:
                    os.unlink(args.path)
                except FileNotFoundError:
                    pass


def serve_connection(
    sock: socket.socket, size: int, reply: bytes, deadline: Deadline, out: Emitter
) -> None:
    with deadline.waiting(sock, "a connection"):
        conn, peer = sock.accept()
    with conn:
        shown = format_addr(peer)
        out.emit("connected", peer=shown, peer_cred=peer_credentials(conn))
        with deadline.waiting(conn, f"data from {shown}"):
            data = conn.recv(size)
        out.emit("received", peer=shown, **payload_fields(data))
        if data and reply:
            conn.sendall(reply)
            out.emit("sent", peer=shown, **payload_fields(reply))
    out.emit("closed", peer=shown)


def serve_datagram(
    sock: socket.socket, size: int, reply: bytes, deadline: Deadline, out: Emitter
) -> None:
    with deadline.waiting(sock, "a datagram"):
        data, peer, truncated, _anc = recv_datagram(sock, size)
    shown = format_addr(peer)
    out.emit("received", peer=shown, truncated=truncated, **payload_fields(data))
    if reply and peer:
        sock.sendto(reply, peer)
        out.emit("sent", peer=shown, **payload_fields(reply))


def peer_credentials(conn: socket.socket) -> dict[str, Any]:
    """pid/uid/gid of the connecting process (SO_PEERCRED): something only AF_UNIX can tell."""
    pid, uid, gid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
    return {"pid": pid, "uid": uid, "gid": gid}


def remove_stale(path: str) -> None:
    """A socket file left by an earlier run blocks bind(); remove it, but never a live one or a file."""
    if path.startswith("@"):
        return
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise AgentError(f"{path} exists and is not a socket; not removing it")
    # Connecting to find out would hand a live server a bogus client; the kernel's list is silent.
    if os.path.abspath(path) in bound_unix_paths():
        raise AgentError(f"another program is already serving on {path}")
    os.unlink(path)


def bound_unix_paths() -> set[str]:
    """Paths of AF_UNIX sockets open in this network namespace (/proc/net/unix, last column)."""
    try:
        with open("/proc/net/unix", encoding="utf-8", errors="replace") as fh:
            rows = fh.read().splitlines()[1:]
    except OSError:
        return set()
    return {parts[7] for parts in (row.split(None, 7) for row in rows) if len(parts) == 8}


def connect(args: argparse.Namespace, out: Emitter) -> None:
    deadline = Deadline(args.timeout)
    message = text_bytes(args, "message")
    address = sockaddr(args.path)
    with socket.socket(socket.AF_UNIX, TYPES[args.type]) as sock:
        if args.type == "dgram" and not args.no_wait:
            sock.bind("")  # Linux autobind: an abstract name the server can reply to
        with deadline.waiting(sock, f"a connection to {args.path}"):
            try:
                sock.connect(address)
            except (FileNotFoundError, ConnectionRefusedError) as exc:
                raise AgentError(f"cannot connect to {args.path}: {describe_oserror(exc)}") from None
        local = format_addr(sock.getsockname())
        if args.type == "stream":
            out.emit("connected", peer=args.path, local=local)
        sock.send(message)
        out.emit("sent", peer=args.path, local=local, **payload_fields(message))
        if not (args.type == "dgram" and args.no_wait):
            with deadline.waiting(sock, f"a reply from {args.path}"):
                data, _peer, truncated, _anc = recv_datagram(sock, args.recv_size)
            out.emit("received", peer=args.path, truncated=truncated, **payload_fields(data))
    out.emit("closed", peer=args.path)


if __name__ == "__main__":  # `python3 -m socklab.agents.unix server ...` works too
    from socklab.agents.cli import main

    raise SystemExit(main(["unix", *sys.argv[1:]]))
