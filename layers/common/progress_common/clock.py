"""The service's clock: the instant a read applies "today" at (streaks, the daily series).

One function, looked up at call time, so a test can set the time the handlers see instead of sleeping
or depending on the day it runs.
"""

from __future__ import annotations

import datetime as dt


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
