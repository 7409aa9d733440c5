"""`socklab --help` from the cache: the same bytes and exit code as typer's, without importing typer."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
PROBE = """
import sys
from socklab import entry
sys.argv = ["socklab", *sys.argv[1:]]
try:
    entry.main()
except SystemExit as e:
    code = e.code
print("typer" in sys.modules, code, file=sys.stderr)
"""


def _run(args: list[str], **env: str) -> subprocess.CompletedProcess:
    environ = {**os.environ, "PYTHONPATH": str(SRC), "COLUMNS": "91", **env}
    return subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, env=environ, timeout=60)


def test_help_is_served_from_the_cache_byte_for_byte():
    live = _run(["--help"], SOCKLAB_NO_HELP_CACHE="1")
    assert live.stderr.decode().split()[-2:] == ["True", "0"]
    _run(["--help"])  # renders once and keeps it (or finds it kept)
    cached = _run(["--help"])
    assert cached.stdout == live.stdout and b"Usage: socklab" in cached.stdout
    assert cached.stderr.decode().split()[-2:] == ["False", "0"], "the cached help must not import typer"


def test_bare_socklab_keeps_its_exit_code_and_other_commands_go_to_typer():
    live = _run([], SOCKLAB_NO_HELP_CACHE="1")
    _run([])
    cached = _run([])
    assert (cached.stdout, cached.stderr.decode().split()[-1]) == (live.stdout, live.stderr.decode().split()[-1])
    other = _run(["schema"])
    assert other.returncode == 0 and b'"title"' in other.stdout and other.stderr.decode().split()[0] == "True"


def test_a_command_s_help_is_served_from_the_cache_byte_for_byte():
    for args in (["run", "--help"], ["grade", "-h"]):
        live = _run(args, SOCKLAB_NO_HELP_CACHE="1")
        assert live.stderr.decode().split()[-2:] == ["True", "0"]
        _run(args)
        cached = _run(args)
        assert cached.stdout == live.stdout and f"Usage: socklab {args[0]}".encode() in cached.stdout
        assert cached.stderr.decode().split()[-2:] == ["False", "0"], "the cached help must not import typer"


def test_an_unknown_command_s_help_is_not_kept():
    _run(["no-such-command", "--help"])
    again = _run(["no-such-command", "--help"])
    assert again.returncode == 0 and again.stderr.decode().split()[-2:] == ["True", "2"]
    assert b"No such command" in again.stderr


def test_a_changed_source_invalidates_a_kept_command_help(tmp_path: Path):
    copy = tmp_path / "socklab"
    shutil.copytree(SRC / "socklab", copy, ignore=shutil.ignore_patterns("__pycache__"))
    args, env = ["run", "--help"], {"PYTHONPATH": str(tmp_path)}
    _run(args, **env)
    before = _run(args, **env)
    assert before.stderr.decode().split()[0] == "False" and b"Bring a lab up," in before.stdout
    # the run command's help text, wherever cli keeps it, edited as a developer would
    (source,) = [p for p in copy.glob("*.py") if "Bring a lab up," in p.read_text()]
    source.write_text(source.read_text().replace("Bring a lab up,", "Bring a lab up (edited),"))
    after = _run(args, **env)
    assert after.stderr.decode().split()[0] == "True", "a changed source must render again"
    assert b"Bring a lab up (edited)," in after.stdout and _run(args, **env).stdout == after.stdout


def test_the_executable_leaves_with_the_command_s_code_and_all_its_output():
    """console() skips the interpreter's teardown: what was printed is flushed, the code kept."""
    probe = "import sys; from socklab.entry import console; sys.argv = ['socklab', *sys.argv[1:]]; console()"
    environ = {**os.environ, "PYTHONPATH": str(SRC), "COLUMNS": "91"}
    schema = subprocess.run([sys.executable, "-c", probe, "schema"], capture_output=True, env=environ, timeout=60)
    assert schema.returncode == 0 and schema.stdout.rstrip().endswith(b"}") and b'"title"' in schema.stdout
    missing = subprocess.run([sys.executable, "-c", probe, "validate", "/no/such/lab"], capture_output=True,
                             env=environ, timeout=60)
    assert missing.returncode == 2 and b"no such lab file or folder" in missing.stderr


def test_run_without_options_skips_typer_and_says_what_typer_would():
    """`socklab run LAB...` goes without typer: the same message and exit code as typer's command."""
    fast = _run(["run", "/no/such/lab"])
    assert fast.stderr.decode().split()[-2:] == ["False", "2"], "run LAB must not import typer"
    typed = _run(["run", "--keep", "/no/such/lab"])  # an option: typer's command
    assert typed.stderr.decode().split()[-2:] == ["True", "2"]
    first = lambda r: r.stderr.decode().splitlines()[0]  # noqa: E731
    assert first(fast) == first(typed) and first(fast).startswith("socklab: error: /no/such/lab: no such lab file")
    both = _run(["run", "/no/such/lab", "/no/other"])
    assert both.stderr.decode().split()[-2:] == ["False", "2"] and b"/no/such/lab" in both.stderr


def test_only_run_with_lab_names_takes_the_path_without_typer():
    from socklab.cli_run import fast_path

    assert fast_path(["run", "tcp-hello"]) and fast_path(["run", "a", "b/"])
    for args in (["run"], ["run", "--json", "x"], ["run", "x", "-k"], ["up", "x"], ["run", "--", "x"], []):
        assert not fast_path(args), args


def test_closed_stdout_or_stderr_changes_no_exit_code():
    """Started with a stream closed (`>&-`), Python has sys.stdout or sys.stderr None."""
    probe = "import sys; from socklab.entry import console; sys.argv = ['socklab', *sys.argv[1:]]; console()"
    environ = {**os.environ, "PYTHONPATH": str(SRC)}
    ok = subprocess.run(f'{sys.executable} -c "{probe}" validate {SRC.parent / "labs/tcp-hello"} >&-',
                        shell=True, env=environ, timeout=60, capture_output=True)
    assert ok.returncode == 0, ok.stderr
    for args in ("validate /no/such", "run /no/such"):
        bad = subprocess.run(f'{sys.executable} -c "{probe}" {args} 2>&-', shell=True, env=environ, timeout=60)
        assert bad.returncode == 2, args
