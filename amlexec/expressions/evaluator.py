"""Turn parsed templates into fast evaluators and run them against a context.

Each syntax tree is compiled once into nested Python closures, so evaluating a cached template costs a
handful of function calls. ``if``, ``and``, ``or`` and ``coalesce`` evaluate their arguments lazily, as the
engine does (``if(true, 1, div(1, 0))`` is ``1``). Work is metered: every string or array a function
builds is charged against ``Limits.max_total_work``.

Safety nets: an unexpected Python exception while parsing or evaluating (a bug in amlexec) reaches the
caller as an ``ExpressionError``, so one bad template fails one request rather than the host, and is logged
once at WARNING with the expression text (never the values it ran on) so operators can report it. In
strict mode (``AMLEXEC_EXPRESSIONS_STRICT=1`` when this module is imported, or ``set_strict(True)``) it is
raised as ``InternalExpressionError`` instead, which no ``except ExpressionError`` swallows; the test suite
and the fuzzers run that way, so their "never crashes" checks can see such a bug.
"""

from __future__ import annotations

import difflib
import logging
import os
import traceback
from collections import OrderedDict
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path as FilePath
from threading import Lock
from typing import Any

from amlexec.expressions.ast import Call, Literal, Node, Path
from amlexec.expressions.dotnet_decimal import MADE as DECIMALS_MADE
from amlexec.expressions.dotnet_decimal import plain_numbers
from amlexec.expressions.errors import (
    ExpressionError,
    ExpressionEvaluationError,
    ExpressionLimitError,
    ExpressionSyntaxError,
    InternalExpressionError,
)
from amlexec.expressions.functions import CONTEXT_FUNCTIONS, FUNCTIONS, NONDETERMINISTIC_FUNCTIONS
from amlexec.expressions.limits import LIMITS
from amlexec.expressions.parser import ParsedTemplate, parse_template
from amlexec.expressions.values import to_text, type_name

__all__ = ["Evaluation", "Template", "compile_template", "evaluate", "is_strict", "set_strict"]

Compiled = Callable[["Evaluation"], Any]

logger = logging.getLogger(__name__)

STRICT_ENV = "AMLEXEC_EXPRESSIONS_STRICT"
# Read once: the check sits on the error path only, but an environment lookup per failure is still waste.
_strict = os.environ.get(STRICT_ENV, "").strip().lower() not in ("", "0", "false", "no", "off")


def is_strict() -> bool:
    """True when internal errors are raised as ``InternalExpressionError`` instead of being masked."""
    return _strict


def set_strict(enabled: bool) -> bool:
    """Turn strict mode on or off (tests, fuzzers); returns the previous setting."""
    global _strict
    previous, _strict = _strict, enabled
    return previous


# Expressions whose masked internal error was already logged: one warning per bug and template is enough,
# and a hostile stream of one failing expression must not flood the log. Bounded; cleared when full.
_LOGGED: set[tuple[str, str, str]] = set()
_LOGGED_LIMIT = 1024
_LOGGED_LOCK = Lock()


def _innermost_frame(error: BaseException) -> str:
    frames = traceback.extract_tb(error.__traceback__)
    if not frames:
        return "?"
    frame = frames[-1]
    return f"{FilePath(frame.filename).name}:{frame.lineno} in {frame.name}"


def _mask(stage: str, text: str, error: Exception) -> None:
    """Raise ``InternalExpressionError`` in strict mode; otherwise log the bug once and return."""
    shown = text[:200]
    if _strict:
        raise InternalExpressionError(stage, shown, error) from error
    where = _innermost_frame(error)
    key = (shown, type(error).__name__, where)
    with _LOGGED_LOCK:
        if key in _LOGGED:
            return
        if len(_LOGGED) >= _LOGGED_LIMIT:
            _LOGGED.clear()
        _LOGGED.add(key)
    # Neither the exception's message nor its traceback: either can quote the values the expression ran on,
    # which may be secureInput parameters. The type and the innermost frame are enough to find the bug.
    logger.warning(
        "internal error (%s at %s) while %s the expression %r; the caller got an ExpressionError",
        type(error).__name__,
        where,
        stage,
        shown,
    )


class Evaluation:
    """One evaluation in progress: the context, the clock and the work meter (a ``CallContext``)."""

    __slots__ = ("_now", "context", "work")

    def __init__(self, context: Mapping[str, Any] | None, now: datetime | None) -> None:
        self.context: Mapping[str, Any] = context if context is not None else {}
        self._now = now
        self.work = 0

    def now(self) -> datetime:
        if self._now is None:
            self._now = datetime.now(UTC)
        elif self._now.tzinfo is None:
            self._now = self._now.replace(tzinfo=UTC)
        return self._now

    def charge(self, amount: int) -> None:
        self.work += amount
        if self.work > LIMITS.max_total_work:
            raise ExpressionLimitError(
                f"the expression produced more than {LIMITS.max_total_work} characters and elements in total"
            )


