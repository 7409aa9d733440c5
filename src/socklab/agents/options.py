"""The command line every agent shares: argument types, common options, KIND/ROLE parsers.

Defaults follow the course's examples (port 12345, "Hello World from client/server",
recv(100)), so an agent run with no options is the course's program.
"""

from __future__ import annotations

import argparse
import math
import socket
from collections.abc import Callable

from socklab.agents.events import Emitter

DEFAULT_MESSAGE = "Hello World from client"
DEFAULT_REPLY = "Hello World from server"
DEFAULT_PORT = 12345
SERVER_TIMEOUT = 30.0
CLIENT_TIMEOUT = 10.0


# --- argument types -----------------------------------------------------------------


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (value > 0 and math.isfinite(value)):  # no 'inf': nothing may wait forever
        raise argparse.ArgumentTypeError(f"must be a finite number > 0: {text!r}")
    return value


def count_type(text: str) -> int:
    return int_in_range(text, 1, 1_000_000)


def port_type(text: str) -> int:
    return int_in_range(text, 0, 65535)


def byte_type(text: str) -> int:
    return int_in_range(text, 0, 255)


def size_type(text: str) -> int:
    return int_in_range(text, 1, 1 << 20)


def int_in_range(text: str, low: int, high: int) -> int:
    """An integer in decimal, 0x hex or 0o octal, within [low, high]."""
    try:
        value = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if not low <= value <= high:
        raise argparse.ArgumentTypeError(f"{text} is not in {low}..{high}")
    return value


# --- options every agent shares ---------------------------------------------------


def add_output_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json", action="store_true", help="one JSON object per event and line, flushed at once"
    )


def add_family_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "-4", dest="family", action="store_const", const=socket.AF_INET,
        default=socket.AF_UNSPEC, help="resolve names to IPv4 only",
    )
    group.add_argument(
        "-6", dest="family", action="store_const", const=socket.AF_INET6,
        help="resolve names to IPv6 only",
    )


def add_receiver_options(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--count", type=count_type, default=1, metavar="N",
        help=f"how many {what} to handle before exiting (default 1)",
    )
    parser.add_argument(
        "--timeout", type=positive_float, default=SERVER_TIMEOUT, metavar="SECONDS",
        help=f"give up (error event, exit 1) if the {what} have not come within this time "
        f"(default {SERVER_TIMEOUT:g})",
    )
    add_output_option(parser)


def add_reply_options(parser: argparse.ArgumentParser) -> None:
    """--reply/--no-reply/--recv-size, shared by the TCP, UDP and unix servers."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--reply", default=DEFAULT_REPLY, metavar="TEXT",
                       help=f"text to answer with (default {DEFAULT_REPLY!r})")
    group.add_argument("--no-reply", dest="reply", action="store_const", const=None,
                       help="receive and print, but send nothing back")
    parser.add_argument("--recv-size", type=size_type, default=100, metavar="N",
                        help="bytes to ask recv() for (default 100)")


def add_client_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--timeout", type=positive_float, default=CLIENT_TIMEOUT, metavar="SECONDS",
        help=f"give up (error event, exit 1) after this time (default {CLIENT_TIMEOUT:g})",
    )
    add_output_option(parser)


# --- parser building --------------------------------------------------------------

Runner = Callable[[argparse.Namespace, Emitter], None]
Subparsers = argparse._SubParsersAction  # what add_subparsers() returns


def kind_epilog(kind: str, *role_epilogs: str) -> str:
    """A KIND's help: the first example of each of its roles, and where to read more."""
    firsts = [next(line for line in text.splitlines() if line.startswith("  python3")) for text in role_epilogs]
    return "examples:\n" + "\n".join(firsts) + f"\n\nEvery option of a role: python3 -m socklab.agents {kind} ROLE --help\n"


def add_kind(kinds: Subparsers, name: str, summary: str, epilog: str) -> Subparsers:
    """A KIND parser whose ROLEs are subcommands; returns the roles' subparsers action."""
    parser = kinds.add_parser(
        name, help=summary, description=summary, epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    roles = parser.add_subparsers(dest="role", metavar="ROLE", required=True)
    return roles


def add_role(
    roles: Subparsers, name: str, summary: str, epilog: str, run: Runner
) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = roles.add_parser(
        name, help=summary, description=summary, epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(run=run)
    return parser


def add_single(kinds: Subparsers, name: str, role: str, summary: str, epilog: str, run: Runner) -> argparse.ArgumentParser:
    """A KIND without roles (ping, arp, sniff...): its events still carry a role."""
    parser: argparse.ArgumentParser = kinds.add_parser(
        name, help=summary, description=summary, epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(run=run, role=role)
    return parser
