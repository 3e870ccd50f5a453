"""Whether an Event Grid event starts a Data Factory event trigger, and what the trigger then exposes.

Pure: JSON in, decisions out; no I/O and no Azure. amlexec reads events from a queue (Event Grid delivers
arrays to webhooks, single events to Service Bus) and runs the factory's ``BlobEventsTrigger`` and
``CustomEventsTrigger`` definitions itself, so this module answers the two questions Data Factory answers
behind its Event Grid subscription: does this event fire the trigger, and what do ``@triggerBody()`` and
``@trigger().outputs`` return for the run it starts.

Documented (Microsoft Learn; the reference file's section 7 cites the same pages):

- Storage event trigger ("Create a trigger that runs a pipeline in response to a storage event"):
  ``scope`` is the storage account's resource id; ``events`` is any combination of
  ``Microsoft.Storage.BlobCreated`` and ``Microsoft.Storage.BlobDeleted``; at least one of
  ``blobPathBeginsWith`` / ``blobPathEndsWith``; ``ignoreEmptyBlobs`` defaults to true. Paths name the
  container and the blob separated by a ``/blobs/`` segment: ``/containername/`` (any blob in the
  container), ``/containername/blobs/foldername/``, ``/containername/blobs/foldername/file.txt``; ends-with
  ``file.txt``, ``foldername/file.txt`` (any container), ``/containername/blobs/file.txt``. For blob
  ``sample-data/event-testing/moviesDB.csv``, ``@triggerBody().folderPath`` is ``sample-data/event-testing``
  and ``@triggerBody().fileName`` is ``moviesDB.csv``; Synapse reads the same through
  ``@trigger().outputs.body``. "System variables": the first segment of folderPath is the container.
- "Azure Blob Storage as an Event Grid source": subjects are
  ``/blobServices/default/containers/<container>/blobs/<blob>``; ``data.api`` names the operation
  (PutBlob, PutBlockList, CopyBlob; ADLS Gen2 CreateFile, FlushWithClose; DeleteBlob, DeleteFile). For
  ADLS Gen2, "if you want to ensure that the BlobCreated event is triggered only when a Block Blob is
  completely committed, filter the event for the FlushWithClose REST API call". "Reacting to Blob storage
  events": the subject "includes a case-preserving blob name".
- Custom event trigger ("Create a custom event trigger to run a pipeline in Azure Data Factory"): events in
  the Event Grid schema; ``events`` OR-ed and case-insensitive; optional ``subjectBeginsWith`` /
  ``subjectEndsWith``; ``advancedFilters`` of ``{key, operatorType, values}`` with the operators NumberIn,
  NumberNotIn, NumberLessThan, NumberGreaterThan, NumberLessThanOrEquals, NumberGreaterThanOrEquals,
  BoolEquals, StringContains, StringBeginsWith, StringEndsWith, StringIn, StringNotIn; at most 5 filters and
  25 values across them, 512 characters a string value, property names containing a dot cannot be
  addressed (the dot is the path separator, as in ``data.key1``). ``@triggerBody().event.eventType``,
  ``.subject`` and ``.data.<key>`` read the event.
- "Event Grid advanced filtering": string comparisons are case-insensitive; several values in one filter
  are OR-ed, several filters AND-ed; an array key matches when one element does, elements of another type
  are ignored; a missing key fails every operator except NumberNotIn and StringNotIn. Envelope keys are
  spelt ``ID``, ``Topic``, ``Subject``, ``EventType``, ``DataVersion`` (so envelope keys ignore case).
  The Event Grid subscription filter compares subjects case-insensitively unless ``isSubjectCaseSensitive``
  is set (default false, ``EventSubscriptionFilter``).

Chosen here (undocumented, or deliberately different):

- Blob paths match the event subject with ``/blobServices/default/containers`` removed
  (``/<container>/blobs/<blob>``), by plain prefix and suffix, case-insensitively: Data Factory delegates
  to an Event Grid subscription whose subject filters ignore case by default. Subjects are not
  URL-decoded: they carry the blob name as stored, and ``%`` is a legal name character.
- ``blobPathBeginsWith`` must start with ``/`` and, past the container, continue with ``blobs/`` (or
  nothing): ``container/blobs/x`` or ``/container/folder/`` would never match a subject, so they are
  refused with the fix rather than accepted to sit silent. An ends-with that starts with ``/`` must contain
  ``/blobs/`` for the same reason.
- ADLS Gen2 ``CreateFile`` never counts as created (its event comes before the data, with length 0);
  ``FlushWithClose`` and every other api (PutBlob, PutBlockList, CopyBlob, or none given) do. So one file
  written through the DFS endpoint starts one run, whatever ``ignoreEmptyBlobs`` says.
- ``ignoreEmptyBlobs`` skips a BlobCreated whose ``data.contentLength`` is 0; an unknown length is not empty.
- ``@triggerBody()`` of a storage event holds only the documented ``folderPath`` and ``fileName`` (a blob
  at the container root has folderPath = container); no headers are documented, none are invented.
- ``scope`` is required (Data Factory requires it) and compared with the event's ``topic`` case-insensitively
  when the topic is a resource id; an ARM template expression (``[parameters('...')]``, as ARM exports
  write it) is refused: it names no resource until the template is deployed.
- Data Factory's custom event trigger reads only the Event Grid schema; amlexec also accepts CloudEvents 1.0
  and shows them to expressions in the Event Grid shape: ``type`` -> ``eventType``, ``time`` ->
  ``eventTime``, ``source`` -> ``topic``, ``dataschema`` -> ``dataVersion`` (else ""), ``metadataVersion``
  "1", a missing subject "". Advanced filter keys look in that shape first, then in the CloudEvent's own
  attributes (``type``, ``source``, extensions).
- Advanced filters: a null value counts as missing; a data property name matches exactly, else ignoring
  case when that finds exactly one; arrays are evaluated element by element (Event Grid's
  ``enableAdvancedFilteringOnArrays``). Values may be JSON numbers/booleans or their text ("5", "true"),
  and single-value operators take ``value`` or a one-item ``values``. The page's "5 values for in and not in
  operators" repeats an old Event Grid limit that Event Grid's current page no longer states; not enforced.
- ``request_suffix`` is the event id: a redelivered event keeps it, the two ADLS events of one file do not
  share it (and only one of them matches).
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from amlexec.errors import InvalidDefinition, Issue, PermanentError, child_path, describe_value

__all__ = [
    "BLOB_CREATED",
    "BLOB_DELETED",
    "CLOUD_EVENTS_SCHEMA",
    "EVENT_GRID_SCHEMA",
    "SUPPORTED_OPERATORS",
    "AdvancedFilter",
    "BlobEventFilter",
    "CustomEventFilter",
    "FilterError",
    "FilterValue",
    "IncomingEvent",
    "Match",
    "NoMatch",
    "NotAnEvent",
    "blob_filter_from",
    "custom_filter_from",
    "match_blob_event",
    "match_custom_event",
    "parse_event",
    "parse_events",
]

EVENT_GRID_SCHEMA: Final = "EventGridSchema"
CLOUD_EVENTS_SCHEMA: Final = "CloudEventSchemaV1_0"
BLOB_CREATED: Final = "Microsoft.Storage.BlobCreated"
BLOB_DELETED: Final = "Microsoft.Storage.BlobDeleted"

# The subset of Event Grid operators Data Factory's custom event trigger documents, in its order.
SUPPORTED_OPERATORS: Final = (
    "NumberIn",
    "NumberNotIn",
    "NumberLessThan",
    "NumberGreaterThan",
    "NumberLessThanOrEquals",
    "NumberGreaterThanOrEquals",
    "BoolEquals",
    "StringContains",
    "StringBeginsWith",
    "StringEndsWith",
    "StringIn",
    "StringNotIn",
)
# Operators that compare with one value (Event Grid writes ``value``); the rest take a list.
_SINGLE_VALUE: Final = frozenset(
    {"NumberLessThan", "NumberGreaterThan", "NumberLessThanOrEquals", "NumberGreaterThanOrEquals", "BoolEquals"}
)
# Operators that hold when no value matches, and therefore also when the key is missing.
_NEGATED: Final = frozenset({"NumberNotIn", "StringNotIn"})
# Event Grid has these, Data Factory does not (yet): named so the refusal says which side lacks them.
_EVENT_GRID_ONLY: Final = frozenset(
    {
        "NumberInRange",
        "NumberNotInRange",
        "StringNotContains",
        "StringNotBeginsWith",
        "StringNotEndsWith",
        "IsNullOrUndefined",
        "IsNotNull",
    }
)
_MAX_FILTERS: Final = 5
_MAX_FILTER_VALUES: Final = 25
_MAX_STRING_VALUE: Final = 512

_BLOB_EVENT_TYPES: Final = (BLOB_CREATED, BLOB_DELETED)
_SUBJECT_ROOT: Final = "/blobServices/default/containers"
# Container names never hold "/", so the first "/blobs/" after the container ends it, whatever the blob
# name holds (a blob may well be called "a/blobs/b").
_BLOB_SUBJECT: Final = re.compile(r"/blobServices/default/containers/(?P<container>[^/]+)/blobs/(?P<name>.+)", re.S)
_STORAGE_SCOPE: Final = re.compile(
    r"/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.Storage/storageAccounts/[^/]+", re.I
)
_TOPIC_SCOPE: Final = re.compile(
    r"/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.EventGrid/topics/[^/]+", re.I
)
# ADLS Gen2 raises BlobCreated for CreateFile before any byte is written, and again on FlushWithClose.
_UNCOMMITTED_CREATE_APIS: Final = frozenset({"createfile"})

# What an advanced filter compares with: numbers are kept as floats, so 5 and 5.0 are one value.
FilterValue = str | float | bool


# ---------------------------------------------------------------------------------------------- errors


class NotAnEvent(PermanentError, ValueError):
    """The body is not an Event Grid event or a CloudEvent; ``reason`` says what is wrong.

    Permanent: the same bytes fail the same way on every delivery, so retrying only delays the rejection.
    """

    code = "not_an_event"

    def __init__(self, reason: str) -> None:
        super().__init__(f"not an event: {reason}")
        self.reason = reason


class FilterError(InvalidDefinition):
    """A trigger definition amlexec cannot run as written; carries every issue, each with its JSON path."""

    code = "invalid_trigger"
    what = "trigger definition"


# ---------------------------------------------------------------------------------------------- events


@dataclass(frozen=True)
class IncomingEvent:
    """One event, whatever schema it came in; ``raw`` is the document as received."""

    id: str
    event_type: str
    subject: str
    event_time: str | None
    data: Any
    topic: str | None
    schema: str
    raw: dict[str, Any]


def _required_text(document: Mapping[str, Any], key: str) -> str:
    if key not in document:
        raise NotAnEvent(f"missing {key}")
    value = document[key]
    if not isinstance(value, str) or not value:
        raise NotAnEvent(f"{key} must be a non-empty string, got {describe_value(value)}")
    return value


def _optional_text(document: Mapping[str, Any], key: str) -> str | None:
    value = document.get(key)
    if value is None or isinstance(value, str):
        return value
    raise NotAnEvent(f"{key} must be a string, got {describe_value(value)}")


def parse_event(document: Any) -> IncomingEvent:
    """Read one event in the Event Grid schema or as a CloudEvent 1.0 (JSON format); raise NotAnEvent."""
    if not isinstance(document, dict):
        raise NotAnEvent(f"expected a JSON object, got {describe_value(document)}")
    if "specversion" in document:
        if document["specversion"] != "1.0":
            raise NotAnEvent(f'specversion must be "1.0", got {describe_value(document["specversion"])}')
        if "data" in document and "data_base64" in document:
            raise NotAnEvent("a CloudEvent carries data or data_base64, not both")
        return IncomingEvent(
            id=_required_text(document, "id"),
            event_type=_required_text(document, "type"),
            # CloudEvents make subject optional; "" keeps the field a string for subject filters.
            subject=_optional_text(document, "subject") or "",
            event_time=_optional_text(document, "time"),
            data=document.get("data"),
            topic=_required_text(document, "source"),
            schema=CLOUD_EVENTS_SCHEMA,
            raw=document,
        )
    if "eventType" in document:
        event_id = _required_text(document, "id")
        event_type = _required_text(document, "eventType")
        # Required by the Event Grid schema, and may be "" (a publisher's choice), unlike id and eventType.
        subject = document.get("subject")
        if not isinstance(subject, str):
            raise NotAnEvent(
                "missing subject" if subject is None else f"subject must be a string, got {describe_value(subject)}"
            )
        _optional_text(document, "dataVersion")
        return IncomingEvent(
            id=event_id,
            event_type=event_type,
            subject=subject,
            event_time=_optional_text(document, "eventTime"),
            data=document.get("data"),
            topic=_optional_text(document, "topic"),
            schema=EVENT_GRID_SCHEMA,
            raw=document,
        )
    raise NotAnEvent("neither an Event Grid event (no eventType) nor a CloudEvent (no specversion)")


def _refuse_constant(name: str) -> Any:
    raise NotAnEvent(f"not JSON: {name} is not a JSON number")


def parse_events(body: bytes) -> list[IncomingEvent]:
    """Read a queue or webhook body: one event object, or an array of them (Event Grid's webhook batches)."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise NotAnEvent(f"not UTF-8 text ({error.reason} at byte {error.start})") from None
    if not text.strip():
        raise NotAnEvent("empty body")
    try:
        document = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as error:
        raise NotAnEvent(f"not JSON: {error.msg} at line {error.lineno} column {error.colno}") from None
    except RecursionError:
        raise NotAnEvent("not JSON amlexec can read: nested too deeply") from None
    if isinstance(document, list):
        if not document:
            raise NotAnEvent("an empty JSON array holds no event")
        events: list[IncomingEvent] = []
        for index, item in enumerate(document):
            try:
                events.append(parse_event(item))
            except NotAnEvent as error:
                raise NotAnEvent(f"[{index}]: {error.reason}") from None
        return events
    return [parse_event(document)]


# --------------------------------------------------------------------------------------------- filters


@dataclass(frozen=True)
class AdvancedFilter:
    """One advanced filter: ``key`` (``data.region``, ``subject``...) compared by ``operator`` with ``values``."""

    key: str
    operator: str
    values: tuple[FilterValue, ...]


@dataclass(frozen=True)
class BlobEventFilter:
    """A BlobEventsTrigger's typeProperties, checked."""

    blob_path_begins_with: str | None
    blob_path_ends_with: str | None
    ignore_empty_blobs: bool
    events: tuple[str, ...]
    scope: str | None


@dataclass(frozen=True)
class CustomEventFilter:
    """A CustomEventsTrigger's typeProperties, checked."""

    events: tuple[str, ...]
    subject_begins_with: str | None
    subject_ends_with: str | None
    advanced_filters: tuple[AdvancedFilter, ...]
    scope: str | None


@dataclass(frozen=True)
class Match:
    """The event starts the trigger: what ``@trigger().outputs`` returns (its ``body`` is ``@triggerBody()``)."""

    trigger_outputs: dict[str, Any]
    request_suffix: str


@dataclass(frozen=True)
class NoMatch:
    """The event does not start the trigger; ``reason`` is one line for the logs."""

    reason: str


def _is_arm_expression(value: str) -> bool:
    # ARM evaluates "[...]" at deployment; "[[" is its escape for a literal "[".
    return value.startswith("[") and value.endswith("]") and not value.startswith("[[")


class _Reader:
    """Collects issues while reading typeProperties, so one FilterError names every problem."""

    def __init__(self, type_properties: Any, path: str) -> None:
        self.path = path
        self.issues: list[Issue] = []
        if isinstance(type_properties, dict):
            self.props: dict[str, Any] = type_properties
        else:
            self.props = {}
            self.issue(path, "typeProperties must be an object", "an object", describe_value(type_properties))

    def issue(
        self, path: str, message: str, expected: str | None = None, got: str | None = None, code: str = "invalid"
    ) -> None:
        self.issues.append(Issue(path, message, expected, got, code=code))

    def at(self, key: str) -> str:
        return child_path(self.path, key)

    def text(self, key: str) -> str | None:
        """An optional string; "" reads as absent (the Data Factory UI writes "" for an empty box)."""
        value = self.props.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            self.issue(self.at(key), f"{key} must be a string", "a string", describe_value(value), "wrong_type")
            return None
        if _is_arm_expression(value):
            self.unresolved(self.at(key), value)
            return None
        return value or None

    def unresolved(self, path: str, value: str) -> None:
        self.issue(
            path,
            "holds an ARM template expression, which only a template deployment resolves",
            "the deployed value",
            describe_value(value),
            "unresolved_expression",
        )

    def scope(self, shape: re.Pattern[str], what: str, example: str) -> str | None:
        value = self.props.get("scope")
        path = self.at("scope")
        if value is None or value == "":
            self.issue(path, f"scope is required: the resource id of the {what}", example, None, "missing")
            return None
        if not isinstance(value, str):
            self.issue(path, "scope must be a string", example, describe_value(value), "wrong_type")
            return None
        if _is_arm_expression(value):
            self.unresolved(path, value)
            return None
        scope = value.rstrip("/")
        if not shape.fullmatch(scope):
            self.issue(path, f"scope is not the resource id of the {what}", example, describe_value(value))
            return None
        return scope

    def events(self, allowed: tuple[str, ...] | None) -> tuple[str, ...]:
        value = self.props.get("events")
        path = self.at("events")
        expected = "an array of " + (" and ".join(allowed) if allowed else "event types")
        if value is None:
            self.issue(path, "events is required", expected, None, "missing")
            return ()
        if not isinstance(value, list) or not value:
            self.issue(path, "events must be a non-empty array", expected, describe_value(value), "wrong_type")
            return ()
        out: list[str] = []
        for index, item in enumerate(value):
            item_path = child_path(path, index)
            if not isinstance(item, str) or not item:
                self.issue(item_path, "an event type must be a non-empty string", "a string", describe_value(item))
            elif _is_arm_expression(item):
                self.unresolved(item_path, item)
            elif allowed is None:
                out.append(item)
            else:
                canonical = next((a for a in allowed if a.casefold() == item.casefold()), None)
                if canonical is None:
                    self.issue(
                        item_path,
                        "a storage event trigger fires on blob creation or deletion only",
                        " or ".join(allowed),
                        describe_value(item),
                        "unsupported",
                    )
                else:
                    out.append(canonical)
        return tuple(out)

    def raise_if_any(self) -> None:
        if self.issues:
            raise FilterError(self.issues)


def _check_begins_with(reader: _Reader, value: str) -> None:
    path = reader.at("blobPathBeginsWith")
    expected = "/<container>/ or /<container>/blobs/<folder or file prefix>"
    if not value.startswith("/"):
        reader.issue(path, "blobPathBeginsWith must start with /<container>/", expected, describe_value(value))
        return
    container, slash, rest = value[1:].partition("/")
    if not slash:
        return  # "/contain": containers whose name begins so, as an Event Grid subject prefix reads it
    if not container:
        reader.issue(path, "blobPathBeginsWith names no container", expected, describe_value(value))
    elif rest and rest != "blobs" and not rest.startswith("blobs/"):
        reader.issue(
            path,
            f"blobPathBeginsWith needs the /blobs/ segment after the container: /{container}/blobs/{rest}",
            expected,
            describe_value(value),
        )


def _check_ends_with(reader: _Reader, value: str) -> None:
    # A leading "/" anchors a container, which must then be followed by /blobs/ (documented); without it
    # the suffix could only ever match a blob that has "/<container>/..." inside its own name.
    if value.startswith("/") and "/blobs/" not in value:
        reader.issue(
            reader.at("blobPathEndsWith"),
            "blobPathEndsWith starts with a container (leading /) but has no /blobs/ segment",
            "/<container>/blobs/<file>, or <folder>/<file> for any container",
            describe_value(value),
        )


def blob_filter_from(type_properties: Any, path: str) -> BlobEventFilter:
    """Check a BlobEventsTrigger's typeProperties (found at ``path``); raise FilterError with every issue."""
    reader = _Reader(type_properties, path)
    begins = reader.text("blobPathBeginsWith")
    ends = reader.text("blobPathEndsWith")
    if begins is not None:
        _check_begins_with(reader, begins)
    if ends is not None:
        _check_ends_with(reader, ends)
    if (
        begins is None
        and ends is None
        and not any(i.path in (reader.at("blobPathBeginsWith"), reader.at("blobPathEndsWith")) for i in reader.issues)
    ):
        reader.issue(
            path,
            "a storage event trigger needs blobPathBeginsWith or blobPathEndsWith",
            "at least one of blobPathBeginsWith, blobPathEndsWith",
            None,
            "missing",
        )
    ignore_empty = reader.props.get("ignoreEmptyBlobs", True)
    if not isinstance(ignore_empty, bool):
        reader.issue(
            reader.at("ignoreEmptyBlobs"),
            "ignoreEmptyBlobs must be true or false",
            "a boolean",
            describe_value(ignore_empty),
            "wrong_type",
        )
        ignore_empty = True
    events = reader.events(_BLOB_EVENT_TYPES)
    scope = reader.scope(
        _STORAGE_SCOPE,
        "storage account",
        "/subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.Storage/storageAccounts/<account>",
    )
    reader.raise_if_any()
    return BlobEventFilter(begins, ends, ignore_empty, events, scope)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            number = float(value)
        except OverflowError:  # an integer literal past float range: no event value compares with it sensibly
            return None
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def _boolean(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None


def _filter_value(operator: str, value: Any) -> FilterValue | None:
    if operator.startswith("Number"):
        return _number(value)
    if operator == "BoolEquals":
        return _boolean(value)
    return value if isinstance(value, str) else None


def _advanced_filter(reader: _Reader, item: Any, path: str) -> tuple[AdvancedFilter | None, int]:
    """One advancedFilters entry, and how many values it spends of the trigger's 25."""
    if not isinstance(item, dict):
        reader.issue(
            path, "an advanced filter is an object", "{key, operatorType, values}", describe_value(item), "wrong_type"
        )
        return None, 0
    ok = True
    key = item.get("key")
    if not isinstance(key, str) or not key:
        reader.issue(
            child_path(path, "key"),
            "key must name a field, like data.region or subject",
            "a string",
            describe_value(key),
            "missing" if key is None else "wrong_type",
        )
        ok = False
    elif any(not part for part in key.split(".")):
        reader.issue(
            child_path(path, "key"),
            "key has an empty segment; the dot only separates levels",
            "data.<name>[.<name>...] or an envelope field",
            describe_value(key),
        )
        ok = False
    operator = item.get("operatorType")
    operator_path = child_path(path, "operatorType")
    if not isinstance(operator, str) or operator not in SUPPORTED_OPERATORS:
        if isinstance(operator, str) and operator in _EVENT_GRID_ONLY:
            message = f"{operator} is an Event Grid operator Data Factory's custom event trigger does not support"
        elif operator is None:
            message = "operatorType is required"
        else:
            message = "operatorType is not an operator the custom event trigger supports"
        reader.issue(operator_path, message, ", ".join(SUPPORTED_OPERATORS), describe_value(operator), "unsupported")
        return None, 0
    if "values" in item:
        raw_values, values_path = item["values"], child_path(path, "values")
    elif "value" in item:
        raw_values, values_path = [item["value"]], child_path(path, "value")
    else:
        reader.issue(child_path(path, "values"), f"{operator} needs values", "an array of values", None, "missing")
        return None, 0
    if not isinstance(raw_values, list) or not raw_values:
        reader.issue(
            values_path,
            "values must be a non-empty array",
            "an array of values",
            describe_value(raw_values),
            "wrong_type",
        )
        return None, 0
    if operator in _SINGLE_VALUE and len(raw_values) != 1:
        reader.issue(
            values_path, f"{operator} compares with exactly one value", "one value", describe_value(raw_values)
        )
        ok = False
    kind = "a number" if operator.startswith("Number") else "true or false" if operator == "BoolEquals" else "a string"
    values: list[FilterValue] = []
    for index, raw in enumerate(raw_values):
        value = _filter_value(operator, raw)
        value_path = child_path(values_path, index) if "values" in item else values_path
        if value is None:
            reader.issue(value_path, f"{operator} compares with {kind}", kind, describe_value(raw), "wrong_type")
            ok = False
        elif isinstance(value, str) and len(value) > _MAX_STRING_VALUE:
            reader.issue(
                value_path,
                f"a string value holds at most {_MAX_STRING_VALUE} characters",
                None,
                f"{len(value)} characters",
                "value_too_long",
            )
            ok = False
        else:
            values.append(value)
    if not ok or not isinstance(key, str):
        return None, len(raw_values)
    return AdvancedFilter(key, operator, tuple(values)), len(raw_values)


def custom_filter_from(type_properties: Any, path: str) -> CustomEventFilter:
    """Check a CustomEventsTrigger's typeProperties (found at ``path``); raise FilterError with every issue."""
    reader = _Reader(type_properties, path)
    events = reader.events(None)
    begins = reader.text("subjectBeginsWith")
    ends = reader.text("subjectEndsWith")
    filters: list[AdvancedFilter] = []
    raw_filters = reader.props.get("advancedFilters")
    filters_path = reader.at("advancedFilters")
    if raw_filters is not None and not isinstance(raw_filters, list):
        reader.issue(
            filters_path,
            "advancedFilters must be an array",
            "an array of filters",
            describe_value(raw_filters),
            "wrong_type",
        )
    elif raw_filters:
        if len(raw_filters) > _MAX_FILTERS:
            reader.issue(
                filters_path,
                f"a custom event trigger takes at most {_MAX_FILTERS} advanced filters",
                f"at most {_MAX_FILTERS}",
                str(len(raw_filters)),
                "too_many",
            )
        spent = 0
        for index, item in enumerate(raw_filters):
            found, count = _advanced_filter(reader, item, child_path(filters_path, index))
            spent += count
            if found is not None:
                filters.append(found)
        if spent > _MAX_FILTER_VALUES:
            reader.issue(
                filters_path,
                f"advanced filters hold at most {_MAX_FILTER_VALUES} values together",
                f"at most {_MAX_FILTER_VALUES}",
                str(spent),
                "too_many",
            )
    scope = reader.scope(
        _TOPIC_SCOPE,
        "Event Grid custom topic",
        "/subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.EventGrid/topics/<topic>",
    )
    reader.raise_if_any()
    return CustomEventFilter(events, begins, ends, tuple(filters), scope)


# -------------------------------------------------------------------------------------------- matching


def _type_refused(event: IncomingEvent, events: tuple[str, ...]) -> NoMatch | None:
    wanted = {e.casefold() for e in events}
    if event.event_type.casefold() in wanted:
        return None
    return NoMatch(f"event type {event.event_type} is not one of the trigger's events ({', '.join(events)})")


def _scope_refused(event: IncomingEvent, scope: str | None) -> NoMatch | None:
    # Only an ARM id can be compared: a CloudEvent from a custom topic carries its publisher's own source.
    topic = event.topic
    if scope is None or topic is None or not topic.casefold().startswith("/subscriptions/"):
        return None
    if topic.rstrip("/").casefold() == scope.rstrip("/").casefold():
        return None
    return NoMatch(f"event comes from {topic}, the trigger listens to {scope}")


def _folded(text: str) -> str:
    return text.casefold()


def match_blob_event(event: IncomingEvent, trigger: BlobEventFilter) -> Match | NoMatch:
    """Does this storage event start the BlobEventsTrigger, and with which folderPath and fileName."""
    refused = _type_refused(event, trigger.events) or _scope_refused(event, trigger.scope)
    if refused is not None:
        return refused
    found = _BLOB_SUBJECT.fullmatch(event.subject)
    if found is None:
        return NoMatch(f"subject {event.subject!r} is not a blob path ({_SUBJECT_ROOT}/<container>/blobs/<blob>)")
    container, name = found["container"], found["name"]
    blob_path = event.subject[len(_SUBJECT_ROOT) :]  # "/<container>/blobs/<blob>", what the trigger's paths name
    begins, ends = trigger.blob_path_begins_with, trigger.blob_path_ends_with
    if begins and not _folded(blob_path).startswith(_folded(begins)):
        return NoMatch(f"blob path {blob_path} does not begin with {begins}")
    if ends and not _folded(blob_path).endswith(_folded(ends)):
        return NoMatch(f"blob path {blob_path} does not end with {ends}")
    data = event.data if isinstance(event.data, dict) else {}
    if event.event_type.casefold() == BLOB_CREATED.casefold():
        api = data.get("api")
        if isinstance(api, str) and api.casefold() in _UNCOMMITTED_CREATE_APIS:
            return NoMatch(f"ADLS Gen2 {api}: waiting for FlushWithClose")
        length = data.get("contentLength")
        if trigger.ignore_empty_blobs and isinstance(length, int) and not isinstance(length, bool) and length == 0:
            return NoMatch("empty blob ignored (ignoreEmptyBlobs)")
    folder_path, _, file_name = f"{container}/{name}".rpartition("/")
    return Match(trigger_outputs={"body": {"folderPath": folder_path, "fileName": file_name}}, request_suffix=event.id)


def _event_grid_shape(event: IncomingEvent) -> dict[str, Any]:
    """The event as ``@triggerBody().event`` shows it: Event Grid schema, whichever schema it came in."""
    if event.schema == EVENT_GRID_SCHEMA:
        return copy.deepcopy(event.raw)
    data_schema = event.raw.get("dataschema")
    return {
        "id": event.id,
        "topic": event.topic,
        "subject": event.subject,
        "eventType": event.event_type,
        "eventTime": event.event_time,
        "data": copy.deepcopy(event.data),
        "dataVersion": data_schema if isinstance(data_schema, str) else "",
        "metadataVersion": "1",
    }


_MISSING: Final = object()


def _field(mapping: Mapping[str, Any], name: str) -> Any:
    if name in mapping:
        return mapping[name]
    folded = name.casefold()
    candidates = [k for k in mapping if isinstance(k, str) and k.casefold() == folded]
    # Two fields differing only by case: refusing to guess beats picking one silently.
    return mapping[candidates[0]] if len(candidates) == 1 else _MISSING


def _resolve(key: str, *documents: Mapping[str, Any]) -> Any:
    first, *rest = key.split(".")
    for document in documents:
        value = _field(document, first)
        if value is _MISSING:
            continue
        for part in rest:
            if not isinstance(value, dict):
                return _MISSING
            value = _field(value, part)
            if value is _MISSING:
                return _MISSING
        return value
    return _MISSING


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# One comparison of an event value with one filter value; the NotIn operators test equality, _holds negates.
_COMPARE: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "NumberIn": lambda key, value: bool(key == value),
    "NumberNotIn": lambda key, value: bool(key == value),
    "NumberLessThan": lambda key, value: bool(key < value),
    "NumberGreaterThan": lambda key, value: bool(key > value),
    "NumberLessThanOrEquals": lambda key, value: bool(key <= value),
    "NumberGreaterThanOrEquals": lambda key, value: bool(key >= value),
    "BoolEquals": lambda key, value: bool(key == value),
    "StringContains": lambda key, value: _folded(value) in _folded(key),
    "StringBeginsWith": lambda key, value: _folded(key).startswith(_folded(value)),
    "StringEndsWith": lambda key, value: _folded(key).endswith(_folded(value)),
    "StringIn": lambda key, value: _folded(key) == _folded(value),
    "StringNotIn": lambda key, value: _folded(key) == _folded(value),
}


def _of_operator_type(operator: str, value: Any) -> bool:
    if operator.startswith("Number"):
        return _is_number(value)
    if operator == "BoolEquals":
        return isinstance(value, bool)
    return isinstance(value, str)


def _holds(flt: AdvancedFilter, value: Any) -> bool:
    negated = flt.operator in _NEGATED
    if value is _MISSING:
        return negated
    # null is of no operator's type, so it fails like a missing key, and matches the NotIn operators.
    candidates = [v for v in (value if isinstance(value, list) else [value]) if _of_operator_type(flt.operator, v)]
    compare = _COMPARE[flt.operator]
    hit = any(compare(candidate, wanted) for candidate in candidates for wanted in flt.values)
    return not hit if negated else hit


def _describe_filter(flt: AdvancedFilter) -> str:
    shown = ", ".join(json.dumps(v) for v in flt.values)
    return f"{flt.key} {flt.operator} [{shown}]"


def match_custom_event(event: IncomingEvent, trigger: CustomEventFilter) -> Match | NoMatch:
    """Does this event start the CustomEventsTrigger; the run sees the whole event as ``@triggerBody().event``."""
    refused = _type_refused(event, trigger.events) or _scope_refused(event, trigger.scope)
    if refused is not None:
        return refused
    subject = _folded(event.subject)
    if trigger.subject_begins_with and not subject.startswith(_folded(trigger.subject_begins_with)):
        return NoMatch(f"subject {event.subject!r} does not begin with {trigger.subject_begins_with!r}")
    if trigger.subject_ends_with and not subject.endswith(_folded(trigger.subject_ends_with)):
        return NoMatch(f"subject {event.subject!r} does not end with {trigger.subject_ends_with!r}")
    shaped = _event_grid_shape(event)
    documents: tuple[Mapping[str, Any], ...] = (shaped,) if event.schema == EVENT_GRID_SCHEMA else (shaped, event.raw)
    for flt in trigger.advanced_filters:
        if not _holds(flt, _resolve(flt.key, *documents)):
            return NoMatch(f"advanced filter {_describe_filter(flt)} does not hold")
    return Match(trigger_outputs={"body": {"event": shaped}}, request_suffix=event.id)
