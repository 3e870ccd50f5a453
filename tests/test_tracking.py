"""tracking.decide, case by case: what a status check does with what it sees (pure; no fakes needed)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from amlexec.events import EventKind
from amlexec.launch.base import RunHandle, RunState, RunStatus
from amlexec.request import LaunchRequest, PublishedPipelineTarget, ResolvedPolicy
from amlexec.tracking import (
    CheckMessage,
    TrackingPolicy,
    decide,
    decide_after_failure,
    decide_after_throttle,
    next_delay,
)

START = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)
POLICY = TrackingPolicy()


def _check(*, retry: int = 0, timeout: float = 3600, **fields: Any) -> CheckMessage:
    request = LaunchRequest(
        request_id="r-1",
        correlation_id="c-1",
        activity_name="Score",
        linked_service="ls",
        workspace=None,
        target=PublishedPipelineTarget(pipeline_id="p"),
        experiment_name="e",
        policy=ResolvedPolicy(timeout_seconds=timeout, retry=retry),
        pipeline_run_id="run",
        pipeline_name="pipe",
        trigger_time=START,
    )
    handle = RunHandle(target_kind="published_pipeline", run_id="run-1", experiment_name="e", linked_service="ls")
    return CheckMessage(request=request, handle=handle, attempt_started_at=START, **fields)


def _status(raw: str) -> RunStatus:
    from amlexec.launch.base import normalise_status

    return RunStatus(state=normalise_status(raw), raw_status=raw)


@dataclass(frozen=True)
class Case:
    """One look at a run: what the check carries, what it sees, when; and what must follow."""

    name: str
    raw: str
    minutes: float = 5
    check: dict[str, Any] | None = None
    finish: EventKind | None = None
    cancel: bool = False
    relaunch: bool = False
    again_in: timedelta | None = None


CASES = [
    Case("completed", "Completed", finish=EventKind.COMPLETED),
    Case("failed, no retry left", "Failed", finish=EventKind.FAILED),
    Case("failed, a retry left", "Failed", check={"retry": 1}, relaunch=True),
    Case("failed on the last attempt", "Failed", check={"retry": 1, "attempt": 2}, finish=EventKind.FAILED),
    Case("canceled by someone else", "Canceled", finish=EventKind.CANCELED),
    Case(
        "canceled after amlexec's timeout cancel",
        "Canceled",
        check={"cancel_requested_at": START, "cancel_reason": "timeout"},
        finish=EventKind.TIMED_OUT,
    ),
    Case(
        "canceled past the deadline, amlexec's record of the cancel lost",
        "Canceled",
        minutes=61,
        finish=EventKind.TIMED_OUT,
    ),
    Case(
        "canceled after a hopeless NotResponding",
        "Canceled",
        check={"cancel_requested_at": START, "cancel_reason": "not_responding"},
        finish=EventKind.FAILED,
    ),
    Case("running, first look", "Running", minutes=0.25, again_in=timedelta(seconds=15)),
    Case("running, sixth look", "Running", check={"check_number": 5}, again_in=timedelta(seconds=15 * 1.5**5)),
    Case("running, long after", "Running", minutes=50, check={"check_number": 400}, again_in=timedelta(minutes=5)),
    Case(
        "running close to the deadline",
        "Running",
        minutes=59.9,
        check={"check_number": 400},
        again_in=timedelta(seconds=6),
    ),
    Case("running past the deadline", "Running", minutes=60, cancel=True, again_in=POLICY.cancel_recheck),
    Case(
        "timed out, a retry left",
        "Running",
        minutes=61,
        check={"retry": 1},
        cancel=True,
        again_in=POLICY.cancel_recheck,
    ),
    Case(
        "cancel requested, waiting",
        "CancelRequested",
        minutes=62,
        check={"cancel_requested_at": START + timedelta(minutes=60), "cancel_reason": "timeout"},
        again_in=POLICY.cancel_recheck,
    ),
    Case(
        "cancel never taken: ask again",
        "Running",
        minutes=62,
        check={"cancel_requested_at": START + timedelta(minutes=60), "cancel_reason": "timeout"},
        cancel=True,
        again_in=POLICY.cancel_recheck,
    ),
    Case(
        "stuck in CancelRequested past the grace",
        "CancelRequested",
        minutes=71,
        check={"cancel_requested_at": START + timedelta(minutes=60), "cancel_reason": "timeout"},
        finish=EventKind.TIMED_OUT,
    ),
    Case(
        "NotResponding, within the grace",
        "NotResponding",
        minutes=10,
        check={"not_responding_since": START + timedelta(minutes=1)},
        again_in=timedelta(seconds=15),
    ),
    Case(
        "NotResponding past the grace",
        "NotResponding",
        minutes=20,
        check={"not_responding_since": START + timedelta(minutes=1)},
        cancel=True,
        again_in=POLICY.cancel_recheck,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_decide(case: Case) -> None:
    fields = dict(case.check or {})
    retry = fields.pop("retry", 0)
    check = _check(retry=retry, **fields)
    decision = decide(check, _status(case.raw), START + timedelta(minutes=case.minutes), POLICY)
    assert decision.finish == case.finish, decision.reason
    assert decision.cancel == case.cancel, decision.reason
    assert (decision.relaunch_after is not None) == case.relaunch, decision.reason
    if case.again_in is None:
        assert decision.next_check is None, decision.reason
    else:
        assert decision.check_after is not None, decision.reason
        assert abs(decision.check_after - case.again_in) < timedelta(milliseconds=1), decision.reason
        assert decision.next_check is not None
        assert decision.next_check.check_number == check.check_number + 1, "every next check has its own id"
        assert decision.next_check.message_id != check.message_id


def test_not_responding_is_remembered_and_forgotten() -> None:
    first = decide(_check(), _status("NotResponding"), START + timedelta(minutes=3), POLICY)
    assert first.next_check is not None and first.next_check.not_responding_since == START + timedelta(minutes=3)
    recovered = decide(first.next_check, _status("Running"), START + timedelta(minutes=4), POLICY)
    assert recovered.next_check is not None and recovered.next_check.not_responding_since is None


@pytest.mark.parametrize(
    ("check_number", "seconds"), [(0, 15), (1, 22.5), (2, 33.75), (7, 256.2890625), (8, 300), (73, 300), (10_000, 300)]
)
def test_next_delay_grows_then_stays_at_the_maximum(check_number: int, seconds: float) -> None:
    assert next_delay(check_number, POLICY).total_seconds() == pytest.approx(seconds)


def test_a_check_that_keeps_failing_waits_then_ends_failed() -> None:
    check = _check()
    for failures in range(1, POLICY.max_check_failures):
        decision = decide_after_failure(check, "access_denied: 403", POLICY)
        assert decision.finish is None and decision.check_after == POLICY.max_delay
        assert decision.next_check is not None and decision.next_check.failures == failures
        check = decision.next_check
    assert decide_after_failure(check, "access_denied: 403", POLICY).finish is EventKind.FAILED


def test_a_successful_look_after_failures_starts_the_count_again() -> None:
    check = _check(failures=5)
    decision = decide(check.model_copy(update={"failures": 0}), _status("Running"), START, POLICY)
    assert decision.next_check is not None and decision.next_check.failures == 0
    assert RunState.RUNNING is _status("Running").state


EVENTGRID = TrackingPolicy(eventgrid=True)


@pytest.mark.parametrize("check_number", [0, 1, 5, 10_000])
def test_with_event_grid_polling_is_a_safety_net(check_number: int) -> None:
    assert next_delay(check_number, EVENTGRID) == timedelta(minutes=30)
    assert next_delay(check_number, EVENTGRID, eventgrid=False) == next_delay(check_number, POLICY)


def test_with_event_grid_the_last_attempt_waits_for_the_notification() -> None:
    decision = decide(_check(check_number=3), _status("Running"), START + timedelta(minutes=2), EVENTGRID)
    assert decision.check_after == timedelta(minutes=30)


def test_with_event_grid_an_attempt_followed_by_a_retry_keeps_polling() -> None:
    """Only a status check relaunches: the notification handler has the event context, not the request."""
    early = _check(retry=2, attempt=2, check_number=3)
    decision = decide(early, _status("Running"), START + timedelta(minutes=2), EVENTGRID)
    assert decision.check_after == next_delay(3, POLICY)
    last = _check(retry=2, attempt=3, check_number=3)
    assert decide(last, _status("Running"), START, EVENTGRID).check_after == timedelta(minutes=30)


def test_with_event_grid_the_timeout_still_comes_on_time() -> None:
    decision = decide(_check(timeout=600), _status("Running"), START + timedelta(minutes=2), EVENTGRID)
    assert decision.check_after == timedelta(minutes=8)


@pytest.mark.parametrize("policy", [POLICY, EVENTGRID], ids=["polling", "event grid"])
def test_a_throttled_look_comes_again_at_its_usual_time_or_after_retry_after(policy: TrackingPolicy) -> None:
    check = _check(check_number=8)
    usual = next_delay(8, POLICY).total_seconds()
    decision = decide_after_throttle(check, 2.0, policy)
    assert decision.finish is None and decision.cancel is False
    assert decision.next_check == check.model_copy(update={"check_number": 9})
    assert decision.check_after is not None
    assert usual <= decision.check_after.total_seconds() < usual * 1.5
    longer = decide_after_throttle(check, 900.0, policy).check_after
    assert longer is not None and 900 <= longer.total_seconds() < 1350


def test_checks_throttled_together_come_back_apart() -> None:
    delays = set()
    for number in range(50):
        request = _check().request.model_copy(update={"request_id": f"r-{number}"})
        decision = decide_after_throttle(_check().model_copy(update={"request": request}), 1.0, POLICY)
        delays.add(decision.check_after)
    assert len(delays) > 40
    again = decide_after_throttle(_check(), 1.0, POLICY)
    assert again == decide_after_throttle(_check(), 1.0, POLICY), "pure: the same check decides the same"
