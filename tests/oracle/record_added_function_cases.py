"""Record Data Factory's own answers where differential fuzzing found amlexec wrong.

The functions it lacked (strongEquals, base64ToJson), json() of text that is no number ('12abc', a
timestamp), decimal() of an exponent, property names with '[', ']' or '.', counts and indexes beyond 32 bits
(the engine wraps them), sort() of numbers mixed with booleans (0 and 1), float(text, culture), and calls in
arguments if/and/or/coalesce skip (checked only when evaluated).

Run from the repository root with the oracle environment present:

    .venv/bin/python tests/oracle/record_added_function_cases.py

Writes ``tests/expressions/cases/added_functions.json``.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from recording import record  # noqa: E402

OUTPUT = HERE.parents[1] / "tests" / "expressions" / "cases" / "added_functions.json"
EXPRESSIONS = [
    "@strongEquals(0, 0)",
    "@strongEquals(0, 0.0)",
    "@strongEquals(1.5, 1)",
    "@strongEquals(1, '1')",
    "@strongEquals('a', 'A')",
    "@strongEquals('a', 'a')",
    "@strongEquals(null, null)",
    "@strongEquals(null, 'a')",
    "@strongEquals('a', null)",
    "@strongEquals(json('{}'), null)",
    "@strongEquals(null, true)",
    "@strongEquals(1, null)",
    "@strongEquals(null, 1.5)",
    "@strongEquals(true, 1)",
    "@strongEquals(true, true)",
    "@strongEquals(createArray(1,2), createArray(1,2))",
    "@strongEquals(createArray(1,2), createArray(2,1))",
    "@strongEquals(json('{\"a\":1}'), json('{\"a\":1}'))",
    "@strongEquals(createArray(1), json('{}'))",
    "@base64ToJson('eyJhIjoxfQ==')",
    "@base64ToJson('WzEsMl0=')",
    "@base64ToJson('MQ==')",
    "@base64ToJson('InRleHQi')",
    "@base64ToJson('bnVsbA==')",
    "@base64ToJson('bm90IGpzb24=')",
    "@base64ToJson('!!')",
    "@base64ToJson(1)",
    "@base64ToJson('')",
    "@json('1 2')",
    "@json('[1] x')",
    "@json('{}x')",
    "@json('1 ')",
    "@json('12abc')",
    "@json('2024-02-29T13:45:30Z')",
    "@json('2024')",
    "@json('-1.5e3,')",
    "@decimal('1e3')",
    "@decimal('1E3')",
    "@decimal('1.5e0')",
    "@decimal('1.50')",
    "@addProperty(json('{\"a\":null}'), 'a.b', 0)",
    "@addProperty(json('{}'), 'a]', 1)",
    "@setProperty(json('{}'), 'a.b', 1)",
    "@setProperty(json('{}'), 'a[0]', 1)",
    "@removeProperty(json('{}'), 'a.b')",
    "@removeProperty(json('{\"a\":1}'), 'a')",
    "@setProperty(json('{}'), 'a-b c', 1)",
    "@take(createArray(1,2,3), 4294967297)",
    "@skip(createArray(1,2,3), 4294967297)",
    "@take('abc', 4294967298)",
    "@skip('abc', 4294967298)",
    "@skip('', 2147483648)",
    "@take('', 2147483648)",
    "@skip('abc', 9223372036854775807)",
    "@substring('abc', 4294967297)",
    "@substring('abc', 0, 4294967298)",
    "@substring('abc', -4294967295)",
    "@substring('abc', 4294967296, 1)",
    "@substring('a', -9223372036854775808)",
    "@slice('abc', 4294967297)",
    "@slice('abc', 0, 4294967298)",
    "@slice('abc', -4294967295)",
    "@slice('a', 4294967296)",
    "@nthIndexOf('abcabc', 'b', 4294967298)",
    "@sort(createArray(0, true))",
    "@sort(createArray(true, 0))",
    "@sort(createArray(true, false, 1, 0))",
    "@sort(createArray(5, true, 1))",
    "@sort(createArray(true, 2, false, -1))",
    "@sort(createArray(1, 'a'))",
    "@sort(createArray(true, 'a'))",
    "@float('1,000.5', '')",
    "@float('1.000,5', 'de-DE')",
    "@float('1,000.5', 'en-US')",
    "@float('1 000,5', 'fr-FR')",
    "@float('abc', 'en-US')",
    "@float(1, 'en-US')",
    "@float('1.5', 'x')",
    "@float('1.5', null)",
    "@string(float('NaN', ''))",
    "@or(true, frobnicate())",
    "@or(true, concat())",
    "@if(true, 1, concat())",
    "@if(false, concat(), 1)",
    "@if(true, 1, frobnicate())",
    "@coalesce(1, frobnicate())",
    "@coalesce(null, 2, concat())",
    "@and(false, concat())",
    "@and(true, concat())",
    "@equals(1, concat())",
    "@createArray(1, if(true, 2, concat()))",
    "@or(true, parse())",
    "@if(concat(), 1, 2)",
    "@or(true, add(1))",
    # toUpper: simple case mapping (Greek ypogegrammeni letters map one-to-one); dotless i stays.
    "@toUpper('İı')",
    "@toUpper('ᾳῳᾀᾷ')",
    "@toLower('ᾼİ')",
    "@indexOf('abcı', 'I')",
    "@indexOf('ᾳ', 'ᾼ')",
    # nthIndexOf: an empty sought string is found at 0 before the occurrence is checked.
    "@nthIndexOf('', '', 0)",
    "@nthIndexOf('abc', '', 0)",
    "@nthIndexOf('abc', '', 4294967296)",
    "@nthIndexOf('abc', 'b', 0)",
    # chunk: a checked 32-bit size; arrays refuse sizes beyond .NET's Array.MaxLength.
    "@chunk('', 2147483648)",
    "@chunk('abc', -2147483649)",
    "@chunk('abc', 2147483647)",
    "@chunk(createArray(null), 2147483591)",
    "@chunk(createArray(null), 2147483592)",
    "@chunk(json('[]'), 2147483647)",
    "@chunk(1, 2147483648)",
    # equals/strongEquals take two or more values.
    "@equals(0, 0, 0)",
    "@equals(0, 0, 1)",
    "@equals(1, 1.0, 1)",
    "@equals('a', 'a', 'b')",
    "@equals(createArray(1), createArray(1), createArray(1.0))",
    "@equals(9007199254740993, 9007199254740992, 9007199254740992.0)",
    "@equals(9007199254740993, 9007199254740992, 9007199254740992)",
    "@strongEquals(1, 1.0, 1)",
    "@strongEquals('a', null, 'a')",
    "@strongEquals(1, 1, '1')",
    # setProperty of an existing property moves it to the end.
    '@string(setProperty(json(\'{"a":1,"b":2,"c":3}\'), \'b\', 0))',
    '@string(setProperty(json(\'{"a":1,"b":2,"c":3}\'), \'B\', 0))',
    "@string(setProperty(json('{\"b\":1,\"a\":2}'), 'c', 0))",
    '@string(setProperty(json(\'{"a":{"x":1},"b":2}\'), \'a\', json(\'{"y":1}\')))',
]


def main() -> None:
    print(f"recorded {record(EXPRESSIONS, OUTPUT)} expressions")


if __name__ == "__main__":
    main()
