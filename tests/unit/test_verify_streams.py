"""stream and retransmissions checks over crafted captures: reassembly makes segmentation irrelevant."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Ether

from socklab.verify.testing import CLIENT, CLIENT_MAC, SERVER, SERVER_MAC, chapter_run

MSG = b"Hello World from client"


@pytest.fixture
def run(tmp_path):
    return chapter_run(tmp_path)


def c2s(seq, data=b"", flags="PA", sport=40000, dport=12345):
    return Ether(src=CLIENT_MAC, dst=SERVER_MAC) / IP(src=CLIENT, dst=SERVER) / TCP(
        sport=sport, dport=dport, flags=flags, seq=seq % 2**32, ack=501) / data


def s2c(seq, data=b"", flags="PA"):
    return Ether(src=SERVER_MAC, dst=CLIENT_MAC) / IP(src=SERVER, dst=CLIENT) / TCP(
        sport=12345, dport=40000, flags=flags, seq=seq, ack=101) / data


def handshake(isn=100, sport=40000):
    return [c2s(isn, flags="S", sport=sport), s2c(500, flags="SA"), c2s(isn + 1, flags="A", sport=sport)]


def segments(msg: bytes, cuts: list[int], isn: int = 100) -> list:
    """msg split at the cut points, one segment per piece, after the SYN's ISN."""
    points = [0, *sorted(set(c for c in cuts if 0 < c < len(msg))), len(msg)]
    return [c2s(isn + 1 + a, msg[a:b]) for a, b in zip(points, points[1:], strict=False)]


STREAM = {"from": "client", "to": "server:12345"}


def stream(run, packets, **want):
    run.capture("server:eth0", packets)
    return run.check_one({"stream": {**STREAM, **want}})


def test_two_writes_pass_where_a_packet_check_fails(run):
    pk = handshake() + segments(MSG, [11])
    r = stream(run, pk, equals=MSG.decode())
    assert r.passed, r.message
    assert r.message.startswith("stream 192.168.11.12:40000 > 192.168.11.11:12345: 23 bytes in 2 segments")
    assert "[bytes 0..10]" in r.evidence[0] and "[bytes 11..22]" in r.evidence[1]
    per_packet = run.check_one({"packet": {**STREAM, "payload": {"contains": MSG.decode()}}})
    assert not per_packet.passed


def test_failure_shows_the_stream_beside_what_was_expected(run):
    r = stream(run, handshake() + segments(b"Hello World", [5]), equals=MSG.decode())
    assert not r.passed
    assert r.message == ("192.168.11.12:40000 > 192.168.11.11:12345: stream 'Hello World' (11 bytes) is only the "
                         "first 11 of the 23 bytes expected ('Hello World from client')")
    assert "✗ stream equal to 'Hello World from client'   'Hello World' (11 bytes)" in r.diff
    assert "0000  48 65 6c 6c 6f 20 57 6f 72 6c 64" in r.diff
    assert "segments (byte offsets in the stream):" in r.diff


def test_first_difference_is_marked(run):
    r = stream(run, handshake() + segments(b"Hello Wxrld from client", [3]), equals=MSG.decode())
    assert not r.passed and "differs from 'Hello World from client' from byte 7 on" in r.message
    assert "^^" in r.diff and "at byte 7: seen 'xrld from client', expected 'orld from client'" in r.diff


def test_retransmitted_overlapping_and_out_of_order_segments(run):
    isn = 2**32 - 5  # the sequence numbers wrap inside the message
    pk = handshake(isn) + [
        c2s(isn + 1 + 11, MSG[11:]),      # second half first
        c2s(isn + 1, MSG[:6]),
        c2s(isn + 1 + 4, MSG[4:15]),      # overlaps both
        c2s(isn + 1, MSG[:6]),            # plain retransmission
    ]
    r = stream(run, pk, equals=MSG.decode())
    assert r.passed, r.message
    rt = run.check_one({"retransmissions": STREAM})
    assert rt.passed and rt.message.startswith("3 retransmissions from client to server:12345 among 5 segments")
    assert "(fills a hole)" in rt.evidence[0] and "(resent)" in rt.evidence[1]


