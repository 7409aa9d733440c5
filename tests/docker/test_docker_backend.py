"""The docker backend on a real engine: the same labs as netns, in containers.

Needs root and a Docker engine: the engine is started with scripts/ensure-docker.sh and
the tests skip only when it cannot start. The agent image of this tree is built with
scripts/build-image.sh when missing, then pinned ($SOCKLAB_AGENT_IMAGE) for the whole
session, so agents edited meanwhile do not change the image under the tests' feet.
Instances are named t-d*; after every test, nothing of them may remain (containers and
networks labelled socklab.lab, ledger records, `sl*` links in the host's namespace),
and whatever remains is removed.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import socklab
from socklab import state
from socklab.backends.docker import IMAGE_ENV, DockerBackend
from socklab.backends.docker_image import agent_image_tag
from socklab.errors import InfrastructureError
from socklab.model.loader import parse_lab
from socklab.names import LABEL_LAB
from tests.conftest import LABS, needs_root, socklab_leftovers

REPO = LABS.parent
SOCKLAB = [sys.executable, "-m", "socklab.cli"]
PREFIX = "t-d"  # every instance of this module

pytestmark = [pytest.mark.docker, needs_root, pytest.mark.timeout(300)]

TCP_SERVER = textwrap.dedent("""
    import socket, sys
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(('0.0.0.0', 12345)); s.listen(); print('ready', flush=True)
    c, _ = s.accept(); data = c.recv(100); c.sendall(b'echo:' + data); c.close()
""")
TCP_CLIENT = textwrap.dedent("""
    import socket, sys
    c = socket.create_connection((sys.argv[1], 12345), timeout=3)
    c.sendall(b'hello'); print(c.recv(100).decode())
""")
OPEN_RAW = textwrap.dedent("""
    import socket
    for args in ((socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP), (socket.AF_PACKET, socket.SOCK_RAW, 0)):
        try:
            socket.socket(*args).close(); print('ok')
        except PermissionError:
            print('denied')
