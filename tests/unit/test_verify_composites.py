"""Composite checks (tcp_handshake, tcp_close, request_reply, only, sequence) and output checks."""

from __future__ import annotations

import pytest
from scapy.layers.inet import ICMP, IP, TCP, UDP, IPerror, UDPerror
from scapy.layers.inet6 import ICMPv6MLReport2, ICMPv6ND_NS, IPv6
from scapy.layers.l2 import ARP, Ether

from socklab.verify.testing import (
    CLIENT,
    CLIENT6,
    CLIENT_MAC,
    RAWSRV,
    RAWSRV_MAC,
    SERVER,
    SERVER6,
    SERVER_MAC,
    T0,
    chapter_run,
)


@pytest.fixture
def run(tmp_path):
    return chapter_run(tmp_path)


def c2s(dst=SERVER, dmac=SERVER_MAC):
    return Ether(src=CLIENT_MAC, dst=dmac) / IP(src=CLIENT, dst=dst)


def s2c():
    return Ether(src=SERVER_MAC, dst=CLIENT_MAC) / IP(src=SERVER, dst=CLIENT)


def conversation(port=12345, close="clean"):
    """A TCP hello exchange as the chapter's programs produce it."""
    pk = [
        c2s() / TCP(sport=40000, dport=port, flags="S", seq=100),
        s2c() / TCP(sport=port, dport=40000, flags="SA", seq=500, ack=101),
        c2s() / TCP(sport=40000, dport=port, flags="A", seq=101, ack=501),
        c2s() / TCP(sport=40000, dport=port, flags="PA", seq=101, ack=501) / b"Hello World from client",
        s2c() / TCP(sport=port, dport=40000, flags="PA", seq=501, ack=124) / b"Hello World from server",
    ]
    if close == "clean":
        pk += [c2s() / TCP(sport=40000, dport=port, flags="FA", seq=124, ack=524),
               s2c() / TCP(sport=port, dport=40000, flags="FA", seq=524, ack=125),
               c2s() / TCP(sport=40000, dport=port, flags="A", seq=125, ack=525)]
    elif close == "reset":
        pk += [s2c() / TCP(sport=port, dport=40000, flags="RA", seq=524, ack=124)]
    elif close == "half":
        pk += [c2s() / TCP(sport=40000, dport=port, flags="FA", seq=124, ack=524)]
    return pk


HANDSHAKE = {"tcp_handshake": {"client": "client", "server": "server:12345"}}


def check(run, packets, expectation, capture="server:eth0"):
    run.capture(capture, packets)
    return run.check_one(expectation)


# --- tcp_handshake ---------------------------------------------------------------------------


def test_handshake_passes(run):
    r = check(run, conversation(), HANDSHAKE)
    assert r.passed
    assert r.message == ("handshake 192.168.11.12:40000 > 192.168.11.11:12345: SYN server-eth0.pcap #1, "
                         "SYN-ACK server-eth0.pcap #2, ACK server-eth0.pcap #3")
    assert [e.split(":")[0] for e in r.evidence] == ["server-eth0.pcap #1 +0.000s", "server-eth0.pcap #2 +0.010s", "server-eth0.pcap #3 +0.020s"]


def test_handshake_to_the_wrong_port(run):
    r = check(run, conversation(port=12346), HANDSHAKE)
    assert not r.passed
    assert r.message == "no SYN to server:12345 (192.168.11.11, fd00::11) seen; SYNs seen: to port 12346"
    assert "TCP destination port 12346" in r.diff or "destination port" in r.diff


def test_handshake_to_the_wrong_host(run):
    r = check(run, [c2s(dst=RAWSRV, dmac=RAWSRV_MAC) / TCP(sport=1, dport=12345, flags="S")], HANDSHAKE)
    assert r.message == "no SYN to server:12345 (192.168.11.11, fd00::11) seen; SYNs seen: to 192.168.11.13:12345 (rawsrv)"


def test_handshake_client_that_never_sends(run):
    r = check(run, [s2c() / UDP()], HANDSHAKE)
    assert r.message == "no packet from client at all on server:eth0"


def test_handshake_client_speaking_udp(run):
    r = check(run, [c2s() / UDP(dport=12345) / b"Hello"], HANDSHAKE)
    assert r.message == "no SYN to server:12345 (192.168.11.11, fd00::11) seen; no TCP connection attempt at all from client on server:eth0"
    assert "  ✗ TCP " in r.diff
    assert any(ln.startswith("  ✗") and "proto      17 (udp)" in ln and "← expected TCP, seen UDP" in ln for ln in r.diff.splitlines()), r.diff


