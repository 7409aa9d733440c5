"""Readiness probes in a real namespace: sock_diag answers what /proc/net says, for its namespace only."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest

from socklab import nsutil
from socklab.sockdiag import PortProbe, port_bound
from socklab.steps import exited_within
from tests.conftest import needs_root

pytestmark = [needs_root]


@pytest.fixture
def netns():
    name = f"sl-t-probe-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
    fd = nsutil.open_netns(name)
    opened: list[socket.socket] = []

    def open_in(family: int, kind: int, proto: int = 0) -> socket.socket:
        with nsutil.entered(fd):
            sock = socket.socket(family, kind, proto)
        opened.append(sock)
        return sock

    try:
        yield nsutil.netns_path(name), open_in
    finally:
        for sock in opened:
            sock.close()
        os.close(fd)
        subprocess.run(["ip", "netns", "del", name], check=True)


def test_tcp_probe_sees_listeners_only_in_its_namespace(netns):
    path, open_in = netns
    bound_only = open_in(socket.AF_INET, socket.SOCK_STREAM)
    bound_only.bind(("127.0.0.1", 4001))
    assert not port_bound(path, "tcp", 4001)  # bound, not listening
    v4 = open_in(socket.AF_INET, socket.SOCK_STREAM)
    v4.bind(("0.0.0.0", 4002))
    v4.listen()
    v6 = open_in(socket.AF_INET6, socket.SOCK_STREAM)
    v6.bind(("::1", 4003))
    v6.listen()
    client = open_in(socket.AF_INET, socket.SOCK_STREAM)
    client.connect(("127.0.0.1", 4002))
    ephemeral = client.getsockname()[1]
    host = socket.socket()  # the host's namespace: not the node's business
    host.bind(("127.0.0.1", 0))
    host.listen()
    try:
        with PortProbe(path, "tcp") as probe:
            assert probe.bound(4002) and probe.bound(4003)
            assert not probe.bound(4001) and not probe.bound(ephemeral)
            assert not probe.bound(host.getsockname()[1])
            assert probe._diag_ports() == probe._proc_ports() == {4002, 4003}
    finally:
        host.close()


def test_udp_and_raw_probes(netns):
    path, open_in = netns
    udp = open_in(socket.AF_INET6, socket.SOCK_DGRAM)
    udp.bind(("::", 5353))
    connected = open_in(socket.AF_INET, socket.SOCK_DGRAM)
    connected.bind(("127.0.0.1", 5354))
    connected.connect(("127.0.0.1", 5353))
    with PortProbe(path, "udp") as probe:
        assert probe.bound(5353) and probe.bound(5354) and not probe.bound(5355)
        assert probe._diag_ports() == probe._proc_ports() == {5353, 5354}
    assert not port_bound(path, "raw", 102)
    open_in(socket.AF_INET, socket.SOCK_RAW, 102)
    assert port_bound(path, "raw", 102) and not port_bound(path, "raw", 103)


def test_a_probe_answers_while_sockets_come_and_go(netns):
    path, open_in = netns
    with PortProbe(path, "tcp") as probe:
        assert not probe.bound(4100)
        listener = open_in(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 4100))
        listener.listen()
        assert probe.bound(4100)
        listener.close()
        assert not probe.bound(4100)


def test_exited_within_wakes_on_exit_and_times_out_on_a_runner():
    quick = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.05)"])
    started = time.monotonic()
    assert exited_within(quick, 10)
    assert quick.returncode == 0 and time.monotonic() - started < 5
    assert exited_within(quick, 0)  # already reaped: still True
    slow = subprocess.Popen(["sleep", "30.4817"])
    try:
        started = time.monotonic()
        assert not exited_within(slow, 0.1)
        assert 0.09 <= time.monotonic() - started < 5 and slow.returncode is None
    finally:
        slow.kill()
        slow.wait()
