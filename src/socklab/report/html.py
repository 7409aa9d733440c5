"""report.html's sections, style and script: one self-contained page, nothing fetched.

Everything is inline (CSS, SVG, a few lines of script for the ladder pager and for
following a link to a packet on a hidden page), so the file can be mailed, attached to a
grade or opened from a CI artifact without a network.
"""

from __future__ import annotations

import os
import re
import time
from html import escape
from typing import TYPE_CHECKING, Any

from socklab.report.ladder import anchor

if TYPE_CHECKING:
    from socklab.report.build import CaptureData, RunView

MAX_TAIL = 4000  # characters of each program output shown inline (the file holds all of it)
MAX_TABLE = 200  # conversations listed per capture

CSS = """
:root{--ok:#1a7f37;--bad:#cf222e;--err:#9a6700;--mut:#57606a;--bd:#d0d7de;--bg2:#f6f8fa}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;color:#1f2328;margin:0;background:#fff}
header{padding:16px 24px;border-bottom:1px solid var(--bd);background:var(--bg2)}
main{padding:8px 24px 40px;max-width:1400px}
h1{font-size:22px;margin:0 0 4px}.desc{margin:2px 0 6px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid var(--bd);padding-bottom:4px}
h3{font-size:15px;margin:16px 0 6px}
code,pre,.mono{font-family:ui-monospace,'DejaVu Sans Mono',Menlo,Consolas,monospace;font-size:12.5px}
pre{background:var(--bg2);padding:8px 10px;border-radius:6px;overflow:auto;max-height:480px;margin:6px 0}
.badge{display:inline-block;padding:1px 10px;border-radius:12px;font-weight:600;color:#fff;font-size:13px}
.badge.pass{background:var(--ok)}.badge.fail{background:var(--bad)}.badge.error{background:var(--err)}
.badge.skipped{background:#8c959f}.exp.skipped{border-left-color:#8c959f}
.meta{color:var(--mut);font-size:13px}.meta span{margin-right:14px}
table{border-collapse:collapse;margin:6px 0}th,td{border:1px solid var(--bd);padding:3px 8px;text-align:left;vertical-align:top}
th{background:var(--bg2)}td.num{text-align:right;font-variant-numeric:tabular-nums}
.scroll{overflow:auto;max-width:100%}
.exp{border:1px solid var(--bd);border-left:5px solid var(--ok);border-radius:6px;padding:8px 12px;margin:8px 0}
.exp.fail{border-left-color:var(--bad)}.exp.error{border-left-color:var(--err)}
.exp .head{display:flex;gap:10px;align-items:baseline;flex-wrap:wrap}
.exp .id{font-weight:600}.exp .pts{color:var(--mut);margin-left:auto}
.exp ul{margin:4px 0;padding-left:20px}.exp li{font-family:ui-monospace,monospace;font-size:12.5px}
.diff .x{color:var(--bad);font-weight:600}
:target{outline:3px solid #bf8700;outline-offset:2px}
svg text{font-family:ui-monospace,'DejaVu Sans Mono',Menlo,Consolas,monospace;font-size:12px}
.ladder-svg .lifeline{stroke:#8c959f;stroke-dasharray:4 3}
.ladder-svg .ll-name{font-weight:700;font-size:13px}.ladder-svg .ll-addr{fill:var(--mut);font-size:11px}
.ladder-svg .arrow{stroke:#0969da;stroke-width:1.6;fill:none}
.ladder-svg .lbl{fill:#1f2328}.ladder-svg .pv{fill:#8250df;font-size:11px}
.ladder-svg .t,.ladder-svg .n{fill:var(--mut);font-size:11px}
.ladder-svg .pkt.rst .arrow{stroke:var(--bad)}.ladder-svg .pkt.rst .lbl{fill:var(--bad)}
.ladder-svg .pkt.mark .arrow{stroke:#bf8700;stroke-width:2.6}
.ladder-svg .pkt:target .arrow{stroke:#bf8700;stroke-width:3.4}
.ladder-svg .pkt:hover .arrow{stroke-width:3}
.ladder-svg .gap text{fill:var(--mut);font-style:italic}
.ladder-svg .farrow{stroke:var(--bad);stroke-width:2;stroke-dasharray:5 3}
.ladder-svg .fx{fill:var(--bad);font-size:16px;font-weight:700}.ladder-svg .flbl{fill:var(--bad);font-size:11px}
.pager{margin:4px 0 12px;display:flex;gap:10px;align-items:center}
.pager button{font:inherit;padding:2px 10px;border:1px solid var(--bd);border-radius:6px;background:#fff;cursor:pointer}
.timeline .grid{stroke:#eaeef2}.timeline .axis{fill:var(--mut);font-size:11px}
.timeline .step rect{fill:#4ac26b}.timeline .step.bg rect{fill:#aceebb}
.timeline .step.bad rect{fill:#ff8182}.timeline .start{fill:#1f2328}.timeline .ready{fill:#bf8700}
.timeline .end{fill:var(--mut);font-size:11px}.timeline .tick{stroke:#0969da;stroke-width:1}
.timeline .hist{fill:#0969da}.timeline .fault{stroke:var(--bad);stroke-width:2}.timeline .change{fill:#8250df}
details>summary{cursor:pointer}
.problem{color:var(--bad)}.legend{color:var(--mut);font-size:13px;margin:2px 0}.capdot{color:#bf8700}
"""

