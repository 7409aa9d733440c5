"""Stream and retransmission checks on real kernels' TCP: a segment dropped once is resent."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from socklab.model.loader import load_lab
from socklab.run import run_lab
from tests.conftest import needs_root

pytestmark = [needs_root, pytest.mark.skipif(shutil.which("iptables") is None, reason="needs iptables")]

LAB = """\
name: t-resend
nodes:
  a: {ip: 10.1.0.1/24}
  b: {ip: 10.1.0.2/24}
links: [[a, b]]
capture: [b:eth0]
scenario:
  # the first data segment is captured on b:eth0, then dropped by b's netfilter: the client resends it
  - {id: drop-once, node: b, run: "iptables -A INPUT -p tcp --dport 12345 --tcp-flags PSH PSH -m quota --quota 100 -j DROP"}
  - {id: server, node: b, run: python3 server.py, background: true, ready: {tcp_listen: 12345}}
  - {id: client, node: a, run: python3 client.py, timeout: 10s}
  - {id: wait, node: b, run: sleep 0.2}
expect:
  - id: handshake
    title: connected
    tcp_handshake: {client: a, server: "b:12345"}
  - id: stream
    title: the message arrives whole
    needs: [handshake]
    stream: {from: a, to: "b:12345", equals: "first part, second part"}
  - id: resent
    title: one segment was resent
    needs: [handshake]
    retransmissions: {from: a, to: "b:12345"}
    count: 1
  - id: answer-not-resent
    title: the answer was not
    retransmissions: {from: "b:12345", to: a}
    none: true
"""

SERVER = """\
import socket
s = socket.create_server(("10.1.0.2", 12345))
c, _ = s.accept()
data = b""
while chunk := c.recv(100):
    data += chunk
print(data.decode())
"""

CLIENT = """\
import socket, time
c = socket.create_connection(("10.1.0.2", 12345))
c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
c.sendall(b"first part,")
time.sleep(0.5)  # past the first retransmission timeout: the resend goes before the second write
c.sendall(b" second part")
c.close()
"""


def test_a_dropped_segment_is_resent_and_the_stream_is_whole(tmp_path: Path):
    folder = tmp_path / "lab"
    folder.mkdir()
    (folder / "lab.yaml").write_text(LAB)
    (folder / "server.py").write_text(textwrap.dedent(SERVER))
    (folder / "client.py").write_text(textwrap.dedent(CLIENT))
    result = run_lab(load_lab(folder), name="t-resend", runs_dir=tmp_path / "runs")
    by_id = {e.id: e for e in result.expectations}
    steps = {s.id: s for s in result.steps}
    assert steps["drop-once"].ok, steps["drop-once"].problem
    assert all(e.passed for e in result.expectations), {e.id: e.message for e in result.expectations if not e.passed}
    assert "(resent)" in by_id["resent"].evidence[0]
    assert "in 3 segments" in by_id["stream"].message  # original, resend, second write