def test_handshake_server_that_never_answers(run):
    syn = c2s() / TCP(sport=40000, dport=12345, flags="S", seq=100)
    r = check(run, [syn, syn, syn], HANDSHAKE)
    assert r.message == ("SYN server-eth0.pcap #1 to server:12345 (192.168.11.11, fd00::11) got no SYN-ACK (SYN sent 3 times); "
                         "the server sent no packet at all on server:eth0")


def test_handshake_refused(run):
    pk = [c2s() / TCP(sport=40000, dport=12345, flags="S", seq=100), s2c() / TCP(sport=12345, dport=40000, flags="RA", ack=101)]
    r = check(run, pk, HANDSHAKE)
    assert r.message == ("SYN server-eth0.pcap #1 to server:12345 (192.168.11.11, fd00::11) was refused: RST from the server "
                         "(server-eth0.pcap #2); is anything listening on port 12345?")
    assert len(r.evidence) == 2


def test_handshake_without_final_ack(run):
    r = check(run, conversation()[:2], HANDSHAKE)
    assert r.message == "SYN-ACK server-eth0.pcap #2 was never acknowledged by the client (no final ACK of the handshake)"


def test_synack_must_acknowledge_the_syn(run):
    pk = conversation()
    pk[1] = s2c() / TCP(sport=12345, dport=40000, flags="SA", seq=500, ack=999)
    assert "got no SYN-ACK" in check(run, pk, HANDSHAKE).message


def test_handshake_any_port_and_ipv6(run):
    assert check(run, conversation(port=8080), {"tcp_handshake": {"server": "server"}}).passed
    v6 = [Ether(dst="ff:ff:ff:ff:ff:ff") / IPv6(src=CLIENT6, dst=SERVER6) / TCP(sport=5, dport=80, flags="S", seq=1),
          Ether(dst="ff:ff:ff:ff:ff:ff") / IPv6(src=SERVER6, dst=CLIENT6) / TCP(sport=80, dport=5, flags="SA", seq=9, ack=2),
          Ether(dst="ff:ff:ff:ff:ff:ff") / IPv6(src=CLIENT6, dst=SERVER6) / TCP(sport=5, dport=80, flags="A", seq=2, ack=10)]
    r = check(run, v6, {"tcp_handshake": {"client": "client", "server": "server:80"}}, capture="client:eth0")
    assert r.passed and "[fd00::12]:5 > [fd00::11]:80" in r.message


def test_handshake_in_a_time_window(run):
    run.step("client", "client", started=T0 + 60)
    r = check(run, conversation(), {**HANDSHAKE, "after": "client", "within": "5s"})
    assert not r.passed and "no packet from client at all" in r.message


# --- tcp_close -------------------------------------------------------------------------------

CLOSE = {"tcp_close": {"between": ["client", "server:12345"]}}


def test_close_clean(run):
    r = check(run, conversation(), CLOSE)
    assert r.passed
    assert r.message == ("connection 192.168.11.12:40000 <> 192.168.11.11:12345 closed: FIN from client "
                         "(server-eth0.pcap #6), FIN from server:12345 (server-eth0.pcap #7), no RST")


def test_close_reset(run):
    r = check(run, conversation(close="reset"), CLOSE)
    assert not r.passed
    assert r.message.startswith("connection 192.168.11.12:40000 <> 192.168.11.11:12345 was reset: RST from server:12345 (server-eth0.pcap #6)")


def test_a_reset_after_the_close_completed_answers_a_late_segment_and_does_not_count(run):
    """Seen in CI: the client's ACK of the server's FIN, sent from another CPU, came after the
    client's FIN; the server (TIME_WAIT) answered it, and the closed client sent RST."""
    pk = conversation(close="none") + [
        s2c() / TCP(sport=12345, dport=40000, flags="FA", seq=524, ack=124),
        c2s() / TCP(sport=40000, dport=12345, flags="FA", seq=124, ack=525),
        s2c() / TCP(sport=12345, dport=40000, flags="A", seq=525, ack=125),
        c2s() / TCP(sport=40000, dport=12345, flags="A", seq=124, ack=525),  # the late ACK
        s2c() / TCP(sport=12345, dport=40000, flags="A", seq=525, ack=125),
        c2s() / TCP(sport=40000, dport=12345, flags="R", seq=125),
    ]
    r = check(run, pk, CLOSE)
    assert r.passed, r.message
    assert r.message.endswith("both acknowledged; the RST server-eth0.pcap #11 came after the close and "
                              "answers a late segment (a reordered or repeated ACK), not the program")
    assert len(r.evidence) == 3