SCRIPT = """
(function(){
  function show(ladder, n){
    var pages = ladder.querySelectorAll(':scope > .page');
    n = Math.max(0, Math.min(pages.length - 1, n));
    pages.forEach(function(p, i){ p.hidden = i !== n; });
    ladder.dataset.current = n;
    var where = ladder.querySelector('.pager .where');
    if (where) where.textContent = 'page ' + (n + 1) + ' of ' + pages.length;
  }
  document.querySelectorAll('.ladder .pager button').forEach(function(b){
    b.addEventListener('click', function(){
      var ladder = b.closest('.ladder');
      show(ladder, Number(ladder.dataset.current || 0) + Number(b.dataset.step));
    });
  });
  function reveal(){
    if (!location.hash) return;
    var el = document.getElementById(decodeURIComponent(location.hash.slice(1)));
    if (!el) return;
    var page = el.closest('.page'), ladder = el.closest('.ladder');
    if (page && ladder) show(ladder, Number(page.dataset.page));
    for (var d = el.closest('details'); d; d = d.parentElement.closest('details')) d.open = true;
    el.scrollIntoView({block: 'center'});
  }
  window.addEventListener('hashchange', reveal);
  reveal();
})();
"""

ARROW_DEFS = ('<svg width="0" height="0" style="position:absolute" aria-hidden="true"><defs>'
              '<marker id="ah" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="9" markerHeight="9" '
              'markerUnits="userSpaceOnUse" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#0969da"/></marker></defs></svg>')


def _verdict(results: dict[str, Any]) -> str:
    if results.get("error"):
        return "error"
    return "pass" if results.get("ok") else "fail"


STEP_REF = re.compile(r"^step ([A-Za-z0-9][A-Za-z0-9_.-]*) on ")


def link_refs(text: str, file_points: dict[str, str]) -> str:
    """Escape text and turn "server-eth0.pcap #7" into a link to that packet's arrow
    (and an evidence line "step server on ..." into a link to that step's row)."""
    from socklab.report.build import EVIDENCE_REF

    step = STEP_REF.match(text)
    if step:
        head = f'<a class="ref" href="#step-{escape(step.group(1))}">step {escape(step.group(1))}</a> on '
        return head + escape(text[step.end() :])
    out, pos = [], 0
    for m in EVIDENCE_REF.finditer(text):
        point = file_points.get(m.group(1))
        if point is None:
            continue
        out.append(escape(text[pos : m.start()]))
        out.append(f'<a class="ref" href="#{anchor(point, int(m.group(2)))}">{escape(m.group(0))}</a>')
        pos = m.end()
    out.append(escape(text[pos:]))
    return "".join(out)


