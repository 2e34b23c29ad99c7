"""The migration custom resource, with real CloudFormation events against a real PostgreSQL, answering to
a loopback HTTP server that stands in for the pre-signed S3 URL."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text

from progress_admin.scratch import ScratchDatabase, scratch_database
from progress_common import schema
from progress_common.db_url import url_from_database_url
from progress_common.settings import get_settings, load_settings
from progress_schema.database import alembic_config, migrate
from tests.events import FakeLambdaContext

ROOT = Path(__file__).resolve().parent.parent
HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()


@pytest.fixture
def database(monkeypatch: pytest.MonkeyPatch) -> Iterator[ScratchDatabase]:
    """An empty database, configured as the function's DATABASE_URL."""
    with scratch_database("progress_migrate") as db:
        monkeypatch.setenv("DATABASE_URL", db.url)
        get_settings.cache_clear()
        try:
            yield db
        finally:
            monkeypatch.undo()
            get_settings.cache_clear()


def event(request_type: str, url: str, revision: str = HEAD, **extra: Any) -> dict[str, Any]:
    sample = json.loads((ROOT / "events" / "migrate_schema.json").read_text())
    sample.update(RequestType=request_type, ResponseURL=url, **extra)
    sample["ResourceProperties"]["SchemaRevision"] = revision
    if request_type != "Create":
        sample["PhysicalResourceId"] = "progress-schema"
    return sample


def query(database: ScratchDatabase, sql: str) -> Any:
    engine = create_engine(url_from_database_url(database.url))
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql)).all()
    finally:
        engine.dispose()


def revision_of(database: ScratchDatabase) -> str | None:
    rows = query(database, "SELECT to_regclass('alembic_version') IS NOT NULL")
    if not rows[0][0]:
        return None
    found = query(database, "SELECT version_num FROM alembic_version")
    return found[0][0] if found else None


def test_sample_event_names_the_revision_the_code_needs() -> None:
    sample = json.loads((ROOT / "events" / "migrate_schema.json").read_text())
    assert sample["ResourceProperties"]["SchemaRevision"] == schema.REQUIRED_SCHEMA_REVISION == HEAD


def test_create_migrates_an_empty_database_and_sets_the_role_defaults(
    load_function, cloudformation, database
) -> None:
    handler = load_function("migrate_schema").lambda_handler
    handler(event("Create", cloudformation.url), FakeLambdaContext(timeout_seconds=900))
    (answer,) = cloudformation.answers
    assert answer["content_type"] == ""  # part of the pre-signed URL's signature
    assert answer["path"] == "/stack-response?X-Amz-Signature=abc"
    body = answer["body"]
    assert body["Status"] == "SUCCESS", body["Reason"]
    assert body["PhysicalResourceId"] == "progress-schema"
    assert body["Data"] == {"Revision": HEAD}
    assert {body[k] for k in ("StackId", "RequestId", "LogicalResourceId")} >= {"SchemaMigration"}
    assert len(json.dumps(body)) < 4096
    assert revision_of(database) == HEAD
    # What the service's connections get without sending anything (RDS Proxy-safe session defaults).
    assert query(database, "SELECT current_setting('statement_timeout'), current_setting('TimeZone')") == [
        ("4s", "UTC")
    ]


def test_update_from_an_older_revision_keeps_the_data(load_function, cloudformation, database) -> None:
    migrate(load_settings(), "0002")
    engine = create_engine(url_from_database_url(database.url))
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO attempts (user_id, exercise_id, is_correct, user_answer, created_at) "
                "VALUES (7, 1, true, 'a', now() - interval '2 days'), (7, 2, false, 'b', now())"
            )
        )
    engine.dispose()
    load_function("migrate_schema").lambda_handler(
        event("Update", cloudformation.url), FakeLambdaContext(timeout_seconds=900)
    )
    body = cloudformation.answers[0]["body"]
    assert body["Status"] == "SUCCESS", body["Reason"]
    assert "from 0002" in body["Reason"]
    assert revision_of(database) == HEAD
    assert query(database, "SELECT count(*) FROM attempts WHERE user_id = 7") == [(2,)]


