"""The struct-based pcap/pcapng reader and the cheap pre-decoder, checked against scapy."""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import ICMPv6EchoRequest, IPv6, IPv6ExtHdrHopByHop
from scapy.layers.l2 import ARP, CookedLinux, CookedLinuxV2, Dot1Q, Ether
from scapy.utils import PcapNgWriter, PcapWriter, RawPcapReader, RawPcapWriter
from scapy.utils import checksum as scapy_checksum

from socklab.verify.frames import (
    Capture,
    checksum_fields,
    decode,
    inet_checksum,
    length_problems,
    summary,
)
from socklab.verify.pcap import (
    LINKTYPE_ETHERNET,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_LINUX_SLL2,
    LINKTYPE_RAW,
    CaptureFormatError,
    first_timestamp,
    iter_hexdump,
    read_records,
    write_pcap,
)

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def frames_of(path):
    records, _ = read_records(path)
    return decode(Capture("n:eth0", path), records)


def one(pkt, tmp_path, linktype=LINKTYPE_ETHERNET):
    p = tmp_path / "one.pcap"
    write_pcap(p, [(1.5, bytes(pkt))], linktype=linktype)
    (f,) = frames_of(p)
    return f


# --- file formats --------------------------------------------------------------------------


@pytest.mark.parametrize("nano", [False, True])
@pytest.mark.parametrize("endianness", ["<", ">"])
def test_reads_pcap_in_both_byte_orders_and_resolutions(tmp_path, nano, endianness):
    p = tmp_path / "x.pcap"
    pkts = [Ether(dst="ff:ff:ff:ff:ff:ff") / IP(dst="10.0.0.2") / UDP(dport=i) for i in range(3)]
    for i, pk in enumerate(pkts):
        pk.time = 1000 + i + 0.123456789  # small: a float keeps nanoseconds here
    w = PcapWriter(str(p), nano=nano, endianness=endianness, linktype=LINKTYPE_ETHERNET)
    w.write(pkts)
    w.close()
    records, truncated = read_records(p)
    assert not truncated
    assert [r[2] for r in records] == [bytes(pk) for pk in pkts]
    tol = 1e-9 if nano else 1e-6
    assert [r[0] - (1000 + i) for i, r in enumerate(records)] == pytest.approx([0.123456789] * 3, abs=tol)
    assert first_timestamp(p) == pytest.approx(records[0][0])


def test_reads_pcapng(tmp_path):
    p = tmp_path / "x.pcapng"
    pkts = [Ether(dst="ff:ff:ff:ff:ff:ff") / IP(dst="10.0.0.2") / TCP(dport=80 + i) for i in range(3)]
    for i, pk in enumerate(pkts):
        pk.time = 1700000000 + i / 10
    w = PcapNgWriter(str(p))
    w.write(pkts)
    w.close()
    records, truncated = read_records(p)
    assert not truncated
    assert [r[2] for r in records] == [bytes(pk) for pk in pkts]
    assert [r[1] for r in records] == [LINKTYPE_ETHERNET] * 3
    assert records[2][0] == pytest.approx(1700000000.2, abs=1e-6)
    assert [f.dport for f in frames_of(p)] == [80, 81, 82]


def test_truncated_last_record_is_dropped_and_flagged(tmp_path):
    p = tmp_path / "cut.pcap"
    write_pcap(p, [(1.0, b"\x00" * 60), (2.0, b"\x01" * 60)])
    p.write_bytes(p.read_bytes()[:-5])
    records, truncated = read_records(p)
    assert truncated and len(records) == 1


@pytest.mark.parametrize(("content", "words"), [(b"", "empty"), (b"hello world, not a pcap", "not a pcap"), (b"\xd4\xc3", "too short")])
def test_non_captures_are_refused_clearly(tmp_path, content, words):
    p = tmp_path / "bad.pcap"
    p.write_bytes(content)
    with pytest.raises(CaptureFormatError, match=words):
        read_records(p)


@FAST
@given(
    frames=st.lists(st.tuples(st.integers(0, 2**31), st.integers(0, 999_999), st.binary(min_size=0, max_size=300)), max_size=20),
    linktype=st.sampled_from([LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL, LINKTYPE_RAW, 147]),
)
def test_roundtrip_random_frames_against_scapy(tmp_path, frames, linktype):
    """scapy writes, we read; we write, scapy reads: same bytes, lengths and timestamps."""
    a = tmp_path / "scapy.pcap"
    w = RawPcapWriter(str(a), linktype=linktype)
    w._write_header(None)
    for sec, usec, data in frames:
        w.write_packet(data, sec=sec, usec=usec)
    w.close()
    mine, truncated = read_records(a)
    assert not truncated
    assert [(r[2], r[3], r[1]) for r in mine] == [(d, len(d), linktype) for _, _, d in frames]
    assert [round(r[0] * 1e6) for r in mine] == [s * 1_000_000 + u for s, u, _ in frames]

    b = tmp_path / "ours.pcap"
    write_pcap(b, [(s + u / 1e6, d) for s, u, d in frames], linktype=linktype)
    theirs = list(RawPcapReader(str(b)))
    assert [d for d, _ in theirs] == [d for _, _, d in frames]
    assert [(m.sec, m.usec, m.wirelen) for _, m in theirs] == [(s, u, len(d)) for s, u, d in frames]