def _rel(view: RunView, path: str) -> str:
    """A link target relative to the run folder (outputs keep working when the folder moves)."""
    if not path:
        return ""
    try:
        return os.path.relpath(path, view.folder) if os.path.isabs(path) else path
    except ValueError:
        return path


def header(view: RunView) -> str:
    r, m = view.results, view.manifest
    verdict = _verdict(r)
    steps, exps = r.get("steps", []), r.get("expectations", [])
    met = sum(1 for e in exps if e.get("passed"))
    score = sum(float(e.get("score") or 0) for e in exps)
    points = sum(float(e.get("points") or 0) for e in exps)
    meta = [f"instance {escape(str(r.get('instance')))}", f"backend {escape(str(r.get('backend')))}",
            f"{sum(1 for s in steps if s.get('ok'))}/{len(steps)} steps ok", f"{met}/{len(exps)} expectations met"]
    if points:
        meta.append(f"score {score:g}/{points:g}")
    if m.get("started"):
        meta.append(f"started {escape(str(m['started']))}")
    if r.get("timings", {}).get("total") is not None:
        meta.append(f"{float(r['timings']['total']):.2f} s")
    if m.get("socklab"):
        meta.append(f"socklab {escape(str(m['socklab']))}, kernel {escape(str(m.get('kernel', '?')))}")
    err = f'<p class="problem">infrastructure failure: {escape(str(r["error"]))}</p>' if r.get("error") else ""
    return (f'<header><h1>{escape(str(r.get("lab", "run")))} <span class="badge {verdict}" id="verdict">'
            f'{verdict.upper()}</span></h1>'
            + (f'<p class="desc">{escape(view.description)}</p>' if view.description else "")
            + f'<div class="meta">{"".join(f"<span>{x}</span>" for x in meta)}</div>'
            f"{err}</header>")


def expectations(view: RunView) -> str:
    exps = view.results.get("expectations", [])
    if not exps and not view.withheld:
        return '<h2 id="expectations">Expectations</h2><p>None were checked (the run stopped before verification, or the lab has none).</p>'
    parts = ['<h2 id="expectations">Expectations</h2>']
    if view.withheld:
        kinds = ", ".join(sorted(set(view.withheld.values())))
        parts.append(f'<p class="withheld" id="withheld">{len(view.withheld)} more checks are not shown in this copy '
                     f'(grading visibility: {escape(kinds)}); <code>socklab report --all</code> shows them.</p>')
    for e in exps:
        state = "error" if e.get("error") else "skipped" if e.get("skipped") else "pass" if e.get("passed") else "fail"
        eid = escape(str(e.get("id")))
        parts.append(f'<section class="exp {state}" id="exp-{eid}" data-expectation="{eid}">'
                     f'<div class="head"><span class="badge {state}">{state.upper()}</span>'
                     f'<span class="id mono">{eid}</span><span>{escape(str(e.get("title", "")))}</span>'
                     f'<span class="pts">{float(e.get("score") or 0):g} / {float(e.get("points") or 0):g} points</span></div>')
        if e.get("message"):
            parts.append(f'<div class="msg">{link_refs(str(e["message"]), view.file_points)}</div>')
        if e.get("error"):
            parts.append(f'<div class="problem">could not check: {escape(str(e["error"]))}</div>')
        if e.get("evidence"):
            parts.append("<ul>" + "".join(f"<li>{link_refs(str(x), view.file_points)}</li>" for x in e["evidence"]) + "</ul>")
        if e.get("diff"):
            lines = []
            for line in str(e["diff"]).splitlines():
                body = link_refs(line, view.file_points)
                lines.append(f'<span class="x">{body}</span>' if "✗" in line or "^^" in line else body)
            parts.append('<details open><summary>expected and seen, field by field</summary>'
                         f'<pre class="diff">{chr(10).join(lines)}</pre></details>')
        parts.append("</section>")
    return "".join(parts)


