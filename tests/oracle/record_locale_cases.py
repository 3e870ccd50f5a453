"""Record how Data Factory's engine answers culture-dependent expressions into tests/expressions/cases/locales.json.

Run with the project interpreter (the engine itself runs in ``.venv-oracle``, see engine.py):

    .venv/bin/python tests/oracle/record_locale_cases.py

Covers ``formatNumber`` / ``isFloat`` with standard and custom number formats, ``formatDateTime`` with the
standard and a few custom date formats, and ``parseDateTime`` reading back what the engine wrote, for a set
of cultures plus unknown and malformed culture names. The engine runs .NET on ICU, so its culture data is
ICU's CLDR as patched by .NET (e.g. U+202F before AM/PM in en-US times).

A recorded answer amlexec does not reproduce gets ``"deviation"`` from ``DEVIATIONS`` (the first pattern
matching the expression); one no pattern explains is written as ``"deviation": "unexplained"`` and listed,
so a reviewer sees it.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from engine import Oracle, oracle_python
from recording import answer_fields

OUT = Path(__file__).resolve().parents[1] / "expressions" / "cases" / "locales.json"

CULTURES = [
    "en-US",
    "en-GB",
    "de-DE",
    "fr-FR",
    "hi-IN",
    "ja-JP",
    "ar-SA",
    "nl-NL",
    "sv-SE",
    "pt-BR",
    "zh-CN",
    "",
]
# Names that are not in the list above: a neutral culture, odd case, an unknown but well-formed name, an
# underscore and a malformed name.
ODD_NAMES = ["de", "EN-us", "fr-fr", "xx-YY", "en_US", "nonsense-locale-!!"]

NUMBERS = ["1234.5", "-1234.5678", "0.125", "1234567", "-42", "0"]
NUMBER_FORMATS = ["C", "C2", "N", "N2", "P", "F", "E", "D", "G", "#,##0.00", "0.0%"]

TIMESTAMPS = ["2024-01-02T15:04:05Z", "2024-09-28T03:04:05.123Z"]
DATE_FORMATS = ["d", "D", "f", "F", "g", "G", "m", "M", "t", "T", "y", "Y", "dddd, dd MMMM yyyy", "MMM", "tt"]
EXTRA_DATE_FORMATS = ["ddd", "MMMM", "dd/MM/yyyy HH:mm", "g"]

# Why amlexec differs, for recorded cases it does not reproduce: (pattern over the expression, reason).
DEVIATIONS: list[tuple[str, str]] = [
    (
        r"'1900-04-30T00:00:00Z', 'd', 'ar-SA'",
        "Umm al-Qura dates before 1924-08-01: hijridate's table starts at 1343 AH, .NET's at 1318 AH (1900)",
    ),
    (
        r"formatDateTime\(.*'[fg]', 'th-TH'\)",
        "th-TH's short time: the engine's ICU data writes HH:mm, the CLDR release in Babel 'HH:mm น.' (whose dot"
        " .NET keeps)",
    ),
    (
        r"formatDateTime\(.*'[dgG]', '(id-ID|vi-VN)'\)",
        "the short date of id-ID and vi-VN: the engine's ICU data writes dd/MM/yyyy, the CLDR release in Babel"
        " d/M/yyyy",
    ),
    (
        r"^@parseDateTime\('[^']*', '[^']*'\)$",
        "lenient parseDateTime does not read every shape .NET's DateTime.Parse reads in other cultures: Korean and"
        " Greek AM/PM designators, fr-CA's '15 h 04', Vietnamese month names with a number ('Tháng 1'), Thai",
    ),
]
# The cultures whose default calendar is not the Gregorian one: Umm al-Qura (ar, ar-SA; not ar-EG) and the
# Thai Buddhist era (th, th-TH), at the edges of the Umm al-Qura table, in custom formats and read back.
CALENDAR_CASES = [
    *(
        f"@formatDateTime('{ts}', '{fmt}', '{culture}')"
        for culture in ("ar-SA", "ar", "ar-EG", "th-TH", "th")
        for ts in ("2024-03-11T00:00:00Z", "2025-06-26T12:00:00Z", "1924-08-01T00:00:00Z", "2077-11-16T00:00:00Z")
        for fmt in ("d", "D", "Y", "M", "yyyy-MM-dd", "dd MMMM yyyy g", "MMM yy")
    ),
    "@formatDateTime('2077-11-17T00:00:00Z', 'd', 'ar-SA')",
    "@formatDateTime('1900-04-30T00:00:00Z', 'd', 'ar-SA')",
    "@parseDateTime('1445-09-01', 'ar-SA', 'yyyy-MM-dd')",
    "@parseDateTime('1 رمضان 1445', 'ar-SA')",
    "@parseDateTime('2567-01-02', 'th-TH', 'yyyy-MM-dd')",
    "@parseDateTime('2 มกราคม 2567', 'th-TH')",
    # ParseExact reads the culture's separator for '/' or the character itself.
    "@parseDateTime('31/01/2024', 'de-DE', 'dd/MM/yyyy')",
    "@parseDateTime('31.01.2024', 'de-DE', 'dd/MM/yyyy')",
    "@parseDateTime('20/6/1445', 'ar-SA', 'd/M/yyyy')",
    "@parseDateTime('20\u200f/6\u200f/1445', 'ar-SA', 'd/M/yyyy')",
]
# More cultures whose standard shapes are written by the engine and read back leniently (month and day
# names, pattern words such as 'de' and 年, a day name last, the culture's time separator).
READ_BACK_CULTURES = [
    "es-ES",
    "it-IT",
    "pl-PL",
    "ru-RU",
    "zh-CN",
    "ko-KR",
    "tr-TR",
    "da-DK",
    "fi-FI",
    "nb-NO",
    "cs-CZ",
    "en-AU",
    "fr-CA",
    "de-CH",
    "uk-UA",
    "he-IL",
    "th-TH",
    "id-ID",
    "vi-VN",
    "el-GR",
    "hu-HU",
    "ro-RO",
]


def q(text: str) -> str:
    """A single-quoted expression string literal."""
    return "'" + text.replace("'", "''") + "'"


def build_number_cases() -> list[str]:
    cases = []
    for culture in CULTURES + ODD_NAMES:
        for number in NUMBERS:
            for fmt in NUMBER_FORMATS:
                if fmt == "D" and "." in number:
                    continue
                cases.append(f"@formatNumber({number}, {q(fmt)}, {q(culture)})")
        for text in ["1,234.5", "1.234,5", "1 234,5", "1\u00a0234,5", "1\u202f234,5", "12,34,567.5", "-1,5"]:
            cases.append(f"@isFloat({q(text)}, {q(culture)})")
    cases.append("@formatNumber(1234.5, 'C2', 'hi-IN')")
    cases.append("@formatNumber(-1234.5, 'C', 'de')")
    return cases


def build_date_format_cases() -> list[str]:
    cases = []
    for culture in CULTURES + ODD_NAMES:
        for ts in TIMESTAMPS:
            for fmt in DATE_FORMATS:
                cases.append(f"@formatDateTime({q(ts)}, {q(fmt)}, {q(culture)})")
        for fmt in EXTRA_DATE_FORMATS:
            cases.append(f"@formatDateTime({q(TIMESTAMPS[0])}, {q(fmt)}, {q(culture)})")
    return cases


def main() -> None:
    if "--recheck" in sys.argv:
        # Only re-derive the deviations of the recorded cases against the current amlexec (no engine needed).
        recorded = json.loads(OUT.read_text(encoding="utf-8"))
        for entry in recorded:
            entry.pop("deviation", None)
        write(recorded)
        return
    python = oracle_python()
    if python is None:
        raise SystemExit("no oracle interpreter (make oracle-env)")
    oracle = Oracle(python)
    recorded = []
    seen: set[str] = set()

    def record(expression: str) -> dict[str, Any]:
        answer = oracle.ask(expression)
        entry: dict[str, Any] = {"expression": expression, **answer_fields(expression, answer)}
        if expression not in seen:
            seen.add(expression)
            recorded.append(entry)
        return entry

    try:
        for expression in build_number_cases():
            record(expression)
        # Read back what the engine wrote: leniently and with the same format.
        for expression in build_date_format_cases():
            entry = record(expression)
            found = re.fullmatch(r"@formatDateTime\('([^']*)', '([^']*)', '([^']*)'\)", expression)
            assert found is not None
            fmt, culture = found.group(2), found.group(3)
            text = entry.get("result")
            if (
                not isinstance(text, str)
                or fmt in ("MMM", "tt", "ddd", "MMMM")
                or culture in ("", "nonsense-locale-!!")
            ):
                continue
            if fmt in ("d", "D", "G", "g", "f", "F"):
                record(f"@parseDateTime({q(text)}, {q(culture)})")
            if fmt in ("d", "D", "G", "dddd, dd MMMM yyyy"):
                record(f"@parseDateTime({q(text)}, {q(culture)}, {q(fmt)})")
        for expression in CALENDAR_CASES:
            record(expression)
        for culture in READ_BACK_CULTURES:
            for ts in TIMESTAMPS[:2]:
                for fmt in ("d", "D", "f", "F", "g", "G", "Y"):
                    text = record(f"@formatDateTime({q(ts)}, {q(fmt)}, {q(culture)})").get("result")
                    if isinstance(text, str):
                        record(f"@parseDateTime({q(text)}, {q(culture)})")
    finally:
        oracle.close()
    write(recorded)


def write(recorded: list[dict[str, Any]]) -> None:
    """Mark the cases amlexec does not reproduce as deviations and write the case file."""
    from amlexec.expressions import ExpressionError, evaluate

    unexplained: list[str] = []
    for entry in recorded:
        try:
            actual: Any = evaluate(entry["expression"], {})
            agrees = "result" in entry and type(actual) is type(entry["result"]) and actual == entry["result"]
        except ExpressionError as error:
            agrees = "error" in entry and entry["error"] == {"kind": error.kind, "function": error.function}
        if agrees:
            continue
        reason = next((why for pattern, why in DEVIATIONS if re.search(pattern, entry["expression"])), None)
        if reason is None:
            reason = "unexplained"
            unexplained.append(entry["expression"])
        entry["deviation"] = reason

    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(recorded, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"recorded {len(recorded)} cases into {OUT}")
    deviations = sum(1 for entry in recorded if "deviation" in entry)
    print(f"{deviations} deviations, {len(unexplained)} unexplained")
    for expression in unexplained:
        print("  unexplained:", expression)


if __name__ == "__main__":
    main()
