"""Grades in graders' formats: validated against schemas written from Gradescope's and PrairieLearn's specs."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from xml.etree import ElementTree as ET

import jsonschema
import pytest

from socklab.grade.formats import gradescope, junit, prairielearn, render, summary_csv
from socklab.grade.score import CheckGrade, Grade
from socklab.model.grading import GradingSpec, parse_size

SCHEMAS = Path(__file__).resolve().parents[1] / "schemas"


def sample(name: str = "alice", passing: bool = False, gradable: bool = True) -> Grade:
    return Grade(
        submission=name, lab="tcp-hello", gradable=gradable, error=None if gradable else "the lab could not run: x",
        tests=[
            CheckGrade(id="handshake", title="Handshake", score=2, max_score=2, passed=True, visibility="visible", feedback="passed"),
            CheckGrade(id="hello", title="Hello", score=2 if passing else 0, max_score=2, passed=passing,
                      visibility="after_due_date", feedback="destination port 12346, expected 12345", output="[client stderr]\nboom"),
        ] if gradable else [],
        duration=0.42, summary="step client: exit code 1, expected 0",
    )


@pytest.mark.parametrize("grade", [sample(), sample(passing=True), sample(gradable=False)])
def test_gradescope_results_validate(grade):
    data = gradescope(grade)
    jsonschema.validate(data, json.loads((SCHEMAS / "gradescope-results.schema.json").read_text()))
    assert data["score"] == grade.score
    if grade.gradable:
        assert [t["status"] for t in data["tests"]] == ["passed", "passed" if grade.tests[1].passed else "failed"]
        assert data["tests"][1]["visibility"] == "after_due_date"
    else:
        assert data["output"].startswith("NOT GRADED")


@pytest.mark.parametrize("grade", [sample(), sample(passing=True), sample(gradable=False)])
def test_prairielearn_results_validate(grade):
    data = prairielearn(grade)
    jsonschema.validate(data, json.loads((SCHEMAS / "prairielearn-results.schema.json").read_text()))
    assert data["gradable"] is grade.gradable
    assert data["score"] == (1.0 if grade.tests and all(t.passed for t in grade.tests) else (0.5 if grade.gradable else 0.0))


def test_schemas_reject_what_graders_would_reject():
    bad = gradescope(sample())
    bad["tests"][0]["status"] = "ok"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, json.loads((SCHEMAS / "gradescope-results.schema.json").read_text()))
    pl = prairielearn(sample())
    pl["score"] = 4
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(pl, json.loads((SCHEMAS / "prairielearn-results.schema.json").read_text()))


def test_junit_has_one_testcase_per_expectation_and_failures():
    root = ET.fromstring(junit([sample(), sample("bob", gradable=False)]))
    suites = root.findall("testsuite")
    assert [s.get("failures") for s in suites] == ["1", "0"]
    cases = suites[0].findall("testcase")
    assert [c.get("name") for c in cases] == ["handshake", "hello"]
    assert cases[1].find("failure").get("message") == "destination port 12346, expected 12345"
    assert suites[1].find("testcase/error") is not None


def test_csv_one_row_per_submission_one_column_per_test():
    rows = list(csv.reader(io.StringIO(summary_csv([sample(), sample("bob", passing=True)]))))
    assert rows[0] == ["submission", "score", "max_score", "gradable", "handshake", "hello", "error"]
    assert rows[1][:6] == ["alice", "2", "4", "True", "2", "0"]
    assert rows[2][:6] == ["bob", "4", "4", "True", "2", "2"]


def test_render_json_keeps_everything():
    data = json.loads(render("json", [sample()]))
    assert data["score"] == 2 and data["max_score"] == 4 and data["tests"][1]["output"].endswith("boom")


def test_grading_spec_sizes_and_defaults():
    spec = GradingSpec.model_validate({"files": {"client.py": {"steps": ["client"]}}, "limits": {"memory": "256M"}})
    assert spec.limits.memory == 256 << 20 and spec.limits.processes == 64
    assert parse_size("1G") == 1 << 30 and parse_size("64KiB") == 64 << 10
    with pytest.raises(ValueError):
        parse_size("lots")
