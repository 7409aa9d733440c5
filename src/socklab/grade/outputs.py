"""Where a grading's results go: a file, a folder of files, stdout, and the summary CSV.

Written whether grading completed or was stopped: an autograder always finds its results.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from socklab.errors import UsageError
from socklab.grade.batch import GradeReport
from socklab.grade.formats import EXIT_ZERO_AFTER_WRITING, EXTENSIONS, FORMATS, render, summary_csv
from socklab.runfolder import grades_summary_path


def check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise UsageError(f"--format {fmt!r}: choose from {', '.join(FORMATS)}")


@dataclass
class Written:
    stdout: str | None = None  # the document to print when no --output was given (not for table)
    summary: Path | None = None  # the summary CSV placed in the runs folder
    exit_zero: bool = False  # the format's consumer reads results only after exit 0 (PrairieLearn)


def write_report(report: GradeReport, fmt: str, output: Path | None, runs_dir: Path | None) -> Written:
    """Write `report` in format `fmt`: to `output` (a file for one submission or junit/csv, else
    a folder with one file per submission and summary.csv), or hand back the text for stdout.
    Several submissions without --output also leave a summary CSV beside the run folders."""
    grades = report.grades
    written = Written(exit_zero=fmt in EXIT_ZERO_AFTER_WRITING)
    if fmt == "table":
        if output is not None:
            output.write_text(summary_csv(grades))
    elif output is None:
        written.stdout = render(fmt, grades)
    elif len(grades) == 1 or fmt in ("junit", "csv"):
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(render(fmt, grades))
    else:
        output.mkdir(parents=True, exist_ok=True)
        for g in grades:
            (output / f"{g.submission}.{EXTENSIONS[fmt]}").write_text(render(fmt, [g]))
        (output / "summary.csv").write_text(summary_csv(grades))
    if len(grades) > 1 and output is None:
        written.summary = grades_summary_path(runs_dir, report.lab)
        written.summary.parent.mkdir(parents=True, exist_ok=True)
        written.summary.write_text(summary_csv(grades))
    return written
