"""`packet:` expectations: every matcher field, quantifiers, capture scopes, time windows, and
the failure messages that name what differs."""

from __future__ import annotations

import pytest
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import ICMPv6EchoReply, ICMPv6EchoRequest, IPv6
from scapy.layers.l2 import ARP, CookedLinuxV2, Ether

from socklab.verify.pcap import LINKTYPE_LINUX_SLL2
from socklab.verify.testing import (
    CLIENT,
    CLIENT6,
    CLIENT_MAC,
    RAWSRV,
    SERVER,
    SERVER6,
    SERVER_MAC,
    T0,
    chapter_run,
)

OTHER_MAC = "02:00:00:00:00:99"


@pytest.fixture
def run(tmp_path):
    return chapter_run(tmp_path)


def c2s(**ip):
    return Ether(src=CLIENT_MAC, dst=SERVER_MAC) / IP(src=CLIENT, dst=SERVER, **ip)


def s2c(**ip):
    return Ether(src=SERVER_MAC, dst=CLIENT_MAC) / IP(src=SERVER, dst=CLIENT, **ip)


def c2s6(**ip):
    return Ether(src=CLIENT_MAC, dst=SERVER_MAC) / IPv6(src=CLIENT6, dst=SERVER6, **ip)


def udp_hello(dport=12345, payload=b"Hello World from client", **udp):
    return c2s() / UDP(sport=40000, dport=dport, **udp) / payload


def check(run, packets, expectation, capture="server:eth0"):
    run.capture(capture, packets)
    return run.check_one(expectation)


