"""Turning frames into text that teaches: evidence lines and the side-by-side diff of a near miss.

scapy is imported here, inside functions, and only for the few frames a result shows.
"""

from __future__ import annotations

from typing import Any

from socklab.verify.frames import Frame, summary
from socklab.verify.match import Matcher, fields_of
from socklab.verify.pcap import (
    LINKTYPE_ETHERNET,
    LINKTYPE_IPV4,
    LINKTYPE_IPV6,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_LINUX_SLL2,
    LINKTYPE_RAW,
    iter_hexdump,
)

MAX_EVIDENCE = 10


def evidence_line(f: Frame, t0: float, note: str = "") -> str:
    return f"{f.where} {f.ts - t0:+.3f}s: {summary(f)}{note}"


def evidence_lines(frames: list[Frame], t0: float, limit: int = MAX_EVIDENCE) -> list[str]:
    lines = [evidence_line(f, t0) for f in frames[:limit]]
    if len(frames) > limit:
        lines.append(f"... and {len(frames) - limit} more")
    return lines


def dissect(f: Frame) -> Any:
    """The frame as a scapy packet (imports the few scapy layers needed, never scapy.all)."""
    from scapy.layers.inet import IP
    from scapy.layers.inet6 import IPv6
    from scapy.layers.l2 import CookedLinux, CookedLinuxV2, Ether
    from scapy.packet import Raw

    cls: Any = {LINKTYPE_ETHERNET: Ether, LINKTYPE_LINUX_SLL: CookedLinux, LINKTYPE_LINUX_SLL2: CookedLinuxV2,
                LINKTYPE_IPV4: IP, LINKTYPE_IPV6: IPv6}.get(f.lt)
    if cls is None and f.lt == LINKTYPE_RAW:
        cls = IPv6 if f.data[:1] and f.data[0] >> 4 == 6 else IP
    try:
        return (cls or Raw)(f.data)
    except Exception:  # a malformed frame must not hide the result
        return Raw(f.data)


def _layers(pkt: Any) -> list[Any]:
    out = []
    while pkt is not None and pkt.__class__.__name__ != "NoPayload":
        out.append(pkt)
        pkt = pkt.payload
    return out


def _field_repr(layer: Any, fd: Any) -> str:
    val = layer.getfieldval(fd.name)
    try:
        rep = fd.i2repr(layer, val)
    except Exception:
        rep = repr(val)
    rep = str(rep)
    if type(val).__name__ == "FlagValue":
        rep = str(val) or "none"
    elif isinstance(val, int) and not isinstance(val, bool) and rep != str(val) and not rep.startswith("0x"):
        num = f"0x{val:x}" if type(fd).__name__.startswith("X") else str(val)
        rep = f"{num} ({rep.strip(chr(39))})"
    return rep if len(rep) <= 48 else rep[:47] + "…"


def _is(layer_name: str, names: tuple[str, ...]) -> bool:
    return layer_name in names or ("ICMPv6" in names and layer_name.startswith("ICMPv6"))


def diff_text(m: Matcher, f: Frame, t0: float, title: str = "nearest packet") -> str:
    """Expected vs seen for frame f: the constraints, every decoded field, and the differing bytes."""
    bad = m.failing(f)
    lines = [f"{title}: {evidence_line(f, t0)}", ""]
    width = max([len(c.desc) for c in m.constraints] + [8])
    lines.append(f"    {'expected':<{width}}   seen")
    for c in m.constraints:
        mark = "✓" if c.test(f) else "✗"
        lines.append(f"  {mark} {c.desc:<{width}}   {c.seen(f)}")

    notes: dict[tuple[str, str], tuple[tuple[str, ...], str]] = {}
    for c in bad:
        for layers, name in fields_of(c, f):
            note = c.why(f) if c.phrase is not None or c.is_layer else f"expected {c.expected}"
            notes.setdefault((layers, name), (layers, note))  # type: ignore[index]
    pkt = dissect(f)
    lines += ["", "  decoded (✗ = differs):"]
    for layer in _layers(pkt):
        lname = layer.__class__.__name__
        first = True
        for fd in layer.fields_desc:
            note = next((n for (lays, fname), (_, n) in notes.items() if fname == fd.name and _is(lname, lays)), None)
            rep = _field_repr(layer, fd)
            tag = lname if first else ""
            first = False
            lines.append(f"  {'✗' if note else ' '} {tag:<18} {fd.name:<10} {rep:<30}{'  ← ' + note if note else ''}".rstrip())

    spans = [s for c in bad if c.span is not None for s in c.span(f)]
    spans = [(a, b, w) for a, b, w in spans if 0 <= a < b <= len(f.data)]
    if spans:
        marks = {i for a, b, _ in spans for i in range(a, b)}
        lines += ["", "  bytes (^^ = differs):"]
        lines += ["    " + s for s in _hexdump_near(f.data, marks)]
        for a, b, want in spans:
            if want:
                lines.append(f"    at 0x{a:04x}: {f.data[a:b].hex(' ')}, expected {want[: b - a].hex(' ')}")
    return "\n".join(lines)


def _hexdump_near(data: bytes, marks: set[int], context: int = 1, max_lines: int = 24) -> list[str]:
    """Hex dump lines around the marked bytes (whole frame if short)."""
    rows = {i // 16 for i in marks}
    keep = {r + d for r in rows for d in range(-context, context + 1)}
    out: list[str] = []
    last = -2
    for lineno, text in _rows(data, marks):
        if len(data) > 128 and lineno not in keep:
            continue
        if lineno != last + 1 and out and not text.startswith(" "):
            out.append("...")
        out.append(text)
        last = lineno
        if len(out) >= max_lines:
            out.append("...")
            break
    return out


def _rows(data: bytes, marks: set[int]):
    row = -1
    for text in iter_hexdump(data, marks):
        if not text.startswith(" "):
            row += 1
        yield row, text
