"""Running scenario steps inside nodes: start, wait for readiness, time out, kill, record.

Every process of a run lives in its node's namespace and in its own process group;
stdout and stderr go to files in the run folder, so nothing blocks and nothing is lost.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

from socklab.deployment import Deployment
from socklab.errors import UsageError
from socklab.model.lab import Readiness, Step
from socklab.regexes import RegexTimeout
from socklab.runfolder import RunFolder
from socklab.sockdiag import PortProbe

TAIL_BYTES = 2000
GRACE = 2.0
"""Seconds a background step that should exit may take after the last step before it is killed."""

class Sandbox(Protocol):
    """What the grader puts around student steps (see socklab.grade.sandbox)."""

    def prepare(self, workspace: Path, dep: Deployment) -> None: ...

    def wrap(self, step: Step, where: Path) -> list[str]:
        """argv placed before the step's command inside the node ([] for steps left alone);
        `where` is the folder it runs in (the workspace, or a reference peer's own folder)."""

    def host_wrap(self, step: Step) -> list[str]:
        """argv placed before the command that enters the node (e.g. joining a cgroup)."""

    def env(self) -> dict[str, str]:
        """Environment overrides for wrapped steps."""

    def pass_fds(self, step: Step) -> tuple[int, ...]:
        """File descriptors the wrapped command reads (handed over once, after wrap())."""

    def exit_code(self, step: Step, code: int | None) -> int | None:
        """The step's exit status as the program gave it (a wrapper may encode signals)."""

    def ended(self, step: Step, result: StepResult) -> None:
        """After a step ended: kill what is left of it, name a limit it hit in result.problem."""

    def finish(self) -> None:
        """After the run: make sure nothing of the student's survives."""


class LabPrograms(Protocol):
    """Lab-provided programs that run outside the student's view (the grader's reference peers)."""

    steps: frozenset[str]  # the steps that run them, from the folder `place` returns

    def place(self, workspace: Path) -> Path:
        """Put the programs into a folder of their own, out of the student programs' view."""


@dataclass
class StepResult:
    id: str
    node: str
    command: str
    background: bool
    expected_exit: int | None
    exit_code: int | None = None
    timed_out: bool = False
    ready: bool | None = None  # None: no readiness condition
    ready_at: float | None = None  # epoch seconds when the readiness condition was met
    killed: bool = False  # still running at the end of the run
    started: float = 0.0
    ended: float = 0.0
    stdout_path: str = ""
    stderr_path: str = ""
    problem: str | None = None  # one line: why this step did not meet its expectation
    stdout_tail: str = field(default="", repr=False)
    stderr_tail: str = field(default="", repr=False)

    @property
    def duration(self) -> float:
        return max(0.0, self.ended - self.started)

    @property
    def ok(self) -> bool:
        return self.problem is None

    def to_dict(self) -> dict:
        data = asdict(self)
        data.update(duration=round(self.duration, 4), ok=self.ok)
        return data


@dataclass
class RunningStep:
    spec: Step
    result: StepResult
    proc: subprocess.Popen
    deadline: float


def node_env(deployment: Deployment, home: Path | None = None) -> dict[str, str]:
    """The environment of every command run in a node: scenario steps, `exec` and `shell` alike
    (socklab's PATH and PYTHONPATH, not the caller's: a pyenv or conda python first on the
    caller's PATH would lack scapy and socklab.agents)."""
    env = {**deployment.node_env, "PYTHONUNBUFFERED": "1", "LANG": "C.UTF-8"}
    if home is not None:
        env["HOME"] = str(home)
    return env


def node_argv(deployment: Deployment, node: str, argv: list[str] | tuple[str, ...], env: dict[str, str],
              cwd: str | None = None, wrap: list[str] | None = None) -> list[str]:
    """argv that runs a command in a node with exactly this environment on top of the node's."""
    chdir = ["-C", cwd] if cwd else []
    return deployment.exec_argv(node, [*(wrap or []), "env", *chdir, *(f"{k}={v}" for k, v in env.items()), *argv])


def user_command(command: list[str]) -> list[str]:
    """The CMD of `socklab exec INSTANCE NODE -- CMD...`."""
    command = command[1:] if command[:1] == ["--"] else command
    if not command:
        raise UsageError("no command given: socklab exec INSTANCE NODE -- CMD...")
    return command


def command_argv(deployment: Deployment, node: str, command: list[str]) -> list[str]:
    """`socklab exec`: a user's command in a node, in the environment of scenario steps."""
    return node_argv(deployment, node, user_command(command), node_env(deployment))


def shell_argv(deployment: Deployment, node: str, shell: str) -> list[str]:
    """`socklab shell`: an interactive shell in a node (bash without the user's rc files)."""
    prompt = {"PS1": f"[{deployment.instance}:{node}] \\w# "}
    argv = [shell, "--norc"] if shell.endswith("bash") else [shell]
    return node_argv(deployment, node, argv, {**node_env(deployment), **prompt})


class StepRunner:
    """Runs the steps of one scenario in one deployment; `finish()` kills what is left."""

    def __init__(self, deployment: Deployment, workspace: Path, folder: RunFolder, env: dict[str, str],
                 sandbox: Sandbox | None = None, folders: dict[str, Path] | None = None):
        self.dep = deployment
        self.workspace = workspace
        self.folders = folders or {}  # step id -> where it runs instead of the workspace (reference peers)
        self.folder = folder
        self.env = env
        self.sandbox = sandbox
        self.background: list[RunningStep] = []
        folder.steps_dir.mkdir(parents=True, exist_ok=True)

    def argv(self, spec: Step) -> list[str]:
        cwd = str(self.cwd_of(spec.id) / spec.cwd) if spec.cwd else str(self.cwd_of(spec.id))
        wrap = self.sandbox.wrap(spec, self.cwd_of(spec.id)) if self.sandbox else []
        overrides = self.sandbox.env() if wrap and self.sandbox else {}
        outer = self.sandbox.host_wrap(spec) if self.sandbox else []
        return [*outer, *node_argv(self.dep, spec.node, spec.argv, {**self.env, **overrides, **spec.env}, cwd, wrap)]

    def cwd_of(self, step_id: str) -> Path:
        return self.folders.get(step_id, self.workspace)

    def start(self, spec: Step) -> RunningStep:
        out, err = self.folder.stdout(spec.id), self.folder.stderr(spec.id)
        result = StepResult(id=spec.id, node=spec.node, command=spec.command, background=spec.background,
                            expected_exit=spec.exit_code, stdout_path=str(out), stderr_path=str(err))
        with open(out, "wb") as fo, open(err, "wb") as fe:
            result.started = time.time()
            argv = self.argv(spec)
            fds = self.sandbox.pass_fds(spec) if self.sandbox else ()
            try:
                proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=fo, stderr=fe,
                                        start_new_session=True, pass_fds=fds)
            finally:
                for fd in fds:
                    os.close(fd)
        return RunningStep(spec=spec, result=result, proc=proc, deadline=time.monotonic() + spec.timeout)

    def change_link(self, spec: Step) -> StepResult:
        """A link step: tell the lab's relay to take the link down or up, or change it."""
        from socklab.errors import SocklabError
        from socklab.impair.lifecycle import change_link

        result = StepResult(id=spec.id, node=spec.node, command=spec.command, background=False,
                            expected_exit=None, started=time.time())
        action, impair = spec.action or "", None
        if action == "impair" and spec.impair is not None:
            action, impair = "set", spec.impair.model_dump()
        try:
            change_link(self.dep.instance, self.dep.plan, str(spec.link), action, impair=impair, by=spec.id)
        except SocklabError as err:
            result.problem = str(err)
        result.ended = time.time()
        return result

    def run(self, spec: Step) -> StepResult:
        """Run one step: a foreground step to its end, a background one until it is ready."""
        if spec.link is not None:
            return self.change_link(spec)
        step = self.start(spec)
        if spec.background:
            self.background.append(step)
            if spec.ready is not None:
                self._wait_ready(step, spec.ready)
            return step.result
        if not exited_within(step.proc, step.deadline - time.monotonic()):
            step.result.timed_out = True
            _kill_group(step.proc)
        self._close(step)
        return step.result

    def finish(self) -> None:
        """Let background steps that must exit do so (within GRACE and their timeout), kill the rest."""
        grace_end = time.monotonic() + GRACE
        for step in self.background:
            if step.spec.exit_code is not None and step.proc.poll() is None:
                if not exited_within(step.proc, min(step.deadline, grace_end) - time.monotonic()):
                    if time.monotonic() >= step.deadline:
                        step.result.timed_out = True
                    elif step.result.problem is None:  # "not ready" says more
                        step.result.problem = f"still running {GRACE:g}s after the last step (killed)"
        for step in self.background:
            if step.proc.poll() is None:
                step.result.killed = not step.result.timed_out
                _kill_group(step.proc)
            self._close(step)
        self.background = []

    def _wait_ready(self, step: RunningStep, ready: Readiness) -> None:
        deadline = time.monotonic() + ready.timeout
        check, interval, done = _readiness_check(self, step, ready)
        try:
            while True:
                try:
                    seen = check()
                except RegexTimeout as err:  # the lab's pattern against what the program printed
                    step.result.ready = False
                    step.result.problem = f"not ready: {err}"
                    return
                if seen:
                    step.result.ready = True
                    step.result.ready_at = time.time()
                    return
                if step.proc.poll() is not None:
                    step.result.ready = False
                    step.result.problem = f"exited with {step.proc.returncode} before it was ready ({ready.describe()})"
                    return
                if time.monotonic() > deadline:
                    step.result.ready = False
                    step.result.problem = f"not ready after {ready.timeout:g}s ({ready.describe()})"
                    return
                exited_within(step.proc, interval)  # wakes at once if the program ends meanwhile
        finally:
            done()

    def _close(self, step: RunningStep) -> None:
        result = step.result
        if result.ended:
            return
        result.ended = time.time()
        code = step.proc.returncode
        if self.sandbox is not None:
            code = self.sandbox.exit_code(step.spec, code)
        result.exit_code = None if (result.killed or result.timed_out) else code
        result.stdout_tail = _tail(Path(result.stdout_path))
        result.stderr_tail = _tail(Path(result.stderr_path))
        try:
            if result.problem is None:
                self._judge(step, code)
        finally:
            if self.sandbox is not None:
                self.sandbox.ended(step.spec, result)

    def _judge(self, step: RunningStep, code: int | None) -> None:
        result = step.result
        if result.timed_out:
            result.problem = f"timed out after {step.spec.timeout:g}s"
        elif result.killed:
            if step.spec.exit_code is not None and not step.spec.background:
                result.problem = "killed at the end of the run"
        elif step.spec.exit_code is not None and code != step.spec.exit_code:
            result.problem = f"exit code {_exit_text(code)}, expected {step.spec.exit_code}"


