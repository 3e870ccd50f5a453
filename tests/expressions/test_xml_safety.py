"""xml() and xpath() refuse hostile XML: entity expansion (billion laughs), external entities, DTD fetching.

The engine keeps entity declarations unexpanded; amlexec refuses any document that declares an entity, so
nothing is ever expanded or read from a file or the network. Each check is bounded in time.
"""

from __future__ import annotations

import base64
import subprocess
import sys
import time
from typing import Any

import pytest

from amlexec.expressions import ExpressionError, evaluate

LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10))
    + "]><lolz>&lol9;</lolz>"
)
EXTERNAL = '<!DOCTYPE a [<!ENTITY e SYSTEM "file:///etc/passwd">]><a>&e;</a>'
PARAMETER = '<!DOCTYPE a [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]><a>1</a>'
EXTERNAL_DTD = '<!DOCTYPE a SYSTEM "http://127.0.0.1:9/evil.dtd"><a>1</a>'
ATTRIBUTE_LAUGHS = LAUGHS.replace("<lolz>&lol9;</lolz>", '<lolz a="&lol9;"/>')


def _text(value: Any) -> str:
    return base64.b64decode(value["$content"]).decode("utf-8")


def _quoted(document: str) -> str:
    return document.replace("'", "''")


@pytest.mark.parametrize("document", [LAUGHS, ATTRIBUTE_LAUGHS, EXTERNAL, PARAMETER], ids=lambda d: d[:30])
@pytest.mark.parametrize("function", ["xml", "xpath"])
def test_entities_are_refused_quickly(document: str, function: str) -> None:
    expression = f"@xml('{_quoted(document)}')"
    if function == "xpath":
        # xpath() only takes xml() values; hand it a binary value that claims to be XML.
        context = {
            "pipeline": {
                "parameters": {
                    "doc": {
                        "$content-type": "application/xml;charset=utf-8",
                        "$content": base64.b64encode(document.encode()).decode(),
                    }
                }
            }
        }
        expression = "@xpath(pipeline().parameters.doc, 'string(/*)')"
    else:
        context = None
    started = time.perf_counter()
    with pytest.raises(ExpressionError) as caught:
        evaluate(expression, context)
    assert time.perf_counter() - started < 1.0
    assert caught.value.kind == "evaluation"
    assert caught.value.function == function
    assert "root:" not in caught.value.message  # nothing of /etc/passwd leaks into the message


def test_external_dtd_is_not_fetched() -> None:
    started = time.perf_counter()
    value = evaluate(f"@xml('{EXTERNAL_DTD}')")
    assert time.perf_counter() - started < 1.0
    # The DOCTYPE is written back as the engine does, never read: no content from it appears.
    assert _text(value) == '<!DOCTYPE a SYSTEM "http://127.0.0.1:9/evil.dtd"[]><a>1</a>'
    nodes = evaluate(f"@xpath(xml('{EXTERNAL_DTD}'), 'count(//*)')")
    assert nodes == 1.0


def test_undeclared_entity_is_an_error() -> None:
    with pytest.raises(ExpressionError) as caught:
        evaluate("@xml('<a>&e;</a>')")
    assert caught.value.function == "xml"


def test_deep_nesting_is_bounded() -> None:
    document = "<a>" * 5000 + "</a>" * 5000
    with pytest.raises(ExpressionError) as caught:
        evaluate(f"@xml('{document}')")
    assert caught.value.kind == "limit"


def test_importing_the_engine_does_not_import_lxml() -> None:
    code = "import sys, amlexec.expressions as e; e.evaluate(\"@xml('<a/>')\"); print('lxml' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert result.stdout.strip() == "False"
