"""A run folder made from packets, without root or a live lab: for tests and the report bench.

    folder = fake_run_folder(tmp_path / "run", "tcp-hello", frames, steps=[...])
    write_report(folder)

The folder has what `socklab run` writes (lab.yaml, plan.json from the real planner, the
pcap, step outputs, results.json from the real verifier), so the report cannot tell it
from a real run.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from socklab.verify.testing import T0


def fake_run_folder(folder: Path, lab_ref: str | Path, frames: Iterable[tuple[float, bytes]],
                    steps: list[dict[str, Any]] | None = None, point: str | None = None,
                    faults: list[dict[str, Any]] | None = None) -> Path:
    """Write a run folder of lab `lab_ref` whose one capture (`point`, default the lab's first) holds frames.

    steps: dicts with id, node and optionally stdout, exit_code, started, ended, background.
    """
    from socklab.model.lab import IfaceRef
    from socklab.model.loader import load_lab
    from socklab.plan import make_plan
    from socklab.run import RunResult, verify_run
    from socklab.runfolder import RunFolder
    from socklab.steps import StepResult
    from socklab.verify.pcap import write_pcap

    lab = load_lab(lab_ref)
    plan = make_plan(lab)
    folder.mkdir(parents=True, exist_ok=True)
    rf = RunFolder(folder.resolve())
    rf.steps_dir.mkdir(exist_ok=True)
    rf.pcap_dir.mkdir(exist_ok=True)
    if lab.source:
        shutil.copy(lab.source, rf.lab_file)
    rf.plan.write_text(plan.to_json())
    ref = IfaceRef.parse(point) if point else (lab.captures[0] if lab.captures else IfaceRef("none", "eth0"))
    point = str(ref)
    pcap = rf.pcap(ref)
    write_pcap(pcap, frames)
    results = []
    for i, s in enumerate(steps or []):
        out, err = rf.stdout(s["id"]), rf.stderr(s["id"])
        out.write_text(s.get("stdout", ""))
        err.write_text(s.get("stderr", ""))
        started = s.get("started", T0 + i * 0.01)
        results.append(StepResult(
            id=s["id"], node=s["node"], command=s.get("command", f"python3 {s['id']}.py"),
            background=s.get("background", False), expected_exit=0, exit_code=s.get("exit_code", 0),
            timed_out=s.get("timed_out", False), ready=s.get("ready"), ready_at=s.get("ready_at"),
            started=started, ended=s.get("ended", started + 0.1), stdout_path=str(out), stderr_path=str(err),
            problem=s.get("problem"), stdout_tail=s.get("stdout", ""), stderr_tail=s.get("stderr", "")))
    run = RunResult(lab=lab.name, instance=lab.name, backend="netns", folder=folder.resolve(), steps=results,
                    captures={point: {"file": rf.relative(pcap), "dropped": 0}})
    run.expectations = verify_run(lab, plan, rf, results) if lab.expect else []
    data = run.to_dict()
    if faults is not None:
        data["faults"] = faults
    rf.manifest.write_text(json.dumps({"socklab": "test", "lab": lab.name, "kernel": "-"}) + "\n")
    rf.results.write_text(json.dumps(data, indent=2) + "\n")
    return folder
