"""Scalar types of the lab file's grammars: numbers that may be written by name or in hex,
MACs, IP addresses, TCP and IP flags, durations, endpoints. Each accepts what reads naturally
in YAML and normalises it. Pydantic and the standard library only.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict

from socklab.model.plain import MAC_RE, NAME_RE, split_endpoint  # noqa: F401 - NAME_RE: for the grammar


class Model(BaseModel):
    """Base of the grammar's models: frozen, no unknown keys, aliases or names.

    defer_build: a model's schema is built when something first validates with it, not when
    the module is imported, so a Lab unpickled from model/labcache.py costs no builds."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True, defer_build=True)


# ---------------------------------------------------------------------------------------------
# Scalar types: each accepts what reads naturally in YAML and normalises it.


def _int(names: dict[str, int] | None = None, lo: int = 0, hi: int = 0xFFFFFFFF, what: str = "value"):
    """An int that may be written 102, "0x66" or (when names is given) a name like "udp"."""

    def parse(v: Any) -> Any:
        if isinstance(v, bool):
            raise ValueError(f"{what} must be a number, not {v!r}")
        if isinstance(v, str):
            s = v.strip().lower()
            if names and s in names:
                return names[s]
            try:
                v = int(s, 0)
            except ValueError:
                known = f"; known names: {', '.join(sorted(names))}" if names else ""
                raise ValueError(f"{what} {v!r} is not a number{known}") from None
        if isinstance(v, int) and not lo <= v <= hi:
            raise ValueError(f"{what} {v} out of range {lo}..{hi} (0x{hi:x})")
        return v

    return BeforeValidator(parse)


IP_PROTOCOLS = {"icmp": 1, "igmp": 2, "tcp": 6, "udp": 17, "ipv6": 41, "gre": 47, "esp": 50,
                "ah": 51, "icmpv6": 58, "ipv6-icmp": 58, "sctp": 132}
ETHER_TYPES = {"ipv4": 0x0800, "ip": 0x0800, "arp": 0x0806, "ipv6": 0x86DD, "vlan": 0x8100}
ICMP_TYPES = {"echo-reply": 0, "dest-unreach": 3, "destination-unreachable": 3, "redirect": 5,
              "echo-request": 8, "time-exceeded": 11, "parameter-problem": 12}
ICMPV6_TYPES = {"dest-unreach": 1, "destination-unreachable": 1, "packet-too-big": 2,
                "time-exceeded": 3, "parameter-problem": 4, "echo-request": 128, "echo-reply": 129,
                "mld-query": 130, "mld-report": 131, "mld-done": 132, "router-solicitation": 133,
                "router-advertisement": 134, "neighbor-solicitation": 135,
                "neighbor-advertisement": 136, "redirect": 137, "mldv2-report": 143}
ARP_OPS = {"request": 1, "who-has": 1, "reply": 2, "is-at": 2}

Port = Annotated[int, _int(lo=0, hi=0xFFFF, what="port")]
U8 = Annotated[int, _int(lo=0, hi=0xFF)]
U16 = Annotated[int, _int(lo=0, hi=0xFFFF)]
U32 = Annotated[int, _int()]
IPProto = Annotated[int, _int(IP_PROTOCOLS, hi=0xFF, what="IP protocol")]
EtherType = Annotated[int, _int(ETHER_TYPES, hi=0xFFFF, what="EtherType")]
IcmpType = Annotated[int, _int(ICMP_TYPES, hi=0xFF, what="ICMP type")]
Icmpv6Type = Annotated[int, _int(ICMPV6_TYPES, hi=0xFF, what="ICMPv6 type")]
ArpOp = Annotated[int, _int(ARP_OPS, hi=0xFFFF, what="ARP operation")]



def _mac(v: Any) -> str:
    s = str(v).strip().lower()
    if not MAC_RE.match(s):
        raise ValueError(f"{v!r} is not a MAC address (like 02:00:00:00:00:01)")
    return s.replace("-", ":")


def _ip(version: int | None):
    def parse(v: Any) -> str:
        try:
            a = ipaddress.ip_address(str(v).strip())
        except ValueError:
            raise ValueError(f"{v!r} is not an IP address") from None
        if version and a.version != version:
            raise ValueError(f"{v!r} is not an IPv{version} address")
        return str(a)

    return AfterValidator(parse)


Mac = Annotated[str, AfterValidator(_mac)]
IPv4Addr = Annotated[str, _ip(4)]
IPv6Addr = Annotated[str, _ip(6)]

