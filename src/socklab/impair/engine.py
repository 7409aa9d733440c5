"""The relay process: forwards frames across every impaired link of one lab instance.

`python -m socklab.impair.engine CONFIG.json` enters the relay namespace, opens one
AF_PACKET socket per relay end, prints "ready" and then runs one epoll loop: frames are
read in batches, judged (exact faults first, then the direction's impairments), and sent
at once or put on a timer heap (delay, jitter, rate, reordering). A control socket
answers show/set/down/up/reset; every affected packet is appended to an events file.

Reproducibility: each direction has its own random.Random seeded from (lab seed, link,
end), and every frame that random impairments apply to draws the same six numbers in the same
order, so the same sequence of frames meets the same fate whatever the timing. ARP and
IPv6 neighbour discovery/MLD frames pass untouched and draw nothing: they come at moments
the kernel chooses, and would otherwise shift the whole stream.
"""

from __future__ import annotations

import heapq
import json
import os
import random
import select
import signal
import socket
import sys
import time
from typing import Any

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_QDISC_BYPASS = 20
PACKET_IGNORE_OUTGOING = 23
SO_SNDBUFFORCE, SO_RCVBUFFORCE = 32, 33
BATCH = 256  # frames read from one socket before looking at the others and the timers
REORDER_HOLD = 0.05  # a reordered frame waits at most this long for a successor to pass it
RATE_QUEUE = 1000  # frames waiting for a rate-limited link; beyond, tail drop
MAX_EVENTS = 20000  # affected packets recorded per run; beyond, only counted
FIELDS = ("delay", "jitter", "loss", "duplicate", "reorder", "corrupt", "rate")


def _is_control(d: bytes) -> bool:
    """ARP, and ICMPv6 neighbour discovery / MLD (types 130-137, 143): never impaired."""
    if len(d) < 14:
        return True
    etype = (d[12] << 8) | d[13]
    if etype == 0x0806:
        return True
    if etype == 0x86DD and len(d) >= 56 and d[20] == 58:
        return 130 <= d[54] <= 137 or d[54] == 143
    if etype == 0x86DD and len(d) >= 64 and d[20] == 0 and d[54] == 58:  # hop-by-hop (MLD)
        return 130 <= d[62] <= 137 or d[62] == 143
    return False


class Fault:
    """An exact fault on one direction: the nth frames matching its matcher."""

    def __init__(self, spec: dict[str, Any], matcher: Any):
        self.index, self.action = spec["index"], spec["action"]
        self.nth = set(spec["nth"])
        self.offset, self.by = spec.get("offset"), spec.get("by")
        self.matcher = matcher
        self.count = 0


class Direction:
    """Frames leaving `end` into link `link`: read on the relay end `rx`, sent on `tx`."""

    def __init__(self, spec: dict[str, Any], faults: list[Fault]):
        self.link, self.end, self.peer = spec["link"], spec["end"], spec["peer"]
        self.rx_name, self.tx_name = spec["rx"], spec["tx"]
        self.base = dict(spec["impair"])
        self.imp = dict(self.base)
        self.rng = random.Random(spec["seed"])
        self.faults = faults
        self.down = False
        self.frames = 0  # frames seen (1-based numbering in events)
        self.impaired = 0  # frames impairments applied to (drew numbers)
        self.stats = {"forwarded": 0, "dropped": 0, "duplicated": 0, "corrupted": 0, "delayed": 0, "reordered": 0}
        self.last_due = 0.0
        self.rate_free = 0.0
        self.rate_queued = 0
        self.held: bytes | None = None
        self.tx: socket.socket | None = None
        self.refresh()

    def refresh(self) -> None:
        imp = self.imp
        self.active = any(imp.get(k) for k in FIELDS)
        self.random = any(imp.get(k) for k in ("jitter", "loss", "duplicate", "reorder", "corrupt"))
        self.fast = not self.active and not self.faults and not self.down

    def describe(self) -> dict[str, Any]:
        return {"link": self.link, "from": self.end, "to": self.peer, "down": self.down,
                "impair": {k: v for k, v in self.imp.items() if v}, "frames": self.frames, **self.stats,
                "faults": [{"fault": f.index, "action": f.action, "matched": f.count} for f in self.faults]}


