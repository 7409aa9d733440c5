"""One capture point read in-process: an AF_PACKET socket in the node's namespace, a TPACKET_V3 ring.

Why not tcpdump: starting it and waiting for "listening on" costs ~30 ms, stopping and
flushing another ~30 ms, and without --immediate-mode (which makes libpcap fall back to
TPACKET_V2 and wake once per packet) the packets of a block the kernel has not retired
yet are lost at SIGINT. Here the socket is opened from the calling thread inside the
namespace (setns, no fork), is ready when bind() returns, and a reader thread wakes once
per retired block (full, or after RETIRE_MS). Stopping is exact:

1. a drop-all filter is swapped in: from that instant nothing new enters the ring;
2. PACKET_STATISTICS then gives the exact number of packets the kernel could not put in
   the ring (tp_drops) before that instant;
3. every retired block is read, then the block the kernel still holds open: its packet
   count is final once the filter is swapped (a packet being copied on another core at
   that instant is waited for), so the last packet of a run is always in the file.
"""

from __future__ import annotations

import ctypes
import mmap
import os
import select
import socket
import struct
import threading
import time
from collections.abc import Callable

from socklab import nsutil
from socklab.bpf import DROP_ALL, LINKTYPE_ETHERNET, SNAPLEN, Program, sock_fprog
from socklab.capture.files import Packet
from socklab.errors import InfrastructureError

SOL_PACKET = 263
PACKET_RX_RING, PACKET_STATISTICS, PACKET_VERSION = 5, 6, 10
TPACKET_V3 = 2
ETH_P_ALL = 0x0003
SO_ATTACH_FILTER = 26
TP_STATUS_USER = 1
TP_STATUS_VLAN_VALID, TP_STATUS_VLAN_TPID_VALID = 1 << 4, 1 << 6
PACKET_OUTGOING = 4
ARPHRD_ETHER, ARPHRD_LOOPBACK = 1, 772

RETIRE_MS = 2
"""A block holding packets is handed to the reader at the latest this long after its first packet."""
MAX_BLOCK = 256 * 1024  # as libpcap's blocks
GSO_BLOCK = 128 * 1024  # the least that holds a 64 KiB GSO frame whole
MIN_BLOCKS = 8
SETTLE_S = 0.0002  # a packet counted in the open block is copied well within this

_BLOCK = struct.Struct("=4I")  # block_status, num_pkts, offset_to_first_pkt, blk_len (at offset 8)
_HDR = struct.Struct("=6I2H2IH")  # tpacket3_hdr up to tp_vlan_tpid
_SLL_PKTTYPE = 58  # tpacket3_hdr (48, aligned) + sockaddr_ll.sll_pkttype (10)

_libc = ctypes.CDLL(None, use_errno=True)
_libc.setsockopt.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]

Sink = Callable[[list[Packet]], None]


