"""The lab file as written: pydantic models that validate shape, names and values.

Cross-references (a link naming an unknown node, an address outside its subnet...) are
checked when the spec is resolved into a Lab (resolve.py), where the whole lab is known.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from socklab.model.expectations import Expectations
from socklab.model.grading import GradingSpec, Size
from socklab.model.impair import FaultSpec, ImpairField, Impairment, Seed, Time, link_action_of
from socklab.model.values import Duration, regex_problem
from socklab.names import NAME_PATTERN

IFNAME_PATTERN = r"^[a-zA-Z][a-zA-Z0-9_-]{0,14}$"
"""Interface names: the kernel's limit is 15 bytes (IFNAMSIZ - 1)."""

MAC_PATTERN = r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$"


def _as_list(value: Any) -> Any:
    """Let a single address be written without a list around it."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


Name = Annotated[str, Field(pattern=NAME_PATTERN)]


def _no_nul(value: str) -> str:
    if "\0" in value:
        raise ValueError("a command, its environment and its folder cannot hold a NUL character")
    return value


CommandText = Annotated[str, AfterValidator(_no_nul)]
"""Text that becomes an argument, environment entry or path of a program: the kernel's strings end at NUL."""


def _env_name(value: str) -> str:
    if not value or "=" in value:
        raise ValueError(f"{value!r} is not an environment variable's name (non-empty, no '=')")
    return value


EnvName = Annotated[CommandText, AfterValidator(_env_name)]
IfName = Annotated[str, Field(pattern=IFNAME_PATTERN)]
IPv4List = Annotated[list[ipaddress.IPv4Interface], BeforeValidator(_as_list)]
IPv6List = Annotated[list[ipaddress.IPv6Interface], BeforeValidator(_as_list)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)  # see values.Model


def empty(kind: type[list] | type[dict], description: str | None = None) -> Any:
    """An empty list or dict default, made fresh per object. A plain `= []` default is
    deep-copied by pydantic for every object that omits it: 5 per node, ~6% of loading a
    1000-node lab. The schema still shows the default."""
    return Field(default_factory=kind, description=description, json_schema_extra={"default": kind()})


class InterfaceSpec(Strict):
    """Addresses are CIDR strings (192.168.11.11/24); without them, a link or LAN subnet allocates."""

    ipv4: IPv4List = empty(list)
    ipv6: IPv6List = empty(list)
    mac: Annotated[str, Field(pattern=MAC_PATTERN)] | None = None
    mtu: Annotated[int, Field(ge=68, le=65535)] | None = None

    @field_validator("mac", mode="before")
    @classmethod
    def _lower_mac(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value


class RouteSpec(Strict):
    """A static route. `to: default` means 0.0.0.0/0 (or ::/0 when `via` is IPv6)."""

    to: str
    via: ipaddress.IPv4Address | ipaddress.IPv6Address

    @field_validator("to")
    @classmethod
    def _check_to(cls, value: str) -> str:
        if value != "default":
            try:
                ipaddress.ip_network(value, strict=True)
            except ValueError as err:
                raise ValueError(f"{value!r} is neither 'default' nor a network ({err})") from None
        return value


class NodeSpec(Strict):
    kind: Literal["host", "router", "switch"] = "host"
    ip: IPv4List = empty(list, "Shorthand for interfaces.eth0.ipv4")
    ip6: IPv6List = empty(list, "Shorthand for interfaces.eth0.ipv6")
    interfaces: dict[IfName, InterfaceSpec] = empty(dict)
    routes: list[RouteSpec] = empty(list)
    sysctls: dict[str, str | int] = empty(dict)
    subnet: ipaddress.IPv4Network | None = Field(
        default=None, description="Switches only: the LAN's IPv4 subnet, for hosts without addresses"
    )
    subnet6: ipaddress.IPv6Network | None = None
    image: str | None = Field(default=None, description="docker backend: the node's image")
    raw_sockets: bool = Field(
        default=False, description="Programs on this node may open raw and packet sockets (CAP_NET_RAW)"
    )

    @field_validator("sysctls")
    @classmethod
    def _check_sysctls(cls, value: dict[str, str | int]) -> dict[str, str | int]:
        for key in value:
            if not re.fullmatch(r"net\.[a-z0-9_.\-]+", key) or ".." in key:
                raise ValueError(f"sysctl {key!r}: only net.* keys belong to a network namespace")
        return value

    @model_validator(mode="after")
    def _check_kind(self) -> NodeSpec:
        if self.kind == "switch":
            if self.ip or self.ip6 or self.routes or self.interfaces:
                raise ValueError("a switch has no addresses, routes or interfaces of its own")
        elif self.subnet or self.subnet6:
            raise ValueError("subnet/subnet6 belong to switches (or links), not to a " + self.kind)
        if (self.ip or self.ip6) and "eth0" in self.interfaces:
            raise ValueError("give eth0's addresses either with ip/ip6 or under interfaces.eth0, not both")
        return self


Endpoint = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,23}(:[a-zA-Z][a-zA-Z0-9_-]{0,14})?$")]