def test_hexdump_marks_differing_bytes():
    lines = list(iter_hexdump(bytes(range(20)), marks={2, 17}))
    assert lines[0].startswith("0000  00 01 02")
    assert lines[1] == "      " + "      ^^"
    assert lines[2].startswith("0010  10 11")
    assert lines[3].strip() == "^^"


# --- pre-decoding --------------------------------------------------------------------------

ips = st.ip_addresses(v=4).map(str)
ip6s = st.ip_addresses(v=6).map(str)
ports = st.integers(0, 65535)
payloads = st.binary(max_size=64)


@st.composite
def packets(draw):
    kind = draw(st.sampled_from(["udp", "tcp", "icmp", "raw", "udp6", "tcp6", "icmp6", "raw6", "arp", "ether"]))
    eth = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
    if draw(st.booleans()):
        eth = eth / Dot1Q(vlan=draw(st.integers(1, 4000)))
    pay = draw(payloads)
    if kind in ("udp", "tcp", "icmp", "raw"):
        ip = IP(src=draw(ips), dst=draw(ips), ttl=draw(st.integers(1, 255)))
        if kind == "udp":
            return eth / ip / UDP(sport=draw(ports), dport=draw(ports)) / pay
        if kind == "tcp":
            return eth / ip / TCP(sport=draw(ports), dport=draw(ports), flags=draw(st.integers(0, 0x1FF))) / pay
        if kind == "icmp":
            return eth / ip / ICMP(type=draw(st.sampled_from([0, 8])), id=draw(ports)) / pay
        ip.proto = draw(st.integers(100, 250))
        return eth / ip / pay
    if kind == "arp":
        return eth / ARP(op=draw(st.integers(1, 2)), psrc=draw(ips), pdst=draw(ips))
    if kind == "ether":
        return Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02", type=0x88B5) / pay
    ip6 = IPv6(src=draw(ip6s), dst=draw(ip6s))
    if draw(st.booleans()):
        ip6 = ip6 / IPv6ExtHdrHopByHop()
    if kind == "udp6":
        return eth / ip6 / UDP(sport=draw(ports), dport=draw(ports)) / pay
    if kind == "tcp6":
        return eth / ip6 / TCP(sport=draw(ports), dport=draw(ports), flags="PA") / pay
    if kind == "icmp6":
        return eth / ip6 / ICMPv6EchoRequest(id=draw(ports)) / pay
    ip6.lastlayer().nh = draw(st.integers(100, 250))
    return eth / ip6 / pay


def _expected_payload(pkt) -> bytes:
    if ICMPv6EchoRequest in pkt:
        return bytes(pkt[ICMPv6EchoRequest].data)  # scapy keeps echo data in a field
    for layer in (TCP, UDP, ICMP, ARP):
        if layer in pkt:
            return bytes(pkt[layer].payload) if layer is not ARP else b""
    if IP in pkt:
        return bytes(pkt[IP].payload)
    if IPv6 in pkt:
        return _after_ip6(pkt)
    return bytes(pkt[Ether].payload)


def _after_ip6(pkt) -> bytes:
    layer = pkt[IPv6].payload
    while isinstance(layer, IPv6ExtHdrHopByHop):
        layer = layer.payload
    return bytes(layer)


@FAST
@given(pkt=packets())
def test_predecoded_fields_agree_with_scapy(tmp_path, pkt):
    raw = bytes(pkt)
    f = one(pkt, tmp_path)
    p = Ether(raw)
    assert f.esrc == bytes.fromhex("020000000001") and f.edst == bytes.fromhex("020000000002")
    if IP in p:
        assert (f.ipv, f.proto, f.ttl()) == (4, p[IP].proto, p[IP].ttl)
        assert (f.ipsrc, f.ipdst) == (struct.pack("!4B", *map(int, p[IP].src.split("."))), struct.pack("!4B", *map(int, p[IP].dst.split("."))))
    elif IPv6 in p:
        assert f.ipv == 6
        from ipaddress import IPv6Address

        assert (f.ipsrc, f.ipdst) == (IPv6Address(p[IPv6].src).packed, IPv6Address(p[IPv6].dst).packed)
    elif ARP in p:
        assert f.is_arp() and f.ipv == 0
    else:
        assert f.etype == 0x88B5
    for layer, l4p in ((TCP, 6), (UDP, 17)):
        if layer in p:
            assert (f.l4p, f.sport, f.dport) == (l4p, p[layer].sport, p[layer].dport)
    if TCP in p:
        assert f.tflags == int(p[TCP].flags)
    assert f.payload == _expected_payload(p)
    assert summary(f)  # never raises
    if IP in p or IPv6 in p:
        assert all(value == correct for _, _, value, correct in checksum_fields(f)), checksum_fields(f)
        assert length_problems(f) == []


