"""Record Data Factory's own answers for the URI functions on non-hierarchical and non-ASCII URIs.

Run from the repository root with the oracle environment present:

    .venv/bin/python tests/oracle/record_uri_cases.py

System.Uri (which the engine uses) reads ``mailto:`` with the address's domain as the host and port 25,
other schemes without an authority (``urn:``, ``news:``, ``tel:``, ``data:``) as a path only, and percent-
encodes non-ASCII characters of a path and query (not of the host). Differential fuzzing found these
(``make oracle-fuzz``). Writes ``tests/expressions/cases/uris.json``.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from recording import record  # noqa: E402

OUTPUT = HERE.parents[1] / "tests" / "expressions" / "cases" / "uris.json"
URIS = [
    "mailto:a@b.com",
    "mailto:a@b.com?subject=hi",
    "mailto:a@b.com:26",
    "mailto:",
    "mailto:ab",
    "urn:isbn:0451450523",
    "news:comp.lang",
    "tel:+1-816-555-1212",
    "data:text/plain,hi",
    "http://example.com/é?q=é",
    "http://example.com/%C3%A9",
    "http://exämple.com/p",
    "https://example.com/日本/語?q=ü&r=1#frag",
    "http://example.com/a b",
]
FUNCTIONS = ["uriHost", "uriPath", "uriPathAndQuery", "uriQuery", "uriScheme", "uriPort"]


def main() -> None:
    expressions = [f"@{function}('{uri}')" for uri in URIS for function in FUNCTIONS]
    print(f"recorded {record(expressions, OUTPUT)} URI expressions")


if __name__ == "__main__":
    main()
