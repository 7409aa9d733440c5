"""LabSpec -> Lab: wire links to interfaces, allocate addresses, check cross-references.

Errors carry the field path so the loader can name the YAML line.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from socklab.model.expectations import to_plain
from socklab.model.lab import CapturePoint, Fault, IfaceRef, Interface, Lab, Link, Node, Route, Step
from socklab.model.spec import InterfaceSpec, LabSpec, LinkSpec, NodeSpec

FieldPath = tuple[str | int, ...]


class ResolveError(ValueError):
    def __init__(self, path: FieldPath, message: str):
        self.path, self.message = path, message
        super().__init__(message)


@dataclass
class _Draft:
    """An interface while links are being wired."""

    node: str
    name: str
    link: int
    peer: tuple[str, str] = ("", "")
    ipv4: list[ipaddress.IPv4Interface] = field(default_factory=list)
    ipv6: list[ipaddress.IPv6Interface] = field(default_factory=list)
    mac: str | None = None
    mtu: int | None = None


def resolve(spec: LabSpec, source: Path | None = None) -> Lab:
    drafts = _wire_links(spec)
    _check_declared_interfaces(spec, drafts)
    # Indexes by link and by node, so that nothing below scans every interface per link
    # or per node (issue 15: that made loading a 10,000-node lab quadratic).
    by_link: dict[int, list[_Draft]] = {}
    by_node: dict[str, list[_Draft]] = {}
    for draft in drafts.values():  # insertion order: a link's ends in endpoint order
        by_link.setdefault(draft.link, []).append(draft)
        by_node.setdefault(draft.node, []).append(draft)
    _allocate(spec, by_link)
    _check_addresses(spec, drafts)
    nodes = tuple(_build_node(name, node, by_node.get(name, [])) for name, node in spec.nodes.items())
    _check_routes(spec, nodes)
    scenario = _resolve_scenario(spec)
    faults = _place_faults(spec, drafts)
    relayed = {f.link for f in faults} | {drafts[(s.link.node, s.link.iface)].link for s in scenario if s.link}
    links = tuple(
        Link(index=i, a=_key(by_link[i][0]), b=_key(by_link[i][1]), mtu=link.mtu, impair=link.impair,
             relayed=link.impair is not None or i in relayed, subnets=_subnets(link))
        for i, link in enumerate(spec.links)
    )
    captures = _resolve_captures(spec, nodes)
    _check_expectations(spec, scenario, captures)
    _check_grading(spec, scenario)
    return Lab(
        name=spec.name,
        description=spec.description,
        backend=spec.backend,
        nodes=nodes,
        links=links,
        scenario=scenario,
        captures=captures,
        expect=tuple(to_plain(e) for e in spec.expect),
        grading=spec.grading,
        spec=spec,
        source=source,
        seed=spec.seed,
        faults=faults,
        reference=spec.grading.reference if spec.grading else Lab.reference,
    )


def _split(spec: LabSpec, endpoint: str, link: int, end: int, default: str | None) -> tuple[str, str]:
    node, _, iface = endpoint.partition(":")
    if node not in spec.nodes:
        known = ", ".join(spec.nodes)
        raise ResolveError(("links", link, "endpoints", end), f"unknown node {node!r} (nodes: {known})")
    return node, iface or (default or "")


def _wire_links(spec: LabSpec) -> dict[tuple[str, str], _Draft]:
    drafts: dict[tuple[str, str], _Draft] = {}
    ports = {name: 0 for name, n in spec.nodes.items() if n.kind == "switch"}
    order: list[tuple[int, int, tuple[str, str]]] = []
    for i, link in enumerate(spec.links):
        ends = []
        for end, endpoint in enumerate(link.endpoints):
            node, iface = _split(spec, endpoint, i, end, None)
            if not iface:
                if spec.nodes[node].kind == "switch":
                    ports[node] += 1
                    iface = f"swp{ports[node]}"
                    while (node, iface) in drafts:
                        ports[node] += 1
                        iface = f"swp{ports[node]}"
                else:
                    iface = "eth0"
            if (node, iface) in drafts:
                other = drafts[(node, iface)].link
                raise ResolveError(
                    ("links", i, "endpoints", end),
                    f"interface {node}:{iface} is already used by link {other}",
                )
            drafts[(node, iface)] = _Draft(node=node, name=iface, link=i, mtu=link.mtu)
            ends.append((node, iface))
            order.append((i, end, (node, iface)))
        if ends[0][0] == ends[1][0]:
            raise ResolveError(("links", i), f"a link from {ends[0][0]} to itself")
        drafts[ends[0]].peer, drafts[ends[1]].peer = ends[1], ends[0]
    for name, node in spec.nodes.items():
        for iface_name, ispec in _declared(name, node):
            draft = drafts.get((name, iface_name))
            if draft is not None:
                draft.ipv4 = list(ispec.ipv4)
                draft.ipv6 = list(ispec.ipv6)
                draft.mac = ispec.mac
                draft.mtu = ispec.mtu or draft.mtu
    return drafts


def _declared(name: str, node: NodeSpec) -> Iterator[tuple[str, InterfaceSpec]]:
    if node.ip or node.ip6:
        yield "eth0", InterfaceSpec(ipv4=node.ip, ipv6=node.ip6)
    yield from node.interfaces.items()


def _check_declared_interfaces(spec: LabSpec, drafts: dict[tuple[str, str], _Draft]) -> None:
    for name, node in spec.nodes.items():
        for iface_name, _ in _declared(name, node):
            if (name, iface_name) not in drafts:
                where = ("nodes", name, "ip") if iface_name == "eth0" and (node.ip or node.ip6) else (
                    "nodes", name, "interfaces", iface_name)
                raise ResolveError(where, f"interface {name}:{iface_name} is not connected by any link")


def _allocate(spec: LabSpec, by_link: dict[int, list[_Draft]]) -> None:
    """Give addresses from link and switch subnets to interfaces that have none, in link order.

    Addresses are handled as (version, int) here: building and printing ipaddress objects
    was most of the load time of a 1000-node lab (issue 13).
    """
    taken = {(a.version, int(a)) for ends in by_link.values() for d in ends for a in (*d.ipv4, *d.ipv6)}
    pools: dict[tuple[str, int | str], Iterator[int]] = {}

    def next_free(key: tuple[str, int | str], net: ipaddress.IPv4Network | ipaddress.IPv6Network, path: FieldPath):
        pool = pools.get(key)
        if pool is None:
            pool = pools[key] = _host_ints(net)
        for addr in pool:
            if (net.version, addr) not in taken:
                taken.add((net.version, addr))
                return ipaddress.ip_interface((addr, net.prefixlen))  # from an int: nothing to parse
        raise ResolveError(path, f"subnet {net} has no free address left")

    nodes = spec.nodes
    for i, link in enumerate(spec.links):
        ends = by_link[i]
        if ends[0].node != link.endpoints[0].partition(":")[0]:
            ends = ends[::-1]  # in endpoint order
        for draft in ends:
            if nodes[draft.node].kind == "switch":
                continue
            peer = nodes[draft.peer[0]]
            lan4 = peer.subnet if peer.kind == "switch" else None
            lan6 = peer.subnet6 if peer.kind == "switch" else None
            sources4 = ((("link", i), link.subnet, ("links", i, "subnet")), (("switch", draft.peer[0]), lan4, ("nodes", draft.peer[0], "subnet")))
            sources6 = ((("link6", i), link.subnet6, ("links", i, "subnet6")), (("switch6", draft.peer[0]), lan6, ("nodes", draft.peer[0], "subnet6")))
            for key, net, path in sources4:
                if net is not None:
                    _must_fit(draft, draft.ipv4, net, path)
                    if not draft.ipv4:
                        draft.ipv4.append(next_free(key, net, path))
            for key, net, path in sources6:
                if net is not None:
                    _must_fit(draft, draft.ipv6, net, path)
                    if not draft.ipv6:
                        draft.ipv6.append(next_free(key, net, path))


def _host_ints(net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> Iterator[int]:
    """The addresses `net.hosts()` yields, in its order, as ints (no object per address)."""
    first = int(net.network_address)
    last = first + (1 << (net.max_prefixlen - net.prefixlen)) - 1
    if net.prefixlen >= net.max_prefixlen - 1:  # /31, /32, /127, /128: every address is a host
        return iter(range(first, last + 1))
    if net.version == 4:  # neither the network nor the broadcast address
        return iter(range(first + 1, last))
    return iter(range(first + 1, last + 1))  # IPv6: all but the Subnet-Router anycast address


def _must_fit(draft: _Draft, addrs: list, net: ipaddress.IPv4Network | ipaddress.IPv6Network, path: FieldPath) -> None:
    for addr in addrs:
        if addr.network != net:
            raise ResolveError(
                _iface_path(draft), f"address {addr} of {draft.node}:{draft.name} is outside its subnet {net}"
            )


def _iface_path(draft: _Draft) -> FieldPath:
    return ("nodes", draft.node)


def _check_addresses(spec: LabSpec, drafts: dict[tuple[str, str], _Draft]) -> None:
    seen: dict[tuple[int, int], tuple[str, str]] = {}
    for key, draft in drafts.items():
        for addr in (*draft.ipv4, *draft.ipv6):
            net = addr.network
            ip = (addr.version, int(addr))
            if ip[1] == int(net.network_address) and net.prefixlen < addr.max_prefixlen - 1:
                raise ResolveError(_iface_path(draft), f"{addr} of {draft.node}:{draft.name} is a network address, not a host address")
            if ip in seen:
                other = seen[ip]
                raise ResolveError(
                    _iface_path(draft),
                    f"duplicate address {addr.ip}: on {other[0]}:{other[1]} and {draft.node}:{draft.name}",
                )
            seen[ip] = key
    for key, draft in drafts.items():
        peer = drafts[draft.peer]
        if spec.nodes[draft.node].kind == "switch" or spec.nodes[peer.node].kind == "switch":
            continue
        if key > draft.peer:
            continue
        for mine, theirs in ((draft.ipv4, peer.ipv4), (draft.ipv6, peer.ipv6)):
            if mine and theirs and not any(a.network == b.network for a in mine for b in theirs):
                raise ResolveError(
                    ("links", draft.link),
                    f"the two ends of link {draft.link} are in different subnets: "
                    f"{draft.node}:{draft.name} {mine[0]} and {peer.node}:{peer.name} {theirs[0]}",
                )


def _build_node(name: str, spec: NodeSpec, drafts: list[_Draft]) -> Node:
    mine = sorted(drafts, key=lambda d: (d.link, d.name))
    interfaces = tuple(
        Interface(
            node=name, name=d.name, link=d.link, peer_node=d.peer[0], peer_iface=d.peer[1],
            ipv4=tuple(d.ipv4), ipv6=tuple(d.ipv6), mac=d.mac, mtu=d.mtu,
        )
        for d in mine
    )
    routes = []
    for r in spec.routes:
        if r.to == "default":
            to = ipaddress.ip_network("0.0.0.0/0" if r.via.version == 4 else "::/0")
        else:
            to = ipaddress.ip_network(r.to)
        routes.append(Route(to=to, via=r.via))
    return Node(
        name=name, kind=spec.kind, interfaces=interfaces, routes=tuple(routes),
        sysctls=tuple((k, str(v)) for k, v in spec.sysctls.items()),
        image=spec.image, raw_sockets=spec.raw_sockets, subnets=_subnets(spec),
    )


def _subnets(spec: NodeSpec | LinkSpec) -> tuple[str, ...]:
    return tuple(str(net) for net in (spec.subnet, spec.subnet6) if net is not None)


def _key(draft: _Draft) -> IfaceRef:
    return IfaceRef(draft.node, draft.name)


def _check_routes(spec: LabSpec, nodes: tuple[Node, ...]) -> None:
    for node in nodes:
        nets = [a.network for i in node.interfaces for a in (*i.ipv4, *i.ipv6)]
        for index, route in enumerate(node.routes):
            if route.to.version != route.via.version:
                raise ResolveError(("nodes", node.name, "routes", index), f"route to {route.to} via {route.via}: mixed IP versions")
            if not any(route.via in net for net in nets):
                raise ResolveError(
                    ("nodes", node.name, "routes", index, "via"),
                    f"gateway {route.via} is not on any subnet of {node.name} "
                    f"({', '.join(map(str, nets)) or 'it has no addresses'})",
                )


def _place_faults(spec: LabSpec, drafts: dict[tuple[str, str], _Draft]) -> tuple[Fault, ...]:
    """Check each fault's names and decide the end whose egress it sits on."""
    placed = []
    for index, fault in enumerate(spec.faults):
        where: FieldPath = ("faults", index)
        for name in sorted(_matcher_nodes(fault.match) - set(spec.nodes)):
            raise ResolveError((*where, fault.action), f"unknown node {name!r} (nodes: {', '.join(spec.nodes)})")
        if fault.link is not None:
            end = tuple(fault.link.split(":"))
            if end not in drafts:
                raise ResolveError((*where, "link"), f"no interface {fault.link} in this lab")
        else:
            sender = _split_endpoint_node(fault.match.from_)
            if sender is None or sender not in spec.nodes:
                raise ResolveError(where, "say on which link end the fault sits: link: node:iface "
                                          "(or give from: a node with one interface)")
            ends = [k for k in drafts if k[0] == sender]
            if len(ends) != 1:
                raise ResolveError(where, f"{sender} has {len(ends)} interfaces; say which one with link: node:iface")
            end = ends[0]
        placed.append(Fault(index=index, spec=fault, on=":".join(end), link=drafts[end].link))
    return tuple(placed)


