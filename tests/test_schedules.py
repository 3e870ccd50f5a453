"""Which schedule occurrences fall due on a tick, whatever the timer reports as its previous tick."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from amlexec.schedules import MAX_CATCH_UP, Schedule, due_occurrences

NIGHTLY = Schedule("nightly", "0 0 2 * * *", b"{}")
NOW = datetime(2026, 11, 21, 2, 0, 4, tzinfo=UTC)


def test_a_last_tick_in_year_one_does_not_overflow() -> None:
    """What the timer extension reports before it has stored a status; the window is capped at a day."""
    (due,) = due_occurrences([NIGHTLY], now=NOW, last_tick=datetime(1, 1, 1, tzinfo=UTC))
    assert due == (NIGHTLY, datetime(2026, 11, 21, 2, 0, tzinfo=UTC))


def test_the_look_back_is_capped_at_a_day_plus_the_overlap() -> None:
    hourly = Schedule("hourly", "0 0 * * * *", b"{}")
    (due,) = due_occurrences([hourly], now=NOW, last_tick=NOW - timedelta(days=30))
    assert due[1] == datetime(2026, 11, 21, 2, 0, tzinfo=UTC), "only the latest missed occurrence"
    assert timedelta(days=1) == MAX_CATCH_UP


def test_no_previous_tick_looks_back_one_period() -> None:
    assert due_occurrences([NIGHTLY], now=NOW + timedelta(minutes=5), last_tick=None) == []
    assert due_occurrences([NIGHTLY], now=NOW, last_tick=None) == [(NIGHTLY, datetime(2026, 11, 21, 2, 0, tzinfo=UTC))]
