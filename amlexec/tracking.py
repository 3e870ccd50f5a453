"""Pure decisions about runs in flight: when to check again, when a run has ended, timed out or gets retried.

No state store: a status check message carries everything a decision needs (the launch request, the run
handle, the attempt and when it started), and each decision yields the next message. A crashed check is
simply redelivered and decides again; message ids are deterministic, so duplicates collapse.

How often to look (:class:`TrackingPolicy`, :func:`next_delay`). One look at a run in flight is one Azure
ML call (``amlexec.launch.jobs``), so the schedule is the call budget. Polling only: 15 s at first, ×1.5, then
every 5 min, about 15 calls per run-hour, and a run's end is seen a median 2 min later. With Event Grid
(``AMLEXEC_EVENTGRID_TRACKING``), the run's end arrives as a notification and is published at once; polling
is a safety net: one early look (a run that failed at once, a batch job whose end overtook its properties),
then every ``safety_net`` (30 min), about 2 calls per run-hour. A run on an attempt that is followed by a
retry keeps the polling schedule even then: only a status check can relaunch it (the notification handler
has the event context, not the request), and a retry should not wait half an hour.

If Event Grid is on in the settings but the subscription is missing or broken, nothing is lost: every run
still ends at a safety-net look, at most ``safety_net`` after its end (docs/tracking.md).

Operators: ``NotResponding`` can recover, so it becomes a failure only after ``not_responding_grace``;
runs have been seen to sit in ``CancelRequested`` for days, so a cancel amlexec requested for a timeout is
reported as timed out after ``cancel_grace`` whatever the service still says.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict

from amlexec.events import EventKind
from amlexec.launch.base import RunHandle, RunState, RunStatus
from amlexec.request import LaunchRequest

__all__ = [
    "CheckMessage",
    "Decision",
    "TrackingPolicy",
    "decide",
    "decide_after_failure",
    "decide_after_throttle",
    "next_delay",
    "outcome_seen_from_outside",
]

_MAX_MESSAGE_ID = 128  # Service Bus's limit on a message id


@dataclass(frozen=True)
class TrackingPolicy:
    """How often to look at a run and how long to tolerate a stuck state."""

    initial_delay: timedelta = timedelta(seconds=15)
    backoff_factor: float = 1.5
    max_delay: timedelta = timedelta(minutes=5)
    not_responding_grace: timedelta = timedelta(minutes=15)
    cancel_grace: timedelta = timedelta(minutes=10)
    cancel_recheck: timedelta = timedelta(seconds=30)
    # A check that fails for a reason a retry cannot fix (a revoked role, a removed linked service) is tried
    # again at max_delay this many times, giving an operator time to fix it, before the request ends failed.
    max_check_failures: int = 12
    # Event Grid delivers run ends (AMLEXEC_EVENTGRID_TRACKING): after the first look, poll only every
    # safety_net, to end the runs whose notification never came.
    eventgrid: bool = False
    safety_net: timedelta = timedelta(minutes=30)
    # A throttled look waits at least the service's Retry-After, and at least this.
    throttle_min_delay: timedelta = timedelta(seconds=5)


class CheckMessage(BaseModel):
    """One status check (or, with ``action="launch"``, the launch of a retry attempt)."""

    model_config = ConfigDict(frozen=True)

    version: Literal[1] = 1
    action: Literal["check", "launch"] = "check"
    request: LaunchRequest
    handle: RunHandle | None = None
    attempt: int = 1
    check_number: int = 0
    attempt_started_at: datetime
    not_responding_since: datetime | None = None
    cancel_requested_at: datetime | None = None
    cancel_reason: Literal["timeout", "not_responding"] | None = None
    failures: int = 0
    traceparent: str | None = None

    @property
    def message_id(self) -> str:
        """Deterministic, unique per check, at most Service Bus's 128 characters.

        A long request id or activity name is shortened with a digest rather than cut off: cutting would
        drop the check number, every later check would share one id, and duplicate detection would drop
        them all, ending the tracking after its first look.
        """
        run = self.handle.run_id if self.handle else "pending"
        base = f"{self.action}|{self.request.request_id}|{self.request.activity_name}|{self.attempt}|{run}"
        suffix = f"|{self.check_number}"
        if len(base) + len(suffix) > _MAX_MESSAGE_ID:
            digest = hashlib.sha256(base.encode("utf-8", "surrogatepass")).hexdigest()[:32]
            base = f"{base[: _MAX_MESSAGE_ID - len(suffix) - len(digest) - 1]}~{digest}"
        return base + suffix


@dataclass(frozen=True)
class Decision:
    """What to do after looking at a run.

    ``finish``: publish the terminal event of this kind. ``cancel``: ask the service to cancel (timeout or
    a hopeless NotResponding). ``relaunch_after``: launch the next attempt after this delay. ``check_after``
    with ``next_check``: look again later.
    """

    finish: EventKind | None = None
    cancel: bool = False
    relaunch_after: timedelta | None = None
    check_after: timedelta | None = None
    next_check: CheckMessage | None = None
    reason: str = ""


def next_delay(check_number: int, policy: TrackingPolicy, *, eventgrid: bool | None = None) -> timedelta:
    """The wait after check ``check_number``: exponential, quick at first, then at most ``max_delay``; with
    Event Grid (``eventgrid``, by default the policy's) the safety net's ``safety_net``.

    The first check comes ``initial_delay`` after the launch either way (it is scheduled with it).
    """
    if policy.eventgrid if eventgrid is None else eventgrid:
        return policy.safety_net
    # Cap the exponent: a run tracked for days reaches check numbers whose power overflows a float or a
    # timedelta (1.5 ** 73 checks already exceeds timedelta's range); 60 doublings pass any real max_delay.
    seconds = policy.initial_delay.total_seconds() * (policy.backoff_factor ** min(check_number, 60))
    return min(policy.max_delay, timedelta(seconds=min(seconds, policy.max_delay.total_seconds())))


def _retry_or_finish(check: CheckMessage, kind: EventKind, reason: str) -> Decision:
    policy = check.request.policy
    if check.attempt <= policy.retry:
        return Decision(
            relaunch_after=timedelta(seconds=policy.retry_interval_seconds),
            reason=f"{reason}; attempt {check.attempt} of {policy.retry + 1}, retrying",
        )
    return Decision(finish=kind, reason=reason)


def decide(check: CheckMessage, status: RunStatus, now: datetime, policy: TrackingPolicy) -> Decision:
    """The next step for the run ``check`` tracks, given its ``status`` at ``now``."""
    canceled_by_us = check.cancel_requested_at is not None
    deadline = check.attempt_started_at + timedelta(seconds=check.request.policy.timeout_seconds)
    # A run amlexec canceled ends as what caused the cancel, not as "canceled".
    our_outcome = EventKind.FAILED if check.cancel_reason == "not_responding" else EventKind.TIMED_OUT
    if status.state is RunState.COMPLETED:
        return Decision(finish=EventKind.COMPLETED, reason="run completed")
    if status.state is RunState.CANCELED:
        # Past its deadline a cancellation is the timeout's, even when the message that recorded amlexec's
        # cancel was lost (a crash between the cancel and the next check): the rule needs no memory.
        if canceled_by_us or now >= deadline:
            return _retry_or_finish(check, our_outcome, f"run canceled by amlexec ({check.cancel_reason or 'timeout'})")
        return Decision(finish=EventKind.CANCELED, reason="run canceled")
    if status.state is RunState.FAILED:
        return _retry_or_finish(check, EventKind.FAILED, f"run failed ({status.error_code or status.raw_status})")

    if canceled_by_us:
        assert check.cancel_requested_at is not None
        if now - check.cancel_requested_at >= policy.cancel_grace:
            return _retry_or_finish(
                check, our_outcome, f"run still {status.raw_status} {policy.cancel_grace} after the cancel"
            )
        if status.raw_status.replace(" ", "").lower() != "cancelrequested":
            # The cancel may never have reached the service (a crash right after the intent was recorded):
            # asking again is harmless.
            return Decision(
                cancel=True,
                check_after=policy.cancel_recheck,
                next_check=check.model_copy(update={"check_number": check.check_number + 1}),
                reason="cancel not yet taken; asking again",
            )
        return _again(check, policy.cancel_recheck, "waiting for the cancel to take effect")

    if now >= deadline:
        return Decision(
            cancel=True,
            check_after=policy.cancel_recheck,
            next_check=check.model_copy(
                update={"cancel_requested_at": now, "cancel_reason": "timeout", "check_number": check.check_number + 1}
            ),
            reason="timeout reached; canceling",
        )

    not_responding_since = check.not_responding_since
    if status.raw_status.replace(" ", "").lower() == "notresponding":
        not_responding_since = not_responding_since or now
        if now - not_responding_since >= policy.not_responding_grace:
            return Decision(
                cancel=True,
                check_after=policy.cancel_recheck,
                next_check=check.model_copy(
                    update={
                        "cancel_requested_at": now,
                        "cancel_reason": "not_responding",
                        "check_number": check.check_number + 1,
                    }
                ),
                reason=f"NotResponding for {now - not_responding_since}; canceling",
            )
    else:
        not_responding_since = None

    # Event Grid can end only a run whose failure is final (or that completes): an attempt followed by a
    # retry keeps polling, so the retry starts minutes, not half an hour, after the failure.
    notified = policy.eventgrid and check.attempt > check.request.policy.retry
    delay = min(next_delay(check.check_number, policy, eventgrid=notified), max(deadline - now, timedelta(seconds=1)))
    updated = check.model_copy(update={"not_responding_since": not_responding_since})
    return _again(updated, delay, f"run {status.raw_status}")


def _again(check: CheckMessage, delay: timedelta, reason: str) -> Decision:
    return Decision(
        check_after=delay, next_check=check.model_copy(update={"check_number": check.check_number + 1}), reason=reason
    )


def decide_after_failure(check: CheckMessage, reason: str, policy: TrackingPolicy) -> Decision:
    """A check (or the launch of a retry) failed in a way a redelivery cannot fix: try again slowly, then end.

    The run may be fine, amlexec just cannot see or start it; an operator can fix the cause (grant the
    role, restore the linked service) while the checks wait at ``max_delay``. After ``max_check_failures``
    consecutive failures the request ends with a ``failed`` event carrying the reason.
    """
    failures = check.failures + 1
    if failures >= policy.max_check_failures:
        return Decision(finish=EventKind.FAILED, reason=f"{reason}; giving up after {failures} failed checks")
    return Decision(
        check_after=policy.max_delay,
        next_check=check.model_copy(update={"failures": failures, "check_number": check.check_number + 1}),
        reason=f"{reason}; check {failures} of {policy.max_check_failures} failed, trying again later",
    )


def decide_after_throttle(check: CheckMessage, retry_after: float | None, policy: TrackingPolicy) -> Decision:
    """The service throttled a look: count it as a look that saw nothing and look again later.

    Later is the usual polling interval for this check (never the longer Event Grid safety net: the run
    may have ended unseen), or the service's ``Retry-After`` if that is longer, plus up to half again.
    Nothing is lost and nothing is retried on the spot: a retry at once spends the budget that throttled
    it, and rescheduling at the usual interval means throttling never makes amlexec ask more often than
    its schedule does. The spread comes from the message id, so the decision stays pure while checks
    throttled together come back apart instead of as a second wave.
    """
    wait = max(
        policy.throttle_min_delay.total_seconds(),
        retry_after or 0.0,
        next_delay(check.check_number, policy, eventgrid=False).total_seconds(),
    )
    spread = int(hashlib.sha256(check.message_id.encode("utf-8", "surrogatepass")).hexdigest()[:8], 16) / 0xFFFFFFFF
    return Decision(
        check_after=timedelta(seconds=wait * (1.0 + spread / 2)),
        next_check=check.model_copy(update={"check_number": check.check_number + 1}),
        reason=f"throttled by the service; looking again in about {wait:.0f} s",
    )


def outcome_seen_from_outside(
    status: RunStatus,
    *,
    attempt: int,
    max_attempts: int,
    timeout_seconds: float,
    now: datetime,
    cancel_grace: timedelta = TrackingPolicy.cancel_grace,
) -> EventKind | None:
    """The outcome of a request judged from its latest run alone (a status URL has no check message).

    None while it is in progress, including when the latest attempt failed or timed out and another attempt
    follows. A cancellation past the attempt's deadline is amlexec's timeout, as in :func:`decide`; a run whose
    start is unknown is judged canceled, the outcome the checks report when they know no better. A run still
    not final ``cancel_grace`` after its deadline is timed out too, as the checks report it (runs have sat in
    CancelRequested for days).
    """
    last = attempt >= max_attempts
    if status.state is RunState.COMPLETED:
        return EventKind.COMPLETED
    if status.state is RunState.FAILED:
        return EventKind.FAILED if last else None
    if status.state is RunState.CANCELED:
        started = status.started_at
        if started is not None and now >= started + timedelta(seconds=timeout_seconds):
            return EventKind.TIMED_OUT if last else None
        return EventKind.CANCELED
    started = status.started_at
    if started is not None and now >= started + timedelta(seconds=timeout_seconds) + cancel_grace:
        return EventKind.TIMED_OUT if last else None
    return None
