"""A learner with some of everything the service stores (for the export and erasure tests), the AWS
stand-ins they run against (a moto server on loopback for S3 and SQS), and recounts from the raw tables."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, text

from tests.conftest import insert_attempts_sql

# Each kind of the export file and the table its lines come from (docs/export.md).
KIND_TABLES = {
    "profile": "user_profiles",
    "attempt": "attempts",
    "archived_attempt": "attempts_archive",
    "quarantined_attempt": "attempts_quarantine",
    "session": "sessions",
    "covered_day": "user_covered_days",
    "daily_total": "user_daily_stats",
    "exercise_total": "user_exercise_stats",
    "held_message": "ingest_holds",
    "settings_version": "user_settings",
    "freeze_grant": "freeze_grants",
    "repair": "streak_repairs",
    "reminder_settings": "user_reminders",
    "signal": "signal_outbox",
}
SIGNAL_KINDS = ("streak_saver", "weekly_goal_at_risk", "milestone", "freeze_used", "streak_lost")


def seed_learner(
    engine: Engine,
    user_id: int,
    *,
    live: int = 6,
    archived: int = 4,
    signals: int = 2,
    answer: str = "la maison",
) -> None:
    """Attempts live and archived (some at the same instant: keyset ties), two sessions, covered days, a
    quarantined attempt, two settings versions, a freeze grant and a repair (with 3 archived attempts or more,
    the grant's freeze keeps the day between the first two archived days: a frozen day), reminders settings
    and `signals` outbox rows (the first published, the second suppressed, the others pending); the answers
    carry `answer` and the user id, so another learner's rows can be told."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    old = now - dt.timedelta(days=400)
    rows = []
    for i in range(archived):
        rows.append(
            {
                "user_id": user_id,
                "exercise_id": 1 + i % 3,
                "is_correct": i % 2 == 0,
                "user_answer": f"{answer} {user_id} old {i}",
                # pairs at the same instant; the first pair on one day, the others two days later
                "created_at": old + dt.timedelta(days=2 * min(i // 2, 1), minutes=i // 2),
                "session_id": user_id * 10 + 1,
            }
        )
    for i in range(live):
        rows.append(
            {
                "user_id": user_id,
                "exercise_id": 4 + i % 2,
                "is_correct": i % 3 != 0,
                "user_answer": f"{answer} {user_id} new {i}",
                "created_at": now - dt.timedelta(hours=5) + dt.timedelta(minutes=i // 3),
                "session_id": user_id * 10 + 2 if i % 2 else None,
            }
        )
    insert_attempts_sql(engine, rows)
    today = now.date()
    with engine.connect() as conn:
        if archived:
            conn.execute(
                text("SELECT progress_archive_batch_v1(CAST(:cutoff AS timestamptz), 100000)"),
                {"cutoff": now - dt.timedelta(days=365)},
            )
        conn.execute(
            text(
                "SELECT * FROM progress_cover_days_v1(:first, :last, :reason, ARRAY[CAST(:u AS bigint)], NULL)"
            ),
            {
                "first": today - dt.timedelta(days=3),
                "last": today - dt.timedelta(days=2),
                "reason": "outage",
                "u": user_id,
            },
        )
        conn.execute(
            text(
                "INSERT INTO attempts_quarantine (id, user_id, exercise_id, is_correct, user_answer, created_at,"
                " attempt_uid) VALUES (:id, :u, 9, true, :answer, '1999-12-31T23:00:00+00', gen_random_uuid())"
            ),
            {
                "id": 9_000_000_000 + user_id % 1_000_000_000,
                "u": user_id,
                "answer": f"{answer} {user_id} quarantined",
            },
        )
        # a message of theirs on its way to the DLQ: the consumer held their days (holds.py)
        conn.execute(
            text("SELECT progress_hold_attempts_v1(CAST(:holds AS jsonb))"),
            {
                "holds": json.dumps(
                    [
                        {
                            "attempt_uid": str(uuid.uuid4()),
                            "user_id": user_id,
                            "held_from": (now - dt.timedelta(hours=1)).isoformat(),
                            "message_id": f"msg-{user_id}",
                            "receive_count": 3,
                            "reason": "receive 3 failed: database_unavailable",
                        }
                    ]
                )
            },
        )
        # Keeping a streak: rows as the settings, grant and repair routes write them, then the walk refreshed
        # as they do (a frozen day of the archived history, the granted freeze kept it)
        for effective_from, fields in (
            (old.date() - dt.timedelta(days=30), {"weekly_goal_days": 3}),
            (
                today - dt.timedelta(days=7),
                {
                    "rest_weekdays": [6, 7],
                    "week_start": 7,
                    "daily_goal_unit": "correct",
                    "daily_goal_target": 5,
                },
            ),
        ):
            conn.execute(
                text(
                    f"INSERT INTO user_settings (user_id, effective_from, {', '.join(fields)})"
                    f" VALUES (:u, :effective_from, {', '.join(':' + name for name in fields)})"
                ),
                {"u": user_id, "effective_from": effective_from, **fields},
            )
        conn.execute(
            text(
                "INSERT INTO freeze_grants (user_id, grant_key, requested, added, local_day, freezes_held,"
                " freezes_max) VALUES (:u, :key, 2, 1, :day, 1, 2)"
            ),
            {"u": user_id, "key": f"welcome-{user_id}", "day": old.date() - dt.timedelta(days=1)},
        )
        conn.execute(
            text(
                "INSERT INTO streak_repairs (user_id, gap_from, gap_to, attempts_done)"
                " VALUES (:u, :gap_from, :gap_to, 10)"
            ),
            {
                "u": user_id,
                "gap_from": old.date() + dt.timedelta(days=3),
                "gap_to": old.date() + dt.timedelta(days=4),
            },
        )
        conn.execute(text("SELECT progress_refresh_day_summary(:u)"), {"u": user_id})
        # signals (docs/signals.md): reminders as PUT /progress/settings writes them (no settings version),
        # outbox rows as the sweep and the publisher leave them
        conn.execute(
            text("SELECT progress_settings_put_v2(:u, now(), CAST(:changes AS jsonb))"),
            {
                "u": user_id,
                "changes": json.dumps(
                    {
                        "reminders": {
                            "kinds": {"milestone": False},
                            "reminder_time": "19:30",
                            "quiet_hours": {"from": "22:00", "to": "07:00"},
                        }
                    }
                ),
            },
        )
        for n in range(signals):
            status, reason, published_at, tries = {
                0: ("published", None, now, 1),
                1: ("suppressed", "practised", None, 0),
            }.get(n, ("pending", None, None, 0))
            conn.execute(
                text(
                    "INSERT INTO signal_outbox (user_id, kind, local_day, due_at, detail, status,"
                    " suppressed_reason, published_at, publish_attempts)"
                    " VALUES (:u, :kind, :day, :due_at, CAST(:detail AS jsonb), :status, :reason, :published_at,"
                    " :tries)"
                ),
                {
                    "u": user_id,
                    "kind": SIGNAL_KINDS[n % len(SIGNAL_KINDS)],
                    "day": today - dt.timedelta(days=n // len(SIGNAL_KINDS)),
                    "due_at": now - dt.timedelta(hours=n + 1),
                    "detail": json.dumps({"current_streak": n + 1, "user": user_id}),
                    "status": status,
                    "reason": reason,
                    "published_at": published_at,
                    "tries": tries,
                },
            )


def recount(engine: Engine, user_id: int) -> dict[str, int]:
    """Rows of the learner per export kind, counted straight from the tables."""
    with engine.connect() as conn:
        return {
            kind: conn.execute(
                text(f"SELECT count(*) FROM {table} WHERE user_id = :u"), {"u": user_id}
            ).scalar_one()
            for kind, table in KIND_TABLES.items()
        }


@dataclass
class ExportFile:
    manifest: dict[str, Any]
    lines: list[dict[str, Any]]

    @property
    def kinds(self) -> Counter[str]:
        return Counter(line["type"] for line in self.lines)

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [line for line in self.lines if line["type"] == kind]


def read_export_file(data: bytes) -> ExportFile:
    """A downloaded export: gzip JSON Lines, the manifest first."""
    text_lines = gzip.decompress(data).decode().splitlines()
    parsed = [json.loads(line) for line in text_lines]
    assert parsed and parsed[0]["type"] == "manifest", "the first line is the manifest"
    return ExportFile(parsed[0], parsed[1:])


@dataclass
class AwsStandIn:
    """A moto server on loopback holding an export bucket and queue (S3 and SQS as boto3 sees them)."""

    endpoint: str
    bucket: str
    queue_url: str
    s3: Any
    sqs: Any

    def objects(self, prefix: str = "") -> list[str]:
        answer = self.s3.list_objects_v2(Bucket=self.bucket, Prefix=prefix)
        return sorted(item["Key"] for item in answer.get("Contents") or ())

    def uploads_in_progress(self) -> list[str]:
        return [u["Key"] for u in self.s3.list_multipart_uploads(Bucket=self.bucket).get("Uploads") or ()]

    def receive(self) -> list[dict[str, Any]]:
        """The messages on the export queue (taken off it)."""
        messages = (
            self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get("Messages") or []
        )
        for message in messages:
            self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return messages


@contextmanager
def moto_server() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def make_stand_in(endpoint: str) -> AwsStandIn:
    import boto3

    s3 = boto3.client("s3", endpoint_url=endpoint)
    sqs = boto3.client("sqs", endpoint_url=endpoint)
    bucket = f"exports-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    queue_url = sqs.create_queue(QueueName=f"exports-{uuid.uuid4().hex[:12]}")["QueueUrl"]
    return AwsStandIn(endpoint, bucket, queue_url, s3, sqs)
