"""Running socklab agents as real subprocesses in tests, reading their --json events as they come.

Shared by tests/unit/test_agents.py (loopback) and tests/integration/test_agents_netns.py
(inside namespaces, via `netns=`).
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from socklab.agents.events import EVENTS

SRC = str(Path(__file__).resolve().parents[1] / "src")
ENV = {**os.environ, "PYTHONPATH": SRC}
PYTHON = (sys.executable,)


def command(netns: str | None, python: tuple[str, ...], *args: str) -> list[str]:
    prefix = ["ip", "netns", "exec", netns] if netns else []
    return [*prefix, *python, "-m", "socklab.agents", *args, "--json"]


def parse_event(line: str) -> dict[str, Any]:
    """One --json line; every event must carry the common fields and be of a known type."""
    record = json.loads(line)
    assert record["event"] in EVENTS, record
    assert isinstance(record["agent"], str) and isinstance(record["role"], str)
    assert isinstance(record["time"], float), record
    return record


def only(events: list[dict], name: str) -> list[dict]:
    return [e for e in events if e["event"] == name]


class Agent:
    """A background agent (with --json), optionally inside a namespace; events read as they come."""

    def __init__(self, *args: str, netns: str | None = None, python: tuple[str, ...] = PYTHON,
                 env: dict[str, str] = ENV) -> None:
        self.proc = subprocess.Popen(command(netns, python, *args), stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=env)
        self.events: list[dict[str, Any]] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def wait_for(self, event: str, timeout: float = 10) -> dict[str, Any]:
        """The next event of this type; fails the test if the agent exits or stalls first."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(f"no {event!r} event within {timeout}s; got {self.events}")
            if line is None:
                pytest.fail(f"agent exited before {event!r}: {self.events} {self.proc.stderr.read()}")
            record = parse_event(line)
            self.events.append(record)
            if record["event"] == event:
                return record

    def finish(self, timeout: float = 20) -> tuple[int, list[dict[str, Any]], str]:
        """Wait for exit; (exit code, every event, stderr)."""
        try:
            rc = self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        while (line := self._lines.get(timeout=5)) is not None:
            self.events.append(parse_event(line))
        assert self.proc.stderr is not None
        return rc, self.events, self.proc.stderr.read()

    def port(self, ready: str = "bound") -> int:
        """The port from the readiness event: "listening" for TCP (bound is not accepting yet)."""
        return int(self.wait_for(ready)["port"])


def run_agent(*args: str, netns: str | None = None, python: tuple[str, ...] = PYTHON,
              env: dict[str, str] = ENV, timeout: float = 20) -> tuple[int, list[dict], str]:
    """Run an agent to completion with --json: (exit code, events, stderr)."""
    done = subprocess.run(command(netns, python, *args), capture_output=True, text=True, env=env, timeout=timeout)
    return done.returncode, [parse_event(line) for line in done.stdout.splitlines()], done.stderr


@pytest.fixture
def agents() -> Iterator[Any]:
    """Start agents; whatever still runs at the end of the test is killed."""
    started: list[Agent] = []

    def start(*args: str, **kwargs: Any) -> Agent:
        started.append(Agent(*args, **kwargs))
        return started[-1]

    yield start
    for agent in started:
        if agent.proc.poll() is None:
            agent.proc.kill()
        agent.proc.wait()
