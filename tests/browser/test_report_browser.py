"""report.html and PNG drawings in a real browser: headless Chromium over the DevTools protocol."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from socklab.report import write_report
from socklab.report.chromium import find_chromium
from socklab.report.testing import fake_run_folder
from tests.browser.cdp import Browser, png_pixels
from tests.report_frames import TCP_HELLO_STEPS, noise, tcp_hello_frames

pytestmark = pytest.mark.skipif(find_chromium() is None, reason="chromium is not installed (apt-get install chromium)")

ARROWS = "document.querySelectorAll('g.pkt line.arrow, g.pkt path.arrow')"


def assert_not_blank(png: bytes) -> None:
    """Many colours, and neither an empty white page nor a solid block."""
    width, height, rows = png_pixels(png)
    bpp = len(rows[0]) // width
    colours = Counter(row[i : i + 3] for row in rows for i in range(0, len(row), bpp))
    white = colours.get(b"\xff\xff\xff", 0) / (width * height)
    assert len(colours) > 50, f"only {len(colours)} colours"
    assert 0.05 < 1 - white < 0.95, f"{1 - white:.0%} of the pixels are not white"


def check_page(browser: Browser, folder: Path, packets: int, expectation_ids: list[str]) -> None:
    browser.open(folder / "report.html")
    assert browser.evaluate(f"{ARROWS}.length") == packets
    drawn = browser.evaluate(f"Array.from({ARROWS}).filter(a => a.getBoundingClientRect().width > 0).length")
    assert drawn == packets  # every arrow is laid out with a size, not only present
    shown = browser.evaluate("Array.from(document.querySelectorAll('[data-expectation]')).map(e => e.id)")
    assert shown == [f"exp-{i}" for i in expectation_ids]
    assert browser.evaluate("document.querySelector('svg.topology') !== null")
    assert browser.errors() == []
    assert_not_blank(browser.screenshot(scale=0.25))


def test_report_of_a_packet_made_run(tmp_path):
    folder = fake_run_folder(tmp_path / "run", "tcp-hello", tcp_hello_frames(), steps=TCP_HELLO_STEPS)
    write_report(folder)
    with Browser() as browser:
        check_page(browser, folder, 12, ["handshake", "hello", "answer", "close", "server-prints", "client-prints"])
        # following an evidence link scrolls to its packet and outlines it
        browser.evaluate("document.querySelector('a.ref[href=\"#pkt-server-eth0-6\"]').click()")
        assert browser.evaluate("document.querySelector(':target').id") == "pkt-server-eth0-6"


def test_paged_ladders_reveal_the_packet_a_link_points_at(tmp_path):
    folder = fake_run_folder(tmp_path / "run", "tcp-hello", tcp_hello_frames() + noise(3000), steps=TCP_HELLO_STEPS)
    write_report(folder)
    with Browser() as browser:
        browser.open(folder / "report.html")
        ladder = "document.querySelectorAll('.ladder')[2]"  # a 750-packet UDP flow: pages of 100 rows
        assert browser.evaluate(f"{ladder}.querySelectorAll('.page:not([hidden])').length") == 1
        browser.evaluate(f"{ladder}.querySelector('.pager button[data-step=\"1\"]').click()")
        assert browser.evaluate(f"{ladder}.querySelector('.page:not([hidden])').dataset.page") == "1"
        assert browser.evaluate(f"{ladder}.querySelector('.pager .where').textContent").startswith("page 2 of ")
        target = browser.evaluate(f"{ladder}.querySelectorAll('.page')[3].querySelector('g.pkt').id")
        browser.evaluate(f"location.hash = '#{target}'")
        browser.evaluate("new Promise(r => setTimeout(r, 50))")
        assert browser.evaluate(f"{ladder}.querySelector('.page:not([hidden])').dataset.page") == "3"
        assert browser.errors() == []


@pytest.mark.root
@pytest.mark.skipif(os.geteuid() != 0, reason="a real run needs root (network namespaces)")
def test_report_of_a_real_tcp_hello_run(tmp_path):
    from socklab.model.loader import load_lab
    from socklab.run import run_lab
    from socklab.verify.pcap import read_records

    lab = load_lab("tcp-hello")
    result = run_lab(lab, name="report-browser", runs_dir=tmp_path)
    assert result.ok, result.to_dict()
    records, _ = read_records(result.folder / result.captures["server:eth0"]["file"])
    assert len(records) >= 10  # handshake, hello, answer, close
    with Browser() as browser:
        check_page(browser, result.folder, len(records), [e.id for e in lab.expect])


def test_png_drawing_is_a_real_picture(tmp_path):
    out = tmp_path / "routed.png"
    subprocess.run([sys.executable, "-m", "socklab.cli", "graph", "routed", "-o", str(out)], check=True)
    assert_not_blank(out.read_bytes())


@pytest.mark.root
@pytest.mark.skipif(os.geteuid() != 0, reason="grading needs root (network namespaces)")
def test_a_graded_submission_has_the_report_its_grade_shows(tmp_path):
    from socklab.grade.batch import grade_many
    from socklab.model.loader import load_lab, shipped_labs_dir
    from socklab.verify.pcap import read_records

    lab = load_lab("tcp-hello")
    [grade] = grade_many(lab, [shipped_labs_dir() / "tcp-hello" / "solution"], 1, tmp_path).grades
    assert grade.gradable and grade.run_folder, grade
    folder = Path(grade.run_folder)
    with Browser() as browser:
        browser.open(folder / "report.html")
        saved = json.loads((folder / "results.json").read_text())
        verdict = "PASS" if saved["ok"] else ("ERROR" if saved.get("error") else "FAIL")
        assert browser.evaluate("document.getElementById('verdict').textContent") == verdict  # the run's own
        shown = browser.evaluate("Array.from(document.querySelectorAll('[data-expectation]')).map(e => e.dataset.expectation)")
        hidden = {i for i, v in lab.grading.visibility.items() if v != "visible"}  # tcp-hello: close, after the due date
        assert hidden and shown == [e.id for e in lab.expect if e.id not in hidden]  # what the grade shows a student
        assert browser.evaluate("document.getElementById('withheld') !== null")
        records, _ = read_records(folder / saved["captures"]["server:eth0"]["file"])
        assert browser.evaluate(f"{ARROWS}.length") == len(records)
        assert browser.errors() == []
