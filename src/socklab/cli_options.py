"""The command line's arguments and options: each one's type, names, metavar and help, in one place.

cli.py's commands take these as parameter annotations; a parameter's name still names an option
that gives none (link's --delay ...). Only typer is imported here, never the library.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def _arg(help: str, metavar: str | None = None):
    return typer.Argument(help=help, metavar=metavar)


def _opt(*names: str, help: str, **kw):
    return typer.Option(*names, help=help, **kw)


ROOT_HELP = (
    "Isolated network labs for socket programming: build a topology of network "
    "namespaces (or containers), run programs in its nodes, capture and verify "
    "what crossed the wires, grade submissions.\n\n"
    "LAB is a folder holding lab.yaml, a lab file, or the name of a shipped lab "
    "(see labs/). Most commands need root. Exit codes: 0 ok, 1 checks failed, "
    "2 bad input (or not gradable), 3 infrastructure failure, 130 interrupted."
)

# shared
LabArg = Annotated[str, _arg("A lab folder, a lab.yaml, or a shipped lab's name.", "LAB")]
InstanceArg = Annotated[str, _arg("The lab instance (or a lab: its default instance).")]
NodeArg = Annotated[str, _arg("The node.")]
FolderArg = Annotated[Path, _arg("A run folder (runs/<instance>-<timestamp>).")]
NameOpt = Annotated[str | None, _opt("--name", "-n", help=(
    "Instance name (default: the lab's name). Two instances of one lab may run side by side."))]
JsonOpt = Annotated[bool, _opt("--json", help="Print JSON instead of a table.")]
BackendOpt = Annotated[str | None, _opt("--backend", "-b", help="netns (default) or docker; overrides the lab's backend:.")]
RunsDirOpt = Annotated[Path | None, _opt("--runs-dir", help="Where run folders go (default ./runs or $SOCKLAB_RUNS_DIR).")]
JobsOpt = Annotated[int, _opt("--jobs", "-j", min=0, help="Submissions graded in parallel (default: number of cores).")]
DebugOpt = Annotated[bool, _opt("--debug", help="Show tracebacks for errors.")]

# down, status, exec
DownTargets = Annotated[list[str], _arg("Instance names, or labs (their default instance).", "INSTANCE|LAB...")]
StatusArg = Annotated[str | None, _arg("Show one instance's nodes in detail.")]
CommandArg = Annotated[list[str], _arg("The command, after --.", "-- CMD...")]

# run
RunLabs = Annotated[list[str] | None, _arg("Labs to run (with --all-shipped: also every shipped lab).", "LAB...")]
KeepOpt = Annotated[bool, _opt("--keep", help="Leave the lab up after the run.")]
SubmissionOpt = Annotated[Path | None, _opt("--submission", "-s", help=(
    "A folder of programs to run instead of the lab's solution/."))]
AllShippedOpt = Annotated[bool, _opt("--all-shipped", help="Run every lab in labs/.")]

# grade, selftest
Submissions = Annotated[list[Path], _arg("Folders, .zip or .tar.gz files of students' programs.", "SUBMISSION...")]
GradeFormatOpt = Annotated[str, _opt("--format", "-f", help="table, json, gradescope, prairielearn, junit or csv.")]
GradeOutputOpt = Annotated[Path | None, _opt("--output", "-o", help=(
    "A file (one submission, or junit/csv), else a folder: one file per submission + summary.csv."))]
SelftestLabs = Annotated[list[str], _arg("Labs to check (folders, lab.yaml files or shipped names).", "LAB...")]
SelftestRunsDirOpt = Annotated[Path | None, _opt("--runs-dir", help="Keep the run folders here (default: discarded).")]

# verify, graph, report
VerifyLabArg = Annotated[str | None, _arg("Check against this lab file instead of the run's copy.", "[LAB]")]
GraphFormatOpt = Annotated[str | None, _opt("--format", "-f", help=(
    "svg, png, mermaid or dot (default: from -o's suffix, else svg)."))]
GraphOutputOpt = Annotated[Path | None, _opt("--output", "-o", help="Write to FILE instead of stdout.")]
OpenOpt = Annotated[bool, _opt("--open", help="Open it in a browser (without one, print where it is).")]
ReportAllOpt = Annotated[bool, _opt("--all", help="Include checks a graded run's page hides from students.")]

# capture
CapturePoints = Annotated[list[str] | None, _arg(
    "NODE or NODE:IFACE, one or more (default: the lab's capture points).", "[NODE[:IFACE]]...")]
WriteOpt = Annotated[str | None, _opt(
    "--write", "-w", help="Write to FILE, or '-' for stdout: pcap for one point, pcapng for several.")]
FilterOpt = Annotated[str | None, _opt("--filter", "-f", help="A BPF filter, e.g. 'udp port 53'.")]
CountOpt = Annotated[int | None, _opt("--count", "-c", help="Stop after this many packets.")]

# link: each impairment option is named by its parameter (--delay ...)
EndpointArg = Annotated[str, _arg("An end of the link, NODE:IFACE.", "NODE:IFACE")]
ActionArg = Annotated[str, _arg("show, set, down, up or reset.", "show|set|down|up|reset")]
DelayOpt = Annotated[str | None, typer.Option(help="e.g. 50ms")]
JitterOpt = Annotated[str | None, typer.Option(help="e.g. 5ms (uniform, ±)")]
LossOpt = Annotated[str | None, typer.Option(help="e.g. 2%")]
DuplicateOpt = Annotated[str | None, typer.Option(help="e.g. 1%")]
ReorderOpt = Annotated[str | None, typer.Option(help="e.g. 5%")]
CorruptOpt = Annotated[str | None, typer.Option(help="e.g. 1%")]
RateOpt = Annotated[str | None, typer.Option(help="e.g. 1mbit")]
EgressOpt = Annotated[bool, _opt("--egress", help="Only frames leaving NODE:IFACE (default: both directions).")]

# gc
DryRunOpt = Annotated[bool, _opt("--dry-run", help="Only show what would be removed.")]
GcAllOpt = Annotated[bool, _opt("--all", help="Also remove labs that are up.")]