class LinkSpec(Strict):
    """A cable between two endpoints "node:iface" (or "switch" alone: the switch adds a port)."""

    endpoints: tuple[Endpoint, Endpoint]
    subnet: ipaddress.IPv4Network | None = None
    subnet6: ipaddress.IPv6Network | None = None
    mtu: Annotated[int, Field(ge=68, le=65535)] | None = None
    impair: ImpairField = Field(default=None, description=(
        "delay, jitter, loss, duplicate, reorder, corrupt, rate for both directions, or keyed by the end "
        "whose egress is impaired ({a:eth1: {loss: 10%}}); {} makes the link changeable at run time"))

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return {"endpoints": value}
        return value

    @model_validator(mode="after")
    def _impair_ends(self) -> LinkSpec:
        for end in (self.impair.per_end if self.impair else {}):
            if end not in self.endpoints:
                raise ValueError(f"impair: {end!r} is not an end of this link (ends: {', '.join(self.endpoints)})")
        return self


class ReadySpec(Strict):
    """How the runner knows a background step is ready, instead of sleeping."""

    tcp_listen: Annotated[int, Field(ge=1, le=65535)] | None = None
    udp_bound: Annotated[int, Field(ge=1, le=65535)] | None = None
    raw_bound: Annotated[int, Field(ge=0, le=255)] | None = Field(
        default=None, description="an IP protocol number a raw socket is open for"
    )
    output: str | None = Field(default=None, description="a regex matched against stdout/stderr lines")
    file: CommandText | None = Field(default=None, description="a path, relative to the step's workspace")
    timeout: Duration = 5.0

    @model_validator(mode="after")
    def _one_condition(self) -> ReadySpec:
        given = [k for k in ("tcp_listen", "udp_bound", "raw_bound", "output", "file") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of tcp_listen, udp_bound, raw_bound, output, file")
        if self.output is not None and (problem := regex_problem(self.output)) is not None:
            raise ValueError(f"output: bad regex: {problem}")
        return self


class StepSpec(Strict):
    """One scenario step: a command run on a node, or a change to a link (`link:`)."""

    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")] | None = None
    node: Name = Field(default="", description="where the command runs (a link step: the node of `link`)")
    run: str | list[str] | None = Field(default=None, description="a shell-like command line, or an argv list")
    link: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,23}:[a-zA-Z][a-zA-Z0-9_-]{0,14}$")] | None = Field(
        default=None, description="a link step: the link of this end (node:iface) goes down/up or changes")
    at: Time | None = Field(default=None, description="a link step: seconds after the scenario starts "
                            "(default: after the step before it)")
    down: bool | None = None
    up: bool | None = None
    impair: Impairment | None = Field(default=None, description="a link step: the impairment of frames "
                                      "leaving `link` from now on")
    reset: bool | None = Field(default=None, description="a link step: back to the lab file's impairment")
    env: dict[EnvName, CommandText] = {}
    cwd: CommandText | None = Field(default=None, description="relative to the run's workspace")
    background: bool = False
    ready: ReadySpec | None = None
    timeout: Duration = 10.0
    exit_code: int | None = Field(
        default=0, description="expected exit code of a foreground step (null: any)"
    )

    @field_validator("cwd")
    @classmethod
    def _cwd_in_workspace(cls, value: str | None) -> str | None:
        if value is not None and (value.startswith("/") or ".." in value.split("/")):
            raise ValueError(f"cwd {value!r} must be a folder inside the run's workspace (relative, no '..')")
        return value

    @field_validator("run")
    @classmethod
    def _run_has_no_nul(cls, value: str | list[str] | None) -> str | list[str] | None:
        for text in [value] if isinstance(value, str) else value or []:
            _no_nul(text)
        return value

    @model_validator(mode="before")
    @classmethod
    def _link_node(cls, value: Any) -> Any:
        if isinstance(value, dict) and isinstance(value.get("link"), str) and "node" not in value:
            return {**value, "node": value["link"].partition(":")[0]}
        return value

    @property
    def link_action(self) -> str | None:
        """down, up, impair or reset for a link step; None for a command."""
        return link_action_of(self.down, self.up, self.impair, self.reset) if self.link else None

    @model_validator(mode="after")
    def _ready_only_in_background(self) -> StepSpec:
        if self.link is not None:
            if self.run is not None or self.background or self.ready is not None:
                raise ValueError("a link step changes a link; run:, background: and ready: belong to commands")
            if self.link_action is None:
                raise ValueError("a link step does exactly one of down: true, up: true, impair: {...}, reset: true")
            if self.node != self.link.partition(":")[0]:
                raise ValueError("a link step's node is the node of its link end")
            return self
        if self.run is None:
            raise ValueError("a step needs run: (a command) or link: (a link change)")
        if not self.node:
            raise ValueError("a command step needs node: (where it runs)")
        if self.at is not None or any(v is not None for v in (self.down, self.up, self.impair, self.reset)):
            raise ValueError("at:, down:, up:, impair: and reset: belong to link steps (link: node:iface)")
        if self.ready is not None and not self.background:
            raise ValueError("ready: applies to background steps only")
        if isinstance(self.run, list) and not self.run:
            raise ValueError("run: an empty command")
        return self


