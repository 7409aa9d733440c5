"""A lab's regexes run on what programs produced: no printed line or packet can hold a grading."""

from __future__ import annotations

import time

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from socklab import regexes
from socklab.errors import LabFileError
from socklab.model.loader import parse_lab
from socklab.steps import OutputWatch
from socklab.verify.testing import CLIENT, CLIENT_MAC, SERVER, SERVER_MAC, chapter_run

EVIL = "a" * 5000


def test_patterns_re_takes_minutes_on_are_answered_at_once(tmp_path):
    """`^(\\w+\\s?)*$` against 30 letters and a "!" takes `re` over a minute."""
    run = chapter_run(tmp_path)
    run.step("server", "server", stdout="a" * 30 + "!")  # one line, no newline: no empty last line to match
    started = time.monotonic()
    (r,) = run.check([{"id": "o", "title": "t", "output": {"step": "server", "stdout": {"regex": r"^(\w+\s?)*$"}}}])
    assert time.monotonic() - started < 5
    assert not r.passed and r.error is None and "does not match" in r.message


def test_a_search_past_its_time_is_an_error_of_that_check_only(tmp_path, monkeypatch):
    monkeypatch.setattr(regexes, "SEARCH_TIMEOUT", 0.2)
    run = chapter_run(tmp_path)
    run.step("server", "server", stdout=EVIL + "\n")
    run.capture("server:eth0", [Ether(src=CLIENT_MAC, dst=SERVER_MAC) / IP(src=CLIENT, dst=SERVER)
                                / UDP(sport=1, dport=9) / EVIL.encode()])
    started = time.monotonic()
    out, pkt, ok = run.check([
        {"id": "out", "title": "t", "output": {"step": "server", "stdout": {"regex": r"(\w*)*\d"}}},
        {"id": "pkt", "title": "t", "packet": {"udp": {"dport": 9}, "payload": {"regex": "((a+)+)+b"}}},
        {"id": "ok", "title": "t", "output": {"step": "server", "stdout": "aaa"}},
    ])
    assert time.monotonic() - started < 10
    for r in (out, pkt):
        assert not r.passed and r.score == 0 and "catastrophic backtracking" in (r.error or ""), r.to_dict()
    assert ok.passed


def test_readiness_by_output_gives_up_on_a_pattern_that_runs_out_of_time(tmp_path, monkeypatch):
    monkeypatch.setattr(regexes, "SEARCH_TIMEOUT", 0.2)
    out = tmp_path / "out"
    out.write_text(EVIL)
    watch = OutputWatch(r"(\w*)*\d", (str(out),))
    with pytest.raises(regexes.RegexTimeout):
        watch()


def test_lab_file_regexes_are_checked_by_the_engine_that_runs_them():
    base = "name: t\nnodes:\n  a: {}\n  b: {}\nlinks: [[a, b]]\nscenario:\n  - {node: a, run: 'true'}\nexpect:\n"
    with pytest.raises(LabFileError, match="not a valid regular expression"):
        parse_lab(base + "  - {id: x, title: t, output: {step: step1, stdout: {regex: '(unclosed'}}}\n")
    with pytest.raises(LabFileError, match="not a valid regular expression"):
        parse_lab(base + "  - {id: x, title: t, packet: {payload: {regex: '[z-a]'}}}\n")
    assert parse_lab(base + r"  - {id: x, title: t, output: {step: step1, stdout: {regex: '^\p{L}+$'}}}" + "\n")


def test_the_searches_of_one_check_share_its_budget():
    """A capture of many packets, each searched just under the per-search limit, still ends."""
    slow = regexes.compile_bytes("((a+)+)+b")
    with regexes.budget(0.3):
        started = time.monotonic()
        with pytest.raises(regexes.RegexTimeout, match="the check's 0.3s"):
            for _ in range(100):
                regexes.found(slow, EVIL.encode())
        assert time.monotonic() - started < 2
        with pytest.raises(regexes.RegexTimeout):  # spent: no further search starts
            regexes.found(regexes.compile_bytes("x"), b"x")
    assert regexes.found(regexes.compile_bytes("x"), b"x")  # outside any budget again
