"""Impairments and faults in lab files: values, placement, plans, and one-line errors."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from socklab.errors import LabFileError
from socklab.impair.config import direction_seed, relay_config
from socklab.model.loader import parse_lab
from socklab.plan import make_plan

BASE = """
name: t
seed: 7
nodes:
  a: {{ip: 10.0.0.1/24}}
  r: {{kind: router, interfaces: {{eth0: {{ipv4: 10.0.0.2/24}}, eth1: {{ipv4: 10.0.1.1/24}}}}}}
  b: {{ip: 10.0.1.2/24}}
links:
  - endpoints: [a:eth0, r:eth0]
    impair: {impair}
  - [r:eth1, b:eth0]
faults: {faults}
scenario: {scenario}
"""


def lab(impair: str = "{}", faults: str = "[]", scenario: str = "[]"):
    return parse_lab(textwrap.dedent(BASE.format(impair=impair, faults=faults, scenario=scenario)), Path("lab.yaml"))


def error(**kw) -> str:
    with pytest.raises(LabFileError) as info:
        lab(**kw)
    return str(info.value)


def test_both_directions_or_per_end():
    both = lab("{delay: 100ms, jitter: 10ms, loss: 5%, duplicate: 1%, reorder: 2%, corrupt: 1%, rate: 1mbit}")
    imp = both.links[0].impair.for_end("a:eth0")
    assert (imp.delay, imp.jitter, imp.loss, imp.duplicate, imp.reorder, imp.corrupt, imp.rate) == (
        0.1, 0.01, 0.05, 0.01, 0.02, 0.01, 1e6)
    assert both.links[0].impair.for_end("r:eth0") == imp
    per = lab("{a:eth0: {loss: 10%}, r:eth0: {delay: 20ms}}").links[0].impair
    assert per.for_end("a:eth0").loss == 0.1 and per.for_end("a:eth0").delay == 0
    assert per.for_end("r:eth0").delay == 0.02 and per.for_end("r:eth0").loss == 0


@pytest.mark.parametrize("kw, message", [
    ({"impair": "{loss: 150%}"}, "lab.yaml:10: links[0].impair.loss: 150% is more than 100%"),
    ({"impair": "{delay: -5ms}"}, "lab.yaml:10: links[0].impair.delay: -5ms is negative"),
    ({"impair": "{a:eth0: {jitter: -1ms}}"}, "links[0].impair.a:eth0.jitter: -1ms is negative"),
    ({"impair": "{rate: fast}"}, "links[0].impair.rate: 'fast' is not a rate"),
    ({"impair": "{b:eth0: {loss: 1%}}"}, "'b:eth0' is not an end of this link"),
    ({"faults": "[{drop: {from: nosuch}, nth: 2}]"}, "lab.yaml:12: faults[0].drop: unknown node 'nosuch'"),
    ({"faults": "[{drop: {from: a, to: ghost}, nth: 2}]"}, "faults[0].drop: unknown node 'ghost'"),
    ({"faults": "[{drop: {from: r}, nth: 1}]"}, "r has 2 interfaces; say which one with link: node:iface"),
    ({"faults": "[{drop: {to: b}, nth: 1}]"}, "say on which link end the fault sits"),
    ({"faults": "[{delay: {from: a}, nth: 1}]"}, "a delay fault needs by:"),
    ({"faults": "[{drop: {from: a}, corrupt: {from: a}, nth: 1}]"}, "exactly one of drop, corrupt, delay, duplicate"),
    ({"faults": "[{drop: {from: a}, nth: 0}]"}, "faults[0].nth[0]"),
    ({"faults": "[{drop: {from: a}, nth: 1, link: a:eth9}]"}, "no interface a:eth9"),
    ({"scenario": "[{link: a:eth3, down: true}]"}, "no link ends at a:eth3"),
    ({"scenario": "[{link: a:eth0, down: true, up: true}]"}, "exactly one of down: true, up: true"),
    ({"scenario": "[{node: a, run: 'true', at: 1s}]"}, "belong to link steps"),
])
def test_bad_input_is_one_line_naming_file_line_and_field(kw, message):
    text = error(**kw)
    assert message in text and "\n" not in text


def test_faults_are_placed_on_the_senders_link():
    loaded = lab(faults="[{drop: {from: a, udp: {}}, nth: [2, 5]}, {corrupt: {from: b}, nth: 3, offset: 40},"
                        " {delay: {from: r}, nth: 1, by: 300ms, link: r:eth1}]")
    assert [(f.on, f.link, f.spec.action) for f in loaded.faults] == [
        ("a:eth0", 0, "drop"), ("b:eth0", 1, "corrupt"), ("r:eth1", 1, "delay")]
    assert loaded.faults[0].spec.nth == [2, 5] and loaded.faults[2].spec.by == 0.3
    # a fault or a link step makes its link relayed
    assert [lk.relayed for lk in loaded.links] == [True, True]
    assert [lk.relayed for lk in lab(impair="null").links] == [False, False]
    assert [lk.relayed for lk in lab(impair="null", scenario="[{link: b:eth0, down: true}]").links] == [False, True]


def test_plan_puts_impaired_links_through_one_relay_namespace_deterministically():
    loaded = lab("{loss: 1%}")
    plan = make_plan(loaded, "x")
    assert plan.relay is not None and plan.relay.netns == "sl-x.~relay"
    (relayed,) = plan.relay.links
    assert (relayed.index, relayed.a, relayed.b, relayed.a_side, relayed.b_side) == (0, "a:eth0", "r:eth0", "l0a", "l0b")
    indexes = [i.index for n in plan.nodes for i in n.interfaces]
    assert relayed.a_side_index not in indexes and relayed.b_side_index not in indexes
    assert make_plan(loaded, "x").to_json() == plan.to_json()
    assert make_plan(lab("null"), "x").relay is None


def test_relay_config_seeds_each_direction_apart():
    loaded = lab("{a:eth0: {loss: 30%}}", faults="[{drop: {from: a}, nth: 2}]")
    config = relay_config(loaded, make_plan(loaded, "x"), "events", "control")
    ends = {d["end"]: d for d in config["directions"]}
    assert ends["a:eth0"]["impair"]["loss"] == 0.3 and ends["r:eth0"]["impair"]["loss"] == 0
    assert ends["a:eth0"]["seed"] == direction_seed(7, 0, "a:eth0") != ends["r:eth0"]["seed"]
    assert ends["a:eth0"]["faults"][0]["match"] == {"from": "a"} and not ends["r:eth0"]["faults"]
    assert (ends["a:eth0"]["rx"], ends["a:eth0"]["tx"]) == ("l0a", "l0b")
