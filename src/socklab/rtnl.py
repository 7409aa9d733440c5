"""Batched rtnetlink: many requests in one sendmsg, their acks read after.

The few requests socklab sends are encoded here with struct (byte for byte what
pyroute2 encodes: see tests/unit/test_rtnl.py), which keeps pyroute2's import and its
per-message cost off the `up` path; `dump()` still decodes with pyroute2. rtnetlink
handles the messages of one buffer in order, so "add address" after "create link" in
the same batch is safe, and a thousand requests cost a handful of syscalls.
"""

from __future__ import annotations

import os
import socket
import struct
from dataclasses import dataclass, field

NETLINK_ROUTE = 0
NLMSG_ERROR = 2
NLM_F_REQUEST, NLM_F_ACK, NLM_F_EXCL, NLM_F_CREATE, NLM_F_REPLACE = 0x1, 0x4, 0x200, 0x400, 0x100
RTM_NEWLINK, RTM_NEWADDR, RTM_NEWROUTE = 16, 20, 24
IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_MASTER, IFLA_LINKINFO, IFLA_NET_NS_FD = 1, 3, 4, 10, 18, 28
IFLA_NUM_TX_QUEUES, IFLA_NUM_RX_QUEUES = 31, 32
IFLA_INFO_KIND, IFLA_INFO_DATA, VETH_INFO_PEER = 1, 2, 1
IFA_ADDRESS, IFA_LOCAL, IFA_FLAGS = 1, 2, 8
RTA_DST, RTA_GATEWAY = 1, 5
IFF_UP = 1
IFA_F_NODAD = 0x02
RT_TABLE_MAIN, RTPROT_STATIC, RT_SCOPE_UNIVERSE, RTN_UNICAST = 254, 4, 0, 1
SO_RCVBUFFORCE = 33
CHUNK = 512  # messages per sendmsg; acks of one chunk must fit the receive buffer


class NetlinkError(OSError):
    def __init__(self, code: int, what: str):
        super().__init__(code, f"{what}: {os.strerror(code)}")
        self.what = what


def open_socket() -> socket.socket:
    """A NETLINK_ROUTE socket in the calling thread's current network namespace."""
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE)
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 4 << 20)
    except OSError:
        pass
    sock.bind((0, 0))
    return sock


@dataclass
class Batch:
    """Requests for one socket; `commit()` sends them all and raises the first failure."""

    sock: socket.socket
    messages: list[tuple[bytes, str]] = field(default_factory=list)
    seq: int = 0

    def add(self, msg_type: int, flags: int, body: bytes, what: str) -> None:
        """Queue one request: `body` is the message after its netlink header."""
        self.seq += 1
        header = struct.pack("=LHHLL", 16 + len(body), msg_type, NLM_F_REQUEST | NLM_F_ACK | flags, self.seq, 0)
        self.messages.append((header + body, what))

    def commit(self) -> None:
        pending, self.messages = self.messages, []
        for start in range(0, len(pending), CHUNK):
            chunk = pending[start:start + CHUNK]
            self.sock.sendall(b"".join(data for data, _ in chunk))
            self._read_acks(chunk, first_seq=self.seq - len(pending) + start + 1)

    def _read_acks(self, chunk: list[tuple[bytes, str]], first_seq: int) -> None:
        remaining = len(chunk)
        failure: NetlinkError | None = None
        while remaining:
            data = self.sock.recv(1 << 20)
            offset = 0
            while offset + 16 <= len(data):
                length, msg_type, _flags, seq, _pid = struct.unpack_from("=LHHLL", data, offset)
                if msg_type == NLMSG_ERROR:
                    (code,) = struct.unpack_from("=i", data, offset + 16)
                    remaining -= 1
                    if code and failure is None:
                        index = seq - first_seq
                        what = chunk[index][1] if 0 <= index < len(chunk) else f"request {seq}"
                        failure = NetlinkError(-code, what)
                offset += (length + 3) & ~3
                if length == 0:
                    break
        if failure:
            raise failure

    # -- the requests socklab needs -------------------------------------------------------

    def veth(self, name: str, ns_fd: int, index: int, mac: str, mtu: int | None,
             peer_name: str, peer_ns_fd: int, peer_index: int, peer_mac: str) -> None:
        """Create a veth pair whose two ends are born in their target namespaces, one queue each.

        Without a queue count the kernel gives each end one rx and one tx queue per possible
        CPU, each a sysfs directory of a dozen files: on a 64-CPU host, 250 kernfs nodes
        per end that a lab's traffic never needs (issue 15: memory and time per link).
        """
        peer = _ifinfo(peer_index) + _str(IFLA_IFNAME, peer_name) + _u32(IFLA_NET_NS_FD, peer_ns_fd) + _mac(peer_mac)
        if mtu:
            peer += _u32(IFLA_MTU, mtu)
        peer += _SINGLE_QUEUE
        info = _str(IFLA_INFO_KIND, "veth") + _nla(IFLA_INFO_DATA, _nla(VETH_INFO_PEER, peer))
        body = _ifinfo(index) + _str(IFLA_IFNAME, name) + _u32(IFLA_NET_NS_FD, ns_fd) + _mac(mac) + _nla(IFLA_LINKINFO, info)
        if mtu:
            body += _u32(IFLA_MTU, mtu)
        body += _SINGLE_QUEUE
        self.add(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, body, f"create veth {name} <-> {peer_name}")

    def bridge(self, name: str, index: int, ns_fd: int | None = None) -> None:
        """Create a bridge, in the namespace ns_fd if given (else the socket's)."""
        body = _ifinfo(index) + _str(IFLA_IFNAME, name)
        if ns_fd is not None:
            body += _u32(IFLA_NET_NS_FD, ns_fd)
        body += _nla(IFLA_LINKINFO, _str(IFLA_INFO_KIND, "bridge"))
        self.add(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, body, f"create bridge {name}")

    def link_up(self, index: int, name: str, master: int | None = None) -> None:
        body = _ifinfo(index, IFF_UP, IFF_UP)
        if master:
            body += _u32(IFLA_MASTER, master)
        self.add(RTM_NEWLINK, 0, body, f"bring {name} up")

    def address(self, index: int, name: str, cidr: str) -> None:
        ip, _, prefix = cidr.partition("/")
        family = socket.AF_INET6 if ":" in ip else socket.AF_INET
        packed = socket.inet_pton(family, ip)
        if family == socket.AF_INET6:
            body = struct.pack("=BBBBI", family, int(prefix), IFA_F_NODAD, 0, index)
            body += _nla(IFA_ADDRESS, packed) + _nla(IFA_FLAGS, struct.pack("=I", IFA_F_NODAD))
        else:
            body = struct.pack("=BBBBI", family, int(prefix), 0, 0, index)
            body += _nla(IFA_LOCAL, packed) + _nla(IFA_ADDRESS, packed)
        self.add(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, body, f"add {cidr} to {name}")

    def route(self, dst: str, via: str) -> None:
        net, _, prefix = dst.partition("/")
        family = socket.AF_INET6 if ":" in via else socket.AF_INET
        body = struct.pack("=BBBBBBBBI", family, int(prefix), 0, 0, RT_TABLE_MAIN, RTPROT_STATIC,
                           RT_SCOPE_UNIVERSE, RTN_UNICAST, 0)
        body += _nla(RTA_GATEWAY, socket.inet_pton(family, via))
        if int(prefix):
            body += _nla(RTA_DST, socket.inet_pton(family, net))
        self.add(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, body, f"route {dst} via {via}")


