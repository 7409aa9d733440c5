"""AF_PACKET sender and receiver: whole Ethernet frames, built from scratch or shown as received.

With AF_PACKET the kernel adds nothing: no MAC lookup, no IP header, no checksum. The
sender therefore writes every byte (frames.py does the arithmetic) and can corrupt a
checksum on purpose so graders can test that a receiver notices.
"""

from __future__ import annotations

import argparse
import socket
import sys
from typing import Any

from socklab.agents.common import (
    AgentError,
    AgentUsageError,
    Deadline,
    describe_oserror,
    iface_exists,
    open_socket,
    read_sysfs,
)
from socklab.agents.events import Emitter, payload_fields
from socklab.agents.frames import (
    ETH_P_IP,
    IPPROTO_UDP,
    ethernet_frame,
    format_mac,
    ipv4_header,
    parse_ethernet,
    parse_ipv4,
    parse_mac,
    parse_udp,
    udp_datagram,
)
from socklab.agents.options import (
    DEFAULT_MESSAGE,
    add_client_options,
    add_kind,
    add_receiver_options,
    add_role,
    byte_type,
    int_in_range,
    kind_epilog,
    port_type,
    size_type,
)

ETH_P_ALL = 0x0003  # socket.ETH_P_ALL exists only from Python 3.12
DEFAULT_ETHERTYPE = 0x88B5  # IEEE 802 "local experimental EtherType 1"
BROADCAST = "ff:ff:ff:ff:ff:ff"
PACKET_TYPES = {
    socket.PACKET_HOST: "host",
    socket.PACKET_BROADCAST: "broadcast",
    socket.PACKET_MULTICAST: "multicast",
    socket.PACKET_OTHERHOST: "otherhost",
    socket.PACKET_OUTGOING: "outgoing",
}

SENDER_EPILOG = """\
examples:
  python3 -m socklab.agents packet sender --iface eth0 --ethertype 0x88b5 --message hello
  python3 -m socklab.agents packet sender --iface eth0 --dst-mac 02:00:00:00:00:02 \\
      --udp --src-ip 192.168.11.1 --dst-ip 192.168.11.2 --sport 4000 --dport 12345
  python3 -m socklab.agents packet sender --iface eth0 --udp --src-ip 192.168.11.1 \\
      --dst-ip 192.168.11.2 --bad-udp-checksum --json

Builds one frame byte by byte and sends it with socket(AF_PACKET, SOCK_RAW):
Ethernet header (dst, src, EtherType) + payload, zero-padded to 60 bytes.
With --udp: Ethernet + IPv4 (TTL 64, DF, header checksum) + UDP (length, checksum
over the pseudo-header) + payload. --src-mac defaults to the interface's own MAC.
Needs root or CAP_NET_RAW.
"""

RECEIVER_EPILOG = """\
examples:
  python3 -m socklab.agents packet receiver --iface eth0 --ethertype 0x88b5
  python3 -m socklab.agents packet receiver --iface eth0 --all --count 10 --json
  python3 -m socklab.agents packet receiver --iface eth0 --ethertype 0x0800 --outgoing

Binds socket(AF_PACKET, SOCK_RAW) to one EtherType (or all, ETH_P_ALL) on --iface
and prints each frame: Ethernet dst/src/type, and the IPv4 and UDP headers when
present (with checksums checked). Frames this host sends are skipped unless
--outgoing. Needs root or CAP_NET_RAW.
"""


def ethertype_type(text: str) -> int:
    return int_in_range(text, 0x0600, 0xFFFF)  # below 0x0600 it is an 802.3 length


