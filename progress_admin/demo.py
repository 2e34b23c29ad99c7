"""A demo learner's history: deterministic, so running demo-data twice writes nothing the second time."""

from __future__ import annotations

import datetime as dt
import hashlib
import random
import uuid
from zoneinfo import ZoneInfo

from progress_common.models import JSON_SAFE_INT_MAX, AttemptMessage

DEMO_NAMESPACE = uuid.UUID("6f1c1d1e-4b9a-4c43-9d55-0d8b6c2f7a10")
ANSWERS = ["la maison", "le chat", "die Katze", "el perro", "ich bin", "je suis", "nous sommes", "danke"]


def demo_session_id(user_id: int, back: int) -> int:
    """One session per demo day, the same on every run, within the ids the API returns exactly (sessions
    are shared by all users, so it is derived from both rather than counted)."""
    digest = hashlib.sha256(f"demo|{user_id}|{back}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % JSON_SAFE_INT_MAX + 1


def demo_attempts(user_id: int, *, days: int, timezone: str) -> list[AttemptMessage]:
    rng = random.Random(user_id)  # noqa: S311 - demo data, not security
    zone = ZoneInfo(timezone)
    today = dt.datetime.now(zone).date()
    attempts: list[AttemptMessage] = []
    for back in range(days, -1, -1):
        # practice most days; the last few days in a row, so there is a current streak
        if back > 4 and rng.random() < 0.3:
            continue
        day = today - dt.timedelta(days=back)
        session_id = demo_session_id(user_id, back)
        start = dt.datetime.combine(day, dt.time(hour=rng.choice([7, 12, 19, 21])), tzinfo=zone)
        for n in range(rng.randint(3, 12)):
            created = start + dt.timedelta(minutes=n)
            if created > dt.datetime.now(zone):
                break
            attempts.append(
                AttemptMessage(
                    attempt_uid=uuid.uuid5(DEMO_NAMESPACE, f"{user_id}:{back}:{n}"),
                    user_id=user_id,
                    exercise_id=rng.randint(1, 25),
                    is_correct=rng.random() < 0.75,
                    user_answer=rng.choice(ANSWERS),
                    created_at=created,
                    session_id=session_id,
                    timezone=timezone,
                )
            )
    return attempts
