"""Say which failure an engine error was: its kind (syntax, evaluation) and the function that failed.

The recorders (``record_core_cases.py``, ``record_date_cases.py``) call ``classify`` to write each error
case as ``"error": {"kind": ..., "function": ...}``; run this file to rewrite the case files in place from
the ``engine_message`` already recorded:

    .venv/bin/python tests/oracle/classify_errors.py            # rewrite tests/expressions/cases/*.json
    .venv/bin/python tests/oracle/classify_errors.py --check    # only report what would change

How a message maps onto amlexec's kinds (``amlexec.expressions.errors``):

* the parser's messages ("Unable to parse template language expression ...", "The template language
  expression '...' is not valid: ...", an unterminated string constant) are ``syntax`` with no function;
* "The template function 'f' is not defined or not valid" is ``syntax`` naming ``f``: amlexec finds unknown
  functions when it compiles;
* a wrong number of arguments ("... The function was invoked with no parameters." / "with '3'
  parameter(s)", confirmed by a call of that function with that many arguments in the expression) is
  ``syntax`` naming the function, for the same reason. The engine only notices both when it evaluates;
* everything else is ``evaluation``, naming the function the message names, or none for a failed property
  or index selection. A few engine messages name no function ("Object must implement IConvertible.");
  those take the expression's outermost call, and ``main`` lists them for review.

A case recorded without an engine message (the older date cases) is classified from its expression alone:
a call with an argument count outside the function's documented range is ``syntax``, anything else is an
``evaluation`` failure of the outermost call.
"""

from __future__ import annotations

import argparse
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

from amlexec.expressions.ast import Call, Literal, Node
from amlexec.expressions.ast import Path as PathNode
from amlexec.expressions.errors import ExpressionError
from amlexec.expressions.functions import FUNCTIONS
from amlexec.expressions.parser import parse_template

ROOT = Path(__file__).resolve().parents[2]
CASES = ROOT / "tests" / "expressions" / "cases"

# The lexer's messages quote the expression between their head and their end, so a long one may have lost
# its middle ("is not valid: ") to ``shorten``; their endings are distinctive enough.
_PARSE_ERRORS = (
    re.compile(r"^Unable to parse template language expression "),
    re.compile(r"^The template language expression .* is not valid: "),
    re.compile(r"' cannot be converted to number\.$"),
    re.compile(r"' is not expected\.$"),
    re.compile(r" is not terminated\. (?:String constants must be enclosed|Make sure that every)"),
)
_UNKNOWN_FUNCTION = re.compile(r"^The template function '(?P<name>[^']+)' is not defined or not valid\.")
_ARITY = re.compile(r"The function was invoked with (?:no parameters|'(?P<count>\d+)' parameter\(s\))\.")
_NAMED = (
    re.compile(r"^(?:The )?[Tt]emplate language function '(?P<name>[^']+)'"),
    re.compile(r"^The provided parameters for template language function '(?P<name>[^']+)'"),
    re.compile(r"^The template language '(?P<name>[^']+)' function "),
    re.compile(r"^In (?:the template language )?function '(?P<name>[^']+)'"),
    re.compile(r" in function '(?P<name>[^']+)'\.$"),
)
_VARIABLE = re.compile(r"the template variable '[^']*' cannot be found")
# A value @{...} cannot write as text fails the interpolation, not the function that made the value.
_INTERPOLATION = re.compile(r"one of string interpolation segments is not valid")
_SELECTION = re.compile(r"^The template language expression .* cannot be evaluated because (?:property|array index) ")


def shorten(message: str, limit: int = 300) -> str:
    """The first line of an engine message as recorded: long ones lose their middle, not their end.

    The middle is where the engine quotes the expression back, and the end is what says which failure it
    was ("... is not valid: the value ... cannot be converted to number."), which ``classify`` reads.
    """
    line = message.split("\n", maxsplit=1)[0]
    if len(line) <= limit:
        return line
    tail = limit // 3
    return line[: limit - tail - 5] + " ... " + line[-tail:]


