"""Record Data Factory's own answers for number text: scientific custom formats, negative zero, infinity.

Run from the repository root with the oracle environment present:

    .venv/bin/python tests/oracle/record_number_cases.py

Differential fuzzing (``make oracle-fuzz``) found these: ``formatNumber`` custom formats with an exponent
(``0.0E+0``, ``#.#e-00``), the sign of -0.0, a null culture, the cultures' infinity symbols in ``float`` /
``isFloat``, ``int('NaN')``, and integers beyond 64 bits written as text. Writes
``tests/expressions/cases/numbers.json``.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from recording import record  # noqa: E402

OUTPUT = HERE.parents[1] / "tests" / "expressions" / "cases" / "numbers.json"
SCIENTIFIC = [
    "#.#e+0",
    "0.00E+00",
    "0.00e-00",
    "0.00E+0",
    "0.00E-0",
    "0.0e0",
    "##0.0E+0",
    "0E+0",
    "#E+0",
    "0.###E+000",
    "0,0.0E+0",
    "#,##0.0E+0",
    "0E0",
    "0.0e+",
    "E+0",
    "0.0E+0%",
    "0.0E+0;(0.0E+0)",
    "00.00E+0",
    "#0.0E+0",
    ".00E+0",
    "#.##E+0",
    "#E-00",
    "0.0E-00",
    "0.0E+000",
    "0.0E+0 units",
    "'x'0.0E+0",
    "0.0'E+0'",
    "0.0e",
    "0.0E+",
    "0.0E-",
    "0.0 e+0",
    "00E+0",
    "#0E+0",
    "0#E+0",
    "0.00000000000000000000E+0",
]
NUMBERS = [
    "1234.5",
    "-1234.5",
    "0",
    "-0.0",
    "0.5",
    "95",
    "99.5",
    "1",
    "0.00012345",
    "-0.012345",
    "9.995",
    "1E+100",
    "1.5E-100",
    "123456",
    "9223372036854775807",
    "12345678901234567890",
]
SIGNED_ZERO = ["F2", "N2", "G", "E2", "P1", "C", "C0", "0.00", "#", "#.##", "0.00;(0.00)", "0.00;(0.00);zero", "R"]
POSITIONAL = (
    "a format whose digit placeholders stand apart (around an escaped E, or after an exponent): .NET hands out "
    "the digits placeholder by placeholder, amlexec writes the number at the first one"
)
POSITIONAL_FORMATS = ["0.0\\E+0", "0.0E+0E+0", "0.0E+00.00", "0.0E+0#"]


def expressions() -> list[str]:
    out = [f"@formatNumber({number}, '{pattern}')" for pattern in SCIENTIFIC for number in NUMBERS]
    out += [f"@formatNumber(123, '{pattern}')" for pattern in POSITIONAL_FORMATS]
    out += [f"@formatNumber(1234.5, '{pattern}', 'de-DE')" for pattern in ("0.0E+0", "#,##0.0E+0")]
    out += [f"@formatNumber(-0.0, '{pattern}')" for pattern in SIGNED_ZERO]
    out += [f"@formatNumber(-0.0001, '{pattern}')" for pattern in ("0.0", "#.#", "0.00E+0")]
    out += [f"@formatNumber({n}, '{p}')" for n in ("-0.0", "-1", "0") for p in ("@{x}", "abc", "abc;xyz", "'#'")]
    out += ["@formatNumber(0, '', null)", "@formatNumber(0, 'F2', null)", "@formatNumber(0, 'F2', '')"]
    for text in ("Infinity", "infinity", "-Infinity", "+Infinity", " Infinity ", "NaN", "nan", "-NaN", "∞", "-∞", "+∞"):
        out += [f"@{{float('{text}')}}", f"@{{float('{text}', '')}}", f"@{{float('{text}', 'en-US')}}"]
        out += [f"@isFloat('{text}')", f"@isFloat('{text}', '')", f"@isFloat('{text}', 'en-US')"]
        out += [f"@{{float('{text}', 'de-DE')}}", f"@int('{text}')"]
    out += ["@int('1e300')", "@int('9223372036854775808')", "@int('-9223372036854775809')", "@int(1e300)"]
    big = "json('12345678901234567890')"
    out += [
        f"@string({big})",
        f"@concat('a', {big})",
        f"@{{{big}}}",
        f"@string(createArray({big}))",
        "@{json('[12345678901234567890]')}",
        "@join(json('[12345678901234567890]'), ',')",
    ]
    return out


def main() -> None:
    deviations = {f"@formatNumber(123, '{pattern}')": POSITIONAL for pattern in POSITIONAL_FORMATS}
    print(f"recorded {record(expressions(), OUTPUT, deviations=deviations)} number-text expressions")


if __name__ == "__main__":
    main()
