"""`socklab run`: scenarios in real labs — readiness, timeouts, kills, run folders, captures."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from socklab import state
from socklab.model.loader import load_lab, parse_lab
from socklab.run import run_lab
from tests.conftest import LABS, needs_root

pytestmark = [needs_root]


def write_lab(folder: Path, text: str, files: dict[str, str] | None = None):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "lab.yaml").write_text(textwrap.dedent(text))
    for name, body in (files or {}).items():
        (folder / name).write_text(textwrap.dedent(body))
    return load_lab(folder)


PAIR = textwrap.dedent("""
    name: {name}
    nodes:
      a: {{ip: 10.1.0.1/24}}
      b: {{ip: 10.1.0.2/24}}
    links: [[a, b]]
    capture: [a:eth0]
""")


def test_tcp_hello_runs_green_and_keeps_a_complete_run_folder(tmp_path):
    result = run_lab(load_lab(LABS / "tcp-hello"), name="t-run-hello", runs_dir=tmp_path)
    assert result.ok, result.to_dict()
    folder = result.folder
    for name in ("plan.json", "manifest.json", "results.json", "lab.yaml", "steps/server.stdout", "steps/client.stdout"):
        assert (folder / name).is_file(), name
    assert "Hello World from client" in (folder / "steps/server.stdout").read_text()
    assert "Hello World from server" in (folder / "steps/client.stdout").read_text()
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["backend"] == "netns" and len(manifest["lab_sha256"]) == 64
    saved = json.loads((folder / "results.json").read_text())
    assert saved["ok"] is True and [s["id"] for s in saved["steps"]] == ["server", "client"]
    # the capture holds the first packet: the SYN to the server's port
    dump = subprocess.run(["tcpdump", "-nr", str(folder / "pcap/server-eth0.pcap"), "tcp[tcpflags] & tcp-syn != 0"],
                          capture_output=True, text=True).stdout
    assert "192.168.11.11.12345: Flags [S]" in dump


def test_hanging_step_is_killed_at_its_timeout_and_reported(tmp_path):
    lab = write_lab(tmp_path / "lab", PAIR.format(name="hang") + textwrap.dedent("""
        scenario:
          - {id: server, node: b, run: "sleep 300.4817", background: true, exit_code: null}
          - {id: stuck, node: a, run: "sleep 300.4817", timeout: 300ms}
          - {id: after, node: a, run: "echo still running steps"}
    """))
    result = run_lab(lab, name="t-run-hang", runs_dir=tmp_path / "runs")
    stuck = result.steps[1]
    assert stuck.timed_out and not stuck.ok and "timed out after 0.3s" in stuck.problem
    assert result.steps[2].ok and "still running steps" in result.steps[2].stdout_tail
    assert result.steps[0].killed and result.steps[0].ok  # a server with exit_code: null may be killed
    assert not result.ok
    leftover = subprocess.run(["pgrep", "-f", "sleep 300[.]4817$"], capture_output=True, text=True).stdout
    assert leftover == ""


def test_readiness_by_output_udp_port_and_file(tmp_path):
    lab = write_lab(tmp_path / "lab", PAIR.format(name="ready") + textwrap.dedent("""
        scenario:
          - node: b
            run: "sleep 0.2; echo server up; sleep 5"
            background: true
            exit_code: null
            ready: {output: "^server up$"}
          - node: b
            run: ["python3", "-c", "import socket,time; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); time.sleep(0.2); s.bind(('0.0.0.0', 5353)); time.sleep(5)"]
            background: true
            exit_code: null
            ready: {udp_bound: 5353}
          - {node: a, run: "sleep 0.2; touch flag; sleep 5", background: true, exit_code: null, ready: {file: flag}}
          - {node: a, run: "test -e flag"}
    """))
    result = run_lab(lab, name="t-run-ready", runs_dir=tmp_path / "runs")
    assert [s.ready for s in result.steps[:3]] == [True, True, True], result.to_dict()
    assert result.ok


def test_background_step_that_dies_or_never_gets_ready_is_reported(tmp_path):
    lab = write_lab(tmp_path / "lab", PAIR.format(name="notready") + textwrap.dedent("""
        scenario:
          - {node: b, run: "exit 3", background: true, ready: {tcp_listen: 12345}}
          - {node: a, run: "sleep 5", background: true, exit_code: null, ready: {tcp_listen: 80, timeout: 200ms}}
          - {node: a, run: "exit 4"}
    """))
    result = run_lab(lab, name="t-run-notready", runs_dir=tmp_path / "runs")
    assert "exited with 3 before it was ready" in result.steps[0].problem
    assert "not ready after 0.2s (no TCP listener on port 80)" in result.steps[1].problem
    assert result.steps[2].problem == "exit code 4, expected 0"


def test_cli_run_exit_codes_and_json(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(LABS.parent / "src"), "SOCKLAB_RUNS_DIR": str(tmp_path)}
    cli = [sys.executable, "-m", "socklab.cli"]
    ok = subprocess.run([*cli, "run", "tcp-hello", "--name", "t-run-cli", "--json"], env=env, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["ok"] is True
    write_lab(tmp_path / "failing", PAIR.format(name="failing") + "scenario:\n  - {node: a, run: 'exit 1'}\n")
    bad = subprocess.run([*cli, "run", str(tmp_path / "failing"), "--name", "t-run-fail"], env=env, capture_output=True, text=True)
    assert bad.returncode == 1 and "exit code 1, expected 0" in bad.stdout
    missing = subprocess.run([*cli, "run", str(tmp_path / "nope")], env=env, capture_output=True, text=True)
    assert missing.returncode == 2 and "no such lab" in missing.stderr
    no_sub = subprocess.run([*cli, "run", "tcp-hello", "-s", str(tmp_path / "nobody")], env=env,
                            capture_output=True, text=True)
    assert no_sub.returncode == 2 and "not a folder" in no_sub.stderr and "Traceback" not in no_sub.stderr


def test_inline_lab_without_folder_runs(tmp_path):
    lab = parse_lab(PAIR.format(name="inline") + "scenario:\n  - {node: a, run: 'ping -c1 -W1 b'}\n")
    result = run_lab(lab, name="t-run-inline", runs_dir=tmp_path)
    assert result.ok, result.steps[0].stderr_tail


def test_live_capture_streams_pcap_to_stdout(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(LABS.parent / "src")}
    cli = [sys.executable, "-m", "socklab.cli"]
    subprocess.run([*cli, "up", "tcp-hello", "--name", "t-live"], env=env, check=True, capture_output=True)
    try:
        out = tmp_path / "live.pcap"
        with open(out, "wb") as sink:
            cap = subprocess.Popen([*cli, "capture", "t-live", "server", "-w", "-", "-c", "2", "-f", "icmp"],
                                   env=env, stdout=sink, stderr=subprocess.PIPE)
            deadline = time.monotonic() + 10
            while cap.poll() is None and time.monotonic() < deadline:
                subprocess.run([*cli, "exec", "t-live", "client", "--", "ping", "-c1", "-W1", "server"], env=env,
                               capture_output=True)
            assert cap.wait(timeout=10) == 0, cap.stderr.read()
        dump = subprocess.run(["tcpdump", "-nr", str(out)], capture_output=True, text=True).stdout
        assert "ICMP echo request" in dump and "ICMP echo reply" in dump
        bad = subprocess.run([*cli, "capture", "t-live", "server:eth9"], env=env, capture_output=True, text=True)
        assert bad.returncode == 2 and "has no interface 'eth9'" in bad.stderr
    finally:
        subprocess.run([*cli, "down", "t-live"], env=env, capture_output=True)


def test_a_killed_run_leaves_nothing_gc_cannot_remove(tmp_path):
    """SIGTERM: the run brings its lab down itself. SIGKILL: its lab dies with it for gc."""
    env = {**os.environ, "PYTHONPATH": str(LABS.parent / "src")}
    cli = [sys.executable, "-m", "socklab.cli"]
    write_lab(tmp_path / "slow", PAIR.format(name="slow") + "scenario:\n  - {node: a, run: 'sleep 30', timeout: 60s}\n")
    for sig, name in ((signal.SIGTERM, "t-run-term"), (signal.SIGKILL, "t-run-kill")):
        proc = subprocess.Popen([*cli, "run", str(tmp_path / "slow"), "--name", name, "--runs-dir", str(tmp_path)],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and subprocess.run(["pgrep", "-f", "sleep 30$"], capture_output=True).returncode:
            time.sleep(0.02)
        proc.send_signal(sig)
        proc.wait(timeout=20)
        if sig == signal.SIGKILL:
            assert state.load(name) is not None  # nobody brought it down...
            gc = subprocess.run([*cli, "gc"], env=env, capture_output=True, text=True)
            assert f"removed instance {name}" in gc.stdout  # ...but its owner is dead: gc may
        assert state.load(name) is None
        assert subprocess.run(["pgrep", "-f", "sleep 30$"], capture_output=True).returncode == 1


def test_the_executable_runs_labs_without_typer_and_is_interrupted_cleanly(tmp_path):
    """`socklab run LAB...` (no option: the path without typer) keeps typer's codes, output and cleanup."""
    env = {**os.environ, "PYTHONPATH": str(LABS.parent / "src"), "SOCKLAB_RUNS_DIR": str(tmp_path / "runs")}
    exe = [sys.executable, "-c", "from socklab.entry import console; console()", "run"]
    write_lab(tmp_path / "fast-fail", PAIR.format(name="fast-fail") + "scenario:\n  - {node: a, run: 'exit 1'}\n")
    bad = subprocess.run([*exe, str(tmp_path / "fast-fail")], env=env, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1 and "exit code 1, expected 0" in bad.stdout and "FAIL fast-fail" in bad.stdout
    assert (next((tmp_path / "runs").glob("fast-fail-*")) / "report.html").is_file()
    write_lab(tmp_path / "fast-slow", PAIR.format(name="fast-slow") + "scenario:\n  - {node: a, run: 'sleep 30.4817'}\n")
    proc = subprocess.Popen([*exe, str(tmp_path / "fast-slow")], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and subprocess.run(["pgrep", "-f", "sleep 30[.]4817$"],
                                                         capture_output=True).returncode:
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 130 and "socklab: interrupted" in err
    assert state.load("fast-slow") is None
    assert subprocess.run(["pgrep", "-f", "sleep 30[.]4817$"], capture_output=True).returncode == 1


KEPT_RUN = """
import sys
from pathlib import Path
from socklab.model import labcache
labcache._DIR = Path(sys.argv[1])
from socklab import cli_render
from socklab.model.loader import load_lab
from socklab.run import run_lab
result = run_lab(load_lab("tcp-hello"), runs_dir=Path(sys.argv[2]), preload=("socklab.render",))
cli_render.run_result(result, False)
print("RESULT", result.ok, len(result.expectations), "pydantic" in sys.modules)
"""


def test_a_run_of_a_kept_lab_verifies_reports_and_prints_without_pydantic(tmp_path):
    """What keeps `socklab run` near 0.25 s: once the lab is kept, nothing on the run's path
    (verification, report.html, the printed tables included) imports pydantic."""
    env = {**os.environ, "PYTHONPATH": str(LABS.parent / "src")}
    env.pop("SOCKLAB_NO_LAB_CACHE", None)

    def run() -> str:
        out = subprocess.run([sys.executable, "-c", KEPT_RUN, str(tmp_path / "cache"), str(tmp_path / "runs")],
                             env=env, capture_output=True, text=True, timeout=60, check=True).stdout
        assert "handshake" in out and "client-prints" in out  # the printed expectations table
        return out.splitlines()[-1]

    assert run() == "RESULT True 6 True"  # validated: pydantic
    assert run() == "RESULT True 6 False"  # kept
    report = sorted((tmp_path / "runs").glob("tcp-hello-*"))[-1] / "report.html"
    assert "Hello World from server" in report.read_text()
