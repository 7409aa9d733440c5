"""Impaired links, side by side with plain ones in one run: throughput, delay accuracy, bring-up.

Usage: .venv/bin/python bench/impair.py [--seconds 2] [--rate 50000] [--chain 100]
1. throughput: UDP paced at --rate packets/s in BOTH directions at once across a plain
   link, a relayed link with nothing configured (`impair: {}`) and one with `delay: 1ms`
   (every frame through the timer heap); delivered counted by the receivers' rx_packets.
   Then one direction unpaced: the most the relay forwards.
2. delay: 300 UDP echoes (10 ms apart) across a plain link and one with `delay: 100ms` on one
   direction: median and p99 of RTT, and their error against 100 ms + the plain RTT.
3. bring-up: a chain of --chain nodes, plain, then with every link impaired (up and down).
A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import socklab  # noqa: E402
from socklab.model.loader import parse_lab  # noqa: E402

PAIR = """
name: {name}
nodes:
  a: {{ip: 192.168.11.1/24}}
  b: {{ip: 192.168.11.2/24}}
links:
  - endpoints: [a:eth0, b:eth0]
{impair}
"""
SENDER = textwrap.dedent("""
    import socket, sys, time
    rate, seconds, peer = float(sys.argv[1]), float(sys.argv[2]), (sys.argv[3], 9)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 22)
    send, payload, sent = s.sendto, b"x" * 18, 0
    start = time.monotonic()
    end = start + seconds
    while True:
        now = time.monotonic()
        if now >= end:
            break
        due = int((now - start) * rate) if rate else sent + 200
        while sent < due:
            try:
                send(payload, peer)
            except OSError:
                time.sleep(0.0005)
                continue
            sent += 1
        if rate:
            time.sleep(0.001)
    print(sent)
""")


def rx_packets(dep, node: str) -> int:
    return int(dep.exec(node, ["cat", "/sys/class/net/eth0/statistics/rx_packets"]).stdout)


def pair(name: str, impair: str):
    text = PAIR.format(name=name, impair=f"    impair: {impair}" if impair else "")
    return parse_lab(text)


def throughput(label: str, impair: str, rate: float, seconds: float, both: bool = True) -> dict:
    with socklab.up(pair("bench-impair", impair), name="bench-impair") as dep:
        for node in ("a", "b"):
            dep.exec(node, ["sysctl", "-qw", "net.ipv4.icmp_ratelimit=0", "net.ipv4.icmp_msgs_per_sec=0"])
            dep.exec(node, ["ip", "neigh", "replace", "192.168.11." + ("2" if node == "a" else "1"),
                            "lladdr", dep.plan.node("b" if node == "a" else "a").interface("eth0").mac,
                            "dev", "eth0", "nud", "permanent"])
        before = {n: rx_packets(dep, n) for n in ("a", "b")}
        flows = [("a", "b", "192.168.11.2")] + ([("b", "a", "192.168.11.1")] if both else [])
        t0 = time.perf_counter()
        procs = [(src, dst, dep.popen(src, ["python3", "-c", SENDER, str(rate), str(seconds), ip],
                                      stdout=subprocess.PIPE, text=True)) for src, dst, ip in flows]
        sent = {src: int(p.communicate(timeout=120)[0]) for src, _, p in procs}
        elapsed = time.perf_counter() - t0
        time.sleep(0.3)
        after = {n: rx_packets(dep, n) for n in ("a", "b")}
    out = {"label": label}
    for src, dst, _ in flows:
        got = after[dst] - before[dst]
        out[f"{src}>{dst}"] = (sent[src], got, sent[src] / seconds, got / elapsed)
    return out


ECHO = "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\ns.bind(('', 7))\nwhile True:\n    d, a = s.recvfrom(64)\n    s.sendto(d, a)\n"
PROBE = textwrap.dedent("""
    import socket, sys, time
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    for i in range(int(sys.argv[1]) + 3):
        t = time.perf_counter()
        s.sendto(b"probe", ("192.168.11.2", 7))
        try:
            s.recvfrom(64)
        except TimeoutError:
            continue
        if i >= 3:  # the first ones wait for ARP
            print((time.perf_counter() - t) * 1000)
        time.sleep(0.01)
