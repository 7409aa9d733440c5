"""A 2000-node lab up and down (issue 15): everything is made, configured, and all of it goes."""

from __future__ import annotations

import ipaddress
import os
import threading
from pathlib import Path

import socklab
from socklab import nsutil
from socklab.model.loader import parse_lab
from tests.conftest import needs_root, socklab_leftovers

pytestmark = [needs_root]
N = 2000
INSTANCE = "t-large"


def chain_yaml(n: int) -> str:
    lines = [f"name: chain{n}", "nodes:"]
    lines += [f"  n{i}: {{kind: {'host' if i in (1, n) else 'router'}}}" for i in range(1, n + 1)]
    lines.append("links:")
    base = int(ipaddress.IPv4Address("10.0.0.0"))
    for i in range(1, n):
        net = ipaddress.IPv4Address(base + 4 * (i - 1))
        lines.append(f"  - {{endpoints: [n{i}:{'eth0' if i == 1 else 'eth1'}, n{i + 1}:eth0], subnet: {net}/30}}")
    return "\n".join(lines) + "\n"


def read_in_netns(path: str, files: list[str]) -> list[str]:
    """Read /proc/sys files from inside a namespace (a throwaway thread enters it)."""
    out: list[str] = []

    def run() -> None:
        fd = nsutil.open_netns(path)
        try:
            with nsutil.entered(fd):
                for name in files:
                    out.append(Path(name).read_text().strip())
        finally:
            os.close(fd)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    return out


def test_a_2000_node_chain_comes_up_configured_and_goes_without_a_trace(tmp_path):
    lab = parse_lab(chain_yaml(N), tmp_path / "lab.yaml")
    before = set(socklab_leftovers())
    with socklab.up(lab, name=INSTANCE) as dep:
        ours = [n for n in nsutil.list_netns() if n.startswith(f"sl-{INSTANCE}.")]
        assert len(ours) == N
        # sysctls were written in every namespace, the last ones too (each procfs chunk)
        for node in ("n2", "n1000", f"n{N - 1}"):
            dad, ra, fwd = read_in_netns(dep.netns_path(node), [
                "/proc/sys/net/ipv6/conf/eth0/accept_dad", "/proc/sys/net/ipv6/conf/eth0/accept_ra",
                "/proc/sys/net/ipv4/ip_forward"])
            assert (dad, ra) == ("0", "0"), node
            assert fwd == "1", node  # routers
        # wired and addressed at both ends; names resolve through the instance's one hosts file
        subnet = int(ipaddress.IPv4Address("10.0.0.0")) + 4 * (N - 2)  # the last link's /30
        last = dep.exec(f"n{N}", ["ip", "-o", "-4", "addr", "show", "dev", "eth0"]).stdout
        assert f"{ipaddress.IPv4Address(subnet + 2)}/30" in last
        ping = dep.exec(f"n{N}", ["ping", "-c", "1", "-W", "2", str(ipaddress.IPv4Address(subnet + 1))])
        assert ping.returncode == 0, ping.stdout + ping.stderr
        hosts = dep.exec("n1", ["getent", "hosts", f"n{N}"]).stdout
        assert hosts.split()[1] == f"n{N}"
    assert set(socklab_leftovers()) <= before
    assert not [n for n in nsutil.list_netns() if n.startswith(f"sl-{INSTANCE}.")]
