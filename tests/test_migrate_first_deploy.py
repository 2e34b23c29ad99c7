"""A first deploy that goes wrong fails fast, with a reason a person can act on, and touches no schema:
the migration custom resource driven with CloudFormation events, answering a loopback stand-in of the
pre-signed URL, against a real PostgreSQL database that lacks what is needed."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from sqlalchemy import create_engine, text

from progress_admin.scratch import ScratchDatabase, scratch_database
from progress_common import db_url
from progress_common.db_url import url_from_database_url
from progress_common.settings import get_settings, load_settings
from progress_schema.database import migrate
from tests.events import FakeLambdaContext
from tests.faults import untrusted_tls_server
from tests.helpers import FAKE_AWS_CREDENTIALS
from tests.test_migrate_schema import event, query, revision_of

DEADLINE_SECONDS = 60  # "fails within a minute"


@pytest.fixture
def empty_database() -> Iterator[ScratchDatabase]:
    with scratch_database("progress_first_deploy") as database:
        yield database


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """The function's environment, read afresh by each invocation (as a new container would)."""
    monkeypatch.delenv("DATABASE_URL", raising=False)
    for name, value in FAKE_AWS_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    db_url.forget_secrets()
    yield monkeypatch
    monkeypatch.undo()
    get_settings.cache_clear()
    db_url.forget_secrets()


def _invoke(load_function: Any, request: dict[str, Any]) -> tuple[dict[str, Any], float]:
    started = time.monotonic()
    answer = load_function("migrate_schema").lambda_handler(request, FakeLambdaContext(timeout_seconds=900))
    return answer, time.monotonic() - started


def _nothing_migrated(database: ScratchDatabase) -> None:
    assert revision_of(database) is None
    assert query(database, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == [(0,)]


@pytest.mark.parametrize(
    ("drop", "env", "says"),
    [
        ("host", {}, 'no "host": set the DbHost parameter (DB_HOST)'),
        ("dbname", {}, 'no "dbname": set the DbName parameter (DB_NAME)'),
    ],
)
def test_a_secret_without_host_or_dbname_fails_naming_the_parameter(
    load_function, cloudformation, empty_database, environment, drop, env, says
) -> None:
    """An RDS-managed master secret holds username and password only: FAILED naming what to set, never
    a KeyError, never a schema created in the server's default database."""
    url = url_from_database_url(empty_database.url)
    secret = {
        "host": url.host,
        "port": url.port,
        "username": url.username,
        "password": "",
        "dbname": url.database,
    }
    del secret[drop]
    with mock_aws():
        arn = boto3.client("secretsmanager").create_secret(
            Name="progress/db", SecretString=json.dumps(secret)
        )["ARN"]
        environment.setenv("DB_SECRET_ARN", arn)
        for name, value in env.items():
            environment.setenv(name, value)
        answer, took = _invoke(load_function, event("Create", cloudformation.url))
    body = cloudformation.answers[0]["body"]
    assert body == answer
    assert body["Status"] == "FAILED"
    assert says in body["Reason"], body["Reason"]
    assert took < DEADLINE_SECONDS
    _nothing_migrated(empty_database)


def test_the_same_secret_with_the_parameters_that_supply_what_it_lacks_migrates(
    load_function, cloudformation, empty_database, environment
) -> None:
    url = url_from_database_url(empty_database.url)
    with mock_aws():
        secret = json.dumps({"username": url.username, "password": "", "port": url.port})
        arn = boto3.client("secretsmanager").create_secret(Name="progress/db", SecretString=secret)["ARN"]
        environment.setenv("DB_SECRET_ARN", arn)
        environment.setenv("DB_HOST", str(url.host))
        environment.setenv("DB_NAME", str(url.database))
        _invoke(load_function, event("Create", cloudformation.url))
    body = cloudformation.answers[0]["body"]
    assert body["Status"] == "SUCCESS", body["Reason"]
    assert revision_of(empty_database) == body["Data"]["Revision"]


def test_verified_tls_to_a_database_whose_certificate_no_public_ca_signed_fails_naming_the_fix(
    load_function, cloudformation, environment, tmp_path
) -> None:
    """DbHost empty and DbTls=verify-full against an RDS instance reached directly: its certificate is
    the RDS CA's, which certifi lacks. FAILED at once, saying to put RDS Proxy in front or turn TLS off."""
    with untrusted_tls_server(str(tmp_path)) as port:
        environment.setenv("DATABASE_URL", f"postgresql://root@localhost:{port}/progress")
        environment.setenv("DB_TLS", "verify-full")
        answer, took = _invoke(load_function, event("Create", cloudformation.url))
    assert answer["Status"] == "FAILED"
    reason = answer["Reason"]
    assert "certificate" in reason and "RDS CA" in reason, reason
    assert "DbHost" in reason and "RDS Proxy" in reason and "DbTls=disable" in reason, reason
    assert took < DEADLINE_SECONDS
    assert cloudformation.answers[0]["body"] == answer


def _refused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # nothing listens once it is closed


def test_an_answer_that_cannot_reach_cloudformation_migrates_nothing(
    load_function, empty_database, environment, caplog: pytest.LogCaptureFixture
) -> None:
    """From private subnets without NAT or the S3 gateway endpoint no answer can be delivered: the
    function finds that out in seconds, before touching the schema, and says what the network needs."""
    environment.setenv("DATABASE_URL", empty_database.url)
    url = f"http://127.0.0.1:{_refused_port()}/stack-response?X-Amz-Signature=abc"
    answer, took = _invoke(load_function, event("Create", url))
    assert answer["Status"] == "FAILED" and "cannot reach 127.0.0.1" in answer["Reason"]
    assert took < 10
    _nothing_migrated(empty_database)
    assert "S3 gateway endpoint" in caplog.text and "nothing migrated" in caplog.text


def test_a_create_without_a_response_url_migrates_nothing(load_function, empty_database, environment) -> None:
    environment.setenv("DATABASE_URL", empty_database.url)
    request = event("Create", "http://127.0.0.1:1/unused")
    del request["ResponseURL"]
    answer, _ = _invoke(load_function, request)
    assert answer["Status"] == "FAILED"
    assert "ResponseURL must be an http(s) URL" in answer["Reason"]
    _nothing_migrated(empty_database)


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"RequestType": "Upgrade"}, "RequestType must be one of Create, Update, Delete"),
        ({"StackId": None}, "StackId must be a non-empty string"),
        ({"RequestId": 7}, "RequestId must be a non-empty string"),
        ({"LogicalResourceId": ""}, "LogicalResourceId must be a non-empty string"),
        ({"ResourceProperties": []}, "ResourceProperties must be an object"),
        ({"ResourceProperties": {"SchemaRevision": 11}}, "SchemaRevision must be a non-empty string"),
        ({"StackId": "s" * 200_000}, "StackId is longer than 512 characters"),
        ({"RequestId": "é" * 100}, "RequestId is longer than 128 characters"),  # 600 as written in JSON
    ],
)
def test_an_invalid_event_is_answered_failed_within_four_kilobytes_and_migrates_nothing(
    load_function, cloudformation, empty_database, environment, change, says
) -> None:
    environment.setenv("DATABASE_URL", empty_database.url)
    request = {**event("Create", cloudformation.url), **change}
    answer, _ = _invoke(load_function, request)
    (delivered,) = cloudformation.answers
    assert delivered["body"] == answer
    assert answer["Status"] == "FAILED" and says in answer["Reason"], answer["Reason"]
    assert len(json.dumps(answer).encode()) < 4096
    _nothing_migrated(empty_database)


