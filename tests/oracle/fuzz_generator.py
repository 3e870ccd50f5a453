"""A seeded generator of Data Factory expressions for differential fuzzing (``fuzz_run.py``).

Which functions exist comes from the engine itself (``engine_functions.py`` reflects its function table);
this module knows, for the functions it has a signature for, which kinds of argument are worth passing
(timestamps, .NET format strings, time zones, URIs...), and composes nested calls, ``@{}`` interpolation,
``@@`` escapes, ``.``/``?.``/``[]`` access on nested pipeline parameters, mixed numeric types, nulls,
unicode and boundary numbers. Case ``i`` of seed ``s`` depends on nothing but ``(s, i)`` and the function
table, so one case can be regenerated alone.

Expressions are trees (``Lit``, ``Call``, ``Access``, ``Template``) so that ``fuzz_run.py`` can shrink them.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

# The context every generated case runs in (the oracle adapter carries pipeline() and variables() only).
PIPELINE: dict[str, Any] = {
    "parameters": {
        "a": 1,
        "s": "Hello",
        "n": None,
        "f": 1.5,
        "b": True,
        "e": "",
        "big": 9223372036854775807,
        "neg": -2147483649,
        "u": "é😀ß",
        "t": "2024-02-29T13:45:30.1234567Z",
        "arr": [1, "two", [3, 4], {"k": None}],
        "obj": {"x": 1, "Y": {"z": "q", "arr": [10, 20.5]}, "n": None, "": "empty key"},
        "uri": "https://user@example.com:8080/a/b%20c?x=1&y=2#frag",
    },
    "RunId": "run-1",
    "Pipeline": "pl",
}
VARIABLES: dict[str, Any] = {"v": "x", "varr": [1, "a"], "vnum": 2.5}
CONTEXT: dict[str, Any] = {"pipeline": PIPELINE, "variables": VARIABLES}


def q(text: str) -> str:
    """A string literal in the expression language."""
    return "'" + text.replace("'", "''") + "'"


@dataclass(frozen=True)
class Lit:
    text: str


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple[Node, ...]


@dataclass(frozen=True)
class Access:
    """``target`` followed by steps: ``(".", name)``, ``("?.", name)`` or ``("[", index node)``."""

    target: Node
    steps: tuple[tuple[str, Node | str], ...]


Node = Lit | Call | Access


@dataclass(frozen=True)
class Template:
    """``@expr`` when ``parts`` is one node and ``bare``; otherwise text with ``@{expr}`` interpolations."""

    parts: tuple[str | Node, ...]
    bare: bool


def render(node: Node) -> str:
    if isinstance(node, Lit):
        return node.text
    if isinstance(node, Call):
        return f"{node.name}({', '.join(render(arg) for arg in node.args)})"
    text = render(node.target)
    for op, key in node.steps:
        if op == "[":
            assert not isinstance(key, str)
            text += f"[{render(key)}]"
        else:
            text += f"{op}{key}"
    return text


def render_template(template: Template) -> str:
    if template.bare:
        first = template.parts[0]
        assert not isinstance(first, str)
        return "@" + render(first)
    return "".join(part if isinstance(part, str) else "@{" + render(part) + "}" for part in template.parts)


def outermost(template: Template) -> str | None:
    """The function of the first expression's outermost call (through any accessor); None for none."""
    for part in template.parts:
        if isinstance(part, str):
            continue
        node: Node = part
        while isinstance(node, Access):
            node = node.target
        return node.name if isinstance(node, Call) else None
    return None


# ---------------------------------------------------------------------------------------------- leaves