def _exit_text(code: int | None) -> str:
    if code is not None and code < 0:
        with contextlib.suppress(ValueError):
            return f"{code} (killed by {signal.Signals(-code).name})"
    return str(code)


_PORT_TABLES = {"tcp_listen": "tcp", "udp_bound": "udp", "raw_bound": "raw"}


READY_POLL = 0.001  # seconds between checks of a port or an output (each costs ~0.1 ms)
READY_POLL_FILE = 0.005  # a file is checked from inside the node: one process per check


def _readiness_check(runner: StepRunner, step: RunningStep, ready: Readiness
                     ) -> tuple[Callable[[], bool], float, Callable[[], None]]:
    """The check, how long to wait between checks, and what to close after the wait."""
    if ready.kind in _PORT_TABLES:
        probe = PortProbe(runner.dep.netns_path(step.spec.node), _PORT_TABLES[ready.kind])
        port = int(ready.value)
        return (lambda: probe.bound(port)), READY_POLL, probe.close
    if ready.kind == "output":
        watch = OutputWatch(str(ready.value), (step.result.stdout_path, step.result.stderr_path))
        return watch, READY_POLL, _nothing
    target = str(ready.value)
    path = target if target.startswith("/") else str(runner.cwd_of(step.spec.id) / (step.spec.cwd or "") / target)
    return (lambda: runner.dep.exec(step.spec.node, ["test", "-e", path], timeout=5).returncode == 0), \
        READY_POLL_FILE, _nothing


