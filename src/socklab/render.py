"""Rich renderings for the CLI: tables and progress. The library never prints."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from socklab.deployment import Deployment
from socklab.plan import Plan
from socklab.state import Record


def plan_table(plan: Plan) -> Table:
    table = Table(title=f"plan for lab {plan.lab}, instance {plan.instance}", title_justify="left")
    for column in ("node", "kind", "namespace", "interface", "index", "mac", "mtu", "addresses", "peer"):
        table.add_column(column)
    for node in plan.nodes:
        first = True
        rows = node.interfaces or [None]
        for iface in rows:
            cells = [node.name if first else "", node.kind if first else "", node.netns if first else ""]
            if iface:
                cells += [
                    iface.name, str(iface.index), iface.mac, str(iface.mtu or ""),
                    " ".join(iface.ipv4 + iface.ipv6) or ("(bridge port)" if node.bridge else ""), iface.peer,
                ]
            table.add_row(*cells)
            first = False
        for route in node.routes:
            table.add_row("", "", "", "route", "", "", "", f"{route.to} via {route.via}", "")
    return table


class ProgressBars:
    """Listener for the library's progress(phase, done, total) events, drawn on stderr."""

    def __init__(self, console: Console):
        self.progress = Progress(
            TextColumn("{task.description:>10}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=console, transient=True,
        )
        self.tasks: dict[str, Any] = {}

    def update(self, phase: str, done: int, total: int) -> None:
        if phase not in self.tasks:
            self.tasks[phase] = self.progress.add_task(phase, total=total)
        self.progress.update(self.tasks[phase], completed=done, total=total)

    def __enter__(self) -> ProgressBars:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()


def record_summary(record: Record) -> dict[str, Any]:
    return {
        "instance": record.instance, "lab": record.lab, "backend": record.backend, "state": record.state,
        "nodes": len(record.netns) or len(record.containers), "lab_file": record.lab_file,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(record.created)) if record.created else None,
    }


def instances_table(records: list[Record]) -> Table:
    table = Table(title="lab instances", title_justify="left")
    for column in ("instance", "lab", "backend", "state", "nodes", "created"):
        table.add_column(column)
    for record in records:
        s = record_summary(record)
        table.add_row(s["instance"], s["lab"], s["backend"], s["state"], str(s["nodes"]), s["created"] or "")
    if not records:
        table.caption = "no lab is up"
    return table


def instance_detail(deployment: Deployment) -> dict[str, Any]:
    from socklab.inspect import node_interfaces

    nodes = []
    for node in deployment.plan.nodes:
        live = node_interfaces(deployment.netns_path(node.name))
        nodes.append({
            "name": node.name, "kind": node.kind, "netns": node.netns, "running": live is not None,
            "interfaces": [
                {"name": i.name, "state": i.state, "mac": i.mac, "mtu": i.mtu, "addresses": i.addresses}
                for i in (live or [])
            ],
        })
    return {**record_summary(deployment.record), "nodes": nodes}


def detail_table(data: dict[str, Any]) -> Table:
    table = Table(title=f"{data['instance']} (lab {data['lab']}, {data['backend']}, {data['state']})", title_justify="left")
    for column in ("node", "kind", "interface", "state", "mac", "mtu", "addresses"):
        table.add_column(column)
    for node in data["nodes"]:
        if not node["running"]:
            table.add_row(node["name"], node["kind"], "", "[red]missing[/]", "", "", "")
            continue
        for n, iface in enumerate(node["interfaces"] or [{"name": "", "state": "", "mac": "", "mtu": "", "addresses": []}]):
            color = "green" if iface["state"] in ("up", "unknown") else "red"
            table.add_row(
                node["name"] if n == 0 else "", node["kind"] if n == 0 else "", iface["name"],
                f"[{color}]{iface['state']}[/]", iface["mac"], str(iface["mtu"]), " ".join(iface["addresses"]),
            )
    return table
