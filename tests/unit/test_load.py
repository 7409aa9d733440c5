"""Loading lab files: good ones resolve as written, bad ones give one clear line."""

from __future__ import annotations

import ipaddress
import textwrap
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from socklab.errors import LabFileError
from socklab.model.loader import find_lab_file, load_lab, parse_lab

LABS = Path(__file__).resolve().parents[2] / "labs"


def lab(text: str):
    return parse_lab(textwrap.dedent(text), Path("lab.yaml"))


def error_of(text: str) -> LabFileError:
    with pytest.raises(LabFileError) as info:
        lab(text)
    return info.value


def test_every_shipped_lab_loads():
    files = sorted(LABS.glob("*/lab.yaml"))
    assert files, "no shipped labs found"
    for path in files:
        loaded = load_lab(path.parent)
        assert loaded.name == path.parent.name, f"{path}: name should match its folder"


def test_shipped_lab_by_name():
    assert find_lab_file("tcp-hello") == LABS / "tcp-hello" / "lab.yaml"


def test_shorthand_ip_becomes_eth0_and_links_wire_peers():
    loaded = lab("""
        name: t
        nodes:
          a: {ip: 10.0.0.1/24, ip6: "fd00::1/64"}
          b: {ip: 10.0.0.2/24}
        links: [[a:eth0, b:eth0]]
    """)
    eth0 = loaded.node("a").interface("eth0")
    assert eth0.ipv4 == (ipaddress.IPv4Interface("10.0.0.1/24"),)
    assert eth0.ipv6 == (ipaddress.IPv6Interface("fd00::1/64"),)
    assert (eth0.peer_node, eth0.peer_iface) == ("b", "eth0")
    assert str(loaded.captures[0]) == "a:eth0" and loaded.captures[0].iface == "eth0"


def test_addresses_allocated_from_link_and_switch_subnets_in_order():
    loaded = lab("""
        name: t
        nodes:
          r: {kind: router, interfaces: {eth1: {}}}
          sw: {kind: switch, subnet: 192.168.5.0/24, subnet6: "fd05::/64"}
          h1: {}
          h2: {ip: 192.168.5.1/24}
          h3: {}
        links:
          - {endpoints: [r:eth1, h3:eth0], subnet: 10.9.0.0/30}
          - [h1, sw]
          - [h2, sw]
          - [r:eth0, sw]
    """)
    assert str(loaded.node("r").interface("eth1").ipv4[0]) == "10.9.0.1/30"
    assert str(loaded.node("h3").interface("eth0").ipv4[0]) == "10.9.0.2/30"
    assert str(loaded.node("h1").interface("eth0").ipv4[0]) == "192.168.5.2/24"  # .1 taken by h2
    assert str(loaded.node("r").interface("eth0").ipv4[0]) == "192.168.5.3/24"
    assert str(loaded.node("h1").interface("eth0").ipv6[0]) == "fd05::1/64"
    ports = [i.name for i in loaded.node("sw").interfaces]
    assert ports == ["swp1", "swp2", "swp3"]


