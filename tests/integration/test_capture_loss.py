"""Capture loss is never the student's fault: real drops make capture checks "not graded".

The drops are real: a 4 KiB kernel ring (`buffer:` on the capture point, one frame's room)
overflows under a flood of 5000 datagrams sent as fast as one process can.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from socklab.grade.score import grade_run
from socklab.model.loader import load_lab
from socklab.run import reverify
from tests.conftest import LABS, needs_root

pytestmark = [needs_root]

LAB = """
name: lossy
nodes:
  a: {ip: 10.1.0.1/24}
  b: {ip: 10.1.0.2/24}
links: [[a, b]]
capture:
  - {on: b:eth0, buffer: 4k}
scenario:
  - {id: flood, node: b, run: python3 flood.py, timeout: 20s}
  - {id: client, node: a, run: python3 client.py, timeout: 5s}
expect:
  - id: datagrams
    title: b sends datagrams to a
    packet: {from: b, to: "a:9", udp: {}}
  - id: printed
    title: the client prints hello
    output: {step: client, stdout: {contains: hello}}
grading:
  files: {client.py: {steps: [client], checks: [printed]}}
"""

FLOOD = """
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(5000):
    s.sendto(b"x" * 1000, ("10.1.0.1", 9))
print("sent")
"""


def test_dropped_packets_make_capture_checks_not_graded_in_run_verify_and_grade(tmp_path):
    folder = tmp_path / "lossy"
    folder.mkdir()
    (folder / "lab.yaml").write_text(textwrap.dedent(LAB))
    (folder / "flood.py").write_text(textwrap.dedent(FLOOD))
    (folder / "solution").mkdir()
    (folder / "solution" / "client.py").write_text("print('hello')\n")
    env = {**os.environ, "PYTHONPATH": str(LABS.parent / "src")}
    cli = [sys.executable, "-m", "socklab.cli"]
    r = subprocess.run([*cli, "run", str(folder), "--json", "--runs-dir", str(tmp_path / "runs")],
                       env=env, capture_output=True, text=True)
    assert r.returncode == 2, (r.returncode, r.stdout[-2000:], r.stderr[-2000:])
    result = json.loads(r.stdout)
    dropped = result["captures"]["b:eth0"]["dropped"]
    assert dropped and dropped > 0
    checks = {e["id"]: e for e in result["expectations"]}
    assert checks["datagrams"]["error"] == f"not graded: capture incomplete ({dropped} packets dropped on b:eth0)"
    assert checks["printed"]["passed"] and checks["printed"]["error"] is None  # outputs are still judged
    # the saved run says the same, from results.json alone
    r = subprocess.run([*cli, "verify", result["folder"]], env=env, capture_output=True, text=True)
    assert r.returncode == 2, (r.stdout[-2000:], r.stderr[-2000:])
    assert "capture incomplete" in r.stdout
    # a grade of that run is not gradable, for the infrastructure's reason, never a 0
    lab = load_lab(folder)
    assert lab.grading is not None
    grade = grade_run(lab, lab.grading, reverify(Path(result["folder"])), "alice", [])
    assert not grade.gradable and grade.failure == "infrastructure"
    assert grade.error == f"infrastructure: not graded: capture incomplete ({dropped} packets dropped on b:eth0)"
    datagrams = next(t for t in grade.tests if t.id == "datagrams")
    assert datagrams.feedback.startswith("not graded: capture incomplete") and datagrams.score == 0
    assert next(t for t in grade.tests if t.id == "printed").passed
