"""`socklab run`: bring a lab up, capture, run its scenario, verify, write the run folder.

The run folder holds everything needed to understand and reproduce a run: the plan,
each step's output, the pcaps, the results as JSON, a manifest of versions and report.html
(socklab.report: the same run as pictures, self-contained).
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from socklab import __version__
from socklab.backends.base import Progress, no_progress
from socklab.capture import Capture, PreparedRings, check_ring_budget, start_captures, stop_captures
from socklab.capture_loss import is_incomplete, mark_incomplete
from socklab.deployment import Deployment, attach, up
from socklab.errors import SocklabError, SubmissionError, UsageError
from socklab.model.lab import Lab, Step
from socklab.report import write_report
from socklab.runfolder import RunFolder, default_runs_dir
from socklab.steps import LabPrograms, Sandbox, StepResult, StepRunner, node_env

__all__ = ["RunResult", "default_runs_dir", "labs_to_run", "prepare_workspace", "reverify", "run_lab", "verify_run"]


@dataclass
class RunResult:
    lab: str
    instance: str
    backend: str
    folder: Path
    steps: list[StepResult] = field(default_factory=list)
    expectations: list[Any] = field(default_factory=list)  # verify.ExpectationResult
    captures: dict[str, dict[str, Any]] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    error: str | None = None  # the run could not complete: str(failure)
    failure: SocklabError | None = field(default=None, repr=False, compare=False)  # its kind, for exit codes
    faults: list[dict[str, Any]] = field(default_factory=list)  # every packet the lab's links affected
    link_changes: list[dict[str, Any]] = field(default_factory=list)  # links down/up/changed during the run
    fault_plan: list[dict[str, Any]] = field(default_factory=list)  # each exact fault: packets matched
    sandbox: dict[str, str] | None = None  # what isolated the programs (graded runs): view, limits

    @property
    def ok(self) -> bool:
        return self.error is None and all(s.ok for s in self.steps) and all(e.passed for e in self.expectations)

    @property
    def incomplete(self) -> list[str]:
        """Why checks could not be judged: a capture lost packets (then nothing to grade)."""
        return [f"{e.id}: {e.error}" for e in self.expectations if is_incomplete(e.error)]

    @property
    def run_folder(self) -> RunFolder:
        return RunFolder(self.folder)

    def to_dict(self) -> dict[str, Any]:
        return {
            "lab": self.lab, "instance": self.instance, "backend": self.backend, "folder": str(self.folder),
            "ok": self.ok, "error": self.error, "timings": {k: round(v, 4) for k, v in self.timings.items()},
            "steps": [s.to_dict() for s in self.steps],
            "expectations": [e.to_dict() for e in self.expectations],
            "captures": self.captures,
            "faults": self.faults, "link_changes": self.link_changes, "fault_plan": self.fault_plan,
            **({"sandbox": self.sandbox} if self.sandbox else {}),
        }


def labs_to_run(refs: list[str], all_shipped: bool = False, name: str | None = None) -> list[Lab]:
    """The labs `socklab run` was asked for, loaded (every shipped lab with all_shipped)."""
    from socklab.model.loader import load_lab, shipped_lab_names

    refs = [*refs, *(shipped_lab_names() if all_shipped else [])]
    if not refs:
        raise UsageError("name a lab to run (or --all-shipped)")
    if name and len(refs) > 1:
        raise UsageError("--name applies to one lab at a time")
    return [load_lab(ref) for ref in refs]


def run_lab(
    lab: Lab,
    *,
    name: str | None = None,
    backend: str | None = None,
    keep: bool = False,
    runs_dir: Path | None = None,
    submission: Path | None = None,
    sandbox: Sandbox | None = None,
    reference: LabPrograms | None = None,
    progress: Progress = no_progress,
    on_step: Callable[[StepResult], None] | None = None,
    preload: tuple[str, ...] = (),
) -> RunResult:
    """Run a lab's scenario end to end. Infrastructure failures end up in `result.error`.

    `preload`: modules the caller needs once the run is over (the CLI's renderer), imported
    with the verifier and the report while the steps run (see import_in_background)."""
    instance = name or lab.name
    if submission is not None and not submission.is_dir():
        raise SubmissionError(f"submission {submission}: not a folder (socklab grade also takes .zip and .tar.gz)")
    check_ring_budget(lab.captures)
    folder = RunFolder.create(runs_dir, instance)
    result = RunResult(lab=lab.name, instance=instance, backend=backend or lab.backend, folder=folder.path)
    t0 = time.perf_counter()
    existing = _running(instance)
    early: list[PreparedRings] = []

    def prepare(netns_path: Callable[[str], str]) -> None:
        early.append(PreparedRings([(c, netns_path(c.node)) for c in lab.captures]))

    try:
        # each capture ring's kernel set-up (an RCU grace period) overlaps the rest of up and the
        # workspace's preparation, from the moment the namespaces exist: capture start only binds
        deployment = existing or up(lab, backend=backend, name=instance, progress=progress, persistent=keep,
                                    on_namespaces=prepare if lab.captures else None)
    except BaseException:
        for prepared in early:
            prepared.close()
        raise
    result.backend = deployment.backend.name
    result.timings["up"] = time.perf_counter() - t0
    prepared = early[0] if early else None
    try:
        if prepared is None:  # an instance already up, or a backend that does not report its namespaces
            prepared = PreparedRings([(c, deployment.netns_path(c.node)) for c in lab.captures])
        _execute(lab, deployment, folder, result, submission, sandbox, on_step, reference, prepared, preload)
    finally:
        if prepared is not None:
            prepared.close()
        t1 = time.perf_counter()
        if not keep and existing is None:
            deployment.down()
        result.timings["down"] = time.perf_counter() - t1
        result.timings["total"] = time.perf_counter() - t0
        folder.results.write_text(json.dumps(result.to_dict(), indent=2) + "\n")
        write_report(folder.path, result.to_dict(), strict=False, lab=lab)
    return result


def _running(instance: str) -> Deployment | None:
    from socklab import state

    record = state.load(instance)
    if record is not None and record.state == "up":
        return attach(instance)
    return None


def _execute(lab: Lab, dep: Deployment, folder: RunFolder, result: RunResult, submission: Path | None,
             sandbox: Sandbox | None, on_step: Callable[[StepResult], None] | None,
             reference: LabPrograms | None = None, prepared: PreparedRings | None = None,
             preload: tuple[str, ...] = ()) -> None:
    folder.plan.write_text(dep.plan.to_json())
    shared = dep.workspace_root
    if sandbox is None and shared is None:
        workspace = prepare_workspace(lab, folder.workspace, submission)
    else:
        # nodes in containers see only the backend's shared folder; sandboxed programs cannot
        # traverse private parents of the run folder (e.g. /tmp/pytest-of-root): such workspaces
        # live elsewhere and move into the run folder afterwards
        where = Path(tempfile.mkdtemp(prefix="ws-", dir=shared)) if shared else Path(
            tempfile.mkdtemp(prefix=f"socklab-ws-{dep.instance}-"))
        os.chmod(where, 0o755)
        workspace = prepare_workspace(lab, where, submission)
        if sandbox is not None:
            sandbox.prepare(workspace, dep)
            result.sandbox = sandbox.describe()
    _write_manifest(lab, folder, result)
    captures: list[Capture] = []
    placed = reference.place(workspace) if reference is not None else None
    folders = dict.fromkeys(reference.steps, placed) if reference is not None and placed else {}
    runner = StepRunner(dep, workspace, folder, node_env(dep, home=workspace), sandbox, folders)
    t = time.perf_counter()
    try:
        points = [(c, dep.netns_path(c.node)) for c in lab.captures]
        captures = start_captures(points, folder, prepared=prepared) if points else []
        if prepared is not None:
            prepared.close()  # nothing else will use what is left
        result.timings["capture_start"] = time.perf_counter() - t
        t = time.perf_counter()
        import_in_background((*AFTER_STEPS, *preload))
        timed = TimedSteps(runner, lab.scenario)
        for spec in lab.scenario:
            if spec.link is not None and spec.at is not None:
                continue  # at its moment, by TimedSteps
            step = runner.run(spec)
            result.steps.append(step)
            if on_step and not spec.background:
                on_step(step)
        runner.finish()
        result.steps += timed.finish()
        result.timings["steps"] = time.perf_counter() - t
    except SocklabError as err:
        result.error, result.failure = str(err), err
    finally:
        runner.finish()
        t = time.perf_counter()
        stop_captures(captures, merged=folder.merged_pcap)
        if dep.plan.relay is not None:
            _record_faults(dep, result)
        result.timings["capture_stop"] = time.perf_counter() - t
        dep.kill_all()
        if sandbox is not None:
            sandbox.finish()
        if placed is not None:
            shutil.rmtree(placed, ignore_errors=True)
    if workspace != folder.workspace:
        shutil.move(str(workspace), str(folder.workspace))
    result.captures = {c.point: {"file": folder.relative(c.path), "dropped": c.dropped} for c in captures}
    if result.error is None and lab.expect:
        t = time.perf_counter()
        result.expectations = mark_incomplete(lab.expect, verify_run(lab, dep.plan, folder, result.steps),
                                              result.captures)
        result.timings["verify"] = time.perf_counter() - t


AFTER_STEPS = ("socklab.verify.engine", "socklab.report.build")
"""What a run imports once its steps are over (about 20 ms the first time)."""


def import_in_background(modules: tuple[str, ...]) -> None:
    """Import these on a thread while the steps run. The thread shares the GIL, so this gains
    only the time the main thread spends waiting on the programs and the kernel (~110 ms for
    tcp-hello, more than the ~70 ms these cost here). Started at the steps, not earlier:
    during up, the thread's share of the GIL made up 30 ms slower. Modules imported already
    cost nothing; a failure is left for the caller to meet again where it needs them, which
    says why."""
    import sys
    import threading

    missing = [m for m in modules if m not in sys.modules]
    if not missing:
        return

    def load() -> None:
        for module in missing:
            try:
                importlib.import_module(module)
            except Exception:  # noqa: BLE001, S112 - met again, and reported, where needed
                continue

    threading.Thread(target=load, name="socklab-preload", daemon=True).start()


class TimedSteps:
    """Link steps with `at:`: each runs in a timer thread at its moment after the scenario starts."""

    def __init__(self, runner: StepRunner, scenario: tuple[Step, ...]) -> None:
        import threading

        for spec in scenario:
            if spec.at is not None and spec.impair is not None:
                type(spec.impair).model_rebuild()  # its schema (defer_build) now, not at its moment
        self.results: dict[int, StepResult] = {}
        self.timers = []
        self.started = time.time()
        for spec in scenario:
            if spec.link is not None and spec.at is not None:
                timer = threading.Timer(spec.at, self._fire, (runner, spec))
                timer.daemon = True
                self.timers.append((spec, timer))
                timer.start()

    def _fire(self, runner: StepRunner, spec: Step) -> None:
        self.results[spec.index] = runner.change_link(spec)

    def finish(self) -> list[StepResult]:
        """Results in scenario order; a step whose moment the scenario did not reach is a problem."""
        out = []
        for spec, timer in self.timers:
            timer.cancel()
            timer.join()
            result = self.results.get(spec.index)
            if result is None:
                now = time.time()
                result = StepResult(id=spec.id, node=spec.node, command=spec.command,
                                    background=False, expected_exit=None, started=now, ended=now,
                                    problem=f"not run: the scenario ended {now - self.started:.2f}s in, before at: {spec.at:g}s")
            out.append(result)
        return out


def _record_faults(dep: Deployment, result: RunResult) -> None:
    """What the relay did during this run: affected packets, link changes, fault counters."""
    from socklab.impair.lifecycle import ask, read_events

    started = min((s.started for s in result.steps if s.started), default=0.0) - 1.0
    for event in read_events(dep.instance, since=started):
        (result.link_changes if "change" in event else result.faults).append(event)
    try:
        shown = ask(dep.instance, {"cmd": "show"})
    except SocklabError:
        return
    for direction in shown["directions"]:
        for fault in direction["faults"]:
            result.fault_plan.append({**fault, "on": direction["from"], "link": direction["link"]})


def verify_run(lab: Lab, plan, folder: RunFolder, steps: list[StepResult]) -> list[Any]:
    from socklab.verify import verify
    from socklab.verify.context import InterfaceInfo, NodeInfo, StepRecord, VerifyContext

    nodes = {
        n.name: NodeInfo(name=n.name, kind=n.kind, interfaces={
            i.name: InterfaceInfo(name=i.name, mac=i.mac, ipv4=tuple(a.split("/")[0] for a in i.ipv4),
                                  ipv6=tuple(a.split("/")[0] for a in i.ipv6))
            for i in n.interfaces
        })
        for n in plan.nodes
    }
    captures = {str(c): folder.pcap(c) for c in lab.captures}
    records = tuple(
        StepRecord(id=s.id, node=s.node, command=s.command, exit_code=s.exit_code, timed_out=s.timed_out,
                   stdout=_read(s.stdout_path), stderr=_read(s.stderr_path), started=s.started, ended=s.ended)
        for s in steps
    )
    return verify(lab.expect, VerifyContext(captures=captures, nodes=nodes, steps=records))


def reverify(folder: Path, lab: Lab | None = None) -> RunResult:
    """Check a run folder's saved captures and outputs again, against its lab file or another."""
    from socklab.model.loader import load_lab
    from socklab.plan import Plan

    run = RunFolder(Path(folder).resolve())
    try:
        saved = json.loads(run.results.read_text())
        plan = Plan.from_json(run.plan.read_text())
    except (OSError, ValueError) as err:
        raise UsageError(f"{run} is not a socklab run folder ({err})") from None
    if lab is None:
        lab = load_lab(run.lab_file)
        # the copy's folder is the run folder; keep the expectations, that is all verify needs
    steps = [StepResult(**{k: v for k, v in s.items() if k not in ("duration", "ok")}) for s in saved["steps"]]
    result = RunResult(lab=lab.name, instance=saved["instance"], backend=saved["backend"], folder=run.path,
                       steps=steps, captures=saved.get("captures", {}))
    t = time.perf_counter()
    result.expectations = mark_incomplete(lab.expect, verify_run(lab, plan, run, steps), result.captures)
    result.timings["verify"] = time.perf_counter() - t
    write_report(run.path, {**saved, **result.to_dict()}, strict=False)
    return result


def _read(path: str) -> str:
    try:
        return Path(path).read_text(errors="replace")
    except OSError:
        return ""


def prepare_workspace(lab: Lab, workspace: Path, submission: Path | None) -> Path:
    """The lab folder's files, then the submission's (or the reference solution's) beside them.

    Files the lab provides (a DNS server, a UDP server...) are never replaced by a
    submission's: they may run outside the grading sandbox.
    """
    workspace.mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns("lab.yaml", "solution", lab.reference, "mutants", "README.md", "topology.svg",
                                    "__pycache__", "runs")
    if lab.folder and lab.folder.is_dir():
        shutil.copytree(lab.folder, workspace, ignore=ignore, dirs_exist_ok=True)
    provided = {p.relative_to(workspace) for p in workspace.rglob("*")}
    overlay = submission if submission is not None else (lab.folder / "solution" if lab.folder else None)
    if overlay is not None and overlay.is_dir():
        for source in sorted(overlay.rglob("*")):
            relative = source.relative_to(overlay)
            if "__pycache__" in relative.parts or relative in provided or source.is_symlink():
                continue
            target = workspace / relative
            if source.is_dir():
                target.mkdir(exist_ok=True)
            else:
                shutil.copyfile(source, target)
    os.chmod(workspace, 0o755)
    return workspace


def _write_manifest(lab: Lab, folder: RunFolder, result: RunResult) -> None:
    lab_text = lab.source.read_bytes() if lab.source else b""
    manifest = {
        "socklab": __version__, "lab": lab.name, "lab_file": str(lab.source) if lab.source else None,
        "lab_sha256": hashlib.sha256(lab_text).hexdigest(), "instance": result.instance,
        "backend": result.backend, "kernel": platform.release(), "python": platform.python_version(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    if lab.source:
        shutil.copy(lab.source, folder.lab_file)
    folder.manifest.write_text(json.dumps(manifest, indent=2) + "\n")