def _nla(kind: int, payload: bytes) -> bytes:
    """One netlink attribute: header, payload, padding to 4 bytes."""
    length = 4 + len(payload)
    return struct.pack("=HH", length, kind) + payload + b"\0" * (-length % 4)


def _u32(kind: int, value: int) -> bytes:
    return _nla(kind, struct.pack("=I", value))


def _str(kind: int, value: str) -> bytes:
    return _nla(kind, value.encode() + b"\0")


_SINGLE_QUEUE = _u32(IFLA_NUM_TX_QUEUES, 1) + _u32(IFLA_NUM_RX_QUEUES, 1)


def _mac(mac: str) -> bytes:
    return _nla(IFLA_ADDRESS, bytes.fromhex(mac.replace(":", "")))


def _ifinfo(index: int, flags: int = 0, change: int = 0) -> bytes:
    """struct ifinfomsg: family, pad, type, index, flags, change."""
    return struct.pack("=BxHiII", 0, 0, index, flags, change)


def dump(sock: socket.socket, kind: str) -> list:
    """All links ("link") or addresses ("addr") of the socket's namespace, decoded by pyroute2."""
    from pyroute2.netlink import NLM_F_DUMP
    from pyroute2.netlink.rtnl import RTM_GETADDR, RTM_GETLINK
    from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
    from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg

    msg_class, msg_type = (ifinfmsg, RTM_GETLINK) if kind == "link" else (ifaddrmsg, RTM_GETADDR)
    req = msg_class()
    req["header"]["type"] = msg_type
    req["header"]["flags"] = NLM_F_REQUEST | NLM_F_DUMP
    req["header"]["sequence_number"] = 1
    req.encode()
    sock.sendall(bytes(req.data))
    out = []
    while True:
        data = sock.recv(1 << 20)
        offset = 0
        while offset + 16 <= len(data):
            length, msg_type_, *_ = struct.unpack_from("=LHHLL", data, offset)
            if msg_type_ == 3:  # NLMSG_DONE
                return out
            if msg_type_ == NLMSG_ERROR:
                (code,) = struct.unpack_from("=i", data, offset + 16)
                raise NetlinkError(-code, f"dump {kind}s")
            item = msg_class(data[offset:offset + length])
            item.decode()
            out.append(item)
            offset += (length + 3) & ~3
