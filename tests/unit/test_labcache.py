"""The validated-lab cache: a hit is the Lab a new validation gives; any change misses."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from socklab.errors import LabFileError
from socklab.model import labcache
from socklab.model.loader import load_lab, parse_lab

LABS = Path(__file__).resolve().parents[2] / "labs"
GOOD = textwrap.dedent("""
    name: t
    nodes:
      a: {ip: 10.0.0.1/24}
      b: {ip: 10.0.0.2/24}
    links: [[a:eth0, b:eth0]]
    scenario:
      - {id: srv, node: b, run: python3 server.py, background: true, ready: {tcp_listen: 80}}
    expect:
      - {id: hs, title: a connects, tcp_handshake: {client: a, server: "b:80"}}
""")


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    where = tmp_path / "cache"
    monkeypatch.setattr(labcache, "_DIR", where)
    monkeypatch.delenv("SOCKLAB_NO_LAB_CACHE", raising=False)
    return where


def entries(where: Path) -> list[Path]:
    return sorted(where.iterdir()) if where.exists() else []


def test_every_shipped_lab_from_the_cache_equals_its_validation(cache):
    for path in sorted(LABS.glob("*/lab.yaml")):
        first = load_lab(path)
        kept = labcache.get(path.read_bytes(), path)
        assert kept is not None and kept is not first, f"{path}: not kept"
        assert kept == first == parse_lab(path.read_text(), path), f"{path}: the kept Lab differs"
        assert load_lab(path) == first
    assert len(entries(cache)) == len(list(LABS.glob("*/lab.yaml")))


def test_an_edit_misses_and_is_validated_again(cache, tmp_path):
    lab_file = tmp_path / "lab.yaml"
    lab_file.write_text(GOOD)
    assert load_lab(lab_file).name == "t"
    lab_file.write_text(GOOD.replace("tcp_listen: 80", "tcp_listen: 99999"))
    with pytest.raises(LabFileError, match="65535"):
        load_lab(lab_file)
    lab_file.write_text(GOOD.replace("name: t", "name: u"))
    assert load_lab(lab_file).name == "u"
    assert len(entries(cache)) == 2  # the invalid text was not kept


def test_the_same_text_elsewhere_is_its_own_lab(cache, tmp_path):
    for folder in ("one", "two"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "lab.yaml").write_text(GOOD)
    one, two = load_lab(tmp_path / "one"), load_lab(tmp_path / "two")
    assert one.folder == tmp_path / "one" and two.folder == tmp_path / "two"
    assert load_lab(tmp_path / "two").folder == tmp_path / "two"
    assert len(entries(cache)) == 2


def test_a_torn_entry_is_validated_again_and_replaced(cache, tmp_path):
    lab_file = tmp_path / "lab.yaml"
    lab_file.write_text(GOOD)
    fresh = load_lab(lab_file)
    (entry,) = entries(cache)
    entry.write_bytes(entry.read_bytes()[:40])
    assert labcache.get(lab_file.read_bytes(), lab_file) is None
    assert load_lab(lab_file) == fresh
    assert labcache.get(lab_file.read_bytes(), lab_file) == fresh


def test_other_code_is_another_key(cache, tmp_path, monkeypatch):
    lab_file = tmp_path / "lab.yaml"
    lab_file.write_text(GOOD)
    before = labcache.key(lab_file.read_bytes(), lab_file)
    load_lab(lab_file)
    monkeypatch.setattr(labcache, "_code_fingerprint", lambda: ("socklab changed",))
    assert labcache.key(lab_file.read_bytes(), lab_file) != before
    assert labcache.get(lab_file.read_bytes(), lab_file) is None


def test_the_fingerprint_sees_a_changed_source_file(tmp_path):
    """Run in a child: a copy of the package whose one file changes size."""
    package = Path(labcache.__file__).resolve().parents[1]
    copy = tmp_path / "src" / "socklab"
    shutil.copytree(package, copy, ignore=shutil.ignore_patterns("__pycache__"))
    probe = "from socklab.model import labcache; print(hash(labcache._code_fingerprint()))"
    env = {**os.environ, "PYTHONPATH": str(copy.parent), "PYTHONHASHSEED": "0"}

    def fingerprint() -> str:
        return subprocess.run([sys.executable, "-c", probe], env=env, check=True, capture_output=True,
                              text=True).stdout

    before = fingerprint()
    assert fingerprint() == before
    with open(copy / "model" / "values.py", "a") as f:
        f.write("\n# changed\n")
    assert fingerprint() != before


def test_switched_off_keeps_nothing(cache, tmp_path, monkeypatch):
    monkeypatch.setenv("SOCKLAB_NO_LAB_CACHE", "1")
    lab_file = tmp_path / "lab.yaml"
    lab_file.write_text(GOOD)
    load_lab(lab_file)
    assert entries(cache) == []


def test_big_lab_files_are_not_kept(cache, tmp_path):
    lab_file = tmp_path / "lab.yaml"
    lab_file.write_text(GOOD + "#" * labcache.MAX_TEXT + "\n")
    assert load_lab(lab_file).name == "t"
    assert entries(cache) == []


def test_the_newest_entries_are_kept(cache, tmp_path, monkeypatch):
    monkeypatch.setattr(labcache, "MAX_ENTRIES", 3)
    lab_file = tmp_path / "lab.yaml"
    for n in range(5):
        text = GOOD.replace("name: t", f"name: t{n}")
        lab_file.write_text(text)
        load_lab(lab_file)
        os.utime(cache / labcache.key(text.encode(), lab_file), ns=(n * 10**9, n * 10**9))  # ticks apart
    assert len(entries(cache)) == 3
    lab_file.write_text(GOOD.replace("name: t", "name: t4"))
    assert labcache.get(lab_file.read_bytes(), lab_file) is not None
    lab_file.write_text(GOOD.replace("name: t", "name: t0"))
    assert labcache.get(lab_file.read_bytes(), lab_file) is None


def test_a_read_only_cache_folder_still_loads(tmp_path, monkeypatch):
    monkeypatch.setattr(labcache, "_DIR", Path("/proc/socklab-cannot-exist"))
    lab_file = tmp_path / "lab.yaml"
    lab_file.write_text(GOOD)
    assert load_lab(lab_file).name == "t"


def test_windows_and_old_mac_line_ends_read_as_text_mode_reads_them(cache, tmp_path):
    """load_lab reads bytes (the key) and decodes them as a text-mode read would."""
    lab_file = tmp_path / "lab.yaml"
    lab_file.write_text(GOOD)
    plain = load_lab(lab_file)
    for ending in ("\r\n", "\r"):
        lab_file.write_bytes(GOOD.replace("\n", ending).encode())
        loaded = load_lab(lab_file)
        assert (loaded.name, loaded.scenario, loaded.expect) == (plain.name, plain.scenario, plain.expect)
        broken = GOOD.replace("tcp_listen: 80", "tcp_listen: 99999").replace("\n", ending)
        lab_file.write_bytes(broken.encode())
        with pytest.raises(LabFileError) as info:
            load_lab(lab_file)
        assert info.value.line == 8, ending  # the scenario step, as with "\n"


CHILD = """
import sys
from pathlib import Path
from socklab.model import labcache
labcache._DIR = Path(sys.argv[1])
from socklab.model.loader import load_lab
from socklab.plan import make_plan
import socklab.run, socklab.cli_run, socklab.verify.engine, socklab.report.build, socklab.render
from socklab.model import plain
lab = load_lab(sys.argv[2])
plan = make_plan(lab)
assert make_plan(lab).to_json() == plan.to_json()
assert lab.expect and all(isinstance(e, plain.Expectation) and e.references() for e in lab.expect)
before_thaw = "pydantic" in sys.modules
assert lab.grading is lab.grading and lab.spec.name == lab.name  # thawed
from pydantic import BaseModel
built, todo = [], list(BaseModel.__subclasses__())
while todo:
    cls = todo.pop()
    todo += cls.__subclasses__()
    if cls.__dict__.get("__pydantic_complete__"):
        built.append(cls.__name__)
