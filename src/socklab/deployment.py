"""The library face of a running lab: up, exec, down. The CLI and the pytest plugin use this."""

from __future__ import annotations

import contextlib
import signal
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from socklab import names, nogc, nsutil, state
from socklab.backends import get_backend
from socklab.backends.base import NAMESPACES, Backend, NodeAccess, Progress, no_progress
from socklab.backends.wiring import kill_processes
from socklab.errors import InfrastructureError, StateError, UsageError
from socklab.model.lab import Lab
from socklab.plan import Plan, make_plan


@dataclass
class Deployment:
    """A running lab instance. Use as a context manager to bring it down whatever happens."""

    plan: Plan
    backend: Backend
    record: state.Record
    lab: Lab | None = None

    @property
    def instance(self) -> str:
        return self.plan.instance

    def access(self, node: str, interactive: bool = False) -> NodeAccess:
        """How commands reach this node (argv prefix, environment, where workspaces live)."""
        self._check_node(node)
        return self.backend.node(self.plan, node, interactive)

    def exec_argv(self, node: str, argv: Sequence[str]) -> list[str]:
        return [*self.access(node).argv, *argv]

    @property
    def node_env(self) -> dict[str, str]:
        """Environment for commands in nodes (PATH, PYTHONPATH for socklab.agents): the same in every node."""
        return self.access(self.plan.nodes[0].name).env

    @property
    def workspace_root(self) -> Path | None:
        """Where run workspaces must live to be visible in nodes at the same path (None: anywhere)."""
        return self.access(self.plan.nodes[0].name).workspace_root

    def exec(self, node: str, argv: Sequence[str], *, timeout: float | None = 30, check: bool = False,
             **kwargs: Any) -> subprocess.CompletedProcess:
        """Run a command in a node and wait for it; output is captured as text unless redirected."""
        kwargs.setdefault("capture_output", "stdout" not in kwargs and "stderr" not in kwargs)
        kwargs.setdefault("text", True)
        return subprocess.run(self.exec_argv(node, argv), timeout=timeout, check=check, **kwargs)

    def popen(self, node: str, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen:
        """Start a command in a node in its own process group; down() kills it if still running."""
        kwargs.setdefault("start_new_session", True)
        proc = subprocess.Popen(self.exec_argv(node, argv), **kwargs)
        with state.locked():
            self.record.pids.append(proc.pid)
            state.save(self.record)
        return proc

    def netns_path(self, node: str) -> str:
        self._check_node(node)
        return self.backend.netns_path(self.plan, node)

    def kill_all(self) -> None:
        """Kill every process still running in the lab's nodes (the lab itself stays up).

        A /proc/<pid>/ns/net path names the process holding a node's namespace (a
        container's init): it is spared, so the node stays up.
        """
        paths = []
        for node in self.plan.nodes:
            with contextlib.suppress(InfrastructureError):  # a node that is not running has nothing to kill
                paths.append(self.backend.netns_path(self.plan, node.name))
        holders = {int(p.split("/")[2]) for p in paths if p.startswith("/proc/")}
        kill_processes([pid for pid in nsutil.pids_in_netns(paths) if pid not in holders], [])

    def down(self) -> None:
        destroy(self.record)

    def _check_node(self, node: str) -> None:
        try:
            self.plan.node(node)
        except KeyError as err:
            raise UsageError(str(err.args[0])) from None

    def __enter__(self) -> Deployment:
        return self

    def __exit__(self, *exc: object) -> None:
        self.down()


NetnsPaths = Callable[[str], str]
"""node name -> the path of its network namespace (Deployment.netns_path, before there is a Deployment)."""


def up(lab: Lab | str | Path, backend: str | None = None, name: str | None = None,
       progress: Progress = no_progress, persistent: bool = True,
       on_namespaces: Callable[[NetnsPaths], None] | None = None) -> Deployment:
    """Bring a lab up. An interrupted or failed up removes everything it created.

    persistent=False ties the lab to this process: if it dies without bringing the lab
    down (SIGKILL), `socklab gc` removes it. `on_namespaces(netns_path)` is called once,
    from this thread, as soon as every node's namespace exists (links and addresses are
    made after it): work that needs only the namespaces can begin meanwhile (`socklab run`
    prepares its capture rings). Backends that do not report their namespaces (docker)
    never call it; if up then fails, the caller undoes what its callback began.
    """
    with nogc.paused():
        return _up(lab, backend, name, progress, persistent, on_namespaces)


def _up(lab: Lab | str | Path, backend: str | None, name: str | None, progress: Progress,
        persistent: bool, on_namespaces: Callable[[NetnsPaths], None] | None = None) -> Deployment:
    if not isinstance(lab, Lab):
        from socklab.model.loader import load_lab

        lab = load_lab(lab)
    plan = make_plan(lab, name)
    impl = get_backend(backend or lab.backend)
    impl.check()
    if on_namespaces is not None:
        progress = _reporting_namespaces(progress, on_namespaces, lambda node: impl.netns_path(plan, node))
    record = state.Record(
        instance=plan.instance, lab=lab.name, lab_file=str(lab.source) if lab.source else None, backend=impl.name,
        persistent=persistent,
    )
    impl.claim(plan, record)
    if plan.relay is not None:  # impaired links: the relay's namespace, whichever the backend
        record.owned.append(state.Owned("netns", plan.relay.netns))
    with state.locked():
        state.claim_instance(record)
        state.instance_dir(plan.instance).joinpath("plan.json").write_text(plan.to_json())
    try:
        with _sigterm_as_interrupt():
            relay = None
            if plan.relay is not None:
                from socklab.impair.lifecycle import launch_relay, start_relay

                relay = launch_relay(lab, plan, record)
            impl.deploy(plan, progress)
            if relay is not None:
                start_relay(relay, plan.instance)
            record.state = "up"
            with state.locked():
                state.save(record)
    except BaseException:
        with contextlib.suppress(Exception):
            destroy(record, impl)
        raise
    return Deployment(plan=plan, backend=impl, record=record, lab=lab)


def _reporting_namespaces(progress: Progress, on_namespaces: Callable[[NetnsPaths], None],
                          netns_path: NetnsPaths) -> Progress:
    """`progress`, which also calls on_namespaces the first time the backend reports all its namespaces."""
    called = False

    def report(phase: str, done: int, total: int) -> None:
        nonlocal called
        progress(phase, done, total)
        if phase == NAMESPACES and done == total and not called:
            called = True
            on_namespaces(netns_path)

    return report


def attach(instance: str) -> Deployment:
    """The Deployment of an instance that is up (brought up by this or another process)."""
    record = state.load(instance)
    if record is None:
        raise UsageError(f"no lab instance {instance!r} is up (see `socklab status`)")
    plan_file = state.instance_dir(instance) / "plan.json"
    try:
        plan = Plan.from_json(plan_file.read_text())
    except (OSError, ValueError) as err:
        raise StateError(f"instance {instance!r} has no readable plan ({err}); `socklab down {instance}` removes it") from None
    return Deployment(plan=plan, backend=get_backend(record.backend), record=record)


def destroy(record: state.Record, backend: Backend | None = None) -> None:
    with nogc.paused():  # a 10,000-node record is 20,000 objects; collections meanwhile walk them all
        _destroy(record, backend)


def _destroy(record: state.Record, backend: Backend | None) -> None:
    impl = backend or get_backend(record.backend)
    with state.locked():
        current = state.load(record.instance) or record
        current.pids = sorted(set(current.pids) | set(record.pids))
        current.state = "removing"
        state.save(current)
    relayed = any(names.is_relay_netns(n) for n in current.names("netns"))
    if relayed:
        from socklab.impair.lifecycle import remove_relay, stop_relay

        stop_relay(current)
    impl.destroy(current)
    if relayed:
        remove_relay(current)
    with state.locked():
        state.forget(record.instance)


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """SIGTERM during up rolls back like Ctrl-C does (only possible from the main thread)."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def instance_of(target: str) -> str:
    """An instance name as given, or the default instance name of a lab path (`down tcp-hello/`)."""
    if state.load(target) is not None or ("/" not in target and not Path(target).exists()):
        return target
    from socklab.model.loader import load_lab

    return load_lab(target).name


def take_down(target: str) -> str:
    """Bring down an instance (or a lab's default instance); returns the instance's name."""
    instance = instance_of(target)
    record = state.load(instance)
    if record is None:
        raise UsageError(f"no lab instance {instance!r} is up (see `socklab status`)")
    destroy(record)
    return instance
