"""The socket agents, run as real subprocesses on loopback, against each other and plain sockets.

No root needed: tcp, udp and unix over 127.0.0.1, ::1 and the file system; frame
building checked against scapy; the CLI's help, exit codes and the stdlib-only rule.
Raw, AF_PACKET and scapy agents live in tests/integration/test_agents_netns.py.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from socklab.agents import frames
from socklab.agents.events import Emitter, format_addr, human_line
from tests.agent_harness import ENV, SRC, Agent, only, run_agent

BARE_PYTHON = (sys.executable, "-S")  # no site-packages: the standard library and PYTHONPATH only
HAS_IPV6 = socket.has_ipv6 and os.path.exists("/proc/net/if_inet6")

pytestmark = pytest.mark.timeout(30)


HOSTS = [pytest.param("127.0.0.1", id="ipv4"),
         pytest.param("::1", id="ipv6", marks=pytest.mark.skipif(not HAS_IPV6, reason="no IPv6"))]


# --- TCP ------------------------------------------------------------------------------


@pytest.mark.parametrize("host", HOSTS)
def test_tcp_agents_exchange_hello(agents: Any, host: str) -> None:
    server = agents("tcp", "server", "--bind", host, "--port", "0", "--timeout", "10")
    port = server.port("listening")
    rc, events, stderr = run_agent("tcp", "client", "--host", host, "--port", str(port))
    assert rc == 0, stderr
    assert [e["event"] for e in events] == ["connected", "sent", "received", "closed"]
    assert only(events, "received")[0]["payload"] == "Hello World from server"
    assert all(e["agent"] == "tcp" and e["role"] == "client" and isinstance(e["time"], float)
               for e in events)
    rc, events, _ = server.finish()
    assert rc == 0
    received = only(events, "received")[0]
    assert received["payload"] == "Hello World from client"
    assert received["payload_hex"] == b"Hello World from client".hex()
    assert received["bytes"] == 23
    assert events[0]["family"] == ("inet6" if ":" in host else "inet")
    assert only(events, "listening")


@pytest.mark.parametrize("host", HOSTS)
def test_tcp_server_agent_serves_a_plain_socket_client(agents: Any, host: str) -> None:
    server = agents("tcp", "server", "--bind", host, "--port", "0", "--reply", "pong", "--count", "2")
    port = server.port("listening")
    for message in (b"first", b"second"):
        with socket.create_connection((host, port), timeout=5) as conn:
            conn.sendall(message)
            assert conn.recv(100) == b"pong"
            assert conn.recv(100) == b""  # the server closes after its one reply
    rc, events, _ = server.finish()
    assert rc == 0
    assert [e["payload"] for e in only(events, "received")] == ["first", "second"]
    assert events[-1] == {**events[-1], "event": "closed", "handled": 2}


def test_tcp_client_agent_talks_to_a_plain_socket_server() -> None:
    with socket.socket(socket.AF_INET6 if HAS_IPV6 else socket.AF_INET) as srv:
        host = "::1" if HAS_IPV6 else "127.0.0.1"
        srv.bind((host, 0))
        srv.listen(1)
        got: list[bytes] = []

        def serve() -> None:
            conn, _ = srv.accept()
            with conn:
                got.append(conn.recv(100))
                conn.sendall(b"from plain server")

        thread = threading.Thread(target=serve)
        thread.start()
        rc, events, stderr = run_agent("tcp", "client", "--host", host, "--port",
                                       str(srv.getsockname()[1]), "--message", "from agent")
        thread.join(5)
    assert rc == 0, stderr
    assert got == [b"from agent"]
    assert only(events, "received")[0]["payload"] == "from plain server"


def test_tcp_client_resolves_names(agents: Any) -> None:
    server = agents("tcp", "server", "--bind", "127.0.0.1", "--port", "0")
    rc, events, _ = run_agent("tcp", "client", "--host", "localhost", "-4", "--port", str(server.port("listening")))
    assert rc == 0
    assert only(events, "connected")[0]["peer"].startswith("127.0.0.1:")


def test_tcp_server_no_reply_leaves_the_client_with_an_empty_read(agents: Any) -> None:
    server = agents("tcp", "server", "--bind", "127.0.0.1", "--port", "0", "--no-reply")
    rc, events, _ = run_agent("tcp", "client", "--host", "127.0.0.1", "--port", str(server.port("listening")))
    assert rc == 0
    assert only(events, "received")[0]["bytes"] == 0
    assert not only(server.finish()[1], "sent")


def test_tcp_client_refused_is_an_error_event_not_a_traceback() -> None:
    with socket.socket() as probe:  # a port that was free a moment ago, and nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    rc, events, stderr = run_agent("tcp", "client", "--host", "127.0.0.1", "--port", str(port))
    assert rc == 1
    assert events[-1]["event"] == "error"
    assert "refused" in events[-1]["message"]
    assert "Traceback" not in stderr


def test_server_timeout_gives_up_in_time() -> None:
    started = time.monotonic()
    rc, events, stderr = run_agent("tcp", "server", "--bind", "127.0.0.1", "--port", "0",
                                   "--timeout", "0.5", "--count", "3")
    assert rc == 1
    assert time.monotonic() - started < 5
    assert events[-1]["event"] == "error" and "timed out after 0.5s" in events[-1]["message"]
    assert "Traceback" not in stderr


def test_unresolvable_host_is_an_error_event() -> None:
    rc, events, stderr = run_agent("tcp", "client", "--host", "no-such-host.invalid", "--port", "1")
    assert rc == 1
    assert "cannot resolve" in events[-1]["message"]
    assert "Traceback" not in stderr


# --- UDP ------------------------------------------------------------------------------


@pytest.mark.parametrize("host", HOSTS)
def test_udp_agents_exchange_hello(agents: Any, host: str) -> None:
    server = agents("udp", "server", "--bind", host, "--port", "0", "--reply", "ack")
    port = server.port()
    rc, events, stderr = run_agent("udp", "client", "--host", host, "--port", str(port),
                                   "--message", "datagram!")
    assert rc == 0, stderr
    assert only(events, "received")[0]["payload"] == "ack"
    rc, events, _ = server.finish()
    assert rc == 0
    assert only(events, "received")[0]["payload"] == "datagram!"
    assert only(events, "received")[0]["truncated"] is False


@pytest.mark.parametrize("host", HOSTS)
def test_udp_server_agent_with_plain_socket_client(agents: Any, host: str) -> None:
    server = agents("udp", "server", "--bind", host, "--port", "0", "--count", "2", "--recv-size", "4")
    port = server.port()
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        for message in (b"abc", b"longer than four"):
            sock.sendto(message, (host, port))
            assert sock.recvfrom(100)[0] == b"Hello World from server"
        local_port = sock.getsockname()[1]
    rc, events, _ = server.finish()
    assert rc == 0
    first, second = only(events, "received")
    assert first["payload"] == "abc" and not first["truncated"]
    assert second["payload"] == "long" and second["truncated"]
    assert first["peer"].endswith(f":{local_port}")


def test_udp_client_agent_with_plain_socket_server() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(5)
        agent = Agent("udp", "client", "--host", "127.0.0.1", "--port", str(sock.getsockname()[1]))
        data, peer = sock.recvfrom(100)
        sock.sendto(b"reply from plain", peer)
        rc, events, _ = agent.finish()
    assert data == b"Hello World from client"
    assert rc == 0
    assert only(events, "received")[0]["payload"] == "reply from plain"


def test_udp_client_sees_port_unreachable_as_refused() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    rc, events, stderr = run_agent("udp", "client", "--host", "127.0.0.1", "--port", str(port),
                                   "--timeout", "3")
    assert rc == 1
    assert "refused" in events[-1]["message"]
    assert "Traceback" not in stderr


# --- AF_UNIX --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["stream", "dgram"])
@pytest.mark.parametrize("abstract", [False, True], ids=["path", "abstract"])
def test_unix_agents_exchange_hello(agents: Any, tmp_path: Path, kind: str, abstract: bool) -> None:
    path = f"@sl-tagent-{os.getpid()}-{kind}" if abstract else str(tmp_path / "lab.sock")
    server = agents("unix", "server", "--type", kind, "--path", path, "--reply", "unix reply")
    assert server.wait_for("bound")["path"] == path
    rc, events, stderr = run_agent("unix", "client", "--type", kind, "--path", path)
    assert rc == 0, stderr
    assert only(events, "received")[0]["payload"] == "unix reply"
    rc, events, _ = server.finish()
    assert rc == 0
    assert only(events, "received")[0]["payload"] == "Hello World from client"
    if kind == "stream":
        assert only(events, "connected")[0]["peer_cred"]["pid"] > 0
    else:
        assert only(events, "received")[0]["peer"].startswith("@")  # the client's autobind name
    assert not os.path.exists(path)  # the server removes its socket file


def test_unix_server_with_plain_socket_client_and_stale_file(agents: Any, tmp_path: Path) -> None:
    path = str(tmp_path / "stale.sock")
    with socket.socket(socket.AF_UNIX) as old:  # a leftover socket file, nobody behind it
        old.bind(path)
    server = agents("unix", "server", "--path", path)
    server.wait_for("listening")
    with socket.socket(socket.AF_UNIX) as conn:
        conn.settimeout(5)
        conn.connect(path)
        conn.sendall(b"plain")
        assert conn.recv(100) == b"Hello World from server"
    rc, events, _ = server.finish()
    assert rc == 0 and only(events, "received")[0]["payload"] == "plain"


def test_unix_server_refuses_to_replace_a_regular_file(tmp_path: Path) -> None:
    path = tmp_path / "precious.txt"
    path.write_text("keep me")
    rc, events, _ = run_agent("unix", "server", "--path", str(path), "--timeout", "1")
    assert rc == 1 and "not a socket" in events[-1]["message"]
    assert path.read_text() == "keep me"


def test_sigterm_ends_a_server_cleanly(agents: Any, tmp_path: Path) -> None:
    path = tmp_path / "term.sock"
    server = agents("unix", "server", "--path", str(path))
    server.wait_for("listening")
    assert path.exists()
    server.proc.send_signal(signal.SIGTERM)
    rc, events, stderr = server.finish()
    assert rc == 1 and events[-1]["event"] == "error" and "SIGTERM" in events[-1]["message"]
    assert not path.exists()
    assert "Traceback" not in stderr


# --- CLI ------------------------------------------------------------------------------

ROLES = [("tcp", "server"), ("tcp", "client"), ("udp", "server"), ("udp", "client"),
         ("raw", "receiver"), ("raw", "sender"), ("packet", "sender"), ("packet", "receiver"),
         ("unix", "server"), ("unix", "client"), ("ping",), ("dns", "server"), ("dns", "query"),
         ("arp",), ("sniff",), ("send",), ("sendp",)]


def test_every_help_teaches_with_examples() -> None:
    from socklab.agents.cli import build_parser

    parser = build_parser()
    top = parser.format_help()
    assert "examples:" in top and "KIND" in top
    for path in ROLES:
        with pytest.raises(SystemExit) as exit_info:
            parser.parse_args([*path, "--help"])
        assert exit_info.value.code == 0
    # and one for real, through python -m
    done = subprocess.run([sys.executable, "-m", "socklab.agents", "packet", "sender", "--help"],
                          capture_output=True, text=True, env=ENV, timeout=10)
    assert done.returncode == 0
    assert "examples:" in done.stdout and "--bad-udp-checksum" in done.stdout


@pytest.mark.parametrize("argv", [
    ["tcp"],
    ["tcp", "client"],
    ["tcp", "client", "--host", "x", "--port", "70000"],
    ["udp", "server", "--timeout", "0"],
    ["udp", "server", "--timeout", "inf"],
    ["udp", "server", "--count", "0"],
    ["packet", "sender", "--iface", "lo", "--dst-mac", "zz:00"],
    ["packet", "sender", "--iface", "lo", "--udp"],
    ["raw", "sender", "--host", "127.0.0.1", "--proto", "300"],
    ["unix", "server", "--path", "/tmp/x", "--type", "seqpacket"],
    ["dns", "server", "--record", "www.lab"],
    ["tcp", "server", "--reply", "a", "--no-reply"],
])
def test_bad_arguments_exit_2(argv: list[str]) -> None:
    done = subprocess.run([sys.executable, "-m", "socklab.agents", *argv],
                          capture_output=True, text=True, env=ENV, timeout=10)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr


def test_agent_modules_run_as_scripts_too(agents: Any) -> None:
    """DESIGN.md writes `python -m socklab.agents.tcp server ...`; that spelling works as well."""
    server = agents("tcp", "server", "--bind", "127.0.0.1", "--port", "0")
    done = subprocess.run(
        [sys.executable, "-m", "socklab.agents.tcp", "client", "--host", "127.0.0.1",
         "--port", str(server.port("listening")), "--json"],
        capture_output=True, text=True, env=ENV, timeout=10,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1])["event"] == "closed"


# --- standard library only --------------------------------------------------------------


def test_socket_agents_import_only_the_standard_library() -> None:
    code = (
        "import sys, pkgutil, importlib; sys.path.insert(0, sys.argv[1]); before = set(sys.modules)\n"
        "import socklab.agents as pkg\n"
        "names = [m.name for m in pkgutil.walk_packages(pkg.__path__, 'socklab.agents.')]\n"
        "assert 'socklab.agents.tcp' in names and 'socklab.agents.scapy_agents.sniff' in names, names\n"
        "[importlib.import_module(n) for n in names if not n.endswith('__main__')]\n"
        "tops = {name.split('.')[0] for name in set(sys.modules) - before}\n"
        "print(' '.join(sorted(t for t in tops if t not in sys.stdlib_module_names)))\n"
    )
    done = subprocess.run([sys.executable, "-I", "-c", code, SRC], capture_output=True, text=True, timeout=10)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["socklab"]  # no scapy, pydantic, yaml, typer, rich...


def test_socket_agents_run_in_a_minimal_node(agents: Any, tmp_path: Path) -> None:
    """As in the agent image: no site-packages (so no scapy) and only socklab/agents on the path."""
    assert subprocess.run([*BARE_PYTHON, "-c", "import scapy"], capture_output=True).returncode != 0
    shutil.copytree(Path(SRC) / "socklab" / "agents", tmp_path / "socklab" / "agents",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "socklab" / "__init__.py").write_text("")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(tmp_path)}
    server = agents("udp", "server", "--bind", "127.0.0.1", "--port", "0", python=BARE_PYTHON, env=env)
    rc, events, stderr = run_agent("udp", "client", "--host", "127.0.0.1", "--port", str(server.port()),
                                   python=BARE_PYTHON, env=env)
    assert rc == 0, stderr
    assert only(events, "received")[0]["payload"] == "Hello World from server"
    # a scapy agent there says what is missing instead of raising ImportError
    rc, events, stderr = run_agent("ping", "--host", "127.0.0.1", python=BARE_PYTHON, env=env)
    assert rc == 1 and "needs scapy" in events[-1]["message"]
    assert "Traceback" not in stderr


def test_human_output_is_what_a_lab_expectation_greps(agents: Any) -> None:
    """Without --json the server prints the message itself, like the course's server does."""
    server = subprocess.Popen(
        [sys.executable, "-m", "socklab.agents", "tcp", "server", "--bind", "127.0.0.1", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV,
    )
    try:
        assert server.stdout is not None
        first = server.stdout.readline()  # "[tcp server] bound to 127.0.0.1:PORT (family=inet)"
        port = first.split("127.0.0.1:")[1].split()[0]
        client = subprocess.run([sys.executable, "-m", "socklab.agents", "tcp", "client", "--host",
                                 "127.0.0.1", "--port", port], capture_output=True, text=True, env=ENV, timeout=10)
        out, err = server.communicate(timeout=10)
    finally:
        server.kill()
    assert client.returncode == 0 and server.returncode == 0, err
    assert "received 23 bytes from 127.0.0.1:" in out and out.count("Hello World from client") == 1
    assert "[tcp client] received 23 bytes from 127.0.0.1:" in client.stdout
    assert "Hello World from server" in client.stdout and not client.stdout.lstrip().startswith("{")


# --- events ---------------------------------------------------------------------------


def test_json_events_are_one_object_per_line_and_flushed(tmp_path: Path) -> None:
    with open(tmp_path / "out", "w+") as stream:
        out = Emitter("udp", "server", json_lines=True, stream=stream)
        out.emit("received", peer="1.2.3.4:5", bytes=2, payload="hi", payload_hex="6869")
        stream.seek(0)
        record = json.loads(stream.readline())  # readable before anything else is written
    assert record["event"] == "received" and record["agent"] == "udp" and record["role"] == "server"
    assert abs(record["time"] - time.time()) < 60


def test_human_lines_show_payload_and_headers() -> None:
    record = {"event": "received", "agent": "packet", "role": "receiver", "time": 0.0,
              "peer": "02:00:00:00:00:01", "bytes": 7, "payload": "hello\0\0", "payload_hex": "68656c6c6f0000",
              "ip": {"ttl": 64, "protocol": 102}}
    lines = human_line(record).splitlines()
    assert lines[0] == "[packet receiver] received 7 bytes from 02:00:00:00:00:01: hello\\x00\\x00"
    assert lines[1] == "    ip: ttl=64 protocol=102"
    binary = human_line({**record, "payload": "\x8a\x01\x00\x02\x03x"})
    assert binary.splitlines()[0].endswith("from 02:00:00:00:00:01")  # binary stays in payload_hex


@pytest.mark.parametrize("addr, shown", [
    (("127.0.0.1", 80), "127.0.0.1:80"), (("::1", 80, 0, 0), "[::1]:80"),
    (b"\0abc", "@abc"), ("", "(unnamed)"), ("/tmp/s", "/tmp/s"), (("10.0.0.1", 0), "10.0.0.1"),
])
def test_format_addr(addr: Any, shown: str) -> None:
    assert format_addr(addr) == shown


# --- frames, checked against scapy -------------------------------------------------------


def test_checksum_matches_rfc1071_example() -> None:
    # RFC 1071 section 3: the words 0001 f203 f4f5 f6f7 sum to ddf2 (checksum = its complement)
    assert frames.checksum(bytes.fromhex("0001f203f4f5f6f7")) == 0xFFFF - 0xDDF2
    assert frames.checksum(b"\x01") == 0xFFFF - 0x0100  # odd length: padded with a zero byte


@settings(max_examples=60, deadline=None)
@given(
    payload=st.binary(max_size=300),
    sport=st.integers(0, 65535), dport=st.integers(0, 65535), ttl=st.integers(1, 255),
    src=st.ip_addresses(v=4).map(str), dst=st.ip_addresses(v=4).map(str),
)
def test_udp_frames_agree_with_scapy(payload: bytes, sport: int, dport: int, ttl: int, src: str, dst: str) -> None:
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether

    segment = frames.udp_datagram(src, dst, sport, dport, payload)
    packet = frames.ipv4_header(src, dst, frames.IPPROTO_UDP, len(segment), ttl=ttl, ident=7) + segment
    frame = frames.ethernet_frame(b"\x02" * 6, b"\x04" * 6, frames.ETH_P_IP, packet)
    assert len(frame) >= 60
    decoded = Ether(frame)
    rebuilt = decoded.copy()
    del rebuilt[IP].chksum, rebuilt[IP].len, rebuilt[UDP].chksum, rebuilt[UDP].len
    rebuilt = Ether(bytes(rebuilt))
    assert decoded[IP].chksum == rebuilt[IP].chksum
    assert decoded[UDP].chksum == rebuilt[UDP].chksum
    assert decoded[IP].len == 20 + 8 + len(payload) and decoded[UDP].len == 8 + len(payload)
    assert decoded[IP].flags == "DF" and decoded[IP].ttl == ttl and decoded[IP].proto == 17
    assert bytes(decoded[UDP].payload)[: len(payload)] == payload

    eth, rest = frames.parse_ethernet(frame)
    ip, rest = frames.parse_ipv4(rest)
    udp, body = frames.parse_udp(rest, ip["src"], ip["dst"])
    assert (eth["type"], ip["checksum_ok"], udp["checksum_ok"], body) == (0x0800, True, True, payload)
    assert (ip["src"], ip["dst"], udp["sport"], udp["dport"]) == (src, dst, sport, dport)


@settings(max_examples=40, deadline=None)
@given(payload=st.binary(max_size=64), sport=st.integers(0, 65535))
def test_corrupted_checksums_are_always_wrong(payload: bytes, sport: int) -> None:
    src, dst = "192.168.11.1", "192.168.11.2"
    bad_udp = frames.udp_datagram(src, dst, sport, 9, payload, bad_checksum=True)
    assert frames.parse_udp(bad_udp, src, dst)[0]["checksum_ok"] is False
    bad_ip = frames.ipv4_header(src, dst, 17, len(bad_udp), bad_checksum=True)
    assert frames.parse_ipv4(bad_ip + bad_udp)[0]["checksum_ok"] is False


def test_parse_mac() -> None:
    assert frames.parse_mac("02:00:0A:0b:0c:ff") == bytes([2, 0, 10, 11, 12, 255])
    assert frames.format_mac(frames.parse_mac("2-0-0-0-0-1")) == "02:00:00:00:00:01"
    for bad in ("02:00:00:00:00", "zz:00:00:00:00:00", "020000000001"):
        with pytest.raises(ValueError):
            frames.parse_mac(bad)