INTS = [
    "0",
    "1",
    "-1",
    "2",
    "7",
    "-7",
    "100",
    "2147483647",
    "-2147483648",
    "2147483648",
    "4294967296",
    "9223372036854775807",
    "-9223372036854775808",
    "9223372036854775808",
    "99999999999999999999",
]
FLOATS = ["0.0", "-0.0", "1.5", "-2.5", "0.1", "0.5", "2.675", "1e3", "1E-7", "1e308", "-1.7976931348623157e308"]
FLOATS += ["123456789.125", "5.", "4.9e-324", "1.0"]
STRINGS = ["''", "'abc'", "'AbC'", "' x '", "'a,b,c'", "'42'", "'-3'", "'1.5'", "'1e3'", "'true'", "'False'"]
STRINGS += ["'é😀'", "'İı'", "'ß'", "'ǅ'", "'a''b'", "'\\n'", "'  '", "'0x1F'", "'NaN'", "'Infinity'", "'{}'"]
STRINGS += ["'@'", "'@{x}'", "'null'", "'Ω≈ç'", "'😀😀'", "'ab'", "'b'", "'a'", "'1,000.5'", "' 7'"]
ARRAYS = ["createArray(1, 2, 3)", "createArray('a', 'B')", "json('[]')", "json('[1,\"a\",null,[2]]')"]
ARRAYS += ["createArray(1.5, 2)", "createArray(null)", "json('[3,1,2]')", 'json(\'["b","a","C"]\')']
OBJECTS = ["json('{}')", 'json(\'{"a":1,"B":{"c":[1,2]}}\')', "json('{\"a\":null}')"]
TIMESTAMPS = ["2024-02-29T13:45:30.1234567Z", "2024-03-10T02:30:00", "2023-12-31T23:59:59.999Z"]
TIMESTAMPS += ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "2024-01-01", "2024-06-15T12:00:00+05:30"]
TIMESTAMPS += ["2024-11-03T01:30:00-04:00", "not a date", "2024-13-01T00:00:00Z", "1970-01-01T00:00:00.5Z"]
TIMESTAMPS += ["2024-01-01T00:00:00.123Z", "20240101", "2024-02-29 10:00"]
DATE_FORMATS = ["o", "s", "u", "D", "d", "f", "F", "g", "G", "R", "M", "Y", "t", "T", "yyyy-MM-dd"]
DATE_FORMATS += ["yyyy-MM-ddTHH:mm:ss.fffffffK", "dd/MM/yyyy HH:mm", "hh:mm tt", "%d", "yyyyMMdd", "ddd, dd MMM yyyy"]
DATE_FORMATS += ["'at' HH\\h", "zzz", "FFF", "MMMM", "yy", "H:m:s", "", "q", "K", "%K"]
NUMBER_FORMATS = ["N", "N2", "C", "C0", "D5", "E2", "F3", "G", "P1", "X", "x8", "R", "0.00", "#,##0.##"]
NUMBER_FORMATS += ["0%", "00000", "#.#e+0", "0;(0)", "", "Z", "G17", "0.###", "'lit'0"]
LOCALES = ["en-US", "de-DE", "fr-FR", "ja-JP", "ar-SA", "hi-IN", "invalid-XX", "", "en"]
TIME_ZONES = ["UTC", "Pacific Standard Time", "W. Europe Standard Time", "India Standard Time", "Tokyo Standard Time"]
TIME_ZONES += ["Nepal Standard Time", "Chatham Islands Standard Time", "Dateline Standard Time", "Mars"]
TIME_ZONES += ["Line Islands Standard Time", "Eastern Standard Time", "GMT Standard Time", "AUS Eastern Standard Time"]
TIME_ZONES += ["Coordinated Universal Time", "Europe/Berlin", "utc"]
UNITS = ["Second", "Minute", "Hour", "Day", "Week", "Month", "Year", "day", "Fortnight", "Seconds"]
URIS = ["https://user@example.com:8080/a/b%20c?x=1&y=2#frag", "http://example.com", "ftp://h/p", "not a uri"]
URIS += ["https://[::1]:443/", "mailto:a@b.com", "http://example.com/é?q=é", "https://example.com:65536/"]
BASE64 = ["aGVsbG8=", "eyJhIjoxfQ==", "!!", "", "w6k=", "YQ", "8J+YgA=="]
DATA_URIS = ["data:text/plain;charset=utf-8;base64,aGVsbG8=", "data:,abc", "data:text/plain,a%20b", "abc"]
URI_COMPONENTS = ["a%20b", "%E2%82%AC", "%zz", "a+b", "%", "caf%C3%A9"]
JSON_TEXTS = ['{"a":1}', "[1,2]", "1", '"s"', "{bad", "null", "1.0", "12345678901234567890", '{"a":1.50}']
JSON_TEXTS += ["1e400", '{"A":1,"a":2}', "[]", "true", "-0", "0.1"]
TIMESPANS = ["1.02:03:04", "00:00:01", "-00:30:00", "bad", "10675199.02:48:05.4775807"]
XML_TEXTS = ["<a>1</a>", "<a x='1'><b>t</b></a>", "<bad"]
PROPERTIES = ["a", "B", "x", "new", "", "a.b"]

