"""The expectation language as data: parsing, normalising, and clear errors with field paths."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from socklab.model.expectations import Expectation, Expectations, PacketMatch

LIST = TypeAdapter(Expectations)
README = Path(__file__).resolve().parents[2] / "docs" / "expectations.md"


def parse(items):
    return LIST.validate_python(items)


def errors(items) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as exc:
        parse(items)
    return [(".".join(str(p) for p in e["loc"]), e["msg"]) for e in exc.value.errors()]


def one(**kw):
    return {"id": "x", "title": "t", **kw}


DESIGN_EXAMPLE = """
expect:
  - id: handshake
    title: The client opens a TCP connection to port 12345
    tcp_handshake: {client: client, server: "server:12345"}
  - id: hello
    title: The client sends "Hello World from client"
    packet: {from: client, to: server, tcp: {dport: 12345}, payload: {contains: Hello World from client}}
  - id: printed
    title: The server prints what it received
    output: {node: server, stdout: {contains: Hello World from client}}
"""


def test_design_document_example_parses():
    items = parse(yaml.safe_load(DESIGN_EXAMPLE)["expect"])
    assert [e.kind for e in items] == ["tcp_handshake", "packet", "output"]
    hello = items[1].packet
    assert hello.from_ == "client" and hello.tcp.dport == 12345 and hello.payload.contains == "Hello World from client"
    assert items[0].points == 1.0 and items[0].hint is None


def test_every_yaml_example_in_the_reference_parses():
    blocks = re.findall(r"```yaml\n(.*?)```", README.read_text(), re.S)
    assert len(blocks) >= 10
    for block in blocks:
        doc = yaml.safe_load(block)
        items = doc["expect"] if isinstance(doc, dict) else doc
        assert parse(items), block


def test_normalisation():
    (e,) = parse([one(packet={"ether": {"type": "0x88B5", "src": "02-00-00-00-00-AA"}, "ip": {"proto": "udp", "flags": "df"},
                              "tcp": None, "udp": {"dport": "0x3039"}, "payload": "Hello"})])
    p = e.packet
    assert (p.ether.type, p.ether.src, p.ipv4.proto, p.ipv4.flags, p.udp.dport) == (0x88B5, "02:00:00:00:00:aa", 17, 2, 12345)
    assert p.payload.contains == "Hello"
    (e,) = parse([one(packet={"tcp": {"flags": "AS", "flags_include": "fin ack"}, "ipv6": {"src": "FD00:0:0::1"}})])
    assert (e.packet.tcp.flags, e.packet.tcp.flags_include, e.packet.ipv6.src) == ("SA", "FA", "fd00::1")
    (e,) = parse([one(packet={"icmp": {"type": "echo-reply"}}, count=3, after="client", within="1.5s")])
    assert (e.packet.icmp.type, e.count.bounds(), e.within) == (0, (3, 3), 1.5)


@pytest.mark.parametrize(
    ("item", "where", "words"),
    [
        (one(packet={"tcp": {"dprt": 1}}), "0.packet.tcp.dprt", "Extra inputs are not permitted"),
        (one(packet={}, colour="red"), "0.colour", "Extra inputs are not permitted"),
        (one(packet={"tcp": {"dport": 70000}}), "0.packet.tcp.dport", "port 70000 out of range 0..65535"),
        (one(packet={"ip": {"proto": "tcpp"}}), "0.packet.ip.proto", "IP protocol 'tcpp' is not a number; known names:"),
        (one(packet={"ip": {"src": "fd00::1"}}), "0.packet.ip.src", "'fd00::1' is not an IPv4 address"),
        (one(packet={"ether": {"src": "02:00:00:00:00"}}), "0.packet.ether.src", "is not a MAC address"),
        (one(packet={"tcp": {"flags": "SYNACK"}}), "0.packet.tcp.flags", "unknown TCP flag letter(s)"),
        (one(packet={"tcp": {}, "udp": {}}), "0.packet", "a packet has at most one of: tcp, udp, icmp, icmpv6, arp (got tcp and udp)"),
        (one(packet={"ipv6": {}, "icmp": {}}), "0.packet", "ICMP runs over IPv4"),
        (one(packet={"payload": {"hex": "abc"}}), "0.packet.payload", "not an even number of hex digits"),
        (one(packet={"payload": {"regex": "("}}), "0.packet.payload", "not a valid regular expression"),
        (one(packet={"payload": {}}), "0.packet.payload", "payload needs one of"),
        (one(), "0", "an expectation needs exactly one check among packet, sequence"),
        (one(packet={}, output={"node": "a", "exit_code": 0}), "0", "found packet, output"),
        (one(tcp_handshake={"server": "s:1"}, count=1), "0", "count and none apply to packet and retransmissions checks only"),
        (one(packet={}, count=1, none=True), "0", "use either count or none"),
        (one(packet={}, within="2s"), "0", "within needs after"),
        (one(output={"node": "a", "exit_code": 0}, after="x"), "0", "after/within apply to capture checks"),
        (one(packet={}, after="a", within="2 parsecs"), "0.within", "is not a duration"),
        (one(packet={}, count={"exactly": 1, "at_least": 1}), "0.count", "exactly cannot be combined"),
        (one(output={"node": "a"}), "0.output", "needs something to check"),
        (one(output={"node": "a", "step": "b", "exit_code": 0}), "0.output", "exactly one of step or node"),
        (one(only={"node": "a", "allow": ["arpp"]}), "0.only.allow.0", "unknown allow preset 'arpp'"),
        (one(tcp_handshake={"server": "server:99999"}), "0.tcp_handshake.server", "port 99999 out of range"),
        ({"id": "Not A Slug", "title": "t", "packet": {}}, "0.id", "String should match pattern"),
        ({"id": "x", "packet": {}}, "0.title", "Field required"),
        (one(packet={}, points=-1), "0.points", "greater than or equal to 0"),
    ],
)
def test_errors_name_the_field_and_the_problem(item, where, words):
    found = errors([item])
    assert any(loc == where and words in msg for loc, msg in found), found


def test_duplicate_ids_are_refused():
    found = errors([one(packet={}), one(packet={})])
    assert any("expectation id 'x' is used twice" in msg for _, msg in found)


def test_models_are_frozen_and_round_trip_by_alias():
    (e,) = parse([one(packet={"from": "client", "ip": {"proto": 102}})])
    with pytest.raises(ValidationError):
        e.points = 3
    dumped = e.model_dump(by_alias=True, exclude_none=True, exclude_defaults=True)
    assert dumped["packet"] == {"from": "client", "ipv4": {"proto": 102}}
    assert parse([dumped])[0] == e


def test_references_for_the_loader():
    (e,) = parse([one(sequence=[{"from": "client", "to": "192.168.11.11:80", "capture": "server:eth0"}, {"from": "server:eth0"}],
                      after="client-run")])
    assert e.references() == {"nodes": {"client", "server"}, "steps": {"client-run"}, "captures": {"server:eth0"}}
    (e,) = parse([one(only={"node": "router", "allow": ["arp", {"to": "02:00:00:00:00:01"}]})])
    assert e.references()["nodes"] == {"router"}


def test_loading_expectations_does_not_import_scapy():
    code = "import sys, socklab.model.expectations, socklab.verify; print(any(m.startswith('scapy') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


# --- property tests ----------------------------------------------------------------------------

names = st.sampled_from(["client", "server", "client:eth0", "server:12345", "192.168.11.11", "[fd00::1]:80", "02:00:00:00:00:01"])
ports = st.integers(0, 65535)
u8 = st.integers(0, 255)


def opt(strategy):
    return st.one_of(st.none(), strategy)


packet_dicts = st.fixed_dictionaries(
    {},
    optional={
        "from": names,
        "to": names,
        "ether": st.fixed_dictionaries({}, optional={"type": st.integers(0, 0xFFFF), "src": st.just("02:00:00:00:00:01")}),
        "ip": st.fixed_dictionaries({}, optional={"proto": u8, "ttl": u8, "flags": st.sampled_from(["DF", "MF", "", "DF+MF"]),
                                                  "src": st.ip_addresses(v=4).map(str)}),
        "udp": st.fixed_dictionaries({}, optional={"sport": ports, "dport": ports}),
        "payload": st.fixed_dictionaries({"contains": st.text(min_size=1, max_size=20)}, optional={"length": st.integers(0, 1500)}),
        "checksums": st.just("valid"),
        "lengths": st.just("consistent"),
    },
)


@settings(max_examples=60, deadline=None)
@given(p=packet_dicts, count=opt(st.integers(0, 5)))
def test_random_packet_matchers_parse_and_round_trip(p, count):
    item = one(packet=p) | ({"count": count} if count is not None else {})
    (e,) = parse([item])
    again = parse([e.model_dump(by_alias=True, exclude_none=True)])[0]
    assert again == e
    if "udp" in p and "dport" in p["udp"]:
        assert e.packet.udp.dport == p["udp"]["dport"]


@settings(max_examples=60, deadline=None)
@given(port=st.integers(-100_000, 200_000))
def test_ports_are_valid_exactly_in_range(port):
    ok = 0 <= port <= 65535
    try:
        PacketMatch.model_validate({"tcp": {"dport": port}})
    except ValidationError as e:
        assert not ok and "out of range" in str(e)
    else:
        assert ok


@settings(max_examples=60, deadline=None)
@given(value=st.decimals(min_value="0.001", max_value="10000", places=3), unit=st.sampled_from(["ms", "s", "m", ""]))
def test_durations(value, unit):
    (e,) = parse([one(packet={}, after="a", within=f"{value}{unit}")])
    scale = {"ms": 0.001, "s": 1, "m": 60, "": 1}[unit]
    assert e.within == pytest.approx(float(value) * scale)


@settings(max_examples=40, deadline=None)
@given(key=st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12))
def test_unknown_keys_are_rejected_with_their_path(key):
    known = set(Expectation.model_fields) | {"from", "ip"}
    item = one(packet={"udp": {key: 1}})
    if key in {"sport", "dport", "len"}:
        return
    assert any(loc == f"0.packet.udp.{key}" for loc, _ in errors([item]))
    if key not in known:
        assert any(loc == f"0.{key}" for loc, _ in errors([one(packet={}, **{key: 1})]))


@given(st.decimals(min_value=0, max_value=1000, places=3, allow_nan=False), st.sampled_from(["us", "ms", "s", "sec", "m", "min", ""]))
def test_every_time_in_a_lab_file_has_one_grammar(number, unit):
    """A step's timeout and a link's delay read the same text as the same number of seconds."""
    from socklab.model.impair import parse_time
    from socklab.model.values import parse_seconds

    text = f"{number}{unit}"
    seconds = parse_seconds(text)
    assert seconds == pytest.approx(float(number) * {"us": 1e-6, "ms": 1e-3, "m": 60, "min": 60}.get(unit, 1.0))
    if seconds <= 60:
        assert parse_time(text) == seconds
    else:
        with pytest.raises(ValueError, match="more than a minute"):
            parse_time(text)
