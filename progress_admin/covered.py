"""Covered days (`progress-admin cover-days`): days an operator covers after an outage or for a support
repair. A covered day keeps a streak unbroken without adding to it (docs/design.md "Streaks").

Who is covered: the users named, or every user who practised on a given local day (`--active-on D`: at
least one attempt, live or archived, whose practice day is D). Users without any history are skipped.
Idempotent: a day already covered for a user keeps its first reason and time, and is reported as such.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import Engine, text

COVER_SQL = text(
    "SELECT user_id, newly_covered, already_covered FROM progress_cover_days_v1("
    "CAST(:first AS date), CAST(:last AS date), :reason, CAST(:users AS bigint[]), CAST(:active_on AS date))"
)
MAX_REASON_LENGTH = 500  # as the table's CHECK
MAX_DAYS = 366  # as progress_cover_days_v1 checks


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


@dataclass(frozen=True)
class CoverReport:
    first: dt.date
    last: dt.date
    reason: str
    # user_id -> (days newly covered, days already covered)
    users: dict[int, tuple[int, int]]
    unknown_users: list[int] = field(default_factory=list)

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    @property
    def newly_covered(self) -> int:
        return sum(new for new, _ in self.users.values())

    def lines(self) -> list[str]:
        span = self.first.isoformat() if self.days == 1 else f"{self.first}..{self.last}"
        out = [
            f"covered {span} ({_count(self.days, 'day')}) for {_count(len(self.users), 'user')},"
            f" reason {self.reason!r}: {self.newly_covered} user-days newly covered,"
            f" {sum(old for _, old in self.users.values())} already covered"
        ]
        out += [
            f"  user {uid}: {new} new, {old} already covered"
            for uid, (new, old) in sorted(self.users.items())
        ]
        if self.unknown_users:
            out.append(f"  skipped (no history): {', '.join(str(u) for u in self.unknown_users)}")
        return out


def check_request(first: dt.date, last: dt.date, reason: str) -> None:
    """Raise ValueError for a request the database would refuse, before any database is started."""
    if first > last:
        raise ValueError(f"--from {first} is after --to {last}")
    if (last - first).days >= MAX_DAYS:
        raise ValueError(f"at most {MAX_DAYS} days at once")
    if not reason.strip() or len(reason.strip()) > MAX_REASON_LENGTH:
        raise ValueError(f"the reason must be 1 to {MAX_REASON_LENGTH} characters")


def cover_days(
    engine: Engine,
    first: dt.date,
    last: dt.date,
    reason: str,
    *,
    user_ids: Sequence[int] | None = None,
    active_on: dt.date | None = None,
) -> CoverReport:
    """Cover first..last for the users named or those active on `active_on`, in one transaction."""
    check_request(first, last, reason)
    if (user_ids is None) == (active_on is None):
        raise ValueError("name the users or the day they were active on, not both")
    reason = reason.strip()
    with engine.begin() as conn:
        rows = conn.execute(
            COVER_SQL,
            {
                "first": first.isoformat(),
                "last": last.isoformat(),
                "reason": reason,
                "users": "{" + ",".join(str(u) for u in user_ids) + "}" if user_ids is not None else None,
                "active_on": active_on.isoformat() if active_on else None,
            },
        ).all()
    users = {int(uid): (int(new), int(old)) for uid, new, old in rows}
    unknown = sorted({u for u in user_ids or () if u not in users})
    return CoverReport(first=first, last=last, reason=reason, users=users, unknown_users=unknown)
