"""Tables of what a relayed link does right now (`socklab link ... show`)."""

from __future__ import annotations

from typing import Any


def impairment_text(imp: dict[str, Any]) -> str:
    from socklab.model.impair import Impairment

    return Impairment.model_validate({k: v for k, v in imp.items() if v}).describe()


def directions_table(directions: list[dict[str, Any]]):
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    for col in ("direction", "state", "impairment", "frames", "forwarded", "dropped", "dup", "corrupt",
                "delayed", "reordered", "faults"):
        table.add_column(col, justify="right" if col not in ("direction", "state", "impairment", "faults") else "left")
    for d in directions:
        faults = ", ".join(f"#{f['fault']} {f['action']} (matched {f['matched']})" for f in d["faults"]) or "-"
        table.add_row(f"{d['from']} → {d['to']}", "[red]down[/]" if d["down"] else "up", impairment_text(d["impair"]),
                      str(d["frames"]), str(d["forwarded"]), str(d["dropped"]), str(d["duplicated"]),
                      str(d["corrupted"]), str(d["delayed"]), str(d["reordered"]), faults)
    return table
