"""Deliberately broken programs fail exactly the expectations a teacher would expect, saying why.

Each fixture under tests/fixtures/broken/<lab>/<case>/ replaces files of the lab's
reference solution; the rest of the solution stays.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from socklab.model.loader import load_lab
from socklab.run import run_lab
from tests.conftest import LABS, needs_root

pytestmark = [needs_root]
BROKEN = Path(__file__).resolve().parents[1] / "fixtures" / "broken"

CASES = {
    # lab, case: {expectation id that fails: words its message must contain}
    ("tcp-hello", "wrong-port"): {
        "handshake": "SYNs seen: to port 12346", "hello": "skipped: needs handshake, which failed",
        "answer": "", "close": "skipped: needs handshake, which failed",
        "server-prints": "still running", "client-prints": "exit code 1",
    },
    ("tcp-hello", "wrong-payload"): {"hello": "stream 'Hello World from klient' (23 bytes) does not contain", "server-prints": "klient"},
    ("tcp-hello", "mute-server"): {"answer": "Hello World from server", "client-prints": "server said"},
    ("raw-ip", "wrong-protocol"): {
        "protocol-102": "IP protocol 103, expected 102", "payload": "IP protocol 103", "server-prints": "",
    },
    ("af-packet", "bad-udp-checksum"): {"checksums": "UDP checksum 0x1234, correct would be 0x0dc5", "received": ""},
    ("af-packet", "bad-ip-checksum"): {"checksums": "IPv4 header checksum 0xbeef, correct would be 0x911e", "received": ""},
    ("udp-hello", "silent-client"): {"datagram": "no packet to server at all", "server-prints": ""},
}


@pytest.mark.parametrize(("lab", "case"), sorted(CASES))
def test_broken_program_fails_the_expected_checks(lab, case, tmp_path):
    submission = tmp_path / "submission"
    shutil.copytree(LABS / lab / "solution", submission)
    shutil.copytree(BROKEN / lab / case, submission, dirs_exist_ok=True)
    result = run_lab(load_lab(lab), name=f"t-broken-{lab}"[:24], runs_dir=tmp_path, submission=submission)
    failed = {e.id: e for e in result.expectations if not e.passed}
    expected = CASES[(lab, case)]
    assert set(failed) == set(expected), {i: e.message for i, e in failed.items()}
    for expectation_id, words in expected.items():
        assert words in failed[expectation_id].message, failed[expectation_id].message
        assert failed[expectation_id].error is None  # the student's fault, not the infrastructure's
    assert not result.ok
