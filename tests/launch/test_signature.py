"""check_parameters and SignatureCache, case by case (pure: a request and a declared signature)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from amlexec.clock import ManualClock
from amlexec.errors import RequestRejected
from amlexec.launch.signature import DeclaredInput, SignatureCache, check_parameters
from amlexec.request import LaunchRequest, PipelineComponentTarget

DECLARED = {
    "n": DeclaredInput("n", "integer", required=True),
    "flag": DeclaredInput("flag", "boolean"),
    "label": DeclaredInput("label", "string"),
}


def _request(parameters: dict[str, Any]) -> LaunchRequest:
    return LaunchRequest(
        request_id="r",
        correlation_id="c",
        activity_name="a",
        linked_service="ls",
        workspace=None,
        target=PipelineComponentTarget(name="p", version="1"),
        experiment_name="e",
        parameters=parameters,
        pipeline_run_id="run",
        pipeline_name="pipe",
        trigger_time=datetime(2026, 11, 21, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    ("parameters", "empty_allowed", "expected"),
    [
        ({"n": 1}, True, set()),
        ({"n": 1, "flag": False, "label": "x"}, True, set()),
        ({"n": 0}, False, set()),
        ({"n": 1, "label": ""}, True, set()),
        ({"n": 1, "label": ""}, False, {("label", "empty_input")}),
        ({}, True, {("n", "missing_parameter")}),
        ({"n": 1, "N": 2}, True, {("N", "unknown_parameter")}),
        (
            {"N": 1, "thresold": 0.3},
            True,
            {("N", "unknown_parameter"), ("thresold", "unknown_parameter"), ("n", "missing_parameter")},
        ),
        ({"n": 1, "run date": "x"}, True, {("['run date']", "unknown_parameter")}),
    ],
    ids=[
        "required only",
        "all",
        "zero is a value",
        "empty string allowed (v1)",
        "empty string refused (v2)",
        "missing required",
        "wrong case",
        "every issue at once",
        "a name that needs quoting in the path",
    ],
)
def test_check_parameters(parameters: dict[str, Any], empty_allowed: bool, expected: set[tuple[str, str]]) -> None:
    request = _request(parameters)
    if not expected:
        check_parameters(request, DECLARED, target="pipeline component p", allow_empty_strings=empty_allowed)
        return
    with pytest.raises(RequestRejected) as info:
        check_parameters(request, DECLARED, target="pipeline component p", allow_empty_strings=empty_allowed)
    prefix = "typeProperties.mlPipelineParameters"
    found = {(i.path.removeprefix(prefix).lstrip("."), i.code) for i in info.value.issues}
    assert found == expected


def test_a_wrong_case_name_suggests_the_declared_one() -> None:
    with pytest.raises(RequestRejected) as info:
        check_parameters(_request({"n": 1, "Flag": True}), DECLARED, target="pipeline component p")
    (issue,) = info.value.issues
    assert "did you mean 'flag'?" in issue.message and issue.expected == "one of: flag, label, n"


def test_values_and_property_name_can_be_given_explicitly() -> None:
    with pytest.raises(RequestRejected) as info:
        check_parameters(
            _request({}), DECLARED, target="batch deployment", property_name="jobInputs", values={"n": 1, "x": 2}
        )
    assert [i.path for i in info.value.issues] == ["typeProperties.jobInputs.x"]


def test_the_signature_cache_reuses_a_load_until_it_expires() -> None:
    clock = ManualClock()
    cache = SignatureCache(clock, ttl=300)
    loads: list[int] = []

    def load() -> int:
        loads.append(1)
        return len(loads)

    assert cache.get(("ws", "p"), load) == 1
    clock.advance(299)
    assert cache.get(("ws", "p"), load) == 1, "within the ttl: no second look-up"
    assert cache.get(("ws", "other"), load) == 2, "another key is looked up"
    clock.advance(2)
    assert cache.get(("ws", "p"), load) == 3, "expired: looked up again"


def test_a_failed_load_is_not_cached() -> None:
    cache = SignatureCache(ManualClock(), ttl=300)

    def failing() -> int:
        raise LookupError("the service was unreachable")

    with pytest.raises(LookupError):
        cache.get(("k",), failing)
    assert cache.get(("k",), lambda: 7) == 7