# (name, packet matcher, a packet that matches, one that does not, words the failure must contain)
FIELDS = [
    ("ether-src", {"ether": {"src": CLIENT_MAC}}, udp_hello(), Ether(src=OTHER_MAC, dst="ff:ff:ff:ff:ff:ff") / IP() / UDP(),
     "Ethernet source 02:00:00:00:00:99, expected 02:00:00:00:00:12"),
    ("ether-dst", {"ether": {"dst": SERVER_MAC}}, udp_hello(), Ether(src=CLIENT_MAC, dst=OTHER_MAC) / IP() / UDP(),
     "Ethernet destination 02:00:00:00:00:99, expected 02:00:00:00:00:11"),
    ("ether-type", {"ether": {"type": "0x88b5"}}, Ether(src=CLIENT_MAC, dst="ff:ff:ff:ff:ff:ff", type=0x88B5) / b"hi",
     Ether(src=CLIENT_MAC, dst="ff:ff:ff:ff:ff:ff", type=0x88B6) / b"hi", "EtherType 0x88b6, expected 0x88b5"),
    ("arp-op", {"arp": {"op": "is-at"}}, Ether(dst="ff:ff:ff:ff:ff:ff") / ARP(op=2), Ether(dst="ff:ff:ff:ff:ff:ff") / ARP(op=1), "ARP operation who-has (1), expected is-at (2)"),
    ("arp-psrc", {"arp": {"psrc": CLIENT}}, Ether(dst="ff:ff:ff:ff:ff:ff") / ARP(psrc=CLIENT), Ether(dst="ff:ff:ff:ff:ff:ff") / ARP(psrc=RAWSRV),
     "ARP psrc 192.168.11.13, expected 192.168.11.12"),
    ("arp-pdst", {"arp": {"pdst": SERVER}}, Ether(dst="ff:ff:ff:ff:ff:ff") / ARP(pdst=SERVER), Ether(dst="ff:ff:ff:ff:ff:ff") / ARP(pdst=RAWSRV),
     "ARP pdst 192.168.11.13, expected 192.168.11.11"),
    ("arp-hwsrc", {"arp": {"hwsrc": CLIENT_MAC}}, Ether(dst="ff:ff:ff:ff:ff:ff") / ARP(hwsrc=CLIENT_MAC), Ether(dst="ff:ff:ff:ff:ff:ff") / ARP(hwsrc=OTHER_MAC),
     "ARP hwsrc 02:00:00:00:00:99, expected 02:00:00:00:00:12"),
    ("arp-hwdst", {"arp": {"hwdst": SERVER_MAC}}, Ether(dst="ff:ff:ff:ff:ff:ff") / ARP(hwdst=SERVER_MAC), Ether(dst="ff:ff:ff:ff:ff:ff") / ARP(hwdst=OTHER_MAC),
     "ARP hwdst 02:00:00:00:00:99, expected 02:00:00:00:00:11"),
    ("ipv4-src", {"ipv4": {"src": CLIENT}}, udp_hello(), Ether(dst="ff:ff:ff:ff:ff:ff") / IP(src=RAWSRV, dst=SERVER) / UDP(),
     "IPv4 source 192.168.11.13, expected 192.168.11.12"),
    ("ipv4-dst", {"ipv4": {"dst": SERVER}}, udp_hello(), Ether(dst="ff:ff:ff:ff:ff:ff") / IP(src=CLIENT, dst=RAWSRV) / UDP(),
     "IPv4 destination 192.168.11.13, expected 192.168.11.11"),
    ("ip-proto", {"ip": {"proto": 102}}, c2s(proto=102) / b"Hello", c2s(proto=103) / b"Hello", "IP protocol 103, expected 102"),
    ("ip-proto-name", {"ip": {"proto": "udp"}}, udp_hello(), c2s() / TCP(), "IP protocol 6, expected 17"),
    ("ip-ttl", {"ip": {"ttl": 64}}, c2s(ttl=64) / UDP(), c2s(ttl=1) / UDP(), "IPv4 TTL 1, expected 64"),
    ("ip-flags", {"ip": {"flags": "DF"}}, c2s(flags="DF") / UDP(), c2s(flags=0) / UDP(), "IPv4 flags none, expected DF"),
    ("ip-id", {"ip": {"id": 7}}, c2s(id=7) / UDP(), c2s(id=8) / UDP(), "IPv4 id 8, expected 7"),
    ("ip-tos", {"ip": {"tos": "0x10"}}, c2s(tos=0x10) / UDP(), c2s(tos=0) / UDP(), "IPv4 TOS 0x00, expected 0x10"),
    ("ipv6-src", {"ipv6": {"src": CLIENT6}}, c2s6() / UDP(), Ether(dst="ff:ff:ff:ff:ff:ff") / IPv6(src="fd00::99", dst=SERVER6) / UDP(),
     "IPv6 source fd00::99, expected fd00::12"),
    ("ipv6-dst", {"ipv6": {"dst": SERVER6}}, c2s6() / UDP(), Ether(dst="ff:ff:ff:ff:ff:ff") / IPv6(src=CLIENT6, dst="fd00::99") / UDP(),
     "IPv6 destination fd00::99, expected fd00::11"),
    ("ipv6-nh", {"ipv6": {"nh": 102}}, c2s6(nh=102) / b"x", c2s6(nh=103) / b"x", "IPv6 next header 103, expected 102"),
    ("ipv6-hlim", {"ipv6": {"hlim": 64}}, c2s6(hlim=64) / UDP(), c2s6(hlim=63) / UDP(), "IPv6 hop limit 63, expected 64"),
    ("icmp-type", {"icmp": {"type": "echo-request"}}, c2s() / ICMP(type=8), c2s() / ICMP(type=0), "ICMP type 0, expected 8"),
    ("icmp-code", {"icmp": {"type": 3, "code": 3}}, c2s() / ICMP(type=3, code=3), c2s() / ICMP(type=3, code=1), "ICMP code 1, expected 3"),
    ("icmp-id", {"icmp": {"id": 7}}, c2s() / ICMP(id=7), c2s() / ICMP(id=9), "ICMP id 9, expected 7"),
    ("icmp-seq", {"icmp": {"seq": 1}}, c2s() / ICMP(seq=1), c2s() / ICMP(seq=2), "ICMP seq 2, expected 1"),
    ("icmpv6-type", {"icmpv6": {"type": "echo-request"}}, c2s6() / ICMPv6EchoRequest(), c2s6() / ICMPv6EchoReply(),
     "ICMPv6 type 129, expected 128"),
    ("icmpv6-id", {"icmpv6": {"id": 5, "seq": 1}}, c2s6() / ICMPv6EchoRequest(id=5, seq=1), c2s6() / ICMPv6EchoRequest(id=6, seq=1),
     "ICMPv6 id 6, expected 5"),
    ("tcp-sport", {"tcp": {"sport": 40000}}, c2s() / TCP(sport=40000), c2s() / TCP(sport=40001), "TCP source port 40001, expected 40000"),
    ("tcp-dport", {"tcp": {"dport": 12345}}, c2s() / TCP(dport=12345), c2s() / TCP(dport=12346), "TCP destination port 12346, expected 12345"),
    ("tcp-flags", {"tcp": {"flags": "SA"}}, s2c() / TCP(flags="SA"), s2c() / TCP(flags="S"), "TCP flags S, expected SA"),
    ("tcp-flag-words", {"tcp": {"flags": "SYN+ACK"}}, s2c() / TCP(flags="SA"), s2c() / TCP(flags="RA"), "TCP flags RA, expected SA"),
    ("tcp-flags-include", {"tcp": {"flags_include": "F"}}, c2s() / TCP(flags="FPA"), c2s() / TCP(flags="PA"),
     "TCP flags PA, expected at least F"),
    ("tcp-seq", {"tcp": {"seq": 1000}}, c2s() / TCP(seq=1000), c2s() / TCP(seq=1001), "TCP seq 1001, expected 1000"),
    ("tcp-ack", {"tcp": {"ack": 5}}, c2s() / TCP(ack=5), c2s() / TCP(ack=6), "TCP ack 6, expected 5"),
    ("tcp-window", {"tcp": {"window": 512}}, c2s() / TCP(window=512), c2s() / TCP(window=8192), "TCP window 8192, expected 512"),
    ("udp-sport", {"udp": {"sport": 40000}}, udp_hello(), c2s() / UDP(sport=1), "UDP source port 1, expected 40000"),
    ("udp-dport", {"udp": {"dport": 12345}}, udp_hello(), udp_hello(dport=12346), "UDP destination port 12346, expected 12345"),
    ("udp-len", {"udp": {"len": 31}}, udp_hello(), udp_hello(payload=b"Hello"), "UDP length 13, expected 31"),
    ("udp-not-tcp", {"udp": {"dport": 12345}}, udp_hello(), c2s() / TCP(dport=12345), "expected UDP, seen TCP"),
    ("payload-equals", {"payload": {"equals": "Hello World from client"}}, udp_hello(), udp_hello(payload=b"Hello World from clien"),
     "payload 'Hello World from clien' (22 bytes), expected 'Hello World from client'"),
    ("payload-contains", {"payload": {"contains": "World"}}, udp_hello(), udp_hello(payload=b"Hello world"),
     "payload 'Hello world' (11 bytes) does not contain 'World'"),
    ("payload-shorthand", {"payload": "World"}, udp_hello(), udp_hello(payload=b"Hi"), "does not contain 'World'"),
    ("payload-regex", {"payload": {"regex": "^Hello .* client$"}}, udp_hello(), udp_hello(payload=b"Hello World from server"),
     "does not match /^Hello .* client$/"),
    ("payload-hex", {"payload": {"hex": "de ad be ef"}}, udp_hello(payload=b"\xde\xad\xbe\xef"), udp_hello(payload=b"\xde\xad\xbe\xee"),
     "payload 0xdeadbeee (4 bytes), expected 0xdeadbeef"),
    ("payload-length", {"payload": {"length": 5}}, udp_hello(payload=b"Hello"), udp_hello(payload=b"Hello!"), "payload length 6, expected 5"),
    ("raw-ip-payload", {"ip": {"proto": 102}, "payload": {"equals": "Hello"}}, c2s(proto=102) / b"Hello", c2s(proto=102) / b"Hellp",
     "payload 'Hellp'"),
    ("ether-payload-padded", {"ether": {"type": 0x88B5}, "payload": {"equals": "Hello"}},
     Ether(src=CLIENT_MAC, dst="ff:ff:ff:ff:ff:ff", type=0x88B5) / (b"Hello" + b"\0" * 41), Ether(src=CLIENT_MAC, dst="ff:ff:ff:ff:ff:ff", type=0x88B5) / (b"Hellp" + b"\0" * 41),
     "payload 'Hellp' + 41 zero bytes (46 bytes), expected 'Hello'"),
    ("from-node", {"from": "client"}, udp_hello(), s2c() / UDP(), "no packet from client at all on server:eth0"),
    ("to-node", {"to": "server"}, udp_hello(), s2c() / UDP(), "no packet to server at all on server:eth0"),
    ("from-iface", {"from": "client:eth0", "udp": {}}, udp_hello(), s2c() / UDP(), "no packet from client:eth0 at all"),
    ("to-node-port", {"to": "server:12345", "udp": {}}, udp_hello(), udp_hello(dport=12346), "destination port 12346, expected 12345"),
    ("from-literal-ip", {"from": CLIENT, "udp": {}}, udp_hello(), s2c() / UDP(), "no packet from 192.168.11.12 at all"),
    ("to-literal-ip-port", {"to": f"{SERVER}:12345", "udp": {}}, udp_hello(), udp_hello(dport=1), "destination port 1, expected 12345"),
    ("to-v6-port", {"to": f"[{SERVER6}]:12345", "udp": {}}, c2s6() / UDP(dport=12345), c2s6() / UDP(dport=9), "destination port 9, expected 12345"),
    ("from-mac", {"from": CLIENT_MAC}, Ether(src=CLIENT_MAC, dst="ff:ff:ff:ff:ff:ff", type=0x88B5) / b"x", Ether(src=OTHER_MAC, dst=SERVER_MAC, type=0x88B5) / b"x",
     "no packet from 02:00:00:00:00:12 at all"),
]