""")


def ping(impair: str, count: int) -> list[float]:
    """RTTs in ms of UDP echoes timed in the sender (ping prints only 3 digits above 100 ms)."""
    with socklab.up(pair("bench-delay", impair), name="bench-delay") as dep:
        dep.popen("b", ["python3", "-c", ECHO])
        time.sleep(0.3)
        out = dep.exec("a", ["python3", "-c", PROBE, str(count)], timeout=120).stdout
    return [float(x) for x in out.split()]


def chain(n: int, impaired: bool) -> tuple[float, float]:
    lines = [f"name: bench-chain{'-i' if impaired else ''}", "nodes:"]
    for i in range(n):
        lines.append(f"  n{i}: {{kind: router}}" if 0 < i < n - 1 else f"  n{i}: {{}}")
    lines.append("links:")
    for i in range(n - 1):
        lines.append(f"  - endpoints: [n{i}:eth{1 if i else 0}, n{i + 1}:eth0]")
        lines.append(f"    subnet: 10.{i // 256}.{i % 256}.0/30")
        if impaired:
            lines.append("    impair: {delay: 1ms}")
    lab = parse_lab("\n".join(lines) + "\n")
    t0 = time.perf_counter()
    dep = socklab.up(lab, name="bench-chain")
    t1 = time.perf_counter()
    dep.down()
    return t1 - t0, time.perf_counter() - t1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--rate", type=float, default=50000)
    parser.add_argument("--chain", type=int, default=100)
    parser.add_argument("--pings", type=int, default=300)
    args = parser.parse_args()

    print(f"1. throughput, {args.rate:,.0f} pps paced per direction, both directions at once, {args.seconds:g}s")
    print(f"   {'link':<28} {'direction':<9} {'sent':>9} {'delivered':>9} {'loss %':>7} {'pps delivered':>13}")
    rows = [throughput("plain veth", "", args.rate, args.seconds),
            throughput("relay, impair: {}", "{}", args.rate, args.seconds),
            throughput("relay, impair: {delay: 1ms}", "{delay: 1ms}", args.rate, args.seconds)]
    rows.append(throughput("relay {} unpaced, one way", "{}", 0, args.seconds, both=False))
    rows.append(throughput("plain unpaced, one way", "", 0, args.seconds, both=False))
    for row in rows:
        for key, (sent, got, _, pps) in ((k, v) for k, v in row.items() if k != "label"):
            loss = (sent - got) / sent * 100 if sent else 0
            print(f"   {row['label']:<28} {key:<9} {sent:>9} {got:>9} {loss:>7.3f} {pps:>13,.0f}")

    print(f"\n2. delay accuracy, {args.pings} UDP echoes 10 ms apart (RTT in ms)")
    plain = ping("", args.pings)
    delayed = ping("{a:eth0: {delay: 100ms}}", args.pings)
    base = statistics.median(plain)
    for label, rtts in (("plain", plain), ("delay 100ms one way", delayed)):
        rtts = sorted(rtts)
        med, p99 = statistics.median(rtts), rtts[int(len(rtts) * 0.99) - 1]
        err = "" if label == "plain" else f"   error vs 100ms+plain: median {med - base - 100:+.2f}, p99 {p99 - base - 100:+.2f}"
        print(f"   {label:<22} n={len(rtts):>4} median {med:8.2f} p99 {p99:8.2f}{err}")

    print(f"\n3. bring-up of a {args.chain}-node chain (seconds)")
    up0, down0 = chain(args.chain, False)
    up1, down1 = chain(args.chain, True)
    print(f"   plain             up {up0:6.3f}  down {down0:6.3f}")
    print(f"   every link impaired up {up1:6.3f}  down {down1:6.3f}   ratio up {up1 / up0:.2f}x")


if __name__ == "__main__":
    main()