def _charge_result(result: Any, evaluation: Evaluation, name: str) -> Any:
    if isinstance(result, str):
        size = len(result)
        if size > LIMITS.max_string_length:
            raise ExpressionLimitError(
                f"function '{name}' would build a string of {size} characters; the limit is {LIMITS.max_string_length}"
            )
        evaluation.charge(size + 1)
    elif isinstance(result, list):
        size = len(result)
        if size > LIMITS.max_collection_length:
            raise ExpressionLimitError(
                f"function '{name}' would build an array of {size} elements; "
                f"the limit is {LIMITS.max_collection_length}"
            )
        evaluation.charge(size + 1)
    else:
        evaluation.charge(1)
    return result


def _compile_literal(node: Literal) -> Compiled:
    value = node.value
    return lambda _evaluation: value


def _compile_call(node: Call) -> Compiled:
    error = _call_error(node)
    if error is not None:
        failure = error

        def fail(_evaluation: Evaluation) -> Any:
            raise ExpressionSyntaxError(failure.message, position=failure.position, function=failure.function)

        return fail
    spec = FUNCTIONS[node.name]
    arg_fns = tuple(_compile_node(arg) for arg in node.args)
    name = spec.name
    if node.name == "if":
        return _compile_if(arg_fns)
    if node.name in ("and", "or"):
        return _compile_and_or(node.name, arg_fns)
    if node.name == "coalesce":
        return _compile_coalesce(arg_fns)
    impl = spec.impl
    key = node.name
    if not arg_fns:
        # pipeline(), utcNow() and the like: most calls in a template, no arguments to collect.

        def call_none(evaluation: Evaluation) -> Any:
            try:
                return _charge_result(impl((), evaluation), evaluation, name)
            except ExpressionError as error:
                _attribute(error, key)
                raise

        return call_none
    if len(arg_fns) == 1:
        only = arg_fns[0]

        def call_one(evaluation: Evaluation) -> Any:
            value = only(evaluation)
            try:
                return _charge_result(impl((value,), evaluation), evaluation, name)
            except ExpressionError as error:
                _attribute(error, key)
                raise

        return call_one

    def call(evaluation: Evaluation) -> Any:
        # Arguments are evaluated outside the try: their errors belong to the calls or paths inside them.
        args = [fn(evaluation) for fn in arg_fns]
        try:
            return _charge_result(impl(args, evaluation), evaluation, name)
        except ExpressionError as error:
            _attribute(error, key)
            raise

    return call


def _attribute(error: ExpressionError, function: str) -> None:
    # One place names the failing function, so the ~200 raise sites in the library need not.
    if error.function is None:
        error.function = function


def _compile_if(arg_fns: tuple[Compiled, ...]) -> Compiled:
    condition, when_true, when_false = arg_fns

    def call_if(evaluation: Evaluation) -> Any:
        test = condition(evaluation)
        if test is True:
            return when_true(evaluation)
        if test is False:
            return when_false(evaluation)
        raise ExpressionEvaluationError(
            f"function 'if' expects its first argument to be a boolean, got {type_name(test)}", function="if"
        )

    return call_if


def _compile_and_or(name: str, arg_fns: tuple[Compiled, ...]) -> Compiled:
    # The engine stops at the first deciding operand and never looks at the rest.
    deciding = name == "or"

    def call_logic(evaluation: Evaluation) -> Any:
        for index, fn in enumerate(arg_fns):
            value = fn(evaluation)
            if value is not True and value is not False:
                raise ExpressionEvaluationError(
                    f"function '{name}' expects booleans; argument {index + 1} is {type_name(value)}",
                    function=name,
                )
            if value is deciding:
                return deciding
        return not deciding

    return call_logic


def _compile_coalesce(arg_fns: tuple[Compiled, ...]) -> Compiled:
    def call_coalesce(evaluation: Evaluation) -> Any:
        for fn in arg_fns:
            value = fn(evaluation)
            if value is not None:
                return value
        return None

    return call_coalesce


def _int32(value: int) -> int:
    # The engine narrows indexes to a 32-bit int before using them.
    return ((value + 2**31) % 2**32) - 2**31


