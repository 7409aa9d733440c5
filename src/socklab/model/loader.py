"""Find a lab file, read it, validate it: one clear LabFileError for every kind of mistake."""

from __future__ import annotations

from pathlib import Path

from socklab import nogc
from socklab.errors import LabFileError
from socklab.model import labcache
from socklab.model.lab import Lab

LAB_FILE = "lab.yaml"


def shipped_labs_dir() -> Path:
    """labs/ beside src/ in a checkout (editable install)."""
    return Path(__file__).resolve().parents[3] / "labs"


def shipped_lab_names() -> list[str]:
    """The labs under labs/, by name."""
    return sorted(p.parent.name for p in shipped_labs_dir().glob(f"*/{LAB_FILE}"))


def find_lab_file(ref: str | Path) -> Path:
    """A folder holding lab.yaml, a lab file, or the name of a shipped lab."""
    path = Path(ref)
    if path.is_dir():
        path = path / LAB_FILE
        if not path.is_file():
            raise LabFileError(str(path), f"no {LAB_FILE} in this folder")
        return path
    if path.is_file():
        return path
    shipped = shipped_labs_dir() / str(ref) / LAB_FILE
    if "/" not in str(ref) and shipped.is_file():
        return shipped
    names = shipped_lab_names()
    hint = f" (shipped labs: {', '.join(names)})" if names else ""
    raise LabFileError(str(ref), f"no such lab file or folder{hint}")


def load_lab(ref: str | Path) -> Lab:
    """The lab a folder, file or shipped name refers to, validated (or as validated before:
    model/labcache.py keeps the Lab of an unchanged file read by unchanged code)."""
    path = find_lab_file(ref)
    try:
        data = path.read_bytes()
        text = data.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")  # as text mode reads it
    except (OSError, UnicodeDecodeError) as err:
        raise LabFileError(str(path), f"cannot read: {err}") from None
    lab = labcache.get(data, path)
    if not isinstance(lab, Lab):
        lab = parse_lab(text, path)
        labcache.put(data, path, lab)
    return lab


def parse_lab(text: str, path: Path | None = None) -> Lab:
    """Validate lab file text. `path` is used for messages and to find the lab's files."""
    with nogc.paused():
        return _parse_lab(text, path)


def _parse_lab(text: str, path: Path | None) -> Lab:
    import yaml  # none of these is needed where the cache answers
    from pydantic import ValidationError

    from socklab.model.resolve import ResolveError, resolve
    from socklab.model.spec import LabSpec
    from socklab.model.yamlsource import parse_yaml

    where = str(path) if path else "<lab>"
    try:
        doc = parse_yaml(text)
    except RecursionError:  # the pure-Python loader (no libyaml) recurses once per nesting level
        raise LabFileError(where, "invalid YAML: nested too deeply") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        problem = getattr(err, "problem", None) or str(err)
        raise LabFileError(where, f"invalid YAML: {problem}", line=mark.line + 1 if mark else None) from None
    if not isinstance(doc.data, dict):
        raise LabFileError(where, "a lab file is a mapping with at least name: and nodes:", line=1)
    try:
        spec = LabSpec.model_validate(doc.data)
    except RecursionError:
        raise LabFileError(where, "values nested too deeply", line=1) from None
    except ValidationError as err:
        first, *others = err.errors()
        loc = tuple(first["loc"])
        field = _dotted(loc)
        path = _yaml_path(loc)
        # a union's other branches fail at the union itself (capture: a list, or "all"/"none"):
        # an error at a parent of the one reported is that, not another problem
        parents = {path[:i] for i in range(len(path) + 1)}
        more = sum(1 for o in others if _yaml_path(tuple(o["loc"])) not in parents)
        message = _clean(first["msg"]) + (f" (and {more} more problem{'s' * (more > 1)})" if more else "")
        raise LabFileError(where, message, field=field or None, line=doc.line_of(_yaml_path(loc))) from None
    try:
        return resolve(spec, source=path.resolve() if path else None)
    except ResolveError as err:
        raise LabFileError(where, err.message, field=_dotted(err.path), line=doc.line_of(err.path)) from None


def _yaml_path(loc: tuple) -> tuple:
    """Drop pydantic's union-branch and validator names from a loc so it matches YAML keys
    (and the two wrappers an `impair:` mapping is read into: both directions, or per end)."""
    kept = tuple(p for p in loc if isinstance(p, int) or not (str(p).startswith(("function-", "tagged-union")) or "[" in str(p)))
    return tuple(p for i, p in enumerate(kept) if not (p in ("both", "per_end") and i and kept[i - 1] == "impair"))


def _dotted(loc: tuple) -> str:
    parts = _yaml_path(loc)
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _clean(msg: str) -> str:
    return msg.removeprefix("Value error, ")
