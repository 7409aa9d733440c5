"""`ready: {output: REGEX}`: a line of stdout or stderr, found by reading only what is new."""

from __future__ import annotations

from socklab.steps import OutputWatch


def test_a_ready_line_is_found_as_it_is_written_in_pieces(tmp_path):
    out, err = tmp_path / "out", tmp_path / "err"
    out.write_bytes(b"")
    err.write_bytes(b"")
    watch = OutputWatch(r"^server up$", (str(out), str(err)))
    assert not watch()
    with open(out, "ab") as f:
        f.write(b"starting\nserv")
        f.flush()
        assert not watch()
        f.write(b"er up")  # the line is whole but not ended: `$` matches at its end, as before
        f.flush()
        assert watch()
    other = OutputWatch(r"listening on \d+", (str(out), str(err)))
    err.write_bytes("warn: é\n".encode() + b"listening on 80")  # stderr counts too
    assert other()


def test_each_check_reads_only_what_is_new(tmp_path):
    out = tmp_path / "out"
    out.write_bytes(b"noise line\n" * 200_000)  # 2.2 MB before the ready line
    watch = OutputWatch(r"^ready$", (str(out),))
    checks = 0
    while not watch() and checks < 10:
        checks += 1
        if watch.offsets[0] >= out.stat().st_size:
            with open(out, "ab") as f:
                f.write(b"ready\n")
    assert watch.offsets[0] == out.stat().st_size
    assert checks == 3  # 1 MiB, 1 MiB, the rest; then the ready line: never the whole file again
    assert not OutputWatch(r"^ready$", (str(tmp_path / "missing"),))()
