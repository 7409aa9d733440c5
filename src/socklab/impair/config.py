"""What the relay needs to know, as plain JSON: directions, impairments, faults, seed, nodes.

Built in the socklab process from the resolved Lab and its Plan, read by the relay process.
"""

from __future__ import annotations

import hashlib
from typing import Any

from socklab.model.impair import Impairment
from socklab.model.lab import Lab
from socklab.plan import Plan


def direction_seed(seed: int, link: int, end: str) -> int:
    """The PRNG seed of one link-direction: the same lab seed always gives the same stream."""
    digest = hashlib.sha256(f"{seed}/{link}/{end}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def impairment_dict(imp: Impairment) -> dict[str, Any]:
    return imp.model_dump()


def relay_config(lab: Lab, plan: Plan, events: str, control: str) -> dict[str, Any]:
    """One entry per direction of every relayed link, keyed by the end whose egress it is."""
    assert plan.relay is not None
    links = {lk.index: lk for lk in lab.links}
    directions = []
    for relayed in plan.relay.links:
        link = links[relayed.index]
        for end, rx, tx, peer in ((relayed.a, relayed.a_side, relayed.b_side, relayed.b),
                                  (relayed.b, relayed.b_side, relayed.a_side, relayed.a)):
            imp = link.impair.for_end(end) if link.impair else Impairment()
            faults = [
                {"index": f.index, "action": f.spec.action, "nth": sorted(set(f.spec.nth)),
                 "match": f.spec.match.model_dump(by_alias=True, exclude_none=True),
                 "offset": f.spec.offset, "by": f.spec.by}
                for f in lab.faults if f.on == end
            ]
            directions.append({
                "link": relayed.index, "end": end, "peer": peer, "rx": rx, "tx": tx,
                "impair": impairment_dict(imp), "faults": faults,
                "seed": direction_seed(lab.seed, relayed.index, end),
            })
    nodes = {
        n.name: {"kind": n.kind, "interfaces": {
            i.name: {"mac": i.mac, "ipv4": [a.split("/")[0] for a in i.ipv4], "ipv6": [a.split("/")[0] for a in i.ipv6]}
            for i in n.interfaces}}
        for n in plan.nodes
    }
    return {"netns": plan.relay.netns, "seed": lab.seed, "directions": directions, "nodes": nodes,
            "events": events, "control": control}
