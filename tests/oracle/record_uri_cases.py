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
# decodeDataUri, dataUriToString and dataUriToBinary: media types, character sets, JSON content.
DATA_URIS = [
    "@decodeDataUri('data:text/plain,hello')",
    "@decodeDataUri('data:,hello')",
    "@decodeDataUri('data:text/plain;base64,aGVsbG8=')",
    "@decodeDataUri('data:;base64,aGVsbG8=')",
    "@decodeDataUri('data:application/json,%7B%7D')",
    "@decodeDataUri('data:text/plain;charset=iso-8859-1,caf%E9')",
    "@decodeDataUri('data:text/plain,caf%C3%A9')",
    "@dataUriToString('data:text/plain,caf%C3%A9')",
    "@dataUriToString('data:,hello')",
    "@dataUriToString('data:text/plain;charset=utf-16;base64,aABpAA==')",
    "@dataUriToBinary('data:,hello')",
    "@decodeDataUri('hello')",
    "@decodeDataUri('data:text/plain;base64,aGVsbG8')",
    "@string(decodeDataUri('data:text/plain,hello'))",
    "@decodeDataUri('data:image/png;base64,aGVsbG8=')",
    "@decodeDataUri('data:application/octet-stream;base64,aGVsbG8=')",
    "@decodeDataUri('data:application/xml,%3Ca%2F%3E')",
    "@decodeDataUri('data:application/json;base64,eyJhIjoxfQ==')",
    "@decodeDataUri('data:text/json,%7B%7D')",
    "@decodeDataUri('data:text/html,<b>x</b>')",
    "@decodeDataUri('data:text/plain;base64,Y2Fmw6k=')",
    "@decodeDataUri('data:text/plain;charset=utf-8;base64,Y2Fmw6k=')",
    "@decodeDataUri('data:text/plain;charset=UTF-8,caf%C3%A9')",
    "@decodeDataUri('data:text/plain;charset=utf-16;base64,aABpAA==')",
    "@decodeDataUri('data:text/plain;charset=bogus,x')",
    "@decodeDataUri('data:application/json,notjson')",
    "@dataUriToString('data:text/plain;charset=us-ascii,caf%C3%A9')",
    "@dataUriToString('data:text/plain;charset=ascii,x')",
    "@dataUriToString('data:text/plain;charset=iso-8859-1,caf%E9')",
    "@dataUriToString('data:text/plain;charset=latin1,caf%E9')",
    "@dataUriToString('data:text/plain;charset=windows-1252,caf%E9')",
    "@dataUriToString('data:text/plain;charset=utf-32,x')",
    "@dataUriToString('data:text/plain;charset=utf-16le,x')",
    "@dataUriToString('data:text/plain;charset=bogus,x')",
    "@dataUriToString('data:text/plain;charset=\"utf-8\",x')",
    "@dataUriToString('data:text/plain;foo=bar;charset=utf-8,x')",
    "@dataUriToBinary('data:text/plain;charset=bogus,x')",
    "@decodeDataUri('data:image/png;charset=utf-8;base64,aGVsbG8=')",
    "@decodeDataUri('data:text/plain;charset=utf-16,%68%00')",
    "@decodeDataUri('data:text/plain;charset=utf-32;base64,aAAAAA==')",
    "@decodeDataUri('data:text/plain;charset=iso-8859-1;base64,Y2Fm6Q==')",
    "@decodeDataUri('data:text/plain;charset=windows-1252;base64,Y2Fm6Q==')",
    "@decodeDataUri('data:text/plain;charset=us-ascii,x')",
    "@decodeDataUri('data:TEXT/PLAIN,x')",
    "@decodeDataUri('data:text/csv,a%2Cb')",
    "@decodeDataUri('data:application/JSON,1')",
    "@decodeDataUri('data:application/json,\"s\"')",
    "@decodeDataUri('data:application/json;charset=utf-8,%7B%22a%22%3A%C3%A9%7D')",
    "@decodeDataUri('data:application/ld+json,%7B%7D')",
    "@decodeDataUri('data:application/xml;base64,PGEvPg==')",
    "@decodeDataUri('data:,x')",
    "@decodeDataUri('data:;charset=utf-8,x')",
    "@decodeDataUri('data:text/plain;base64,!!')",
    "@dataUriToString('data:text/plain;charset=UTF-8,x')",
    "@dataUriToString('data:text/plain;charset=utf8,x')",
    "@dataUriToString('data:text/plain;charset=utf-16,x')",
    "@dataUriToString('data:text/plain;base64,Y2Fmw6k=')",
    "@dataUriToString('data:image/png;base64,Y2Fmw6k=')",
    "@dataUriToString('data:application/json,%7B%7D')",
    "@dataUriToBinary('data:text/plain;charset=utf-16,x')",
    "@dataUriToBinary('data:text/plain;charset=iso-8859-1,x')",
    "@dataUriToBinary('data:text/plain;charset=us-ascii,x')",
    "@dataUriToBinary('data:text/plain;charset=utf-8,x')",
    "@dataUriToBinary('data:image/png,x')",
]
# The URI-component decoders read UTF-8 bytes: an unpaired surrogate in the text comes back as U+FFFD.
COMPONENTS = [
    "@uriComponentToString(last('😀😀'))",
    "@decodeUriComponent(last('😀😀'))",
    "@uriComponentToBinary(last('😀😀'))",
    "@uriComponentToString('%E2%82%AC+x')",
    "@uriComponentToString('%E2%82')",
]
FUNCTIONS = ["uriHost", "uriPath", "uriPathAndQuery", "uriQuery", "uriScheme", "uriPort"]


def main() -> None:
    expressions = [f"@{function}('{uri}')" for uri in URIS for function in FUNCTIONS] + DATA_URIS + COMPONENTS
    print(f"recorded {record(expressions, OUTPUT)} URI expressions")


if __name__ == "__main__":
    main()
