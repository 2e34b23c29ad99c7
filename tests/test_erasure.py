"""Erasure for account deletion: DELETE /progress/users/{user_id} (the app's backend, its own scope) and
`progress-admin erase` remove everything of one learner, in every table of the schema, and their export
files; nothing of anyone else's; answered with what was removed; idempotent."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import Engine, text

from progress_common.live_connections import bind_connection
from progress_common.live_tickets import issue_ticket
from tests.events import FakeLambdaContext, call, http_event, sqs_event, sqs_record
from tests.learner_data import AwsStandIn, seed_learner

ERASE_SCOPE = "progress/erase"
# Tables that hold nothing of any learner. A new table without a user_id column fails the enumeration
# below until it is named here (with why) or given the learner's rows and erased with them.
NOT_A_LEARNERS_TABLE = {
    "alembic_version": "the schema's revision",
    "ingest_watermark": "the service's ingest watermark (one row)",
    "ingest_incidents": "when the watermark stalled; a learner's covers name it from user_covered_days",
    "streak_config": "the deployment's streak limits and the day the rules start (one row)",
}

TABLES_SQL = text(
    "SELECT c.relname, EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'user_id'"
    " AND a.attnum > 0 AND NOT a.attisdropped)"
    " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
    " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')"
)


@pytest.fixture
def handlers(aws: AwsStandIn, load_function) -> dict[str, Any]:
    return {
        name: load_function(name).lambda_handler for name in ("erase_user", "request_export", "export_worker")
    }


def erase(
    handlers: dict[str, Any],
    user: str,
    *,
    scopes: list[str] | None = None,
    claims: dict[str, Any] | None = None,
) -> tuple[int, dict[str, str], Any]:
    event = http_event(
        "DELETE",
        f"/progress/users/{user}",
        claims=claims if claims is not None else {"sub": "backend-client"},
    )
    event["requestContext"]["authorizer"]["jwt"]["scopes"] = [ERASE_SCOPE] if scopes is None else scopes
    event["pathParameters"] = {"user_id": user}
    return call(handlers["erase_user"], event)


def tables(engine: Engine) -> dict[str, bool]:
    """Every table of the schema, and whether it has a user_id column."""
    with engine.connect() as conn:
        return {name: has_user_id for name, has_user_id in conn.execute(TABLES_SQL)}


def rows_of(engine: Engine, user_id: int) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            table: conn.execute(
                text(f"SELECT count(*) FROM {table} WHERE user_id = :u"), {"u": user_id}
            ).scalar_one()
            for table, has_user_id in tables(engine).items()
            if has_user_id
        }


def give_the_learner_everything(
    handlers: dict[str, Any], aws: AwsStandIn, engine: Engine, user_id: int
) -> None:
    """A row of the learner in every table the service has: history, live ticket and connection, an export
    with its file."""
    seed_learner(engine, user_id)  # reminders settings and signals among the rest (docs/signals.md)
    issue_ticket(user_id)
    bind_connection_for(user_id)
    call(handlers["request_export"], http_event("POST", "/progress/export", claims={"sub": str(user_id)}))
    for message in aws.receive():
        handlers["export_worker"](sqs_event(sqs_record(message["Body"])), FakeLambdaContext())


def bind_connection_for(user_id: int) -> str:
    ticket = issue_ticket(user_id).ticket
    connection_id = f"conn-{uuid.uuid4().hex[:12]}="
    assert bind_connection(ticket, connection_id)[0] == user_id
    return connection_id


def test_erasure_leaves_no_row_of_the_learner_in_any_table_of_the_schema(
    handlers, aws, db, new_user_id
) -> None:
    learner, other = new_user_id(), new_user_id()
    for user in (learner, other):
        give_the_learner_everything(handlers, aws, db, user)
    schema = tables(db)
    without_user_id = {name for name, has_user_id in schema.items() if not has_user_id}
    assert without_user_id == set(NOT_A_LEARNERS_TABLE), "a table without user_id: name it, or give it one"
    before = rows_of(db, learner)
    # the learner has rows in every table: a new table that this test does not fill fails here (extend
    # give_the_learner_everything, and progress_erase_user_v3 with it)
    assert [table for table, count in before.items() if count == 0] == []
    others_before = rows_of(db, other)
    assert len(aws.objects(f"users/{learner}/")) == 1

    status, _, body = erase(handlers, f"user_{learner}")
    assert status == 200, body
    assert rows_of(db, learner) == dict.fromkeys(before, 0)
    assert rows_of(db, other) == others_before
    assert aws.objects(f"users/{learner}/") == [] and len(aws.objects(f"users/{other}/")) == 1
    assert body["user_id"] == learner and body["erased"] is True
    deleted = body["deleted"]
    by_table = {
        "user_profiles": "profile",
        "attempts": "attempts",
        "attempts_archive": "archived_attempts",
        "attempts_quarantine": "quarantined_attempts",
        "sessions": "sessions",
        "user_covered_days": "covered_days",
        "user_daily_stats": "daily_totals",
        "user_exercise_stats": "exercise_totals",
        "live_tickets": "live_tickets",
        "live_connections": "live_connections",
        "exports": "exports",
        "ingest_holds": "held_messages",
        "user_settings": "settings_versions",
        "freeze_grants": "freeze_grants",
        "streak_repairs": "repairs",
        "user_frozen_days": "frozen_days",
        "signal_outbox": "signals",
        "user_reminders": "reminders",
    }
    assert set(by_table) == set(before), "each table's count in the answer"
    assert {by_table[table]: count for table, count in before.items()} == {
        k: v for k, v in deleted.items() if k != "export_files"
    }
    assert deleted["export_files"] == 1


def test_a_second_erasure_and_one_of_a_stranger_remove_nothing_and_create_nothing(
    handlers, aws, db, new_user_id
):
    learner, stranger = new_user_id(), new_user_id()
    seed_learner(db, learner)
    assert erase(handlers, str(learner))[0] == 200
    status, _, body = erase(handlers, str(learner))
    assert status == 200 and set(body["deleted"].values()) == {0}
    status, _, body = erase(handlers, f"user_{stranger}")
    assert status == 200 and set(body["deleted"].values()) == {0}
    assert set(rows_of(db, stranger).values()) == {0}  # not even the profile row the erasure locks with


def test_only_a_token_with_the_erasure_scope_may_erase(handlers, aws, db, new_user_id) -> None:
    learner = new_user_id()
    seed_learner(db, learner)
    before = rows_of(db, learner)
    # the learner themselves, and a backend token with other scopes
    status, _, body = erase(handlers, str(learner), scopes=[], claims={"sub": str(learner)})
    assert status == 403 and body["error"]["code"] == "forbidden"
    assert erase(handlers, str(learner), scopes=["progress/grant", "progress/erase-all"])[0] == 403
    event = http_event("DELETE", f"/progress/users/{learner}", authorizer=False)
    assert call(handlers["erase_user"], event)[0] == 401
    assert rows_of(db, learner) == before
    # the scope in the token's own `scope` claim (space separated, as Cognito writes it) counts too
    status, _, _ = erase(
        handlers, str(learner), scopes=[], claims={"sub": "c", "scope": f"openid {ERASE_SCOPE}"}
    )
    assert status == 200 and set(rows_of(db, learner).values()) == {0}


@pytest.mark.parametrize("user", ["user_", "7abc", "-1", "9223372036854775808", " 7"])
def test_a_user_id_that_is_none_is_a_422(handlers, aws, db, user) -> None:
    status, _, body = erase(handlers, user)
    assert status == 422 and body["error"]["code"] == "validation_error"


def test_the_learners_open_live_pages_are_closed(handlers, aws, db, new_user_id, monkeypatch) -> None:
    from progress_common import live_management

    learner, other = new_user_id(), new_user_id()
    connections = sorted(bind_connection_for(learner) for _ in range(2))
    bind_connection_for(other)
    closed: list[list[str]] = []
    monkeypatch.setattr(live_management, "close_connections", lambda ids, **kw: closed.append(sorted(ids)))
    status, _, body = erase(handlers, str(learner))
    assert status == 200 and body["deleted"]["live_connections"] == 2
    assert closed == [connections]


def test_export_files_are_deleted_even_those_without_a_record(handlers, aws, db, new_user_id) -> None:
    """A file a worker was still writing when the rows went: under the learner's prefix, so erasure finds it."""
    learner = new_user_id()
    orphan = f"users/{learner}/{uuid.uuid4()}/{uuid.uuid4()}.jsonl.gz"
    aws.s3.put_object(Bucket=aws.bucket, Key=orphan, Body=b"...")
    status, _, body = erase(handlers, str(learner))
    assert status == 200 and body["deleted"]["export_files"] == 1 and aws.objects() == []


