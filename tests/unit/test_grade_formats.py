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


ANSI_OUTPUT = "\x1b[31mTraceback\x1b[0m: bad byte \x00\x07 <b>&</b> \x1b]0;title\x07end"


def sample(name: str = "alice", passing: bool = False, gradable: bool = True, skipped: bool = False) -> Grade:
    if skipped:
        return Grade(submission=name, lab="tcp-hello", duration=1.5, summary="step client: exit code 1", tests=[
            CheckGrade(id="handshake", title="Handshake", score=0, max_score=2, passed=False, visibility="visible",
                       feedback="no SYN to server:12345 seen", output=ANSI_OUTPUT),
            CheckGrade(id="hello", title="Hello", score=0, max_score=2, passed=False, visibility="visible",
                       feedback="skipped: needs handshake, which failed", skipped=True),
        ])
    return Grade(
        submission=name, lab="tcp-hello", gradable=gradable, error=None if gradable else "the lab could not run: x",
        tests=[
            CheckGrade(id="handshake", title="Handshake", score=2, max_score=2, passed=True, visibility="visible", feedback="passed"),
            CheckGrade(id="hello", title="Hello", score=2 if passing else 0, max_score=2, passed=passing,
                      visibility="after_due_date", feedback="destination port 12346, expected 12345", output="[client stderr]\nboom"),
        ] if gradable else [],
        duration=0.42, summary="step client: exit code 1, expected 0",
    )


KINDS = [sample(), sample(passing=True), sample(gradable=False), sample(skipped=True)]


@pytest.mark.parametrize("grade", KINDS)
def test_gradescope_results_validate(grade):
    data = gradescope(grade)
    jsonschema.validate(data, json.loads((SCHEMAS / "gradescope-results.schema.json").read_text()))
    assert data["output_format"] == "text" and all(t["output_format"] == "text" for t in data["tests"])
    assert "\x1b" not in json.dumps(data) and "\\u0000" not in json.dumps(data)
    assert data["score"] == grade.score
    if grade.gradable:
        assert [t["status"] for t in data["tests"]] == ["passed" if t.passed else "failed" for t in grade.tests]
        assert [t["visibility"] for t in data["tests"]] == [t.visibility for t in grade.tests]
    else:
        assert data["output"].startswith("NOT GRADED: the lab could not run: x\nThe score below is not a grade")


@pytest.mark.parametrize("grade", KINDS)
def test_prairielearn_results_validate(grade):
    data = prairielearn(grade)
    jsonschema.validate(data, json.loads((SCHEMAS / "prairielearn-results.schema.json").read_text()))
    assert data["gradable"] is grade.gradable
    expected = sum(t.score for t in grade.tests) / sum(t.max_score for t in grade.tests) if grade.gradable else 0.0
    assert data["score"] == expected


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


def _xsd(name: str):
    from lxml import etree

    return etree.XMLSchema(etree.parse(str(SCHEMAS / name)))


XSDS = ["jenkins-xunit-junit-10.xsd", "windyroad-JUnit.xsd"]


@pytest.mark.parametrize("xsd", XSDS)
@pytest.mark.parametrize("grades", [[g] for g in KINDS] + [KINDS], ids=["fail", "pass", "not-gradable", "skipped", "all"])
def test_junit_is_valid_for_both_consumers(xsd, grades):
    from lxml import etree

    doc = etree.fromstring(junit(grades).encode())
    schema = _xsd(xsd)
    assert schema.validate(doc), schema.error_log.last_error
    if xsd.startswith("windyroad"):  # its testsuite type is also a document root on its own
        for suite in doc.findall("testsuite"):
            alone = etree.fromstring(etree.tostring(suite))
            for attr in ("package", "id"):
                del alone.attrib[attr]
            assert schema.validate(alone), schema.error_log.last_error


def test_junit_counts_and_safe_text():
    root = ET.fromstring(junit(KINDS, when=0, hostname="grader"))  # parses: no raw control characters
    counts = [(s.get("tests"), s.get("failures"), s.get("errors"), s.get("skipped")) for s in root.findall("testsuite")]
    assert counts == [("2", "1", "0", "0"), ("2", "0", "0", "0"), ("1", "0", "1", "0"), ("2", "1", "0", "1")]
    suite = root.findall("testsuite")[3]
    assert suite.get("timestamp") == "1970-01-01T00:00:00" and suite.get("hostname") == "grader"
    hs, hello = suite.findall("testcase")
    assert hello.find("skipped").get("message") == "skipped: needs handshake, which failed"
    assert hello.find("failure") is None
    text = hs.find("failure").text
    assert "Traceback: bad byte \\x00\\x07 <b>&</b> end" in text and "\x1b" not in text
    error = root.findall("testsuite")[2].find("testcase/error")
    assert error.get("type") == "not graded" and error.get("message") == "the lab could not run: x"


def test_xsds_reject_what_consumers_reject():
    from lxml import etree

    bad = etree.fromstring(junit([sample()]).encode())
    etree.SubElement(bad.find("testsuite/testcase"), "properties")  # what socklab used to write
    assert not _xsd("jenkins-xunit-junit-10.xsd").validate(bad)
    no_stamp = etree.fromstring(junit([sample()]).encode())
    del no_stamp.find("testsuite").attrib["timestamp"]
    assert not _xsd("windyroad-JUnit.xsd").validate(no_stamp)