@pytest.mark.parametrize(("linktype", "cls"), [(LINKTYPE_LINUX_SLL, CookedLinux), (LINKTYPE_LINUX_SLL2, CookedLinuxV2)])
def test_cooked_linux_captures_decode(tmp_path, linktype, cls):
    pkt = cls(src=b"\x02\x00\x00\x00\x00\x12" + b"\0\0", proto=0x0800, lladdrlen=6) / IP(src="192.168.11.12", dst="192.168.11.11") / UDP(dport=12345) / b"hi"
    f = one(pkt, tmp_path, linktype)
    assert f.esrc == bytes.fromhex("020000000012") and f.edst is None
    assert (f.ipv, f.dport, f.payload) == (4, 12345, b"hi")


def test_raw_ip_linktype(tmp_path):
    f = one(IPv6(src="fd00::12", dst="fd00::11") / UDP(dport=7) / b"x", tmp_path, LINKTYPE_RAW)
    assert (f.ipv, f.l4p, f.dport, f.payload, f.esrc) == (6, 17, 7, b"x", None)


def test_ethernet_padding_is_not_payload(tmp_path):
    short = bytes(Ether(dst="ff:ff:ff:ff:ff:ff") / IP(src="1.1.1.1", dst="2.2.2.2") / UDP(dport=9) / b"ab")
    f = one(Ether(short + b"\0" * (60 - len(short))), tmp_path)  # padded to the Ethernet minimum
    assert f.payload == b"ab" and len(f.data) == 60
    assert length_problems(f) == []


def test_non_first_ipv4_fragment_has_no_ports(tmp_path):
    f = one(Ether(dst="ff:ff:ff:ff:ff:ff") / IP(src="1.1.1.1", dst="2.2.2.2", proto=17, frag=100) / b"middle of a datagram", tmp_path)
    assert (f.proto, f.l4p, f.sport) == (17, -1, None)
    assert f.payload == b"middle of a datagram"


@FAST
@given(data=st.one_of(st.binary(max_size=200), st.sampled_from([b"", b"\0\0", b"\xff\xff", b"\xff\xfe\x00\x01"])))
def test_inet_checksum_matches_scapy(data):
    assert inet_checksum(data) == scapy_checksum(data)


@pytest.mark.parametrize(
    ("layer", "label", "offset"),
    [(UDP(sport=1, dport=2, chksum=0x1234), "UDP checksum", 40), (TCP(sport=1, dport=2, chksum=0x1234), "TCP checksum", 50),
     (ICMP(chksum=0x1234), "ICMP checksum", 36)],
)
def test_wrong_checksums_are_found_with_the_correct_value(tmp_path, layer, label, offset):
    pkt = Ether(dst="ff:ff:ff:ff:ff:ff") / IP(src="192.168.11.12", dst="192.168.11.11") / layer / b"payload"
    good = Ether(bytes(Ether(dst="ff:ff:ff:ff:ff:ff") / IP(src="192.168.11.12", dst="192.168.11.11") / layer.__class__(**{k: v for k, v in layer.fields.items() if k != "chksum"}) / b"payload"))
    f = one(pkt, tmp_path)
    (bad,) = [c for c in checksum_fields(f) if c[0] == label]
    assert bad[1:3] == (offset, 0x1234)
    assert bad[3] == good[layer.__class__].chksum


def test_ip_header_checksum_and_udp_zero_checksum(tmp_path):
    f = one(Ether(dst="ff:ff:ff:ff:ff:ff") / IP(src="1.1.1.1", dst="2.2.2.2", chksum=0xBEEF) / UDP(chksum=0) / b"x", tmp_path)
    fields = {c[0]: c for c in checksum_fields(f)}
    assert fields["IPv4 header checksum"][2] == 0xBEEF != fields["IPv4 header checksum"][3]
    assert fields["UDP checksum"][2] == fields["UDP checksum"][3] == 0  # 0 = no checksum over IPv4: fine


def test_inconsistent_lengths_are_reported(tmp_path):
    raw = bytearray(bytes(Ether(dst="ff:ff:ff:ff:ff:ff") / IP(src="1.1.1.1", dst="2.2.2.2") / UDP() / (b"x" * 40)))
    raw[16:18] = (100).to_bytes(2, "big")  # IP total length too big
    raw[38:40] = (12).to_bytes(2, "big")  # UDP length wrong
    f = one(Ether(bytes(raw)), tmp_path)
    problems = [p for p, _, _ in length_problems(f)]
    assert any(p.startswith("IPv4 total length 100, but 68 bytes follow") for p in problems), problems
    assert any(p.startswith("UDP length 12, but the IP payload is 48 bytes") for p in problems), problems