def test_capture_starting_mid_connection(run):
    r = stream(run, segments(MSG, [4, 9], isn=7000), contains="World from")
    assert r.passed and "(capture starts mid-connection)" in r.message
    r = stream(run, segments(MSG, [4, 9], isn=7000), equals="nope")
    assert "note: the capture starts mid-connection (no SYN seen)" in r.diff


def test_a_missing_segment_is_a_hole(run):
    pk = handshake() + [c2s(101, MSG[:5]), c2s(101 + 11, MSG[11:])]
    r = stream(run, pk, contains="from client")
    assert not r.passed
    assert "(bytes 5..10 were never captured)" in r.message


def test_no_connection_and_wrong_port(run):
    r = stream(run, [s2c(500, b"x")], contains="y")
    assert r.message == "no TCP segment from client to server:12345 at all on server:eth0"
    r = stream(run, [c2s(1, MSG, dport=12346)], contains="nothing like it")
    assert r.message == "no TCP segment from client to server:12345; TCP segments from client seen only to port 12346"


def test_bytes_sent_elsewhere_are_pointed_at(run):
    r = stream(run, handshake() + segments(MSG, [3]), **{"from": "server:12345", "to": "client", "contains": "World"})
    assert r.message.endswith("; the expected bytes went the other way: stream 192.168.11.12:40000 > 192.168.11.11:12345")
    r = stream(run, [c2s(1, MSG, dport=12346)], contains="World")
    assert r.message.endswith("; the expected bytes went to another port: stream 192.168.11.12:40000 > 192.168.11.11:12346")


def test_a_new_connection_on_the_same_ports(run):
    pk = handshake(100) + segments(b"first", [2], 100) + handshake(9000) + segments(MSG, [3], 9000)
    assert stream(run, pk, equals=MSG.decode()).passed
    r = stream(run, pk, equals="other")
    assert "(2 connections from client to server:12345, none as expected)" in r.message


def test_checksums_over_the_stream(run):
    bad = c2s(101 + 5, MSG[5:])
    bad[TCP].chksum = 0x1234
    r = stream(run, handshake() + [c2s(101, MSG[:5]), bad], equals=MSG.decode(), checksums="valid")
    assert not r.passed and "1 segment with a wrong checksum, first server-eth0.pcap #5: TCP checksum 0x1234" in r.message


def test_regex_and_length(run):
    pk = handshake() + segments(MSG, [1, 2, 3])
    assert stream(run, pk, regex="^Hello .* client$", length=23).passed
    assert stream(run, pk, length=22).message.endswith("stream of 23 bytes, expected 22")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    msg=st.one_of(st.binary(min_size=1, max_size=120), st.sampled_from([MSG, b"ab" * 30])),
    cuts=st.lists(st.integers(0, 120), max_size=8),
    extra=st.lists(st.tuples(st.integers(0, 119), st.integers(1, 40)), max_size=4),
    order=st.randoms(use_true_random=False),
    isn=st.integers(0, 2**32 - 1),
    probe=st.binary(min_size=1, max_size=6),
    syn=st.booleans(),
    text=st.text(st.characters(codec="utf-8"), min_size=1, max_size=3),
)
def test_segmentation_never_changes_the_verdict(run, msg, cuts, extra, order, isn, probe, syn, text):
    pk = segments(msg, cuts, isn)
    pk += [c2s(isn + 1 + a, msg[a : a + n]) for a, n in extra if a < len(msg)]  # overlapping resends
    order.shuffle(pk)
    pk = (handshake(isn) if syn else []) + pk
    run.capture("server:eth0", pk)  # without the SYN, byte 0 is the lowest sequence number captured
    results = run.check(
        {"id": "eq", "title": "t", "stream": {**STREAM, "hex": msg.hex()}},
        {"id": "probe", "title": "t", "stream": {**STREAM, "hex": probe.hex(), "length": len(msg)}},
        {"id": "longer", "title": "t", "stream": {**STREAM, "hex": (msg + b"!").hex()}},
        {"id": "inside", "title": "t", "stream": {**STREAM, "contains": text}},
    )
    eq, pr, longer, inside = results
    assert eq.passed, eq.message
    assert not longer.passed
    assert pr.passed == (probe == msg)
    assert inside.passed == (text.encode() in msg)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(msg=st.binary(min_size=2, max_size=80), cuts=st.lists(st.integers(1, 79), max_size=5),
       order=st.randoms(use_true_random=False))