@pytest.mark.parametrize(
    ("text", "line", "needle"),
    [
        ("name: t\nnodes:\n  a: {ip: 10.0.0.1/24}\nlinks:\n  - [a:eth0, ghost:eth0]\n", 5, "unknown node 'ghost'"),
        ("name: t\nnodes:\n  a: {}\n  b: {}\n  c: {}\nlinks:\n  - [a, b]\n  - [a, c]\n", 8, "already used"),
        ("name: t\nnodes:\n  a: {ip: 10.0.0.1/24}\n  b: {ip: 10.0.0.1/24}\nlinks: [[a, b]]\n", 4, "duplicate address 10.0.0.1"),
        ("name: t\nnodes:\n  a: {}\n  b: {ip: 10.1.0.2/24}\nlinks:\n  - {endpoints: [a, b], subnet: 10.0.0.0/24}\n", 4, "outside its subnet"),
        ("name: t\nnodes:\n  a:\n    interfaces:\n      averyveryverylongname: {}\n", 5, "interfaces"),
        ("name: t\nnodes:\n  a: {ip: 10.0.0.1/24}\n  b: {ip: 10.0.1.2/24}\nlinks: [[a, b]]\n", 5, "different subnets"),
        ("name: t\nnodes:\n  a: {ip: 10.0.0.1/24, routes: [{to: default, via: 10.9.9.9}]}\n  b: {}\nlinks: [[a, b]]\n", 3, "gateway 10.9.9.9"),
        ("name: t\nnodes:\n  a: {ip: 10.0.0.1/24}\n", 3, "not connected by any link"),
        ("name: t\nnodes:\n  a: {colour: red}\n", 3, "colour"),
        ("name: Bad_Name\nnodes:\n  a: {}\n", 1, "name"),
        ("name: t\nnodes: {}\n", 2, "at least one node"),
        ("name: t\nnodes:\n  a: {ip: [10.0.0.1/24\n", None, "invalid YAML"),
        ("- just\n- a list\n", 1, "mapping"),
        ("name: t\nnodes:\n  a: {}\n  b: {}\nlinks: [[a, b]]\nscenario:\n  - {node: c, run: 'true'}\n", 7, "unknown node 'c'"),
        ("name: t\nnodes:\n  a: {}\n  b: {}\nlinks: [[a, b]]\nscenario:\n  - {node: a, run: x, timeout: soon}\n", 7, "not a duration"),
        ("name: t\nnodes:\n  a: {sysctls: {kernel.panic: 1}}\n", 3, "net.*"),
        ("{" * 500 + "\n", None, "invalid YAML"),  # once a RecursionError traceback (issue 13)
        ("name: t\nnodes: " + "[" * 500 + "\n", None, "invalid YAML"),
        ("name: t\nnodes: " + "{a: " * 500 + "1" + "}" * 500 + "\n", 2, "nodes.a"),
        # a filter libpcap rejects: found at load (it used to fail the run after up, as "infrastructure")
        ("name: t\nnodes:\n  a: {}\ncapture:\n  - {on: a:eth0, filter: tcp port banana}\n", 5,
         "capture[0].filter: bad capture filter 'tcp port banana': unknown port 'banana'"),
    ],
)
def test_bad_lab_files_name_file_field_line_and_problem(text, line, needle):
    err = error_of(text)
    message = str(err)
    assert message.startswith("lab.yaml"), message
    assert needle in message, message
    if line is not None:
        assert err.line == line, message
    assert "\n" not in message


def test_missing_file_is_a_lab_file_error(tmp_path):
    with pytest.raises(LabFileError, match="no such lab"):
        load_lab(tmp_path / "nope")
    with pytest.raises(LabFileError, match="no lab.yaml"):
        load_lab(tmp_path)


def test_schema_file_is_current():
    from socklab.model.schema import lab_schema_json

    published = (LABS.parent / "schema" / "lab.schema.json").read_text()
    assert published == lab_schema_json(), "run: socklab schema > schema/lab.schema.json"


@given(st.one_of(
    st.builds(lambda a, p: ipaddress.ip_network((a, p), strict=False), st.integers(0, 2**32 - 1), st.integers(22, 32)),
    st.builds(lambda a, p: ipaddress.ip_network((a, p), strict=False), st.integers(0, 2**128 - 1), st.integers(118, 128)),
))
def test_allocation_pool_yields_what_hosts_yields(net):
    """The int pool the allocator walks is ipaddress's own hosts(), in the same order."""
    from socklab.model.resolve import _host_ints

    assert list(_host_ints(net)) == [int(a) for a in net.hosts()]


_TRICKY_YAML = [
    'a: &x {b: [1, 2.5, yes, ~, "s", 0x10, 2001-01-01]}\nc: *x\nd: {<<: *x, e: 3}\n',  # anchors, merge key
    "x: !!set {a, b}\ny: !!binary aGk=\nz: !!str 12\n", "1: one\n2: [two]\n", "&r [*r]\n", "", "- just\n- a list\n",
]
_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=8))
_documents = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4)
                          | st.dictionaries(st.one_of(st.text(max_size=6), st.integers()), inner, max_size=4), max_leaves=20)


@pytest.mark.parametrize("text", _TRICKY_YAML)
def test_the_fast_yaml_builder_returns_what_pyyaml_returns(text):
    import yaml

    from socklab.model.yamlsource import load_data

    assert repr(load_data(text)) == repr(yaml.load(text, Loader=yaml.CSafeLoader))


