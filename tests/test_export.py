"""The learner's own data, out: POST /progress/export, the export worker and GET /progress/export/{id},
through the real handlers, against the real PostgreSQL and a moto server on loopback standing in for S3 and
SQS (the download link is fetched over HTTP, as a browser would)."""

from __future__ import annotations

import datetime as dt
import json
import urllib.request
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import Engine, text

from progress_common import exports
from progress_common.export_store import S3ExportStore
from tests.events import FakeLambdaContext, call, http_event, sqs_event, sqs_record
from tests.learner_data import KIND_TABLES, AwsStandIn, read_export_file, recount, seed_learner


@pytest.fixture
def handlers(aws: AwsStandIn, load_function) -> dict[str, Any]:
    return {
        name: load_function(name).lambda_handler
        for name in ("request_export", "get_export", "export_worker", "reset_progress")
    }


def post_export(handlers: dict[str, Any], user_id: int) -> tuple[int, dict[str, str], Any]:
    return call(
        handlers["request_export"], http_event("POST", "/progress/export", claims={"sub": f"user_{user_id}"})
    )


def get_export(handlers: dict[str, Any], user_id: int, export_id: str) -> tuple[int, dict[str, str], Any]:
    path = f"/progress/export/{export_id}"
    return call(handlers["get_export"], http_event("GET", path, claims={"sub": str(user_id)}))


def reset(handlers: dict[str, Any], user_id: int) -> tuple[int, dict[str, str], Any]:
    return call(
        handlers["reset_progress"], http_event("POST", "/progress/reset", claims={"sub": str(user_id)})
    )


def run_worker(handlers: dict[str, Any], aws: AwsStandIn) -> list[dict[str, Any]]:
    """Deliver what the export queue holds to the worker, as the event source mapping does (one each)."""
    responses = []
    for message in aws.receive():
        record = sqs_record(message["Body"], message_id=message["MessageId"])
        responses.append(handlers["export_worker"](sqs_event(record), FakeLambdaContext()))
    return responses


