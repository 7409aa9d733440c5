"""Batched rtnetlink: many requests in one sendmsg, their acks read after.

pyroute2 encodes the messages; this module only pipelines them. rtnetlink handles
the messages of one buffer in order, so "add address" after "create link" in the
same batch is safe, and a thousand requests cost a handful of syscalls.
"""

from __future__ import annotations

import os
import socket
import struct
from dataclasses import dataclass, field

from pyroute2.netlink import NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE, NLM_F_REQUEST
from pyroute2.netlink.rtnl import RTM_NEWADDR, RTM_NEWLINK, RTM_NEWROUTE
from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg
from pyroute2.netlink.rtnl.rtmsg import rtmsg

NETLINK_ROUTE = 0
NLMSG_ERROR = 2
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

    def add(self, msg, msg_type: int, flags: int, what: str) -> None:
        self.seq += 1
        msg["header"]["type"] = msg_type
        msg["header"]["flags"] = NLM_F_REQUEST | NLM_F_ACK | flags
        msg["header"]["sequence_number"] = self.seq
        msg.encode()
        self.messages.append((bytes(msg.data), what))

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
        """Create a veth pair whose two ends are born in their target namespaces."""
        peer: dict = {"attrs": [("IFLA_IFNAME", peer_name), ("IFLA_NET_NS_FD", peer_ns_fd), ("IFLA_ADDRESS", peer_mac)]}
        if mtu:
            peer["attrs"].append(("IFLA_MTU", mtu))
        peer["index"] = peer_index
        msg = ifinfmsg()
        msg["index"] = index
        msg["attrs"] = [
            ("IFLA_IFNAME", name), ("IFLA_NET_NS_FD", ns_fd), ("IFLA_ADDRESS", mac),
            ("IFLA_LINKINFO", {"attrs": [("IFLA_INFO_KIND", "veth"), ("IFLA_INFO_DATA", {"attrs": [("VETH_INFO_PEER", peer)]})]}),
        ]
        if mtu:
            msg["attrs"].append(("IFLA_MTU", mtu))
        self.add(msg, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, f"create veth {name} <-> {peer_name}")

    def bridge(self, name: str, index: int) -> None:
        msg = ifinfmsg()
        msg["index"] = index
        msg["attrs"] = [("IFLA_IFNAME", name), ("IFLA_LINKINFO", {"attrs": [("IFLA_INFO_KIND", "bridge")]})]
        self.add(msg, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, f"create bridge {name}")

    def link_up(self, index: int, name: str, master: int | None = None) -> None:
        msg = ifinfmsg()
        msg["index"] = index
        msg["flags"] = IFF_UP
        msg["change"] = IFF_UP
        if master:
            msg["attrs"] = [("IFLA_MASTER", master)]
        self.add(msg, RTM_NEWLINK, 0, f"bring {name} up")

    def address(self, index: int, name: str, cidr: str) -> None:
        ip, _, prefix = cidr.partition("/")
        family = socket.AF_INET6 if ":" in ip else socket.AF_INET
        msg = ifaddrmsg()
        msg["family"] = family
        msg["prefixlen"] = int(prefix)
        msg["index"] = index
        msg["attrs"] = [("IFA_LOCAL", ip), ("IFA_ADDRESS", ip)]
        if family == socket.AF_INET6:
            msg["flags"] = IFA_F_NODAD
            msg["attrs"] = [("IFA_ADDRESS", ip), ("IFA_FLAGS", IFA_F_NODAD)]
        self.add(msg, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, f"add {cidr} to {name}")

    def route(self, dst: str, via: str) -> None:
        net, _, prefix = dst.partition("/")
        family = socket.AF_INET6 if ":" in via else socket.AF_INET
        msg = rtmsg()
        msg["family"] = family
        msg["dst_len"] = int(prefix)
        msg["table"] = RT_TABLE_MAIN
        msg["proto"] = RTPROT_STATIC
        msg["scope"] = RT_SCOPE_UNIVERSE
        msg["type"] = RTN_UNICAST
        msg["attrs"] = [("RTA_GATEWAY", via)]
        if int(prefix):
            msg["attrs"].append(("RTA_DST", net))
        self.add(msg, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, f"route {dst} via {via}")




def dump(sock: socket.socket, kind: str) -> list:
    """All links ("link") or addresses ("addr") of the socket's namespace, decoded by pyroute2."""
    from pyroute2.netlink import NLM_F_DUMP
    from pyroute2.netlink.rtnl import RTM_GETADDR, RTM_GETLINK

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
