"""Data Factory trigger definitions as amlexec runs them.

ScheduleTrigger (``recurrence``), TumblingWindowTrigger (``windows``, its ledger in ``table_ledger``),
BlobEventsTrigger and CustomEventsTrigger (``event_matching``), loaded from their exported JSON by
``definitions``; ``envelopes`` builds the request a firing sends; ``ncrontab`` reads schedules as Functions
timers do.
"""