def _nothing() -> None:
    pass


class OutputWatch:
    """Has a line matching `pattern` appeared in these files? Each check reads only what was
    written since the last one (at most READ_CHUNK), plus the line still being written: a
    program printing megabytes before its ready line costs each check its new bytes, not the
    whole file again (checked every millisecond)."""

    READ_CHUNK = 1 << 20

    def __init__(self, pattern: str, paths: tuple[str, ...]) -> None:
        from socklab import regexes

        self.pattern = regexes.compile_text(pattern)
        self.found = regexes.found
        self.paths = paths
        self.offsets = [0] * len(paths)
        self.partial = [b""] * len(paths)  # the line after the last newline read so far

    def __call__(self) -> bool:
        for i, path in enumerate(self.paths):
            try:
                with open(path, "rb") as f:
                    f.seek(self.offsets[i])
                    data = f.read(self.READ_CHUNK)
            except OSError:
                continue
            if not data:
                continue
            self.offsets[i] += len(data)
            text = self.partial[i] + data
            cut = text.rfind(b"\n") + 1
            lines, self.partial[i] = text[:cut], text[cut:]
            if self.found(self.pattern, lines.decode(errors="replace")) or (
                    self.partial[i] and self.found(self.pattern, self.partial[i].decode(errors="replace"))):
                return True
            if len(self.partial[i]) > self.READ_CHUNK:  # one endless line: keep its tail only
                self.partial[i] = self.partial[i][-self.READ_CHUNK:]
        return False


def exited_within(proc: subprocess.Popen, timeout: float) -> bool:
    """Wait at most `timeout` seconds for `proc` to end; True once it has (and is reaped).

    A pidfd wakes the wait the moment the process ends. Popen.wait(timeout) polls instead,
    with sleeps doubling up to 50 ms: a client done after 60 ms was seen up to 30 ms late.
    """
    if proc.returncode is not None:
        return True
    try:
        fd = os.pidfd_open(proc.pid)
    except OSError:  # already reaped by someone else, or a kernel before 5.3
        try:
            proc.wait(max(0.0, timeout))
            return True
        except subprocess.TimeoutExpired:
            return False
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        if not poller.poll(max(0, int(timeout * 1000 + 0.999))):
            return proc.poll() is not None
    finally:
        os.close(fd)
    proc.wait()
    return True


def _kill_group(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
    proc.wait()


def _tail(path: Path) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - TAIL_BYTES))
            return f.read().decode(errors="replace")
    except OSError:
        return ""
