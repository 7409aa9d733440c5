"""ICMP types by name and TTLs, as the icmp-raw lab's ping and traceroute checks use them."""

from __future__ import annotations

from scapy.layers.inet import ICMP, IP, UDP, IPerror, UDPerror
from scapy.layers.l2 import Ether

from socklab.verify.testing import CLIENT, CLIENT_MAC, SERVER, chapter_run

ROUTER, ROUTER_MAC = "192.168.11.1", "02:00:00:00:00:01"


def traceroute():
    probe = Ether(src=CLIENT_MAC, dst=ROUTER_MAC) / IP(src=CLIENT, dst=SERVER, ttl=1) / ICMP(id=9, seq=1)
    expired = (Ether(src=ROUTER_MAC, dst=CLIENT_MAC) / IP(src=ROUTER, dst=CLIENT) / ICMP(type=11, code=0)
               / bytes(probe[IP])[:28])
    closed = (Ether(src=ROUTER_MAC, dst=CLIENT_MAC) / IP(src=SERVER, dst=CLIENT, ttl=63) / ICMP(type=3, code=3)
              / IPerror(src=CLIENT, dst=SERVER) / UDPerror(sport=5000, dport=33434))
    udp = Ether(src=CLIENT_MAC, dst=ROUTER_MAC) / IP(src=CLIENT, dst=SERVER, ttl=2) / UDP(sport=5000, dport=33434)
    return [probe, expired, udp, closed]


def test_icmp_types_by_name_codes_and_ttl(tmp_path):
    run = chapter_run(tmp_path)
    run.host("router", ROUTER, mac=ROUTER_MAC)
    run.capture("client:eth0", traceroute())
    ok = run.check(
        {"id": "probe", "title": "t", "packet": {"from": "client", "ip": {"ttl": 1}, "icmp": {"type": "echo-request"}}},
        {"id": "expired", "title": "t", "packet": {"from": "router", "icmp": {"type": "time-exceeded", "code": 0}}},
        {"id": "closed", "title": "t", "packet": {"from": "server", "ip": {"ttl": 63}, "icmp": {"type": "dest-unreach", "code": 3}}},
        {"id": "numeric", "title": "t", "packet": {"icmp": {"type": 11}}},
        {"id": "second-hop", "title": "t", "packet": {"from": "client", "ip": {"ttl": 2}, "udp": {"dport": 33434}}},
    )
    assert all(r.passed for r in ok), [r.message for r in ok if not r.passed]
    miss = run.check_one({"packet": {"from": "router", "icmp": {"type": "time-exceeded", "code": 1}}})
    assert not miss.passed and "ICMP code 0, expected 1" in miss.message
    ttl = run.check_one({"packet": {"from": "client", "ip": {"ttl": 3}}})
    assert not ttl.passed and "IPv4 TTL" in ttl.message
