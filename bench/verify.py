"""Bench: verify a large capture against a handful of expectations.

    python bench/verify.py [--packets 100000] [--keep DIR]

Writes a pcap of N frames (a TCP hello exchange, a UDP datagram, a raw IP protocol 102
packet, an EtherType 0x88b5 frame, ARP and ping, buried in noise between other hosts)
with struct, then times socklab.verify.verify on it. Target: 100k packets in <= 3 s.
"""

from __future__ import annotations

import argparse
import shutil
import struct
import sys
import tempfile
import time
from pathlib import Path

from pydantic import TypeAdapter

from socklab.model.expectations import Expectations
from socklab.verify.pcap import write_pcap
from socklab.verify.testing import T0, FakeRun

S, C, R = "192.168.11.11", "192.168.11.12", "192.168.11.13"
SM, CM, RM = "02:00:00:00:00:11", "02:00:00:00:00:12", "02:00:00:00:00:13"

EXPECT = [
    {"id": "handshake", "title": "TCP handshake to 12345", "tcp_handshake": {"client": "client", "server": "server:12345"}},
    {"id": "hello", "title": "client says hello", "packet": {"from": "client", "to": "server", "tcp": {"dport": 12345},
                                                             "payload": {"contains": "Hello World from client"}}},
    {"id": "udp-once", "title": "one UDP datagram, good checksums", "count": {"exactly": 1},
     "packet": {"from": "client", "to": "server", "udp": {"dport": 12345}, "checksums": "valid", "lengths": "consistent"}},
    {"id": "raw-102", "title": "raw IP protocol 102", "packet": {"from": "client", "to": R, "ip": {"proto": 102}, "payload": "Hello"}},
    {"id": "ether", "title": "EtherType 0x88b5 frame", "packet": {"from": "client", "ether": {"type": "0x88b5"}}},
    {"id": "ping", "title": "ping answered", "request_reply": {"request": {"from": "client", "icmp": {"type": "echo-request"}}}},
    {"id": "close", "title": "clean close", "tcp_close": {"between": ["client", "server:12345"]}},
]
FAILING = [  # the slow path: nothing matches, so the nearest miss is searched over every frame
    {"id": "wrong-port", "title": "UDP to 12346", "packet": {"from": "client", "to": "server", "udp": {"dport": 12346},
                                                             "payload": "Hello", "checksums": "valid"}},
    {"id": "only-client", "title": "client sends only TCP", "only": {"node": "client", "allow": ["arp", {"tcp": {}}]}},
]


STREAMS = [  # reassembled TCP streams and resends; bulk: grouping the noise's 33k server->client segments by connection
    {"id": "hello-stream", "title": "client's stream", "stream": {"from": "client", "to": "server:12345",
                                                                  "contains": "Hello World from client"}},
    {"id": "no-resend", "title": "no retransmission", "none": True,
     "retransmissions": {"from": "client", "to": "server:12345"}},
    {"id": "bulk", "title": "bulk stream", "stream": {"from": "server:5001", "to": "client:1025", "length": 1400}},
]


def interesting() -> list[bytes]:
    from scapy.layers.inet import ICMP, IP, TCP, UDP
    from scapy.layers.l2 import ARP, Ether

    def c2s():
        return Ether(src=CM, dst=SM) / IP(src=C, dst=S)

    def s2c():
        return Ether(src=SM, dst=CM) / IP(src=S, dst=C)

    pk = [
        Ether(src=CM, dst="ff:ff:ff:ff:ff:ff") / ARP(psrc=C, pdst=S, hwsrc=CM),
        Ether(src=SM, dst=CM) / ARP(op=2, psrc=S, pdst=C, hwsrc=SM, hwdst=CM),
        c2s() / TCP(sport=40000, dport=12345, flags="S", seq=100),
        s2c() / TCP(sport=12345, dport=40000, flags="SA", seq=500, ack=101),
        c2s() / TCP(sport=40000, dport=12345, flags="A", seq=101, ack=501),
        c2s() / TCP(sport=40000, dport=12345, flags="PA", seq=101, ack=501) / b"Hello World from client",
        s2c() / TCP(sport=12345, dport=40000, flags="PA", seq=501, ack=124) / b"Hello World from server",
        c2s() / UDP(sport=5000, dport=12345) / b"Hello World from client",
        Ether(src=CM, dst=RM) / IP(src=C, dst=R, proto=102) / b"Hello raw",
        Ether(src=CM, dst=RM, type=0x88B5) / b"Hello frame",
        c2s() / ICMP(id=7, seq=1) / b"ping",
        s2c() / ICMP(type=0, id=7, seq=1) / b"ping",
        c2s() / TCP(sport=40000, dport=12345, flags="FA", seq=124, ack=524),
        s2c() / TCP(sport=12345, dport=40000, flags="FA", seq=524, ack=125),
        c2s() / TCP(sport=40000, dport=12345, flags="A", seq=125, ack=525),
    ]
    return [bytes(p) for p in pk]


