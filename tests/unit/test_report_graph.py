"""socklab graph: drawings from the lab file alone (no root), in svg, dot, mermaid."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from socklab.model.loader import load_lab, parse_lab, shipped_labs_dir
from socklab.report.graph import choose_format, render_graph
from socklab.report.layout import layout
from socklab.report.textgraph import to_dot, to_mermaid
from socklab.report.topology import topology_svg

LAN = """
name: lan
nodes:
  sw: {kind: switch, subnet: 10.0.0.0/24}
  gw:
    kind: router
    interfaces:
      eth0: {ipv4: 10.0.0.1/24}
      eth1: {ipv4: 10.0.9.1/24, ipv6: "fd00:9::1/64"}
  a: {}
  b: {}
  far: {ip: 10.0.9.2/24, routes: [{to: default, via: 10.0.9.1}]}
links:
  - [a, sw]
  - [b, sw]
  - [gw:eth0, sw]
  - {endpoints: [gw:eth1, far:eth0], mtu: 1400}
"""


def star(n: int) -> str:
    return "\n".join(["name: big", "nodes:", "  sw: {kind: switch, subnet: 10.128.0.0/16}"]
                     + [f"  h{i}: {{}}" for i in range(1, n)] + ["links:"] + [f"  - [h{i}, sw]" for i in range(1, n)]) + "\n"


def test_svg_has_a_shape_per_kind_addresses_and_subnets():
    lab = parse_lab(LAN)
    svg = topology_svg(lab)
    assert svg.startswith("<svg xmlns=") and svg.rstrip().endswith("</svg>")
    kinds = {name: kind for kind, name in re.findall(r'<g class="node (\w+)" id="node-([\w-]+)"', svg)}
    assert kinds == {"sw": "switch", "gw": "router", "a": "host", "b": "host", "far": "host"}
    assert sorted(re.findall(r'id="node-([\w-]+)"', svg)) == ["a", "b", "far", "gw", "sw"]
    assert re.search(r'<g class="node router"[^>]*><polygon', svg)  # routers are octagons
    assert re.search(r'<g class="node switch"[^>]*><rect class="s"[^/]*/><rect', svg)  # switches double boxes
    assert re.search(r'<g class="node host"[^>]*><rect class="s"[^>]*rx="9"', svg)  # hosts rounded
    for text in ("eth0 10.0.0.1/24", "eth1 10.0.9.1/24", "fd00:9::1/64", "LAN 10.0.0.0/24", "default via 10.0.9.1",
                 "eth0 10.0.0.2/24", "10.0.9.0/24", "mtu 1400"):
        assert text in svg, text
    assert svg.count('<g class="link"') == 4


def test_layout_is_deterministic_and_inside_the_picture():
    lab = parse_lab(LAN)
    assert topology_svg(lab) == topology_svg(parse_lab(LAN))
    drawn = layout(lab)
    for box in drawn.boxes.values():
        assert 0 <= box.x and box.x + box.w <= drawn.width and 0 <= box.y and box.y + box.h <= drawn.height
    boxes = list(drawn.boxes.values())
    for i, p in enumerate(boxes):  # no two boxes overlap
        for q in boxes[i + 1 :]:
            assert p.x + p.w <= q.x or q.x + q.w <= p.x or p.y + p.h <= q.y or q.y + q.h <= p.y, (p.name, q.name)


def test_a_chain_reads_left_to_right_through_the_router():
    drawn = layout(load_lab("routed"))
    b = drawn.boxes
    assert b["client"].cx < b["router"].cx < b["server"].cx
    assert abs(b["client"].cy - b["server"].cy) < 1


def test_dot_and_mermaid_name_every_node_and_link():
    lab = parse_lab(LAN)
    dot, mmd = to_dot(lab), to_mermaid(lab)
    assert dot.startswith('graph "lan" {') and dot.count(" -- ") == 4
    assert '"gw" [shape=octagon' in dot and "peripheries=2" in dot and 'label="10.0.9.0/24\\nfd00:9::/64\\nmtu 1400"' in dot
    assert mmd.startswith("flowchart LR") and mmd.count("---|") == 4
    assert 'n1{{"gw<br/>router' in mmd and 'n0[["sw<br/>switch' in mmd and "classDef switch" in mmd


def test_format_follows_the_output_suffix():
    assert choose_format(None, Path("x.mmd")) == "mermaid" and choose_format(None, Path("x.gv")) == "dot"
    assert choose_format(None, None) == "svg" and choose_format("png", Path("x.svg")) == "png"
    from socklab.errors import UsageError

    with pytest.raises(UsageError, match="choose from"):
        choose_format("jpeg", None)


def test_a_thousand_nodes_are_drawn_quickly():
    lab = parse_lab(star(1000))
    t = time.perf_counter()
    svg = render_graph(lab, "svg").decode()
    elapsed = time.perf_counter() - t
    assert svg.count('class="node host"') == 999 and svg.count('<g class="link"') == 999
    assert elapsed < 1.5  # the whole `socklab graph` of 1000 nodes is benched in bench/report.py


def test_cli_graph_writes_a_file_and_prints_text(tmp_path):
    out = tmp_path / "routed.svg"
    cli = [sys.executable, "-m", "socklab.cli"]
    subprocess.run([*cli, "graph", "routed", "-o", str(out)], check=True)
    assert out.read_text() == topology_svg(load_lab("routed"))
    shown = subprocess.run([*cli, "graph", "routed", "--format", "mermaid"], check=True, capture_output=True, text=True)
    assert shown.stdout == to_mermaid(load_lab("routed"))


@pytest.mark.parametrize("folder", sorted(p.parent for p in shipped_labs_dir().glob("*/topology.svg")), ids=lambda p: p.name)
def test_shipped_lab_drawings_are_in_sync(folder):
    """Each lab folder's topology.svg is what `socklab graph` draws today, and its README shows it."""
    fresh = topology_svg(load_lab(folder))
    assert (folder / "topology.svg").read_text() == fresh, (
        f"labs/{folder.name}/topology.svg is stale: run `make drawings` (socklab graph labs/{folder.name} "
        f"-o labs/{folder.name}/topology.svg)")
    assert "(topology.svg)" in (folder / "README.md").read_text()