print(before_thaw, sorted(built), sorted(m for m in ("yaml", "importlib.metadata") if m in sys.modules))
"""


@pytest.mark.parametrize(("name", "impaired"), [("tcp-hello", False), ("routed", False), ("icmp-raw", True)])
def test_a_kept_lab_loads_and_plans_without_building_a_schema(tmp_path, name, impaired):
    """What makes a `socklab run` fast: from the cache, a lab loads and plans, the run's modules
    import (the verifier, the report and the renderer too) and its expectations read, without
    pydantic; its grading and spec, thawed, build no schema, and neither PyYAML nor
    importlib.metadata (pydantic's plugin lookup) is imported. A model instance made at
    import, a plan validated again or a pydantic import on the run's path would show here.
    (A lab with impaired links holds pydantic models in its links, so it imports pydantic.)"""
    env = {k: v for k, v in os.environ.items() if k != "SOCKLAB_NO_LAB_CACHE"}

    def child() -> str:
        return subprocess.run([sys.executable, "-c", CHILD, str(tmp_path / "cache"), name], env=env, check=True,
                              capture_output=True, text=True).stdout.strip()

    first = child()  # validates: builds what validation needs
    assert first.startswith("True") and "LabSpec" in first and "'yaml'" in first
    assert child() == f"{impaired} [] []"


def test_a_kept_labs_pydantic_parts_thaw_on_first_use(cache):
    """The Lab from the cache holds its grading and spec frozen until one is used (its
    expectations are plain twins, there at once); then both are there, equal to a
    validation's, and it pickles again as it was."""
    import pickle
    import threading

    path = LABS / "tcp-hello" / "lab.yaml"
    fresh = parse_lab(path.read_text(), path)
    kept = pickle.loads(pickle.dumps(fresh))
    assert not {"grading", "spec"} & set(vars(kept)) and kept.expect == fresh.expect
    again = pickle.loads(pickle.dumps(kept))  # re-pickled frozen: the blob is kept as it is
    assert kept.nodes == fresh.nodes and kept.scenario == fresh.scenario
    threads = [threading.Thread(target=lambda: kept.grading) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {"grading", "spec"} <= set(vars(kept)) and "_frozen_parts" not in vars(kept)
    assert kept == fresh == again and kept.expect == fresh.expect and kept.spec == fresh.spec
    assert pickle.loads(pickle.dumps(kept)) == fresh
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        kept.nope  # noqa: B018 - other names are still missing attributes