ByteSize = Annotated[Size, Field(ge=4096, le=256 << 20)]
"""A capture ring: one size syntax everywhere (model.grading.parse_size: 64k, 4M, 65536)."""


class CaptureSpec(Strict):
    """A capture point: "node:iface", optionally with a BPF filter and a kernel ring size."""

    on: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,23}:[a-zA-Z][a-zA-Z0-9_-]{0,14}$")]
    filter: str | None = None
    buffer: ByteSize | None = Field(default=None, description="kernel ring for this capture point, e.g. 4MiB (default: sized by socklab); packets that do not fit are counted as dropped")

    @field_validator("filter")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        """A filter libpcap rejects is a lab file error, found when the lab loads (not after up)."""
        if value is not None:
            from socklab.bpf import filter_problem  # ctypes and libpcap only for labs with filters

            if (problem := filter_problem(value)) is not None:
                raise ValueError(problem)
        return value

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, value: Any) -> Any:
        if isinstance(value, dict) and True in value and "on" not in value:
            value = {("on" if k is True else k): v for k, v in value.items()}  # YAML 1.1 reads `on:` as true
        return {"on": value} if isinstance(value, str) else value


class LabSpec(Strict):
    """A lab file, as written."""

    name: Name
    description: str = ""
    backend: Literal["netns", "docker"] = "netns"
    seed: Seed = Field(default=0, description="every random choice of impaired links derives from it")
    nodes: dict[Name, NodeSpec]
    links: list[LinkSpec] = []
    faults: list[FaultSpec] = Field(default=[], description=(
        "exact faults: {drop|corrupt|delay|duplicate: MATCH, nth: [2, 5], link: node:iface, offset:, by:}"))
    scenario: list[StepSpec] = []
    capture: list[CaptureSpec] | Literal["all", "none"] = "all"
    expect: Expectations = []
    grading: GradingSpec | None = None

    @field_validator("nodes")
    @classmethod
    def _some_nodes(cls, value: dict[str, NodeSpec]) -> dict[str, NodeSpec]:
        if not value:
            raise ValueError("a lab needs at least one node")
        return value

    @field_validator("nodes", mode="before")
    @classmethod
    def _empty_node_bodies(cls, value: Any) -> Any:
        """`client:` with nothing after it is a host with defaults."""
        if isinstance(value, dict):
            return {k: ({} if v is None else v) for k, v in value.items()}
        return value
