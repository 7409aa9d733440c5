"""needs: prerequisites skip dependent checks (worth 0, no diff); bad ids and cycles are one-line load errors."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether

from socklab.errors import LabFileError
from socklab.model.loader import parse_lab
from socklab.verify.testing import CLIENT, CLIENT_MAC, SERVER, SERVER_MAC, chapter_run

HANDSHAKE = {"id": "handshake", "title": "h", "tcp_handshake": {"client": "client", "server": "server:12345"}}
HELLO = {"id": "hello", "title": "hello", "needs": ["handshake"],
         "stream": {"from": "client", "to": "server:12345", "contains": "Hello"}}
CLOSE = {"id": "close", "title": "close", "needs": "hello", "tcp_close": {"between": ["client", "server:12345"]}}


def refused():
    return [Ether(src=CLIENT_MAC, dst=SERVER_MAC) / IP(src=CLIENT, dst=SERVER) / TCP(sport=40000, dport=12345, flags="S"),
            Ether(src=SERVER_MAC, dst=CLIENT_MAC) / IP(src=SERVER, dst=CLIENT) / TCP(sport=12345, dport=40000, flags="RA", ack=1)]


def test_a_failed_prerequisite_skips_its_dependents(tmp_path):
    run = chapter_run(tmp_path)
    run.capture("server:eth0", refused())
    close, hello, hs = run.check(CLOSE, HELLO, HANDSHAKE)  # order in the file does not matter
    assert not hs.passed and not hs.skipped
    assert hello.skipped and hello.score == 0 and hello.diff is None and hello.evidence == []
    assert hello.message == "skipped: needs handshake, which failed"
    assert close.message == "skipped: needs hello, which was skipped"
    assert hello.error is None


def test_passing_prerequisites_let_the_check_run(tmp_path):
    run = chapter_run(tmp_path)
    run.capture("server:eth0", refused())
    ok = {"id": "syn", "title": "s", "packet": {"from": "client", "tcp": {"flags": "S"}}}
    r = run.check(ok, {"id": "x", "title": "x", "needs": ["syn"], "packet": {"from": "client", "tcp": {"flags": "A"}}})
    assert r[0].passed and not r[1].skipped and not r[1].passed and r[1].diff


def test_several_failed_prerequisites_are_named(tmp_path):
    run = chapter_run(tmp_path)
    run.capture("server:eth0", refused())
    a = {"id": "a", "title": "a", "packet": {"udp": {}}}
    b = {"id": "b", "title": "b", "packet": {"icmp": {}}}
    r = run.check(a, b, {"id": "c", "title": "c", "needs": ["a", "b"], "packet": {"tcp": {}}})
    assert r[2].message == "skipped: needs a and b, which failed"


LAB = """\
name: t
nodes:
  a: {{ip: 10.0.0.1/24}}
  b: {{ip: 10.0.0.2/24}}
links:
  - [a:eth0, b:eth0]
capture: [a:eth0]
expect:
  - id: x
    title: x
    needs: [y]
    packet: {{from: a}}
  - id: y
    title: y
    needs: {needs}
    packet: {{from: a}}
"""


@pytest.mark.parametrize("needs, message", [
    ("[nope]", "lab.yaml:15: expect[1].needs[0]: y needs unknown expectation 'nope' (expectations: x, y)"),
    ("[x]", "lab.yaml:15: expect[1].needs[0]: needs form a cycle: x -> y -> x"),
    ("y", "lab.yaml:15: expect[1].needs[0]: y needs itself"),
])
def test_unknown_ids_and_cycles_are_one_line_errors(needs, message):
    with pytest.raises(LabFileError) as info:
        parse_lab(textwrap.dedent(LAB.format(needs=needs)), Path("lab.yaml"))
    assert str(info.value) == message
    assert "\n" not in str(info.value)


def test_verify_leaves_no_cycle_holding_the_frames(tmp_path):
    """Without garbage collection, the engine (and every frame it read) is freed when verify() returns."""
    import gc

    from socklab.verify.engine import Engine

    run = chapter_run(tmp_path)
    run.capture("server:eth0", refused())
    gc.collect()
    gc.disable()
    try:
        run.check(HANDSHAKE, HELLO, CLOSE)
        assert not [o for o in gc.get_objects() if isinstance(o, Engine)]
    finally:
        gc.enable()