ACCESSES: list[Node] = []


def _pipeline(*steps: tuple[str, Node | str]) -> Access:
    return Access(Call("pipeline", ()), steps)


ACCESSES = [
    _pipeline((".", "parameters"), (".", "a")),
    _pipeline((".", "parameters"), (".", "s")),
    _pipeline((".", "parameters"), (".", "n")),
    _pipeline((".", "parameters"), (".", "f")),
    _pipeline((".", "parameters"), (".", "big")),
    _pipeline((".", "parameters"), (".", "neg")),
    _pipeline((".", "parameters"), (".", "u")),
    _pipeline((".", "parameters"), (".", "t")),
    _pipeline((".", "parameters"), (".", "arr")),
    _pipeline((".", "parameters"), (".", "obj")),
    _pipeline((".", "parameters"), (".", "obj"), (".", "Y"), (".", "z")),
    _pipeline((".", "parameters"), (".", "obj"), ("?.", "y"), ("?.", "arr"), ("[", Lit("1"))),
    _pipeline((".", "parameters"), (".", "obj"), ("?.", "missing"), ("?.", "deeper")),
    _pipeline((".", "parameters"), (".", "n"), ("?.", "x")),
    _pipeline((".", "parameters"), (".", "arr"), ("[", Lit("2")), ("[", Lit("0"))),
    _pipeline((".", "parameters"), (".", "arr"), ("[", Lit("3")), ("?.", "k")),
    _pipeline((".", "parameters"), ("[", Lit("'obj'")), ("[", Lit("'Y'")), ("[", Lit("'arr'"))),
    _pipeline((".", "parameters"), (".", "obj"), ("[", Lit("''"))),
    _pipeline((".", "parameters"), (".", "arr"), ("[", Lit("9"))),
    _pipeline((".", "parameters"), (".", "arr"), ("[", Lit("-1"))),
    _pipeline((".", "parameters"), (".", "missing")),
    _pipeline((".", "parameters"), ("?.", "missing")),
    _pipeline((".", "parameters"), (".", "s"), ("[", Lit("0"))),
    _pipeline((".", "parameters"), (".", "uri")),
    _pipeline((".", "RunId")),
    _pipeline((".", "parameters"), (".", "OBJ"), (".", "x")),
    Call("variables", (Lit("'v'"),)),
    Call("variables", (Lit("'varr'"),)),
    Call("variables", (Lit("'vnum'"),)),
    Access(Call("variables", (Lit("'varr'"),)), (("[", Lit("1")),)),
]


def _strings(values: list[str]) -> list[str]:
    return [q(value) for value in values]


# Leaves per argument kind; "any" mixes all of them.
LEAVES: dict[str, list[str]] = {
    "int": INTS,
    "num": INTS + FLOATS,
    "str": STRINGS,
    "bool": ["true", "false", "True"],
    "null": ["null"],
    "arr": ARRAYS,
    "obj": OBJECTS,
    "ts": _strings(TIMESTAMPS),
    "dfmt": _strings(DATE_FORMATS),
    "nfmt": _strings(NUMBER_FORMATS),
    "locale": _strings(LOCALES),
    "tz": _strings(TIME_ZONES),
    "unit": _strings(UNITS),
    "uri": _strings(URIS),
    "b64": _strings(BASE64),
    "datauri": _strings(DATA_URIS),
    "uricomp": _strings(URI_COMPONENTS),
    "jsontext": _strings(JSON_TEXTS),
    "timespan": _strings(TIMESPANS),
    "xmltext": _strings(XML_TEXTS),
    "prop": _strings(PROPERTIES),
    "xpath": _strings(["/a", "string(/a)", "//b/text()", "count(//*)", "bad["]),
}
ANY_KINDS = ["int", "num", "num", "str", "str", "str", "bool", "null", "arr", "obj"]
# Kinds a nested call may stand in for, by what it returns.
COLL = ("arr", "str", "obj")