def test_every_course_lab_has_a_drawing():
    course = ["af-packet", "raw-ip", "routed", "scapy-basics", "tcp-hello", "tcp6", "udp-hello", "udp6", "unix-sockets"]
    missing = [name for name in course if not (shipped_labs_dir() / name / "topology.svg").is_file()]
    assert not missing, f"no topology.svg in {missing}: run `make drawings`"


def test_png_without_chromium_says_what_to_install(tmp_path):
    env = {**os.environ, "SOCKLAB_CHROMIUM": "no-such-browser"}
    done = subprocess.run([sys.executable, "-m", "socklab.cli", "graph", "routed", "-o", str(tmp_path / "r.png")],
                          env=env, capture_output=True, text=True)
    assert done.returncode == 3 and "PNG needs Chromium (apt-get install chromium)" in done.stderr
    assert not (tmp_path / "r.png").exists()


def test_impairments_and_faults_are_written_on_their_link():
    lab = load_lab("reliable-udp")
    svg, dot, mmd = topology_svg(lab), to_dot(lab), to_mermaid(lab)
    for text in ("sender → delay 5ms, loss 15%, duplicate 5%, reorder 10%", "receiver → delay 5ms, loss 10%",
                 "fault: drop #1 from sender", "fault: duplicate #3 from receiver"):
        assert text in svg and text in dot and text.replace(">", "#gt;") in mmd, text
    assert 'class="ll imp"' in svg
    drawn = layout(lab)
    lowest = max(float(y) for y in re.findall(r'class="ll imp" x="[\d.]+" y="([\d.]+)"', svg))
    assert lowest < drawn.height  # the label's last line is inside the picture
    assert "delay 10ms" in topology_svg(load_lab("tcp-loss"))  # both directions alike: one line
