"""``xml()`` and ``xpath()``: XML values as Data Factory's engine makes and queries them.

What the engine does (measured with the oracle, ``tests/oracle/record_xml_cases.py``):

* ``xml(value)`` returns a binary value ``{"$content-type": "application/xml;charset=utf-8", "$content":
  <base64 of UTF-8 text>}``. A string (or a binary value holding text) is parsed as an XML document and
  written back the way .NET's ``XmlDocument.OuterXml`` writes it: no indentation, whitespace-only text
  dropped (kept under ``xml:space="preserve"``), ``<a />`` for a self-closing tag but ``<a></a>`` kept,
  comments, processing instructions, CDATA and the XML declaration kept as written, ``>`` escaped in text.
  An object is converted by Newtonsoft's ``XmlNodeConverter`` (``"@name"`` keys are attributes, ``"#text"``
  is text, ``"#cdata-section"`` CDATA, ``"?name"`` a processing instruction, arrays repeat their element,
  ``null`` is an empty element, doubles written as .NET's ``XmlConvert``, invalid names encoded as
  ``_xHHHH_``); the object must have a single member besides ``?xml``/``!DOCTYPE``. Other types fail.
* ``xpath(xml, expression)`` takes only a value made by ``xml()`` and evaluates an XPath 1.0 expression:
  numbers are doubles (``count()``, ``sum()``), ``string()`` a string, comparisons a boolean, and a node set
  an array holding, per node, an element as an ``xml()``-like binary value (written as .NET's
  ``XPathNavigator.OuterXml``: indented by two spaces, CDATA as escaped text), an attribute as the text
  ``name="value"`` and a text node as its text. Comments, processing instructions and namespace nodes in a
  result fail, as do unknown prefixes, functions and variables.

Design and library choice. Untrusted text is parsed by the standard library's expat (``pyexpat``), driven
directly: it never fetches anything (no external-entity handler is installed, parameter entities are not
parsed), and a document declaring an entity is refused outright, so neither billion-laughs expansion nor
``SYSTEM`` entities can happen; expat also reports where tags end, which tells ``<a/>`` from ``<a></a>`` as
the engine's output does. XPath is evaluated by lxml (libxml2) over a tree amlexec builds from those expat
events (lxml never parses the text itself): ElementTree's XPath subset (what defusedxml would offer) has no
``count()``, ``sum()``, ``string()``, arithmetic or comparisons, so it cannot answer the engine's
questions. lxml is imported lazily, inside ``xpath()``, so ``import amlexec.expressions`` stays cheap.

Known differences: the engine keeps entity declarations and references unexpanded, amlexec refuses
documents that declare entities; the engine's reader keeps ``\\r\\n`` and newlines in attribute values as
written, expat normalises them as XML requires; a DOCTYPE's internal subset is written empty.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from amlexec.expressions.errors import ExpressionEvaluationError, ExpressionLimitError
from amlexec.expressions.limits import LIMITS
from amlexec.expressions.registry import CallContext
from amlexec.expressions.values import BINARY_CONTENT, BINARY_CONTENT_TYPE, dotnet_double_text, is_binary, type_name

__all__ = ["XML_CONTENT_TYPE", "fn_xml", "fn_xpath", "xml_to_json"]

Args = Sequence[Any]

XML_CONTENT_TYPE = "application/xml;charset=utf-8"
_WHITESPACE = frozenset(" \t\r\n")
_XML_NS = "http://www.w3.org/XML/1998/namespace"
_JSON_NS = "http://james.newtonking.com/projects/json"


def _fail(name: str, message: str) -> ExpressionEvaluationError:
    return ExpressionEvaluationError(f"function '{name}' {message}")


def _binary(text: str) -> dict[str, str]:
    if len(text) > LIMITS.max_string_length:
        raise ExpressionLimitError(f"XML text longer than {LIMITS.max_string_length} characters")
    return {BINARY_CONTENT_TYPE: XML_CONTENT_TYPE, BINARY_CONTENT: base64.b64encode(text.encode("utf-8")).decode()}


# ------------------------------------------------------------------------------------------ escaping

_TEXT_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_ATTR_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\n": "&#xA;", "\r": "&#xD;", "\t": "&#x9;"}
_TEXT_SPECIAL = re.compile("[&<>\x00-\x08\x0b\x0c\x0e-\x1f]")
_ATTR_SPECIAL = re.compile('[&<>"\x00-\x1f]')


def _char_ref(char: str) -> str:
    return f"&#x{ord(char):X};"


def _escape_text(text: str) -> str:
    return _TEXT_SPECIAL.sub(lambda m: _TEXT_ESCAPES.get(m.group(), "") or _char_ref(m.group()), text)


def _escape_attr(text: str) -> str:
    return _ATTR_SPECIAL.sub(lambda m: _ATTR_ESCAPES.get(m.group(), "") or _char_ref(m.group()), text)


# ------------------------------------------------------------------------------- the document model


@dataclass
class _Node:
    """One node of a parsed document: ``kind`` is element, text, cdata, comment or pi."""

    kind: str
    name: str = ""  # element: qualified name; pi: target
    value: str = ""  # text, cdata, comment: content; pi: data
    uri: str = ""  # element: namespace URI
    attributes: list[tuple[str, str, str]] = field(default_factory=list)  # (qualified name, uri, value)
    namespaces: list[tuple[str, str]] = field(default_factory=list)  # (prefix, uri) declared here
    children: list[_Node] = field(default_factory=list)
    self_closing: bool = False


@dataclass
class _Document:
    declaration: str = ""
    doctype: str = ""
    children: list[_Node] = field(default_factory=list)
    # What json() writes of them: ("version", "1.0"), ... and ("name", "a"), ("public", ...), ("system", ...).
    declaration_fields: list[tuple[str, str]] = field(default_factory=list)
    doctype_fields: list[tuple[str, str]] = field(default_factory=list)

    @property
    def root(self) -> _Node:
        return next(node for node in self.children if node.kind == "element")


def _split(name: str) -> tuple[str, str, str]:
    """expat's ``uri SEP local SEP prefix`` into (qualified name, uri, local)."""
    parts = name.split("\x01")
    if len(parts) == 1:
        return parts[0], "", parts[0]
    if len(parts) == 2:
        return parts[1], parts[0], parts[1]
    return f"{parts[2]}:{parts[1]}", parts[0], parts[1]


