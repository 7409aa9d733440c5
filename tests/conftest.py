"""Shared test fixtures and the session-wide leak check.

Integration tests build real labs in real network namespaces (root). After the whole
session, nothing socklab owns may remain: namespaces, /etc/netns entries, ledger records,
processes in lab namespaces, root-namespace interfaces with the prefix.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.agent_harness import agents  # noqa: F401  (a fixture: agents as subprocesses)

REPO = Path(__file__).resolve().parents[1]
LABS = REPO / "labs"
IS_ROOT = os.geteuid() == 0


def socklab_leftovers() -> list[str]:
    from socklab import state
    from socklab.names import PREFIX
    from socklab.nsutil import list_netns
    from socklab.sandbox import cgroups

    found = [f"netns {n}" for n in list_netns() if n.startswith(PREFIX)]
    etc = Path("/etc/netns")
    if etc.is_dir():
        found += [f"/etc/netns/{p.name}" for p in etc.iterdir() if p.name.startswith(PREFIX)]
    found += [f"ledger {r.instance}" for r in state.all_records()]
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    found += [f"link {line.split(': ')[1]}" for line in links.splitlines() if line.split(": ")[1].startswith("sl")]
    found += [f"cgroup {p}" for p in cgroups.leftovers()]
    return found


def processes_in_other_netns() -> set[tuple[int, str]]:
    """(pid, start time) of processes outside the host's network namespace."""
    from socklab.state import process_start

    host = os.stat("/proc/self/ns/net").st_ino
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}/ns/net").st_ino != host:
                    found.add((int(entry), process_start(int(entry))))
            except OSError:
                pass
    return found


@pytest.fixture(scope="session", autouse=True)
def leak_check(request):
    """Fail the run if a test left anything of socklab's behind (and clean it up).

    Only sessions that build labs judge: a unit-test session (no kernel lock held) would
    otherwise see, and destroy, labs that other sessions on the machine are running."""
    kernel = IS_ROOT and any(part in ("integration", "docker", "browser")
                             for item in request.session.items for part in Path(str(item.path)).parts)
    before = processes_in_other_netns() if kernel else set()
    existing = set(socklab_leftovers()) if kernel else set()  # not ours: never judged or touched
    yield
    if not kernel:
        return
    leftovers = [x for x in socklab_leftovers() if x not in existing]
    strays = {p for p, _ in processes_in_other_netns() - before if os.path.exists(f"/proc/{p}")}
    leftovers += [f"process {p} ({Path(f'/proc/{p}/comm').read_text().strip()})" for p in strays
                  if os.path.exists(f"/proc/{p}/comm")]
    if leftovers:
        from socklab import state
        from socklab.deployment import destroy

        for record in state.all_records():
            if f"ledger {record.instance}" in leftovers:
                destroy(record)
        from socklab.sandbox import cgroups

        for item in leftovers:
            if item.startswith("cgroup "):
                cgroups.remove_dir(Path(item.split(" ", 1)[1]))
        shown = ", ".join(leftovers[:20]) + (f" and {len(leftovers) - 20} more" if len(leftovers) > 20 else "")
        pytest.fail(f"socklab objects left behind by the tests: {shown}", pytrace=False)


needs_root = pytest.mark.skipif(not IS_ROOT, reason="needs root for network namespaces")