# Argument signatures of the functions worth composing: each entry is one arity, a tuple of kinds.
# "coll" is a string, array or object; "any" is anything. Unlisted engine functions get generic arguments.
SIGNATURES: dict[str, list[tuple[str, ...]]] = {
    "concat": [("any",), ("any", "any"), ("str", "any", "any"), ()],
    "substring": [("str", "int"), ("str", "int", "int")],
    "replace": [("str", "str", "str")],
    "toLower": [("str",)],
    "toUpper": [("str",)],
    "trim": [("str",)],
    "indexOf": [("str", "str")],
    "lastIndexOf": [("str", "str")],
    "nthIndexOf": [("str", "str", "int")],
    "split": [("str", "str")],
    "startsWith": [("str", "str")],
    "endsWith": [("str", "str")],
    "slice": [("str", "int"), ("str", "int", "int")],
    "chunk": [("coll", "int")],
    "length": [("coll",)],
    "contains": [("coll", "any")],
    "empty": [("coll",)],
    "first": [("coll",)],
    "last": [("coll",)],
    "join": [("arr", "str")],
    "union": [("arr", "arr"), ("obj", "obj"), ("arr", "arr", "arr")],
    "intersection": [("arr", "arr"), ("obj", "obj")],
    "take": [("coll", "int")],
    "skip": [("coll", "int")],
    "reverse": [("coll",)],
    "sort": [("arr",), ("arr", "str")],
    "createArray": [("any",), ("any", "any"), ("any", "any", "any")],
    "range": [("int", "int")],
    "equals": [("any", "any")],
    "strongEquals": [("any", "any")],
    "less": [("num", "num"), ("str", "str")],
    "lessOrEquals": [("num", "num"), ("str", "str")],
    "greater": [("num", "num"), ("str", "str")],
    "greaterOrEquals": [("num", "num"), ("str", "str")],
    "and": [("bool", "bool"), ("bool", "bool", "bool")],
    "or": [("bool", "bool"), ("bool", "bool", "bool")],
    "not": [("bool",)],
    "if": [("bool", "any", "any")],
    "coalesce": [("any", "any"), ("null", "any", "any")],
    "string": [("any",)],
    "int": [("any",), ("str",)],
    "float": [("any",), ("str",), ("str", "locale")],
    "decimal": [("any",), ("str",)],
    "bool": [("any",)],
    "json": [("jsontext",), ("any",)],
    "parse": [("jsontext",)],
    "array": [("any",)],
    "isInt": [("str",), ("any",)],
    "isFloat": [("str",), ("str", "locale")],
    "base64": [("str",), ("any",)],
    "encodeBase64": [("str",)],
    "base64ToString": [("b64",)],
    "decodeBase64": [("b64",)],
    "base64ToBinary": [("b64",)],
    "base64ToJson": [("b64",)],
    "binary": [("str",)],
    "dataUri": [("str",), ("any",)],
    "dataUriToString": [("datauri",)],
    "dataUriToBinary": [("datauri",)],
    "decodeDataUri": [("datauri",)],
    "uriComponent": [("str",), ("any",)],
    "encodeUriComponent": [("str",)],
    "uriComponentToString": [("uricomp",)],
    "uriComponentToBinary": [("uricomp",)],
    "decodeUriComponent": [("uricomp",)],
    "xml": [("xmltext",), ("obj",)],
    "xpath": [("xmlnode", "xpath")],
    "add": [("num", "num")],
    "sub": [("num", "num")],
    "mul": [("num", "num")],
    "div": [("num", "num")],
    "mod": [("num", "num")],
    "min": [("num",), ("num", "num"), ("arr",), ("num", "num", "num")],
    "max": [("num",), ("num", "num"), ("arr",), ("num", "num", "num")],
    "formatNumber": [("num", "nfmt"), ("num", "nfmt", "locale")],
    "addDays": [("ts", "int"), ("ts", "int", "dfmt")],
    "addHours": [("ts", "int"), ("ts", "int", "dfmt")],
    "addMinutes": [("ts", "int"), ("ts", "int", "dfmt")],
    "addSeconds": [("ts", "int"), ("ts", "int", "dfmt")],
    "addToTime": [("ts", "int", "unit"), ("ts", "int", "unit", "dfmt")],
    "subtractFromTime": [("ts", "int", "unit"), ("ts", "int", "unit", "dfmt")],
    "formatDateTime": [("ts",), ("ts", "dfmt"), ("ts", "dfmt", "locale")],
    "parseDateTime": [("ts",), ("ts", "locale"), ("ts", "locale", "dfmt")],
    "convertFromUtc": [("ts", "tz"), ("ts", "tz", "dfmt")],
    "convertToUtc": [("ts", "tz"), ("ts", "tz", "dfmt")],
    "convertTimeZone": [("ts", "tz", "tz"), ("ts", "tz", "tz", "dfmt")],
    "startOfDay": [("ts",), ("ts", "dfmt")],
    "startOfHour": [("ts",), ("ts", "dfmt")],
    "startOfMonth": [("ts",), ("ts", "dfmt")],
    "dayOfMonth": [("ts",)],
    "dayOfWeek": [("ts",)],
    "dayOfYear": [("ts",)],
    "ticks": [("ts",)],
    "dateDifference": [("ts", "ts")],
    "formatTimeSpan": [("timespan",), ("timespan", "str")],
    "uriHost": [("uri",)],
    "uriPath": [("uri",)],
    "uriPathAndQuery": [("uri",)],
    "uriPort": [("uri",)],
    "uriQuery": [("uri",)],
    "uriScheme": [("uri",)],
    "addProperty": [("obj", "prop", "any")],
    "setProperty": [("obj", "prop", "any")],
    "removeProperty": [("obj", "prop")],
}
# What a call returns, for nesting a call where an argument of that kind is wanted ("any": anywhere).
RETURNS: dict[str, str] = dict.fromkeys(("concat", "substring", "replace", "toLower", "toUpper", "trim"), "str")
RETURNS.update(dict.fromkeys(("slice", "string", "base64", "encodeBase64", "base64ToString"), "str"))
RETURNS.update(dict.fromkeys(("decodeBase64", "uriComponent", "encodeUriComponent", "formatNumber"), "str"))
RETURNS.update(dict.fromkeys(("uriComponentToString", "decodeUriComponent", "dataUriToString", "join"), "str"))
RETURNS.update(dict.fromkeys(("uriHost", "uriPath", "uriPathAndQuery", "uriQuery", "uriScheme"), "str"))
RETURNS.update(dict.fromkeys(("dataUri", "formatTimeSpan"), "str"))
RETURNS.update(dict.fromkeys(("addDays", "addHours", "addMinutes", "addSeconds", "addToTime"), "ts"))
RETURNS.update(dict.fromkeys(("subtractFromTime", "formatDateTime", "parseDateTime", "convertFromUtc"), "ts"))
RETURNS.update(dict.fromkeys(("convertToUtc", "convertTimeZone", "startOfDay", "startOfHour"), "ts"))
RETURNS.update({"startOfMonth": "ts", "dateDifference": "timespan"})
RETURNS.update(dict.fromkeys(("indexOf", "lastIndexOf", "nthIndexOf", "length", "int", "dayOfMonth"), "int"))
RETURNS.update(dict.fromkeys(("dayOfWeek", "dayOfYear", "ticks", "uriPort"), "int"))
RETURNS.update(dict.fromkeys(("add", "sub", "mul", "div", "mod", "min", "max", "float", "decimal"), "num"))
RETURNS.update(dict.fromkeys(("startsWith", "endsWith", "contains", "empty", "equals", "strongEquals"), "bool"))
RETURNS.update(dict.fromkeys(("less", "lessOrEquals", "greater", "greaterOrEquals", "and", "or"), "bool"))
RETURNS.update(dict.fromkeys(("not", "bool", "isInt", "isFloat"), "bool"))
RETURNS.update(dict.fromkeys(("split", "chunk", "createArray", "range", "array", "sort", "xpath"), "arr"))
RETURNS.update(dict.fromkeys(("union", "intersection", "take", "skip", "reverse"), "coll"))
RETURNS.update(dict.fromkeys(("addProperty", "setProperty", "removeProperty", "base64ToJson"), "obj"))
RETURNS.update(dict.fromkeys(("first", "last", "if", "coalesce", "json", "parse"), "any"))
RETURNS.update(dict.fromkeys(("xml",), "xmlnode"))
RETURNS.update(dict.fromkeys(("binary", "base64ToBinary", "dataUriToBinary", "uriComponentToBinary"), "binary"))
RETURNS.update({"decodeDataUri": "binary"})