def _select(target: Any, key: Any, null_safe: bool, position: int) -> Any:
    """One accessor step on a non-null target."""
    if isinstance(target, dict):
        if not isinstance(key, str):
            raise ExpressionEvaluationError(
                f"cannot select {to_text(key)!r} at position {position}: object properties can only be "
                f"selected by name (a string), got {type_name(key)}",
                position=position,
            )
        if key in target:
            return target[key]
        folded = key.lower()
        for name, member in target.items():
            if name.lower() == folded:
                return member
        if null_safe:
            return None
        available = ", ".join(target)[:300]
        raise ExpressionEvaluationError(
            f"property '{key}' at position {position} doesn't exist; available properties are '{available}'",
            position=position,
        )
    if isinstance(target, list):
        if type(key) is not int:
            raise ExpressionEvaluationError(
                f"cannot select {to_text(key)!r} at position {position}: array elements can only be "
                f"selected with an integer index, got {type_name(key)}",
                position=position,
            )
        index = _int32(key)
        if 0 <= index < len(target):
            return target[index]
        if null_safe:
            return None
        raise ExpressionEvaluationError(
            f"array index {index} at position {position} is outside the bounds (0, {len(target) - 1}) of the array",
            position=position,
        )
    raise ExpressionEvaluationError(
        f"cannot select {to_text(key)!r} at position {position}: property selection is not supported on "
        f"values of type {type_name(target)}",
        position=position,
    )


def _compile_path(node: Path) -> Compiled:
    target_fn = _compile_call(node.target)
    steps: list[tuple[Compiled, bool, int]] = [
        (_compile_node(step.key), step.null_safe, step.position) for step in node.steps
    ]

    def walk(evaluation: Evaluation) -> Any:
        value = target_fn(evaluation)
        for key_fn, null_safe, position in steps:
            if value is None:
                if null_safe:
                    # '?' on a null value ends the whole path with null, like C#'s '?.'.
                    return None
                key = key_fn(evaluation)
                raise ExpressionEvaluationError(
                    f"cannot select {to_text(key)!r} at position {position}: the value is null "
                    "(use '?.' or '?[...]' for null-safe access)",
                    position=position,
                )
            value = _select(value, key_fn(evaluation), null_safe, position)
        return value

    return walk


def _compile_node(node: Node) -> Compiled:
    if isinstance(node, Literal):
        return _compile_literal(node)
    if isinstance(node, Call):
        return _compile_call(node)
    return _compile_path(node)


# Arguments a function may never evaluate: the engine checks a call only when it evaluates it, so a wrong call
# there fails only if that argument is reached (recorded: @or(true, concat()) is true, @if(true, 1, x()) is 1).
_LAZY_FROM = {"if": 1, "and": 1, "or": 1, "coalesce": 1}


def _call_error(call: Call) -> ExpressionSyntaxError | None:
    """Why a call cannot be made (an unknown function or a wrong argument count), or None."""
    spec = FUNCTIONS.get(call.name)
    if spec is None:
        near = difflib.get_close_matches(call.name, FUNCTIONS, n=1, cutoff=0.75)
        hint = f" (did you mean '{FUNCTIONS[near[0]].name}'?)" if near else ""
        return ExpressionSyntaxError(
            f"unknown function '{call.spelling}' at position {call.position}{hint}",
            position=call.position,
            function=call.name,
        )
    count = len(call.args)
    if count < spec.min_args or (spec.max_args is not None and count > spec.max_args):
        if spec.max_args is None:
            expected = f"at least {spec.min_args}"
        elif spec.min_args == spec.max_args:
            expected = str(spec.min_args)
        else:
            expected = f"{spec.min_args} to {spec.max_args}"
        plural = "" if expected == "1" else "s"
        return ExpressionSyntaxError(
            f"function '{spec.name}' at position {call.position} expects {expected} "
            f"argument{plural} but was given {count}",
            position=call.position,
            function=call.name,
        )
    return None


def _check_calls(node: Node, functions: set[str], references: dict[str, set[str]]) -> None:
    """Reject unknown functions and wrong argument counts where the call is always made (a call in an argument
    that if/and/or/coalesce may skip fails when evaluated instead); collect names used (iteratively)."""
    stack: list[tuple[Node, bool]] = [(node, False)]
    while stack:
        current, lazy = stack.pop()
        if isinstance(current, Literal):
            continue
        if isinstance(current, Path):
            stack.append((current.target, lazy))
            stack.extend((step.key, lazy) for step in current.steps)
            continue
        error = _call_error(current)
        if error is not None:
            if not lazy:
                raise error
            continue  # _compile_call builds a call that raises this error if it is ever evaluated
        functions.add(current.name)
        if current.name in CONTEXT_FUNCTIONS:
            names = references.setdefault(current.name, set())
            if current.args and isinstance(current.args[0], Literal) and isinstance(current.args[0].value, str):
                names.add(current.args[0].value)
        lazy_from = _LAZY_FROM.get(current.name, len(current.args))
        stack.extend((arg, lazy or index >= lazy_from) for index, arg in enumerate(current.args))


