"""rtnl encodes its requests with struct: byte for byte what pyroute2 encodes for them."""

from __future__ import annotations

import socket
import struct

import pytest
from pyroute2.netlink import NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE, NLM_F_REQUEST
from pyroute2.netlink.rtnl import RTM_NEWADDR, RTM_NEWLINK, RTM_NEWROUTE
from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg
from pyroute2.netlink.rtnl.rtmsg import rtmsg

from socklab import rtnl


def reference(msg, msg_type: int, flags: int, seq: int = 1) -> bytes:
    """How rtnl encoded requests when pyroute2 did it."""
    msg["header"]["type"] = msg_type
    msg["header"]["flags"] = NLM_F_REQUEST | NLM_F_ACK | flags
    msg["header"]["sequence_number"] = seq
    msg.encode()
    return bytes(msg.data)


def ref_veth(name, ns_fd, index, mac, mtu, peer_name, peer_ns_fd, peer_index, peer_mac) -> bytes:
    peer: dict = {"attrs": [("IFLA_IFNAME", peer_name), ("IFLA_NET_NS_FD", peer_ns_fd), ("IFLA_ADDRESS", peer_mac)]}
    if mtu:
        peer["attrs"].append(("IFLA_MTU", mtu))
    peer["attrs"] += [("IFLA_NUM_TX_QUEUES", 1), ("IFLA_NUM_RX_QUEUES", 1)]
    peer["index"] = peer_index
    msg = ifinfmsg()
    msg["index"] = index
    msg["attrs"] = [
        ("IFLA_IFNAME", name), ("IFLA_NET_NS_FD", ns_fd), ("IFLA_ADDRESS", mac),
        ("IFLA_LINKINFO", {"attrs": [("IFLA_INFO_KIND", "veth"), ("IFLA_INFO_DATA", {"attrs": [("VETH_INFO_PEER", peer)]})]}),
    ]
    if mtu:
        msg["attrs"].append(("IFLA_MTU", mtu))
    msg["attrs"] += [("IFLA_NUM_TX_QUEUES", 1), ("IFLA_NUM_RX_QUEUES", 1)]
    return reference(msg, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL)


def ref_bridge(name, index) -> bytes:
    msg = ifinfmsg()
    msg["index"] = index
    msg["attrs"] = [("IFLA_IFNAME", name), ("IFLA_LINKINFO", {"attrs": [("IFLA_INFO_KIND", "bridge")]})]
    return reference(msg, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL)


def ref_link_up(index, master=None) -> bytes:
    msg = ifinfmsg()
    msg["index"] = index
    msg["flags"] = 1
    msg["change"] = 1
    if master:
        msg["attrs"] = [("IFLA_MASTER", master)]
    return reference(msg, RTM_NEWLINK, 0)


def ref_address(index, cidr) -> bytes:
    ip, _, prefix = cidr.partition("/")
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    msg = ifaddrmsg()
    msg["family"] = family
    msg["prefixlen"] = int(prefix)
    msg["index"] = index
    msg["attrs"] = [("IFA_LOCAL", ip), ("IFA_ADDRESS", ip)]
    if family == socket.AF_INET6:
        msg["flags"] = 2
        msg["attrs"] = [("IFA_ADDRESS", ip), ("IFA_FLAGS", 2)]
    return reference(msg, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL)


def ref_route(dst, via) -> bytes:
    net, _, prefix = dst.partition("/")
    family = socket.AF_INET6 if ":" in via else socket.AF_INET
    msg = rtmsg()
    msg["family"] = family
    msg["dst_len"] = int(prefix)
    msg["table"] = 254
    msg["proto"] = 4
    msg["scope"] = 0
    msg["type"] = 1
    msg["attrs"] = [("RTA_GATEWAY", via)]
    if int(prefix):
        msg["attrs"].append(("RTA_DST", net))
    return reference(msg, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE)


def encoded(call) -> bytes:
    batch = rtnl.Batch(sock=None)  # type: ignore[arg-type]  # nothing is sent
    call(batch)
    ((data, _what),) = batch.messages
    return data


@pytest.mark.parametrize("args", [
    ("eth0", 5, 2, "02:8c:54:cd:33:93", None, "eth0", 6, 3, "02:b4:05:8a:a7:8d"),
    ("eth1", 1023, 4, "02:00:00:00:02:01", 1400, "swp12", 77, 5000, "02:ff:ee:dd:cc:bb"),
    ("a", 3, 65535, "02:00:00:00:00:00", 9000, "fifteen-chars-x", 4, 1 << 20, "02:01:02:03:04:05"),
    ("eth12", 4, 7, "02:aa:bb:cc:dd:ee", 68, "ab", 5, 8, "02:10:20:30:40:50"),
])
def test_veth_bytes(args):
    assert encoded(lambda b: b.veth(*args)) == ref_veth(*args)


@pytest.mark.parametrize("name,index", [("br0", 2), ("br0", 1001), ("bridge-x", 70000)])
def test_bridge_bytes(name, index):
    assert encoded(lambda b: b.bridge(name, index)) == ref_bridge(name, index)


@pytest.mark.parametrize("index,master", [(1, None), (2, None), (5, 2), (3000, 1999)])
def test_link_up_bytes(index, master):
    assert encoded(lambda b: b.link_up(index, "x", master=master)) == ref_link_up(index, master)


@pytest.mark.parametrize("cidr", ["10.0.0.1/30", "192.168.11.11/24", "10.255.3.4/8", "1.2.3.4/32",
                                  "fd00:2::1/64", "2001:db8::dead:beef/128", "fe80::1/10", "::1/128"])
def test_address_bytes(cidr):
    assert encoded(lambda b: b.address(7, "eth0", cidr)) == ref_address(7, cidr)


@pytest.mark.parametrize("dst,via", [("0.0.0.0/0", "10.0.1.1"), ("10.0.2.0/24", "10.0.1.1"),
                                     ("::/0", "fd00:1::1"), ("fd00:2::/64", "fd00:1::1"), ("10.9.8.7/32", "10.0.0.2")])
def test_route_bytes(dst, via):
    assert encoded(lambda b: b.route(dst, via)) == ref_route(dst, via)


def test_sequence_numbers_and_lengths():
    batch = rtnl.Batch(sock=None)  # type: ignore[arg-type]
    batch.link_up(1, "lo")
    batch.address(2, "eth0", "10.0.0.1/30")
    batch.route("0.0.0.0/0", "10.0.0.2")
    for seq, (data, _) in enumerate(batch.messages, 1):
        length, _type, _flags, got_seq, pid = struct.unpack_from("=LHHLL", data)
        assert (length, got_seq, pid) == (len(data), seq, 0)
        assert len(data) % 4 == 0
