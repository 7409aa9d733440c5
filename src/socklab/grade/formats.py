"""Grades in the formats graders use: Gradescope, PrairieLearn, JUnit, socklab JSON, CSV."""

from __future__ import annotations

import csv
import io
import json
from typing import Any
from xml.etree import ElementTree as ET

from socklab.grade.score import Grade

FORMATS = ("table", "json", "gradescope", "prairielearn", "junit", "csv")
EXTENSIONS = {"json": "json", "gradescope": "json", "prairielearn": "json", "junit": "xml", "csv": "csv"}


def gradescope(grade: Grade) -> dict[str, Any]:
    """results.json per Gradescope's autograder specification."""
    output = grade.summary
    if not grade.gradable:
        output = f"NOT GRADED: {grade.error}\n{output}".strip()
    return {
        "score": grade.score,
        "execution_time": round(grade.duration, 3),
        "output": output,
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": [
            {
                "name": t.title, "number": t.id, "score": t.score, "max_score": t.max_score,
                "status": "passed" if t.passed else "failed",
                "output": t.feedback + (f"\n\nProgram output:\n{t.output}" if t.output else ""),
                "visibility": t.visibility,
            }
            for t in grade.tests
        ],
    }


def prairielearn(grade: Grade) -> dict[str, Any]:
    """results.json for PrairieLearn's external grader: score in [0, 1], gradable."""
    return {
        "gradable": grade.gradable,
        "score": (grade.score / grade.max_score) if grade.max_score and grade.gradable else 0.0,
        "message": grade.error or ("all tests passed" if grade.tests and all(t.passed for t in grade.tests)
                                   else grade.summary.splitlines()[0] if grade.summary else ""),
        "output": grade.summary,
        "tests": [
            {"name": t.title, "description": t.id, "points": t.score, "max_points": t.max_score,
             "message": t.feedback, "output": t.output}
            for t in grade.tests
        ],
    }


def junit(grades: list[Grade]) -> str:
    suites = ET.Element("testsuites")
    for grade in grades:
        suite = ET.SubElement(suites, "testsuite", name=f"{grade.lab}:{grade.submission}",
                              tests=str(len(grade.tests)), time=f"{grade.duration:.3f}",
                              failures=str(sum(not t.passed for t in grade.tests)),
                              errors="0" if grade.gradable else "1")
        if not grade.gradable:
            case = ET.SubElement(suite, "testcase", name="grading", classname=grade.lab)
            ET.SubElement(case, "error", message=grade.error or "not graded").text = grade.error
        for t in grade.tests:
            case = ET.SubElement(suite, "testcase", name=t.id, classname=f"{grade.lab}.{grade.submission}")
            ET.SubElement(case, "properties")
            if not t.passed:
                failure = ET.SubElement(case, "failure", message=t.feedback.splitlines()[0] if t.feedback else "failed")
                failure.text = t.feedback + (f"\n\n{t.output}" if t.output else "")
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


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