@pytest.mark.parametrize("acked", [False, True])
def test_a_reset_before_the_second_fin_is_acknowledged_counts(run, acked):
    pk = conversation(close="none") + [
        c2s() / TCP(sport=40000, dport=12345, flags="FA", seq=124, ack=524),
        s2c() / TCP(sport=12345, dport=40000, flags="FA", seq=524, ack=125 if acked else 124),
        c2s() / TCP(sport=40000, dport=12345, flags="R", seq=125),
    ]
    r = check(run, pk, CLOSE)
    assert not r.passed and "was reset: RST from client (server-eth0.pcap #8)" in r.message


def test_close_half(run):
    r = check(run, conversation(close="half"), CLOSE)
    assert r.message == ("client closed connection 192.168.11.12:40000 <> 192.168.11.11:12345 (FIN server-eth0.pcap #6) "
                         "but server:12345 never sent its FIN")


def test_close_never(run):
    r = check(run, conversation(close="none"), CLOSE)
    assert r.message == "connection 192.168.11.12:40000 <> 192.168.11.11:12345 was never closed: no FIN from either side (5 segments seen)"


def test_close_no_tcp_and_port_filter(run):
    assert check(run, [c2s() / UDP()], CLOSE).message == "no TCP packet between client and server:12345 at all on server:eth0"
    assert "no TCP packet between" in check(run, conversation(port=80), CLOSE).message


# --- request_reply -----------------------------------------------------------------------------


def test_ping_answered(run):
    pk = [c2s() / ICMP(type=8, id=1, seq=1) / b"ping", s2c() / ICMP(type=0, id=1, seq=1) / b"ping"]
    r = check(run, pk, {"request_reply": {"request": {"from": "client", "icmp": {"type": "echo-request"}},
                                          "reply": {"icmp": {"type": "echo-reply"}}}})
    assert r.passed and r.message == "request server-eth0.pcap #1 answered; first reply server-eth0.pcap #2"
    assert r.evidence[1].endswith("(reply)")


def test_echo_with_wrong_id_is_not_an_answer(run):
    pk = [c2s() / ICMP(type=8, id=1, seq=1), s2c() / ICMP(type=0, id=2, seq=1)]
    r = check(run, pk, {"request_reply": {"request": {"icmp": {"type": 8}}}})
    assert not r.passed and "got no reply" in r.message


UDP_RR = {"request_reply": {"request": {"from": "client", "to": "server:12345", "udp": {}},
                            "reply": {"from": "server", "payload": "Hello World from server"}}}


def test_udp_request_reply(run):
    pk = [c2s() / UDP(sport=40000, dport=12345) / b"Hello World from client",
          s2c() / UDP(sport=12345, dport=40000) / b"Hello World from server"]
    assert check(run, pk, UDP_RR).passed


def test_server_that_never_answers(run):
    r = check(run, [c2s() / UDP(sport=40000, dport=12345) / b"Hello World from client"], {"request_reply": {"request": {"udp": {"dport": 12345}}}})
    assert not r.passed
    assert r.message == ("request server-eth0.pcap #1 (UDP 192.168.11.12:40000 > 192.168.11.11:12345 len=23 "
                         "'Hello World from client') got no reply; 192.168.11.11 sent nothing at all afterwards")


def test_port_unreachable_is_not_a_reply(run):
    req = c2s() / UDP(sport=40000, dport=12345) / b"Hello"
    err = s2c() / ICMP(type=3, code=3) / IPerror(bytes(req[IP]))
    assert isinstance(err[ICMP].payload, IPerror) and UDPerror in err
    r = check(run, [req, err], {"request_reply": {"request": {"udp": {"dport": 12345}}}})
    assert not r.passed
    assert r.message.startswith("request server-eth0.pcap #1 got only an ICMP error back: ICMP 192.168.11.11 > 192.168.11.12 dest-unreach code=3")
    assert r.message.endswith("is anything listening on UDP port 12345?")


def test_reply_that_differs(run):
    pk = [c2s() / UDP(sport=40000, dport=12345) / b"Hello World from client",
          s2c() / UDP(sport=12345, dport=40000) / b"Hello World from sever"]
    r = check(run, pk, UDP_RR)
    assert "request server-eth0.pcap #1 was answered by server-eth0.pcap #2, but the reply differs: payload 'Hello World from sever'" in r.message
    assert r.diff.startswith("answer: server-eth0.pcap #2")


