"""The run folder's layout, known here and nowhere else.

    runs/<instance>-<timestamp>/
      lab.yaml  manifest.json  plan.json  results.json  report.html
      steps/<step>.stdout, steps/<step>.stderr
      pcap/<node>-<iface>.pcap, pcap/all.pcapng (every point; when there are several)
      (and pcap/.<node>-<iface>.log: tcpdump's messages, with SOCKLAB_CAPTURE_ENGINE=tcpdump)
      workspace/

run, capture, verify (reverify), grade and the HTML report ask a `RunFolder` for paths;
none of them joins a file name onto a run folder itself. Standard library only.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from socklab.errors import InfrastructureError
from socklab.model.lab import IfaceRef

RUNS_DIR_ENV = "SOCKLAB_RUNS_DIR"


def default_runs_dir() -> Path:
    """Where run folders go: $SOCKLAB_RUNS_DIR, else ./runs."""
    return Path(os.environ.get(RUNS_DIR_ENV, "runs"))


def _stamp() -> str:
    return time.strftime("%Y%m%d-%H%M%S")


@dataclass(frozen=True)
class RunFolder:
    """One run's folder. `create` makes a fresh one; `RunFolder(path)` opens an existing one."""

    path: Path

    @classmethod
    def create(cls, runs_dir: Path | None, instance: str) -> RunFolder:
        """A new, empty folder runs_dir/<instance>-<timestamp>[-n] (never one that exists)."""
        base = runs_dir if runs_dir is not None else default_runs_dir()
        stamp = _stamp()
        for n in range(1000):
            folder = base / (f"{instance}-{stamp}" + (f"-{n}" if n else ""))
            try:
                folder.mkdir(parents=True)
            except FileExistsError:
                continue
            except OSError as err:
                raise InfrastructureError(f"cannot create a run folder under {base}: {err.strerror}") from None
            return cls(folder.resolve())
        raise InfrastructureError(f"cannot create a run folder under {base}")

    def __str__(self) -> str:
        return str(self.path)

    # -- files ------------------------------------------------------------------------------

    @property
    def lab_file(self) -> Path:
        """A copy of the lab file the run used."""
        return self.path / "lab.yaml"

    @property
    def manifest(self) -> Path:
        return self.path / "manifest.json"

    @property
    def plan(self) -> Path:
        return self.path / "plan.json"

    @property
    def results(self) -> Path:
        return self.path / "results.json"

    @property
    def report(self) -> Path:
        """The run as one self-contained page (written by socklab.report)."""
        return self.path / "report.html"

    @property
    def workspace(self) -> Path:
        """The programs' working folder (moved here after the run when it lived elsewhere)."""
        return self.path / "workspace"

    @property
    def steps_dir(self) -> Path:
        return self.path / "steps"

    def stdout(self, step_id: str) -> Path:
        return self.steps_dir / f"{step_id}.stdout"

    def stderr(self, step_id: str) -> Path:
        return self.steps_dir / f"{step_id}.stderr"

    @property
    def pcap_dir(self) -> Path:
        return self.path / "pcap"

    def pcap(self, point: IfaceRef) -> Path:
        return self.pcap_dir / f"{point.stem}.pcap"

    @property
    def merged_pcap(self) -> Path:
        """Every capture point of the run in one pcapng, one interface per "node:iface"."""
        return self.pcap_dir / "all.pcapng"

    def capture_log(self, point: IfaceRef) -> Path:
        """tcpdump's own messages (listening, drop counts) for one capture point."""
        return self.pcap_dir / f".{point.stem}.log"

    def relative(self, path: Path) -> str:
        """A path inside the folder as results.json records it."""
        return str(Path(path).relative_to(self.path))

    def is_run(self) -> bool:
        return self.results.is_file() and self.plan.is_file()


def grades_summary_path(runs_dir: Path | None, lab: str) -> Path:
    """Where `socklab grade` puts the summary CSV of several submissions when no --output is given."""
    base = runs_dir if runs_dir is not None else default_runs_dir()
    return base / f"grades-{lab}-{_stamp()}.csv"