FAMILIES: dict[str, tuple[str, ...]] = {
    "string": (
        "concat",
        "substring",
        "replace",
        "toLower",
        "toUpper",
        "trim",
        "indexOf",
        "lastIndexOf",
        "nthIndexOf",
        "split",
        "startsWith",
        "endsWith",
        "slice",
        "guid",
        "formatNumber",
    ),
    "collection": (
        "length",
        "contains",
        "empty",
        "first",
        "last",
        "join",
        "union",
        "intersection",
        "take",
        "skip",
        "reverse",
        "sort",
        "chunk",
        "createArray",
    ),
    "logical": (
        "equals",
        "strongEquals",
        "less",
        "lessOrEquals",
        "greater",
        "greaterOrEquals",
        "and",
        "or",
        "not",
        "if",
        "coalesce",
    ),
    "conversion": (
        "string",
        "int",
        "float",
        "decimal",
        "bool",
        "json",
        "parse",
        "array",
        "isInt",
        "isFloat",
        "base64",
        "encodeBase64",
        "base64ToString",
        "decodeBase64",
        "base64ToBinary",
        "base64ToJson",
        "binary",
        "dataUri",
        "dataUriToString",
        "dataUriToBinary",
        "decodeDataUri",
        "uriComponent",
        "encodeUriComponent",
        "uriComponentToString",
        "uriComponentToBinary",
        "decodeUriComponent",
        "xml",
        "xpath",
    ),
    "math": ("add", "sub", "mul", "div", "mod", "min", "max", "range", "rand"),
    "date": (
        "addDays",
        "addHours",
        "addMinutes",
        "addSeconds",
        "addToTime",
        "subtractFromTime",
        "formatDateTime",
        "parseDateTime",
        "convertFromUtc",
        "convertToUtc",
        "convertTimeZone",
        "startOfDay",
        "startOfHour",
        "startOfMonth",
        "dayOfMonth",
        "dayOfWeek",
        "dayOfYear",
        "ticks",
        "dateDifference",
        "formatTimeSpan",
        "utcNow",
        "getFutureTime",
        "getPastTime",
    ),
    "uri": ("uriHost", "uriPath", "uriPathAndQuery", "uriPort", "uriQuery", "uriScheme"),
    "object": ("addProperty", "setProperty", "removeProperty", "pipeline", "variables"),
}
_FAMILY_OF = {name.lower(): family for family, names in FAMILIES.items() for name in names}


