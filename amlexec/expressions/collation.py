"""Culture-aware string ordering for ``less``/``greater`` (an approximation of ICU's en-US collation).

The engine compares strings with the en-US culture, which .NET on Linux delegates to ICU: letters compare
by base letter first (``a`` < ``B`` < ``c``), then by accents (``e`` < ``é``), then by case (lower case
first: ``a`` < ``A``); punctuation and symbols sort before digits, digits before letters. This module builds
a three-level sort key with that shape. The ASCII order was checked character by character against the
engine; other scripts are ordered by code point after Latin, which is close but not identical to ICU.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

__all__ = ["collation_key", "compare_text"]

# ICU root order of printable ASCII (verified pairwise against the engine).
_ASCII_ORDER = (
    "\t\n\x0b\x0c\r _-,;:!?.'\"()[]{}@*/\\&#%`^+<=>|~$0123456789aAbBcCdDeEfFgGhHiIjJkKlLmMnNoOpPqQrRsStTuUvVwWxXyYzZ"
)
_PRIMARY: dict[str, int] = {}
for _rank, _char in enumerate(_ASCII_ORDER):
    # Upper and lower case of a letter share a primary weight; case is decided at the third level.
    _PRIMARY.setdefault(_char.lower(), _rank)
_SHIFT = 1 << 21  # room for any code point below each rank
_SYMBOL_RANK = _PRIMARY["~"]  # other punctuation and symbols sort with the last ASCII symbol
_LETTER_RANK = len(_ASCII_ORDER)  # non-ASCII letters sort after z, by code point
_EXPANSIONS = {"ß": "ss", "æ": "ae", "œ": "oe", "ø": "o", "đ": "d", "ł": "l", "ı": "i"}


def _primary_weight(char: str) -> int:
    rank = _PRIMARY.get(char)
    if rank is not None:
        return rank * _SHIFT
    category = unicodedata.category(char)
    if category == "Nd":
        return _PRIMARY[str(unicodedata.digit(char, 0))] * _SHIFT
    if category[0] in "LM":
        return _LETTER_RANK * _SHIFT + ord(char)
    if category[0] == "Z":
        return _PRIMARY[" "] * _SHIFT
    if category == "Sc":
        return _PRIMARY["$"] * _SHIFT + ord(char)
    return _SYMBOL_RANK * _SHIFT + ord(char)


@lru_cache(maxsize=4096)
def _char_key(char: str) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    decomposed = unicodedata.normalize("NFD", char)
    compatible = unicodedata.normalize("NFKD", char)
    variant = 0
    if compatible != decomposed and "".join(c for c in compatible if not unicodedata.combining(c)).isalnum():
        # A compatibility form sorts with the letters it stands for and after them at the third level
        # (recorded: 'ǅ' sorts as 'Dž', so greaterOrEquals('False', 'ǅ') is true; 'fi' < 'ﬁ', 'Ǆ' > 'ǅ').
        decomposed, variant = compatible, 2
    base = "".join(c for c in decomposed if not unicodedata.combining(c)) or decomposed
    accents = tuple(ord(c) for c in decomposed if unicodedata.combining(c)) or (0,)
    lowered = base.lower()
    cases = tuple((1 if piece != piece.lower() else 0) + variant for piece in base)
    expanded = _EXPANSIONS.get(lowered)
    if expanded is not None:
        lowered = expanded
        cases = (2,) * len(expanded)
    accents = accents + (0,) * (len(lowered) - len(accents))
    return tuple(_primary_weight(piece) for piece in lowered), accents, cases


def collation_key(text: str) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """A key whose tuple order follows en-US culture ordering (primary, then accents, then case)."""
    primary: list[int] = []
    secondary: list[int] = []
    tertiary: list[int] = []
    for char in text:
        weights, accents, cases = _char_key(char)
        primary.extend(weights)
        secondary.extend(accents)
        tertiary.extend(cases)
    return tuple(primary), tuple(secondary), tuple(tertiary)


def compare_text(left: str, right: str) -> int:
    """-1, 0 or 1 as ``left`` sorts before, with, or after ``right`` in en-US culture order."""
    if left == right:
        return 0
    a = collation_key(left)
    b = collation_key(right)
    if a != b:
        return -1 if a < b else 1
    # Culturally equal but different text: fall back to ordinal so the order is total.
    return -1 if left < right else 1
