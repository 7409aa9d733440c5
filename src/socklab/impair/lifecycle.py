"""Start the relay of an instance, talk to it, read what it did, remove it.

The relay's namespace is claimed in the ledger before it exists (deployment.up); the
relay process is recorded as one of the instance's pids the moment it starts, and lives in
that namespace, so `down` and `gc` remove both after any failure.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from socklab import names, nsutil, state
from socklab.errors import InfrastructureError, UsageError
from socklab.impair.engine import recv_line

START_TIMEOUT = 15.0
SRC_DIR = Path(__file__).resolve().parents[2]


def events_path(instance: str) -> Path:
    return state.instance_dir(instance) / "relay-events.jsonl"


def control_path(instance: str) -> Path:
    return state.instance_dir(instance) / "relay.sock"


def launch_relay(lab, plan, record: state.Record) -> subprocess.Popen:
    """Start the instance's relay process early: it loads Python and its modules while the
    backend builds the lab, then waits for start_relay (its start-up is most of what an
    impaired lab adds to bring-up). Recorded in the ledger at once."""
    from socklab.impair.config import relay_config

    folder = state.instance_dir(plan.instance)
    config = relay_config(lab, plan, str(events_path(plan.instance)), str(control_path(plan.instance)))
    config_file = folder / "relay.json"
    config_file.write_text(json.dumps(config, indent=1))
    log = open(folder / "relay.log", "wb")  # noqa: SIM115 (handed to the child)
    env = {**os.environ, "PYTHONPATH": f"{SRC_DIR}{os.pathsep}{os.environ.get('PYTHONPATH', '')}".rstrip(os.pathsep)}
    try:
        proc = subprocess.Popen([sys.executable, "-m", "socklab.impair.engine", str(config_file)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                                start_new_session=True, env=env)
    finally:
        log.close()
    record.pids.append(proc.pid)
    with state.locked():
        state.save(record)
    return proc


def start_relay(proc: subprocess.Popen, instance: str) -> None:
    """Tell the launched relay its namespace exists, and wait until it forwards."""
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write(b"go\n")
        proc.stdin.close()
    except BrokenPipeError:
        pass
    ready, _, _ = select.select([proc.stdout], [], [], START_TIMEOUT)
    line = proc.stdout.readline() if ready else b""
    proc.stdout.close()
    if line.strip() != b"ready":
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait()
        log = state.instance_dir(instance) / "relay.log"
        tail = log.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise InfrastructureError(f"the link relay did not start: {tail[0]}")
    # the child is reaped by whoever brings the lab down; don't leave a zombie here meanwhile
    proc.returncode = 0


def stop_relay(record: state.Record, timeout: float = 3.0) -> None:
    """Ask the relay to exit (SIGTERM: it closes its sockets in parallel, much faster than
    the kernel does after a SIGKILL) and wait for it; remove_relay kills what remains."""
    import signal

    from socklab.backends.wiring import _not_zombie

    paths = [nsutil.netns_path(n) for n in record.names("netns") if names.is_relay_netns(n)]
    pids = list(nsutil.pids_in_netns([p for p in paths if os.path.exists(p)]))
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while pids and time.monotonic() < deadline:
        for pid in list(pids):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
        pids = [p for p in pids if os.path.exists(f"/proc/{p}") and _not_zombie(p)]
        if pids:
            time.sleep(0.005)


def remove_relay(record: state.Record) -> None:
    """Kill the relay (wherever the backend left it) and remove its namespace. Idempotent."""
    from socklab.backends.wiring import kill_processes

    relay_ns = [n for n in record.names("netns") if names.is_relay_netns(n)]
    paths = [nsutil.netns_path(n) for n in relay_ns if os.path.exists(nsutil.netns_path(n))]
    kill_processes([], paths)
    for name in relay_ns:
        nsutil.remove_netns(name)
    for path in (control_path(record.instance),):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def ask(instance: str, request: dict[str, Any], timeout: float = 5.0) -> dict[str, Any]:
    """Send one command to an instance's relay; its JSON answer."""
    path = control_path(instance)
    if not path.exists():
        raise UsageError(f"instance {instance!r} has no impaired links (no relay); give a link `impair: {{}}` "
                         "in the lab file to change it at run time")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(str(path))
            sock.sendall(json.dumps(request).encode() + b"\n")
            data = recv_line(sock)
        except OSError as err:
            raise InfrastructureError(f"the link relay of {instance!r} does not answer: {err}") from None
    reply = json.loads(data or b"{}")
    if not reply.get("ok"):
        raise UsageError(reply.get("error") or "the relay refused")
    return reply


def read_events(instance: str, since: float = 0.0) -> list[dict[str, Any]]:
    """What the relay did to packets (and link changes) from `since` (epoch seconds) on."""
    path = events_path(instance)
    out = []
    try:
        with open(path) as f:
            for line in f:
                with contextlib.suppress(ValueError):
                    event = json.loads(line)
                    if event.get("time", 0) >= since:
                        out.append(event)
    except FileNotFoundError:
        pass
    return out




def change_link(instance: str, plan, endpoint: str, action: str, impair: dict[str, Any] | None = None,
                egress: bool = False, by: str = "socklab link") -> dict[str, Any]:
    """show, down, up, set (impair: the fields to change) or reset the link ending at `endpoint`.

    set/down/up/reset act on both directions unless `egress` (only frames leaving endpoint).
    """
    link = next((lk for lk in plan.links if endpoint in (lk.a, lk.b)), None)
    if link is None:
        ends = ", ".join(f"{lk.a}" for lk in plan.links) or "none"
        raise UsageError(f"no link ends at {endpoint} in {instance} (links: {ends})")
    if plan.relay is None or plan.relay.link(link.index) is None:
        raise UsageError(f"link {link.a} <-> {link.b} has no relay; give it `impair: {{}}` in the lab file "
                         "to change it at run time")
    if action == "show":
        reply = ask(instance, {"cmd": "show"})
        return {"directions": [d for d in reply["directions"] if d["link"] == link.index]}
    request: dict[str, Any] = {"cmd": action, "link": link.index, "by": by}
    if egress:
        request["egress"] = endpoint
    if impair is not None:
        request["impair"] = impair
    return ask(instance, request)


def parse_changes(values: dict[str, str | None]) -> dict[str, float]:
    """Command-line impairment values ("50ms", "2%", "1mbit") as the relay's numbers."""
    from pydantic import ValidationError

    from socklab.model.impair import Impairment

    given = {k: v for k, v in values.items() if v is not None}
    try:
        parsed = Impairment.model_validate(given)
    except ValidationError as err:
        first = err.errors()[0]
        raise UsageError(f"--{first['loc'][0]}: {first['msg'].removeprefix('Value error, ')}") from None
    return {k: getattr(parsed, k) for k in given}


LINK_ACTIONS = ("show", "set", "down", "up", "reset")


def link_changes(action: str, values: dict[str, str | None]) -> dict[str, float]:
    """`socklab link`'s request checked: a known action, impairments given with set and only with set."""
    if action not in LINK_ACTIONS:
        raise UsageError(f"unknown action {action!r}: use show, set, down, up or reset")
    changes = parse_changes(values)
    if action == "set" and not changes:
        raise UsageError("set needs at least one of --delay --jitter --loss --duplicate --reorder --corrupt --rate")
    if action != "set" and changes:
        raise UsageError(f"--delay, --loss... go with set, not {action}")
    return changes