class Relay:
    def __init__(self, config: dict[str, Any]):
        self.config = config
        self.events_path = config["events"]
        self.events = open(self.events_path, "a", buffering=1)  # noqa: SIM115 (lives as long as the relay)
        self.recorded = 0
        self.heap: list[tuple[float, int, Direction, bytes | None]] = []
        self.seq = 0
        self.directions: list[Direction] = []
        self.by_fd: dict[int, Direction] = {}
        self.sockets: dict[str, socket.socket] = {}
        self._decode = None
        self._build(config)

    # -- set up -------------------------------------------------------------------------

    def _build(self, config: dict[str, Any]) -> None:
        matchers = self._matchers(config)
        for spec in config["directions"]:
            faults = [Fault(f, matchers[(spec["end"], f["index"])]) for f in spec["faults"]]
            self.directions.append(Direction(spec, faults))
        for d in self.directions:
            for name in (d.rx_name, d.tx_name):
                if name not in self.sockets:
                    self.sockets[name] = _packet_socket(name)
        for d in self.directions:
            d.tx = self.sockets[d.tx_name]
            self.by_fd[self.sockets[d.rx_name].fileno()] = d

    def _matchers(self, config: dict[str, Any]) -> dict[tuple[str, int], Any]:
        """Compile every fault's matcher with the verifier's own compiler (one matcher in socklab)."""
        specs = [(d["end"], f) for d in config["directions"] for f in d["faults"]]
        if not specs:
            return {}
        from socklab.model.expectations import PacketMatch
        from socklab.verify.context import InterfaceInfo, NodeInfo
        from socklab.verify.endpoints import Resolver
        from socklab.verify.frames import Capture, decode, summary
        from socklab.verify.match import compile_packet
        from socklab.verify.pcap import LINKTYPE_ETHERNET

        nodes = {
            name: NodeInfo(name=name, kind=n["kind"], interfaces={
                i: InterfaceInfo(name=i, mac=v["mac"], ipv4=tuple(v["ipv4"]), ipv6=tuple(v["ipv6"]))
                for i, v in n["interfaces"].items()})
            for name, n in config["nodes"].items()
        }
        resolver = Resolver(nodes)
        capture = Capture("relay", "relay")
        self._decode = lambda data: decode(capture, [(time.time(), LINKTYPE_ETHERNET, data, len(data))])[0]
        self._summary = summary
        return {(end, f["index"]): compile_packet(PacketMatch.model_validate(f["match"]), resolver) for end, f in specs}

    # -- the loop -----------------------------------------------------------------------

    def serve(self, control: socket.socket) -> None:
        ep = select.epoll()
        for fd in self.by_fd:
            ep.register(fd, select.EPOLLIN)
        ep.register(control.fileno(), select.EPOLLIN)
        buf = bytearray(65536 + 64)
        view = memoryview(buf)
        by_fd, heap = self.by_fd, self.heap
        ctl = control.fileno()
        while True:
            timeout = -1.0
            if heap:
                # epoll counts whole milliseconds, rounding up: wait the whole ones, then spin
                # through the last fraction, so a 100 ms delay is 100 ms, not up to 101
                timeout = max(0, int((heap[0][0] - time.monotonic()) * 1000)) / 1000
            for fd, _ in ep.poll(timeout):
                if fd == ctl:
                    self._control(control)
                    continue
                d = by_fd[fd]
                sock = self.sockets[d.rx_name]
                recv_into, tx = sock.recv_into, d.tx
                for _ in range(BATCH):
                    try:
                        n = recv_into(buf, 0, socket.MSG_DONTWAIT)
                    except BlockingIOError:
                        break
                    if d.fast:
                        d.frames += 1
                        try:
                            tx.send(view[:n])
                            d.stats["forwarded"] += 1
                        except OSError:
                            d.stats["dropped"] += 1
                    else:
                        self._judge(d, bytes(view[:n]))
            if heap:
                self._release()

    def _release(self) -> None:
        now = time.monotonic()
        heap = self.heap
        while heap and heap[0][0] <= now:
            _, _, d, frame = heapq.heappop(heap)
            if frame is None:  # a reorder hold's deadline
                if d.held is not None:
                    self._send(d, d.held, passed=False)
                    d.held = None
                continue
            if d.imp.get("rate"):
                d.rate_queued -= 1
            self._send(d, frame)

    def _send(self, d: Direction, frame: bytes, passed: bool = True) -> None:
        try:
            d.tx.send(frame)  # type: ignore[union-attr]
            d.stats["forwarded"] += 1
        except OSError:
            d.stats["dropped"] += 1
        if passed and d.held is not None:  # this frame overtook the held one
            held, d.held = d.held, None
            self._send(d, held, passed=False)

    def _later(self, due: float, d: Direction, frame: bytes | None) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (due, self.seq, d, frame))

    # -- the fate of one frame ----------------------------------------------------------

    def _judge(self, d: Direction, frame: bytes) -> None:
        d.frames += 1
        now = time.monotonic()
        if d.down:
            d.stats["dropped"] += 1
            self._event(d, frame, "down", None)
            return
        copies, extra = 1, 0.0
        if d.faults:
            # every fault counts the frame first (nth is among the frames the sender sent that
            # match, whatever other faults do to them), then the faults due act in order
            parsed = self._decode(frame)  # type: ignore[misc]
            due = []
            for f in d.faults:
                if f.matcher.match(parsed):
                    f.count += 1
                    if f.count in f.nth:
                        due.append(f)
            for f in due:
                if f.action == "drop":
                    d.stats["dropped"] += 1
                    self._event(d, frame, "fault", f)
                    return
            for f in due:
                if f.action == "duplicate":
                    copies += 1
                    d.stats["duplicated"] += 1
                    self._event(d, frame, "fault", f)
                elif f.action == "delay":
                    extra += f.by
                    d.stats["delayed"] += 1
                    self._event(d, frame, "fault", f)
                else:
                    frame, detail = _invert(frame, parsed, f.offset)
                    d.stats["corrupted"] += 1
                    self._event(d, frame, "fault", f, detail)
        imp = d.imp
        delay = imp["delay"]
        reorder = False
        if d.random and not _is_control(frame):  # delay or rate alone: nothing to draw
            rng = d.rng
            d.impaired += 1
            u_loss, u_dup, u_cor, u_pos, u_reo, u_jit = (rng.random() for _ in range(6))
            if u_loss < imp["loss"]:
                d.stats["dropped"] += 1
                self._event(d, frame, "loss", None)
                return
            if u_dup < imp["duplicate"]:
                copies += 1
                d.stats["duplicated"] += 1
                self._event(d, frame, "duplicate", None)
            if u_cor < imp["corrupt"] and len(frame) > 14:
                pos = 14 + int(u_pos * (len(frame) - 14) * 8)
                byte, bit = divmod(pos, 8)
                data = bytearray(frame)
                data[byte] ^= 1 << bit
                frame = bytes(data)
                d.stats["corrupted"] += 1
                self._event(d, frame, "corrupt", None, {"offset": byte - 14, "bit": bit})
            if imp["jitter"]:
                delay = max(0.0, delay + (2 * u_jit - 1) * imp["jitter"])
            reorder = u_reo < imp["reorder"]
        due = now + delay
        if due < d.last_due:  # jitter does not reorder: frames keep their order
            due = d.last_due
        d.last_due = due
        due += extra
        rate = imp.get("rate")
        for _ in range(copies):
            when = due
            if rate:
                if d.rate_queued >= RATE_QUEUE:
                    d.stats["dropped"] += 1
                    self._event(d, frame, "rate", None)
                    continue
                when = max(when, d.rate_free)
                d.rate_free = when + len(frame) * 8 / rate
                d.rate_queued += 1
                self._later(when, d, frame)
                continue
            if reorder and d.held is None:
                d.held = frame
                d.stats["reordered"] += 1
                self._event(d, frame, "reorder", None)
                self._later(max(when, now) + REORDER_HOLD, d, None)
                reorder = False
                continue
            if when <= now:
                if self.heap:
                    self._release()  # frames due before this one leave first
                self._send(d, frame)
            else:
                self._later(when, d, frame)

    def _event(self, d: Direction, frame: bytes, kind: str, fault: Fault | None, detail: dict | None = None) -> None:
        self.recorded += 1
        if self.recorded > MAX_EVENTS:
            return
        record: dict[str, Any] = {"time": round(time.time(), 6), "link": d.link, "from": d.end, "to": d.peer,
                                  "packet": d.frames}
        if fault is not None:
            record.update(fault=fault.index, action=fault.action, nth=fault.count)
        else:
            record.update(impairment=kind)
        record["summary"] = self._describe(frame)
        if detail:
            record.update(detail)
        self.events.write(json.dumps(record) + "\n")

    def _describe(self, frame: bytes) -> str:
        if self._decode is None:
            from socklab.verify.frames import Capture, decode, summary
            from socklab.verify.pcap import LINKTYPE_ETHERNET

            capture = Capture("relay", "relay")
            self._decode = lambda data: decode(capture, [(time.time(), LINKTYPE_ETHERNET, data, len(data))])[0]
            self._summary = summary
        return self._summary(self._decode(frame))

    def close(self) -> None:
        """Close every packet socket at once: each close waits for an RCU grace period, and
        closes in parallel share them (serially, 200 sockets take seconds)."""
        import threading

        threads = [threading.Thread(target=s.close) for s in self.sockets.values()]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.events.close()

    # -- control ------------------------------------------------------------------------

    def _control(self, control: socket.socket) -> None:
        conn, _ = control.accept()
        try:
            conn.settimeout(2.0)
            data = recv_line(conn)
            try:
                reply = self.command(json.loads(data or b"{}"))
            except (ValueError, KeyError, TypeError) as err:
                reply = {"ok": False, "error": str(err)}
            conn.sendall(json.dumps(reply).encode() + b"\n")
        except OSError:
            pass
        finally:
            conn.close()

    def command(self, req: dict[str, Any]) -> dict[str, Any]:
        cmd = req.get("cmd")
        if cmd == "show":
            return {"ok": True, "directions": [d.describe() for d in self.directions]}
        targets = [d for d in self.directions if d.link == req.get("link")]
        if req.get("egress"):
            targets = [d for d in targets if d.end == req["egress"]]
        if not targets:
            return {"ok": False, "error": f"link {req.get('link')} is not relayed"}
        for d in targets:
            if cmd == "down":
                d.down = True
            elif cmd == "up":
                d.down = False
            elif cmd == "reset":
                d.down, d.imp = False, dict(d.base)
            elif cmd == "set":
                unknown = set(req["impair"]) - set(FIELDS)
                if unknown:
                    return {"ok": False, "error": f"unknown impairment {sorted(unknown)}"}
                d.imp.update(req["impair"])
            else:
                return {"ok": False, "error": f"unknown command {cmd!r}"}
            d.refresh()
        self.events.write(json.dumps({"time": round(time.time(), 6), "link": targets[0].link, "change": cmd,
                                      "egress": req.get("egress"), "impair": req.get("impair"),
                                      "by": req.get("by", "socklab link")}) + "\n")
        return {"ok": True, "directions": [d.describe() for d in targets]}