@pytest.mark.parametrize(("name", "spec", "good", "bad", "words"), FIELDS, ids=[f[0] for f in FIELDS])
def test_field_matches(run, name, spec, good, bad, words):
    r = check(run, [bad, good], {"packet": spec})
    assert r.passed, r.message
    assert r.evidence[0].startswith("server-eth0.pcap #2 ")
    assert r.score == 1 and r.error is None and r.diff is None


@pytest.mark.parametrize(("name", "spec", "good", "bad", "words"), FIELDS, ids=[f[0] for f in FIELDS])
def test_field_mismatch_names_the_difference(run, name, spec, good, bad, words):
    r = check(run, [bad], {"packet": spec})
    assert not r.passed and r.score == 0 and r.error is None
    assert words in r.message, r.message
    assert r.diff and "server-eth0.pcap #1" in r.diff


def test_node_matches_by_mac_when_the_ip_is_someone_elses(run):
    """AF_PACKET frames with a made-up IP source still come from the node's MAC."""
    spoofed = Ether(src=CLIENT_MAC, dst=SERVER_MAC) / IP(src="10.9.9.9", dst=SERVER) / UDP(dport=12345)
    assert check(run, [spoofed], {"packet": {"from": "client", "udp": {"dport": 12345}}}).passed


def test_arp_counts_as_from_and_to_by_protocol_addresses(run):
    who_has = Ether(src=CLIENT_MAC, dst="ff:ff:ff:ff:ff:ff") / ARP(psrc=CLIENT, pdst=SERVER, hwsrc=CLIENT_MAC)
    assert check(run, [who_has], {"packet": {"from": "client", "to": "server", "arp": {"op": "who-has"}}}).passed


