"""`python3 -m socklab.agents KIND ROLE [options]`: parse, run one agent, map failures to exit codes.

Exit codes: 0 done, 1 an expected failure (reported as an `error` event: refused,
timed out, interrupted...), 2 bad arguments (argparse's usage message). The list of
agents is written out here rather than collected by import side effects.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
from types import FrameType

from socklab.agents import packet, raw, tcp, udp, unix
from socklab.agents.common import AgentError, describe_oserror
from socklab.agents.events import Emitter
from socklab.agents.scapy_agents import arp, dns, ping, send, sniff

MODULES = (tcp, udp, raw, packet, unix, ping, dns, arp, sniff, send)

EPILOG = """\
examples:
  python3 -m socklab.agents tcp server --bind 192.168.11.11 --port 12345
  python3 -m socklab.agents tcp client --host 192.168.11.11 --port 12345 --json
  python3 -m socklab.agents udp server --bind ::1 --port 12345 --count 3
  python3 -m socklab.agents raw receiver --proto 102 --bind 192.168.11.13
  python3 -m socklab.agents packet sender --iface eth0 --ethertype 0x88b5 --message hi
  python3 -m socklab.agents unix server --type dgram --path @lab
  python3 -m socklab.agents ping --host 192.168.11.2
  python3 -m socklab.agents dns server --record www.lab=192.168.11.11
  python3 -m socklab.agents sniff --iface eth0 --filter "udp port 53" --write dns.pcap

Every agent prints one line per event (bound, listening, connected, sent, received,
closed, error); with --json one JSON object per line instead. Servers and receivers
stop after --count messages or connections and give up after --timeout seconds.
The socket agents (tcp, udp, raw, packet, unix) need only the standard library;
ping, dns, arp, sniff, send and sendp need scapy. `KIND ROLE --help` for details.
Exit codes: 0 done, 1 failed (error event), 2 bad arguments.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python3 -m socklab.agents",
        description="Small socket programs for socklab lab nodes: reference peers and probes.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    kinds = parser.add_subparsers(dest="kind", metavar="KIND", required=True)
    for module in MODULES:
        module.add_parsers(kinds)
    return parser


class Terminated(Exception):
    """SIGTERM, turned into an exception so `finally` blocks (socket files, pcaps) still run."""


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = Emitter(args.kind, args.role, json_lines=args.json)
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        args.run(args, out)
        return 0
    except AgentError as exc:
        return _report(out, exc.exit_code, str(exc), **exc.fields)
    except socket.gaierror as exc:
        return _report(out, 1, f"name resolution failed: {exc.strerror}")
    except OSError as exc:
        return _report(out, 1, describe_oserror(exc), errno=exc.errno)
    except Terminated:
        return _report(out, 1, "terminated by SIGTERM")
    except KeyboardInterrupt:
        return _report(out, 1, "interrupted")


def _report(out: Emitter, code: int, message: str, **fields: object) -> int:
    try:
        out.emit("error", message=message, **fields)
    except BrokenPipeError:  # whoever read our output has gone; keep Python quiet at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return code
