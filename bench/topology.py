"""Bench: build chain, star and Mininet-linear labs of 10 to 10,000 nodes, three ways.

    .venv/bin/python bench/topology.py [--sizes 10,100,1000,2000,5000,10000] [--topos chain,star,linear]
                                       [--linear-sizes 10,100] [--repeat 3] [--big-repeat 1]
                                       [--ip-max 2000] [--cli-sizes 1000,10000] [--mininet-sizes 10,100]
                                       [--no-mininet] [--no-help] [--json FILE] [--profile]

The curve (issue 15): for every size, socklab's per-node up and down cost, its growth
ratio against the per-node cost at 1000 nodes of the same run (target <= 1.3x at
10,000), the kernel's slab memory per node (/proc/meminfo Slab, before and after up)
and, for --cli-sizes, `socklab up` / `socklab down` as commands, end to end (interpreter,
imports, YAML, validation, plan, kernel), with that process's peak RSS per node. The ip
forms run up to --ip-max nodes (at 2000 they take ~11 s each); beyond, socklab runs alone.
Sizes above 1000 run --big-repeat times.

A benchmark, not a test (run as root). For each topology and size, in the same run:

- socklab: the lab YAML is written to a temporary folder, loaded, then `socklab.up(lab,
  name=...)` and `deployment.down()` are timed (the library API, in this process; one small
  lab is brought up and down first so imports are not counted);
- ip: the same namespaces, veth pairs (same names, ifindexes and MACs: generated from
  socklab's plan), bridges, links up and addresses with `ip -batch`. iproute2 has no `-n`
  inside a batch file and a veth peer cannot be set up at creation (ENOTCONN), so each
  namespace needs its own `ip -batch` for `link set up` and `addr add`. Two forms run:
    * `ip-batch`: ONE batch file: `netns add`, `link add ... netns A type veth peer ...
      netns B`, then one `netns exec NS ip -batch NS-FILE` line per namespace;
    * `ip+nsenter`: one root `ip -batch` (namespaces, veths, bridges), then
      `nsenter --net=/run/netns/NS ip -batch NS-FILE` per namespace from one sh script
      (a plain setns: unlike `ip -n`/`netns exec` it does not copy the mount namespace,
      whose size grows with the number of namespaces). The fastest correct form found.
  Teardown: one `ip -batch` of `netns del` lines. Script generation is not timed.
  socklab does more work than both: 6-8 sysctl writes per namespace, TX checksum offload
  off on every veth, per-node hosts files.
- Mininet (system python3, `--switch lxbr --controller none --topo linear,K` built through
  its API with `slb-` names): K = nodes/2 switches each with one host, so N nodes and N-1
  links like an N-node chain. The `linear` topology is the same graph built by socklab and
  ip (K switch namespaces with bridges in a line, one host on each). Mininet at 1000 nodes
  takes minutes (75.7 s up + 87.7 s down measured once on the 2-core VM), so it runs only
  for --mininet-sizes (default 10,100) with a timeout.

Topologies: chain = N nodes in a line (hosts at the ends, routers between), a /30 per link;
star = one switch and N-1 hosts on it, one subnet; linear = Mininet's linear topology.
Everything created is named `sl-bench-...` (socklab) or `slb-...` (ip, Mininet) and removed
even on failure or Ctrl-C; the run ends by checking that nothing is left.
The kernel frees namespaces asynchronously after `down` (~1 s for 1000 chain nodes, ~10 s
for 1000 linear ones), and an `up` meanwhile crawls (creating a namespace waits for it);
so each measurement first waits until creating a namespace is fast again, then for idle
CPUs. The machine may be shared and noisy: medians are reported.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

import socklab  # noqa: E402

IP_PREFIX = "slb-"
INSTANCE_PREFIX = "bench-"
FLOOR_S = 1.7  # issue 2: raw rtnetlink, pipelined, 1000-node chain: the kernel's floor here
MININET_PYTHON = "/usr/bin/python3"


# -- lab files ----------------------------------------------------------------------------------

def chain_yaml(n: int) -> str:
    lines = [f"name: chain{n}", "nodes:"]
    for i in range(1, n + 1):
        lines.append(f"  n{i}: {{kind: {'host' if i in (1, n) else 'router'}}}")
    lines.append("links:")
    base = int(ipaddress.IPv4Address("10.0.0.0"))
    for i in range(1, n):
        a_if = "eth0" if i == 1 else "eth1"
        net = ipaddress.IPv4Address(base + 4 * (i - 1))
        lines.append(f"  - {{endpoints: [n{i}:{a_if}, n{i + 1}:eth0], subnet: {net}/30}}")
    return "\n".join(lines) + "\n"


def star_yaml(n: int) -> str:
    lines = [f"name: star{n}", "nodes:", "  sw: {kind: switch, subnet: 10.128.0.0/16}"]
    lines += [f"  h{i}: {{}}" for i in range(1, n)]
    lines.append("links:")
    lines += [f"  - [h{i}, sw]" for i in range(1, n)]
    return "\n".join(lines) + "\n"


def linear_yaml(n: int) -> str:
    """Mininet's `--topo linear,K` with K = n/2: switches in a line, one host on each, one LAN."""
    k = max(1, n // 2)
    lines = [f"name: linear{n}", "nodes:"]
    for i in range(1, k + 1):
        lines.append(f"  s{i}: {{kind: switch}}")
        lines.append(f"  h{i}: {{ip: {ipaddress.IPv4Address(int(ipaddress.IPv4Address('10.0.0.0')) + i)}/8}}")
    lines.append("links:")
    for i in range(1, k + 1):
        lines.append(f"  - [h{i}, s{i}]")
        if i > 1:
            lines.append(f"  - [s{i}, s{i - 1}]")
    return "\n".join(lines) + "\n"


TOPOLOGIES = {"chain": chain_yaml, "star": star_yaml, "linear": linear_yaml}


# -- measuring ----------------------------------------------------------------------------------

def _cpu() -> tuple[int, int]:
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    return values[3] + values[4], sum(values)


def _netns_probe() -> float:
    """Seconds to create (and drop) an unnamed namespace, in a throwaway thread.

    While the kernel is still freeing namespaces (after a `down`), this blocks for up
    to hundreds of ms instead of well under 1 ms: the CPUs look idle, but an `up` would crawl.
    """
    import ctypes
    import threading

    libc = ctypes.CDLL(None, use_errno=True)
    took: list[float] = []

    def probe() -> None:
        home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        try:
            t0 = time.perf_counter()
            if libc.unshare(0x40000000) == 0:  # CLONE_NEWNET: this thread only
                took.append(time.perf_counter() - t0)
                libc.setns(home, 0x40000000)
        finally:
            os.close(home)

    thread = threading.Thread(target=probe)
    thread.start()
    thread.join()
    return took[0] if took else 0.0


def settle(threshold: float = 0.85, window: float = 0.3, timeout: float = 8.0, cleanup_timeout: float = 60.0) -> float:
    """Wait for the kernel to finish freeing the last namespaces, then for idle CPUs.

    `down` returns once namespaces are unmounted; the kernel frees them afterwards,
    holding what a new `up` needs (1 s after 100 bridged namespaces, far longer for 1000).
    Returns the idle fraction of the last window (the machine may be shared and never idle).
    """
    deadline = time.monotonic() + cleanup_timeout
    fast = 0
    while fast < 3 and time.monotonic() < deadline:
        fast = fast + 1 if _netns_probe() < 0.002 else 0
        time.sleep(0.1)
    # ...and until the kernel's slab stops shrinking: freeing 10,000 namespaces goes on
    # long after creating one is fast again, and an `up` meanwhile competes with it
    last, steady = slab_kb(), 0
    while steady < 3 and time.monotonic() < deadline:
        time.sleep(0.3)
        now = slab_kb()
        steady = steady + 1 if now >= last - 2048 else 0
        last = now
    idle = 0.0
    deadline = time.monotonic() + timeout
    before = _cpu()
    while time.monotonic() < deadline:
        time.sleep(window)
        after = _cpu()
        idle = (after[0] - before[0]) / max(1, after[1] - before[1])
        if idle >= threshold:
            break
        before = after
    return idle


@dataclass
class Result:
    up: list[float] = field(default_factory=list)
    down: list[float] = field(default_factory=list)
    slab: list[float] = field(default_factory=list)  # kernel slab kB held while up (socklab only)
    idle: list[float] = field(default_factory=list)  # CPU idle fraction just before each run

    def median(self, what: str) -> float | None:
        values = getattr(self, what)
        return statistics.median(values) if values else None


# -- socklab --------------------------------------------------------------------------------------

def run_socklab(lab, instance: str) -> tuple[float, float]:
    dep = None
    try:
        t0 = time.perf_counter()
        dep = socklab.up(lab, name=instance)
        t1 = time.perf_counter()
        dep, doomed = None, dep
        doomed.down()
        t2 = time.perf_counter()
        return t1 - t0, t2 - t1
    finally:
        if dep is not None:
            dep.down()


def slab_kb() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("Slab:"):
                return int(line.split()[1])
    return 0


def run_socklab_mem(lab, instance: str) -> tuple[float, float, float]:
    """Like run_socklab, plus the kernel slab the lab holds while up (kB)."""
    dep = None
    try:
        before = slab_kb()
        t0 = time.perf_counter()
        dep = socklab.up(lab, name=instance)
        t1 = time.perf_counter()
        slab = slab_kb() - before
        dep, doomed = None, dep
        doomed.down()
        t2 = time.perf_counter()
        return t1 - t0, t2 - t1, slab
    finally:
        if dep is not None:
            dep.down()


def _socklab_cli() -> tuple[list[str], dict[str, str]]:
    """`python -m socklab.cli` of this tree (the bench may run from a copy of it)."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    return [sys.executable, "-m", "socklab.cli"], env


def run_cli(argv: list[str]) -> tuple[float, int]:
    """Seconds and peak RSS (kB) of one `socklab ...` process, end to end."""
    cli, env = _socklab_cli()
    t0 = time.perf_counter()
    proc = subprocess.Popen([*cli, *argv], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    took = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.stderr:
        proc.stderr.close()
    if proc.returncode != 0:
        raise RuntimeError(f"socklab {' '.join(argv)} failed ({proc.returncode}): {err.strip()[-500:]}")
    return took, usage.ru_maxrss


def cli_updown(lab_dir: Path, instance: str) -> tuple[float, float, int]:
    """`socklab up DIR --name I` then `socklab down I`: seconds each, and up's peak RSS (kB)."""
    try:
        up_s, rss = run_cli(["up", str(lab_dir), "--name", instance])
    except BaseException:
        cli, env = _socklab_cli()
        subprocess.run([*cli, "down", instance], capture_output=True, env=env)
        raise
    down_s, _ = run_cli(["down", instance])
    return up_s, down_s, rss


# -- ip -batch ----------------------------------------------------------------------------------

class IpScripts:
    """The ip scripts for a plan: same namespaces (slb- prefix), names, ifindexes, MACs, addresses."""

    def __init__(self, plan, folder: Path, tag: str):
        self.folder = folder
        self.ns = {n.name: f"{IP_PREFIX}{tag}.{n.name}" for n in plan.nodes}
        nodes = {n.name: n for n in plan.nodes}
        root = [f"netns add {self.ns[n.name]}" for n in plan.nodes]
        per: dict[str, list[str]] = {n.name: ["link set lo up"] for n in plan.nodes}
        for node in plan.nodes:
            if node.bridge:
                root.append(f"link add {node.bridge} index {node.bridge_index} netns {self.ns[node.name]} type bridge")
                per[node.name].append(f"link set {node.bridge} up")
        for link in plan.links:
            (a_node, a_if), (b_node, b_if) = link.a.split(":"), link.b.split(":")
            ia, ib = nodes[a_node].interface(a_if), nodes[b_node].interface(b_if)
            mtu_a = f" mtu {ia.mtu}" if ia.mtu else ""
            mtu_b = f" mtu {ib.mtu}" if ib.mtu else ""
            root.append(
                f"link add {ia.name} index {ia.index} address {ia.mac}{mtu_a} netns {self.ns[a_node]} type veth"
                f" peer {ib.name} index {ib.index} address {ib.mac}{mtu_b} netns {self.ns[b_node]}"
            )
        for node in plan.nodes:
            for iface in node.interfaces:
                master = f" master {node.bridge}" if node.bridge else ""
                per[node.name].append(f"link set {iface.name}{master} up")
            for iface in node.interfaces:
                per[node.name] += [f"addr add {cidr} dev {iface.name}" for cidr in (*iface.ipv4, *iface.ipv6)]
            per[node.name] += [f"route add {r.to} via {r.via}" for r in node.routes]
        folder.mkdir(parents=True, exist_ok=True)
        self.per_files = {}
        for name, lines in per.items():
            path = folder / f"ns-{name}.batch"
            path.write_text("\n".join(lines) + "\n")
            self.per_files[name] = path
        self.root = folder / "root.batch"
        self.root.write_text("\n".join(root) + "\n")
        self.single = folder / "single.batch"  # everything in one ip -batch file
        self.single.write_text("\n".join(
            root + [f"netns exec {self.ns[n]} ip -batch {p}" for n, p in self.per_files.items()]) + "\n")
        self.nsenter = folder / "nsenter.sh"
        self.nsenter.write_text("\n".join(
            f"nsenter --net=/run/netns/{self.ns[n]} ip -batch {p}" for n, p in self.per_files.items()) + "\n")
        self.down = folder / "down.batch"
        self.down.write_text("\n".join(f"netns del {ns}" for ns in self.ns.values()) + "\n")

    def run(self, form: str) -> tuple[float, float]:
        try:
            t0 = time.perf_counter()
            if form == "ip-batch":
                _check_run(["ip", "-batch", str(self.single)])
            else:
                _check_run(["ip", "-batch", str(self.root)])
                _check_run(["sh", "-e", str(self.nsenter)])
            t1 = time.perf_counter()
            _check_run(["ip", "-batch", str(self.down)])
            t2 = time.perf_counter()
            return t1 - t0, t2 - t1
        finally:
            self.cleanup()

    def cleanup(self) -> None:
        left = [ns for ns in self.ns.values() if os.path.exists(f"/run/netns/{ns}")]
        if left:
            subprocess.run(["ip", "-force", "-batch", "-"], input="".join(f"netns del {ns}\n" for ns in left),
                           text=True, capture_output=True)


def _check_run(argv: list[str]) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({proc.returncode}): {(proc.stderr or proc.stdout).strip()[:500]}")


# -- Mininet ------------------------------------------------------------------------------------

MININET_CHILD = r'''
import json, signal, sys, time
from mininet.log import setLogLevel
from mininet.net import Mininet
from mininet.node import NullController
from mininet.nodelib import LinuxBridge
from mininet.topo import Topo

class PrefixedLinearTopo(Topo):
    """What `mn --topo linear,K` builds (LinearTopo, n=1), with slb- names."""
    def build(self, k=2):
        last = None
        for i in range(1, k + 1):
            switch = self.addSwitch("slb-s%d" % i)
            host = self.addHost("slb-h%d" % i)
            self.addLink(host, switch)
            if last:
                self.addLink(switch, last)
            last = switch

def interrupt(signum, frame):
    raise KeyboardInterrupt

signal.signal(signal.SIGTERM, interrupt)
setLogLevel("error")
net, result = None, {}
try:
    t0 = time.perf_counter()
    # mn --switch lxbr --controller none --topo linear,K
    net = Mininet(topo=PrefixedLinearTopo(k=int(sys.argv[1])), switch=LinuxBridge,
                  controller=NullController, waitConnected=False)
    net.start()
    result["up"] = time.perf_counter() - t0
finally:
    if net is not None:
        t1 = time.perf_counter()
        net.stop()
        result["down"] = time.perf_counter() - t1
    print(json.dumps(result), flush=True)
'''


def mininet_available() -> str | None:
    """None if Mininet can run here, else why not."""
    if not os.path.exists(MININET_PYTHON):
        return f"no {MININET_PYTHON}"
    probe = subprocess.run([MININET_PYTHON, "-c", "import mininet.net"], capture_output=True)
    if probe.returncode != 0:
        return "Mininet not installed (apt install mininet)"
    if not shutil.which("brctl"):
        return "no brctl: Mininet's lxbr switch needs bridge-utils (apt install bridge-utils)"
    if not shutil.which("mnexec"):
        return "no mnexec"
    return None


def run_mininet(n: int, folder: Path, timeout: float) -> tuple[float, float]:
    script = folder / "mininet_linear.py"
    script.write_text(MININET_CHILD)
    proc = subprocess.Popen([MININET_PYTHON, str(script), str(max(1, n // 2))], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=folder, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)  # the child stops its network (net.stop()) and exits
        try:
            proc.communicate(timeout=max(120.0, timeout))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        raise TimeoutError(f"Mininet linear,{n // 2} took more than {timeout:.0f} s: stopped") from None
    except BaseException:
        proc.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=600)
        raise
    finally:
        cleanup_mininet()
    last = out.strip().splitlines()[-1] if out.strip() else ""
    try:
        result = json.loads(last)
        return result["up"], result["down"]
    except (ValueError, KeyError):
        raise RuntimeError(f"Mininet failed ({proc.returncode}): {err.strip()[-500:]}") from None


def root_links(prefix: str) -> list[str]:
    out = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    names = [line.split(": ")[1].split("@")[0] for line in out.splitlines() if ": " in line]
    return [name for name in names if name.startswith(prefix)]


def mininet_shells() -> list[int]:
    """Mininet node shells of ours: `bash ... mininet:slb-...`."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    argv = f.read().split(b"\0")
            except OSError:
                continue
            if any(arg.startswith(b"mininet:" + IP_PREFIX.encode()) for arg in argv):
                found.append(int(entry))
    return found


def cleanup_mininet() -> None:
    """Normally nothing to do: net.stop() removed everything. Only our slb- objects, never `mn -c`."""
    for pid in mininet_shells():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    for name in root_links(IP_PREFIX):
        subprocess.run(["ip", "link", "del", name], capture_output=True)


# -- leftovers ----------------------------------------------------------------------------------

def cleanup_all(instances: list[str]) -> list[str]:
    """Remove whatever of ours is left; return what was found."""
    from socklab import state
    from socklab.deployment import destroy
    from socklab.nsutil import list_netns

    found = []
    for instance in instances:
        record = state.load(instance)
        if record is not None:
            found.append(f"socklab instance {instance}")
            destroy(record)
    ours = [ns for ns in list_netns() if ns.startswith(IP_PREFIX)
            or ns.startswith(f"sl-{INSTANCE_PREFIX}")]
    if ours:
        found += [f"netns {ns}" for ns in ours]
        subprocess.run(["ip", "-force", "-batch", "-"], text=True, capture_output=True,
                       input="".join(f"netns del {ns}\n" for ns in ours if ns.startswith(IP_PREFIX)))
    links = root_links(IP_PREFIX)
    shells = mininet_shells()
    found += [f"link {name}" for name in links] + [f"mininet shell {pid}" for pid in shells]
    if links or shells:
        cleanup_mininet()
    return found


# -- socklab --help -----------------------------------------------------------------------------

def help_time(runs: int = 10) -> float | None:
    exe = REPO / ".venv" / "bin" / "socklab"
    if not exe.exists():
        found = shutil.which("socklab")
        if not found:
            return None
        exe = Path(found)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run([str(exe), "--help"], capture_output=True, check=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


# -- report -------------------------------------------------------------------------------------

def fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}x" if a is not None and b else "-"


def print_table(rows: list[dict], extra: list[str]) -> None:
    headers = ["topology", "nodes", "links", "socklab up", "down", "ip-batch up", "down",
               "ip+nsenter up", "down", "mininet up", "down", "up/ip", "down/ip", "up/mn", "down/mn"]
    table_rows = []
    for r in rows:
        ip_up = min((v for v in (r["ip-batch"].median("up"), r["ip+nsenter"].median("up")) if v is not None), default=None)
        ip_down = min((v for v in (r["ip-batch"].median("down"), r["ip+nsenter"].median("down")) if v is not None),
                      default=None)
        mn = r.get("mininet")
        table_rows.append([
            r["topology"], str(r["nodes"]), str(r["links"]),
            fmt(r["socklab"].median("up")), fmt(r["socklab"].median("down")),
            fmt(r["ip-batch"].median("up")), fmt(r["ip-batch"].median("down")),
            fmt(r["ip+nsenter"].median("up")), fmt(r["ip+nsenter"].median("down")),
            fmt(mn.median("up")) if mn else (r.get("mininet_note") or "-"),
            fmt(mn.median("down")) if mn else "-",
            ratio(r["socklab"].median("up"), ip_up), ratio(r["socklab"].median("down"), ip_down),
            ratio(r["socklab"].median("up"), mn.median("up")) if mn else "-",
            ratio(r["socklab"].median("down"), mn.median("down")) if mn else "-",
        ])
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        widths = [max(len(h), *(len(row[i]) for row in table_rows)) for i, h in enumerate(headers)]
        print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
        for row in table_rows:
            print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
        for line in extra:
            print(line)
        return
    table = Table(title="socklab vs ip -batch vs Mininet (medians)")
    for h in headers:
        table.add_column(h, justify="left" if h == "topology" else "right")
    for row in table_rows:
        table.add_row(*row)
    console = Console(width=max(170, shutil.get_terminal_size().columns), emoji=False, highlight=False)
    console.print(table)
    for line in extra:
        console.print(line, markup=False)


def load_time(ref: str, runs: int = 5) -> float:
    """Median time to load a lab file. The Lab is kept until the clock has stopped: freeing
    the previous one (100k objects at 1000 nodes) is not loading, and a command never does it."""
    times: list[float] = []
    kept: list[object] = []
    for _ in range(runs):
        t0 = time.perf_counter()
        lab = socklab.load(ref)
        times.append(time.perf_counter() - t0)
        kept[:] = [lab]  # the previous Lab is freed here, off the clock
    return statistics.median(times)


def curve_lines(rows: list[dict]) -> list[str]:
    """The per-node curve of each topology: cost per node, growth against 1000 nodes, memory."""
    lines = ["", "per-node curve (socklab library up/down; growth = per-node up / per-node up at 1000 nodes, "
                 "target <= 1.30x at 10,000; CLI = `socklab up`/`down` commands, load included; "
                 "CLI/ip = CLI up / the faster ip form; RSS = the `socklab up` process's peak):"]
    lines.append(f"{'topology':8} {'nodes':>6} {'up':>8} {'per node':>9} {'growth':>7} {'down':>8} {'per node':>9} "
                 f"{'slab/node':>10} {'CLI up':>8} {'CLI down':>9} {'CLI/ip':>7} {'RSS/node':>9}")
    for topo in dict.fromkeys(r["topology"] for r in rows):
        mine = [r for r in rows if r["topology"] == topo]
        base = next((r["socklab"].median("up") / r["nodes"] for r in mine if r["nodes"] == 1000), None)
        for r in mine:
            n = r["nodes"]
            up_s, down_s, slab = r["socklab"].median("up"), r["socklab"].median("down"), r["socklab"].median("slab")
            ip_up = min((v for v in (r["ip-batch"].median("up"), r["ip+nsenter"].median("up")) if v), default=None)
            per = up_s / n if up_s else None
            growth = f"{per / base:.2f}x" if per and base else "-"
            slab_s = f"{slab / n:.0f} kB" if slab else "-"
            rss = r.get("cli_rss_kb")
            rss_s = f"{rss / n:.1f} kB" if rss else "-"
            lines.append(
                f"{topo:8} {n:>6} {fmt(up_s):>8} {(per or 0) * 1000:>7.2f}ms {growth:>7} {fmt(down_s):>8} "
                f"{(down_s or 0) / n * 1000:>7.2f}ms {slab_s:>10} {fmt(r.get('cli_up')):>8} "
                f"{fmt(r.get('cli_down')):>9} {ratio(r.get('cli_up'), ip_up):>7} {rss_s:>9}"
            )
    return lines


# -- profile ------------------------------------------------------------------------------------

def profile(lab, instance: str, top: int = 25) -> None:
    import cProfile
    import pstats

    settle()
    prof_up, prof_down = cProfile.Profile(), cProfile.Profile()
    dep = None
    try:
        prof_up.enable()
        dep = socklab.up(lab, name=instance)
        prof_up.disable()
        prof_down.enable()
        dep, doomed = None, dep
        doomed.down()
        prof_down.disable()
    finally:
        if dep is not None:
            dep.down()
    for title, prof in (("up", prof_up), ("down", prof_down)):
        print(f"\n== cProfile: socklab {title} of {lab.name} (top {top} by cumulative time) ==")
        pstats.Stats(prof).sort_stats("cumulative").print_stats(top)


# -- main ---------------------------------------------------------------------------------------

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10,100,1000,2000,5000,10000")
    parser.add_argument("--big-repeat", type=int, default=1, help="runs per tool for sizes above 1000")
    parser.add_argument("--ip-max", type=int, default=2000, help="largest size the ip forms run at")
    parser.add_argument("--cli-sizes", default="1000,10000",
                        help="chain sizes also timed as `socklab up` / `socklab down` commands, load included")
    parser.add_argument("--topos", default="chain,star,linear")
    parser.add_argument("--repeat", type=int, default=3, help="runs per tool and size (medians are shown)")
    parser.add_argument("--linear-sizes", default="10,100",
                        help="sizes for the Mininet-equivalent topology (it exists for the Mininet comparison; "
                             "at 1000 the ip forms take ~20 s each)")
    parser.add_argument("--mininet-sizes", default="10,100")
    parser.add_argument("--mininet-timeout", type=float, default=300.0)
    parser.add_argument("--no-mininet", action="store_true")
    parser.add_argument("--no-help", action="store_true", help="skip timing `socklab --help`")
    parser.add_argument("--json", type=Path, help="write every measurement here")
    parser.add_argument("--profile", action="store_true", help="also cProfile socklab up/down of the largest size")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench/topology.py needs root (network namespaces)", file=sys.stderr)
        return 2
    sizes = [int(s) for s in args.sizes.split(",") if s]
    cli_sizes = {int(s) for s in args.cli_sizes.split(",") if s}
    topos = [t for t in args.topos.split(",") if t]
    mininet_sizes = set() if args.no_mininet else {int(s) for s in args.mininet_sizes.split(",") if s}
    why_no_mininet = mininet_available() if mininet_sizes else "skipped (--no-mininet)"
    extra: list[str] = []
    rows: list[dict] = []
    instances: list[str] = []
    help_s = None
    with tempfile.TemporaryDirectory(prefix="slb-bench-") as tmp:
        folder = Path(tmp)
        try:
            warm = folder / "warm"
            warm.mkdir()
            warm.joinpath("lab.yaml").write_text(chain_yaml(2))
            instances.append(f"{INSTANCE_PREFIX}warm")
            run_socklab(socklab.load(str(warm)), f"{INSTANCE_PREFIX}warm")
            for topo in topos:
                for n in (sizes if topo != "linear" else [int(x) for x in args.linear_sizes.split(",") if x]):
                    lab_dir = folder / f"{topo}{n}"
                    lab_dir.mkdir()
                    lab_dir.joinpath("lab.yaml").write_text(TOPOLOGIES[topo](n))
                    t0 = time.perf_counter()
                    lab = socklab.load(str(lab_dir))
                    load_s = time.perf_counter() - t0
                    from socklab.plan import make_plan

                    plan = make_plan(lab, f"{INSTANCE_PREFIX}{topo}-{n}")
                    instance = f"{INSTANCE_PREFIX}{topo}-{n}"
                    instances.append(instance)
                    scripts = IpScripts(plan, folder / f"ip-{topo}{n}", f"{topo}{n}") if n <= args.ip_max else None
                    row = {"topology": topo, "nodes": len(plan.nodes), "links": len(plan.links), "load": load_s,
                           "socklab": Result(), "ip-batch": Result(), "ip+nsenter": Result()}
                    tools = ("socklab", "ip-batch", "ip+nsenter") if n <= args.ip_max else ("socklab",)
                    for _ in range(args.repeat if n <= 1000 else args.big_repeat):
                        for tool in tools:
                            row[tool].idle.append(settle())
                            if tool == "socklab":
                                up_s, down_s, slab = run_socklab_mem(lab, instance)
                                row[tool].slab.append(slab)
                            else:
                                assert scripts is not None
                                up_s, down_s = scripts.run(tool)
                            row[tool].up.append(up_s)
                            row[tool].down.append(down_s)
                    if topo == "chain" and n in cli_sizes:
                        settle()
                        cli_instance = f"{INSTANCE_PREFIX}cli-{n}"
                        instances.append(cli_instance)
                        row["cli_up"], row["cli_down"], row["cli_rss_kb"] = cli_updown(lab_dir, cli_instance)
                    if topo == "linear" and n in mininet_sizes:
                        if why_no_mininet:
                            row["mininet_note"] = "n/a"
                        else:
                            settle()
                            try:
                                up_s, down_s = run_mininet(n, folder, args.mininet_timeout)
                                row["mininet"] = Result(up=[up_s], down=[down_s])
                            except TimeoutError as err:
                                row["mininet_note"] = "timeout"
                                extra.append(str(err))
                    elif topo == "linear":
                        row["mininet_note"] = "skipped"
                    rows.append(row)
                    print(f"  {topo:6} {n:5}: socklab up {fmt(row['socklab'].median('up'))}"
                          f" down {fmt(row['socklab'].median('down'))}; ip-batch up {fmt(row['ip-batch'].median('up'))};"
                          f" ip+nsenter up {fmt(row['ip+nsenter'].median('up'))}"
                          + (f"; mininet up {fmt(row['mininet'].median('up'))} down {fmt(row['mininet'].median('down'))}"
                             if row.get("mininet") else ""),
                          file=sys.stderr, flush=True)
            if not args.no_help:
                help_s = help_time(10)
            if args.profile:
                n = max(sizes)
                for topo in ("chain", "star"):
                    lab_dir = folder / f"prof-{topo}{n}"
                    lab_dir.mkdir()
                    lab_dir.joinpath("lab.yaml").write_text(TOPOLOGIES[topo](n))
                    instances.append(f"{INSTANCE_PREFIX}prof-{topo}")
                    profile(socklab.load(str(lab_dir)), f"{INSTANCE_PREFIX}prof-{topo}")
        finally:
            left = cleanup_all(instances)
    # -- summary
    extra.insert(0, "up/ip, down/ip: socklab / the faster ip form (target up <= 1.00x at 1000 nodes); "
                    "up/mn, down/mn: socklab / Mininet (target <= 0.10x at 100 nodes)")
    idles = [i for row in rows for tool in ("socklab", "ip-batch", "ip+nsenter") for i in row[tool].idle]
    busy = sum(1 for i in idles if i < 0.85)
    if busy:
        extra.append(f"{busy} of {len(idles)} runs started on a busy machine (CPU idle < 85% after 8 s of waiting): "
                     "other work was running; compare within a row")
    extra.append(f"repeats: {args.repeat} per tool (medians); Mininet once per size; "
                 f"Mininet: {why_no_mininet or 'lxbr switches, no controller, linear,K with K = nodes/2'}"
                 + ("" if 1000 in mininet_sizes else " (1000 nodes skipped: 75.7 s up + 87.7 s down measured once)"))
    if help_s is not None:
        extra.append(f"socklab --help: {help_s * 1000:.0f} ms (median of 10; target <= 150 ms)")
    for row in rows:
        if row["topology"] == "chain" and row["nodes"] == 1000:
            up_s = row["socklab"].median("up")
            extra.append(f"socklab up, 1000-node chain: {up_s:.2f} s = {up_s / FLOOR_S:.2f}x the {FLOOR_S} s "
                         f"raw-rtnetlink floor (issue 2)")
    hello = load_time("tcp-hello")
    for row in rows:
        if row["nodes"] >= 1000:
            extra.append(f"load (YAML + validation, not in 'up') of {row['topology']}-{row['nodes']}: "
                         f"{row['load'] * 1000:.0f} ms = tcp-hello ({hello * 1000:.1f} ms) + {(row['load'] - hello) * 1000:.0f} ms"
                         + (" (target <= +150 ms at 1000)" if row["nodes"] == 1000 else ""))
    extra += curve_lines(rows)
    leftovers = [ns for ns in _netns() if ns.startswith(IP_PREFIX) or ns.startswith(f"sl-{INSTANCE_PREFIX}")]
    leftovers += root_links(IP_PREFIX)
    extra.append("leftovers after the run: " + (", ".join(leftovers) if leftovers else "none")
                 + (f" (cleaned up at the end: {', '.join(left)})" if left else ""))
    print_table(rows, extra)
    if args.json:
        args.json.write_text(json.dumps([
            {k: (v.__dict__ if isinstance(v, Result) else v) for k, v in row.items()} for row in rows
        ] + [{"socklab_help_s": help_s}], indent=1))
    return 1 if leftovers else 0


def _netns() -> list[str]:
    from socklab.nsutil import list_netns

    return list_netns()


if __name__ == "__main__":
    sys.exit(main())
