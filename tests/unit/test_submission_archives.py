"""Archives are unpacked as a stream under caps: bombs refused fast, links never followed."""

from __future__ import annotations

import io
import os
import struct
import tarfile
import time
import zipfile
import zlib
from pathlib import Path

import pytest

from socklab.errors import SubmissionError
from socklab.grade.submission import unpack
from socklab.model.grading import Limits

SMALL = Limits(unpacked_size=1 << 20, unpacked_files=20)


def _disk_usage(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def zip_bomb(path: Path, size: int = 1 << 30) -> Path:
    """`size` bytes of zeros as one member of a 1 MB zip, written by hand in a fraction of a second:
    after a full flush deflate compresses each 1 MiB block of zeros to the same bytes."""
    block = bytes(1 << 20)
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    piece = deflate.compress(block) + deflate.flush(zlib.Z_FULL_FLUSH)
    data = piece * (size >> 20) + deflate.flush()
    crc = 0
    for _ in range(size >> 20):
        crc = zlib.crc32(block, crc)
    name = b"client.py"
    local = struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, 8, 0, 0x21, crc, len(data), size, len(name), 0)
    central = struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, 20, 0, 8, 0, 0x21, crc, len(data), size,
                          len(name), 0, 0, 0, 0, 0o100644 << 16, 0) + name
    offset = len(local) + len(name) + len(data)
    end = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, 1, 1, len(central), offset, 0)
    path.write_bytes(local + name + data + central + end)
    return path


def test_a_zip_bomb_is_refused_within_a_second_with_nothing_written_beyond_the_cap(tmp_path):
    bomb = zip_bomb(tmp_path / "bomb.zip")
    assert bomb.stat().st_size < 2 << 20
    started = time.monotonic()
    with pytest.raises(SubmissionError, match=r"refused, it unpacks to more than 32 MiB"):
        unpack(bomb, tmp_path / "out")
    assert time.monotonic() - started < 1.0
    assert _disk_usage(tmp_path / "out") == 0


def test_a_zip_whose_headers_lie_about_sizes_stops_at_the_cap(tmp_path):
    """The declared size says 10 bytes; the stream is 8 MiB: counting what is written stops it."""
    data = bytes(8 << 20)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("client.py", data)
    raw = bytearray(buf.getvalue())
    # patch the uncompressed size in the local header (offset 22) and the central directory
    raw[22:26] = (10).to_bytes(4, "little")
    central = raw.rfind(b"PK\x01\x02")
    raw[central + 24:central + 28] = (10).to_bytes(4, "little")
    liar = tmp_path / "liar.zip"
    liar.write_bytes(bytes(raw))
    with pytest.raises(SubmissionError):
        unpack(liar, tmp_path / "out", SMALL)
    assert _disk_usage(tmp_path / "out") <= SMALL.unpacked_size


def test_a_tar_bomb_and_too_many_entries_are_refused(tmp_path):
    big = tmp_path / "big.tar.gz"
    with tarfile.open(big, "w:gz") as t:
        info = tarfile.TarInfo("client.py")
        info.size = 64 << 20
        t.addfile(info, io.BytesIO(bytes(info.size)))
    with pytest.raises(SubmissionError, match="more than 1 MiB"):
        unpack(big, tmp_path / "a", SMALL)
    assert _disk_usage(tmp_path / "a") == 0
    many = tmp_path / "many.zip"
    with zipfile.ZipFile(many, "w") as z:
        for n in range(50):
            z.writestr(f"f{n}.py", "pass\n")
    with pytest.raises(SubmissionError, match="more than 20 entries"):
        unpack(many, tmp_path / "b", SMALL)


def test_links_in_archives_are_skipped_with_a_note_never_followed(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("the lab's solution")
    tgz = tmp_path / "links.tar.gz"
    with tarfile.open(tgz, "w:gz") as t:
        body = b"print('hi')\n"
        info = tarfile.TarInfo("sub/client.py")
        info.size = len(body)
        t.addfile(info, io.BytesIO(body))
        for name, kind, target in (("sub/server.py", tarfile.SYMTYPE, str(secret)),
                                   ("sub/hard.py", tarfile.LNKTYPE, str(secret)),
                                   ("sub/up.py", tarfile.SYMTYPE, "../../../etc/passwd")):
            link = tarfile.TarInfo(name)
            link.type, link.linkname = kind, target
            t.addfile(link)
    result = unpack(tgz, tmp_path / "out")
    assert result.folder == tmp_path / "out" / "sub"
    assert sorted(p.name for p in result.folder.iterdir()) == ["client.py"]
    assert not any(p.is_symlink() for p in (tmp_path / "out").rglob("*"))
    assert any("server.py: skipped, a symbolic link" in n for n in result.notes)
    assert any("hard.py: skipped, a hard link" in n for n in result.notes)
    zipped = tmp_path / "links.zip"
    with zipfile.ZipFile(zipped, "w") as z:
        link = zipfile.ZipInfo("server.py")
        link.external_attr = (0o120777 << 16)
        z.writestr(link, str(secret))
        z.writestr("client.py", "print('hi')\n")
    result = unpack(zipped, tmp_path / "zout")
    assert sorted(os.listdir(result.folder)) == ["client.py"]
    assert "server.py: skipped, a symbolic link (archives may hold only files and folders)" in result.notes


@pytest.mark.parametrize("name", ["/etc/cron.d/x", "../escape.py", "a/../../escape.py"])
def test_paths_outside_the_folder_are_refused(tmp_path, name):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr(zipfile.ZipInfo(name), "x")
    with pytest.raises(SubmissionError, match="unsafe path"):
        unpack(archive, tmp_path / "out")
    assert not (tmp_path / "escape.py").exists()
