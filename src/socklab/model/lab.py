"""The resolved lab: every node with all its interfaces, peers and addresses known.

Pure data, frozen, built from a LabSpec by resolve.py. Backends never see the spec. Only the
fields a grader reads hold the lab file's pydantic models (the grading, the spec itself), and
so do impaired links, faults and impair steps; the expectations are plain twins of theirs
(model/plain.py). This module imports no pydantic, so running a kept lab
(model/labcache.py), verification and report included, needs none.
"""

from __future__ import annotations

import ipaddress
import pickle
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:  # pydantic models: a run whose lab came from the cache imports them only if used
    from socklab.model.impair import FaultSpec, Impairment, LinkImpairment
    from socklab.model.plain import Expectation
    from socklab.model.spec import LabSpec, ReadySpec, StepSpec


@dataclass(frozen=True)
class Interface:
    node: str
    name: str
    link: int  # index into Lab.links
    peer_node: str
    peer_iface: str
    ipv4: tuple[ipaddress.IPv4Interface, ...] = ()
    ipv6: tuple[ipaddress.IPv6Interface, ...] = ()
    mac: str | None = None  # explicit in the lab file; otherwise the plan derives one
    mtu: int | None = None


@dataclass(frozen=True)
class Route:
    to: ipaddress.IPv4Network | ipaddress.IPv6Network
    via: ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class Node:
    name: str
    kind: str  # host | router | switch
    interfaces: tuple[Interface, ...]
    routes: tuple[Route, ...] = ()
    sysctls: tuple[tuple[str, str], ...] = ()
    image: str | None = None
    raw_sockets: bool = False
    subnets: tuple[str, ...] = ()  # a switch's LAN, as the lab file gave it (subnet, subnet6)

    def interface(self, name: str) -> Interface:
        for iface in self.interfaces:
            if iface.name == name:
                return iface
        raise KeyError(f"{self.name} has no interface {name}")


@dataclass(frozen=True)
class Link:
    index: int
    a: IfaceRef
    b: IfaceRef
    mtu: int | None = None
    impair: LinkImpairment | None = None
    relayed: bool = False  # frames cross socklab's relay (impairments, faults, run-time changes)
    subnets: tuple[str, ...] = ()  # as the lab file gave them (subnet, subnet6)

    def end(self, endpoint: str) -> str | None:
        """"a" or "b" for the end "node:iface" of this link, else None."""
        return "a" if endpoint == str(self.a) else "b" if endpoint == str(self.b) else None


@dataclass(frozen=True)
class Fault:
    """A fault of the lab file, placed: on the egress of `on` ("node:iface") into link `link`."""

    index: int  # in the lab file's faults list
    spec: FaultSpec
    on: str
    link: int


@dataclass(frozen=True, order=True)
class IfaceRef:
    """ "node:iface", parsed once: a link end or a capture point."""

    node: str
    iface: str

    @classmethod
    def parse(cls, text: str) -> IfaceRef:
        node, sep, iface = text.partition(":")
        if not sep or not node or not iface:
            raise ValueError(f"{text!r} is not NODE:IFACE")
        return cls(node, iface)

    def __str__(self) -> str:
        return f"{self.node}:{self.iface}"

    @property
    def stem(self) -> str:
        """A file-name form ("node-iface"): pcaps are named after their point."""
        return f"{self.node}-{self.iface}"


@dataclass(frozen=True, order=True)
class CapturePoint(IfaceRef):
    """Where a capture listens, with an optional BPF filter and kernel ring size (bytes)."""

    filter: str | None = field(default=None, compare=False)
    buffer: int | None = field(default=None, compare=False)  # kernel ring in bytes (None: the capture's default)


ReadyKind = Literal["tcp_listen", "udp_bound", "raw_bound", "output", "file"]


@dataclass(frozen=True)
class Readiness:
    """How the runner knows a background step is ready: one condition and how long to wait."""

    kind: ReadyKind
    value: int | str  # a port, an IP protocol, a regex or a path
    timeout: float

    @classmethod
    def from_spec(cls, spec: ReadySpec) -> Readiness:
        for kind in ("tcp_listen", "udp_bound", "raw_bound", "output", "file"):
            value = getattr(spec, kind)
            if value is not None:
                return cls(kind, value, spec.timeout)  # type: ignore[arg-type]
        raise ValueError("a ready: with no condition")  # the spec validator makes this unreachable

    def describe(self) -> str:
        """What was missing, for "not ready after 5s (...)"."""
        return {
            "tcp_listen": f"no TCP listener on port {self.value}",
            "udp_bound": f"no UDP socket bound to port {self.value}",
            "raw_bound": f"no raw socket open for IP protocol {self.value}",
            "output": f"no output line matching {self.value!r}",
            "file": f"no file {self.value}",
        }[self.kind]