def test_all_requests_answered(run):
    pk = [c2s() / ICMP(id=1, seq=1), s2c() / ICMP(type=0, id=1, seq=1), c2s() / ICMP(id=1, seq=2)]
    e = {"request_reply": {"request": {"icmp": {"type": 8}}, "all": True}}
    r = check(run, pk, e)
    assert not r.passed and r.message.startswith("1 of 2 requests answered; request server-eth0.pcap #3")
    assert check(run, pk + [s2c() / ICMP(type=0, id=1, seq=2)], e).passed


def test_arp_and_raw_ip_request_reply(run):
    arp = [Ether(src=CLIENT_MAC, dst="ff:ff:ff:ff:ff:ff") / ARP(psrc=CLIENT, pdst=SERVER, hwsrc=CLIENT_MAC),
           Ether(src=SERVER_MAC, dst=CLIENT_MAC) / ARP(op=2, psrc=SERVER, pdst=CLIENT, hwsrc=SERVER_MAC, hwdst=CLIENT_MAC)]
    assert check(run, arp, {"request_reply": {"request": {"arp": {"op": "who-has", "pdst": SERVER}}}}).passed
    raw = [c2s() / IP(src=CLIENT, dst=SERVER, proto=102) / b"ping",
           s2c() / IP(src=SERVER, dst=CLIENT, proto=102) / b"pong"]
    raw = [Ether(src=CLIENT_MAC, dst=SERVER_MAC) / IP(src=CLIENT, dst=SERVER, proto=102) / b"ping",
           Ether(src=SERVER_MAC, dst=CLIENT_MAC) / IP(src=SERVER, dst=CLIENT, proto=102) / b"pong"]
    assert check(run, raw, {"request_reply": {"request": {"from": "client", "ip": {"proto": 102}}}}).passed


def test_no_request_at_all(run):
    r = check(run, [s2c() / UDP()], UDP_RR)
    assert r.message == "no request: no packet from client at all on server:eth0"


# --- only ----------------------------------------------------------------------------------------

ONLY = {"only": {"node": "client", "allow": ["arp", "nd", "mld", {"to": "server", "udp": {"dport": 12345}}]}}


def client_traffic(extra=()):
    return [
        Ether(src=CLIENT_MAC, dst="ff:ff:ff:ff:ff:ff") / ARP(psrc=CLIENT, pdst=SERVER, hwsrc=CLIENT_MAC),
        Ether(src=CLIENT_MAC, dst="33:33:00:00:00:16") / IPv6(src="fe80::12", dst="ff02::16") / ICMPv6MLReport2(),
        Ether(src=CLIENT_MAC, dst="33:33:ff:00:00:11") / IPv6(src=CLIENT6, dst="ff02::1:ff00:11") / ICMPv6ND_NS(tgt=SERVER6),
        c2s() / UDP(sport=40000, dport=12345) / b"Hello World from client",
        s2c() / UDP(sport=12345, dport=40000) / b"answers are not from the client",
        *extra,
    ]


def test_only_allowed_traffic(run):
    r = check(run, client_traffic(), ONLY, capture="client:eth0")
    assert r.passed and r.message == "all 4 packets from client on client:eth0 are allowed"


def test_only_reports_what_leaked_and_the_closest_rule(run):
    leak = c2s() / UDP(sport=40000, dport=53) / b"dns?"
    r = check(run, client_traffic([leak]), ONLY, capture="client:eth0")
    assert not r.passed
    assert r.message.startswith("1 packet from client not allowed on client:eth0, first client-eth0.pcap #6: UDP 192.168.11.12:40000 > 192.168.11.11:53")
    assert r.message.endswith("UDP destination port 53, expected 12345")
    assert r.diff.startswith("first packet not allowed: client-eth0.pcap #6")


def test_only_uses_the_nodes_captures_by_default(run):
    run.capture("server:eth0", [c2s() / TCP(dport=1)])  # not on client's capture: not judged
    r = check(run, client_traffic(), ONLY, capture="client:eth0")
    assert r.passed and "on client:eth0" in r.message


def test_only_with_nothing_allowed(run):
    r = check(run, client_traffic(), {"only": {"node": "client"}}, capture="client:eth0")
    assert not r.passed and r.message.startswith("4 packets from client not allowed")


# --- sequence ------------------------------------------------------------------------------------

SEQ = {"sequence": [{"from": "client", "payload": "Hello World from client"}, {"from": "server", "payload": "Hello World from server"}]}


def test_sequence_in_order(run):
    r = check(run, conversation(), SEQ)
    assert r.passed and r.message == "all 2 packets seen in order: server-eth0.pcap #4, server-eth0.pcap #5"


