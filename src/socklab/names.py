"""Every name and label socklab gives to kernel and Docker objects comes from here.

Ownership is by prefix and label, never by pattern matching on someone else's names:
`gc` only touches objects whose names start with PREFIX or that carry LABEL_LAB.
"""

from __future__ import annotations

import hashlib

PREFIX = "sl-"
LABEL_LAB = "socklab.lab"  # docker label: the lab instance
LABEL_NODE = "socklab.node"
LABEL_LAB_NAME = "socklab.labname"
NETNS_SEPARATOR = "."  # never valid in lab, instance or node names, so names never collide

NAME_PATTERN = r"^[a-z][a-z0-9-]{0,23}$"
"""Node, lab and instance names: DNS-label-like, short enough for hostnames and kernel names
(the lab file's grammar, model/spec.py, and an instance name given on the command line)."""


RELAY_NODE = "~relay"
"""The hidden namespace of an instance's impaired links: `sl-<instance>.~relay` ('~' is never in a node name)."""


def is_relay_netns(name: str) -> bool:
    return name.startswith(PREFIX) and name.endswith(NETNS_SEPARATOR + RELAY_NODE)


def netns_name(instance: str, node: str) -> str:
    """`sl-<instance>.<node>`: readable in `ip netns list`; not an interface, so no 15-byte limit."""
    return f"{PREFIX}{instance}{NETNS_SEPARATOR}{node}"


def instance_of_netns(name: str) -> str | None:
    if not name.startswith(PREFIX) or NETNS_SEPARATOR not in name:
        return None
    return name[len(PREFIX):].rsplit(NETNS_SEPARATOR, 1)[0]


def container_name(instance: str, node: str) -> str:
    return netns_name(instance, node)


def mac_address(lab: str, node: str, iface: str) -> str:
    """Locally administered unicast MAC, stable across runs and instances of the same lab."""
    digest = hashlib.sha256(f"{lab}/{node}/{iface}".encode()).digest()
    return "02:" + ":".join(f"{b:02x}" for b in digest[:5])