def geometry(ring_bytes: int) -> tuple[int, int]:
    """(block size, block count) for a ring of about `ring_bytes`: blocks of up to 256 KiB, at
    least 8 of them unless that would make them smaller than GSO_BLOCK (a ring of 256 KiB to
    1 MiB gets 2 to 8 blocks of 128 KiB); only a ring under two such blocks has smaller ones."""
    page = mmap.PAGESIZE
    block = MAX_BLOCK
    while block > page and ring_bytes // block < MIN_BLOCKS and (block > GSO_BLOCK or ring_bytes < 2 * GSO_BLOCK):
        block //= 2
    return block, max(1, ring_bytes // block)


class RingReader:
    """An AF_PACKET socket with its ring, and the thread that empties the ring into a sink.

    Two steps, because only the first is slow. The constructor *prepares*: it opens the
    socket inside the node's namespace with protocol 0, which attaches it to nothing (it
    receives no packet), and sets its version, filter and ring. PACKET_RX_RING waits in the
    kernel for an RCU grace period (synchronize_net, 8-16 ms here), so preparing belongs
    off the caller's critical path (capture.PreparedRings does it in the background).
    `start(sink)` is then only bind(iface, ETH_P_ALL), a few microseconds: a socket that is
    not yet hooked needs no grace period to be hooked, and every packet from the moment
    start returns lands in the ring (the reader thread, started when prepared, already
    waits on it). The socket belongs to the namespace it was opened in, so start needs no
    setns. `stop()` flushes everything received until the call and sets `dropped`;
    `close()` releases a ring that was prepared but never started.
    """

    def __init__(self, netns_path: str, iface: str, ring_bytes: int, program: Program | None = None,
                 retire_ms: int = RETIRE_MS):
        self.iface, self.netns_path = iface, netns_path
        self.sink: Sink | None = None
        self.dropped = 0
        self.packets = 0
        self.block_size, self.block_nr = geometry(ring_bytes)
        self._next = 0
        self._lock = threading.Lock()  # one drainer at a time (the thread, then stop())
        self._stopping = False
        self._started = False
        self._frozen: float | None = None
        self._wake: int | None = None
        self.error: BaseException | None = None  # what stopped the reader thread early (a closed pipe...)
        fd = nsutil.open_netns(netns_path)
        try:
            with nsutil.entered(fd):
                self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)  # protocol 0: receives nothing yet
            try:
                self._setup(program, retire_ms)
                self._wake = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
            except BaseException:
                self._close()
                raise
        except OSError as err:
            raise InfrastructureError(f"cannot capture on {iface} in {netns_path}: {err.strerror or err}") from None
        finally:
            os.close(fd)
        # the reader waits from now on (an empty ring wakes nobody): starting a thread can take a
        # millisecond on a busy machine, and start() should not wait for that
        self._thread = threading.Thread(target=self._run, name=f"socklab-capture-{iface}", daemon=True)
        self._thread.start()

    def start(self, sink: Sink) -> RingReader:
        """Bind to the interface: capturing when this returns."""
        with self._lock:  # the reader drains under the lock: it sees sink and skip_outgoing set
            if self._started or self._stopping:
                raise RuntimeError("a ring starts once")
            self.sink = sink
            try:
                self.sock.bind((self.iface, ETH_P_ALL))  # from here on every packet of the wire lands in the ring
                hatype = self.sock.getsockname()[3]
            except OSError as err:
                error = InfrastructureError(f"cannot capture on {self.iface} in {self.netns_path}: "
                                            f"{err.strerror or err}")
            else:
                error = None
                if hatype not in (ARPHRD_ETHER, ARPHRD_LOOPBACK):
                    error = InfrastructureError(f"cannot capture on {self.iface}: link type {hatype} is not Ethernet")
                self.skip_outgoing = hatype == ARPHRD_LOOPBACK  # lo shows each packet twice; libpcap drops one
                self.linktype = LINKTYPE_ETHERNET
                self._started = error is None
        if error is not None:
            self.close()
            raise error
        return self

    def close(self) -> None:
        """Release the socket and its ring without reading it (a prepared ring not needed after all)."""
        with self._lock:
            if self._stopping:
                return
            self._stopping = True
            os.eventfd_write(self._wake, 1)
            self._close()

    def _setup(self, program: Program | None, retire_ms: int) -> None:
        s = self.sock
        s.setsockopt(SOL_PACKET, PACKET_VERSION, TPACKET_V3)
        if program is not None:
            self._attach(program)
        req = struct.pack("=7I", self.block_size, self.block_nr, self.block_size, self.block_nr, retire_ms, 0, 0)
        # through ctypes, which lets go of the GIL: the kernel waits here for an RCU grace period
        # (synchronize_net, 8-16 ms), and rings set up side by side should share it
        if _libc.setsockopt(s.fileno(), SOL_PACKET, PACKET_RX_RING, req, len(req)) != 0:
            code = ctypes.get_errno()
            raise OSError(code, f"PACKET_RX_RING: {os.strerror(code)}")
        self.ring = mmap.mmap(s.fileno(), self.block_size * self.block_nr, mmap.MAP_SHARED,
                              mmap.PROT_READ | mmap.PROT_WRITE)

    def _attach(self, program: Program) -> None:
        fprog, keep = sock_fprog(program)
        self.sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
        del keep

    def _run(self) -> None:
        try:  # the programs under test may keep both cores busy: the capture must not be the one that waits
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), -10)
        except OSError:
            pass
        poller = select.poll()
        poller.register(self.sock.fileno(), select.POLLIN | select.POLLERR)
        poller.register(self._wake, select.POLLIN)
        try:
            while True:
                with self._lock:
                    if self._stopping:
                        return
                    self._drain()
                poller.poll(1000)
        except BaseException as err:  # noqa: BLE001 - kept for the owner to see; the ring stays readable
            self.error = err

    def _drain(self) -> None:
        """Copy every retired block out, give it back to the kernel at once, then decode the copies."""
        ring, size, copies = self.ring, self.block_size, []
        while True:
            base = self._next * size
            status, _, _, length = _BLOCK.unpack_from(ring, base + 8)
            if not status & TP_STATUS_USER:
                break
            copies.append(ring[base : base + length])
            ring[base + 8 : base + 16] = b"\0" * 8  # status TP_STATUS_KERNEL; num_pkts 0 marks it empty until reopened
            self._next = (self._next + 1) % self.block_nr
        for block in copies:
            self._emit(block, _BLOCK.unpack_from(block, 8)[1])

    def _emit(self, block: bytes, count: int) -> None:
        out: list[Packet] = []
        append = out.append
        unpack = _HDR.unpack_from
        limit = len(block)
        off = _BLOCK.unpack_from(block, 8)[2]
        for _ in range(count):
            nxt, sec, nsec, snap, length, status, mac, _, _, tci, tpid = unpack(block, off)
            if mac + snap + off > limit:
                raise _Torn()
            if not (self.skip_outgoing and block[off + _SLL_PKTTYPE] == PACKET_OUTGOING):
                data = block[off + mac : off + mac + snap]
                if tci or status & TP_STATUS_VLAN_VALID:  # the kernel took the 802.1Q tag out; put it back as libpcap does
                    tag = struct.pack("!HH", tpid if status & TP_STATUS_VLAN_TPID_VALID else 0x8100, tci)
                    data, length = data[:12] + tag + data[12:], length + 4
                append((sec, nsec, data[:SNAPLEN], length))
            off += nxt
        if out:
            self.packets += len(out)
            self.sink(out)

    def freeze(self) -> None:
        """Let nothing more into the ring and take the exact drop count (stop() does this if not done)."""
        if self._frozen is None:
            self._attach(DROP_ALL)  # nothing enters the ring from here on
            _, tp_drops, _ = struct.unpack("=3I", self.sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 12))
            self.dropped += tp_drops
            self._frozen = time.monotonic()

    def stop(self) -> None:
        """Flush everything received until now (or until freeze()) into the sink; `dropped` becomes exact."""
        if not self._started:
            self.close()
            return
        with self._lock:  # the thread is not draining; once it sees _stopping it leaves the ring alone
            if self._stopping:
                return
            self._stopping = True
            try:
                self.freeze()
                self._drain()
                self._flush_open_block()
            finally:
                os.eventfd_write(self._wake, 1)
                self._close()

    def _flush_open_block(self) -> None:
        base = self._next * self.block_size
        _, count, _, _ = _BLOCK.unpack_from(self.ring, base + 8)
        if not count:
            return
        # a packet counted just before the filter swap may still be being copied on another core
        time.sleep(max(0.0, self._frozen + SETTLE_S - time.monotonic()))
        while True:
            self._drain()  # the kernel may have retired it meanwhile
            base = self._next * self.block_size
            status, count, _, length = _BLOCK.unpack_from(self.ring, base + 8)
            if not status & TP_STATUS_USER:
                break
            # retired between the drain and this read (its timer fires every RETIRE_MS even
            # after freeze): drain it, or its packets would be lost (seen: 1 stop in ~100)
        if count:
            try:
                self._emit(self.ring[base : base + length], count)
            except _Torn:
                self._wait_retired(base)

    def _wait_retired(self, base: int) -> None:
        """The open block did not look whole: let the kernel retire it (within RETIRE_MS) and read it then."""
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:
            if _BLOCK.unpack_from(self.ring, base + 8)[0] & TP_STATUS_USER:
                self._drain()
                return
            time.sleep(0.001)
        raise InfrastructureError("capture: the kernel did not hand over the last block")

    def _close(self) -> None:
        ring = getattr(self, "ring", None)
        if ring is not None:
            ring.close()  # the mapping holds the socket's file: unmapped first, the close below releases it
        close_later(self.sock, self._wake)


def close_later(sock: socket.socket, fd: int | None = None) -> None:
    """Close a packet socket off the caller's path, on a thread of its own.

    Releasing a packet socket with a ring waits for two RCU grace periods in the kernel
    (synchronize_net when the ring is freed, then again when the socket goes: 20-30 ms
    here), and nothing needs to wait for that. One thread per socket rather than one
    serial closer: concurrent waits share grace periods, so two points close in the time
    of one instead of queueing; a few threads for a few capture points cost ~0.1 ms each.
    The close begins as soon as a capture is flushed, so it is over by the time a short
    process exits (an exiting process would otherwise wait for it in the kernel).
    """
    threading.Thread(target=_close_now, args=(sock, fd), name="socklab-capture-close", daemon=True).start()


def _close_now(sock: socket.socket, fd: int | None) -> None:
    sock.close()
    if fd is not None:
        os.close(fd)


class _Torn(Exception):
    """A packet header points past its block: the block was read while the kernel wrote it."""
