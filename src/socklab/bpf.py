"""Capture filters: tcpdump's filter language compiled to classic BPF, once per filter.

Compiled by libpcap itself (through ctypes, ~0.1 ms) so a filter means exactly what it
means to tcpdump; `tcpdump -ddd` is the fallback where libpcap cannot be loaded. The
program runs in the kernel: packets it rejects never reach the ring, cost nothing and
are not counted as drops, as with tcpdump. Beside the stages rather than in capture/: the
lab model checks a lab file's filters with it (standard library only, loaded on first use).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import shutil
import struct
import subprocess

from socklab.errors import UsageError

LINKTYPE_ETHERNET = 1
SNAPLEN = 262144  # tcpdump -s 0
PCAP_NETMASK_UNKNOWN = 0xFFFFFFFF

Program = tuple[tuple[int, int, int, int], ...]
"""Classic BPF instructions (code, jt, jf, k)."""

DROP_ALL: Program = ((0x06, 0, 0, 0),)  # ret #0


class _Insn(ctypes.Structure):
    _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte), ("k", ctypes.c_uint32)]


class _Prog(ctypes.Structure):
    _fields_ = [("bf_len", ctypes.c_uint), ("bf_insns", ctypes.POINTER(_Insn))]


@functools.cache
def _libpcap() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("pcap")
    try:
        lib = ctypes.CDLL(name or "libpcap.so.0.8")
    except OSError:
        return None
    lib.pcap_open_dead.restype = ctypes.c_void_p
    lib.pcap_open_dead.argtypes = [ctypes.c_int, ctypes.c_int]
    lib.pcap_compile.argtypes = [ctypes.c_void_p, ctypes.POINTER(_Prog), ctypes.c_char_p, ctypes.c_int, ctypes.c_uint32]
    lib.pcap_geterr.restype = ctypes.c_char_p
    lib.pcap_geterr.argtypes = [ctypes.c_void_p]
    lib.pcap_freecode.argtypes = [ctypes.POINTER(_Prog)]
    lib.pcap_close.argtypes = [ctypes.c_void_p]
    return lib


MAX_FILTER_CHARS = 1024
"""libpcap's optimizer is superlinear: 100 `port N or` terms (1 kB) compile in 0.2 s, 300 in
4.8 s, 1000 in 4 minutes. Lab filters are a line; anything longer is refused before compiling."""
BPF_MAXINSNS = 4096  # the kernel's limit for a classic BPF socket filter


@functools.lru_cache(maxsize=256)
def compile_filter(expression: str, linktype: int = LINKTYPE_ETHERNET) -> Program:
    """The BPF program tcpdump would install for `expression` (UsageError if it does not parse,
    is longer than MAX_FILTER_CHARS or compiles to more than the kernel accepts)."""
    if "\0" in expression:
        raise UsageError("a NUL in a capture filter")  # C would read the filter up to it only
    if len(expression) > MAX_FILTER_CHARS:
        raise UsageError(f"capture filter of {len(expression)} characters: at most {MAX_FILTER_CHARS} "
                         "(libpcap's optimizer takes minutes on long ones)")
    program = _compile(expression, linktype)
    if len(program) > BPF_MAXINSNS:
        raise UsageError(f"capture filter compiles to {len(program)} BPF instructions; the kernel takes "
                         f"at most {BPF_MAXINSNS}")
    return program


def _compile(expression: str, linktype: int) -> Program:
    lib = _libpcap()
    if lib is None:
        return _compile_with_tcpdump(expression, linktype)
    handle = lib.pcap_open_dead(linktype, SNAPLEN)
    try:
        prog = _Prog()
        if lib.pcap_compile(handle, ctypes.byref(prog), expression.encode(), 1, PCAP_NETMASK_UNKNOWN) != 0:
            raise UsageError(f"bad capture filter {expression!r}: {lib.pcap_geterr(handle).decode(errors='replace')}")
        try:
            return tuple((i.code, i.jt, i.jf, i.k) for i in prog.bf_insns[: prog.bf_len])
        finally:
            lib.pcap_freecode(ctypes.byref(prog))
    finally:
        lib.pcap_close(handle)


def _compile_with_tcpdump(expression: str, linktype: int) -> Program:
    tcpdump = shutil.which("tcpdump")
    if tcpdump is None:
        raise UsageError("capture filters need libpcap or tcpdump (apt-get install tcpdump)")
    link = {LINKTYPE_ETHERNET: "EN10MB"}.get(linktype, "RAW")
    out = subprocess.run([tcpdump, "-ddd", "-y", link, "-s", str(SNAPLEN), expression], capture_output=True, text=True)
    if out.returncode != 0:
        raise UsageError(f"bad capture filter {expression!r}: {out.stderr.strip()}")
    lines = out.stdout.split("\n")
    count = int(lines[0])
    return tuple(tuple(int(x) for x in line.split()) for line in lines[1 : 1 + count])  # type: ignore[misc]


def sock_fprog(program: Program) -> tuple[bytes, ctypes.Array]:
    """struct sock_fprog for SO_ATTACH_FILTER; keep the returned buffer alive until setsockopt returns."""
    insns = b"".join(struct.pack("=HBBI", *insn) for insn in program)
    buf = ctypes.create_string_buffer(insns, len(insns))
    return struct.pack("@HP", len(program), ctypes.addressof(buf)), buf


def filter_problem(expression: str) -> str | None:
    """Why libpcap rejects this filter (None: it compiles, or nothing here can compile it:
    then the capture reports that when it starts)."""
    if _libpcap() is None and shutil.which("tcpdump") is None:
        return None
    try:
        compile_filter(expression)
    except UsageError as err:
        return str(err)
    return None