_TCP_FLAG_LETTERS = "FSRPAUECN"


_TCP_FLAG_WORDS = {"FIN": "F", "SYN": "S", "RST": "R", "PSH": "P", "ACK": "A", "URG": "U",
                   "ECE": "E", "CWR": "C", "NS": "N"}


def _tcp_flags(v: Any) -> str:
    """"SA", "S", "FA" (scapy letters) or words "SYN+ACK", "SYN-ACK", "FIN ACK"; "" means none."""
    s = str(v).strip().upper()
    words = [w for w in re.split(r"[+,|/ -]+", s) if w]
    if words and all(w in _TCP_FLAG_WORDS for w in words):
        s = "".join(_TCP_FLAG_WORDS[w] for w in words)
    elif len(words) > 1:
        raise ValueError(f"TCP flags {v!r}: use letters like SA or words like SYN+ACK")
    bad = sorted(set(s) - set(_TCP_FLAG_LETTERS))
    if bad:
        raise ValueError(
            f"unknown TCP flag letter(s) {''.join(bad)!r} in {v!r}; "
            "letters: F=FIN S=SYN R=RST P=PSH A=ACK U=URG E=ECE C=CWR N=NS (or words like SYN+ACK)"
        )
    return "".join(c for c in _TCP_FLAG_LETTERS if c in s)  # canonical order, duplicates gone


TcpFlags = Annotated[str, AfterValidator(_tcp_flags)]


def _ip_flags(v: Any) -> int:
    if isinstance(v, bool):
        raise ValueError("IPv4 flags must be like DF, MF, DF+MF, '' or a number 0..7")
    if isinstance(v, int):
        if not 0 <= v <= 7:
            raise ValueError(f"IPv4 flags {v} out of range 0..7")
        return v
    bits = {"MF": 1, "DF": 2, "EVIL": 4, "RESERVED": 4}
    total = 0
    for part in re.split(r"[+,| ]+", str(v).strip().upper()):
        if not part:
            continue
        if part not in bits:
            raise ValueError(f"unknown IPv4 flag {part!r}; use DF, MF, DF+MF or '' (none)")
        total |= bits[part]
    return total


IPFlags = Annotated[int, BeforeValidator(_ip_flags)]

_SECONDS_RE = re.compile(r"^\s*(-?)\s*(\d+(?:\.\d*)?|\.\d+)\s*(us|ms|s|sec|m|min)?\s*$")
_UNIT_SECONDS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0}


def parse_seconds(v: Any, what: str = "a duration", example: str = "2s, 500ms, 1.5s, 1m") -> float:
    """Seconds from 300us, 20ms, 1.5s, 2sec, 1m or a plain number of seconds, sign kept.

    The one grammar for times in a lab file; each kind of time (a step's timeout, a link's
    delay) adds its own bounds on top.
    """
    if isinstance(v, bool):
        raise ValueError(f"{what} is like {example}")
    if isinstance(v, int | float):
        return float(v)
    m = _SECONDS_RE.match(str(v))
    if not m:
        raise ValueError(f"{v!r} is not {what} (like {example})")
    seconds = float(m.group(2)) * _UNIT_SECONDS[m.group(3) or "s"]
    return -seconds if m.group(1) else seconds


def _duration(v: Any) -> float:
    seconds = parse_seconds(v)
    if seconds <= 0:
        raise ValueError("a duration must be positive")
    return seconds


Duration = Annotated[float, BeforeValidator(_duration)]
"""Seconds; written 2s, 500ms, 1.5s, 1m or a plain number of seconds."""

SLUG_RE = r"^[a-z0-9][a-z0-9_-]*$"


def _endpoint(v: Any) -> str:
    """Syntax check only; names are resolved against the lab when verifying."""
    s = str(v).strip()
    host, port = split_endpoint(s)
    if port is not None and not 0 <= port <= 0xFFFF:
        raise ValueError(f"port {port} out of range in {v!r}")
    if not host:
        raise ValueError("an endpoint is a node, node:iface, node:port, an IP or MAC address, or ip:port")
    return s


Endpoint = Annotated[str, AfterValidator(_endpoint)]


def regex_problem(pattern: str, over_bytes: bool = False) -> str | None:
    """Why the engine that will run a lab file's regex (socklab.regexes: the `regex` module)
    rejects it; imported only for lab files with regexes."""
    from socklab import regexes

    return regexes.problem(pattern, over_bytes)