# --- failure messages the course needs --------------------------------------------------------


def test_wrong_port_diff_shows_fields_side_by_side_and_the_differing_bytes(run):
    r = check(run, [c2s() / UDP(sport=40000, dport=12346) / b"Hello World from client"],
              {"packet": {"from": "client", "to": "server", "udp": {"dport": 12345}, "payload": "Hello World from client"}})
    assert "nearest is server-eth0.pcap #1: UDP destination port 12346, expected 12345" in r.message
    lines = r.diff.splitlines()
    assert any(ln.startswith("  ✗ UDP destination port 12345") and ln.endswith("12346") for ln in lines), r.diff
    assert any(ln.startswith("  ✓ payload containing 'Hello World from client'") for ln in lines), r.diff
    assert any("dport" in ln and "12346" in ln and "← expected 12345" in ln and ln.startswith("  ✗") for ln in lines), r.diff
    assert "at 0x0024: 30 3a, expected 30 39" in r.diff
    assert "^^ ^^" in r.diff


def test_bad_udp_checksum_reports_the_correct_value(run):
    bad = udp_hello(chksum=0x1234)
    correct = Ether(bytes(udp_hello()))[UDP].chksum
    r = check(run, [bad], {"packet": {"from": "client", "udp": {"dport": 12345}, "checksums": "valid"}})
    assert not r.passed
    assert f"UDP checksum 0x1234, correct would be 0x{correct:04x}" in r.message
    assert f"expected {correct >> 8:02x} {correct & 0xFF:02x}" in r.diff  # the differing bytes


