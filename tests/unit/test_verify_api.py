"""The public face of socklab.verify: what the runner and grader call, and how results look."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from pydantic import TypeAdapter
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Ether

import socklab.verify.engine as engine
from socklab.verify import Expectation, ExpectationResult, Expectations, VerifyContext, verify
from socklab.verify.pcap import write_pcap
from socklab.verify.testing import CLIENT, CLIENT_MAC, SERVER, SERVER_MAC, T0, chapter_run


@pytest.fixture
def run(tmp_path):
    r = chapter_run(tmp_path)
    r.capture("server:eth0", [Ether(src=CLIENT_MAC, dst=SERVER_MAC) / IP(src=CLIENT, dst=SERVER) / UDP(sport=1, dport=12345) / b"Hello"])
    r.step("server", "server", stdout="Hello\n")
    return r


EXPECT = [
    {"id": "hello", "title": "hello sent", "points": 2.5, "packet": {"from": "client", "udp": {"dport": 12345}}},
    {"id": "wrong", "title": "to 12346", "points": 2, "packet": {"udp": {"dport": 12346}}},
    {"id": "printed", "title": "printed", "output": {"node": "server", "stdout": "Hello"}},
    {"id": "broken", "title": "unknown capture", "packet": {"capture": "nowhere:eth0"}},
]


def test_importing_the_package_is_light():
    code = ("import sys, socklab.verify as v; v.verify; "
            "print(sorted(m for m in sys.modules if m.startswith('scapy') or m in ('socklab.verify.engine', 'socklab.verify.match')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_verify_returns_one_result_per_expectation_in_order(run):
    results = verify(TypeAdapter(Expectations).validate_python(EXPECT), run.context())
    assert [r.id for r in results] == ["hello", "wrong", "printed", "broken"]
    assert all(isinstance(r, ExpectationResult) for r in results)
    hello, wrong, printed, broken = results
    assert (hello.passed, hello.points, hello.score) == (True, 2.5, 2.5)
    assert (wrong.passed, wrong.points, wrong.score) == (False, 2, 0)
    assert printed.passed and printed.title == "printed"
    assert broken.error and not broken.passed and broken.score == 0


def test_results_are_json_ready(run):
    results = run.check(EXPECT)
    for r in results:
        d = r.to_dict()
        assert list(d) == ["id", "title", "points", "passed", "score", "message", "evidence", "diff", "error", "skipped"]
        assert json.loads(json.dumps(d)) == d
        assert "\n" not in d["message"]
        assert all(isinstance(x, str) and "\n" not in x for x in d["evidence"])
    assert results[1].diff and results[0].diff is None


def test_expectation_type_is_the_list_item(run):
    e = Expectation.model_validate({"id": "a", "title": "b", "packet": {"udp": {}}})
    (r,) = verify([e], run.context())
    assert r.passed


def test_each_capture_is_read_once(run, monkeypatch):
    calls = []
    real = engine.read_records

    def counting(path):
        calls.append(path)
        return real(path)

    monkeypatch.setattr(engine, "read_records", counting)
    run.check([{"id": f"e{i}", "title": "t", "packet": {"udp": {"dport": 12345 + i}}} for i in range(5)])
    assert len(calls) == 1


def test_a_bug_in_a_check_becomes_an_error_result(run, monkeypatch):
    from socklab.verify import engine

    def boom(engine, e):
        raise ZeroDivisionError("oops")

    monkeypatch.setitem(engine._CHECKS, "packet", boom)
    (r,) = run.check([EXPECT[0]])
    assert not r.passed and r.error == "internal error while checking: ZeroDivisionError: oops"


def test_context_is_plain_data(run):
    ctx = run.context()
    assert isinstance(ctx, VerifyContext) and ctx.captures["server:eth0"].exists()
    assert ctx.nodes["client"].interfaces["eth0"].ipv4 == (CLIENT,)


def test_speed_on_a_large_capture(tmp_path):
    """20k packets, a handful of checks: well under a second on the bench machine; 4 s is the alarm."""
    r = chapter_run(tmp_path)
    base = bytearray(bytes(Ether(src=CLIENT_MAC, dst=SERVER_MAC) / IP(src=CLIENT, dst=SERVER) / TCP(sport=1, dport=5001, flags="A") / (b"x" * 100)))
    frames = []
    for i in range(20_000):
        base[34:36] = (1024 + i).to_bytes(2, "big")
        frames.append((T0 + i * 1e-4, bytes(base)))
    frames.append((T0 + 3, bytes(Ether(src=CLIENT_MAC, dst=SERVER_MAC) / IP(src=CLIENT, dst=SERVER) / UDP(dport=12345) / b"Hello")))
    write_pcap(tmp_path / "big.pcap", frames)
    r.captures["server:eth0"] = tmp_path / "big.pcap"
    t = time.perf_counter()
    results = r.check([
        {"id": "a", "title": "t", "packet": {"from": "client", "udp": {"dport": 12345}, "payload": "Hello", "checksums": "valid"}},
        {"id": "b", "title": "t", "packet": {"from": "client", "udp": {"dport": 12346}}},
        {"id": "c", "title": "t", "tcp_handshake": {"client": "client", "server": "server:5001"}},
        {"id": "d", "title": "t", "only": {"node": "client", "allow": [{"tcp": {}}]}},
        {"id": "e", "title": "t", "packet": {"tcp": {"dport": 5001}}, "count": {"at_least": 20000}},
    ])
    elapsed = time.perf_counter() - t
    assert [x.passed for x in results] == [True, False, False, False, True]
    assert elapsed < 4, elapsed