""")


def docker(*args: str, check: bool = True) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=60, check=check).stdout


def inline_lab(text: str):
    return parse_lab(textwrap.dedent(text), Path("/tmp/inline/lab.yaml"))


def tcp_exchange(dep, server: str, client: str, target: str) -> str:
    proc = dep.popen(server, ["python3", "-u", "-c", TCP_SERVER], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        result = dep.exec(client, ["python3", "-c", TCP_CLIENT, target], timeout=20)
        assert result.returncode == 0, result.stderr
        proc.wait(timeout=10)
        return result.stdout.strip()
    finally:
        proc.kill()
        proc.wait()


# -- engine, image, cleanup ------------------------------------------------------------------


@pytest.fixture(scope="session")
def agent_image() -> Iterator[str]:
    started = subprocess.run([str(REPO / "scripts/ensure-docker.sh")], capture_output=True, text=True, timeout=300)
    if started.returncode != 0:
        pytest.skip(f"no Docker engine: scripts/ensure-docker.sh failed: {started.stderr.strip()}")
    tag = agent_image_tag(REPO)
    if subprocess.run(["docker", "image", "inspect", tag], capture_output=True).returncode != 0:
        built = subprocess.run([str(REPO / "scripts/build-image.sh")], capture_output=True, text=True, timeout=900)
        assert built.returncode == 0, f"build-image.sh failed:\n{built.stdout}\n{built.stderr}"
        # the tag it built (the agents may have changed since we computed ours)
        tag = re.findall(r"(socklab/agent:[0-9a-f]{12})", built.stdout)[-1]
        assert subprocess.run(["docker", "image", "inspect", tag], capture_output=True).returncode == 0, built.stdout
    previous = os.environ.get(IMAGE_ENV)
    os.environ[IMAGE_ENV] = tag
    try:
        yield tag
    finally:
        if previous is None:
            os.environ.pop(IMAGE_ENV, None)
        else:
            os.environ[IMAGE_ENV] = previous


def our_containers() -> list[str]:
    """Containers labelled by an instance of this module (label value t-d*)."""
    out = docker("ps", "-a", "--filter", f"label={LABEL_LAB}", "--format", f'{{{{.Names}}}} {{{{.Label "{LABEL_LAB}"}}}}')
    return [line.split()[0] for line in out.splitlines() if line.split()[1].startswith(PREFIX)]


def our_networks() -> list[str]:
    out = docker("network", "ls", "--filter", f"label={LABEL_LAB}", "--format", "{{.Name}}")
    return [n for n in out.split() if n.startswith(f"sl-{PREFIX}")]


def ours(leftover: str) -> bool:
    """A leftover of this module: its instances, or a link named like a lab end (sl + 10 hex)."""
    if f" {PREFIX}" in leftover or f"sl-{PREFIX}" in leftover:
        return True
    return bool(re.fullmatch(r"link sl[0-9a-f]{10}(@.*)?", leftover))


def leftovers() -> list[str]:
    found = [f"container {c}" for c in our_containers()] + [f"network {n}" for n in our_networks()]
    return found + [x for x in socklab_leftovers() if ours(x)]


@pytest.fixture(autouse=True)
def clean(agent_image: str) -> Iterator[None]:
    """Whatever a test does, it leaves nothing; a leak fails the test after cleaning it."""
    yield
    left = leftovers()
    if left:
        from socklab.deployment import destroy

        for record in state.all_records():
            if record.instance.startswith(PREFIX):
                destroy(record)
        for name in our_containers():
            docker("rm", "-f", name, check=False)
        pytest.fail("left behind: " + ", ".join(left), pytrace=False)


# -- labs ------------------------------------------------------------------------------------


def test_tcp_hello_by_name_same_names_macs_and_hosts_as_the_plan():
    with socklab.up(LABS / "tcp-hello", backend="docker", name="t-dhello") as dep:
        assert dep.backend.name == "docker"
        assert tcp_exchange(dep, "server", "client", "server") == "echo:hello"
        for node in dep.plan.nodes:
            links = json.loads(dep.exec(node.name, ["ip", "-j", "link"]).stdout)
            got = {(i["ifname"], i["ifindex"], i["address"]) for i in links if i["ifname"] != "lo"}
            assert got == {(i.name, i.index, i.mac) for i in node.interfaces}, "nothing but the plan's interfaces"
            assert dep.exec(node.name, ["hostname"]).stdout.strip() == node.name
            assert dep.exec(node.name, ["cat", "/etc/hosts"]).stdout == dep.plan.hosts_file()
            assert "tx-checksumming: off" in dep.exec(node.name, ["ethtool", "-k", "eth0"]).stdout
        # no route out: a host without routes has nowhere to send 192.0.2.1
        r = dep.exec("server", ["ip", "route", "get", "192.0.2.1"])
        assert r.returncode != 0 and "unreachable" in r.stderr
        # host tools reach a node through its namespace path
        path = dep.netns_path("client")
        seen = subprocess.run(["nsenter", f"--net={path}", "ip", "-o", "addr"], capture_output=True, text=True).stdout
        assert "192.168.11.12/24" in seen


def test_containers_are_confined():
    with socklab.up(LABS / "tcp-hello", backend="docker", name="t-dconf") as dep:
        info = json.loads(docker("inspect", "sl-t-dconf.client"))[0]
        host = info["HostConfig"]
        assert host["NetworkMode"] == "none"
        # only what setpriv needs to drop a student program's privileges (tcp-hello has no raw nodes)
        assert host["CapDrop"] == ["ALL"] and sorted(host["CapAdd"]) == ["SETGID", "SETPCAP", "SETUID"]
        assert host["SecurityOpt"] == ["no-new-privileges"]
        assert host["Privileged"] is False
        assert host["PidsLimit"] > 0 and host["Memory"] > 0
        assert info["Config"]["Labels"][LABEL_LAB] == "t-dconf"
        assert info["Config"]["Labels"]["socklab.node"] == "client"
        assert info["Config"]["Labels"]["socklab.labname"] == "tcp-hello"
        assert info["NetworkSettings"]["Networks"] in ({}, {"none": info["NetworkSettings"]["Networks"].get("none")})
        # nothing of the lab in the host's namespace
        root_links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
        for node in dep.plan.nodes:
            for iface in node.interfaces:
                assert iface.mac not in root_links


def test_routed_tcp_and_ping_across_the_router():
    with socklab.up(LABS / "routed", backend="docker", name="t-drouted") as dep:
        assert tcp_exchange(dep, "server", "client", "10.0.2.10") == "echo:hello"
        ping = dep.exec("client", ["ping", "-c1", "-W2", "server"])
        assert ping.returncode == 0 and "ttl=63" in ping.stdout, ping.stdout + ping.stderr
        r = dep.exec("router", ["ip", "route", "get", "192.0.2.1"])
        assert r.returncode != 0 and "unreachable" in r.stderr
        r = dep.exec("client", ["ip", "route", "get", "192.0.2.1"])
        assert r.returncode != 0 or "dev eth0" in r.stdout  # only to its gateway inside the lab


def test_three_hosts_on_a_switch_from_the_lab_files_backend():
    lab = inline_lab("""
        name: lan
        backend: docker
        nodes:
          sw: {kind: switch, subnet: 10.7.0.0/24}
          h1: {}
          h2: {}
          h3: {ip6: "fd00:7::3/64"}
        links: [[h1, sw], [h2, sw], [h3, sw]]
    """)
    with socklab.up(lab, name="t-dlan") as dep:
        assert dep.backend.name == "docker"
        for src in ("h1", "h2", "h3"):
            for dst in ("h1", "h2", "h3"):
                if src != dst:
                    r = dep.exec(src, ["ping", "-c1", "-W2", dst])
                    assert r.returncode == 0, f"{src} -> {dst}: {r.stdout}{r.stderr}"
        ports = dep.exec("sw", ["ip", "-o", "link", "show", "master", "br0"]).stdout
        assert [line.split(": ")[1].split("@")[0] for line in ports.splitlines()] == ["swp1", "swp2", "swp3"]
        six = dep.exec("h3", ["ip", "-6", "addr", "show", "dev", "eth0"]).stdout
        assert "fd00:7::3/64" in six and "tentative" not in six


def test_only_raw_socket_nodes_can_open_raw_sockets():
    lab = inline_lab("""
        name: raw
        nodes:
          plain: {ip: 10.9.0.1/24}
          sniffer: {ip: 10.9.0.2/24, raw_sockets: true}
        links: [[plain, sniffer]]
    """)
    with socklab.up(lab, backend="docker", name="t-draw") as dep:
        assert dep.exec("plain", ["python3", "-c", OPEN_RAW]).stdout.split() == ["denied", "denied"]
        assert dep.exec("sniffer", ["python3", "-c", OPEN_RAW]).stdout.split() == ["ok", "ok"]
        # unprivileged ICMP (datagram sockets) still lets the plain node ping
        assert dep.exec("plain", ["ping", "-c1", "-W2", "sniffer"]).returncode == 0


def test_same_lab_twice_side_by_side_and_kill_all():
    with socklab.up(LABS / "tcp-hello", backend="docker", name="t-dtwin-a") as a, \
            socklab.up(LABS / "tcp-hello", backend="docker", name="t-dtwin-b") as b:
        proc = a.popen("server", ["python3", "-u", "-c", TCP_SERVER], stdout=subprocess.PIPE, text=True)
        try:
            assert proc.stdout.readline().strip() == "ready"
            r = b.exec("client", ["python3", "-c", TCP_CLIENT, "192.168.11.11"])
            assert r.returncode != 0 and "refused" in r.stderr  # nobody listens in the twin
            assert a.exec("client", ["python3", "-c", TCP_CLIENT, "192.168.11.11"]).stdout.strip() == "echo:hello"
        finally:
            proc.kill()
            proc.wait()
        sleeper = a.popen("server", ["sleep", "600"])
        time.sleep(0.3)
        a.kill_all()
        assert sleeper.wait(timeout=10) != 0
        assert a.exec("server", ["true"]).returncode == 0, "kill_all leaves the nodes running"


def test_missing_image_is_a_clear_error(monkeypatch):
    monkeypatch.setenv(IMAGE_ENV, "socklab/agent:no-such-tag")
    with pytest.raises(InfrastructureError, match="missing.*make image"):
        socklab.up(LABS / "tcp-hello", backend="docker", name="t-dnoimg")
    assert state.load("t-dnoimg") is None


def test_no_engine_is_an_infrastructure_error_and_gc_goes_on(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    with pytest.raises(InfrastructureError, match="Docker engine"):
        DockerBackend().orphans(set())
    from socklab.gc import collect

    collect(dry_run=True)  # skips docker silently


def _chain_lab(tmp_path: Path, size: int) -> Path:
    nodes = "\n".join(f"  n{i}: {{kind: router}}" for i in range(size))
    links = "\n".join(
        f"  - {{endpoints: [n{i}:eth1, n{i + 1}:eth0], subnet: 10.{i}.0.0/24}}" for i in range(size - 1)
    )
    (tmp_path / "lab.yaml").write_text(f"name: chain\nbackend: docker\nnodes:\n{nodes}\nlinks:\n{links}\n")
    return tmp_path


def test_sigkill_during_up_then_gc_leaves_nothing(tmp_path):
    lab = _chain_lab(tmp_path, 16)
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    # kill when the first container exists, when about half exist, and a moment later
    for cycle, wanted in enumerate((1, 8, 14)):
        instance = f"t-dkill{cycle}"
        proc = subprocess.Popen([*SOCKLAB, "up", str(lab), "--backend", "docker", "--name", instance], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if len(docker("ps", "-aq", "--filter", f"label={LABEL_LAB}={instance}").split()) >= wanted:
                break
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        gc = subprocess.run([*SOCKLAB, "gc"], env=env, capture_output=True, text=True, timeout=120)
        assert gc.returncode == 0, gc.stderr
        assert f"t-dkill{cycle}" in gc.stdout, gc.stdout  # an interrupted up: gc removes it
        assert docker("ps", "-aq", "--filter", f"label={LABEL_LAB}={instance}") == ""
        assert docker("network", "ls", "-q", "--filter", f"label={LABEL_LAB}={instance}") == ""
        assert [x for x in socklab_leftovers() if instance in x or ours(x)] == []


def test_sigint_during_up_rolls_back(tmp_path):
    lab = _chain_lab(tmp_path, 16)
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.Popen([*SOCKLAB, "up", str(lab), "--name", "t-dint"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not docker("ps", "-aq", "--filter", f"label={LABEL_LAB}=t-dint"):
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    stderr = proc.communicate(timeout=60)[1]
    if proc.returncode == 0:  # finished before the signal arrived
        subprocess.run([*SOCKLAB, "down", "t-dint"], env=env, check=True)
    else:
        assert proc.returncode == 130, stderr
    assert docker("ps", "-aq", "--filter", f"label={LABEL_LAB}=t-dint") == ""
    assert state.load("t-dint") is None
