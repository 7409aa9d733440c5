"""YAML to plain data, remembering the line of every value so errors can point at it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

Path_ = tuple[str | int, ...]


@dataclass
class YamlDocument:
    data: Any
    lines: dict[Path_, int] = field(default_factory=dict)

    def line_of(self, path: Path_) -> int | None:
        """The line of the deepest known prefix of path (1-based), if any."""
        for cut in range(len(path), -1, -1):
            line = self.lines.get(tuple(path[:cut]))
            if line is not None:
                return line
        return None


def parse_yaml(text: str) -> YamlDocument:
    """Parse one YAML document. Raises yaml.YAMLError with a mark on bad syntax."""
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    doc = YamlDocument(data=None)
    if node is None:
        return doc
    # construct values with the safe constructor, then walk the node tree for lines
    loader = yaml.SafeLoader("")
    try:
        doc.data = loader.construct_document(node)
    finally:
        loader.dispose()
    _record_lines(node, (), doc.lines)
    return doc


def _record_lines(node: yaml.Node, path: Path_, lines: dict[Path_, int]) -> None:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            lines[(*path, key)] = key_node.start_mark.line + 1
            _record_lines(value_node, (*path, key), lines)
            lines[(*path, key)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _record_lines(item, (*path, index), lines)