class _Builder:
    """Turns expat's events into a ``_Document``; whitespace-only text goes unless xml:space says keep it."""

    def __init__(self, data: bytes) -> None:
        import pyexpat

        self.data = data
        self.document = _Document()
        self.stack: list[_Node] = []
        self.preserve: list[bool] = [False]
        self.text: list[str] = []
        self.in_cdata = False
        self.pending_ns: list[tuple[str, str]] = []
        self.start_index: list[int] = []
        self.content_seen: list[bool] = []
        parser = pyexpat.ParserCreate("utf-8", "\x01")
        parser.namespace_prefixes = True
        parser.specified_attributes = True
        parser.ordered_attributes = True
        parser.buffer_text = True
        # No external entity is ever read: no ExternalEntityRefHandler, parameter entities never parsed.
        parser.SetParamEntityParsing(pyexpat.XML_PARAM_ENTITY_PARSING_NEVER)
        parser.XmlDeclHandler = self.declaration
        parser.StartDoctypeDeclHandler = self.doctype
        parser.EntityDeclHandler = self.entity
        parser.StartNamespaceDeclHandler = self.namespace
        parser.StartElementHandler = self.start
        parser.EndElementHandler = self.end
        parser.CharacterDataHandler = self.characters
        parser.StartCdataSectionHandler = self.start_cdata
        parser.EndCdataSectionHandler = self.end_cdata
        parser.CommentHandler = self.comment
        parser.ProcessingInstructionHandler = self.pi
        parser.SkippedEntityHandler = self.skipped
        parser.DefaultHandler = self.default
        self.parser = parser
        self.error = pyexpat.ExpatError

    # -- handlers
    def declaration(self, version: str, encoding: str | None, standalone: int) -> None:
        if version != "1.0":
            raise _fail("xml", f"cannot convert the value to XML: version number '{version}' is invalid")
        text = f'<?xml version="{version}"'
        if encoding:
            text += f' encoding="{encoding}"'
        if standalone != -1:
            text += f' standalone="{"yes" if standalone else "no"}"'
        self.document.declaration = text + "?>"
        fields = [("version", version)] + ([("encoding", encoding)] if encoding else [])
        if standalone != -1:
            fields.append(("standalone", "yes" if standalone else "no"))
        self.document.declaration_fields = fields

    def doctype(self, name: str, system: str | None, public: str | None, _subset: int) -> None:
        text = f"<!DOCTYPE {name}"
        if public:
            text += f' PUBLIC "{public}" "{system or ""}"'
        elif system:
            text += f' SYSTEM "{system}"'
        self.document.doctype = text + "[]>"
        fields = [("name", name)] + ([("public", public)] if public else [])
        self.document.doctype_fields = fields + ([("system", system)] if system else [])

    def entity(self, name: str, *_: Any) -> None:
        raise _fail("xml", f"cannot convert a document that declares an entity ('{name}'): entities are refused")

    def skipped(self, name: str, _is_parameter: int) -> None:
        raise _fail("xml", f"cannot convert a document that refers to an undeclared entity ('{name}')")

    def default(self, text: str) -> None:
        if text.startswith("&") and text.endswith(";"):
            raise _fail("xml", f"cannot convert a document that refers to an entity ({text})")

    def namespace(self, prefix: str | None, uri: str | None) -> None:
        self.pending_ns.append((prefix or "", uri or ""))

    def _append(self, node: _Node) -> None:
        if self.stack:
            self.stack[-1].children.append(node)
            self.content_seen[-1] = True
        else:
            self.document.children.append(node)

    def _flush(self) -> None:
        if not self.text:
            return
        text = "".join(self.text)
        self.text = []
        if not self.stack or (not self.preserve[-1] and all(char in _WHITESPACE for char in text)):
            if self.stack:
                self.content_seen[-1] = True
            return
        self._append(_Node("text", value=text))

    def start(self, name: str, attributes: list[str]) -> None:
        self._flush()
        if len(self.stack) >= LIMITS.max_value_depth:
            raise ExpressionLimitError(f"XML nested deeper than {LIMITS.max_value_depth} elements")
        qname, uri, _ = _split(name)
        node = _Node("element", name=qname, uri=uri, namespaces=self.pending_ns)
        self.pending_ns = []
        for index in range(0, len(attributes), 2):
            attr_qname, attr_uri, _ = _split(attributes[index])
            node.attributes.append((attr_qname, attr_uri, attributes[index + 1]))
        preserve = self.preserve[-1]
        for attr_qname, attr_uri, value in node.attributes:
            if attr_uri == _XML_NS and attr_qname.endswith(":space"):
                preserve = value == "preserve"
        self._append(node)
        self.stack.append(node)
        self.preserve.append(preserve)
        self.start_index.append(self.parser.CurrentByteIndex)
        self.content_seen.append(False)

    def end(self, _name: str) -> None:
        self._flush()
        node = self.stack.pop()
        self.preserve.pop()
        self.start_index.pop()
        end = self.parser.CurrentByteIndex
        node.self_closing = not self.content_seen.pop() and self.data[max(end - 2, 0) : end] == b"/>"

    def characters(self, text: str) -> None:
        if self.in_cdata:
            self.stack[-1].children[-1].value += text
        else:
            self.text.append(text)

    def start_cdata(self) -> None:
        self._flush()
        self._append(_Node("cdata"))
        self.in_cdata = True

    def end_cdata(self) -> None:
        self.in_cdata = False

    def comment(self, text: str) -> None:
        self._flush()
        self._append(_Node("comment", value=text))

    def pi(self, target: str, data: str) -> None:
        self._flush()
        self._append(_Node("pi", name=target, value=data))

    def parse(self) -> _Document:
        try:
            self.parser.Parse(self.data, True)
        except self.error as error:
            raise _fail("xml", f"cannot convert the value to XML: {error}") from None
        return self.document