def test_bad_ip_header_checksum_reports_the_correct_value(run):
    correct = Ether(bytes(udp_hello()))[IP].chksum
    bad = Ether(src=CLIENT_MAC, dst=SERVER_MAC) / IP(src=CLIENT, dst=SERVER, chksum=0xBEEF) / UDP(sport=40000, dport=12345) / b"Hello World from client"
    r = check(run, [bad], {"packet": {"udp": {"dport": 12345}, "checksums": "valid"}})
    assert f"IPv4 header checksum 0xbeef, correct would be 0x{correct:04x}" in r.message


@pytest.mark.parametrize("layer", [TCP(dport=12345, chksum=1), ICMP(chksum=1)])
def test_bad_tcp_and_icmp_checksums(run, layer):
    r = check(run, [c2s() / layer / b"data"], {"packet": {"from": "client", "checksums": "valid"}})
    assert f"{layer.name.split()[0].upper()} checksum 0x0001, correct would be" in r.message


def test_good_checksums_pass_including_ipv6(run):
    pkts = [udp_hello(), c2s() / TCP() / b"x", c2s() / ICMP(), c2s6() / UDP() / b"x", c2s6() / ICMPv6EchoRequest()]
    r = check(run, pkts, {"packet": {"checksums": "valid"}, "count": 5})
    assert r.passed, r.message


def test_inconsistent_lengths(run):
    raw = bytearray(bytes(udp_hello()))
    raw[38:40] = (99).to_bytes(2, "big")  # UDP length
    raw[40:42] = b"\0\0"  # no checksum, so that only the length is wrong
    r = check(run, [Ether(bytes(raw))], {"packet": {"udp": {}, "lengths": "consistent"}})
    assert "UDP length 99, but the IP payload is 31 bytes" in r.message
    assert check(run, [udp_hello()], {"packet": {"udp": {}, "lengths": "consistent"}}).passed


def test_client_that_never_sends(run):
    run.capture("server:eth0", [s2c() / UDP(sport=12345, dport=40000) / b"anyone?"])
    r = run.check_one({"packet": {"from": "client", "to": "server", "udp": {"dport": 12345}}})
    assert r.message == "no packet from client at all on server:eth0"
    assert r.error is None and not r.passed


