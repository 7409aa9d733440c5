"""YAML to plain data, and the line of any value when an error must point at it.

Values come from libyaml's C parser (about 10x faster than the pure-Python loader on a
10,000-node lab file), strings, mappings and lists built by hand from its nodes (load_data).
Lines are found only when asked: the first `line_of` composes the text again (C parser, node
marks) and indexes every value's line; a valid lab file never pays for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

Path_ = tuple[str | int, ...]
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C loader where libyaml is built in


@dataclass
class YamlDocument:
    data: Any
    text: str = ""
    _lines: dict[Path_, int] | None = None

    @property
    def lines(self) -> dict[Path_, int]:
        """The 1-based line of every value and key, by path (computed on first use)."""
        if self._lines is None:
            self._lines = _index_lines(self.text)
        return self._lines

    def line_of(self, path: Path_) -> int | None:
        """The line of the deepest known prefix of path (1-based), if any."""
        lines = self.lines
        for cut in range(len(path), -1, -1):
            line = lines.get(tuple(path[:cut]))
            if line is not None:
                return line
        return None


def parse_yaml(text: str) -> YamlDocument:
    """Parse one YAML document. Raises yaml.YAMLError with a mark on bad syntax."""
    return YamlDocument(data=load_data(text), text=text)


_STR, _MAP, _SEQ = "tag:yaml.org,2002:str", "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"


def load_data(text: str) -> Any:
    """What `yaml.load(text, CSafeLoader)` returns, about 15% faster on big lab files.

    Why by hand: PyYAML's constructor runs in Python even with libyaml, and most of a lab
    file is strings, string-keyed mappings and lists. Those are built here directly from
    libyaml's node tree; every other node (numbers, booleans, null, merge keys, sets,
    non-string keys...) goes to PyYAML's own constructor, so the result is the same. An
    alias is the same Python object as its anchor, as with PyYAML.
    """
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None
        built: dict[int, Any] = {}
        aliased = False  # a node met twice: an alias
        slow = loader.construct_object

        def build(node: yaml.Node) -> Any:
            tag = node.tag
            if tag == _STR:
                return node.value
            done = built.get(id(node))
            if done is not None:
                nonlocal aliased
                aliased = True
                return done
            if tag == _MAP and all(key.tag == _STR for key, _ in node.value):
                mapping: dict[str, Any] = {}
                built[id(node)] = mapping
                for key, value in node.value:
                    mapping[key.value] = build(value)
                return mapping
            if tag == _SEQ:
                items: list[Any] = []
                built[id(node)] = items
                items.extend(build(item) for item in node.value)
                return items
            done = built[id(node)] = slow(node, deep=True)
            return done

        data = build(root)
        if aliased:
            _check_expansion(root)
        return data
    finally:
        loader.dispose()


MAX_VALUES = 2_000_000
"""The most values a lab file may stand for once its aliases are expanded (a 10,000-node lab
file has about 100,000). Aliases let a few lines stand for billions of values ("billion
laughs"), which validation would then walk."""


def _check_expansion(root: yaml.Node) -> None:
    """Refuse a document whose aliases expand it beyond MAX_VALUES (each node sized once)."""
    sizes: dict[int, int] = {}
    entered: set[int] = set()  # a node inside itself (&r [*r]) counts once: validation stops at its depth
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in sizes or (not children_done and id(node) in entered):
            continue
        kids = [n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode) else (
            node.value if isinstance(node, yaml.SequenceNode) else [])
        if not children_done:
            entered.add(id(node))
            stack.append((node, True))
            stack.extend((kid, False) for kid in kids if id(kid) not in sizes and id(kid) not in entered)
            continue
        size = 1 + sum(sizes.get(id(kid), 1) for kid in kids)
        if size > MAX_VALUES:
            raise yaml.constructor.ConstructorError(
                None, None, f"its aliases expand this document to more than {MAX_VALUES:,} values", node.start_mark)
        sizes[id(node)] = size


def _index_lines(text: str) -> dict[Path_, int]:
    """Walk the node tree (iteratively: nesting depth must not reach Python's recursion limit)."""
    lines: dict[Path_, int] = {}
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError:
        return lines
    stack: list[tuple[yaml.Node, Path_]] = [(root, ())] if root is not None else []
    seen: set[int] = set()  # an alias is indexed where it stands, not expanded again
    while stack:
        node, path = stack.pop()
        lines.setdefault(path, node.start_mark.line + 1)
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                key = key_node.value
                if not isinstance(key, str):
                    continue  # a complex key never names a field
                lines[(*path, key)] = key_node.start_mark.line + 1  # a key's line wins over its value's
                stack.append((value_node, (*path, key)))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((item, (*path, index)) for index, item in enumerate(node.value))
    return lines