def test_a_rollback_to_an_older_revision_never_downgrades(load_function, cloudformation, database) -> None:
    migrate(load_settings())
    load_function("migrate_schema").lambda_handler(
        event("Update", cloudformation.url, revision="0002"), FakeLambdaContext(timeout_seconds=900)
    )
    body = cloudformation.answers[0]["body"]
    assert body["Status"] == "SUCCESS" and "nothing to do" in body["Reason"]
    assert revision_of(database) == HEAD


def test_delete_answers_success_and_drops_nothing(load_function, cloudformation, database) -> None:
    migrate(load_settings())
    load_function("migrate_schema").lambda_handler(
        event("Delete", cloudformation.url), FakeLambdaContext(timeout_seconds=900)
    )
    body = cloudformation.answers[0]["body"]
    assert body["Status"] == "SUCCESS" and body["PhysicalResourceId"] == "progress-schema"
    assert revision_of(database) == HEAD
    assert query(database, "SELECT to_regclass('attempts') IS NOT NULL") == [(True,)]


def test_a_failing_migration_answers_failed_and_changes_nothing(
    load_function, cloudformation, database
) -> None:
    # Something in the way of the first migration: it fails half-way, and all of it rolls back.
    engine = create_engine(url_from_database_url(database.url))
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE sessions (id integer)"))
    engine.dispose()
    load_function("migrate_schema").lambda_handler(
        event("Create", cloudformation.url), FakeLambdaContext(timeout_seconds=900)
    )
    body = cloudformation.answers[0]["body"]
    assert body["Status"] == "FAILED"
    assert "sessions" in body["Reason"] and len(body["Reason"]) <= 1000
    assert revision_of(database) is None
    assert query(database, "SELECT to_regclass('attempts') IS NULL") == [(True,)]


def test_a_revision_the_code_does_not_have_fails(load_function, cloudformation, database) -> None:
    load_function("migrate_schema").lambda_handler(
        event("Create", cloudformation.url, revision="9999"), FakeLambdaContext(timeout_seconds=900)
    )
    body = cloudformation.answers[0]["body"]
    assert body["Status"] == "FAILED" and "9999" in body["Reason"]


def test_an_unexpected_exception_still_answers_failed(
    load_function, cloudformation, database, monkeypatch
) -> None:
    module = load_function("migrate_schema")

    def broken(*args: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(module, "_handle", broken)
    module.lambda_handler(event("Create", cloudformation.url), FakeLambdaContext(timeout_seconds=900))
    body = cloudformation.answers[0]["body"]
    assert body["Status"] == "FAILED" and "boom" in body["Reason"]


def test_a_migration_that_would_outlast_the_function_answers_failed_in_time(
    load_function, cloudformation, database
) -> None:
    # Another session holds the migration lock: the migration cannot finish before the function's
    # timeout. The answer must arrive while the function still runs, and the run be repeatable.
    module = load_function("migrate_schema")
    blocker = create_engine(url_from_database_url(database.url))
    conn = blocker.connect()
    conn.execute(text("SELECT pg_advisory_lock(7240001)"))
    try:
        context = FakeLambdaContext(timeout_seconds=module.ANSWER_RESERVE_MS / 1000 + 3)
        deadline = time.monotonic() + context.get_remaining_time_in_millis() / 1000
        module.lambda_handler(event("Create", cloudformation.url), context)
        answer = cloudformation.answers[0]
        assert answer["body"]["Status"] == "FAILED", answer["body"]
        assert answer["at"] < deadline - 1
        assert revision_of(database) is None
    finally:
        conn.execute(text("SELECT pg_advisory_unlock(7240001)"))
        conn.close()
        blocker.dispose()
    module.lambda_handler(event("Create", cloudformation.url), FakeLambdaContext(timeout_seconds=900))
    assert cloudformation.answers[1]["body"]["Status"] == "SUCCESS"
    assert revision_of(database) == HEAD