def _calls(expression: str) -> list[Call] | None:
    """Every call in the expression, outermost first; None when it does not parse."""
    try:
        parsed = parse_template(expression)
    except ExpressionError:
        return None
    found: list[Call] = []
    stack: list[Node] = [part for part in parsed.parts if not isinstance(part, str)]
    stack.reverse()
    while stack:
        node = stack.pop()
        if isinstance(node, Literal):
            continue
        if isinstance(node, PathNode):
            stack.extend(reversed([step.key for step in node.steps]))
            stack.append(node.target)
            continue
        found.append(node)
        stack.extend(reversed(node.args))
    return found


def _outermost(expression: str) -> str | None:
    calls = _calls(expression)
    return calls[0].name if calls else None


def classify(expression: str, engine_message: str | None) -> tuple[dict[str, Any], bool]:
    """The ``error`` expectation for a case, and whether the function was inferred from the expression."""
    if engine_message is None:
        return _from_expression(expression)
    message = engine_message.strip()
    unknown = _UNKNOWN_FUNCTION.search(message)
    if unknown:
        return {"kind": "syntax", "function": unknown["name"].lower()}, False
    if _SELECTION.search(message) or _INTERPOLATION.search(message):
        return {"kind": "evaluation", "function": None}, False
    if any(pattern.search(message) for pattern in _PARSE_ERRORS):
        return {"kind": "syntax", "function": None}, False
    if _VARIABLE.search(message):
        return {"kind": "evaluation", "function": "variables"}, False
    name = next((m["name"] for pattern in _NAMED if (m := pattern.search(message))), None)
    if name is None:
        return {"kind": "evaluation", "function": _outermost(expression)}, True
    function = name.lower()
    arity = _ARITY.search(message)
    if arity:
        count = int(arity["count"] or 0)
        # "invoked with no parameters" also describes max(json('[]')): an empty array is a value, not a count.
        if any(call.name == function and len(call.args) == count for call in _calls(expression) or []):
            return {"kind": "syntax", "function": function}, False
    return {"kind": "evaluation", "function": function}, False


def _from_expression(expression: str) -> tuple[dict[str, Any], bool]:
    calls = _calls(expression)
    if calls is None:
        return {"kind": "syntax", "function": None}, True
    for call in calls:
        spec = FUNCTIONS.get(call.name)
        if spec is None:
            return {"kind": "syntax", "function": call.name}, True
        count = len(call.args)
        if count < spec.min_args or (spec.max_args is not None and count > spec.max_args):
            return {"kind": "syntax", "function": call.name}, True
    return {"kind": "evaluation", "function": calls[0].name if calls else None}, True


def rewrite(path: Path, *, write: bool = True) -> tuple[int, Counter[str], list[str], int]:
    """Classify every error case of one file; returns (changed, counts by kind, cases whose function came
    from the expression although the engine's message was recorded, cases without an engine message)."""
    cases = json.loads(path.read_text(encoding="utf-8"))
    changed = 0
    kinds: Counter[str] = Counter()
    inferred: list[str] = []
    without_message = 0
    for case in cases:
        if "error" not in case:
            continue
        message = case.get("engine_message")
        expected, guessed = classify(case["expression"], message)
        if message is None:
            without_message += 1
        elif guessed:
            inferred.append(f"{case['expression']}  ->  {expected['function']}  ({message[:60]})")
        kinds[f"{expected['kind']}, {'a function' if expected['function'] else 'no function'}"] += 1
        if case["error"] != expected:
            case["error"] = expected
            changed += 1
    if changed and write:
        path.write_text(json.dumps(cases, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return changed, kinds, inferred, without_message


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report only; exit 1 if a file would change")
    args = parser.parse_args()
    dirty = False
    for path in sorted(CASES.glob("*.json")):
        changed, kinds, inferred, without_message = rewrite(path, write=not args.check)
        dirty = dirty or bool(changed)
        print(
            f"{path.name}: {sum(kinds.values())} error cases ({dict(sorted(kinds.items()))}), {changed} "
            f"{'to change' if args.check else 'changed'}, {without_message} without an engine message"
        )
        for line in inferred:
            print(f"  function taken from the expression: {line}")
    if dirty and args.check:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