def download(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:  # the moto server on loopback
        return response.read()


def test_an_export_holds_everything_of_the_learner_and_nothing_of_anyone_else(
    handlers, aws, db: Engine, new_user_id, load_function
) -> None:
    learner, other = new_user_id(), new_user_id()
    seed_learner(db, learner, live=7, archived=5, answer="la maison")
    seed_learner(db, other, live=3, archived=2, answer="der Hund")

    status, headers, started = post_export(handlers, learner)
    assert status == 202, started
    export_id = started["export_id"]
    assert headers["location"] == f"/progress/export/{export_id}"
    assert started["status"] == "pending" and started["download_url"] is None
    assert get_export(handlers, learner, export_id)[2]["status"] == "pending"

    assert run_worker(handlers, aws) == [{"batchItemFailures": []}]
    status, _, ready = get_export(handlers, learner, export_id)
    assert status == 200 and ready["status"] == "ready", ready
    truth = recount(db, learner)
    assert ready["counts"] == truth and ready["format_version"] == 1
    assert truth["attempt"] == 7 and truth["archived_attempt"] == 5 and truth["covered_day"] == 2
    assert (truth["settings_version"], truth["freeze_grant"], truth["repair"]) == (2, 1, 1)
    assert (truth["reminder_settings"], truth["signal"]) == (1, 2)

    # the pre-signed link: the file, for 15 minutes, saved under a name of its own
    link = urlsplit(ready["download_url"])
    assert parse_qs(link.query)["X-Amz-Expires"] == ["900"]
    expires_at = dt.datetime.fromisoformat(ready["download_expires_at"])
    assert dt.timedelta(minutes=14) < expires_at - dt.datetime.now(dt.UTC) <= dt.timedelta(minutes=15)
    data = download(ready["download_url"])
    assert len(data) == ready["size_bytes"]
    exported = read_export_file(data)

    manifest = exported.manifest
    assert manifest["format"] == "progress-export" and manifest["format_version"] == 1
    assert manifest["user_id"] == learner and manifest["counts"] == truth == dict(exported.kinds)
    generated = dt.datetime.fromisoformat(manifest["generated_at"])
    assert abs(generated - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=1)

    # every row of the learner, once, with what it held
    with db.connect() as conn:
        live = conn.execute(
            text(
                "SELECT id, user_answer, created_at FROM attempts WHERE user_id = :u ORDER BY created_at, id"
            ),
            {"u": learner},
        ).all()
        archived_ids = conn.execute(
            text("SELECT id FROM attempts_archive WHERE user_id = :u ORDER BY created_at, id"), {"u": learner}
        ).scalars()
        archived_ids = list(archived_ids)
    attempts = exported.of("attempt")
    assert [(a["id"], a["user_answer"]) for a in attempts] == [(r.id, r.user_answer) for r in live]
    assert [dt.datetime.fromisoformat(a["created_at"]) for a in attempts] == [r.created_at for r in live]
    assert [a["id"] for a in exported.of("archived_attempt")] == archived_ids
    assert all(a["archived_at"] for a in exported.of("archived_attempt"))
    assert [c["reason"] for c in exported.of("covered_day")] == ["outage", "outage"]
    (profile,) = exported.of("profile")
    assert profile["user_id"] == learner and profile["total_attempts"] == 12
    assert sum(d["attempts"] for d in exported.of("daily_total")) == 12
    assert {s["id"] for s in exported.of("session")} == {learner * 10 + 1, learner * 10 + 2}
    # Keeping a streak: the settings versions (as GET /progress/settings names them), grants and repairs;
    # the frozen days are derived from them and the days, so not in the file
    today = dt.datetime.now(dt.UTC).date()
    first, second = exported.of("settings_version")
    assert first["effective_from"] < second["effective_from"] == str(today - dt.timedelta(days=7))
    assert (first["rest_weekdays"], first["week_start"], first["daily_goal"], first["weekly_goal_days"]) == (
        [],
        "mon",
        None,
        3,
    )
    assert (second["rest_weekdays"], second["week_start"], second["daily_goal"]) == (
        ["sat", "sun"],
        "sun",
        {"unit": "correct", "target": 5},
    )
    assert list(second) == [
        "type",
        "effective_from",
        "rest_weekdays",
        "day_start_minutes",
        "daily_goal",
        "weekly_goal_days",
        "week_start",
        "reminders",
        "changed_at",
    ]
    ((grant_day, gap_from, gap_to),) = db.connect().execute(
        text(
            "SELECT g.local_day, r.gap_from, r.gap_to FROM freeze_grants g JOIN streak_repairs r USING (user_id)"
            " WHERE user_id = :u"
        ),
        {"u": learner},
    )
    ((grant,),) = [exported.of("freeze_grant")]
    assert {k: v for k, v in grant.items() if k not in ("id", "created_at")} == {
        "type": "freeze_grant",
        "key": f"welcome-{learner}",
        "source": "granted",
        "requested": 2,
        "added": 1,
        "freezes_held": 1,
        "freezes_max": 2,
        "day": str(grant_day),
    }
    ((repair,),) = [exported.of("repair")]
    assert (repair["gap_from"], repair["gap_to"], repair["attempts_done"]) == (str(gap_from), str(gap_to), 10)
    with db.connect() as conn:  # the learner has a frozen day, and it is not exported
        assert conn.execute(
            text("SELECT count(*) FROM user_frozen_days WHERE user_id = :u"), {"u": learner}
        ).scalar()
    assert not {kind for kind in exported.kinds if "frozen" in kind}

    # signals (docs/signals.md): the reminders as GET /progress/settings shows them, the outbox rows as they
    # are; the settings versions' `reminders` is a column no writer sets (reminders are kept apart)
    assert [v["reminders"] for v in exported.of("settings_version")] == [None, None]
    (reminders,) = exported.of("reminder_settings")
    status, _, settings = call(
        load_function("settings").lambda_handler,
        http_event("GET", "/progress/settings", claims={"sub": str(learner)}),
    )
    assert status == 200 and reminders["reminders"] == settings["reminders"]
    assert reminders["reminders"] == {
        "kinds": {
            "streak_saver": True,
            "weekly_goal_at_risk": True,
            "milestone": False,
            "freeze_used": True,
            "streak_lost": True,
        },
        "reminder_time": "19:30",
        "quiet_hours": {"from": "22:00", "to": "07:00"},
    }
    assert list(reminders) == ["type", "reminders", "updated_at"]
    with db.connect() as conn:
        outbox = conn.execute(
            text(
                "SELECT id, kind, local_day, due_at, created_at, detail, status, suppressed_reason, published_at,"
                " publish_attempts FROM signal_outbox WHERE user_id = :u ORDER BY id"
            ),
            {"u": learner},
        ).mappings()
        outbox = [dict(row) for row in outbox]
        updated_at = conn.execute(
            text("SELECT updated_at FROM user_reminders WHERE user_id = :u"), {"u": learner}
        ).scalar_one()
    assert dt.datetime.fromisoformat(reminders["updated_at"]) == updated_at
    signals = exported.of("signal")
    assert [list(line) for line in signals] == [["type", *outbox[0]]] * 2
    for line, row in zip(signals, outbox, strict=True):
        assert {k: v for k, v in line.items() if k != "type"} == {
            **row,
            "local_day": str(row["local_day"]),
            "due_at": line["due_at"],
            "created_at": line["created_at"],
            "published_at": line["published_at"],
        }
        for instant in ("due_at", "created_at", "published_at"):
            assert (line[instant] and dt.datetime.fromisoformat(line[instant])) == row[instant]
    assert [(s["status"], s["suppressed_reason"], s["publish_attempts"]) for s in signals] == [
        ("published", None, 1),
        ("suppressed", "practised", 0),
    ]
    assert signals[0]["published_at"] and signals[1]["published_at"] is None
    assert signals[0]["detail"] == {"current_streak": 1, "user": learner}

    # nothing of the other learner: not their answers, not their rows
    raw = json.dumps(exported.lines)
    assert "der Hund" not in raw and str(other) not in raw
    assert f"users/{learner}/{export_id}/" in aws.objects()[0]


def test_pages_follow_the_keyset_across_ties_and_kinds(aws, db: Engine, new_user_id, count_sql) -> None:
    learner = new_user_id()
    other = new_user_id()
    # pairs and triples at the same instant; signals over three pages of 2
    seed_learner(db, learner, live=11, archived=9, signals=5)
    seed_learner(db, other, live=1, archived=0, signals=3)  # signals of another learner in the same table
    ((export_id, *_),) = db.connect().execute(
        text("SELECT export_id, created FROM progress_export_request_v1(:u, 3600, 30)"), {"u": learner}
    )
    count_sql.reset()
    run = exports.run_export(export_id, page_rows=2)
    assert run.outcome == "ready"
    pages = [s for s in count_sql.statements if "progress_export_page_v4" in s]
    # manifest, profile, then each kind in pages of 2 (a full last page costs one empty page more; the
    # kinds of a handful of rows at most, held_message and reminder_settings, one page: they hold 1 here)
    counts = recount(db, learner)
    assert (counts["held_message"], counts["reminder_settings"], counts["signal"]) == (1, 1, 5)
    expected = 2 + sum(n // 2 + 1 for kind, n in counts.items() if kind != "profile")
    assert len(pages) == run.pages == expected
    key = aws.objects()[0]
    exported = read_export_file(aws.s3.get_object(Bucket=aws.bucket, Key=key)["Body"].read())
    ids = [a["id"] for a in exported.of("attempt")]
    assert len(ids) == len(set(ids)) == 11
    assert len({a["id"] for a in exported.of("archived_attempt")}) == 9
    with db.connect() as conn:
        outbox_ids = list(
            conn.execute(
                text("SELECT id FROM signal_outbox WHERE user_id = :u ORDER BY id"), {"u": learner}
            ).scalars()
        )
    assert [s["id"] for s in exported.of("signal")] == outbox_ids and len(outbox_ids) == 5
    assert all(s["detail"]["user"] == learner for s in exported.of("signal"))
    assert dict(exported.kinds) == exported.manifest["counts"] == recount(db, learner)


def test_archival_between_two_pages_neither_repeats_nor_loses_an_attempt(
    aws, db: Engine, new_user_id
) -> None:
    """One snapshot for the whole export: rows archived while it runs are where they were when it began."""
    learner = new_user_id()
    seed_learner(db, learner, live=8, archived=0)
    with db.connect() as conn:
        conn.execute(
            text("UPDATE attempts SET created_at = created_at - interval '400 days' WHERE user_id = :u"),
            {"u": learner},
        )
    store = S3ExportStore(aws.bucket, 5 * 1024 * 1024)

    class ArchivingWriter:
        """Archives the learner's attempts after the first page of them has been written."""

        def __init__(self) -> None:
            self.inner = store.writer(f"users/{learner}/{uuid.uuid4()}/{uuid.uuid4()}.jsonl.gz", "x")
            self.writes = 0

        def write(self, data: bytes) -> None:
            self.writes += 1
            if self.writes == 3:  # manifest, profile, the first page of attempts
                with db.connect() as conn:
                    conn.execute(text("SELECT progress_archive_batch_v1(now() - interval '365 days', 1000)"))
            self.inner.write(data)

    writer = ArchivingWriter()
    manifest, _ = exports.write_export(db, learner, writer, page_rows=3)
    writer.inner.close()
    assert recount(db, learner)["archived_attempt"] == 8  # it did move, meanwhile
    key = aws.objects()[0]
    exported = read_export_file(aws.s3.get_object(Bucket=aws.bucket, Key=key)["Body"].read())
    assert manifest["counts"]["attempt"] == 8 and manifest["counts"]["archived_attempt"] == 0
    assert len({a["id"] for a in exported.of("attempt")}) == 8 and exported.of("archived_attempt") == []


def test_one_export_in_progress_per_learner(handlers, aws, db, new_user_id) -> None:
    learner, other = new_user_id(), new_user_id()
    seed_learner(db, learner)
    status, _, first = post_export(handlers, learner)
    assert status == 202
    status, _, refused = post_export(handlers, learner)
    assert status == 409
    assert refused["error"]["code"] == "export_in_progress"
    assert refused["error"]["details"] == [{"export_id": first["export_id"]}]
    assert post_export(handlers, other)[0] == 202  # one per learner, not one for everybody
    assert len(aws.receive()) == 2  # the refused request queued nothing
    with db.connect() as conn:
        conn.execute(
            text("UPDATE exports SET status = 'ready', finished_at = now() WHERE user_id = :u"),
            {"u": learner},
        )
    assert post_export(handlers, learner)[0] == 202  # the first is done: a new one may start


def test_another_learners_export_is_not_found_and_a_malformed_id_is_refused(
    handlers, aws, db, new_user_id
) -> None:
    learner, other = new_user_id(), new_user_id()
    seed_learner(db, learner)
    export_id = post_export(handlers, learner)[2]["export_id"]
    run_worker(handlers, aws)
    assert get_export(handlers, learner, export_id)[2]["status"] == "ready"
    status, _, body = get_export(handlers, other, export_id)
    assert status == 404 and body["error"]["code"] == "export_not_found" and "download_url" not in str(body)
    assert get_export(handlers, learner, str(uuid.uuid4()))[0] == 404
    status, _, body = get_export(handlers, learner, "not-a-uuid")
    assert status == 422 and body["error"]["code"] == "validation_error"
    status, _, _ = call(
        handlers["get_export"], http_event("GET", f"/progress/export/{export_id}", authorizer=False)
    )
    assert status == 401


def test_an_export_whose_worker_died_reads_failed_and_no_longer_blocks(
    handlers, aws, db, new_user_id
) -> None:
    learner = new_user_id()
    stuck = post_export(handlers, learner)[2]["export_id"]
    aws.receive()  # the worker never gets it
    with db.connect() as conn:
        conn.execute(
            text("UPDATE exports SET created_at = now() - make_interval(secs => :s + 1) WHERE id = :id"),
            {"s": exports.EXPORT_STALE_SECONDS, "id": stuck},
        )
    status, _, body = get_export(handlers, learner, stuck)
    assert (status, body["status"], body["failure"]) == (200, "failed", "timed_out")
    status, _, fresh = post_export(handlers, learner)
    assert status == 202 and fresh["export_id"] != stuck
    # a late message of the stale export does nothing
    assert exports.run_export(uuid.UUID(stuck)).outcome == "skipped"


def test_a_ready_export_expires_with_its_file(handlers, aws, db, new_user_id) -> None:
    learner = new_user_id()
    export_id = post_export(handlers, learner)[2]["export_id"]
    run_worker(handlers, aws)
    with db.connect() as conn:
        conn.execute(
            text("UPDATE exports SET finished_at = now() - make_interval(days => :d + 1) WHERE id = :id"),
            {"d": exports.EXPORT_RETENTION_DAYS, "id": export_id},
        )
    status, _, body = get_export(handlers, learner, export_id)
    assert (status, body["status"], body["download_url"]) == (200, "expired", None)


def test_a_queue_that_cannot_be_reached_is_a_503_and_the_export_does_not_block(
    handlers, aws, db, new_user_id, monkeypatch
) -> None:
    from progress_common.settings import ExportSettings, set_export_settings

    learner = new_user_id()
    set_export_settings(ExportSettings(export_bucket=aws.bucket, export_queue_url="http://127.0.0.1:9/queue"))
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", "http://127.0.0.1:9")  # nobody listens there
    exports.reset_queue_client()
    status, headers, body = post_export(handlers, learner)
    assert status == 503 and body["error"]["code"] == "export_unavailable" and int(headers["retry-after"]) > 0
    with db.connect() as conn:
        row = conn.execute(
            text("SELECT status, failure FROM exports WHERE user_id = :u"), {"u": learner}
        ).one()
    assert tuple(row) == ("failed", "not_queued")
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", aws.endpoint)
    set_export_settings(ExportSettings(export_bucket=aws.bucket, export_queue_url=aws.queue_url))
    exports.reset_queue_client()
    assert post_export(handlers, learner)[0] == 202


class FailingStore:
    """A store whose upload breaks after the first part of data: what a lost S3 connection looks like."""

    def __init__(self, inner: S3ExportStore) -> None:
        self.inner = inner

    def writer(self, key: str, filename: str) -> Any:
        real = self.inner.writer(key, filename)

        class Writer:
            writes = 0

            def write(self, data: bytes) -> None:
                Writer.writes += 1
                if Writer.writes == 2:
                    from botocore.exceptions import EndpointConnectionError

                    raise EndpointConnectionError(endpoint_url="https://s3.example")
                real.write(data)

            def close(self) -> int:
                return real.close()

            def abort(self) -> None:
                real.abort()

        return Writer()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_a_storage_failure_fails_the_export_with_its_reason_and_leaves_no_upload(
    handlers, aws, db, new_user_id, captured_logs
) -> None:
    learner = new_user_id()
    seed_learner(db, learner, answer="geheime Antwort")
    export_id = uuid.UUID(post_export(handlers, learner)[2]["export_id"])
    aws.receive()
    run = exports.run_export(export_id, store=FailingStore(S3ExportStore(aws.bucket, 5 * 1024 * 1024)))
    assert (run.outcome, run.failure) == ("failed", "storage_unavailable")
    status, _, body = get_export(handlers, learner, str(export_id))
    assert status == 200
    assert (body["status"], body["failure"], body["download_url"]) == ("failed", "storage_unavailable", None)
    assert aws.objects() == [] and aws.uploads_in_progress() == []
    assert post_export(handlers, learner)[0] == 202  # a failed export does not block the next
    assert "geheime Antwort" not in captured_logs()


def test_an_export_erased_while_it_runs_leaves_no_file(handlers, aws, db, new_user_id) -> None:
    learner = new_user_id()
    seed_learner(db, learner)
    export_id = uuid.UUID(post_export(handlers, learner)[2]["export_id"])
    aws.receive()
    store = S3ExportStore(aws.bucket, 5 * 1024 * 1024)

    class ResetDuringUpload:
        def writer(self, key: str, filename: str) -> Any:
            real = store.writer(key, filename)

            class Writer:
                def write(self, data: bytes) -> None:
                    real.write(data)

                def close(self) -> int:
                    size = real.close()
                    call(
                        handlers["reset_progress"],
                        http_event("POST", "/progress/reset", claims={"sub": str(learner)}),
                    )
                    return size

                def abort(self) -> None:
                    real.abort()

            return Writer()

        def __getattr__(self, name: str) -> Any:
            return getattr(store, name)

    run = exports.run_export(export_id, store=ResetDuringUpload())
    assert run.outcome == "abandoned"
    assert aws.objects() == []
    assert get_export(handlers, learner, str(export_id))[0] == 404


def test_the_worker_logs_figures_never_answers_and_fails_a_foreign_message_alone(
    handlers, aws, db, new_user_id, captured_logs
) -> None:
    learner = new_user_id()
    seed_learner(db, learner, answer="streng geheim")
    post_export(handlers, learner)
    (message,) = aws.receive()
    good = sqs_record(message["Body"])
    poison = sqs_record('{"export_id": "not a uuid"}')
    from progress_common.observability import logger

    quiet = logger.log_level  # the tests run at WARNING; in AWS, POWERTOOLS_LOG_LEVEL is INFO
    logger.setLevel("INFO")
    try:
        response = handlers["export_worker"](sqs_event(good, poison), FakeLambdaContext())
    finally:
        logger.setLevel(quiet)
    assert response == {"batchItemFailures": [{"itemIdentifier": poison["messageId"]}]}
    logs = captured_logs()
    assert "streng geheim" not in logs
    ready = [json.loads(line) for line in logs.splitlines() if '"export ready"' in line]
    assert ready and ready[0]["rows"] == sum(recount(db, learner).values())
    # delivered again (SQS is at least once): the export is done, nothing is written twice
    assert handlers["export_worker"](sqs_event(sqs_record(message["Body"])), FakeLambdaContext()) == {
        "batchItemFailures": []
    }
    assert len(aws.objects()) == 1


def test_a_reset_removes_the_learners_exports_and_their_files(handlers, aws, db, new_user_id) -> None:
    learner, other = new_user_id(), new_user_id()
    for user in (learner, other):
        seed_learner(db, user)
        post_export(handlers, user)
    run_worker(handlers, aws)
    assert len(aws.objects()) == 2
    status, _, body = call(
        handlers["reset_progress"], http_event("POST", "/progress/reset", claims={"sub": str(learner)})
    )
    assert status == 200 and body["deleted"]["exports"] == 1
    assert aws.objects(f"users/{learner}/") == [] and len(aws.objects(f"users/{other}/")) == 1
    with db.connect() as conn:
        assert (
            conn.execute(text("SELECT count(*) FROM exports WHERE user_id = :u"), {"u": learner}).scalar()
            == 0
        )


def test_a_reset_whose_files_cannot_be_deleted_still_resets_and_says_so(
    handlers, aws, db, new_user_id, monkeypatch, captured_logs
) -> None:
    learner = new_user_id()
    post_export(handlers, learner)
    run_worker(handlers, aws)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9")
    from progress_common import export_store

    export_store.forget_stores()
    status, _, body = call(
        handlers["reset_progress"], http_event("POST", "/progress/reset", claims={"sub": str(learner)})
    )
    assert status == 200 and body["deleted"]["exports"] == 1
    assert "export files left after a reset" in captured_logs()
    assert len(aws.objects(f"users/{learner}/")) == 1  # the lifecycle rule's to expire


def test_the_manifest_kinds_are_the_tables_of_the_learners_data(db, new_user_id) -> None:
    """Every kind the export writes comes from one table, and every table KIND_TABLES names is read."""
    learner = new_user_id()
    seed_learner(db, learner)
    with db.connect() as conn:
        (line,) = conn.execute(
            text("SELECT lines FROM progress_export_page_v4(:u, 0, NULL, NULL, 10)"), {"u": learner}
        ).scalars()
    assert set(json.loads(line)["counts"]) == set(KIND_TABLES)


def test_files_a_reset_cannot_delete_are_logged_and_counted_and_the_reset_stands(
    monkeypatch, capsys, captured_logs
) -> None:
    """After its commit a reset deletes the learner's export files; a store out of reach changes nothing of
    its answer: one warning naming the error type, one ExportFilesLeft (an alarm watches it), None back."""
    import progress_common.export_store as store_module
    from progress_common.errors import ExportUnavailableError
    from progress_common.observability import metrics
    from progress_common.writes import delete_export_files_after_reset

    deleted_for: list[int] = []

    class Store:
        def __init__(self, broken: bool) -> None:
            self.broken = broken

        def delete_user_objects(self, user_id: int) -> int:
            deleted_for.append(user_id)
            if self.broken:
                raise ExportUnavailableError("the bucket is out of reach")
            return 3

    monkeypatch.setattr(store_module, "export_store", lambda: Store(broken=False))
    assert delete_export_files_after_reset(7) == 3
    monkeypatch.setattr(store_module, "export_store", lambda: Store(broken=True))
    assert delete_export_files_after_reset(8) is None
    assert deleted_for == [7, 8]
    (warning,) = [json.loads(line) for line in captured_logs().splitlines() if "export files left" in line]
    assert (warning["level"], warning["message"], warning["error_type"]) == (
        "WARNING",
        "export files left after a reset",
        "ExportUnavailableError",
    )
    metrics.flush_metrics()
    (line,) = [line for line in capsys.readouterr().out.splitlines() if '"ExportFilesLeft"' in line]
    document = json.loads(line)
    (definition,) = [
        d for d in document["_aws"]["CloudWatchMetrics"][0]["Metrics"] if d["Name"] == "ExportFilesLeft"
    ]
    assert definition["Unit"] == "Count" and document["ExportFilesLeft"] == [1.0]