def mac_type(text: str) -> bytes:
    try:
        return parse_mac(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def hex_type(text: str) -> bytes:
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not hex bytes: {text!r}") from None


def ipv4_type(text: str) -> str:
    try:
        socket.inet_pton(socket.AF_INET, text)
    except OSError:
        raise argparse.ArgumentTypeError(f"not an IPv4 address: {text!r}") from None
    return text


def add_parsers(kinds: argparse._SubParsersAction) -> None:
    roles = add_kind(kinds, "packet", "AF_PACKET sender and receiver of whole Ethernet frames",
                     kind_epilog("packet", SENDER_EPILOG, RECEIVER_EPILOG))
    sender = add_role(roles, "sender", "build an Ethernet (+IPv4+UDP) frame by hand and send it",
                      SENDER_EPILOG, send)
    sender.add_argument("--iface", required=True, metavar="IF", help="interface to send on")
    sender.add_argument("--dst-mac", type=mac_type, default=BROADCAST, metavar="MAC",
                        help=f"destination MAC (default {BROADCAST})")
    sender.add_argument("--src-mac", type=mac_type, metavar="MAC",
                        help="source MAC (default: the interface's, from /sys/class/net/IF/address)")
    sender.add_argument("--ethertype", type=ethertype_type, metavar="0xNNNN",
                        help=f"EtherType (default 0x{DEFAULT_ETHERTYPE:04x}; 0x0800 with --udp)")
    payload = sender.add_mutually_exclusive_group()
    payload.add_argument("--message", default=DEFAULT_MESSAGE, metavar="TEXT",
                         help=f"payload text (default {DEFAULT_MESSAGE!r})")
    payload.add_argument("--hex", type=hex_type, help="payload as hex bytes instead of --message")
    sender.add_argument("--no-pad", action="store_true",
                        help="do not zero-pad short frames to the 60-byte Ethernet minimum")
    udp = sender.add_argument_group("IPv4 + UDP (with --udp)")
    udp.add_argument("--udp", action="store_true", help="wrap the payload in IPv4 + UDP")
    udp.add_argument("--src-ip", type=ipv4_type, metavar="ADDR", help="IPv4 source (required with --udp)")
    udp.add_argument("--dst-ip", type=ipv4_type, metavar="ADDR", help="IPv4 destination (required with --udp)")
    udp.add_argument("--sport", type=port_type, default=12345, metavar="PORT", help="UDP source port (default 12345)")
    udp.add_argument("--dport", type=port_type, default=12345, metavar="PORT", help="UDP destination port (default 12345)")
    udp.add_argument("--ttl", type=byte_type, default=64, metavar="N", help="IPv4 TTL (default 64)")
    udp.add_argument("--ip-id", type=port_type, default=0, metavar="N", help="IPv4 identification (default 0)")
    udp.add_argument("--bad-ip-checksum", action="store_true", help="send a wrong IPv4 header checksum")
    udp.add_argument("--bad-udp-checksum", action="store_true", help="send a wrong UDP checksum")
    add_client_options(sender)

    receiver = add_role(roles, "receiver", "print the Ethernet frames of one EtherType (or all)",
                        RECEIVER_EPILOG, receive)
    receiver.add_argument("--iface", required=True, metavar="IF", help="interface to listen on")
    which = receiver.add_mutually_exclusive_group()
    which.add_argument("--ethertype", type=ethertype_type, default=DEFAULT_ETHERTYPE, metavar="0xNNNN",
                       help=f"EtherType to receive (default 0x{DEFAULT_ETHERTYPE:04x})")
    which.add_argument("--all", action="store_true", help="receive every EtherType (ETH_P_ALL)")
    receiver.add_argument("--outgoing", action="store_true",
                          help="also report frames this host sends on --iface")
    receiver.add_argument("--recv-size", type=size_type, default=65535, metavar="N",
                          help="bytes to ask recv() for (default 65535)")
    add_receiver_options(receiver, "frames")


def build_frame(args: argparse.Namespace) -> bytes:
    """The frame the sender's options describe; AgentError for combinations that cannot work."""
    payload = args.hex if args.hex is not None else args.message.encode("utf-8")
    src_mac = args.src_mac if args.src_mac is not None else iface_mac(args.iface)
    ethertype = args.ethertype
    if args.udp:
        if args.src_ip is None or args.dst_ip is None:
            raise AgentUsageError("--udp needs --src-ip and --dst-ip")
        if ethertype not in (None, ETH_P_IP):
            raise AgentUsageError(f"--udp sends IPv4 (EtherType 0x0800), not 0x{ethertype:04x}")
        ethertype = ETH_P_IP
        segment = udp_datagram(args.src_ip, args.dst_ip, args.sport, args.dport, payload,
                               bad_checksum=args.bad_udp_checksum)
        try:
            header = ipv4_header(args.src_ip, args.dst_ip, IPPROTO_UDP, len(segment), ttl=args.ttl,
                                 ident=args.ip_id, bad_checksum=args.bad_ip_checksum)
        except ValueError as exc:
            raise AgentError(str(exc)) from None
        payload = header + segment
    elif ethertype is None:
        ethertype = DEFAULT_ETHERTYPE
    return ethernet_frame(args.dst_mac, src_mac, ethertype, payload, pad=not args.no_pad)


def iface_mac(iface: str) -> bytes:
    text = read_sysfs(f"/sys/class/net/{iface}/address")
    if text is None:
        raise AgentError(f"no such interface: {iface}")
    try:
        return parse_mac(text)
    except ValueError:
        raise AgentError(f"{iface} has no Ethernet address ({text!r}); give --src-mac") from None


def send(args: argparse.Namespace, out: Emitter) -> None:
    frame = build_frame(args)
    with open_socket(socket.AF_PACKET, socket.SOCK_RAW, 0) as sock:
        sock.settimeout(args.timeout)
        try:
            sock.bind((args.iface, 0))
            sent = sock.send(frame)
        except TimeoutError:
            raise AgentError(f"timed out after {args.timeout:g}s sending on {args.iface}") from None
        except OSError as exc:
            raise AgentError(f"cannot send on {args.iface}: {describe_oserror(exc)}") from None
        out.emit("sent", peer=format_mac(args.dst_mac), iface=args.iface, frame_length=sent,
                 **describe_frame(frame))
    out.emit("closed", iface=args.iface)


def receive(args: argparse.Namespace, out: Emitter) -> None:
    if not iface_exists(args.iface):
        raise AgentError(f"no such interface: {args.iface}")
    deadline = Deadline(args.timeout)
    proto = ETH_P_ALL if args.all else args.ethertype
    # Protocol 0 at socket() and the real one at bind(): no frames from other interfaces sneak in.
    with open_socket(socket.AF_PACKET, socket.SOCK_RAW, 0) as sock:
        try:
            sock.bind((args.iface, proto))
        except OSError as exc:
            raise AgentError(f"cannot bind to {args.iface}: {describe_oserror(exc)}") from None
        out.emit("bound", local=args.iface, iface=args.iface, ethertype=proto,
                 ethertype_hex=f"0x{proto:04x}", family="packet")
        handled = 0
        while handled < args.count:
            with deadline.waiting(sock, f"a frame on {args.iface}"):
                frame, address = sock.recvfrom(args.recv_size)
            pkttype = PACKET_TYPES.get(address[2], str(address[2]))
            if address[2] == socket.PACKET_OUTGOING and not args.outgoing:
                continue
            handled += 1
            fields = describe_frame(frame)
            out.emit("received", peer=fields.get("eth", {}).get("src", "?"), iface=address[0], pkttype=pkttype,
                     frame_length=len(frame), **fields)
        out.emit("closed", local=args.iface, handled=handled)


def describe_frame(frame: bytes) -> dict[str, Any]:
    """eth (and ip, udp when present) header fields, the whole frame in hex, and the innermost payload."""
    fields: dict[str, Any] = {}
    try:
        fields["eth"], payload = parse_ethernet(frame)
        if fields["eth"]["type"] == ETH_P_IP:
            fields["ip"], payload = parse_ipv4(payload)
            whole = fields["ip"]["frag_offset"] == 0 and "MF" not in fields["ip"]["flags_text"]
            if fields["ip"]["protocol"] == IPPROTO_UDP and whole:
                fields["udp"], payload = parse_udp(payload, fields["ip"]["src"], fields["ip"]["dst"])
    except ValueError as exc:
        fields["parse_error"] = str(exc)
        payload = frame if "eth" not in fields else frame[14:]
    return {**fields, "frame_hex": frame.hex(), **payload_fields(payload)}


if __name__ == "__main__":  # `python3 -m socklab.agents.packet sender ...` works too
    from socklab.agents.cli import main

    raise SystemExit(main(["packet", *sys.argv[1:]]))
