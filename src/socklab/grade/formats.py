"""Grades in the formats graders use: Gradescope, PrairieLearn, JUnit, socklab JSON, CSV."""

from __future__ import annotations

import csv
import io
import json
import re
import socket
import time
from typing import Any
from xml.etree import ElementTree as ET

from socklab.grade.score import Grade

FORMATS = ("table", "json", "gradescope", "prairielearn", "junit", "csv")
EXTENSIONS = {"json": "json", "gradescope": "json", "prairielearn": "json", "junit": "xml", "csv": "csv"}


_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def printable(text: str | None) -> str:
    """Program output made safe for every consumer: ANSI escapes removed, other control
    characters (which XML 1.0 cannot carry at all) shown as \\xNN."""
    if not text:
        return ""
    text = _ANSI.sub("", text)
    return _NOT_XML.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}", text)


def gradescope(grade: Grade) -> dict[str, Any]:
    """results.json per Gradescope's autograder specification; plain text (output_format) everywhere.

    Without output_format Gradescope renders messages as sanitized HTML and drops anything
    between < and >; diffs and program output need text.
    """
    output = printable(grade.summary)
    if not grade.gradable:
        output = (f"NOT GRADED: {printable(grade.error) or 'grading did not complete'}\n"
                  "The score below is not a grade for this submission.\n" + output).strip()
    return {
        "score": grade.score,
        "execution_time": round(grade.duration, 3),
        "output": output,
        "output_format": "text",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": [
            {
                "name": t.title, "number": t.id, "score": t.score, "max_score": t.max_score,
                "status": "passed" if t.passed else "failed",
                "output": printable(t.feedback + (f"\n\nProgram output:\n{t.output}" if t.output else "")),
                "output_format": "text",
                "visibility": t.visibility,
            }
            for t in grade.tests
        ],
    }


def prairielearn(grade: Grade) -> dict[str, Any]:
    """results.json for PrairieLearn's external grader: score in [0, 1], gradable.

    PrairieLearn ignores results.json when the grader exits non-zero: see EXIT_ZERO_AFTER_WRITING.
    """
    return {
        "gradable": grade.gradable,
        "score": (grade.score / grade.max_score) if grade.max_score and grade.gradable else 0.0,
        "message": printable(grade.error or ("all tests passed" if grade.tests and all(t.passed for t in grade.tests)
                                             else grade.summary.splitlines()[0] if grade.summary else "")),
        "output": printable(grade.summary),
        "tests": [
            {"name": t.title, "description": t.id, "points": t.score, "max_points": t.max_score,
             "message": printable(t.feedback), "output": printable(t.output)}
            for t in grade.tests
        ],
    }


EXIT_ZERO_AFTER_WRITING = frozenset({"prairielearn"})
"""Formats whose consumer ignores the results file when the grader exits non-zero (PrairieLearn's
grader host): once such a file is written, `socklab grade` exits 0 whatever else happened."""


def junit(grades: list[Grade], when: float | None = None, hostname: str | None = None) -> str:
    """JUnit XML valid against both the Jenkins xunit-plugin junit-10.xsd and windyroad's JUnit.xsd.

    The two schemas agree on: <testsuites> without attributes; per suite name, package, id,
    tests/failures/errors/skipped, time, timestamp (no zone), hostname, then <properties>,
    the testcases, <system-out>, <system-err>; per testcase name, classname, time and at most
    one of skipped/error/failure (with type). A not-gradable grade is one errored testcase.
    """
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() if when is None else when))
    host = hostname or socket.gethostname() or "localhost"
    suites = ET.Element("testsuites")
    for index, grade in enumerate(grades):
        failures = sum(not t.passed and not t.skipped for t in grade.tests)
        skipped = sum(t.skipped for t in grade.tests)
        suite = ET.SubElement(suites, "testsuite", {
            "name": _token(f"{grade.lab}:{grade.submission}"), "package": _token(grade.lab), "id": str(index),
            "tests": str(len(grade.tests) + (not grade.gradable)), "failures": str(failures),
            "errors": "0" if grade.gradable else "1", "skipped": str(skipped), "time": f"{grade.duration:.3f}",
            "timestamp": stamp, "hostname": _token(host),
        })
        props = ET.SubElement(suite, "properties")
        for name, value in (("lab", grade.lab), ("submission", grade.submission), ("score", f"{grade.score:g}"),
                            ("max_score", f"{grade.max_score:g}"), ("gradable", str(grade.gradable).lower())):
            ET.SubElement(props, "property", name=name, value=printable(value))
        classname = _token(f"{grade.lab}.{grade.submission}")
        if not grade.gradable:
            case = ET.SubElement(suite, "testcase", name="grading", classname=classname, time="0")
            reason = printable(grade.error) or "not graded"
            ET.SubElement(case, "error", type="not graded", message=_first_line(reason)).text = reason
        for t in grade.tests:
            case = ET.SubElement(suite, "testcase", name=_token(t.id), classname=classname, time="0")
            text = printable(t.feedback + (f"\n\n{t.output}" if t.output else ""))
            if t.skipped:
                ET.SubElement(case, "skipped", message=_first_line(text) or "skipped").text = text
            elif not t.passed:
                ET.SubElement(case, "failure", type="check failed", message=_first_line(text) or "failed").text = text
        ET.SubElement(suite, "system-out").text = printable(grade.summary)
        ET.SubElement(suite, "system-err").text = ""
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def _first_line(text: str) -> str:
    return text.splitlines()[0] if text else ""


def _token(text: str) -> str:
    """xs:token: no control characters, single spaces, never empty."""
    return " ".join(printable(text).split()) or "-"


def summary_csv(grades: list[Grade]) -> str:
    """One row per submission, one column per test."""
    ids: list[str] = []
    for grade in grades:
        ids += [t.id for t in grade.tests if t.id not in ids]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["submission", "score", "max_score", "gradable", *ids, "error"])
    for grade in grades:
        scores = {t.id: t.score for t in grade.tests}
        writer.writerow([grade.submission, f"{grade.score:g}", f"{grade.max_score:g}", grade.gradable,
                         *[f"{scores[i]:g}" if i in scores else "" for i in ids], grade.error or ""])
    return out.getvalue()


def render(fmt: str, grades: list[Grade]) -> str:
    """One document for all grades (a list when several, except for junit and csv)."""
    if fmt == "junit":
        return junit(grades)
    if fmt == "csv":
        return summary_csv(grades)
    convert = {"gradescope": gradescope, "prairielearn": prairielearn, "json": lambda g: g.to_dict()}[fmt]
    data = [convert(g) for g in grades]
    return json.dumps(data[0] if len(data) == 1 else data, indent=2) + "\n"