def noise_templates() -> list[bytearray]:
    from scapy.layers.inet import IP, TCP, UDP
    from scapy.layers.l2 import Ether

    a, b = "02:00:00:00:01:01", "02:00:00:00:01:02"
    return [  # other hosts' UDP, and a bulk TCP transfer server -> client on another port
        bytearray(bytes(Ether(src=a, dst=b) / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=1, dport=9999) / (b"x" * 64))),
        bytearray(bytes(Ether(src=SM, dst=CM) / IP(src=S, dst=C) / TCP(sport=5001, dport=1, flags="PA") / (b"y" * 1400))),
        bytearray(bytes(Ether(src=CM, dst=SM) / IP(src=C, dst=S) / TCP(sport=1, dport=5001, flags="A"))),
    ]


def frames(n: int):
    """n frames: the interesting ones spread over the capture, noise (ports varied with struct) around them."""
    special = interesting()
    noise = noise_templates()
    every = max(1, n // (len(special) + 1))
    k = 0
    for i in range(n):
        ts = T0 + i * 1e-4
        if i % every == every // 2 and k < len(special):
            yield ts, special[k]
            k += 1
            continue
        t = noise[i % 3]
        struct.pack_into("!H", t, 34 if i % 3 != 1 else 36, 1024 + i % 60000)  # vary the client port
        yield ts, bytes(t)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--packets", type=int, default=100_000)
    ap.add_argument("--keep", type=Path, help="write the pcap here instead of a temporary folder")
    ap.add_argument("--no-streams", action="store_true", help="leave out the stream rows (to compare with older socklab)")
    args = ap.parse_args(argv)

    folder = args.keep or Path(tempfile.mkdtemp(prefix="socklab-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        return bench(folder, args.packets, not args.no_streams)
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)


def bench(folder: Path, packets: int, stream_rows: bool = True) -> int:
    run = FakeRun(folder)
    run.host("server", S, mac=SM)
    run.host("client", C, mac=CM)
    run.host("rawsrv", R, mac=RM)
    run.host("noise1", "10.0.0.1", mac="02:00:00:00:01:01")
    run.host("noise2", "10.0.0.2", mac="02:00:00:00:01:02")
    path = folder / "server-eth0.pcap"
    t = time.perf_counter()
    count = write_pcap(path, frames(packets))
    t_write = time.perf_counter() - t
    run.captures["server:eth0"] = path

    from socklab.verify import verify

    ta = TypeAdapter(Expectations)
    rows = []
    sets = [("passing", EXPECT), ("failing (nearest-miss search)", FAILING)]
    if stream_rows:
        sets.append(("streams and retransmissions", STREAMS))
    sets.append(("all together", EXPECT + FAILING + (STREAMS if stream_rows else [])))
    for label, items in sets:
        exps = ta.validate_python(items)
        t, c = time.perf_counter(), time.process_time()  # each verify() call reads the capture afresh
        results = verify(exps, run.context())
        dt, dc = time.perf_counter() - t, time.process_time() - c
        rows.append((label, len(exps), dt, dc, results))

    print(f"capture: {path.name} ({count} packets, {path.stat().st_size / 1e6:.1f} MB, written in {t_write:.2f}s)")
    print(f"{'expectations':<32} {'n':>3} {'packets':>9} {'seconds':>8} {'cpu s':>6} {'pkt/s':>10}")
    for label, n, dt, dc, _ in rows:
        print(f"{label:<32} {n:>3} {count:>9} {dt:>8.2f} {dc:>6.2f} {count / dt:>10,.0f}")
    print("(first row includes importing scapy; cpu s is this process's CPU time, less sensitive to machine load)")
    print()
    for r in rows[-1][-1]:
        print(f"  {'PASS' if r.passed else 'FAIL'} {r.id:<12} {r.message[:110]}")
    expected_pass = {e["id"] for e in EXPECT + STREAMS}
    wrong = [r.id for r in rows[-1][-1] if r.passed != (r.id in expected_pass)]
    if wrong:
        print(f"unexpected outcomes: {wrong}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