def test_sequence_wrong_order(run):
    pk = conversation()
    pk[3], pk[4] = pk[4], pk[3]
    r = check(run, pk, SEQ)
    assert r.message.startswith("packet 2 of 2 (from server, payload containing 'Hello World from server') seen only before packet 1 "
                                "(server-eth0.pcap #5): at server-eth0.pcap #4; the order is wrong")


def test_sequence_second_missing(run):
    pk = conversation()
    pk[4] = s2c() / TCP(sport=12345, dport=40000, flags="PA") / b"Hello World from servr"
    r = check(run, pk, SEQ)
    assert "packet 2 of 2 (from server, payload containing 'Hello World from server') not seen after packet 1 (server-eth0.pcap #4); nearest is server-eth0.pcap #5" in r.message
    assert "does not contain 'Hello World from server'" in r.message
    assert len(r.evidence) == 1


def test_sequence_first_missing(run):
    r = check(run, [s2c() / UDP()], SEQ)
    assert r.message.startswith("packet 1 of 2 (from client, payload containing 'Hello World from client') never seen: no packet from client at all")


def test_sequence_across_captures(run):
    run.capture("client:eth0", [c2s() / UDP(dport=1) / b"one"], start=T0)
    run.capture("server:eth0", [s2c() / UDP(dport=2) / b"two"], start=T0 + 1)
    e = {"sequence": [{"capture": "client:eth0", "payload": "one"}, {"capture": "server:eth0", "payload": "two"}]}
    assert run.check_one(e).passed
    e = {"sequence": [{"payload": "two"}, {"payload": "one"}]}
    assert "the order is wrong" in run.check_one(e).message


# --- output --------------------------------------------------------------------------------------


def test_output_by_node_and_step(run):
    run.step("server", "server", stdout="b'Hello World from client'\n")
    run.step("client", "client", stdout="Hello World from server\n")
    assert run.check_one({"output": {"node": "server", "stdout": {"contains": "Hello World from client"}, "exit_code": 0}}).passed
    r = run.check_one({"output": {"step": "client", "stdout": "Hello World from client"}})
    assert not r.passed
    assert r.message == "step 'client': stdout does not contain 'Hello World from client'; stdout was 'Hello World from server\\n'"
    assert "    | Hello World from server" in r.diff


@pytest.mark.parametrize(
    ("step", "check", "words"),
    [
        ({"exit_code": 1}, {"exit_code": 0}, "exit code 1, expected 0"),
        ({"exit_code": None}, {"exit_code": 0}, "was still running when the run ended (no exit code), expected exit code 0"),
        ({"timed_out": True, "exit_code": None, "ended": T0 + 5}, {"timed_out": False}, "timed out (killed after 5.0s)"),
        ({"stdout": "hello world from client"}, {"stdout": "Hello World"}, "does not contain 'Hello World' (it does if case is ignored)"),
        ({"stdout": "Hello  World"}, {"stdout": "Hello World"}, "(it does if spacing is ignored)"),
        ({"stdout": "done\n"}, {"stdout": {"equals": "Done"}}, "stdout is 'done\\n', expected exactly 'Done'"),
        ({"stdout": "error: x"}, {"stdout": {"not_contains": "error"}}, "stdout contains 'error', it should not"),
        ({"stdout": "got 3 bytes"}, {"stdout": {"regex": r"got \d{2} bytes"}}, r"stdout does not match /got \d{2} bytes/"),
        ({"stderr": "Traceback"}, {"stderr": {"empty": True}}, "stderr should be empty but is 'Traceback'"),
        ({"stdout": ""}, {"stdout": {"empty": False}}, "stdout is empty"),
    ],
)
def test_output_failures(run, step, check, words):
    run.step("s", "client", **step)
    r = run.check_one({"output": {"step": "s", **check}})
    assert not r.passed and words in r.message, r.message


def test_output_equals_ignores_trailing_newline(run):
    run.step("s", "client", stdout="Done\n")
    assert run.check_one({"output": {"step": "s", "stdout": {"equals": "Done"}}}).passed


def test_output_any_step_of_the_node(run):
    run.step("a", "server", exit_code=1)
    run.step("b", "server", exit_code=0)
    assert run.check_one({"output": {"node": "server", "exit_code": 0}}).passed


def test_output_errors(run):
    run.step("a", "server")
    assert "no step 'zz' in this run (steps: a)" in run.check_one({"output": {"step": "zz", "exit_code": 0}}).error
    assert "no step ran on node 'client'" in run.check_one({"output": {"node": "client", "exit_code": 0}}).error
    assert "unknown node 'nobody'" in run.check_one({"output": {"node": "nobody", "exit_code": 0}}).error