def test_reordering_alone_is_never_a_resend(run, msg, cuts, order):
    pk = segments(msg, cuts)
    order.shuffle(pk)
    run.capture("server:eth0", handshake() + pk)
    r = run.check_one({"retransmissions": STREAM, "count": {"at_most": len(pk)}})
    assert r.passed
    assert all("(fills a hole)" in e for e in r.evidence)


def test_no_retransmission_when_each_byte_is_sent_once(run):
    run.capture("server:eth0", handshake() + segments(MSG, [5]))
    r = run.check_one({"retransmissions": STREAM})
    assert not r.passed
    assert r.message == ("no retransmission from client to server:12345, expected at least 1: "
                         "3 segments on 1 connection on server:eth0, each sent once")
    assert run.check_one({"retransmissions": STREAM, "none": True}).passed


def test_syn_retransmission_counts(run):
    run.capture("server:eth0", [c2s(100, flags="S"), c2s(100, flags="S"), *handshake()[1:]])
    r = run.check_one({"retransmissions": STREAM, "count": 1})
    assert r.passed, r.message


def test_keepalive_is_not_a_retransmission(run):
    run.capture("server:eth0", handshake() + segments(MSG, []) + [c2s(101 + len(MSG) - 1, flags="A")])
    assert run.check_one({"retransmissions": STREAM, "none": True}).passed


def test_udp_repeats_are_application_retransmissions(run):
    def dgram(data):
        return Ether(src=CLIENT_MAC, dst=SERVER_MAC) / IP(src=CLIENT, dst=SERVER) / UDP(sport=5000, dport=12345) / data

    run.capture("server:eth0", [dgram(b"0:aa"), dgram(b"1:bb"), dgram(b"1:bb"), dgram(b"2:cc"), dgram(b"1:bb")])
    r = run.check_one({"retransmissions": {**STREAM, "proto": "udp"}, "count": {"at_least": 2}})
    assert r.passed
    assert r.message.startswith("2 retransmissions from client to server:12345 among 5 datagrams")
    r = run.check_one({"retransmissions": {**STREAM, "proto": "udp"}, "count": 1})
    assert not r.passed and r.message.endswith("expected exactly 1; first server-eth0.pcap #3 (repeats an earlier payload)")


def test_one_packet_on_two_captures_is_not_a_retransmission(run):
    pk = handshake() + segments(MSG, [5])
    run.capture("server:eth0", pk)
    run.capture("client:eth0", pk)
    assert run.check_one({"retransmissions": STREAM, "none": True}).passed
    assert run.check_one({"stream": {**STREAM, "equals": MSG.decode()}}).passed


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(msg=st.binary(min_size=1, max_size=80), cuts=st.lists(st.integers(1, 79), max_size=6),
       dups=st.lists(st.integers(0, 20), max_size=5), isn=st.integers(0, 2**32 - 1))
def test_each_resent_segment_counts_once(run, msg, cuts, dups, isn):
    sent = segments(msg, cuts, isn)
    again = [sent[i % len(sent)] for i in dups]
    run.capture("server:eth0", handshake(isn) + sent + again)
    r = run.check_one({"retransmissions": STREAM, "count": len(again)} if again else {"retransmissions": STREAM, "none": True})
    assert r.passed, r.message
    assert all("(resent)" in e for e in r.evidence)