def _parse(text: str) -> _Document:
    # Leading/trailing whitespace around the document is not content; the engine drops it too.
    return _Builder(text.strip(" \t\r\n").encode("utf-8", "surrogatepass")).parse()


# ------------------------------------------------------------------ writing: XmlDocument.OuterXml style


def _start_tag(node: _Node, extra_ns: Sequence[tuple[str, str]] = ()) -> str:
    parts = [f"<{node.name}"]
    for prefix, uri in [*extra_ns, *node.namespaces]:
        parts.append(f' xmlns{":" + prefix if prefix else ""}="{_escape_attr(uri)}"')
    for qname, _, value in node.attributes:
        parts.append(f' {qname}="{_escape_attr(value)}"')
    return "".join(parts)


def _write_compact(node: _Node, out: list[str], *, cdata: bool = True) -> None:
    if node.kind == "text":
        out.append(_escape_text(node.value))
    elif node.kind == "cdata":
        out.append(f"<![CDATA[{node.value}]]>" if cdata else _escape_text(node.value))
    elif node.kind == "comment":
        out.append(f"<!--{node.value}-->")
    elif node.kind == "pi":
        out.append(f"<?{node.name} {node.value}?>" if node.value else f"<?{node.name}?>")
    else:
        out.append(_start_tag(node))
        if node.self_closing and not node.children:
            out.append(" />")
            return
        out.append(">")
        for child in node.children:
            _write_compact(child, out)
        out.append(f"</{node.name}>")


