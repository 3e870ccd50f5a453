"""Event Grid events against Data Factory storage and custom event triggers: parsing, filters, matches.

Table-driven. Every BlobEventsTrigger and CustomEventsTrigger of the public trigger corpus builds a filter
(or is refused with the issue a user would agree with) and meets one event built to fire it and one built
not to.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from amlexec.errors import ConfigurationError, Outcome, PermanentError, outcome_of
from amlexec.expressions import evaluate
from amlexec.factory_triggers.event_matching import (
    BLOB_CREATED,
    BLOB_DELETED,
    CLOUD_EVENTS_SCHEMA,
    EVENT_GRID_SCHEMA,
    AdvancedFilter,
    BlobEventFilter,
    CustomEventFilter,
    FilterError,
    IncomingEvent,
    Match,
    NoMatch,
    NotAnEvent,
    blob_filter_from,
    custom_filter_from,
    match_blob_event,
    match_custom_event,
    parse_event,
    parse_events,
)

PATH = "properties.typeProperties"
ACCOUNT = "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/acct"
OTHER_ACCOUNT = "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/other"
TOPIC = "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.EventGrid/topics/orders"


def blob_document(
    blob_path: str,
    *,
    event_type: str = BLOB_CREATED,
    api: str | None = "PutBlob",
    length: int | None = 100,
    event_id: str = "e1",
    topic: str | None = ACCOUNT,
) -> dict[str, Any]:
    """A storage event in the Event Grid schema for ``blob_path`` written as the trigger sees it: /c/blobs/name."""
    data: dict[str, Any] = {"blobType": "BlockBlob", "url": "https://acct.blob.core.windows.net" + blob_path}
    if api is not None:
        data["api"] = api
    if length is not None:
        data["contentLength"] = length
    document: dict[str, Any] = {
        "id": event_id,
        "subject": "/blobServices/default/containers" + blob_path,
        "eventType": event_type,
        "eventTime": "2026-03-01T10:00:00.1234567Z",
        "data": data,
        "dataVersion": "",
        "metadataVersion": "1",
    }
    if topic is not None:
        document["topic"] = topic
    return document


def blob_event(blob_path: str, **options: Any) -> IncomingEvent:
    return parse_event(blob_document(blob_path, **options))


def custom_document(
    event_type: str = "pipelineCompleted",
    subject: str = "factories/f1/pipelines/p1",
    data: Any = None,
    *,
    topic: str | None = TOPIC,
    event_id: str = "c1",
) -> dict[str, Any]:
    document: dict[str, Any] = {
        "id": event_id,
        "subject": subject,
        "eventType": event_type,
        "eventTime": "2026-03-01T10:00:00Z",
        "data": {"callback": "https://example.test/cb", "region": "eu"} if data is None else data,
        "dataVersion": "1.0",
        "metadataVersion": "1",
    }
    if topic is not None:
        document["topic"] = topic
    return document


def blob_filter(
    begins: str | None = "/c/blobs/",
    ends: str | None = None,
    *,
    ignore_empty: bool = True,
    events: tuple[str, ...] = (BLOB_CREATED, BLOB_DELETED),
    scope: str | None = ACCOUNT,
) -> BlobEventFilter:
    return BlobEventFilter(begins, ends, ignore_empty, events, scope)


def custom_filter(*filters: dict[str, Any], **type_properties: Any) -> CustomEventFilter:
    props: dict[str, Any] = {"events": ["pipelineCompleted"], "scope": TOPIC, **type_properties}
    if filters:
        props["advancedFilters"] = list(filters)
    return custom_filter_from(props, PATH)


def issues_of(error: pytest.ExceptionInfo[FilterError]) -> list[tuple[str, str]]:
    return [(i.path, i.code) for i in error.value.issues]


# ------------------------------------------------------------------------------------------ the corpus


def corpus_trigger(corpus_dir: Path, file_id: str) -> dict[str, Any]:
    (file,) = (corpus_dir / "triggers").glob(f"{file_id}-*.json")
    definition: dict[str, Any] = json.loads(file.read_text())
    return definition


# id: (blob path that fires it, folderPath, fileName, blob path that does not, why not)
BLOB_CORPUS: dict[str, tuple[str, str, str, str, str]] = {
    "061": ("/bronze/blobs/sales/2024/f.parquet", "bronze/sales/2024", "f.parquet",
            "/silver/blobs/f.parquet", "does not begin with /bronze/blobs/"),
    "062": ("/bronze/blobs/f.csv", "bronze", "f.csv", "/bronzeage/blobs/f.csv", "does not begin with /bronze/blobs/"),
    "063": ("/root/blobs/202206/day01.csv", "root/202206", "day01.csv",
            "/root/blobs/202207/day01.csv", "does not begin with /root/blobs/202206"),
    "064": ("/input/blobs/a.txt", "input", "a.txt", "/output/blobs/a.txt", "does not begin with /input/blobs/"),
    "065": ("/pkcontainer/blobs/inputs/Cars.csv", "pkcontainer/inputs", "Cars.csv",
            "/pkcontainer/blobs/inputs/Bikes.csv", "does not begin with"),
    "066": ("/chanleyblob/blobs/Trigger/x.parquet", "chanleyblob/Trigger", "x.parquet",
            "/chanleyblob/blobs/Trigger/x.csv", "does not end with .parquet"),
    "067": ("/mycontainer/blobs/Files/emp.csv", "mycontainer/Files", "emp.csv",
            "/mycontainer/blobs/Other/emp.csv", "does not begin with"),
    "068": ("/dldemofilesystem/blobs/MLdata/Input/train.csv", "dldemofilesystem/MLdata/Input", "train.csv",
            "/dldemofilesystem/blobs/MLdata/Output/train.csv", "does not begin with"),
    "069": ("/data/blobs/input/server.txt", "data/input", "server.txt",
            "/data/blobs/input/server.csv", "does not end with .txt"),
    "070": ("/dev/blobs/sales.csv", "dev", "sales.csv", "/dev/blobs/sales.json", "does not end with csv"),
    "071": ("/claimtool/blobs/raw/claims.xlsx", "claimtool/raw", "claims.xlsx",
            "/claimtool/blobs/raw/claims.xls", "does not end with .xlsx"),
    "072": ("/src/blobs/in.csv", "src", "in.csv", "/dst/blobs/in.csv", "does not begin with /src/blobs/"),
    "073": ("/container1/blobs/abc123.txt", "container1", "abc123.txt",
            "/container1/blobs/abc124.txt", "does not end with 123.txt"),
    "074": ("/adhocextractnew/blobs/adhocextractnew_0101.csv", "adhocextractnew", "adhocextractnew_0101.csv",
            "/adhocextractnew/blobs/other.csv", "does not begin with"),
    "075": ("/pshharchive/blobs/Flags/azdev01.rdy", "pshharchive/Flags", "azdev01.rdy",
            "/pshharchive/blobs/Flags/azdev02.rdy", "does not end with Flags/azdev01.rdy"),
    "076": ("/datasource/blobs/x.json", "datasource", "x.json",
            "/datasink/blobs/x.json", "does not begin with /datasource/blobs/"),
    "077": ("/salesevent/blobs/2024/sales.csv", "salesevent/2024", "sales.csv",
            "/salesevent/blobs/2024/sales.txt", "does not end with .csv"),
    "078": ("/raw-tests/blobs/events/e1.json", "raw-tests/events", "e1.json",
            "/raw-tests/blobs/other/e1.json", "does not begin with"),
    "079": ("/databricks-container/blobs/EventDemo/a.csv", "databricks-container/EventDemo", "a.csv",
            "/databricks-container/blobs/EventDemo/a.parquet", "does not end with .csv"),
    # "/newdata/" lacks /blobs/, which the docs allow for a whole container ("/containername/").
    "080": ("/newdata/blobs/x/y.csv", "newdata/x", "y.csv", "/newdata2/blobs/y.csv", "does not begin with /newdata/"),
    "081": ("/source/blobs/csvfiles/Fact_Sales_1.csv", "source/csvfiles", "Fact_Sales_1.csv",
            "/source/blobs/csvfiles/Fact_Sales_2.csv", "does not begin with"),
    "082": ("/eventtrigger/blobs/Test/dbo.Test1.txt", "eventtrigger/Test", "dbo.Test1.txt",
            "/eventtrigger/blobs/Test/dbo.Test2.txt", "does not begin with"),
    "083": ("/adfdemo/blobs/input/a.csv", "adfdemo/input", "a.csv",
            "/adfdemo/blobs/output/a.csv", "does not begin with /adfdemo/blobs/input/"),
}  # fmt: skip

# id: (event type that fires it, subject, event type that does not, subject, why not)
CUSTOM_CORPUS: dict[str, tuple[str, str, str, str, str]] = {
    "086": ("CustomEvents", "CustomEvents/orders/1", "CustomEvents", "Other/1", "does not begin with 'CustomEvents'"),
    "087": ("eventtriggeredfrompostman", "TestingFromPostMan/1", "Other",
            "TestingFromPostMan/1", "event type Other is not one of"),
    "088": ("TestingFromPostMan", "testingfrompostman/2", "EventTriggeredFromPostMan",
            "FromPostMan", "does not begin with"),
    "089": ("dfdfd", "dfd/x", "dfd", "dfd/x", "event type dfd is not one of the trigger's events (dfdfd)"),
    "090": ("DFDFD", "dfd", "dfdfd", "df", "does not begin with 'dfd'"),
    "091": ("pipelineCompleted", "factories/f1", "pipelineFailed", "factories/f1", "is not one of"),
    "092": ("pipelineComplete", "", "pipelineCompleted", "", "event type pipelineCompleted is not one of"),
    "093": ("test", "anything", "tests", "anything", "is not one of"),
    "094": ("pipelineFailed", "p", "pipelineCompleted", "p", "is not one of"),
    "095": ("PIPELINECOMPLETED", "p", "pipelineStarted", "p", "is not one of"),
}  # fmt: skip

# ARM exports: scope is "[parameters('...')]", which names no topic or account until deployed.
ARM_CORPUS = {"084": BLOB_CREATED, "085": BLOB_CREATED, "096": "custom", "097": "custom"}


def test_the_tables_cover_every_event_trigger_of_the_corpus(corpus_dir: Path) -> None:
    entries = [json.loads(line) for line in (corpus_dir / "triggers" / "index.jsonl").read_text().splitlines()]
    blob = {e["id"] for e in entries if e["type"] == "BlobEventsTrigger"}
    custom = {e["id"] for e in entries if e["type"] == "CustomEventsTrigger"}
    assert (len(blob), len(custom)) == (25, 12)
    assert blob == set(BLOB_CORPUS) | {"084", "085"}
    assert custom == set(CUSTOM_CORPUS) | {"096", "097"}


@pytest.mark.parametrize("file_id", sorted(BLOB_CORPUS))
def test_corpus_storage_trigger_fires_on_its_blob_and_not_on_another(corpus_dir: Path, file_id: str) -> None:
    fires, folder, file, other, why = BLOB_CORPUS[file_id]
    definition = corpus_trigger(corpus_dir, file_id)
    assert definition["properties"]["type"] == "BlobEventsTrigger"
    trigger = blob_filter_from(definition["properties"]["typeProperties"], PATH)
    event_type = trigger.events[0]
    match = match_blob_event(blob_event(fires, event_type=event_type, topic=trigger.scope), trigger)
    assert match == Match({"body": {"folderPath": folder, "fileName": file}}, "e1")
    refused = match_blob_event(blob_event(other, event_type=event_type, topic=trigger.scope), trigger)
    assert isinstance(refused, NoMatch)
    assert why in refused.reason


@pytest.mark.parametrize("file_id", sorted(CUSTOM_CORPUS))
def test_corpus_custom_trigger_fires_on_its_event_and_not_on_another(corpus_dir: Path, file_id: str) -> None:
    fires, subject, other, other_subject, why = CUSTOM_CORPUS[file_id]
    definition = corpus_trigger(corpus_dir, file_id)
    assert definition["properties"]["type"] == "CustomEventsTrigger"
    trigger = custom_filter_from(definition["properties"]["typeProperties"], PATH)
    assert (trigger.subject_ends_with, trigger.advanced_filters) == (None, ())  # the corpus writes "" and []
    match = match_custom_event(parse_event(custom_document(fires, subject, topic=trigger.scope)), trigger)
    assert isinstance(match, Match)
    assert match.trigger_outputs["body"]["event"]["eventType"] == fires
    assert match.trigger_outputs["body"]["event"]["data"]["callback"] == "https://example.test/cb"
    refused = match_custom_event(parse_event(custom_document(other, other_subject, topic=trigger.scope)), trigger)
    assert isinstance(refused, NoMatch)
    assert why in refused.reason


@pytest.mark.parametrize("file_id", sorted(ARM_CORPUS))
def test_corpus_arm_exports_are_refused_for_their_unresolved_scope(corpus_dir: Path, file_id: str) -> None:
    definition = corpus_trigger(corpus_dir, file_id)
    build = blob_filter_from if definition["properties"]["type"] == "BlobEventsTrigger" else custom_filter_from
    with pytest.raises(FilterError) as error:
        build(definition["properties"]["typeProperties"], PATH)
    assert issues_of(error) == [("properties.typeProperties.scope", "unresolved_expression")]
    assert "ARM template expression" in str(error.value)
    assert "[parameters(" in str(error.value)


# ----------------------------------------------------------------------------------- storage matching


def test_adls_gen2_create_then_flush_starts_exactly_one_run() -> None:
    path = "/lake/blobs/in/part-0001.csv"
    create = blob_event(path, api="CreateFile", length=0, event_id="create-1")
    flush = blob_event(path, api="FlushWithClose", length=4096, event_id="flush-1")
    for ignore_empty in (True, False):
        trigger = blob_filter("/lake/blobs/in/", ".csv", ignore_empty=ignore_empty)
        outcomes = [match_blob_event(create, trigger), match_blob_event(flush, trigger)]
        matches = [o for o in outcomes if isinstance(o, Match)]
        assert matches == [Match({"body": {"folderPath": "lake/in", "fileName": "part-0001.csv"}}, "flush-1")]
        assert outcomes[0] == NoMatch("ADLS Gen2 CreateFile: waiting for FlushWithClose")


@pytest.mark.parametrize(
    ("api", "event_type", "length", "ignore_empty", "expected"),
    [
        ("PutBlob", BLOB_CREATED, 0, True, NoMatch("empty blob ignored (ignoreEmptyBlobs)")),
        ("PutBlockList", BLOB_CREATED, 0, True, NoMatch("empty blob ignored (ignoreEmptyBlobs)")),
        ("FlushWithClose", BLOB_CREATED, 0, True, NoMatch("empty blob ignored (ignoreEmptyBlobs)")),
        ("PutBlob", BLOB_CREATED, 0, False, None),
        ("PutBlob", BLOB_CREATED, 1, True, None),
        ("PutBlob", BLOB_CREATED, None, True, None),  # an unknown length is not an empty blob
        ("CopyBlob", BLOB_CREATED, 10, True, None),
        (None, BLOB_CREATED, 10, True, None),  # no api given: nothing says it is uncommitted
        ("DeleteBlob", BLOB_DELETED, None, True, None),  # deletions carry no length
        ("DeleteFile", BLOB_DELETED, 0, True, None),  # ignoreEmptyBlobs is about created blobs
        ("createfile", BLOB_CREATED, 10, False, NoMatch("ADLS Gen2 createfile: waiting for FlushWithClose")),
    ],
)
def test_created_blobs_count_once_committed_and_non_empty(
    api: str | None, event_type: str, length: int | None, ignore_empty: bool, expected: NoMatch | None
) -> None:
    outcome = match_blob_event(
        blob_event("/c/blobs/a.csv", api=api, event_type=event_type, length=length),
        blob_filter(ignore_empty=ignore_empty),
    )
    assert outcome == (expected or Match({"body": {"folderPath": "c", "fileName": "a.csv"}}, "e1"))


def test_a_content_length_that_is_not_a_number_is_unknown_not_empty() -> None:
    document = blob_document("/c/blobs/a.csv")
    document["data"]["contentLength"] = "0"
    assert isinstance(match_blob_event(parse_event(document), blob_filter()), Match)
    document["data"]["contentLength"] = False
    assert isinstance(match_blob_event(parse_event(document), blob_filter()), Match)


@pytest.mark.parametrize(
    ("begins", "ends", "blob_path", "fires"),
    [
        ("/c/", None, "/c/blobs/a.csv", True),  # documented: any blob in the container
        ("/c/", None, "/cc/blobs/a.csv", False),
        ("/c", None, "/cc/blobs/a.csv", True),  # a container prefix, as an Event Grid subject prefix reads it
        ("/c/blobs", None, "/c/blobs/a.csv", True),
        ("/c/blobs/dir/", None, "/c/blobs/dir/sub/a.csv", True),
        ("/c/blobs/dir/", None, "/c/blobs/dir", False),  # the blob named "dir" is not inside folder dir/
        ("/c/blobs/dir", None, "/c/blobs/dir2/a.csv", True),  # a plain prefix, not a folder
        ("/c/blobs/dir/a.csv", None, "/c/blobs/dir/a.csv", True),  # documented: one file
        ("/c/blobs/dir/a.csv", None, "/c/blobs/dir/a.csv.bak", True),
        ("/C/blobs/Dir/", None, "/c/blobs/dir/a.csv", True),  # case-insensitive, as Event Grid's default
        (None, ".CSV", "/c/blobs/dir/a.csv", True),
        (None, ".csv", "/c/blobs/dir/a.csvx", False),
        (None, "file.txt", "/any/blobs/deep/file.txt", True),  # documented: a file name in any path
        (None, "file.txt", "/any/blobs/myfile.txt", True),  # a plain suffix
        (None, "april/shoes.csv", "/x/blobs/2018/april/shoes.csv", True),  # documented: folder in any container
        (None, "april/shoes.csv", "/x/blobs/2018/may/shoes.csv", False),
        (None, "/c/blobs/file.txt", "/c/blobs/file.txt", True),  # documented: a file at the container root
        (None, "/c/blobs/file.txt", "/c/blobs/sub/file.txt", False),
        (None, "/c/blobs/file.txt", "/d/blobs/file.txt", False),
        ("/c/blobs/in/", ".csv", "/c/blobs/in/a.csv", True),  # both must hold
        ("/c/blobs/in/", ".csv", "/c/blobs/in/a.txt", False),
        ("/c/blobs/in/", ".csv", "/c/blobs/out/a.csv", False),
    ],
)
def test_blob_path_prefixes_and_suffixes(begins: str | None, ends: str | None, blob_path: str, fires: bool) -> None:
    outcome = match_blob_event(blob_event(blob_path), blob_filter(begins, ends))
    assert isinstance(outcome, Match) is fires, outcome


@pytest.mark.parametrize(
    ("blob_path", "folder", "file"),
    [
        ("/c/blobs/file.csv", "c", "file.csv"),  # a blob at the container root: folderPath is the container
        ("/c/blobs/a/b/file.csv", "c/a/b", "file.csv"),
        ("/c/blobs/a/blobs/b.csv", "c/a/blobs", "b.csv"),  # "/blobs/" inside the blob name stays in it
        ("/c/blobs/my%20file.csv", "c", "my%20file.csv"),  # subjects are not URL-decoded: "%" is a name character
        ("/c/blobs/my file (1).csv", "c", "my file (1).csv"),
        ("/c/blobs/Ünïcode/Ä.csv", "c/Ünïcode", "Ä.csv"),
        ("/c/blobs/dir/", "c/dir", ""),  # a name ending in "/" splits literally
    ],
)
def test_folder_path_and_file_name(blob_path: str, folder: str, file: str) -> None:
    outcome = match_blob_event(blob_event(blob_path), blob_filter("/c/"))
    assert outcome == Match({"body": {"folderPath": folder, "fileName": file}}, "e1")


@pytest.mark.parametrize(
    ("document_changes", "reason"),
    [
        ({"eventType": "Microsoft.Storage.BlobRenamed"}, "event type Microsoft.Storage.BlobRenamed is not one of"),
        ({"topic": OTHER_ACCOUNT}, f"event comes from {OTHER_ACCOUNT}, the trigger listens to {ACCOUNT}"),
        ({"subject": "/blobServices/default/containers/c"}, "is not a blob path"),
        ({"subject": "/blobServices/default/containers/c/blobs/"}, "is not a blob path"),
        ({"subject": "/fileServices/default/shares/c/files/a.csv"}, "is not a blob path"),
    ],
)
def test_storage_events_the_trigger_does_not_take(document_changes: dict[str, Any], reason: str) -> None:
    document = {**blob_document("/c/blobs/a.csv"), **document_changes}
    outcome = match_blob_event(parse_event(document), blob_filter(events=(BLOB_CREATED,)))
    assert isinstance(outcome, NoMatch)
    assert reason in outcome.reason


@pytest.mark.parametrize(
    ("topic", "scope", "fires"),
    [
        (ACCOUNT, ACCOUNT, True),
        (ACCOUNT.upper(), ACCOUNT, True),  # resource ids ignore case
        (ACCOUNT + "/", ACCOUNT, True),
        (OTHER_ACCOUNT, ACCOUNT, False),
        (None, ACCOUNT, True),  # no topic: nothing to compare
        (OTHER_ACCOUNT, None, True),  # a filter built without a scope takes any account
    ],
)
def test_scope_is_compared_with_the_topic_when_both_are_known(
    topic: str | None, scope: str | None, fires: bool
) -> None:
    outcome = match_blob_event(blob_event("/c/blobs/a.csv", topic=topic), blob_filter(scope=scope))
    assert isinstance(outcome, Match) is fires


def test_a_cloud_event_from_storage_matches_like_its_event_grid_twin() -> None:
    cloud = {
        "specversion": "1.0",
        "id": "ce-1",
        "source": ACCOUNT,
        "subject": "/blobServices/default/containers/c/blobs/in/a.csv",
        "type": BLOB_CREATED,
        "time": "2026-03-01T10:00:00Z",
        "data": {"api": "PutBlockList", "contentLength": 5},
    }
    event = parse_event(cloud)
    assert (event.schema, event.topic) == (CLOUD_EVENTS_SCHEMA, ACCOUNT)
    assert match_blob_event(event, blob_filter()) == Match(
        {"body": {"folderPath": "c/in", "fileName": "a.csv"}}, "ce-1"
    )
    elsewhere = parse_event({**cloud, "source": OTHER_ACCOUNT})
    assert isinstance(match_blob_event(elsewhere, blob_filter()), NoMatch)
    empty = parse_event({**cloud, "data": {"api": "PutBlob", "contentLength": 0}})
    assert match_blob_event(empty, blob_filter()) == NoMatch("empty blob ignored (ignoreEmptyBlobs)")


def test_expressions_read_the_storage_trigger_body_as_data_factory_documents() -> None:
    match = match_blob_event(blob_event("/sample-data/blobs/event-testing/moviesDB.csv"), blob_filter("/sample-data/"))
    assert isinstance(match, Match)
    context = {"trigger": {"outputs": match.trigger_outputs}}
    assert evaluate("@triggerBody().folderPath", context) == "sample-data/event-testing"
    assert evaluate("@triggerBody().fileName", context) == "moviesDB.csv"
    assert evaluate("@trigger().outputs.body.fileName", context) == "moviesDB.csv"  # the Synapse spelling


# ---------------------------------------------------------------------------------- building filters


def test_a_storage_filter_from_type_properties() -> None:
    props = {
        "blobPathBeginsWith": "/c/blobs/in/",
        "blobPathEndsWith": ".csv",
        "scope": ACCOUNT + "/",
        "events": ["microsoft.storage.blobcreated", BLOB_DELETED],
    }
    assert blob_filter_from(props, PATH) == BlobEventFilter(
        "/c/blobs/in/", ".csv", True, (BLOB_CREATED, BLOB_DELETED), ACCOUNT
    )
    assert (
        blob_filter_from({**props, "ignoreEmptyBlobs": False, "blobPathEndsWith": ""}, PATH).ignore_empty_blobs is False
    )


@pytest.mark.parametrize("begins", ["/c/", "/c", "/", "/c/blobs", "/c/blobs/", "/c/blobs/in", "/newdata/"])
def test_storage_path_prefixes_data_factory_can_mean(begins: str) -> None:
    props = {"blobPathBeginsWith": begins, "scope": ACCOUNT, "events": [BLOB_CREATED]}
    assert blob_filter_from(props, PATH).blob_path_begins_with == begins


GOOD_BLOB = {"blobPathBeginsWith": "/c/blobs/", "scope": ACCOUNT, "events": [BLOB_CREATED]}


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"blobPathBeginsWith": None}, [(PATH, "missing")]),
        ({"blobPathBeginsWith": "", "blobPathEndsWith": ""}, [(PATH, "missing")]),
        ({"blobPathBeginsWith": 5}, [(f"{PATH}.blobPathBeginsWith", "wrong_type")]),
        ({"blobPathBeginsWith": "c/blobs/in/"}, [(f"{PATH}.blobPathBeginsWith", "invalid")]),
        ({"blobPathBeginsWith": "/c/in/"}, [(f"{PATH}.blobPathBeginsWith", "invalid")]),
        ({"blobPathBeginsWith": "//in/"}, [(f"{PATH}.blobPathBeginsWith", "invalid")]),
        ({"blobPathBeginsWith": "[parameters('p')]"}, [(f"{PATH}.blobPathBeginsWith", "unresolved_expression")]),
        ({"blobPathEndsWith": "/c/file.csv"}, [(f"{PATH}.blobPathEndsWith", "invalid")]),
        ({"ignoreEmptyBlobs": "true"}, [(f"{PATH}.ignoreEmptyBlobs", "wrong_type")]),
        ({"events": []}, [(f"{PATH}.events", "wrong_type")]),
        ({"events": None}, [(f"{PATH}.events", "missing")]),
        ({"events": ["Microsoft.Storage.BlobRenamed"]}, [(f"{PATH}.events[0]", "unsupported")]),
        ({"events": [BLOB_CREATED, 7]}, [(f"{PATH}.events[1]", "invalid")]),
        ({"events": ["[parameters('events')]"]}, [(f"{PATH}.events[0]", "unresolved_expression")]),
        ({"scope": None}, [(f"{PATH}.scope", "missing")]),
        ({"scope": TOPIC}, [(f"{PATH}.scope", "invalid")]),
        ({"scope": ["x"]}, [(f"{PATH}.scope", "wrong_type")]),
        (
            {"blobPathBeginsWith": "in/", "ignoreEmptyBlobs": 1, "scope": None},
            [
                (f"{PATH}.blobPathBeginsWith", "invalid"),
                (f"{PATH}.ignoreEmptyBlobs", "wrong_type"),
                (f"{PATH}.scope", "missing"),
            ],
        ),
    ],
)
def test_storage_filter_issues(changes: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    props = {k: v for k, v in {**GOOD_BLOB, **changes}.items() if v is not None}
    with pytest.raises(FilterError) as error:
        blob_filter_from(props, PATH)
    assert issues_of(error) == expected
    assert all(issue.message for issue in error.value.issues)


def test_issues_say_how_to_write_the_path() -> None:
    with pytest.raises(FilterError) as error:
        blob_filter_from({**GOOD_BLOB, "blobPathBeginsWith": "/c/in/"}, PATH)
    assert "/c/blobs/in/" in error.value.issues[0].message
    with pytest.raises(FilterError) as error:
        blob_filter_from("not an object", PATH)
    assert issues_of(error)[0] == (PATH, "invalid")


def test_a_custom_filter_from_type_properties() -> None:
    props = {
        "events": ["copyCompleted", "copySucceeded"],
        "subjectBeginsWith": "factories",
        "subjectEndsWith": "",
        "scope": TOPIC,
        "advancedFilters": [
            {"key": "data.Department", "operatorType": "StringIn", "values": ["Finance"]},
            {"key": "data.count", "operatorType": "NumberGreaterThan", "value": 3},
            {"key": "data.flag", "operatorType": "BoolEquals", "values": ["true"]},
            {"key": "data.month", "operatorType": "NumberNotIn", "values": ["11", 12]},
        ],
    }
    assert custom_filter_from(props, PATH) == CustomEventFilter(
        ("copyCompleted", "copySucceeded"),
        "factories",
        None,
        (
            AdvancedFilter("data.Department", "StringIn", ("Finance",)),
            AdvancedFilter("data.count", "NumberGreaterThan", (3.0,)),
            AdvancedFilter("data.flag", "BoolEquals", (True,)),
            AdvancedFilter("data.month", "NumberNotIn", (11.0, 12.0)),
        ),
        TOPIC,
    )


FILTERS = f"{PATH}.advancedFilters"
GOOD_CUSTOM: dict[str, Any] = {"events": ["e"], "scope": TOPIC}


def string_filter(count: int) -> dict[str, Any]:
    return {"key": "data.k", "operatorType": "StringIn", "values": [f"v{i}" for i in range(count)]}


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"events": None}, [(f"{PATH}.events", "missing")]),
        ({"events": "e"}, [(f"{PATH}.events", "wrong_type")]),
        ({"events": [""]}, [(f"{PATH}.events[0]", "invalid")]),
        ({"scope": ACCOUNT}, [(f"{PATH}.scope", "invalid")]),
        ({"scope": "[parameters('scope')]"}, [(f"{PATH}.scope", "unresolved_expression")]),
        ({"subjectBeginsWith": 3}, [(f"{PATH}.subjectBeginsWith", "wrong_type")]),
        ({"advancedFilters": {}}, [(FILTERS, "wrong_type")]),
        ({"advancedFilters": [string_filter(1)] * 6}, [(FILTERS, "too_many")]),
        ({"advancedFilters": [string_filter(20), string_filter(6)]}, [(FILTERS, "too_many")]),
        ({"advancedFilters": ["x"]}, [(f"{FILTERS}[0]", "wrong_type")]),
        ({"advancedFilters": [{"operatorType": "StringIn", "values": ["a"]}]}, [(f"{FILTERS}[0].key", "missing")]),
        ({"advancedFilters": [{**string_filter(1), "key": "data..k"}]}, [(f"{FILTERS}[0].key", "invalid")]),
        ({"advancedFilters": [{**string_filter(1), "operatorType": "StringNotContains"}]},
         [(f"{FILTERS}[0].operatorType", "unsupported")]),
        ({"advancedFilters": [{**string_filter(1), "operatorType": "stringin"}]},
         [(f"{FILTERS}[0].operatorType", "unsupported")]),
        ({"advancedFilters": [{"key": "k", "operatorType": "StringIn"}]}, [(f"{FILTERS}[0].values", "missing")]),
        ({"advancedFilters": [{"key": "k", "operatorType": "StringIn", "values": []}]},
         [(f"{FILTERS}[0].values", "wrong_type")]),
        ({"advancedFilters": [{"key": "k", "operatorType": "NumberIn", "values": [1, "x"]}]},
         [(f"{FILTERS}[0].values[1]", "wrong_type")]),
        ({"advancedFilters": [{"key": "k", "operatorType": "NumberIn", "values": [10**400]}]},
         [(f"{FILTERS}[0].values[0]", "wrong_type")]),
        ({"advancedFilters": [{"key": "k", "operatorType": "NumberIn", "values": ["NaN"]}]},
         [(f"{FILTERS}[0].values[0]", "wrong_type")]),
        ({"advancedFilters": [{"key": "k", "operatorType": "NumberIn", "values": [True]}]},
         [(f"{FILTERS}[0].values[0]", "wrong_type")]),
        ({"advancedFilters": [{"key": "k", "operatorType": "StringIn", "values": [5]}]},
         [(f"{FILTERS}[0].values[0]", "wrong_type")]),
        ({"advancedFilters": [{"key": "k", "operatorType": "BoolEquals", "value": "yes"}]},
         [(f"{FILTERS}[0].value", "wrong_type")]),
        ({"advancedFilters": [{"key": "k", "operatorType": "BoolEquals", "values": [True, False]}]},
         [(f"{FILTERS}[0].values", "invalid")]),
        ({"advancedFilters": [{"key": "k", "operatorType": "StringIn", "values": ["x" * 513]}]},
         [(f"{FILTERS}[0].values[0]", "value_too_long")]),
    ],
)  # fmt: skip
def test_custom_filter_issues(changes: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    props = {k: v for k, v in {**GOOD_CUSTOM, **changes}.items() if v is not None}
    with pytest.raises(FilterError) as error:
        custom_filter_from(props, PATH)
    assert issues_of(error) == expected


def test_the_limits_themselves_are_allowed() -> None:
    five = custom_filter_from({**GOOD_CUSTOM, "advancedFilters": [string_filter(5)] * 5}, PATH)
    assert len(five.advanced_filters) == 5
    values = custom_filter_from({**GOOD_CUSTOM, "advancedFilters": [string_filter(20), string_filter(5)]}, PATH)
    assert sum(len(f.values) for f in values.advanced_filters) == 25
    longest = custom_filter_from(
        {**GOOD_CUSTOM, "advancedFilters": [{**string_filter(1), "values": ["x" * 512]}]}, PATH
    )
    assert longest.advanced_filters[0].values == ("x" * 512,)


def test_an_operator_only_event_grid_has_is_named_as_such() -> None:
    with pytest.raises(FilterError) as error:
        custom_filter_from(
            {**GOOD_CUSTOM, "advancedFilters": [{**string_filter(1), "operatorType": "IsNotNull"}]}, PATH
        )
    assert "Event Grid operator Data Factory's custom event trigger does not support" in error.value.issues[0].message


def test_every_issue_is_reported_at_once() -> None:
    with pytest.raises(FilterError) as error:
        custom_filter_from(
            {"events": [], "advancedFilters": [{"key": "", "operatorType": "Nope", "values": [1]}]}, PATH
        )
    assert issues_of(error) == [
        (f"{PATH}.events", "wrong_type"),
        (f"{FILTERS}[0].key", "wrong_type"),
        (f"{FILTERS}[0].operatorType", "unsupported"),
        (f"{PATH}.scope", "missing"),
    ]
    assert "(+1 more)" in str(error.value)


def test_filter_errors_are_final_configuration_errors() -> None:
    with pytest.raises(FilterError) as error:
        blob_filter_from({}, PATH)
    assert isinstance(error.value, ConfigurationError)
    assert outcome_of(error.value) is Outcome.REJECT
    with pytest.raises(ValueError, match="at least one issue"):
        FilterError([])


# ---------------------------------------------------------------------------------- custom matching


def test_the_whole_event_is_the_trigger_body() -> None:
    document = custom_document("copyCompleted", "factories/f1", {"callback": "https://cb", "n": [1, 2]})
    match = match_custom_event(parse_event(document), custom_filter(events=["COPYCOMPLETED"]))
    assert match == Match({"body": {"event": document}}, "c1")
    assert isinstance(match, Match)
    match.trigger_outputs["body"]["event"]["data"]["n"].append(3)  # the run's copy, not the parsed event
    assert document["data"]["n"] == [1, 2]
    context = {"trigger": {"outputs": match.trigger_outputs}}
    assert evaluate("@triggerBody().event.eventType", context) == "copyCompleted"
    assert evaluate("@triggerBody().event.subject", context) == "factories/f1"
    assert evaluate("@triggerBody().event.data.callback", context) == "https://cb"
    assert evaluate("@triggerBody().event.id", context) == "c1"
    assert evaluate("@trigger().outputs.body.event.topic", context) == TOPIC


def test_a_cloud_event_is_shown_in_the_event_grid_shape() -> None:
    cloud = {
        "specversion": "1.0",
        "id": "ce-7",
        "source": "urn:orders",
        "type": "pipelineCompleted",
        "time": "2026-03-01T10:00:00Z",
        "data": {"region": "eu"},
        "dataschema": "https://schemas.test/v2",
    }
    event = parse_event(cloud)
    match = match_custom_event(event, custom_filter())  # a non-ARM source is never compared with the scope
    assert match == Match(
        {
            "body": {
                "event": {
                    "id": "ce-7",
                    "topic": "urn:orders",
                    "subject": "",
                    "eventType": "pipelineCompleted",
                    "eventTime": "2026-03-01T10:00:00Z",
                    "data": {"region": "eu"},
                    "dataVersion": "https://schemas.test/v2",
                    "metadataVersion": "1",
                }
            }
        },
        "ce-7",
    )
    plain = match_custom_event(parse_event({k: v for k, v in cloud.items() if k != "dataschema"}), custom_filter())
    assert isinstance(plain, Match)
    assert plain.trigger_outputs["body"]["event"]["dataVersion"] == ""


@pytest.mark.parametrize(
    ("type_properties", "document", "reason"),
    [
        ({"subjectBeginsWith": "factories/f2"}, custom_document(), "does not begin with 'factories/f2'"),
        ({"subjectEndsWith": ".csv"}, custom_document(), "does not end with '.csv'"),
        ({"subjectBeginsWith": "FACTORIES/", "subjectEndsWith": "/P1"}, custom_document(), None),  # case-insensitive
        ({"events": ["a", "b"]}, custom_document("B"), None),
        ({"events": ["a", "b"]}, custom_document("c"), "event type c is not one of the trigger's events (a, b)"),
        ({}, custom_document(topic=TOPIC.replace("orders", "billing")), "the trigger listens to"),
        ({}, custom_document(topic=TOPIC.upper()), None),
        ({}, custom_document(topic=None), None),
    ],
)
def test_custom_event_type_subject_and_scope(
    type_properties: dict[str, Any], document: dict[str, Any], reason: str | None
) -> None:
    outcome = match_custom_event(parse_event(document), custom_filter(**type_properties))
    if reason is None:
        assert isinstance(outcome, Match), outcome
    else:
        assert isinstance(outcome, NoMatch)
        assert reason in outcome.reason


def _f(operator: str, values: list[Any], key: str = "data.v") -> dict[str, Any]:
    return {"key": key, "operatorType": operator, "values": values}


ABSENT = object()


@pytest.mark.parametrize(
    ("flt", "value", "fires"),
    [
        (_f("NumberIn", [5, 1]), 5, True),
        (_f("NumberIn", [5, 1]), 5.0, True),
        (_f("NumberIn", [5, 1]), 2, False),
        (_f("NumberIn", [5, 1]), "5", False),  # a string is not a number: ignored
        (_f("NumberIn", [1]), True, False),  # nor is a boolean
        (_f("NumberIn", [5, 1]), ABSENT, False),
        (_f("NumberIn", [5, 1]), [2, 5], True),  # an array matches when one element does
        (_f("NumberNotIn", [41, 0]), 1, True),
        (_f("NumberNotIn", [41, 0]), 41, False),
        (_f("NumberNotIn", [41, 0]), ABSENT, True),  # documented: a missing key matches NotIn
        (_f("NumberNotIn", [41, 0]), None, True),
        (_f("NumberNotIn", [41, 0]), [1, 41], False),
        (_f("NumberNotIn", [41, 0]), [1, 2], True),
        (_f("NumberLessThan", [100]), 99.5, True),
        (_f("NumberLessThan", [100]), 100, False),
        (_f("NumberLessThanOrEquals", [100]), 100, True),
        (_f("NumberGreaterThan", [20]), 21, True),
        (_f("NumberGreaterThan", [20]), 20, False),
        (_f("NumberGreaterThan", [20]), ABSENT, False),
        (_f("NumberGreaterThanOrEquals", [30]), 30, True),
        (_f("NumberGreaterThanOrEquals", [30]), 29, False),
        (_f("NumberGreaterThanOrEquals", [30]), [1, 31], True),
        (_f("BoolEquals", [True]), True, True),
        (_f("BoolEquals", [True]), False, False),
        (_f("BoolEquals", [True]), "true", False),
        (_f("BoolEquals", [True]), 1, False),
        (_f("BoolEquals", ["false"]), False, True),
        (_f("StringContains", ["microsoft", "azure"]), "Azure Data Factory", True),
        (_f("StringContains", ["microsoft", "azure"]), "aws", False),
        (_f("StringContains", ["5"]), 5, False),
        (_f("StringBeginsWith", ["event", "message"]), "Event hubs", True),
        (_f("StringBeginsWith", ["event"]), "the event", False),
        (_f("StringEndsWith", ["jpg", "png"]), "a.PNG", True),
        (_f("StringEndsWith", ["jpg"]), "a.jpeg", False),
        (_f("StringEndsWith", ["jpg"]), "jpg.txt", False),
        (_f("StringIn", ["contoso", "fabrikam"]), "Contoso", True),
        (_f("StringIn", ["contoso"]), "contosox", False),
        (_f("StringIn", ["contoso"]), ["x", "CONTOSO"], True),
        (_f("StringIn", ["contoso"]), {"name": "contoso"}, False),
        (_f("StringNotIn", ["aws", "bridge"]), "azure", True),
        (_f("StringNotIn", ["aws", "bridge"]), "AWS", False),
        (_f("StringNotIn", ["aws"]), ABSENT, True),
        (_f("StringNotIn", ["aws"]), ["azure", "aws"], False),
    ],
)
def test_advanced_filter_operators(flt: dict[str, Any], value: Any, fires: bool) -> None:
    data = {} if value is ABSENT else {"v": value}
    outcome = match_custom_event(parse_event(custom_document(data=data)), custom_filter(flt))
    assert isinstance(outcome, Match) is fires, outcome


@pytest.mark.parametrize(
    ("key", "document_changes", "fires"),
    [
        ("data.region", {}, True),
        ("data.Region", {}, True),  # one field by that name ignoring case
        ("Data.Region", {}, True),
        ("data.region", {"data": {"Region": "eu", "region": "us"}}, False),  # the exact name wins
        ("data.REGION", {"data": {"Region": "eu", "region": "eu"}}, False),  # two candidates: no guess
        ("data.site.region", {"data": {"site": {"region": "eu"}}}, True),
        ("data.site.region", {"data": {"site": "eu"}}, False),
        ("data.region.name", {}, False),
        ("Subject", {"subject": "eu/orders"}, True),
        ("EventType", {"eventType": "pipelineCompleted"}, False),
        ("ID", {"id": "EU-1"}, True),
        ("Topic", {}, False),
    ],
)
def test_advanced_filter_keys(key: str, document_changes: dict[str, Any], fires: bool) -> None:
    document = {**custom_document(), **document_changes}
    outcome = match_custom_event(parse_event(document), custom_filter(_f("StringBeginsWith", ["eu"], key)))
    assert isinstance(outcome, Match) is fires, outcome


def test_advanced_filters_are_and_ed_and_the_refusal_names_the_failing_one() -> None:
    trigger = custom_filter(_f("StringIn", ["eu"], "data.region"), _f("NumberGreaterThan", [3], "data.count"))
    assert isinstance(
        match_custom_event(parse_event(custom_document(data={"region": "EU", "count": 4})), trigger), Match
    )
    refused = match_custom_event(parse_event(custom_document(data={"region": "eu", "count": 3})), trigger)
    assert refused == NoMatch("advanced filter data.count NumberGreaterThan [3.0] does not hold")


def test_advanced_filter_keys_reach_cloud_event_attributes() -> None:
    cloud = {
        "specversion": "1.0",
        "id": "1",
        "source": "urn:x",
        "type": "pipelineCompleted",
        "comexampleothervalue": 5,
        "data": {"appinfoA": "abc"},
    }
    for flt, fires in [
        (_f("NumberIn", [5], "comexampleothervalue"), True),
        (_f("StringIn", ["urn:x"], "source"), True),
        (_f("StringIn", ["urn:x"], "topic"), True),  # the Event Grid name of the same field
        (_f("StringIn", ["pipelinecompleted"], "type"), True),
        (_f("StringIn", ["abc"], "data.appinfoA"), True),
        (_f("StringIn", ["abd"], "data.appinfoA"), False),
    ]:
        assert isinstance(match_custom_event(parse_event(cloud), custom_filter(flt)), Match) is fires, flt


# ------------------------------------------------------------------------------------------- parsing


def test_one_event_or_an_array_of_them() -> None:
    one = json.dumps(custom_document()).encode()
    assert [e.id for e in parse_events(one)] == ["c1"]
    batch = json.dumps([custom_document(event_id="a"), blob_document("/c/blobs/x", event_id="b")]).encode()
    assert [(e.id, e.schema) for e in parse_events(batch)] == [("a", EVENT_GRID_SCHEMA), ("b", EVENT_GRID_SCHEMA)]
    assert [e.id for e in parse_events(b"\xef\xbb\xbf" + one)] == ["c1"]  # a UTF-8 BOM is not content


def test_an_event_grid_event_parsed() -> None:
    document = blob_document("/c/blobs/a.csv")
    assert parse_event(document) == IncomingEvent(
        id="e1",
        event_type=BLOB_CREATED,
        subject="/blobServices/default/containers/c/blobs/a.csv",
        event_time="2026-03-01T10:00:00.1234567Z",
        data=document["data"],
        topic=ACCOUNT,
        schema=EVENT_GRID_SCHEMA,
        raw=document,
    )


def test_a_cloud_event_parsed() -> None:
    document = {"specversion": "1.0", "id": "x", "source": "urn:s", "type": "t", "data_base64": "AAE="}
    assert parse_event(document) == IncomingEvent("x", "t", "", None, None, "urn:s", CLOUD_EVENTS_SCHEMA, document)


VALID = custom_document()
CLOUD = {"specversion": "1.0", "id": "x", "source": "urn:s", "type": "t"}


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "empty body"),
        (b"  \n", "empty body"),
        (b"\xff\xfe{}", "not UTF-8 text"),
        (b"{not json", "not JSON: Expecting property name enclosed in double quotes at line 1 column 2"),
        (b'{"eventType": NaN}', "not JSON: NaN is not a JSON number"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b"[]", "an empty JSON array holds no event"),
        (b"42", "expected a JSON object, got number 42"),
        (b'"text"', 'expected a JSON object, got string "text"'),
        (json.dumps([VALID, 5]).encode(), "[1]: expected a JSON object, got number 5"),
        (json.dumps([VALID, [VALID]]).encode(), "[1]: expected a JSON object, got array of 1 item"),
        (b"{}", "neither an Event Grid event (no eventType) nor a CloudEvent (no specversion)"),
        (json.dumps({**VALID, "id": None}).encode(), "id must be a non-empty string, got null"),
        (json.dumps({k: v for k, v in VALID.items() if k != "id"}).encode(), "missing id"),
        (json.dumps({**VALID, "id": 7}).encode(), "id must be a non-empty string, got number 7"),
        (json.dumps({**VALID, "eventType": ""}).encode(), 'eventType must be a non-empty string, got string ""'),
        (json.dumps({k: v for k, v in VALID.items() if k != "subject"}).encode(), "missing subject"),
        (json.dumps({**VALID, "subject": ["a"]}).encode(), "subject must be a string, got array of 1 item"),
        (json.dumps({**VALID, "eventTime": 1}).encode(), "eventTime must be a string, got number 1"),
        (json.dumps({**VALID, "topic": {}}).encode(), "topic must be a string, got empty object"),
        (json.dumps({**VALID, "dataVersion": 2}).encode(), "dataVersion must be a string, got number 2"),
        (json.dumps({**CLOUD, "specversion": "0.3"}).encode(), 'specversion must be "1.0", got string "0.3"'),
        (json.dumps({**CLOUD, "specversion": 1.0}).encode(), 'specversion must be "1.0", got number 1.0'),
        (json.dumps({k: v for k, v in CLOUD.items() if k != "source"}).encode(), "missing source"),
        (json.dumps({k: v for k, v in CLOUD.items() if k != "type"}).encode(), "missing type"),
        (json.dumps({**CLOUD, "subject": 3}).encode(), "subject must be a string, got number 3"),
        (json.dumps({**CLOUD, "time": False}).encode(), "time must be a string, got boolean false"),
        (json.dumps({**CLOUD, "data": {}, "data_base64": "AA=="}).encode(), "data or data_base64, not both"),
    ],
)
def test_malformed_bodies_are_not_events(body: bytes, reason: str) -> None:
    with pytest.raises(NotAnEvent) as error:
        parse_events(body)
    assert reason in error.value.reason
    assert str(error.value) == f"not an event: {error.value.reason}"


def test_not_an_event_is_a_value_error_and_final() -> None:
    with pytest.raises(NotAnEvent) as error:
        parse_event(None)
    assert isinstance(error.value, ValueError)
    assert isinstance(error.value, PermanentError)
    assert outcome_of(error.value) is Outcome.REJECT
    assert error.value.reason == "expected a JSON object, got null"