def test_empty_capture(run):
    assert check(run, [], {"packet": {"udp": {}}}).message == "no packet at all on server:eth0"


def test_hint_is_appended_on_failure_only(run):
    e = {"packet": {"udp": {"dport": 12345}}, "hint": "bind the server to port 12345"}
    assert check(run, [udp_hello(dport=1)], e).message.endswith("(hint: bind the server to port 12345)")
    assert "hint" not in check(run, [udp_hello()], e).message


# --- quantifiers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "n", "passed", "words"),
    [
        (None, 1, True, "1 matching packet on server:eth0 (expected at least 1)"),
        (2, 2, True, "2 matching packets"),
        (2, 3, False, "3 matching packets on server:eth0, expected exactly 2"),
        ({"exactly": 1}, 0, False, "no packet from client at all"),
        ({"at_least": 2}, 1, False, "1 matching packet on server:eth0, expected at least 2"),
        ({"at_least": 2}, 4, True, "4 matching packets"),
        ({"at_most": 2}, 3, False, "3 matching packets on server:eth0, expected at most 2"),
        ({"at_most": 2}, 0, True, "as expected"),
        ({"at_least": 1, "at_most": 2}, 3, False, "expected between 1 and 2"),
    ],
)
def test_count(run, count, n, passed, words):
    e = {"packet": {"from": "client", "udp": {"dport": 12345}}}
    if count is not None:
        e["count"] = count
    r = check(run, [s2c() / TCP()] + [udp_hello()] * n, e)
    assert r.passed is passed and words in r.message, r.message
    assert len(r.evidence) == n


def test_none(run):
    e = {"packet": {"tcp": {"flags_include": "R"}}, "none": True}
    assert check(run, [c2s() / TCP(flags="S")], e).passed
    r = check(run, [c2s() / TCP(flags="S"), s2c() / TCP(flags="RA")], e)
    assert not r.passed and "expected no packet with TCP, TCP flags including R, but saw 1, first server-eth0.pcap #2" in r.message


def test_one_packet_on_two_captures_counts_once(run):
    pkt = udp_hello()
    run.capture("client:eth0", [pkt], start=T0)
    run.capture("server:eth0", [pkt], start=T0 + 0.0001)
    r = run.check_one({"packet": {"udp": {"dport": 12345}}, "count": 1})
    assert r.passed, r.message
    assert r.evidence == [r.evidence[0]] and "(also on server-eth0.pcap #1)" in r.evidence[0]


def test_a_routed_packet_counts_once_and_repeats_count_twice(run):
    hop1, hop2 = udp_hello(), udp_hello()
    hop2[IP].ttl = 63  # forwarded by a router: TTL and checksum change, the datagram is the same
    run.capture("client:eth0", [hop1, (T0 + 0.5, bytes(hop1))])
    run.capture("server:eth0", [(T0 + 0.001, bytes(hop2)), (T0 + 0.501, bytes(hop2))])
    r = run.check_one({"packet": {"udp": {"dport": 12345}}, "count": 2})
    assert r.passed, r.message


# --- scopes and windows --------------------------------------------------------------------


def test_capture_scope_and_hint_about_other_captures(run):
    run.capture("client:eth0", [udp_hello()])
    run.capture("server:eth0", [c2s() / TCP()])
    assert run.check_one({"packet": {"udp": {}, "capture": "client:eth0"}}).passed
    assert run.check_one({"packet": {"udp": {}, "capture": "client"}}).passed
    assert run.check_one({"packet": {"udp": {}, "capture": ["server:eth0", "client:eth0"]}}).passed
    r = run.check_one({"packet": {"udp": {}, "capture": "server:eth0"}})
    assert not r.passed and "(a matching packet was seen on client:eth0: client-eth0.pcap #1)" in r.message