def test_an_update_without_its_physical_id_is_refused(
    load_function, cloudformation, empty_database, environment
) -> None:
    environment.setenv("DATABASE_URL", empty_database.url)
    request = event("Update", cloudformation.url)
    del request["PhysicalResourceId"]
    answer, _ = _invoke(load_function, request)
    assert (
        answer["Status"] == "FAILED" and "PhysicalResourceId must be a non-empty string" in answer["Reason"]
    )
    _nothing_migrated(empty_database)


def test_a_long_reason_in_any_script_still_fits_in_four_kilobytes(
    load_function, cloudformation, empty_database, environment, monkeypatch
) -> None:
    environment.setenv("DATABASE_URL", empty_database.url)
    module = load_function("migrate_schema")

    def failing(*_: Any) -> Any:
        raise RuntimeError("ошибка " * 3000)  # written as \\u escapes: six bytes a letter

    monkeypatch.setattr(module, "_handle", failing)
    request = event("Update", cloudformation.url)
    request["PhysicalResourceId"] = "p" * 255
    answer = module.lambda_handler(request, FakeLambdaContext(timeout_seconds=900))
    assert answer["Status"] == "FAILED" and answer["Reason"].startswith("RuntimeError: ошибка")
    assert answer["PhysicalResourceId"] == "p" * 255  # echoed whole: CloudFormation matches on it
    assert len(json.dumps(answer).encode()) < 4096
    assert cloudformation.answers[0]["body"] == answer


def test_changed_session_defaults_end_the_idle_sessions_that_predate_them(empty_database) -> None:
    """Role defaults apply to new sessions only, and RDS Proxy hands pooled sessions to any client: when
    the migration changes them it ends the role's idle sessions opened before, so none serves a request
    without them. When nothing changed, a redeploy ends nothing."""
    settings = load_settings({"DATABASE_URL": empty_database.url})
    name = url_from_database_url(empty_database.url).database
    engine = create_engine(url_from_database_url(empty_database.url), pool_size=1)
    with engine.connect() as conn:
        conn.execute(text("ALTER ROLE CURRENT_USER IN DATABASE " + name + " SET statement_timeout = '9s'"))
        conn.commit()
    engine.dispose()  # that session was opened before the setting
    try:
        stale = engine.connect()  # opened under the old defaults, then idle in the pool of a "proxy"
        assert stale.execute(text("SHOW statement_timeout")).scalar() == "9s"
        stale.commit()
        migrate(settings)
        with pytest.raises(Exception, match=r"terminat|closed|network|connection"):
            stale.execute(text("SELECT 1"))
        stale.close()
        with engine.connect() as fresh:
            assert fresh.execute(text("SHOW statement_timeout")).scalar() == "4s"
            fresh.commit()
            idle = engine.connect()
            idle.execute(text("SELECT 1"))
            idle.commit()
            migrate(settings)  # the defaults are already set: nothing to end
            assert idle.execute(text("SELECT 1")).scalar() == 1
            idle.close()
    finally:
        with engine.connect() as conn:
            conn.execute(text("ALTER ROLE CURRENT_USER IN DATABASE " + name + " RESET ALL"))
            conn.commit()
        engine.dispose()