def _capture_table(view: RunView, cap: CaptureData, drawn: set[int]) -> str:
    rows = []
    for conv in cap.conversations[:MAX_TABLE]:
        first, last = conv.frames[0], conv.frames[-1]
        name = escape(conv.title)
        if id(conv) in drawn:
            name = f'<a href="#{anchor(cap.point, first.no)}">{name}</a>'
        rows.append(f"<tr><td>{name}</td><td class=num>{len(conv.frames):,}</td><td class=num>{conv.wire_bytes:,}</td>"
                    f"<td class=num>{first.ts - view.t0:.6f}</td><td class=num>{last.ts - view.t0:.6f}</td></tr>")
    more = len(cap.conversations) - MAX_TABLE
    if more > 0:
        rows.append(f'<tr><td colspan="5">… and {more:,} more conversations (open the pcap in Wireshark)</td></tr>')
    return ('<div class="scroll"><table class="convs"><tr><th>conversation</th><th>packets</th><th>bytes on the wire</th>'
            f'<th>first (s)</th><th>last (s)</th></tr>{"".join(rows)}</table></div>')


def conversations(view: RunView) -> str:
    parts = ['<h2 id="packets">Packets</h2>', ARROW_DEFS]
    if not view.captures:
        parts.append("<p>This lab captures nothing.</p>")
    drawn = {id(conv) for conv, _ in view.ladders}
    ladders = {id(conv): text for conv, text in view.ladders}
    shown = 0
    for cap in view.captures:
        dropped = "" if cap.dropped in (None, 0) else f', <span class="problem">{cap.dropped:,} dropped by the kernel</span>'
        parts.append(f'<h3 id="capture-{escape(cap.point.replace(":", "-"))}">capture {escape(cap.point)}: '
                     f'{len(cap.frames):,} packets in {len(cap.conversations):,} conversation(s){dropped} — '
                     f'<a href="{escape(cap.file)}">{escape(cap.file)}</a></h3>')
        if cap.problem:
            parts.append(f'<p class="problem">{escape(cap.problem)}</p>')
        if not cap.frames:
            continue
        parts.append(_capture_table(view, cap, drawn))
        for conv in cap.conversations:
            text = ladders.get(id(conv))
            if text is None:
                continue
            opened = " open" if shown < 6 else ""
            shown += 1
            n = len(conv.frames)
            parts.append(f'<details class="conv"{opened}><summary>{escape(conv.title)} — {n:,} packet{"s" * (n != 1)}'
                         f"</summary>{text}</details>")
    hidden = sum(len(c.conversations) for c in view.captures) - len(view.ladders)
    if hidden > 0:
        parts.append(f"<p>{hidden:,} more conversation(s) are listed above but not drawn (the report draws at most "
                     f"{len(view.ladders)}).</p>")
    return "".join(parts)


def faults(view: RunView) -> str:
    if not view.faults:
        return ""
    keys: list[str] = []
    for f in view.faults[:50]:
        keys += [k for k in f if k not in keys]
    rows = []
    for f in view.faults[:500]:
        cells = []
        for k in keys:
            v = f.get(k, "")
            if k == "time" and isinstance(v, int | float):
                v = f"{v - view.t0:.6f}"
            cells.append(f"<td>{escape(str(v))}</td>")
        rows.append(f'<tr class="fault">{"".join(cells)}</tr>')
    more = f"<p>… and {len(view.faults) - 500:,} more.</p>" if len(view.faults) > 500 else ""
    return (f'<h2 id="faults">Injected faults ({len(view.faults):,})</h2><div class="scroll"><table>'
            f'<tr>{"".join(f"<th>{escape(k)}</th>" for k in keys)}</tr>{"".join(rows)}</table></div>{more}')


