"""Agents that need root: raw IP on loopback, and AF_PACKET and scapy agents across a veth.

Two private network namespaces (sl-tagent-<pid>-a/-b) joined by one veth, addresses
from 192.168.11.0/24, tx checksum offload off so the checksums we verify are the ones
on the wire. Nothing is sent anywhere but loopback and that veth; the namespaces are
deleted in the fixture's finally, failures included.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.agent_harness import only, run_agent


def command(netns: str, *args: str) -> list[str]:
    return ["ip", "netns", "exec", netns, *args]


A_IP, B_IP, UNUSED_IP = "192.168.11.1", "192.168.11.2", "192.168.11.9"

pytestmark = [
    pytest.mark.root,
    pytest.mark.timeout(60),
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (raw sockets, network namespaces)"),
    pytest.mark.skipif(shutil.which("ip") is None, reason="needs iproute2"),
]


@dataclass(frozen=True)
class Pair:
    a: str
    b: str
    a_mac: str
    b_mac: str


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True, timeout=10)


@pytest.fixture(scope="module")
def pair() -> Iterator[Pair]:
    """Two namespaces, one veth (eth0 in each), 192.168.11.1 and .2, checksum offload off."""
    a, b = f"sl-tagent-{os.getpid()}-a", f"sl-tagent-{os.getpid()}-b"
    try:
        _ip("netns", "add", a)
        _ip("netns", "add", b)
        _ip("-n", a, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", b)
        for ns, addr in ((a, A_IP), (b, B_IP)):
            _ip("-n", ns, "addr", "add", f"{addr}/24", "dev", "eth0")
            _ip("-n", ns, "link", "set", "lo", "up")
            _ip("-n", ns, "link", "set", "eth0", "up")
            subprocess.run(command(ns, "ethtool", "-K", "eth0", "tx", "off"), check=True,
                           capture_output=True, timeout=10)
        a_mac, b_mac = (
            subprocess.run(command(ns, "cat", "/sys/class/net/eth0/address"), check=True,
                           capture_output=True, text=True, timeout=10).stdout.strip()
            for ns in (a, b)
        )
        yield Pair(a, b, a_mac, b_mac)
    finally:
        for ns in (a, b):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10)


# --- raw IP on loopback -------------------------------------------------------------


HOSTS = [pytest.param("127.0.0.1", id="ipv4"), pytest.param("::1", id="ipv6")]


@pytest.mark.parametrize("host", HOSTS)
def test_raw_agents_exchange_protocol_102(agents: Any, host: str) -> None:
    receiver = agents("raw", "receiver", "--proto", "102", "--bind", host, "--timeout", "10")
    receiver.wait_for("bound")
    rc, events, stderr = run_agent("raw", "sender", "--host", host, "--proto", "102",
                                   "--message", f"raw hello {os.getpid()}")
    assert rc == 0, stderr
    rc, events, _ = receiver.finish()
    assert rc == 0
    got = only(events, "received")[0]
    assert got["payload"] == f"raw hello {os.getpid()}"
    ip = got["ip"]
    if host == "127.0.0.1":
        assert (ip["version"], ip["ihl"], ip["protocol"], ip["src"], ip["dst"]) == (4, 5, 102, host, host)
        assert ip["total_length"] == 20 + got["bytes"] and ip["checksum_ok"] is True
        assert {"tos", "id", "flags", "ttl", "checksum"} <= ip.keys()
    else:
        assert (ip["version"], ip["next_header"], ip["src"], ip["dst"]) == (6, 102, "::1", "::1")
        assert ip["hop_limit"] > 0


def test_raw_agents_against_plain_raw_sockets(agents: Any) -> None:
    tag = f"plain {os.getpid()}".encode()
    receiver = agents("raw", "receiver", "--proto", "102", "--bind", "127.0.0.1")
    receiver.wait_for("bound")
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, 102) as sender:
        sender.sendto(tag, ("127.0.0.1", 0))
    assert only(receiver.finish()[1], "received")[0]["payload"] == tag.decode()

    with socket.socket(socket.AF_INET, socket.SOCK_RAW, 102) as plain:
        plain.bind(("127.0.0.1", 0))
        plain.settimeout(5)
        rc, _events, _ = run_agent("raw", "sender", "--host", "127.0.0.1", "--message", "to plain")
        assert rc == 0
        while True:  # skip anyone else's protocol-102 packets on the shared loopback
            data = plain.recv(1000)
            if data[20:] == b"to plain":
                break
    assert data[9] == 102 and data[0] >> 4 == 4


# --- AF_PACKET ----------------------------------------------------------------------


def test_packet_agents_custom_ethertype(pair: Pair, agents: Any) -> None:
    receiver = agents("packet", "receiver", "--iface", "eth0", "--ethertype", "0x88b5", netns=pair.b)
    receiver.wait_for("bound")
    rc, _events, stderr = run_agent("packet", "sender", "--iface", "eth0", "--ethertype", "0x88b5",
                                    "--message", "frame hello", netns=pair.a)
    assert rc == 0, stderr
    rc, events, _ = receiver.finish()
    assert rc == 0
    got = only(events, "received")[0]
    assert got["eth"] == {**got["eth"], "src": pair.a_mac, "dst": "ff:ff:ff:ff:ff:ff", "type": 0x88B5}
    assert got["payload"].startswith("frame hello") and got["frame_length"] == 60  # padded
    assert got["pkttype"] == "broadcast"


def _frame_checks(frame_hex: str) -> tuple[Any, int, int]:
    """The frame decoded by scapy, and the IP and UDP checksums scapy computes for it."""
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether

    decoded = Ether(bytes.fromhex(frame_hex))
    again = decoded.copy()
    del again[IP].chksum, again[UDP].chksum
    again = Ether(bytes(again))
    return decoded, again[IP].chksum, again[UDP].chksum


def _udp_listener(pair: Pair, port: int, timeout: float) -> subprocess.Popen:
    """A plain UDP socket in namespace b, printing what it gets as JSON (or 'timeout')."""
    code = (
        "import json, socket, sys\n"
        "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind((sys.argv[1], int(sys.argv[2])))\n"
        "s.settimeout(float(sys.argv[3])); print('ready', flush=True)\n"
        "try:\n    data, peer = s.recvfrom(2000); print(json.dumps([data.hex(), peer]))\n"
        "except TimeoutError:\n    print('timeout')\n"
    )
    proc = subprocess.Popen(command(pair.b, sys.executable, "-c", code, B_IP, str(port), str(timeout)),
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def test_packet_sender_udp_frame_reaches_a_plain_udp_socket(pair: Pair) -> None:
    listener = _udp_listener(pair, 12999, timeout=5)
    try:
        rc, events, stderr = run_agent(
            "packet", "sender", "--iface", "eth0", "--dst-mac", pair.b_mac, "--udp",
            "--src-ip", A_IP, "--dst-ip", B_IP, "--sport", "4321", "--dport", "12999",
            "--message", "built by hand", netns=pair.a)
        out, _ = listener.communicate(timeout=10)
    finally:
        listener.kill()
    assert rc == 0, stderr
    data_hex, peer = json.loads(out)
    assert bytes.fromhex(data_hex) == b"built by hand" and peer == [A_IP, 4321]
    sent = only(events, "sent")[0]
    decoded, ip_sum, udp_sum = _frame_checks(sent["frame_hex"])
    assert decoded["IP"].chksum == ip_sum and decoded["UDP"].chksum == udp_sum
    assert (decoded["IP"].ttl, str(decoded["IP"].flags), decoded["IP"].len) == (64, "DF", 20 + 8 + 13)


def test_packet_receiver_sees_correct_checksums_on_the_wire(pair: Pair, agents: Any) -> None:
    receiver = agents("packet", "receiver", "--iface", "eth0", "--ethertype", "0x0800", netns=pair.b)
    receiver.wait_for("bound")
    rc, _events, stderr = run_agent(
        "packet", "sender", "--iface", "eth0", "--dst-mac", pair.b_mac, "--udp", "--src-ip", A_IP,
        "--dst-ip", B_IP, "--dport", "9", "--message", "x", netns=pair.a)
    assert rc == 0, stderr
    got = only(receiver.finish()[1], "received")[0]
    decoded, ip_sum, udp_sum = _frame_checks(got["frame_hex"])  # as received in namespace b
    assert decoded["IP"].chksum == ip_sum == got["ip"]["checksum"]
    assert decoded["UDP"].chksum == udp_sum == got["udp"]["checksum"]
    assert got["ip"]["checksum_ok"] and got["udp"]["checksum_ok"] and got["payload"] == "x"
    assert got["frame_length"] == 60  # 14 + 20 + 8 + 1, zero-padded to the Ethernet minimum


def test_bad_udp_checksum_is_dropped_by_the_receiving_kernel(pair: Pair, agents: Any) -> None:
    listener = _udp_listener(pair, 12998, timeout=1.5)
    sniffer = agents("packet", "receiver", "--iface", "eth0", "--ethertype", "0x0800", netns=pair.b)
    sniffer.wait_for("bound")
    try:
        rc, events, stderr = run_agent(
            "packet", "sender", "--iface", "eth0", "--dst-mac", pair.b_mac, "--udp", "--src-ip", A_IP,
            "--dst-ip", B_IP, "--dport", "12998", "--bad-udp-checksum", netns=pair.a)
        out, _ = listener.communicate(timeout=10)
    finally:
        listener.kill()
    assert rc == 0, stderr
    assert out.strip() == "timeout"  # the frame arrived (below) but UDP threw it away
    got = only(sniffer.finish()[1], "received")[0]
    assert got["udp"]["checksum_ok"] is False and got["ip"]["checksum_ok"] is True
    decoded, _ip_sum, udp_sum = _frame_checks(got["frame_hex"])
    assert decoded["UDP"].chksum != udp_sum


def test_bad_ip_checksum_frame(pair: Pair) -> None:
    rc, events, stderr = run_agent(
        "packet", "sender", "--iface", "eth0", "--dst-mac", pair.b_mac, "--udp", "--src-ip", A_IP,
        "--dst-ip", B_IP, "--dport", "9", "--bad-ip-checksum", netns=pair.a)
    assert rc == 0, stderr
    sent = only(events, "sent")[0]
    decoded, ip_sum, udp_sum = _frame_checks(sent["frame_hex"])
    assert decoded["IP"].chksum != ip_sum and decoded["UDP"].chksum == udp_sum
    assert sent["ip"]["checksum_ok"] is False


def test_packet_sender_on_a_missing_interface_is_an_error(pair: Pair) -> None:
    rc, events, stderr = run_agent("packet", "sender", "--iface", "nope0", netns=pair.a)
    assert rc == 1 and "no such interface" in events[-1]["message"]
    assert "Traceback" not in stderr


# --- scapy agents -------------------------------------------------------------------


def test_ping(pair: Pair) -> None:
    rc, events, stderr = run_agent("ping", "--host", B_IP, "--count", "2", netns=pair.a)
    assert rc == 0, stderr
    replies = only(events, "received")
    assert [r["seq"] for r in replies] == [1, 2] and all(r["echo_reply"] for r in replies)
    assert replies[0]["peer"] == B_IP and "echo-reply" in replies[0]["summary"]


def test_ping_without_reply_exits_1(pair: Pair) -> None:
    rc, events, stderr = run_agent("ping", "--host", UNUSED_IP, "--timeout", "0.5", netns=pair.a)
    assert rc == 1 and events[-1]["event"] == "error" and "no echo reply" in events[-1]["message"]
    assert "Traceback" not in stderr


def test_dns_server_and_query(pair: Pair, agents: Any) -> None:
    server = agents("dns", "server", "--bind", B_IP, "--record", "www.lab=192.168.11.11",
                    "--record", "www.lab=fd00::11", "--count", "3", netns=pair.b)
    server.wait_for("bound")
    rc, events, stderr = run_agent("dns", "query", "--server", B_IP, "--name", "www.lab", netns=pair.a)
    assert rc == 0, stderr
    answer = only(events, "received")[0]
    assert answer["rcode_name"] == "NOERROR"
    assert answer["answers"] == [{"name": "www.lab", "type": "A", "ttl": 60, "data": "192.168.11.11"}]
    rc, events, _ = run_agent("dns", "query", "--server", B_IP, "--name", "WWW.Lab.", "--type", "AAAA",
                              netns=pair.a)
    assert rc == 0 and [a["data"] for a in only(events, "received")[0]["answers"]] == ["fd00::11"]
    rc, events, _ = run_agent("dns", "query", "--server", B_IP, "--name", "nope.lab", netns=pair.a)
    assert rc == 0 and only(events, "received")[0]["rcode_name"] == "NXDOMAIN"
    rc, events, _ = server.finish()
    assert rc == 0
    assert [q["questions"][0]["name"] for q in only(events, "received")] == ["www.lab", "www.lab", "nope.lab"]


def test_dns_query_without_server_exits_1(pair: Pair) -> None:
    rc, events, _ = run_agent("dns", "query", "--server", B_IP, "--name", "www.lab", "--timeout", "0.5",
                              netns=pair.a)
    assert rc == 1 and "no DNS response" in events[-1]["message"]


@pytest.mark.parametrize("one", [False, True], ids=["srp", "srp1"])
def test_arp(pair: Pair, one: bool) -> None:
    rc, events, stderr = run_agent("arp", "--iface", "eth0", "--target", B_IP, *(["--one"] if one else []),
                                   netns=pair.a)
    assert rc == 0, stderr
    answer = only(events, "received")[0]
    assert (answer["ip"], answer["mac"]) == (B_IP, pair.b_mac)


def test_sniff_and_send(pair: Pair, agents: Any, tmp_path: Path) -> None:
    pcap = tmp_path / "b.pcap"
    sniffer = agents("sniff", "--iface", "eth0", "--filter", "udp port 9", "--write", str(pcap),
                     "--timeout", "15", netns=pair.b)
    sniffer.wait_for("listening")
    rc, events, stderr = run_agent("send", "--packet", f"IP(dst='{B_IP}')/UDP(sport=53, dport=9)/Raw(b'sent by scapy')",
                                   netns=pair.a)
    assert rc == 0, stderr
    rc, events, _ = sniffer.finish()
    assert rc == 0
    got = only(events, "received")[0]
    assert got["payload"] == "sent by scapy" and "UDP" in got["summary"]
    from scapy.utils import rdpcap

    assert [bytes(p["Raw"].load) for p in rdpcap(str(pcap))] == [b"sent by scapy"]


def test_sendp_expression_and_hex(pair: Pair, agents: Any) -> None:
    receiver = agents("packet", "receiver", "--iface", "eth0", "--ethertype", "0x88b6", "--count", "2",
                      netns=pair.b)
    receiver.wait_for("bound")
    rc, _events, stderr = run_agent(
        "sendp", "--iface", "eth0", "--packet", f"Ether(dst='{pair.b_mac}', type=0x88b6)/Raw(b'layer two')",
        netns=pair.a)
    assert rc == 0, stderr
    frame = bytes.fromhex(pair.b_mac.replace(":", "")) + bytes.fromhex(pair.a_mac.replace(":", "")) \
        + b"\x88\xb6" + b"from hex"
    rc, _events, stderr = run_agent("sendp", "--iface", "eth0", "--hex", frame.hex(), netns=pair.a)
    assert rc == 0, stderr
    rc, events, _ = receiver.finish()
    assert rc == 0
    assert [e["payload"] for e in only(events, "received")] == ["layer two", "from hex"]


def test_send_rejects_non_layer_names(pair: Pair) -> None:
    rc, events, stderr = run_agent("send", "--packet", "__import__('os').system('true')", netns=pair.a)
    assert rc == 2 and "cannot evaluate" in events[-1]["message"]
    assert "Traceback" not in stderr


@pytest.mark.parametrize("host", HOSTS)
def test_ping_on_loopback(host: str) -> None:
    rc, events, stderr = run_agent("ping", "--host", host, "--timeout", "2")
    assert rc == 0, stderr
    reply = only(events, "received")[0]
    assert reply["echo_reply"] is True and reply["peer"] == host


def test_dns_over_ipv6_on_another_port(agents: Any) -> None:
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as probe:
        probe.bind(("::1", 0))
        port = str(probe.getsockname()[1])
    server = agents("dns", "server", "--bind", "::1", "--port", port, "--record", "v6.lab=fd00::5")
    assert server.wait_for("bound")["port"] == int(port)
    rc, events, stderr = run_agent("dns", "query", "--server", "::1", "--port", port, "--name", "v6.lab",
                                   "--type", "AAAA")
    assert rc == 0, stderr
    assert only(events, "received")[0]["answers"][0]["data"] == "fd00::5"
    assert server.finish()[0] == 0
