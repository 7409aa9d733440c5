"""Frames of a tcp-hello exchange as the server's capture sees them (for report tests, no root)."""

from __future__ import annotations

import struct

from socklab.verify.testing import T0

SERVER, CLIENT = "192.168.11.11", "192.168.11.12"


def tcp_hello_frames(lab_name: str = "tcp-hello", client_port: int = 40000) -> list[tuple[float, bytes]]:
    """ARP, handshake, hello, answer, close: 12 frames with the plan's MACs of tcp-hello."""
    from scapy.layers.inet import IP, TCP
    from scapy.layers.l2 import ARP, Ether

    from socklab import names

    sm, cm = names.mac_address(lab_name, "server", "eth0"), names.mac_address(lab_name, "client", "eth0")

    def c2s(**kw):
        return Ether(src=cm, dst=sm) / IP(src=CLIENT, dst=SERVER) / TCP(sport=client_port, dport=12345, **kw)

    def s2c(**kw):
        return Ether(src=sm, dst=cm) / IP(src=SERVER, dst=CLIENT) / TCP(sport=12345, dport=client_port, **kw)

    packets = [
        Ether(src=cm, dst="ff:ff:ff:ff:ff:ff") / ARP(psrc=CLIENT, pdst=SERVER, hwsrc=cm),
        Ether(src=sm, dst=cm) / ARP(op=2, psrc=SERVER, pdst=CLIENT, hwsrc=sm, hwdst=cm),
        c2s(flags="S", seq=100), s2c(flags="SA", seq=500, ack=101), c2s(flags="A", seq=101, ack=501),
        c2s(flags="PA", seq=101, ack=501) / b"Hello World from client", s2c(flags="A", seq=501, ack=124),
        s2c(flags="PA", seq=501, ack=124) / b"Hello World from server", c2s(flags="A", seq=124, ack=524),
        c2s(flags="FA", seq=124, ack=524), s2c(flags="FA", seq=524, ack=125), c2s(flags="A", seq=125, ack=525),
    ]
    return [(T0 + 0.05 + i * 0.001, bytes(p)) for i, p in enumerate(packets)]


TCP_HELLO_STEPS = [
    {"id": "server", "node": "server", "background": True, "ready": True, "ready_at": T0 + 0.03,
     "started": T0, "ended": T0 + 0.2, "stdout": "received: Hello World from client\n"},
    {"id": "client", "node": "client", "started": T0 + 0.04, "ended": T0 + 0.19,
     "stdout": "server said: Hello World from server\n"},
]


def noise(n: int) -> list[tuple[float, bytes]]:
    """n UDP datagrams between two hosts outside the lab, in four flows, after the exchange."""
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether

    t = bytearray(bytes(Ether() / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=1, dport=9) / (b"x" * 32)))
    out = []
    for i in range(n):
        struct.pack_into("!H", t, 34, 1000 + i % 4)  # four flows
        out.append((T0 + 1 + i * 1e-5, bytes(t)))
    return out
