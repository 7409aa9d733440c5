"""Plans: deterministic, unique, within the kernel's limits — for written and generated labs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from socklab.errors import UsageError
from socklab.model.loader import load_lab, parse_lab
from socklab.plan import Plan, make_plan

LABS = Path(__file__).resolve().parents[2] / "labs"


def check_plan_invariants(plan) -> None:
    netns = [n.netns for n in plan.nodes]
    assert len(set(netns)) == len(netns)
    assert all(n.startswith("sl-") for n in netns)
    macs = [i.mac for n in plan.nodes for i in n.interfaces]
    assert len(set(macs)) == len(macs)
    assert all(int(m.split(":")[0], 16) & 0b11 == 0b10 for m in macs), "locally administered unicast"
    indexes = [i.index for n in plan.nodes for i in n.interfaces] + [n.bridge_index for n in plan.nodes if n.bridge]
    assert len(set(indexes)) == len(indexes) and min(indexes, default=2) >= 2
    for node in plan.nodes:
        names = [i.name for i in node.interfaces]
        assert len(set(names)) == len(names)
        assert all(len(name.encode()) <= 15 for name in names)
        for iface in node.interfaces:
            peer_node, peer_if = iface.peer.split(":")
            assert plan.node(peer_node).interface(peer_if).peer == f"{node.name}:{iface.name}"
    addresses = [a.split("/")[0] for n in plan.nodes for i in n.interfaces for a in i.ipv4 + i.ipv6]
    assert len(set(addresses)) == len(addresses)


def test_shipped_lab_plans_are_deterministic_byte_for_byte():
    for path in sorted(LABS.glob("*/lab.yaml")):
        first = make_plan(load_lab(path)).to_json()
        second = make_plan(load_lab(path)).to_json()
        assert first == second
        check_plan_invariants(make_plan(load_lab(path)))


def test_instances_differ_in_kernel_names_only():
    lab = load_lab(LABS / "tcp-hello")
    a, b = make_plan(lab, "one"), make_plan(lab, "two")
    assert {n.netns for n in a.nodes}.isdisjoint({n.netns for n in b.nodes})
    assert [i.mac for n in a.nodes for i in n.interfaces] == [i.mac for n in b.nodes for i in n.interfaces]
    assert [i.ipv4 for n in a.nodes for i in n.interfaces] == [i.ipv4 for n in b.nodes for i in n.interfaces]


def test_routers_forward_switches_are_silent_everyone_skips_dad():
    plan = make_plan(parse_lab(
        "name: t\nnodes:\n  r: {kind: router}\n  s: {kind: switch}\n  h: {}\nlinks: [[r, s], [h, s]]\n"
    ))
    assert plan.node("r").sysctls["net.ipv4.ip_forward"] == "1"
    assert plan.node("s").sysctls["net.ipv6.conf.default.disable_ipv6"] == "1"
    assert plan.node("s").bridge == "br0"
    assert all(n.sysctls["net.ipv6.conf.default.accept_dad"] == "0" for n in plan.nodes)
    assert "net.ipv4.ip_forward" not in plan.node("h").sysctls


def test_hosts_file_names_every_address():
    plan = make_plan(load_lab(LABS / "routed"))
    hosts = plan.hosts_file()
    assert "10.0.2.10\tserver" in hosts and "10.0.1.1\trouter" in hosts and "10.0.2.1\trouter" in hosts


# -- generated labs ---------------------------------------------------------------------------

node_names = st.lists(
    st.from_regex(r"[a-z][a-z0-9-]{0,10}", fullmatch=True), min_size=2, max_size=12, unique=True
)


@st.composite
def lab_files(draw) -> str:
    """Chains and stars of hosts (+ optional switch), addressed explicitly or from subnets."""
    names = draw(node_names)
    shape = draw(st.sampled_from(["chain", "star", "pairs"]))
    nodes: dict = {}
    links: list = []
    if shape == "star":
        nodes["hub"] = {"kind": "switch", "subnet": "10.50.0.0/24", "subnet6": "fd50::/64"}
        names = [n for n in names if n != "hub"]
        for name in names:
            nodes[name] = {}
            links.append([name, "hub"])
    elif shape == "chain":
        for i, name in enumerate(names):
            nodes[name] = {"kind": "router" if 0 < i < len(names) - 1 else "host"}
        for i in range(len(names) - 1):
            a_if = "eth1" if i > 0 else "eth0"
            links.append({"endpoints": [f"{names[i]}:{a_if}", f"{names[i + 1]}:eth0"],
                          "subnet": f"10.{i // 256}.{i % 256}.0/24"})
    else:
        for i in range(0, len(names) - 1, 2):
            a, b = names[i], names[i + 1]
            nodes[a] = {"ip": f"172.16.{i}.1/24"}
            nodes[b] = {"ip": f"172.16.{i}.2/24"}
            links.append([f"{a}:eth0", f"{b}:eth0"])
        if len(names) % 2:
            nodes[names[-1]] = {}
    return yaml.safe_dump({"name": draw(st.from_regex(r"[a-z][a-z0-9-]{0,15}", fullmatch=True)),
                           "nodes": nodes, "links": links}, sort_keys=False)


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(text=lab_files(), instance=st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True))
def test_generated_labs_plan_deterministically_within_limits(text, instance):
    lab = parse_lab(text)
    plan = make_plan(lab, instance)
    assert plan.to_json() == make_plan(parse_lab(text), instance).to_json()
    check_plan_invariants(plan)
    for node in lab.nodes:
        for iface in node.interfaces:
            for addr in (*iface.ipv4, *iface.ipv6):
                assert addr.ip in addr.network and addr.ip != addr.network.network_address


@settings(max_examples=80, deadline=None)
@given(st.dictionaries(st.sampled_from(["name", "nodes", "links", "scenario", "capture", "bogus"]),
                       st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                                    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3),
                                    max_leaves=8)))
def test_arbitrary_input_gives_lab_file_error_never_a_crash(data):
    from socklab.errors import LabFileError

    try:
        parse_lab(yaml.safe_dump(data))
    except LabFileError as err:
        assert str(err).startswith("<lab>")


def test_bad_instance_names_are_refused():
    lab = load_lab(LABS / "tcp-hello")
    for bad in ("Bad", "a/b", "x" * 25, "-x", "a.b"):
        with pytest.raises(UsageError, match="instance name"):
            make_plan(lab, bad)


def test_a_plan_reads_back_from_its_json_as_the_same_plan():
    for path in sorted(LABS.glob("*/lab.yaml")):
        plan = make_plan(load_lab(path), "back-1")
        assert Plan.from_json(plan.to_json()) == plan, path


def test_plan_json_is_indented_in_field_order_with_text_as_is():
    plan = make_plan(parse_lab("name: t\nnodes: {a: {ip: 10.0.0.1/24}, b: {ip: 10.0.0.2/24}}\nlinks: [[a:eth0, b:eth0]]\n"))
    text = plan.to_json()
    assert text.startswith('{\n  "lab": "t",\n  "instance": "t",\n  "nodes": [\n    {\n      "name": "a",\n'
                           '      "kind": "host",\n      "netns": "sl-t.a",\n      "interfaces": [\n')
    assert '"relay": null\n}' in text and '"routes": [],' in text
    assert json.loads(text)["hosts"] == [{"address": "10.0.0.1", "name": "a"}, {"address": "10.0.0.2", "name": "b"}]


@pytest.mark.parametrize("change", [
    lambda d: d.pop("instance"),
    lambda d: d["nodes"][0].update(stray=1),
    lambda d: d["nodes"][0]["interfaces"][0].update(index="two"),
    lambda d: d.update(links="none"),
])
def test_a_plan_file_that_is_not_one_is_refused(change):
    data = json.loads(make_plan(load_lab(LABS / "tcp-hello")).to_json())
    change(data)
    with pytest.raises(ValueError):
        Plan.from_json(json.dumps(data))