def _split_endpoint_node(endpoint: str | None) -> str | None:
    if endpoint is None:
        return None
    from socklab.model.expectations import split_endpoint

    host, _ = split_endpoint(endpoint)
    name = host.split(":")[0] if host.count(":") == 1 else host
    return name


def _matcher_nodes(match) -> set[str]:
    from socklab.model.expectations import Expectation

    probe = Expectation(id="fault", title="fault", packet=match)
    return probe.references()["nodes"]


def _resolve_scenario(spec: LabSpec) -> tuple[Step, ...]:
    ids: set[str] = set()
    steps = []
    for index, step in enumerate(spec.scenario):
        if step.link is not None:
            node, _, iface = step.link.partition(":")
            if node not in spec.nodes:
                raise ResolveError(("scenario", index, "link"), f"unknown node {node!r}")
            if not any(node == a.partition(":")[0] and (a.partition(":")[2] or "eth0") == iface
                       for lk in spec.links for a in lk.endpoints):
                raise ResolveError(("scenario", index, "link"), f"no link ends at {step.link}")
        if step.node not in spec.nodes:
            raise ResolveError(("scenario", index, "node"), f"unknown node {step.node!r}")
        if spec.nodes[step.node].kind == "switch" and step.link is None:
            raise ResolveError(("scenario", index, "node"), f"{step.node} is a switch; steps run on hosts and routers")
        resolved = Step.from_spec(step, index)
        if resolved.id in ids:
            raise ResolveError(("scenario", index, "id"), f"duplicate step id {resolved.id!r}")
        ids.add(resolved.id)
        steps.append(resolved)
    return tuple(steps)


