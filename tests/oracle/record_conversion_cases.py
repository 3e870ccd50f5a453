"""Record Data Factory's own answers for conversions the fuzzer found (base64ToBinary, float, sort, decimal).

Run from the repository root with the oracle environment present:

    .venv/bin/python tests/oracle/record_conversion_cases.py

``base64ToBinary`` keeps the text it was given as the content, ``float(text, true)`` ignores the boolean,
``sort(array, null)`` is refused, a decimal divided by a double too small for a decimal is a division by zero,
and ar-SA's exponent signs carry its letter mark (``make oracle-fuzz``, seed 4); and NaN among numbers. Writes
``tests/expressions/cases/conversions.json``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from recording import record  # noqa: E402

OUTPUT = HERE.parents[1] / "tests" / "expressions" / "cases" / "conversions.json"
EXPRESSIONS = [
    "@div(decimal(0), 4.9e-324)",
    "@mod(decimal(1), 4.9e-324)",
    "@div(1, decimal('0.00'))",
    "@mod(decimal('5'), 1e-30)",
    "@formatNumber(0, '#.#e+0', 'ar-SA')",
    "@float('42', true)",
    "@sort(createArray(1, 2, 3), null)",
    "@base64ToBinary('  ')",
    "@float('42', false)",
    "@float('42', 1)",
    "@float('42', null)",
    "@float('x', true)",
    "@float('1,5', true)",
    "@float(42, true)",
    "@base64ToBinary('aGVs bG8=')",
    "@base64ToBinary(' aGVsbG8= ')",
    "@base64ToBinary('aGVsbG8')",
    "@base64ToString(base64ToBinary('aGVs bG8='))",
    "@formatNumber(1234.5, 'E2', 'ar-SA')",
    "@formatNumber(-0.001, '0.0e+0', 'ar-SA')",
    "@formatNumber(-1234.5, 'N2', 'ar-SA')",
    "@sort(createArray(1), null)",
]

# NaN among numbers (the "NaN in comparisons"): comparisons are false, equals too, sort puts it first,
# min gives it and max passes it over, JSON tokens hold it equal to itself, and JSON text writes "NaN".
NAN = [
    "@equals(float('NaN'), float('NaN'))",
    "@equals(float('NaN'), 1)",
    "@less(float('NaN'), 1)",
    "@greater(float('NaN'), 1)",
    "@lessOrEquals(float('NaN'), float('NaN'))",
    "@greaterOrEquals(1, float('NaN'))",
    "@string(sort(createArray(2, float('NaN'), 1)))",
    "@string(max(createArray(2, float('NaN'), 1)))",
    "@string(min(2, float('NaN')))",
    "@contains(createArray(float('NaN')), float('NaN'))",
    "@string(union(createArray(float('NaN')), createArray(float('NaN'))))",
    "@string(intersection(createArray(float('NaN'), 1), createArray(float('NaN'), 1)))",
    "@bool(float('NaN'))",
    "@string(add(float('NaN'), 1))",
    "@equals(decimal('1'), float('NaN'))",
    "@string(json('[NaN]'))",
    "@max(createArray(2, float('NaN'), 1))",
    "@max(float('NaN'), float('NaN'))",
    "@min(createArray(1, float('NaN')))",
    "@max(float('NaN'), 3)",
]
# float(text, culture) with a culture that is no string: read as its text ('True', 'Infinity' pass, '1' not).
CULTURE_VALUES = [
    "@float('42', 1)",
    "@float('42', 1.5)",
    "@float('42', json('1e400'))",
    "@float('42', json('{}'))",
    "@float('42', null)",
    "@float('1,5', 1.5)",
    "@float('x', 1.5)",
    "@float('42', 0)",
    "@float(' 7', json('1e400'))",
]
BRIDGE_ARTEFACTS = ('"NaN"', '"Infinity"', '"-Infinity"')


def _comparable(answer: dict[str, Any]) -> bool:
    # The bridge writes a NaN result as the string "NaN": such answers cannot be told from a real string.
    return not answer.get("ok") or json.dumps(answer["result"]) not in BRIDGE_ARTEFACTS


def main() -> None:
    count = record(EXPRESSIONS + NAN + CULTURE_VALUES, OUTPUT, wanted=_comparable)
    print(f"recorded {count} conversion expressions")


if __name__ == "__main__":
    main()