def test_time_window_after_a_step(run):
    run.step("client", "client", started=T0 + 10)
    run.capture("server:eth0", [(T0 + 5, bytes(udp_hello())), (T0 + 13, bytes(udp_hello(dport=7)))])
    e = {"packet": {"udp": {"dport": 7}}, "after": "client", "within": "2s"}
    r = run.check_one(e)
    assert not r.passed
    assert "seen at +3.000s after the start of step 'client', expected within 2s after step 'client' started" in r.message
    assert run.check_one({**e, "within": "3500ms"}).passed
    r = run.check_one({"packet": {"udp": {"dport": 12345}}, "after": "client"})
    assert not r.passed and "expected after step 'client' started" in r.message  # the one at T0+5 is before


def test_window_with_nothing_inside(run):
    run.step("client", "client", started=T0 + 100)
    r = check(run, [udp_hello()], {"packet": {"udp": {}}, "after": "client", "within": "1s"})
    assert r.message.startswith("no packet at all within 1s after step 'client' started on server:eth0; nearest is server-eth0.pcap #1: seen at -100.000s")


# --- errors: not the student's fault -------------------------------------------------------


def test_missing_capture_file_is_an_error(run, tmp_path):
    run.captures["server:eth0"] = tmp_path / "never-written.pcap"
    r = run.check_one({"packet": {"udp": {}}})
    assert not r.passed and r.score == 0
    assert r.error and "capture file for server:eth0 is missing" in r.error
    assert r.message.startswith("could not check: ")


def test_corrupt_capture_is_an_error(run, tmp_path):
    (tmp_path / "bad.pcap").write_bytes(b"this is not a capture")
    run.captures["server:eth0"] = tmp_path / "bad.pcap"
    r = run.check_one({"packet": {"udp": {}}})
    assert r.error and "unreadable" in r.error and "not a pcap" in r.error


@pytest.mark.parametrize(
    ("expectation", "words"),
    [
        ({"packet": {"from": "klient"}}, "unknown node 'klient' (nodes: client, rawsrv, server)"),
        ({"packet": {"from": "client:eth1"}}, "node 'client' has no interface 'eth1' (interfaces: eth0)"),
        ({"packet": {"capture": "router:eth0"}}, "no capture 'router:eth0' in this run (captures: server:eth0)"),
        ({"packet": {}, "after": "nope"}, "no step 'nope' in this run"),
    ],
)
def test_names_the_lab_does_not_have_are_errors(run, expectation, words):
    r = check(run, [udp_hello()], expectation)
    assert r.error is not None and words in r.error, r.error
    assert not r.passed


def test_no_captures_at_all_is_an_error(run):
    r = run.check_one({"packet": {"udp": {}}})
    assert r.error and "no captures" in r.error


def test_cooked_capture_of_tcpdump_any(run):
    """tcpdump -i any writes SLL2: a source MAC but no destination MAC."""
    def sll(src_mac, ip):
        return CookedLinuxV2(proto=0x0800, lladdrlen=6, src=bytes.fromhex(src_mac.replace(":", "")) + b"\0\0") / ip
    pkts = [sll(CLIENT_MAC, IP(src="10.9.9.9", dst=SERVER) / UDP(dport=12345) / b"spoofed"),
            sll(SERVER_MAC, IP(src=SERVER, dst=CLIENT) / UDP(sport=12345) / b"back")]
    run.capture("server:any", pkts, linktype=LINKTYPE_LINUX_SLL2)
    assert run.check_one({"packet": {"from": "client", "to": "server", "payload": "spoofed"}}).passed  # by MAC, then by IP
    assert run.check_one({"packet": {"from": "server", "to": "client", "udp": {"sport": 12345}}}).passed
    r = run.check_one({"packet": {"ether": {"dst": SERVER_MAC}}})
    assert not r.passed and "Ethernet destination -, expected 02:00:00:00:00:11" in r.message