def _resolve_captures(spec: LabSpec, nodes: tuple[Node, ...]) -> tuple[CapturePoint, ...]:
    if spec.capture == "none":
        return ()
    if spec.capture == "all":
        return tuple(CapturePoint(n.name, i.name) for n in nodes if n.kind != "switch" for i in n.interfaces)
    by_name = {n.name: n for n in nodes}
    points = []
    for index, cap in enumerate(spec.capture):
        ref = IfaceRef.parse(cap.on)
        point = CapturePoint(ref.node, ref.iface, cap.filter, cap.buffer)
        node = by_name.get(point.node)
        if node is None or not any(i.name == point.iface for i in node.interfaces):
            raise ResolveError(("capture", index), f"no interface {cap.on} in this lab")
        points.append(point)
    return tuple(points)


def _check_expectations(spec: LabSpec, scenario: tuple[Step, ...], captures: tuple[CapturePoint, ...]) -> None:
    """Expectations may only name the lab's nodes, steps and captures."""
    steps = {step.id for step in scenario}
    points = {str(c) for c in captures}
    for index, expectation in enumerate(spec.expect):
        refs = expectation.references()
        for node in sorted(refs["nodes"] - set(spec.nodes)):
            raise ResolveError(("expect", index), f"{expectation.id}: unknown node {node!r}")
        for step in sorted(refs["steps"] - steps):
            raise ResolveError(("expect", index), f"{expectation.id}: unknown step {step!r} (steps: {', '.join(sorted(steps))})")
        for cap in sorted(refs["captures"]):
            if ":" in cap and cap not in points:
                raise ResolveError(("expect", index), f"{expectation.id}: {cap} is not captured (captures: {', '.join(sorted(points)) or 'none'})")
    _check_needs(spec)