class Template:
    """A parsed string value, ready to evaluate many times.

    ``is_expression`` is False for plain text (including ``@@`` escapes); ``functions`` holds the
    lower-case names of every function used; ``roots`` the context functions used (``pipeline``,
    ``variables``, ``activity``, ``item``, ``trigger``, ``linkedservice``, ``dataset``); ``references``
    maps each context function to the literal names passed to it (``variables('x')`` -> ``{'x'}``);
    ``deterministic`` is False when the value depends on the clock or randomness.
    """

    __slots__ = ("_evaluator", "deterministic", "functions", "is_expression", "references", "roots", "text")

    def __init__(self, text: str, parsed: ParsedTemplate) -> None:
        self.text = text
        functions: set[str] = set()
        references: dict[str, set[str]] = {}
        nodes = [part for part in parsed.parts if not isinstance(part, str)]
        for node in nodes:
            _check_calls(node, functions, references)
        self.functions: frozenset[str] = frozenset(functions)
        self.roots: frozenset[str] = frozenset(functions & CONTEXT_FUNCTIONS)
        self.references: dict[str, frozenset[str]] = {k: frozenset(v) for k, v in references.items()}
        self.deterministic = not (functions & NONDETERMINISTIC_FUNCTIONS)
        self.is_expression = bool(nodes)
        self._evaluator = self._build(parsed)

    @staticmethod
    def _build(parsed: ParsedTemplate) -> Compiled:
        if parsed.whole:
            node = parsed.parts[0]
            assert not isinstance(node, str)
            return _compile_node(node)
        if len(parsed.parts) == 1 and isinstance(parsed.parts[0], str):
            constant = parsed.parts[0]
            return lambda _evaluation: constant
        pieces: list[str | Compiled] = [part if isinstance(part, str) else _compile_node(part) for part in parsed.parts]

        def interpolate(evaluation: Evaluation) -> str:
            out = []
            total = 0
            for piece in pieces:
                text = piece if isinstance(piece, str) else to_text(piece(evaluation))
                # Check as it grows: a large value interpolated many times must stop at the limit, not after
                # the whole string was built.
                total += len(text)
                if total > LIMITS.max_string_length:
                    raise ExpressionLimitError(
                        f"the interpolated string would be more than {LIMITS.max_string_length} characters"
                    )
                evaluation.charge(len(text))
                out.append(text)
            return "".join(out)

        return interpolate

    def evaluate(self, context: Mapping[str, Any] | None = None, *, now: datetime | None = None) -> Any:
        """The value of this template in ``context``; raises only ``ExpressionError`` subclasses."""
        evaluation = Evaluation(context, now)
        try:
            result = self._evaluator(evaluation)
            # Decimals are rare: until a process makes one, no result pays for the walk turning them into doubles.
            return plain_numbers(result) if DECIMALS_MADE[0] and type(result) is not str else result
        except ExpressionError:
            raise
        except RecursionError:
            raise ExpressionLimitError("the values are nested too deeply to evaluate") from None
        except MemoryError:
            raise ExpressionLimitError("the expression needs too much memory") from None
        except Exception as error:  # a bug or an unforeseen input must still surface as an ExpressionError
            _mask("evaluating", self.text, error)
            raise ExpressionEvaluationError(
                f"cannot evaluate {self.text[:200]!r}: internal error ({type(error).__name__})"
            ) from error

    def __repr__(self) -> str:
        return f"Template({self.text[:80]!r})"


_CACHE: OrderedDict[str, Template] = OrderedDict()
_CACHE_LOCK = Lock()


def compile_template(text: str) -> Template:
    """Parse and check ``text`` once (cached, bounded LRU); raises ``ExpressionSyntaxError``/``...LimitError``."""
    if not isinstance(text, str):
        raise ExpressionSyntaxError(f"an expression must be a string, got {type(text).__name__}")
    with _CACHE_LOCK:
        cached = _CACHE.get(text)
        if cached is not None:
            _CACHE.move_to_end(text)
            return cached
    try:
        template = Template(text, parse_template(text))
    except ExpressionError:
        raise
    except RecursionError:
        raise ExpressionLimitError("the expression nests too deeply") from None
    except Exception as error:  # never let a parser bug escape as another exception type
        _mask("parsing", text, error)
        raise ExpressionSyntaxError(f"cannot parse {text[:200]!r}: internal error ({type(error).__name__})") from error
    with _CACHE_LOCK:
        _CACHE[text] = template
        if len(_CACHE) > LIMITS.template_cache_size:
            _CACHE.popitem(last=False)
    return template


def evaluate(expression: str, context: Mapping[str, Any] | None = None, *, now: datetime | None = None) -> Any:
    """Evaluate one JSON string value (plain text, ``@expr`` or ``...@{expr}...``) in ``context``."""
    return compile_template(expression).evaluate(context, now=now)
