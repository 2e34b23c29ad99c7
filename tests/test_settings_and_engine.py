from __future__ import annotations

import json
import logging

import boto3
import pytest
from moto import mock_aws
from sqlalchemy import text

from progress_common import db as common_db
from progress_common import db_url
from progress_common.db_url import url_from_database_url
from progress_common.errors import ConfigurationError
from progress_common.settings import load_settings


def test_settings_need_a_database_source() -> None:
    with pytest.raises(ConfigurationError, match="DATABASE_URL"):
        load_settings({})


def test_settings_name_the_bad_variable() -> None:
    with pytest.raises(ConfigurationError, match="DB_POOL_SIZE"):
        load_settings({"DATABASE_URL": "postgresql://x@h/db", "DB_POOL_SIZE": "zero"})


def test_settings_defaults() -> None:
    settings = load_settings({"DATABASE_URL": "postgresql://x@h/db"})
    assert settings.user_id_claim == "sub"
    assert settings.archive_retention_days == 365
    assert settings.db_pool_size == 1


def test_database_url_becomes_pg8000_and_unix_socket() -> None:
    url = db_url.database_url(
        load_settings({"DATABASE_URL": "postgresql://postgres:@/postgres?host=/tmp/pg"})
    )
    assert url.drivername == "postgresql+pg8000"
    assert url.query["unix_sock"] == "/tmp/pg/.s.PGSQL.5432"


def test_non_postgres_url_is_refused() -> None:
    with pytest.raises(ConfigurationError):
        db_url.database_url(load_settings({"DATABASE_URL": "sqlite:///x.db"}))


@mock_aws
def test_engine_from_secrets_manager_connects_and_never_shows_password(
    test_database, caplog: pytest.LogCaptureFixture
) -> None:
    real = url_from_database_url(test_database.url)
    password = "s3cr3t-Pa55word-never-logged"
    client = boto3.client("secretsmanager")
    arn = client.create_secret(
        Name="progress/db",
        SecretString=json.dumps(
            {
                "host": real.host or "127.0.0.1",
                "port": real.port or 5432,
                "username": real.username,
                "password": password,
                "dbname": real.database,
            }
        ),
    )["ARN"]
    settings = load_settings({"DB_SECRET_ARN": arn})
    url = db_url.database_url(settings)
    assert url.password == password
    assert password not in str(url) and password not in db_url.describe_url(url)
    # Our loggers and SQLAlchemy's at DEBUG (botocore's own DEBUG wire log is out of our hands: keep it off).
    caplog.set_level(logging.DEBUG, logger="progress_common")
    caplog.set_level(logging.DEBUG, logger="sqlalchemy")
    engine = common_db.make_engine(settings)
    try:
        if real.query.get("unix_sock"):
            # The embedded server listens on a Unix socket only, so a TCP secret cannot connect:
            # then the failure must not carry the password either.
            with pytest.raises(Exception) as info, engine.connect():
                pass
            assert password not in str(info.value)
        else:
            with engine.connect() as conn:
                assert conn.execute(text("SELECT 1")).scalar() == 1
    finally:
        engine.dispose()
    assert password not in caplog.text


@mock_aws
def test_malformed_secret_is_reported_without_its_content() -> None:
    client = boto3.client("secretsmanager")
    arn = client.create_secret(Name="progress/bad", SecretString=json.dumps({"password": "hunter2"}))["ARN"]
    with pytest.raises(ConfigurationError) as info:
        db_url.database_url(load_settings({"DB_SECRET_ARN": arn}))
    assert "hunter2" not in str(info.value)


def test_unreachable_database_fails_fast_with_a_clear_message(capsys: pytest.CaptureFixture[str]) -> None:
    import time

    from progress_admin.cli import main

    started = time.monotonic()
    import os

    old = os.environ.get("DATABASE_URL")
    os.environ["DATABASE_URL"] = "postgresql://root:pw-not-shown@127.0.0.1:1/nowhere"
    try:
        code = main(["migrate"])
    finally:
        if old is not None:
            os.environ["DATABASE_URL"] = old
    elapsed = time.monotonic() - started
    err = capsys.readouterr().err
    assert code == 2
    assert "cannot reach the database at postgresql+pg8000://root:***@127.0.0.1:1/nowhere" in err
    assert "pw-not-shown" not in err
    assert elapsed < 5


@mock_aws
def test_unreadable_secret_is_a_503_not_a_crash(load_function, db, monkeypatch) -> None:
    from progress_common.settings import get_settings
    from tests.events import call, http_event

    working = common_db.get_engine()
    monkeypatch.setenv("DB_SECRET_ARN", "arn:aws:secretsmanager:eu-west-1:123456789012:secret:missing-AbCdEf")
    monkeypatch.delenv("DATABASE_URL")
    get_settings.cache_clear()
    common_db._engine = None
    try:
        status, headers, body = call(
            load_function("get_progress").lambda_handler, http_event("GET", "/progress", claims={"sub": "7"})
        )
    finally:
        common_db._engine = working
        monkeypatch.undo()
        get_settings.cache_clear()
    assert status == 503 and "retry-after" in headers
    assert body["error"]["code"] == "database_unavailable"


def test_the_configuration_table_lists_every_setting_with_its_default() -> None:
    import re
    from pathlib import Path

    from progress_common.settings import (
        ExportSettings,
        IngestSettings,
        LiveSettings,
        Settings,
        StreakSettings,
    )

    deploy = (Path(__file__).resolve().parent.parent / "docs" / "deploy.md").read_text()
    section = deploy.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    documented: dict[str, str] = {}
    for row in re.findall(r"^\| (`[A-Z_]+`.*?) \| (.*?) \|", section, re.MULTILINE):
        names = re.findall(r"`([A-Z_]+)`", row[0])
        defaults = [d.strip().strip("`") for d in row[1].split(",")]
        assert len(defaults) == len(names), row
        documented.update(zip(names, defaults, strict=True))
    fields = {
        **Settings.model_fields,
        **LiveSettings.model_fields,
        **ExportSettings.model_fields,
        **IngestSettings.model_fields,
        **StreakSettings.model_fields,
    }
    assert set(documented) == {name.upper() for name in fields}
    for name, field in fields.items():
        default = field.default
        expected = (
            "\N{EN DASH}"
            if default is None
            else f"{default:g}"
            if isinstance(default, float)
            else str(default)
        )
        assert documented[name.upper()] == expected, name
