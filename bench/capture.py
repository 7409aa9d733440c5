"""Capture under load: blast small UDP datagrams across one veth for ~1.5 s; count what tcpdump kept.

Usage: .venv/bin/python bench/capture.py [--seconds 1.5]
Prints sent, captured, kernel drops, loss and packets/s. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import socklab  # noqa: E402
from socklab.capture import start_captures, stop_captures  # noqa: E402
from socklab.model.lab import CapturePoint  # noqa: E402
from socklab.model.loader import parse_lab  # noqa: E402
from socklab.runfolder import RunFolder  # noqa: E402
from socklab.verify.pcap import read_records  # noqa: E402

LAB = """
name: blast
nodes:
  server: {ip: 192.168.11.11/24}
  client: {ip: 192.168.11.12/24}
links: [[server, client]]
"""
BLASTER = textwrap.dedent("""
    import socket, sys, time
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    send, payload, sent, peer = s.sendto, b"x" * 18, 0, ("192.168.11.11", 9)
    end = time.monotonic() + float(sys.argv[1])
    while time.monotonic() < end:
        for _ in range(1000):
            send(payload, peer)
        sent += 1000
    print(sent)
""")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=1.5)
    parser.add_argument("--senders", type=int, default=1, help="parallel sender processes")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, socklab.up(parse_lab(LAB), name="bench-capture") as dep:
        # the server drops everything (no listener, ICMP errors rate-limited): the capture must still see it all
        dep.exec("server", ["sysctl", "-qw", "net.ipv4.icmp_ratelimit=1000"])
        point = CapturePoint("server", "eth0", "udp port 9")
        caps = start_captures([(point, dep.netns_path("server"))], RunFolder(Path(tmp)))
        started = time.perf_counter()
        procs = [dep.popen("client", ["python3", "-c", BLASTER, str(args.seconds)], stdout=subprocess.PIPE, text=True)
                 for _ in range(args.senders)]
        sent = sum(int(p.communicate(timeout=60)[0].strip()) for p in procs)
        elapsed = time.perf_counter() - started
        time.sleep(0.2)
        stop_captures(caps)
        stats = dep.exec("server", ["cat", "/sys/class/net/eth0/statistics/rx_dropped"]).stdout.strip()
        stats2 = dep.exec("client", ["cat", "/sys/class/net/eth0/statistics/tx_dropped"]).stdout.strip()
        backlog = dep.exec("server", ["cat", "/proc/net/softnet_stat"]).stdout.split()
        captured = len(read_records(caps[0].path)[0])
    loss = (sent - captured) / sent * 100
    print(f"{'sent':>10} {'captured':>10} {'dropped':>8} {'loss %':>7} {'pps sent':>10}")
    print(f"{sent:>10} {captured:>10} {caps[0].dropped or 0:>8} {loss:>7.3f} {sent / elapsed:>10,.0f}")
    print("veth rx_dropped", stats, "tx_dropped", stats2, "softnet", backlog[:3])


if __name__ == "__main__":
    main()