@dataclass(frozen=True)
class Step:
    """A scenario step, resolved: its id is decided here and nowhere else."""

    id: str
    index: int
    node: str
    argv: tuple[str, ...]  # a string command line runs as ("sh", "-c", line)
    command: str  # as written, for reports
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: str | None = None  # relative to the run's workspace
    background: bool = False
    ready: Readiness | None = None
    timeout: float = 10.0
    exit_code: int | None = 0  # expected exit code (None: any)
    link: IfaceRef | None = None  # a link step (no command): the end whose link changes
    action: str | None = None  # a link step: down, up, impair or reset
    impair: Impairment | None = None  # action impair: the new impairment (both directions)
    at: float | None = None  # a link step: seconds after the scenario starts (None: in order)

    @staticmethod
    def default_id(index: int) -> str:
        return f"step{index + 1}"

    @classmethod
    def from_spec(cls, spec: StepSpec, index: int) -> Step:
        if spec.link is not None:
            action = spec.link_action or ""
            what = f"impair {spec.impair.describe()}" if action == "impair" and spec.impair else action
            return cls(id=spec.id or cls.default_id(index), index=index, node=spec.node, argv=(),
                       command=f"link {spec.link} {what}", exit_code=None, link=IfaceRef.parse(spec.link),
                       action=action, impair=spec.impair, at=spec.at)
        assert spec.run is not None  # the spec validator: a step has run: or link:
        argv = ("sh", "-c", spec.run) if isinstance(spec.run, str) else tuple(spec.run)
        return cls(
            id=spec.id or cls.default_id(index), index=index, node=spec.node, argv=argv,
            command=spec.run if isinstance(spec.run, str) else " ".join(spec.run), env=dict(spec.env),
            cwd=spec.cwd, background=spec.background,
            ready=Readiness.from_spec(spec.ready) if spec.ready is not None else None,
            timeout=spec.timeout, exit_code=spec.exit_code,
        )


@dataclass(frozen=True)
class Lab:
    name: str
    description: str
    backend: str
    nodes: tuple[Node, ...]
    links: tuple[Link, ...]
    scenario: tuple[Step, ...]
    captures: tuple[CapturePoint, ...]  # resolved: "all" becomes every non-switch interface
    expect: tuple[Expectation, ...]  # plain twins of the validated models (model/plain.py)
    grading: Any
    spec: LabSpec
    seed: int = 0
    faults: tuple[Fault, ...] = ()
    source: Path | None = None  # the lab.yaml it came from
    reference: str = "solution"  # the lab folder's reference programs (grading.reference)

    @property
    def folder(self) -> Path | None:
        return self.source.parent if self.source else None

    # Pickled (model/labcache.py keeps Labs) with its pydantic parts in a blob of their own,
    # unpickled when first used: a run then imports no pydantic (~150 ms here); a grading
    # thaws them when it reads its spec.

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        blob = state.pop(_FROZEN, None)
        parts = tuple(state.pop(name, None) for name in _PYDANTIC_PARTS)
        state[_FROZEN] = blob if blob is not None else pickle.dumps(parts, protocol=pickle.HIGHEST_PROTOCOL)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def __getattr__(self, name: str) -> Any:  # only for attributes not (yet) in __dict__
        if name in _PYDANTIC_PARTS and _FROZEN in self.__dict__:
            self.thaw()
            return self.__dict__[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def thaw(self) -> None:
        """Unpickle the parts kept frozen (a no-op for a Lab that was never pickled)."""
        with _THAWING:
            blob = self.__dict__.get(_FROZEN)
            if blob is not None:
                self.__dict__.update(zip(_PYDANTIC_PARTS, pickle.loads(blob), strict=True))
                del self.__dict__[_FROZEN]

    def node(self, name: str) -> Node:
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(name)

    def step(self, step_id: str) -> Step:
        for step in self.scenario:
            if step.id == step_id:
                return step
        raise KeyError(step_id)

    @property
    def node_names(self) -> tuple[str, ...]:
        return tuple(n.name for n in self.nodes)


_PYDANTIC_PARTS = ("grading", "spec")
"""The Lab's fields that hold pydantic models whatever the lab (a link's impairment, a fault's
match and a link step's impairment are pydantic too, but only in labs that have them; the
expectations are plain twins, model/plain.py, which a run's verifier reads without pydantic)."""
_FROZEN = "_frozen_parts"
_THAWING = threading.Lock()  # the import thread and the main thread may both reach for them