def family(template: Template) -> str:
    """The family of the outermost call of the first expression ("object" for accessors, "literal" for none)."""
    name = outermost(template)
    if name is None:
        return "literal"
    return _FAMILY_OF.get(name.lower(), "other")


TEXT_PARTS = ["v=", "", " ", "a@@b", "@@{x}", "é😀", "{", "}", "x@", "'", "@@", " & ", "\t", "@{'a'}"]


class Generator:
    """Expressions over the engine's own functions (``functions``: every name its table registers)."""

    def __init__(self, functions: list[str], excluded: set[str]) -> None:
        canonical = {name.lower(): name for name in SIGNATURES}
        lowered = {name.lower() for name in excluded}
        self.functions = sorted(
            {canonical.get(name.lower(), name) for name in functions if name.lower() not in lowered},
            key=str.lower,
        )
        self.without_signature = [name for name in self.functions if name not in SIGNATURES]
        self.by_return: dict[str, list[str]] = {}
        for name in self.functions:
            self.by_return.setdefault(RETURNS.get(name, "any"), []).append(name)

    def case(self, seed: int, index: int) -> Template:
        rng = random.Random(f"{seed}:{index}")
        # Every function is the outermost call equally often; the rest of the tree is random.
        name = self.functions[index % len(self.functions)] if rng.random() < 0.85 else None
        root = self.call(rng, name, 3) if name else self.arg(rng, "any", 3)
        roll = rng.random()
        if roll < 0.7:
            return Template((root,), bare=True)
        if roll < 0.85:
            return Template((rng.choice(TEXT_PARTS), root, rng.choice(TEXT_PARTS)), bare=False)
        second = self.arg(rng, "any", 1)
        return Template((rng.choice(TEXT_PARTS), root, rng.choice(TEXT_PARTS), second), bare=False)

    def call(self, rng: random.Random, name: str, depth: int) -> Node:
        signatures = SIGNATURES.get(name)
        if signatures is None:
            kinds: tuple[str, ...] = ("any",) * rng.choice((0, 1, 2, 3))
        else:
            kinds = rng.choice(signatures)
            if rng.random() < 0.04:  # a wrong argument count now and then
                kinds = (*kinds, "any") if rng.random() < 0.5 or not kinds else kinds[:-1]
        node: Node = Call(name, tuple(self.arg(rng, kind, depth - 1) for kind in kinds))
        if rng.random() < 0.05:
            node = Access(node, ((rng.choice((".", "?.")), rng.choice(("a", "B", "length"))),))
        elif rng.random() < 0.04:
            node = Access(node, (("[", Lit(rng.choice(("0", "1", "'a'", "-1")))),))
        return node

    def arg(self, rng: random.Random, kind: str, depth: int) -> Node:
        roll = rng.random()
        if roll < 0.12:  # the wrong type on purpose
            kind = rng.choice(ANY_KINDS)
        if kind == "any":
            kind = rng.choice(ANY_KINDS)
        if kind == "coll":
            kind = rng.choice(COLL)
        if depth > 0 and rng.random() < 0.35:
            candidates = self.by_return.get(kind, []) + self.by_return.get("any", [])
            if kind in ("str", "ts", "int", "num", "arr", "obj"):
                candidates += self.by_return.get("coll" if kind in COLL else "num", [])
            if candidates:
                return self.call(rng, rng.choice(candidates), depth)
        if rng.random() < 0.12 and kind in ("int", "num", "str", "arr", "obj", "null", "ts", "bool", "uri"):
            return rng.choice(ACCESSES)
        if kind == "xmlnode":
            return Call("xml", (Lit(rng.choice(LEAVES["xmltext"])),))
        if kind == "binary":
            return Call("binary", (Lit(rng.choice(STRINGS)),))
        if kind == "timespan" and rng.random() < 0.5:
            return Lit(rng.choice(LEAVES["timespan"]))
        return Lit(rng.choice(LEAVES.get(kind, STRINGS)))