def test_storage_down_fails_the_erasure_and_a_retry_finishes_it(
    handlers, aws, db, new_user_id, monkeypatch
) -> None:
    from progress_common import export_store

    learner = new_user_id()
    give_the_learner_everything(handlers, aws, db, learner)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9")  # nobody listens there
    export_store.forget_stores()
    status, headers, body = erase(handlers, str(learner))
    assert status == 503 and body["error"]["code"] == "export_unavailable" and "retry-after" in headers
    assert set(rows_of(db, learner).values()) == {0}  # the rows went in the first call
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", aws.endpoint)
    export_store.forget_stores()
    status, _, body = erase(handlers, str(learner))
    assert status == 200 and body["deleted"]["export_files"] == 1 and body["deleted"]["attempts"] == 0
    assert aws.objects() == []


def test_progress_admin_erase_does_the_same_for_operators(
    db, new_user_id, tmp_path, monkeypatch, capsys
) -> None:
    from progress_admin.cli import main
    from progress_common.export_store import LocalExportStore
    from progress_common.settings import set_export_settings

    monkeypatch.setenv("PROGRESS_LOCAL_DIR", str(tmp_path))  # serve's export folder: <local dir>/exports
    monkeypatch.delenv("EXPORT_BUCKET")  # set for the functions by conftest; an operator's shell has none
    set_export_settings(None)  # read the environment again
    store = LocalExportStore(tmp_path / "exports")
    learner, other = new_user_id(), new_user_id()
    for user in (learner, other):
        seed_learner(db, user)
        writer = store.writer(f"users/{user}/{uuid.uuid4()}/{uuid.uuid4()}.jsonl.gz", "x")
        writer.write(b"...")
        writer.close()
    others_before = rows_of(db, other)
    assert main(["erase", "--user", f"user_{learner}"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"user {learner}: erased 1 profile, 6 attempts, 4 archived attempts, ")
    assert line.endswith(", 1 export files")
    assert set(rows_of(db, learner).values()) == {0} and rows_of(db, other) == others_before
    assert not (tmp_path / "exports" / "users" / str(learner)).exists()
    assert len(list((tmp_path / "exports" / "users" / str(other)).rglob("*.gz"))) == 1
    assert main(["erase", "--user", str(learner)]) == 0
    assert capsys.readouterr().out.strip() == f"user {learner}: nothing stored, nothing to erase"
    assert main(["erase", "--user", "user_x"]) == 2
    assert "user id" in capsys.readouterr().err
    monkeypatch.undo()
    set_export_settings(None)
