"""Build a VerifyContext from packets, without a live lab: for tests, and for teachers trying
out expectations against hand-made or recorded traffic.

    lab = FakeRun(tmp_path)
    lab.host("server", "192.168.11.11")
    lab.host("client", "192.168.11.12")
    lab.capture("server:eth0", [Ether()/IP()/UDP()...])
    results = lab.check({"id": "hello", "title": "...", "packet": {...}})
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from socklab.model.lab import IfaceRef
from socklab.verify.context import InterfaceInfo, NodeInfo, StepRecord, VerifyContext
from socklab.verify.pcap import LINKTYPE_ETHERNET, write_pcap
from socklab.verify.results import ExpectationResult

T0 = 1_700_000_000.0  # epoch seconds of the first step / packet in fake runs


def mac_for(n: int) -> str:
    return f"02:00:00:00:00:{n:02x}"


class FakeRun:
    """Nodes, captures (written as pcap files under `folder`) and step records of a pretend run."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.nodes: dict[str, NodeInfo] = {}
        self.captures: dict[str, Path] = {}
        self.steps: list[StepRecord] = []

    def host(self, name: str, *addrs: str, mac: str | None = None, iface: str = "eth0", kind: str = "host") -> NodeInfo:
        """Add (or extend) a node with one interface holding these addresses (IPv4 and/or IPv6)."""
        v4 = tuple(a for a in addrs if ":" not in a)
        v6 = tuple(a for a in addrs if ":" in a)
        mac = mac or mac_for(len(self.nodes) * 16 + len(self.nodes.get(name, NodeInfo(name, kind)).interfaces) + 1)
        old = self.nodes.get(name)
        ifaces = dict(old.interfaces) if old else {}
        ifaces[iface] = InterfaceInfo(iface, mac, v4, v6)
        self.nodes[name] = NodeInfo(name, kind, ifaces)
        return self.nodes[name]

    def capture(self, key: str, packets: Iterable[Any], linktype: int = LINKTYPE_ETHERNET,
                start: float = T0, gap: float = 0.01, nano: bool = False) -> Path:
        """Write packets (scapy packets, bytes, or (timestamp, bytes)) as the capture `key`.

        Packets without a timestamp get start, start+gap, start+2*gap...
        """
        frames = []
        for i, p in enumerate(packets):
            if isinstance(p, tuple):
                frames.append((float(p[0]), bytes(p[1])))
            else:
                frames.append((start + i * gap, bytes(p)))
        path = self.folder / f"{IfaceRef.parse(key).stem}.pcap"
        write_pcap(path, frames, linktype=linktype, nano=nano)
        self.captures[key] = path
        return path

    def step(self, id: str, node: str, stdout: str = "", stderr: str = "", exit_code: int | None = 0,
             timed_out: bool = False, started: float = T0, ended: float | None = None, command: str = "") -> StepRecord:
        rec = StepRecord(id, node, command or f"python3 {id}.py", exit_code, timed_out, stdout, stderr,
                         started, ended if ended is not None else started + 1.0)
        self.steps.append(rec)
        return rec

    def context(self) -> VerifyContext:
        return VerifyContext(dict(self.captures), dict(self.nodes), tuple(self.steps))

    def check(self, *expectations: dict[str, Any] | Sequence[dict[str, Any]]) -> list[ExpectationResult]:
        """Validate expectation dicts (as a lab file would hold them) and verify their plain
        twins, as a loaded Lab holds them."""
        from pydantic import TypeAdapter

        from socklab.model.expectations import Expectations, to_plain
        from socklab.verify import verify

        items: list[dict[str, Any]] = []
        for e in expectations:
            items.extend([e] if isinstance(e, dict) else e)
        return verify(to_plain(TypeAdapter(Expectations).validate_python(items)), self.context())

    def check_one(self, expectation: dict[str, Any]) -> ExpectationResult:
        expectation = {"id": "e", "title": "t", **expectation}
        return self.check(expectation)[0]


SERVER, CLIENT, RAWSRV = "192.168.11.11", "192.168.11.12", "192.168.11.13"
SERVER6, CLIENT6 = "fd00::11", "fd00::12"
SERVER_MAC, CLIENT_MAC, RAWSRV_MAC = "02:00:00:00:00:11", "02:00:00:00:00:12", "02:00:00:00:00:13"


def chapter_run(folder: str | Path) -> FakeRun:
    """The sockets chapter's addressing: server .11, client .12, raw-socket server .13 (and IPv6)."""
    run = FakeRun(folder)
    run.host("server", SERVER, SERVER6, mac=SERVER_MAC)
    run.host("client", CLIENT, CLIENT6, mac=CLIENT_MAC)
    run.host("rawsrv", RAWSRV, mac=RAWSRV_MAC)
    return run