@given(_documents)
def test_the_fast_yaml_builder_agrees_with_pyyaml_on_any_document(data):
    import yaml

    from socklab.model.yamlsource import load_data

    for style in (False, True, None):
        text = yaml.safe_dump(data, default_flow_style=style)
        assert load_data(text) == yaml.load(text, Loader=yaml.CSafeLoader)


def _alias_bomb(levels: int) -> str:
    lines = ["name: bomb", "nodes: {a: {}, b: {}}", 'x0: &a0 ["x","x","x","x","x","x","x","x","x"]']
    lines += [f"x{i}: &a{i} [{','.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_quickly_with_its_line():
    """Nine lines that stand for 387 million values ("billion laughs"): refused, not walked."""
    import time

    started = time.perf_counter()
    with pytest.raises(LabFileError, match="aliases expand this document") as err:
        parse_lab(_alias_bomb(9))
    assert err.value.line is not None and time.perf_counter() - started < 5


def test_aliases_within_bounds_still_load_and_lines_still_point_at_errors():
    text = _alias_bomb(4).replace("nodes: {a: {}, b: {}}", "nodes: {a: {}, b: {}}\nlinks: [[a, b]]")  # 6,561 values
    with pytest.raises(LabFileError, match="x0") as err:  # unknown keys x0..x3: the first one named, with its line
        parse_lab(text)
    assert err.value.line == 4


def test_a_value_inside_itself_is_one_value_not_an_endless_expansion():
    from socklab.model.yamlsource import load_data

    data = load_data("a: &r [1, *r]\n")
    assert data["a"][1] is data["a"]


@pytest.mark.parametrize(("step", "message"), [
    ('{node: a, run: "echo \\0 x"}', "cannot hold a NUL character"),
    ('{node: a, run: [echo, "a\\0b"]}', "cannot hold a NUL character"),
    ('{node: a, run: echo, env: {X: "\\0"}}', "cannot hold a NUL character"),
    ('{node: a, run: echo, env: {"A=B": c}}', "not an environment variable's name"),
    ('{node: a, run: echo, cwd: "d\\0"}', "cannot hold a NUL character"),
    ('{node: a, run: echo, cwd: ../..}', "inside the run's workspace"),
    ('{node: a, run: echo, cwd: /etc}', "inside the run's workspace"),
])
def test_what_a_program_cannot_be_given_is_a_lab_file_error(step, message):
    """The kernel's argv and environment end at NUL; env(1) splits at the first '='."""
    with pytest.raises(LabFileError, match=message):
        parse_lab(f"name: t\nnodes: {{a: {{}}, b: {{}}}}\nlinks: [[a, b]]\nscenario:\n  - {step}\n")


def test_a_filter_error_is_one_problem_and_good_filters_load():
    """capture: is a list or "all"/"none": the other branch failing is not "1 more problem"."""
    err = error_of("name: t\nnodes:\n  a: {}\ncapture: [{on: a:eth0, filter: 'udp and'}]\n")
    assert "capture[0].filter" in str(err) and "more problem" not in str(err)
    lab = parse_lab("name: t\nnodes:\n  a: {}\n  b: {}\nlinks: [[a, b]]\n"
                    "capture: [{on: a:eth0, filter: 'udp port 53 or icmp6'}]\n")
    assert lab.captures[0].filter == "udp port 53 or icmp6"


def test_filters_libpcap_would_take_minutes_over_or_misread_are_refused_at_once():
    """1000 `port N or` terms took libpcap's optimizer 4 minutes: over 1024 characters is refused
    before compiling; a NUL would end the filter early in C."""
    import time

    base = "name: t\nnodes:\n  a: {}\n  b: {}\nlinks: [[a, b]]\ncapture:\n  - on: a:eth0\n    filter: "
    long = " or ".join(f"port {i}" for i in range(1000))
    started = time.monotonic()
    err = error_of(base + f"'{long}'\n")
    assert time.monotonic() - started < 5 and err.line == 8 and "at most 1024" in str(err)
    assert "a NUL in a capture filter" in str(error_of(base + '"tcp\\0 or udp"\n'))
    lab = parse_lab(base + "'" + " or ".join(f"port {i}" for i in range(90)) + "'\n")  # ~1 kB: fine
    assert lab.captures[0].filter.startswith("port 0 or port 1")