def recv_line(conn: socket.socket) -> bytes:
    """One newline-terminated message of the control protocol (JSON per line)."""
    data = b""
    while not data.endswith(b"\n"):
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def _invert(frame: bytes, parsed: Any, offset: int | None) -> tuple[bytes, dict[str, int]]:
    """Invert one byte, `offset` bytes into the IP packet (default: its last byte)."""
    l3 = parsed.l3 if parsed.l3 < len(frame) else 14
    end = parsed.ipend if parsed.ipend > l3 else len(frame)
    pos = l3 + offset if offset is not None else end - 1
    pos = min(max(pos, 0), len(frame) - 1)
    data = bytearray(frame)
    old = data[pos]
    data[pos] ^= 0xFF
    return bytes(data), {"offset": pos - l3, "was": old, "now": data[pos]}


def _packet_socket(ifname: str) -> socket.socket:
    # protocol 0 first, ETH_P_ALL at bind: the kernel then hooks the socket in once, without
    # the RCU grace period a re-bind costs (about 10 ms each: seconds for a 100-link chain)
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    sock.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
    sock.setsockopt(SOL_PACKET, PACKET_QDISC_BYPASS, 1)
    sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 8 << 20)
    sock.setsockopt(socket.SOL_SOCKET, SO_SNDBUFFORCE, 8 << 20)
    sock.bind((ifname, ETH_P_ALL))
    sock.setblocking(False)
    return sock


def main(argv: list[str]) -> int:
    config = json.loads(open(argv[0]).read())
    from socklab import nsutil

    if any(d["faults"] for d in config["directions"]):
        import socklab.verify.match  # noqa: F401  (loaded while the lab is still being built)
    if sys.stdin.readline().strip() != "go":  # the lab was not built: nothing to relay
        return 0
    fd = nsutil.open_netns(config["netns"])
    nsutil.setns(fd)  # the whole process lives in the relay namespace: gc finds it there
    os.close(fd)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    relay = Relay(config)
    control = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    path = config["control"]
    if os.path.exists(path):
        os.unlink(path)
    control.bind(path)
    control.listen(8)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (the starter closed its end)
    try:
        relay.serve(control)
    finally:
        relay.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
