"""Is a port held in a namespace? The question a step's `ready:` asks, answered cheaply.

TCP listeners and bound UDP sockets are asked of the kernel's sock_diag netlink: a dump
restricted to listening TCP sockets walks only the listening hash (16,384 buckets on a 24 GiB
host), where reading /proc/net/tcp and tcp6 walks the established hash twice (262,144 buckets
each: 3.7 ms a poll here, against 0.1 ms). Raw sockets come from /proc/net/raw{,6}: the raw
hash is small, and raw sock_diag is often not built.

Written here rather than through pyroute2: one request and one field of the answer, on a path
polled every millisecond. Standard library only.
"""

from __future__ import annotations

import os
import socket
import struct

from socklab import nsutil

NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
NLM_F_DUMP_REQUEST = 0x301  # NLM_F_REQUEST | NLM_F_DUMP
NLMSG_ERROR, NLMSG_DONE = 2, 3
TCP_LISTEN_ONLY = 1 << 10  # idiag_states: TCPF_LISTEN
ANY_STATE = 0xFFFFFFFF
_HEADER = struct.Struct("=IHHII")
_PROTOCOLS = {"tcp": (socket.IPPROTO_TCP, TCP_LISTEN_ONLY), "udp": (socket.IPPROTO_UDP, ANY_STATE)}


class PortProbe:
    """Asks one namespace, as often as needed, whether a socket holds a port.

    "tcp": a listening socket on the port; "udp": a socket bound to it; "raw": a raw socket open
    for that IP protocol (/proc/net/raw shows the protocol as the port). IPv4 and IPv6 alike.
    The netlink socket is opened inside the namespace once and answers only for it.
    """

    def __init__(self, netns_path: str, proto: str) -> None:
        if proto not in (*_PROTOCOLS, "raw"):
            raise ValueError(f"no port probe for {proto!r}")
        self.proto = proto
        self._seq = 0
        self._sock: socket.socket | None = None
        self._netns = nsutil.open_netns(netns_path)
        if proto in _PROTOCOLS:
            try:
                with nsutil.entered(self._netns):
                    self._sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC,
                                               NETLINK_SOCK_DIAG)
            except OSError:
                self._sock = None  # no sock_diag in this kernel: read /proc instead

    def bound(self, port: int) -> bool:
        if self._sock is not None:
            try:
                return port in self._diag_ports()
            except OSError:  # e.g. tcp_diag or udp_diag not built: the tables under /proc still answer
                self._sock.close()
                self._sock = None
        return port in self._proc_ports()

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if self._netns >= 0:
            os.close(self._netns)
            self._netns = -1

    def __enter__(self) -> PortProbe:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _diag_ports(self) -> set[int]:
        assert self._sock is not None
        protocol, states = _PROTOCOLS[self.proto]
        ports: set[int] = set()
        for family in (socket.AF_INET, socket.AF_INET6):
            self._seq += 1
            request = struct.pack("=BBBBI", family, protocol, 0, 0, states) + bytes(48)  # inet_diag_req_v2
            self._sock.send(_HEADER.pack(_HEADER.size + len(request), SOCK_DIAG_BY_FAMILY, NLM_F_DUMP_REQUEST,
                                         self._seq, 0) + request)
            ports |= self._read_dump()
        return ports

    def _read_dump(self) -> set[int]:
        """The local ports of one dump's inet_diag_msg answers (sport: 2 bytes into the socket id)."""
        assert self._sock is not None
        ports: set[int] = set()
        while True:
            data = self._sock.recv(65536)
            offset = 0
            while offset + _HEADER.size <= len(data):
                length, kind, _, seq, _ = _HEADER.unpack_from(data, offset)
                if seq == self._seq:
                    if kind == NLMSG_DONE:
                        return ports
                    if kind == NLMSG_ERROR:
                        code = -struct.unpack_from("=i", data, offset + _HEADER.size)[0]
                        raise OSError(code, os.strerror(code))
                    ports.add(struct.unpack_from("!H", data, offset + _HEADER.size + 4)[0])
                offset += (length + 3) & ~3
                if length == 0:
                    break

    def _proc_ports(self) -> set[int]:
        """From /proc/net/{tcp,udp,raw}{,6} as this namespace shows them (TCP: listening only)."""
        ports: set[int] = set()
        with nsutil.entered(self._netns):
            for table in (self.proto, self.proto + "6"):
                try:
                    with open(f"/proc/thread-self/net/{table}") as f:
                        lines = f.read().splitlines()[1:]
                except FileNotFoundError:
                    continue
                for line in lines:
                    fields = line.split()
                    if self.proto != "tcp" or fields[3] == "0A":
                        ports.add(int(fields[1].rsplit(":", 1)[1], 16))
        return ports


def port_bound(netns_path: str, proto: str, port: int) -> bool:
    """One question, one probe (a readiness wait keeps its PortProbe instead)."""
    with PortProbe(netns_path, proto) as probe:
        return probe.bound(port)
