"""Syntax tree of one expression (the text between ``@`` and the end, or inside ``@{...}``).

The grammar is small: a literal (string, integer, float, true/false/null) or a function call followed by
any number of accessors (``.name``, ``?.name``, ``[expr]``, ``?[expr]``). Literals cannot be followed by
accessors and there are no operators, which is how the engine's grammar works too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Accessor", "Call", "Literal", "Node", "Path"]


@dataclass(frozen=True, slots=True)
class Literal:
    value: Any
    position: int


@dataclass(frozen=True, slots=True)
class Call:
    """A function call; ``name`` is lower-case, ``spelling`` is as written."""

    name: str
    spelling: str
    args: tuple[Node, ...]
    position: int


@dataclass(frozen=True, slots=True)
class Accessor:
    """One step of a property path: ``key`` is a literal name for ``.name`` or any expression in ``[...]``."""

    key: Node
    null_safe: bool
    position: int


@dataclass(frozen=True, slots=True)
class Path:
    """A call followed by one or more accessors, evaluated left to right."""

    target: Call
    steps: tuple[Accessor, ...]
    position: int


Node = Literal | Call | Path