def _document_text(document: _Document) -> str:
    out = [document.declaration, document.doctype]
    for node in document.children:
        _write_compact(node, out)
    return "".join(out)


# ------------------------------------------------------ writing: XPathNavigator.OuterXml (indented) style


def _write_indented(node: _Node, out: list[str], depth: int, extra_ns: Sequence[tuple[str, str]] = ()) -> None:
    """XmlWriter with Indent=true: children on their own lines, unless an element holds text (mixed)."""
    if node.kind != "element":
        _write_compact(node, out, cdata=False)
        return
    out.append(_start_tag(node, extra_ns))
    if node.self_closing and not node.children:
        out.append(" />")
        return
    out.append(">")
    if any(child.kind in ("text", "cdata") for child in node.children):
        for child in node.children:
            _write_compact(child, out, cdata=False)
    else:
        for child in node.children:
            out.append("\n" + "  " * (depth + 1))
            _write_indented(child, out, depth + 1)
        if node.children:
            out.append("\n" + "  " * depth)
    out.append(f"</{node.name}>")


# ---------------------------------------------------------------------------------------------- xml()


def _binary_text(value: dict[str, Any]) -> str:
    try:
        return base64.b64decode(value[BINARY_CONTENT], validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        raise _fail("xml", "cannot decode the binary value's content from base64") from None


def fn_xml(args: Args, _: CallContext) -> dict[str, str]:
    value = args[0]
    if isinstance(value, dict) and is_binary(value):
        return _binary(_document_text(_parse(_binary_text(value))))
    if isinstance(value, str):
        return _binary(_document_text(_parse(value)))
    if isinstance(value, dict):
        return _binary(_json_to_xml(value))
    raise _fail("xml", f"expects its parameter to be a string or an object, got {type_name(value)}")


# ------------------------------------------------------------- JSON -> XML (Newtonsoft XmlNodeConverter)

_NAME_START = re.compile(
    r"[A-Za-z_\u00C0-\u00D6\u00D8-\u00F6\u00F8-\u02FF\u0370-\u037D\u037F-\u1FFF\u200C-\u200D\u2070-\u218F\u2C00-\u2FEF\u3001-\uD7FF\uF900-\uFDCF\uFDF0-\uFFFD]"
)
_NAME_CHAR = re.compile(r"[-.0-9\u00B7\u0300-\u036F\u203F-\u2040]")


def _encode_name(name: str) -> str:
    """``XmlConvert.EncodeLocalName``: characters not allowed in an XML name become ``_xHHHH_``."""
    out = []
    for index, char in enumerate(name):
        allowed = _NAME_START.fullmatch(char) or (index and _NAME_CHAR.fullmatch(char))
        if allowed and not (char == "_" and name[index + 1 : index + 2] == "x"):
            out.append(char)
        elif allowed:
            out.append("_x005F_")
        elif ord(char) > 0xFFFF:
            code = ord(char) - 0x10000
            out.append(f"_x{0xD800 + (code >> 10):04X}_x{0xDC00 + (code & 0x3FF):04X}_")
        else:
            out.append(f"_x{ord(char):04X}_")
    return "".join(out)


def _scalar_text(value: Any, path: str) -> str:
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if type(value) is float:
        return dotnet_double_text(value)
    if isinstance(value, (dict, list)):
        token = "StartObject" if isinstance(value, dict) else "StartArray"
        raise _fail("xml", f"cannot convert the value to XML: cannot get an XML string value from {token} ({path})")
    return str(value)


class _JsonWriter:
    def __init__(self) -> None:
        self.out: list[str] = []
        self.size = 0

    def emit(self, text: str) -> None:
        self.size += len(text)
        if self.size > LIMITS.max_string_length:
            raise ExpressionLimitError(f"XML text longer than {LIMITS.max_string_length} characters")
        self.out.append(text)

    def qualified(self, name: str, scope: dict[str, str]) -> str:
        prefix, colon, local = name.partition(":")
        if not colon:
            return _encode_name(name)
        if prefix in scope:
            return f"{_encode_name(prefix)}:{_encode_name(local)}"
        return _encode_name(local)

    def element(self, name: str, value: Any, scope: dict[str, str], depth: int, path: str) -> None:
        if depth > LIMITS.max_value_depth:
            raise ExpressionLimitError(f"value nested deeper than {LIMITS.max_value_depth} levels")
        if isinstance(value, list):
            for item in value:
                if isinstance(item, list):  # an array in an array is an element holding the inner items
                    qname = self.qualified(name, scope)
                    self.emit(f"<{qname}>")
                    self.element(name, item, scope, depth + 1, path)
                    self.emit(f"</{qname}>")
                else:
                    self.element(name, item, scope, depth + 1, path)
            return
        if not isinstance(value, dict):
            qname = self.qualified(name, scope)
            if value is None:
                self.emit(f"<{qname} />")
            else:
                self.emit(f"<{qname}>{_escape_text(_scalar_text(value, path))}</{qname}>")
            return
        scope = dict(scope)
        attributes: list[tuple[str, str]] = []
        for key, member in value.items():
            if key == "@xmlns":
                scope[""] = _scalar_text(member, path)
            elif key.startswith("@xmlns:"):
                scope[key[7:]] = _scalar_text(member, path)
        for key, member in value.items():
            if key.startswith("@"):
                attributes.append((key[1:], _scalar_text(member, f"{path}.{key}")))
            elif key in ("$id", "$ref", "$type"):
                if "json" not in scope:
                    scope["json"] = _JSON_NS
                    attributes.insert(0, ("xmlns:json", _JSON_NS))
                attributes.append((f"json:{key[1:]}", _scalar_text(member, f"{path}.{key}")))
        qname = self.qualified(name, scope)
        head = f"<{qname}" + "".join(
            f' {self.qualified(key, scope) if not key.startswith("xmlns") else key}="{_escape_attr(text)}"'
            for key, text in attributes
        )
        children = [(k, m) for k, m in value.items() if not k.startswith("@") and k not in ("$id", "$ref", "$type")]
        if not children:
            self.emit(head + " />")
            return
        self.emit(head + ">")
        for key, member in children:
            self.child(key, member, scope, depth + 1, f"{path}.{key}")
        self.emit(f"</{qname}>")

    def child(self, key: str, member: Any, scope: dict[str, str], depth: int, path: str) -> None:
        if not key:
            raise _fail("xml", f"cannot convert the value to XML: a JSON property name is empty ({path})")
        if key in ("#text", "#whitespace", "#significant-whitespace"):
            self.emit(_escape_text(_scalar_text(member, path)))
        elif key == "#cdata-section":
            self.emit(f"<![CDATA[{_scalar_text(member, path)}]]>")
        elif key.startswith("?") and key != "?xml":
            data = _scalar_text(member, path)
            self.emit(f"<?{_encode_name(key[1:])} {data}?>" if data else f"<?{_encode_name(key[1:])}?>")
        else:
            self.element(key, member, scope, depth, path)


def _json_to_xml(value: dict[str, Any]) -> str:
    writer = _JsonWriter()
    roots = [key for key in value if key not in ("?xml", "!DOCTYPE")]
    if len(roots) > 1:
        raise _fail("xml", "cannot convert the value to XML: the JSON root object has more than one property")
    rooted = False
    for key, member in value.items():
        path = key
        if rooted:
            raise _fail("xml", "cannot convert the value to XML: the JSON root object has more than one property")
        if key == "?xml":
            if not isinstance(member, dict):
                raise _fail("xml", "cannot convert the value to XML: '?xml' must be an object")
            text = "<?xml"
            for name in ("@version", "@encoding", "@standalone"):
                if name in member:
                    text += f' {name[1:]}="{_escape_attr(_scalar_text(member[name], path))}"'
            writer.emit(text + "?>")
        elif key == "!DOCTYPE":
            if not isinstance(member, dict):
                raise _fail("xml", "cannot convert the value to XML: '!DOCTYPE' must be an object")
            writer.emit(f"<!DOCTYPE {_scalar_text(member.get('@name'), path)}>")
        elif not key:
            raise _fail("xml", "cannot convert the value to XML: a JSON property name is empty")
        elif key.startswith("@"):
            raise _fail("xml", f"cannot convert the value to XML: the JSON root object has an attribute ({key})")
        elif key.startswith("#") and key in ("#text", "#cdata-section", "#whitespace", "#significant-whitespace"):
            raise _fail("xml", f"cannot convert the value to XML: '{key}' cannot be the document's root")
        elif isinstance(member, list) and len(member) > 1:
            raise _fail("xml", "cannot convert the value to XML: the document would have more than one root")
        else:
            writer.child(key, member, {}, 1, path)
            rooted = True
    return "".join(writer.out)


# -------------------------------------------------------------------------------------------- xpath()


def _to_lxml(document: _Document) -> tuple[Any, dict[Any, _Node]]:
    """An lxml tree for the document (elements, text, comments, PIs) and each lxml element's ``_Node``."""
    from lxml import etree  # type: ignore[import-untyped]  # lazily: only xpath() needs it

    nodes: dict[Any, _Node] = {}

    def build(node: _Node, parent: Any, scope: dict[str, str]) -> Any:
        inner = dict(scope)
        for prefix, uri in node.namespaces:
            inner[prefix] = uri
        local = node.name.rpartition(":")[2]
        nsmap = {(prefix or None): uri for prefix, uri in node.namespaces if uri}
        tag = f"{{{node.uri}}}{local}" if node.uri else local
        element = (
            etree.Element(tag, nsmap=nsmap or None)
            if parent is None
            else etree.SubElement(parent, tag, nsmap=nsmap or None)
        )
        for qname, uri, value in node.attributes:
            attr_local = qname.rpartition(":")[2]
            element.set(f"{{{uri}}}{attr_local}" if uri else attr_local, value)
        nodes[element] = node
        last: Any = None
        for child in node.children:
            if child.kind in ("text", "cdata"):
                if last is None:
                    element.text = (element.text or "") + child.value
                else:
                    last.tail = (last.tail or "") + child.value
                continue
            if child.kind == "element":
                last = build(child, element, inner)
            elif child.kind == "comment":
                last = etree.Comment(child.value)
                element.append(last)
            else:
                last = etree.ProcessingInstruction(child.name, child.value or None)
                element.append(last)
        return element

    root = build(document.root, None, {})
    return etree.ElementTree(root), nodes


def _in_scope_needed(node: _Node, ancestors_ns: dict[str, str]) -> list[tuple[str, str]]:
    """Declarations an element written alone needs for its own and its attributes' prefixes."""
    declared = {prefix for prefix, _ in node.namespaces}
    needed: list[tuple[str, str]] = []
    names = [(node.name, node.uri)] + [(qname, uri) for qname, uri, _ in node.attributes if uri]
    for qname, uri in names:
        prefix = qname.partition(":")[0] if ":" in qname else ""
        if prefix == "xml" or prefix in declared or (not uri and not prefix and "" not in ancestors_ns):
            continue
        if ancestors_ns.get(prefix) == uri or (prefix == "" and uri):
            needed.append((prefix, uri))
            declared.add(prefix)
    return needed


# ------------------------------------------------------------------------------------- json(xml(...))


def _json_of_element(node: _Node) -> Any:
    """An element as Newtonsoft's ``XmlNodeConverter`` writes it (recorded with ``json(xml(...))``).

    No attributes and no content: null for ``<a/>``, "" for ``<a></a>``; a single text child and no
    attributes: that text; otherwise an object of ``@attribute`` members (namespace declarations first), then
    one member per kind of child in order of first appearance (``#text``, ``#cdata-section``,
    ``#significant-whitespace``, the element's name, ``?target``), an array when a kind repeats. Comments
    become JSON comments, which reading the JSON drops. Values stay text.
    """
    content = [child for child in node.children if child.kind != "comment"]
    has_attributes = bool(node.attributes or node.namespaces)
    if not has_attributes:
        if not node.children:
            return None if node.self_closing else ""
        only = node.children[0] if len(node.children) == 1 else None  # a comment counts: <a><!--c-->t</a>
        if only is not None and only.kind == "text" and not _blank(only.value):
            return only.value
    result: dict[str, Any] = {}
    for prefix, uri in node.namespaces:
        result["@xmlns:" + prefix if prefix else "@xmlns"] = uri
    for name, _uri, value in node.attributes:
        result["@" + name] = value
    groups: dict[str, list[Any]] = {}
    for child in content:
        groups.setdefault(_json_key(child), []).append(_json_member(child))
    for key, members in groups.items():
        result[key] = members[0] if len(members) == 1 else members
    return result


def _json_key(node: _Node) -> str:
    if node.kind == "element":
        return node.name
    if node.kind == "cdata":
        return "#cdata-section"
    if node.kind == "pi":
        return "?" + node.name
    return "#significant-whitespace" if _blank(node.value) else "#text"


def _blank(text: str) -> bool:
    return all(char in _WHITESPACE for char in text)


def _json_member(node: _Node) -> Any:
    return _json_of_element(node) if node.kind == "element" else node.value


def xml_to_json(text: str) -> dict[str, Any]:
    """``json(xml)``: the document as Newtonsoft's ``SerializeXmlNode`` writes it, read back as JSON."""
    document = _parse(text)
    result: dict[str, Any] = {}
    if document.declaration_fields:
        result["?xml"] = {"@" + key: value for key, value in document.declaration_fields}
    if document.doctype_fields:
        result["!DOCTYPE"] = {"@" + key: value for key, value in document.doctype_fields}
    for child in document.children:
        if child.kind != "comment":
            result[_json_key(child)] = _json_member(child)
    return result


_XPATH_LITERAL = re.compile(r"'[^']*'|\"[^\"]*\"")
_EXPONENT_NUMBER = re.compile(r"(?<![\w.\-])(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)[eE]")


def fn_xpath(args: Args, _: CallContext) -> Any:
    value, expression = args[0], args[1]
    if not (is_binary(value) and value[BINARY_CONTENT_TYPE] == XML_CONTENT_TYPE):
        raise _fail("xpath", f"expects its first parameter to be an XML object, got {type_name(value)}")
    if not isinstance(expression, str):
        raise _fail("xpath", f"expects its second parameter to be a string, got {type_name(value)}")
    from lxml import etree

    document = _parse(_binary_text(value))
    tree, nodes = _to_lxml(document)
    try:
        if _EXPONENT_NUMBER.search(_XPATH_LITERAL.sub("''", expression)):
            # XPath 1.0 numbers have no exponent ('1e3' is the number 1 then the name e3: a syntax error, as
            # the engine says); libxml2 would read 1000.
            raise etree.XPathSyntaxError("a number with an exponent")
        compiled = etree.XPath(expression, smart_strings=True, regexp=False)
        result = compiled(tree)
    except (etree.XPathError, ValueError) as error:
        raise _fail(
            "xpath", f"cannot evaluate {expression[:100]!r}: the XPath expression is not valid ({error})"
        ) from None
    if isinstance(result, bool):
        return result
    if isinstance(result, float):
        return result
    if isinstance(result, str) and not isinstance(result, etree._ElementUnicodeResult):
        return str(result)
    if not isinstance(result, list):
        if isinstance(result, str):
            return str(result)
        raise _fail("xpath", "evaluates to a result that is not a number, a string, a boolean or a node set")
    if not result and expression.strip() == "/":
        result = [tree]  # lxml leaves the root node out of a result; the engine writes the document
    if len(result) > LIMITS.max_collection_length:
        raise ExpressionLimitError(f"XPath node set longer than {LIMITS.max_collection_length} nodes")
    return [_node_value(item, tree, nodes, document) for item in result]


def _scope_of(element: Any, nodes: dict[Any, _Node]) -> dict[str, str]:
    scope: dict[str, str] = {}
    chain = []
    parent = element.getparent()
    while parent is not None:
        chain.append(nodes[parent])
        parent = parent.getparent()
    for ancestor in reversed(chain):
        scope.update(dict(ancestor.namespaces))
    return scope


def _node_value(item: Any, tree: Any, nodes: dict[Any, _Node], document: _Document) -> Any:
    from lxml import etree

    if isinstance(item, etree._ElementUnicodeResult):
        if item.is_attribute:
            return f'{item.attrname.rpartition("}")[2]}="{_escape_attr(str(item))}"'
        return str(item)
    if isinstance(item, str):
        return str(item)
    if isinstance(item, tuple):
        raise _fail("xpath", "returned a node of type 'Namespace', which is not a supported XPath node type")
    if isinstance(item, etree._ElementTree):
        out: list[str] = []
        for index, child in enumerate(node for node in document.children if node.kind != "text"):
            if index:
                out.append("\n")
            _write_indented(child, out, 0)
        return _binary("".join(out))
    if isinstance(item, etree._Comment):
        raise _fail("xpath", "returned a node of type 'Comment', which is not a supported XPath node type")
    if isinstance(item, etree._ProcessingInstruction):
        raise _fail(
            "xpath", "returned a node of type 'ProcessingInstruction', which is not a supported XPath node type"
        )
    if isinstance(item, etree._Element):
        node = nodes[item]
        out = []
        _write_indented(node, out, 0, _in_scope_needed(node, _scope_of(item, nodes)))
        return _binary("".join(out))
    raise _fail("xpath", f"returned an unsupported node ({type(item).__name__})")
