"""Impaired links on real namespaces: exact faults, seeded loss replayed, per direction,
run-time changes, and nothing left behind (relay namespace, relay process)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import socklab
from socklab import names, nsutil, state
from socklab.impair.lifecycle import change_link, read_events
from socklab.model.loader import load_lab, parse_lab
from socklab.run import run_lab
from tests.conftest import needs_root

pytestmark = [needs_root]

PAIR = """
name: {name}
seed: {seed}
nodes:
  server: {{ip: 10.9.0.1/24}}
  client: {{ip: 10.9.0.2/24}}
links:
  - endpoints: [server:eth0, client:eth0]
    impair: {impair}
faults: {faults}
"""

# numbered datagrams, 5 ms apart; the receiver prints each one it got
SEND = ("import socket, sys, time\n"
        "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
        "for i in range(1, int(sys.argv[1]) + 1):\n"
        "    s.sendto(b'm%d' % i, (sys.argv[2], 12345)); time.sleep(0.005)\n")
RECV = ("import socket, sys\n"
        "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('', 12345)); s.settimeout(float(sys.argv[1]))\n"
        "try:\n"
        "    while True: print(s.recv(100).decode(errors='replace'), flush=True)\n"
        "except TimeoutError: pass\n")


def pair(name: str, impair: str = "{}", faults: str = "[]", seed: int = 1):
    return parse_lab(PAIR.format(name=name, impair=impair, faults=faults, seed=seed))


def transfer(dep, count: int, src: str = "client", dst: str = "server", dst_ip: str = "10.9.0.1") -> list[str]:
    """Send `count` numbered datagrams from src to dst; what dst received, in order."""
    receiver = dep.popen(dst, [sys.executable, "-c", RECV, "0.6"], stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 5
    while not _bound(dep, dst) and time.monotonic() < deadline:
        time.sleep(0.01)
    dep.exec(src, [sys.executable, "-c", SEND, str(count), dst_ip], check=True)
    out, _ = receiver.communicate(timeout=10)
    return out.split()


def _bound(dep, node: str) -> bool:
    from socklab.sockdiag import port_bound

    return port_bound(dep.netns_path(node), "udp", 12345)


def test_exact_faults_hit_the_nth_matching_packet_and_only_it():
    faults = ('[{drop: {from: client, to: "server:12345", udp: {}}, nth: [2, 5]},'
              ' {duplicate: {from: client, udp: {}}, nth: 4},'
              ' {corrupt: {from: client, udp: {}}, nth: 7, offset: 28}]')
    with socklab.up(pair("imp-exact", faults=faults), name="imp-exact") as dep:
        since = time.time()
        got = transfer(dep, 10)
        events = [e for e in read_events("imp-exact", since) if "fault" in e]
    # 2 and 5 dropped, 4 twice, 7 corrupted (its checksum fails: the kernel drops it)
    assert got == ["m1", "m3", "m4", "m4", "m6", "m8", "m9", "m10"]
    assert [(e["fault"], e["action"], e["nth"]) for e in events] == [
        (0, "drop", 2), (1, "duplicate", 4), (0, "drop", 5), (2, "corrupt", 7)]
    assert all(e["link"] == 0 and e["from"] == "client:eth0" for e in events)
    assert "'m2'" in events[0]["summary"] and events[3]["offset"] == 28


def test_the_same_seed_loses_the_same_packets_and_another_seed_others():
    def run(seed: int) -> list[str]:
        with socklab.up(pair("imp-seed", impair="{client:eth0: {loss: 30%}}", seed=seed), name="imp-seed") as dep:
            return transfer(dep, 150)

    first, second, other = run(7), run(7), run(8)
    assert first == second
    assert 0.15 < 1 - len(first) / 150 < 0.45, f"lost {150 - len(first)} of 150 at 30%"
    assert other != first


def test_impairment_per_direction_and_run_time_changes():
    lab = pair("imp-dir", impair="{client:eth0: {delay: 80ms}, server:eth0: {}}")
    with socklab.up(lab, name="imp-dir") as dep:
        def rtt() -> float:
            out = dep.exec("client", ["ping", "-c", "3", "-i", "0.05", "-W", "1", "10.9.0.1"]).stdout
            times = [float(x.split("time=")[1].split()[0]) for x in out.splitlines() if "time=" in x]
            return min(times) if times else -1.0

        assert 79 < rtt() < 90  # one way delayed: the RTT holds 80 ms once
        # only client -> server is impaired: datagrams the other way arrive at once and all
        assert transfer(dep, 5, src="server", dst="client", dst_ip="10.9.0.2") == ["m1", "m2", "m3", "m4", "m5"]
        change_link("imp-dir", dep.plan, "server:eth0", "set", impair={"delay": 0.03}, egress=True)
        assert 109 < rtt() < 125
        change_link("imp-dir", dep.plan, "client:eth0", "down")
        assert rtt() == -1.0
        change_link("imp-dir", dep.plan, "client:eth0", "up")
        change_link("imp-dir", dep.plan, "client:eth0", "reset")
        assert 79 < rtt() < 90
        shown = change_link("imp-dir", dep.plan, "client:eth0", "show")["directions"]
        assert {d["from"] for d in shown} == {"client:eth0", "server:eth0"}
        changes = [e["change"] for e in read_events("imp-dir") if "change" in e]
        assert changes == ["set", "down", "up", "reset"]


def test_link_steps_in_a_run_are_recorded(tmp_path):
    folder = tmp_path / "lab"
    folder.mkdir()
    (folder / "lab.yaml").write_text(textwrap.dedent("""
        name: imp-steps
        nodes:
          server: {ip: 10.9.0.1/24}
          client: {ip: 10.9.0.2/24}
        links: [[server:eth0, client:eth0]]
        scenario:
          - {id: cut, at: 0.3s, link: client:eth0, down: true}
          - {id: ping, node: client, run: "ping -c 1 -W 1 10.9.0.1"}
          - {id: wait, node: client, run: "sleep 0.5"}
          - {id: late, node: client, run: "ping -c 1 -W 1 10.9.0.1", exit_code: 1}
          - {id: heal, link: client:eth0, up: true}
          - {id: again, node: client, run: "ping -c 1 -W 1 10.9.0.1"}
        capture: none
    """))
    result = run_lab(load_lab(folder), runs_dir=tmp_path / "runs")
    assert result.ok, [(s.id, s.problem) for s in result.steps]
    saved = json.loads((result.folder / "results.json").read_text())
    assert [c["change"] for c in saved["link_changes"]] == ["down", "up"]
    assert [c["by"] for c in saved["link_changes"]] == ["cut", "heal"]
    assert any(f.get("impairment") == "down" and "ICMP" in f["summary"] for f in saved["faults"])


def test_nothing_left_behind_even_after_sigkill(tmp_path):
    script = tmp_path / "hold.py"
    script.write_text(textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(Path(socklab.__file__).parents[1])!r})
        import socklab
        from socklab.model.loader import parse_lab
        lab = parse_lab({PAIR.format(name="imp-kill", impair="{loss: 1%}", faults="[]", seed=1)!r})
        socklab.up(lab, name="imp-kill", persistent=False)
        print("up", flush=True)
        time.sleep(60)
    """))
    holder = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "up"
        relay_ns = names.netns_name("imp-kill", names.RELAY_NODE)
        assert relay_ns in nsutil.list_netns()
        relay_pids = list(nsutil.pids_in_netns([nsutil.netns_path(relay_ns)]))
        assert len(relay_pids) == 1
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
    from socklab.gc import collect

    report = collect()
    assert "imp-kill" in report.instances
    assert relay_ns not in nsutil.list_netns()
    assert not os.path.exists(f"/proc/{relay_pids[0]}") or _zombie(relay_pids[0])
    assert state.load("imp-kill") is None


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


@pytest.mark.parametrize("args, message", [
    (["set", "--loss", "150%"], "--loss: 150% is more than 100%"),
    (["set", "--delay", "-5ms"], "--delay: -5ms is negative"),
    (["set"], "set needs at least one of"),
])
def test_link_command_refuses_bad_values_in_one_line(args, message):
    cli = Path(sys.executable).with_name("socklab")
    done = subprocess.run([str(cli), "link", "nosuch", "client:eth0", *args], capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and message in done.stderr