def steps(view: RunView) -> str:
    rows, outputs = [], []
    for s in view.results.get("steps", []):
        dur = max(0.0, float(s.get("ended") or 0) - float(s.get("started") or 0))
        links = " ".join(f'<a href="{escape(_rel(view, s.get(k, "")))}">{k.split("_")[0]}</a>'
                         for k in ("stdout_path", "stderr_path") if s.get(k))
        problem = f'<span class="problem">{escape(str(s["problem"]))}</span>' if s.get("problem") else "ok"
        code = "timed out" if s.get("timed_out") else ("killed" if s.get("killed") else s.get("exit_code"))
        sid = escape(str(s.get("id")))
        rows.append(f'<tr id="step-{sid}"><td class="mono">{sid}</td><td>{escape(str(s.get("node")))}</td>'
                    f'<td class="mono">{escape(str(s.get("command")))}</td><td>{"background" if s.get("background") else ""}</td>'
                    f"<td class=num>{escape(str(code))}</td><td class=num>{dur:.3f}</td><td>{problem}</td><td>{links}</td></tr>")
        for k in ("stdout", "stderr"):
            tail = str(s.get(f"{k}_tail") or "")
            if tail:
                cut = tail[-MAX_TAIL:]
                outputs.append(f"<details><summary>{sid} {k}</summary><pre>{escape(cut)}</pre></details>")
    return ('<h2 id="steps">Steps and program outputs</h2><div class="scroll"><table><tr><th>step</th><th>node</th>'
            "<th>command</th><th></th><th>exit</th><th>seconds</th><th>verdict</th><th>output files</th></tr>"
            f'{"".join(rows)}</table></div>{"".join(outputs)}')


def files(view: RunView) -> str:
    from socklab.runfolder import RunFolder

    run = RunFolder(view.folder)
    items = [f'<li><a href="{escape(c.file)}">{escape(c.file)}</a> ({escape(c.point)})</li>' for c in view.captures]
    items += [f'<li><a href="{p.name}">{p.name}</a></li>' for p in (run.results, run.plan, run.lab_file, run.manifest)
              if p.exists()]
    if run.merged_pcap.is_file():
        rel = run.relative(run.merged_pcap)
        items.insert(0, f'<li><a href="{escape(rel)}">{escape(rel)}</a> (every wire in one file: Wireshark\'s '
                        "interface column tells them apart)</li>")
    if run.workspace.is_dir():
        items.append(f'<li><a href="{run.workspace.name}/">{run.workspace.name}/</a> (the programs as they ran)</li>')
    return f'<h2 id="files">Files of this run</h2><ul>{"".join(items)}</ul>'


def page(view: RunView, timeline: str) -> str:
    topo = view.topology or "<p>(the run folder's lab.yaml could not be drawn)</p>"
    body = [
        header(view), "<main>",
        '<nav class="meta"><a href="#topology">topology</a> · <a href="#timeline">timeline</a> · '
        '<a href="#expectations">expectations</a> · <a href="#packets">packets</a> · '
        + ('<a href="#faults">faults</a> · ' if view.faults else "")
        + '<a href="#steps">steps</a> · <a href="#files">files</a></nav>',
        f'<h2 id="topology">Topology</h2><div class="scroll">{topo}</div>'
        + ('<p class="legend"><span class="capdot">●</span> where the captures were taken</p>'
           if view.captures and view.topology else ""),
        f'<h2 id="timeline">Timeline</h2><div class="scroll">{timeline}</div>',
        expectations(view), conversations(view), faults(view), steps(view), files(view),
        f'<p class="meta">written by socklab at {time.strftime("%Y-%m-%d %H:%M:%S")} from {escape(str(view.folder))}</p>',
        "</main>",
    ]
    title = f"{view.results.get('lab', 'run')} — socklab report"
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{escape(title)}</title><style>{CSS}</style></head><body>"
            + "".join(body) + f"<script>{SCRIPT}</script></body></html>\n")