def _check_needs(spec: LabSpec) -> None:
    """`needs` names expectations of this lab, and prerequisites never form a cycle."""
    index = {e.id: i for i, e in enumerate(spec.expect)}
    for i, expectation in enumerate(spec.expect):
        for j, need in enumerate(expectation.needs):
            if need not in index:
                raise ResolveError(("expect", i, "needs", j), f"{expectation.id} needs unknown expectation {need!r} "
                                                              f"(expectations: {', '.join(index)})")
    state: dict[str, int] = {}  # 1: being visited, 2: done

    def visit(eid: str, path: list[str]) -> None:
        state[eid] = 1
        exp = spec.expect[index[eid]]
        for j, need in enumerate(exp.needs):
            if need == eid:
                raise ResolveError(("expect", index[eid], "needs", j), f"{eid} needs itself")
            if state.get(need) == 1:
                cycle = [*path[path.index(need):], eid, need] if need in path else [eid, need]
                raise ResolveError(("expect", index[eid], "needs", j), f"needs form a cycle: {' -> '.join(cycle)}")
            if need not in state:
                visit(need, [*path, eid])
        state[eid] = 2

    for e in spec.expect:
        if e.id not in state:
            visit(e.id, [])


def _check_grading(spec: LabSpec, scenario: tuple[Step, ...]) -> None:
    if spec.grading is None:
        return
    steps = {step.id for step in scenario}
    checks = {e.id for e in spec.expect}
    for name, file_spec in spec.grading.files.items():
        for step in file_spec.steps:
            if step not in steps:
                raise ResolveError(("grading", "files", name, "steps"), f"unknown step {step!r} (steps: {', '.join(sorted(steps))})")
        for check in file_spec.checks or []:
            if check not in checks:
                raise ResolveError(("grading", "files", name, "checks"), f"unknown expectation {check!r}")
    for index, pairing in enumerate(spec.grading.pairings):
        for check in pairing.checks or []:
            if check not in checks:
                raise ResolveError(("grading", "pairings", index, "checks"), f"unknown expectation {check!r}")
    for section in ("points", "visibility"):
        for check in getattr(spec.grading, section):
            if check not in checks:
                raise ResolveError(("grading", section, check), f"unknown expectation {check!r} (expectations: {', '.join(sorted(checks))})")
