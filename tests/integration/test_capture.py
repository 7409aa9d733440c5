"""Captures on real veths: the last packet before stop is kept, losses are counted exactly,
files match tcpdump's record for record, and the merged pcapng names every wire."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import socklab
from socklab import nsutil
from socklab.capture import PreparedRings, start_captures, stop_captures
from socklab.capture.files import read_pcap
from socklab.errors import InfrastructureError
from socklab.model.lab import CapturePoint
from socklab.model.loader import parse_lab
from socklab.run import run_lab
from tests.conftest import needs_root

pytestmark = [needs_root]

LAB = """
name: t-cap
nodes:
  server: {ip: 192.168.31.1/24}
  client: {ip: 192.168.31.2/24}
links: [[server, client]]
capture: none
"""
SERVER = "192.168.31.1"


@pytest.fixture(scope="module")
def lab():
    with socklab.up(parse_lab(LAB), name="t-cap") as dep:
        yield dep


def _socket_in(dep, node: str, kind: int = socket.SOCK_DGRAM) -> socket.socket:
    fd = nsutil.open_netns(dep.netns_path(node))
    try:
        with nsutil.entered(fd):
            return socket.socket(socket.AF_INET, kind)
    finally:
        import os

        os.close(fd)


def _points(dep, bpf: str | None = "udp port 9", buffer: int | None = None):
    return [(CapturePoint(n, "eth0", bpf, buffer), dep.netns_path(n)) for n in ("server", "client")]


def _packets(path: Path) -> list[tuple[bytes, int]]:
    return [(data, length) for _, _, data, length in read_pcap(path)[1]]


def _receiver(dep) -> socket.socket:
    """The server's port 9: a datagram read there has crossed the server's capture point.

    A veth hands a frame to its peer through the receiving CPU's backlog, processed in a
    softirq that may run after sendto() returns (on a loaded machine, in ksoftirqd): what the
    sender sent is not yet on the receiving wire. What a program received always is.
    """
    sock = _socket_in(dep, "server")
    sock.bind(("0.0.0.0", 9))
    sock.settimeout(5)
    return sock


def _received(sock: socket.socket, last: bytes) -> None:
    while sock.recv(2048) != last:
        pass


def test_the_last_packet_before_stop_is_always_in_the_pcap(lab, tmp_path):
    sock, rx = _socket_in(lab, "client"), _receiver(lab)
    sock.sendto(b"warm-up", (SERVER, 9))  # ARP resolved before the first capture
    for run in range(20):
        caps = start_captures(_points(lab), tmp_path / str(run))
        for n in range(run * 5):
            sock.sendto(b"early %d" % n, (SERVER, 9))
        sock.sendto(b"last of run %d" % run, (SERVER, 9))
        _received(rx, b"last of run %d" % run)  # the server has it: it crossed both capture points
        stop_captures(caps)  # no pause between the receipt and the stop
        for cap in caps:
            packets = _packets(cap.path)
            assert cap.dropped == 0 and cap.packets == len(packets) == run * 5 + 1, (run, cap)
            assert packets[-1][0].endswith(b"last of run %d" % run), (run, cap.point)
    sock.close()
    rx.close()


def test_a_prepared_ring_sees_the_first_packet_after_start_and_the_last_before_stop(lab, tmp_path):
    sock, rx = _socket_in(lab, "client"), _receiver(lab)
    sock.sendto(b"warm-up", (SERVER, 9))
    for run in range(10):
        with PreparedRings(_points(lab)) as prepared:
            assert prepared.wait(5)
            sock.sendto(b"before start %d" % run, (SERVER, 9))  # prepared is not capturing yet
            caps = start_captures(_points(lab), tmp_path / str(run), prepared=prepared)
            assert all(prepared.take(p, n) is None for p, n in _points(lab))  # the prepared rings were used
        sock.sendto(b"first of run %d" % run, (SERVER, 9))  # no pause between the start and the send
        for n in range(run * 3):
            sock.sendto(b"middle %d" % n, (SERVER, 9))
        sock.sendto(b"last of run %d" % run, (SERVER, 9))
        _received(rx, b"last of run %d" % run)
        stop_captures(caps)
        for cap in caps:
            packets = _packets(cap.path)
            assert cap.dropped == 0 and cap.packets == len(packets) == run * 3 + 2, (run, cap)
            assert packets[0][0].endswith(b"first of run %d" % run), (run, cap.point)
            assert packets[-1][0].endswith(b"last of run %d" % run), (run, cap.point)
    sock.close()
    rx.close()


def test_points_not_prepared_are_prepared_on_the_spot(lab, tmp_path):
    server, client = _points(lab)
    with PreparedRings([server]) as prepared:  # the client's ring is made by start_captures itself
        caps = start_captures([server, client], tmp_path, prepared=prepared)
    lab.exec("client", ["ping", "-c", "2", "-i", "0.01", SERVER], check=True)
    stop_captures(caps)
    assert [c.packets for c in caps] == [0, 0]  # "udp port 9": pings pass neither filter
    sock = _socket_in(lab, "client")
    caps = start_captures([server, client], tmp_path / "again")  # nothing prepared at all
    sock.sendto(b"only", (SERVER, 9))
    stop_captures(caps)
    sock.close()
    assert [c.packets for c in caps] == [1, 1]


def test_many_default_points_share_one_ring_budget_and_buffer_points_keep_theirs(lab, tmp_path, monkeypatch):
    """A session's default-sized rings share SESSION_RING_BUDGET (here made small enough that
    two points must share it); a point with `buffer:` gets exactly its buffer."""
    import socklab.capture as capture

    server, client = _points(lab)
    sized = (CapturePoint("client", "eth0", "udp port 9", 8 << 20), client[1])
    with PreparedRings([server, client]) as prepared:
        caps = start_captures([server, client], tmp_path / "default", prepared=prepared)
    assert [c._engine.block_size * c._engine.block_nr for c in caps] == [capture.DEFAULT_RING] * 2
    stop_captures(caps)
    monkeypatch.setattr(capture, "SESSION_RING_BUDGET", 2 << 20)
    with PreparedRings([server, client]) as prepared:
        caps = start_captures([server, client], tmp_path / "shared", prepared=prepared)
    assert [c._engine.block_size * c._engine.block_nr for c in caps] == [1 << 20] * 2
    stop_captures(caps)
    caps = start_captures([server, sized], tmp_path / "sized")  # one default point alone, one with buffer:
    assert [c._engine.block_size * c._engine.block_nr for c in caps] == [2 << 20, 8 << 20]
    stop_captures(caps)


def test_default_ring_sizes_shrink_with_sharing_but_not_below_whole_gso_frames():
    from socklab.capture import (
        DEFAULT_RING,
        MIN_DEFAULT_RING,
        SESSION_RING_BUDGET,
        default_ring_bytes,
    )
    from socklab.capture.ring import geometry

    assert default_ring_bytes() == default_ring_bytes(sharing=64) == DEFAULT_RING
    assert default_ring_bytes(sharing=128) == SESSION_RING_BUDGET // 128
    assert default_ring_bytes(sharing=10_000) == MIN_DEFAULT_RING
    assert geometry(MIN_DEFAULT_RING)[0] >= 65536 + 4096  # a 64 KiB GSO frame and its headers fit in a block
    assert default_ring_bytes(12345, sharing=10_000) == 12345


def test_default_rings_of_a_session_stay_within_the_budget_or_the_session_is_refused(tmp_path):
    """The budget is a cap: rings shrink (blocks stay whole-GSO sized) until 1024 points share
    it; more default-sized points are refused before anything is built."""
    from socklab.capture import (
        MAX_DEFAULT_POINTS,
        SESSION_RING_BUDGET,
        check_ring_budget,
        default_ring_bytes,
    )
    from socklab.capture.ring import GSO_BLOCK, geometry
    from socklab.errors import UsageError

    for sharing in (1, 64, 65, 300, 598, 1000, MAX_DEFAULT_POINTS):
        block, count = geometry(default_ring_bytes(sharing=sharing))
        assert block >= GSO_BLOCK and count >= 2, sharing
        assert sharing * block * count <= max(SESSION_RING_BUDGET, sharing * (4 << 20)), sharing
        assert sharing <= 64 or sharing * block * count <= SESSION_RING_BUDGET, sharing
    points = [CapturePoint(f"n{i}", "eth0") for i in range(MAX_DEFAULT_POINTS)]
    check_ring_budget(points)
    check_ring_budget([*points, CapturePoint("x", "eth0", buffer=1 << 20)])  # a buffer: is the lab's own choice
    with pytest.raises(UsageError, match="1025 capture points.*capture: none"):
        check_ring_budget([*points, CapturePoint("x", "eth0")])
    # socklab run refuses such a lab before it builds anything: a 514-node chain has 1026 interfaces
    n = 514
    nodes = "\n".join(f"  n{i}: {{kind: router}}" if 0 < i < n - 1 else f"  n{i}: {{}}" for i in range(n))
    links = "\n".join(f"  - {{endpoints: [n{i}:eth{1 if i else 0}, n{i + 1}:eth0], subnet: 10.{i // 64}.{i % 64 * 4}.0/30}}"
                      for i in range(n - 1))
    lab = parse_lab(f"name: t-cap-cap\nnodes:\n{nodes}\nlinks:\n{links}\nscenario:\n  - {{node: n0, run: 'true'}}\n")
    assert len(lab.captures) == 2 * (n - 1)
    with pytest.raises(UsageError, match="1026 capture points"):
        run_lab(lab, name="t-cap-cap", runs_dir=tmp_path)
    assert not list(tmp_path.iterdir()) and not [x for x in nsutil.list_netns() if "t-cap-cap" in x]


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _fds_back_to(count: int, timeout: float = 5.0) -> int:
    """The number of open descriptors once the background closes (grace periods) are over."""
    deadline = time.monotonic() + timeout
    while _open_fds() > count and time.monotonic() < deadline:
        time.sleep(0.01)
    return _open_fds()


def test_prepared_rings_nobody_uses_are_closed(lab, tmp_path, monkeypatch):
    import socklab.capture

    made = []  # every ring stays referenced: only an explicit close gives its descriptors back
    prepare = socklab.capture._prepare_ring
    monkeypatch.setattr(socklab.capture, "_prepare_ring", lambda *where: made.append(prepare(*where)) or made[-1])
    lab.exec("client", ["true"])
    before = _fds_back_to(0, timeout=0.5)  # whatever earlier tests still had closing
    PreparedRings(_points(lab)).close()  # closed while still preparing: released when ready
    with PreparedRings(_points(lab)) as prepared:  # ready, never taken
        assert prepared.wait(5)
    with PreparedRings(_points(lab)) as prepared:  # the start fails: the prepared rings are released too
        missing = (CapturePoint("server", "nope0"), lab.netns_path("server"))
        with pytest.raises(InfrastructureError, match="nope0"):
            start_captures([*_points(lab), missing], tmp_path, prepared=prepared)
    assert len(made) == 7
    assert _fds_back_to(before) == before


def test_drops_are_counted_exactly_when_the_ring_is_too_small(lab, tmp_path):
    sock = _socket_in(lab, "client")
    sent = 5000
    for buffer, folder in ((4096, "tiny"), (None, "default")):
        caps = start_captures(_points(lab, buffer=buffer), tmp_path / folder)
        for n in range(sent):
            sock.sendto(b"%06d" % n + b"x" * 200, (SERVER, 9))
        stop_captures(caps)
        client = next(c for c in caps if c.point == "client:eth0")  # outgoing: every datagram reaches the tap
        assert client.packets == len(_packets(client.path))
        assert client.packets + client.dropped == sent, (buffer, client)
        if buffer:
            assert client.dropped > 0, "a 4 KiB ring should have overflowed"
        else:
            assert client.dropped == 0
    sock.close()


def _traffic(dep) -> None:
    """ICMP, small and fragmented UDP, and a TCP stream of full-size segments."""
    dep.exec("client", ["ping", "-c", "2", "-i", "0.01", "-s", "1400", SERVER], check=True)
    udp = _socket_in(dep, "client")
    for size in (1, 100, 1472, 3000):
        udp.sendto(b"u" * size, (SERVER, 9))
    udp.close()
    listener = _socket_in(dep, "server", socket.SOCK_STREAM)
    listener.bind((SERVER, 5555))
    listener.listen()
    received = []

    def serve() -> None:
        conn, _ = listener.accept()
        while chunk := conn.recv(65536):
            received.append(len(chunk))
        conn.close()

    server = threading.Thread(target=serve)
    server.start()
    client = _socket_in(dep, "client", socket.SOCK_STREAM)
    client.connect((SERVER, 5555))
    client.sendall(b"t" * 300_000)
    client.close()
    server.join(5)
    listener.close()
    assert sum(received) == 300_000


def _ipv4(packets: list[tuple[bytes, int]]) -> list[tuple[bytes, int]]:
    return [p for p in packets if p[0][12:14] == b"\x08\x00"]


def _same_records(packets: list[tuple[bytes, int]]) -> list[tuple[bytes, int]]:
    """The records as a multiset: frames on one interface reach two capture sockets from two
    CPUs (a process sending, a softirq acknowledging), so the order may differ between
    them, never the frames or their bytes."""
    return sorted(packets)


def test_pcaps_match_tcpdump_record_for_record(lab, tmp_path):
    ours = start_captures(_points(lab, bpf=None), tmp_path / "ring", engine="ring")
    theirs = start_captures(_points(lab, bpf=None), tmp_path / "tcpdump", engine="tcpdump")
    try:
        _traffic(lab)
        filtered = start_captures(_points(lab, bpf="tcp and greater 1000"), tmp_path / "ring-filtered")
        reference = start_captures(_points(lab, bpf="tcp and greater 1000"), tmp_path / "tcpdump-filtered",
                                   engine="tcpdump")
        _traffic(lab)
        lab.exec("client", ["sleep", "0.3"])  # tcpdump loses what it has not read at SIGINT: let it read
    finally:
        stop_captures(theirs + ours)
    stop_captures(filtered + reference)
    for mine, tcpdump in zip(ours + filtered, theirs + reference, strict=True):
        assert mine.path.read_bytes()[:24] == tcpdump.path.read_bytes()[:24]  # magic, version, snaplen, link type
        # IPv4 only: the two engines start and stop microseconds apart, and the kernel may send
        # an IPv6 or ARP packet of its own in between
        got, want = _ipv4(_packets(mine.path)), _ipv4(_packets(tcpdump.path))
        assert len(want) > 10
        assert _same_records(got) == _same_records(want), f"{mine.point}: {len(got)} vs tcpdump's {len(want)} packets"
        assert any(length >= 1400 for _, length in got)  # full-size frames kept whole
    if shutil.which("tshark"):
        out = subprocess.run(["tshark", "-r", str(ours[0].path), "-T", "fields", "-e", "frame.len"],
                             capture_output=True, text=True, check=True).stdout.split()
        assert len(out) == len(_packets(ours[0].path))
    from scapy.utils import rdpcap

    assert len(rdpcap(str(ours[1].path))) == len(_packets(ours[1].path))


def test_merged_pcapng_names_each_wire(lab, tmp_path):
    caps = start_captures(_points(lab, bpf=None), tmp_path)
    lab.exec("client", ["ping", "-c", "3", "-i", "0.01", SERVER], check=True)
    stop_captures(caps, merged=tmp_path / "all.pcapng")
    out = subprocess.run(["tshark", "-r", str(tmp_path / "all.pcapng"), "-T", "fields", "-e", "frame.interface_name"],
                         capture_output=True, text=True, check=True).stdout.split()
    assert sorted(set(out)) == ["client:eth0", "server:eth0"]
    for cap in caps:
        assert out.count(cap.point) == len(_packets(cap.path)) >= 6


def test_live_capture_of_a_whole_lab_is_one_pcapng_with_an_interface_per_wire(lab, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    out = tmp_path / "live.pcapng"
    with open(out, "wb") as sink:
        cap = subprocess.Popen([sys.executable, "-m", "socklab.cli", "capture", "t-cap", "-w", "-", "-c", "8", "-f", "icmp"],
                               env=env, stdout=sink, stderr=subprocess.PIPE, text=True)
        assert cap.stderr.readline() == "socklab: capturing on server:eth0, client:eth0\n"  # every wire is ready
        deadline = time.monotonic() + 10
        while cap.poll() is None and time.monotonic() < deadline:
            lab.exec("client", ["ping", "-c1", "-W1", SERVER])
        assert cap.wait(timeout=10) == 0, cap.stderr.read()
    fields = subprocess.run(["tshark", "-r", str(out), "-T", "fields", "-e", "frame.interface_name", "-e", "icmp.type"],
                            capture_output=True, text=True, check=True).stdout.splitlines()
    assert len(fields) == 8, fields
    assert {tuple(f.split("\t")) for f in fields} == {(w, t) for w in ("client:eth0", "server:eth0") for t in ("8", "0")}