# ------------------------------------------------------------------------------------------- shrinking

SIMPLE = ["null", "0", "1", "''", "'a'", "true", "1.5"]


def _replacements(node: Node) -> Iterator[Node]:
    """Simpler nodes to try in place of ``node``."""
    if isinstance(node, Call):
        yield from node.args
        for index in range(len(node.args)):
            yield replace(node, args=node.args[:index] + node.args[index + 1 :])
    elif isinstance(node, Access):
        yield node.target
        if len(node.steps) > 1:
            yield replace(node, steps=node.steps[:-1])
        for index, (op, _key) in enumerate(node.steps):
            if op == "?.":
                yield replace(node, steps=(*node.steps[:index], (".", _key), *node.steps[index + 1 :]))
    for text in SIMPLE:
        if not (isinstance(node, Lit) and len(node.text) <= len(text)):
            yield Lit(text)


def _variants(node: Node) -> Iterator[Node]:
    """``node`` with one subtree (itself included) replaced by something simpler."""
    yield from _replacements(node)
    if isinstance(node, Call):
        for index, arg in enumerate(node.args):
            for variant in _variants(arg):
                yield replace(node, args=(*node.args[:index], variant, *node.args[index + 1 :]))
    elif isinstance(node, Access):
        for variant in _variants(node.target):
            yield replace(node, target=variant)
        for index, (op, key) in enumerate(node.steps):
            if isinstance(key, str):
                continue
            for variant in _variants(key):
                yield replace(node, steps=(*node.steps[:index], (op, variant), *node.steps[index + 1 :]))


def template_variants(template: Template) -> Iterator[Template]:
    """Every one-step simplification of a template, smallest rendering first."""
    found: list[Template] = []
    nodes = [index for index, part in enumerate(template.parts) if not isinstance(part, str)]
    if not template.bare:
        for index in nodes:
            part = template.parts[index]
            assert not isinstance(part, str)
            found.append(Template((part,), bare=True))
            found.append(Template((part,), bare=False))
        for index, part in enumerate(template.parts):
            if isinstance(part, str) or len(nodes) > 1:
                rest = template.parts[:index] + template.parts[index + 1 :]
                if any(not isinstance(p, str) for p in rest):
                    found.append(Template(rest, bare=False))
    for index in nodes:
        part = template.parts[index]
        assert not isinstance(part, str)
        for variant in _variants(part):
            found.append(replace(template, parts=(*template.parts[:index], variant, *template.parts[index + 1 :])))
    size = len(render_template(template))
    smaller = [variant for variant in found if len(render_template(variant)) < size]
    smaller.sort(key=lambda variant: len(render_template(variant)))
    return iter(smaller)
