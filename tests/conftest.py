"""Test harness: a fresh PostgreSQL database per run, migrated to head, dropped afterwards.

Server choice, in order: TEST_DATABASE_URL (a maintenance URL of any server), the server at
127.0.0.1:5432 (user root, database test) when it answers, else an embedded pgserver in a temp folder.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

# Before any powertools import: quiet, deterministic observability in tests.
from progress_admin.local.template import local_powertools_environment  # yaml only: before powertools

# the template's POWERTOOLS_* values, quieter; what the environment already says wins
os.environ.update(
    {
        **local_powertools_environment(
            Path(__file__).resolve().parent.parent, POWERTOOLS_LOG_LEVEL="WARNING"
        ),
        **os.environ,
    }
)
os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-1")
# LiveTicketFunction's URL, as the template sets it (serve's live loop replaces it with its own)
os.environ.setdefault("LIVE_WEBSOCKET_URL", "wss://abc1234567.execute-api.eu-west-1.amazonaws.com/live")
# The export functions' bucket and queue, as the template names them (the `aws` fixture points them at a moto
# server; nothing reaches these names)
os.environ.setdefault("EXPORT_BUCKET", "progress-exports-unreachable")
os.environ.setdefault("EXPORT_QUEUE_URL", "https://sqs.eu-west-1.amazonaws.com/123456789012/progress-exports")
# The sweep's watermark: the local one (nothing waits in a queue) unless a test gives it a moto queue
os.environ.setdefault("INGEST_WATERMARK_SOURCE", "local")
os.environ.pop("DB_SECRET_ARN", None)
# The tests written before freezes existed check today's behaviour, which FREEZE_STARTER=0 and
# FREEZE_EARN_EVERY=0 promise; tests of "Keeping a streak" set the limits they need (fixture streak_limits).
os.environ.setdefault("FREEZE_STARTER", "0")
os.environ.setdefault("FREEZE_EARN_EVERY", "0")

import pytest
from sqlalchemy import Engine, event, text

from progress_admin.database import migrate
from progress_admin.local.runtime import load_function_module
from progress_admin.scratch import ScratchDatabase, scratch_database
from progress_common import db as common_db
from progress_common.settings import get_settings, load_settings

ROOT = Path(__file__).resolve().parent.parent
TABLES = (
    "attempts",
    "attempts_archive",
    "sessions",
    "user_profiles",
    "user_daily_stats",
    "user_exercise_stats",
    "user_covered_days",
    "user_settings",
    "freeze_grants",
    "streak_repairs",
    "user_frozen_days",
    "live_tickets",
    "live_connections",
    "attempts_quarantine",
    "exports",
    "ingest_holds",
    "signal_outbox",
    "user_reminders",
)
# tables of the service's own state, no learner's: emptied after each test too
SERVICE_TABLES = ("ingest_incidents", "ingest_watermark")


@pytest.fixture(scope="session")
def test_database() -> Iterator[ScratchDatabase]:
    reused = os.environ.get("PROGRESS_TEST_REUSE_DATABASE_URL")
    if reused:
        # `./dev mutate`: one database made and migrated up front, shared by the runs of every mutant
        os.environ["DATABASE_URL"] = reused
        get_settings.cache_clear()
        try:
            yield ScratchDatabase(url=reused, maintenance_url=reused, kind="reused")
        finally:
            common_db.set_engine(None)
        return
    with scratch_database("progress_test") as database:
        os.environ["DATABASE_URL"] = database.url
        get_settings.cache_clear()
        try:
            migrate(load_settings())
            yield database
        finally:
            common_db.set_engine(None)


@pytest.fixture(scope="session")
def engine(test_database: ScratchDatabase) -> Iterator[Engine]:
    """The shared (autocommit) engine the functions use, pointed at the test database."""
    eng = common_db.make_engine(get_settings(), pool_size=4, check_schema=True)
    common_db.set_engine(eng)
    yield eng
    common_db.set_engine(None)


@pytest.fixture
def db(engine: Engine) -> Iterator[Engine]:
    """The engine, with every table emptied after the test."""
    yield engine
    with engine.connect() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(TABLES + SERVICE_TABLES)} RESTART IDENTITY CASCADE"))


@pytest.fixture
def streak_limits(db: Engine) -> Iterator[Callable[..., None]]:
    """Set streak_config for one test: the deployment defaults (StreakSettings()) with the given changes,
    rules_start included (None: no limit); put back as the migration left it afterwards."""
    from progress_common.settings import StreakSettings

    with db.connect() as conn:
        before = conn.execute(text("SELECT * FROM streak_config")).mappings().one()

    def apply(rules_start: Any = None, **changes: int) -> None:
        values = {**StreakSettings().config_row(), **changes}
        values["rules_start"] = rules_start or "-infinity"
        with db.begin() as conn:
            conn.execute(text(f"UPDATE streak_config SET {', '.join(f'{k} = :{k}' for k in values)}"), values)

    yield apply
    with db.begin() as conn:
        conn.execute(
            text(f"UPDATE streak_config SET {', '.join(f'{k} = :{k}' for k in before)}"), dict(before)
        )


class StatementCounter:
    """Counts SQL statements sent through an engine (pool pre-pings are not statements)."""

    def __init__(self) -> None:
        self.statements: list[str] = []

    def __call__(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        self.statements.append(statement)

    @property
    def count(self) -> int:
        return len(self.statements)

    def reset(self) -> None:
        self.statements.clear()


@pytest.fixture
def count_sql(db: Engine) -> Iterator[StatementCounter]:
    counter = StatementCounter()
    event.listen(db, "before_cursor_execute", counter)
    yield counter
    event.remove(db, "before_cursor_execute", counter)


@pytest.fixture
def set_now(monkeypatch: pytest.MonkeyPatch) -> Callable[[dt.datetime], None]:
    """Set the instant the handlers read "today" at (the layer's clock), for this test only."""
    from progress_common import clock

    def freeze(instant: dt.datetime) -> None:
        assert instant.tzinfo is not None
        monkeypatch.setattr(clock, "utc_now", lambda: instant)

    return freeze


@pytest.fixture
def new_user_id() -> Callable[[], int]:
    """Distinct user ids, so tests never share a user by accident."""

    def make() -> int:
        return secrets.randbelow(2**40) + 1

    return make


def insert_attempts_sql(engine: Engine, rows: list[dict[str, Any]]) -> None:
    """Insert attempts the way the legacy exercises service does: plain SQL, nothing else."""
    if not rows:
        return
    with engine.connect() as conn:
        conn.execute(
            text(
                "INSERT INTO attempts (user_id, exercise_id, is_correct, user_answer, created_at, session_id) "
                "VALUES (:user_id, :exercise_id, :is_correct, :user_answer, :created_at, :session_id)"
            ),
            [{"user_answer": "", "session_id": None, **row} for row in rows],
        )


@pytest.fixture(scope="session")
def load_function() -> Callable[[str], ModuleType]:
    """Import functions/<name>/app.py by path, once, under a unique module name (all are app.py)."""
    cache: dict[str, ModuleType] = {}

    def load(name: str) -> ModuleType:
        if name not in cache:
            cache[name] = load_function_module(ROOT / "functions" / name / "app.py")
        return cache[name]

    return load


@pytest.fixture
def captured_logs() -> Iterator[Callable[[], str]]:
    """What the Powertools logger wrote during the test, as JSON lines (it writes to the real stdout)."""
    import io
    import logging

    from progress_common.observability import logger as service_logger

    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(service_logger.registered_formatter)
    service_logger._logger.addHandler(handler)
    yield buffer.getvalue
    service_logger._logger.removeHandler(handler)


@pytest.fixture(scope="module")
def live_server(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`progress-admin serve`'s server on a free loopback port, in a thread; yields its base URL."""
    import threading

    from progress_admin.local.serve import create_server

    exports_dir = tmp_path_factory.mktemp("exports")
    server = create_server(ROOT, "127.0.0.1", 0, log=lambda line: None, exports_dir=exports_dir)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


# Modules whose tests take seconds each (load, faults with timeouts, real servers and browsers, property
# tests through the handlers, migrations on fresh databases, the built artifact): `slow`, so that
# `./dev test -m "not slow"` gives quick feedback. Single slow tests elsewhere carry the marker themselves.
SLOW_MODULES = {
    "test_aws_runtime",
    "test_concurrency",
    "test_dashboard_browser",
    "test_live",
    "test_migrate_schema",
    "test_reliability",
    "test_serve",
    "test_streak_property",
    "test_transient",
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.module is not None and item.module.__name__.rsplit(".", 1)[-1] in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def silent_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A management API endpoint on loopback that accepts connections and never answers (and the
    credentials botocore signs with)."""
    from progress_admin.local.live import LOCAL_AWS_ENVIRONMENT
    from tests.faults import silent_server

    for name, value in LOCAL_AWS_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    with silent_server() as port:
        yield f"http://127.0.0.1:{port}/live"


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A moto server on loopback (S3, SQS) for the export and erasure tests; one per run."""
    from tests.learner_data import moto_server

    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture
def aws(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A fresh export bucket and queue in the moto server, and the export settings that name them (as the
    template gives them to the functions); boto3 reaches moto through AWS_ENDPOINT_URL_S3/_SQS."""
    from progress_common import export_store, exports
    from progress_common.settings import ExportSettings, set_export_settings
    from tests.helpers import FAKE_AWS_CREDENTIALS
    from tests.learner_data import make_stand_in

    for name, value in FAKE_AWS_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_endpoint)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", moto_endpoint)
    stand_in = make_stand_in(moto_endpoint)
    set_export_settings(ExportSettings(export_bucket=stand_in.bucket, export_queue_url=stand_in.queue_url))
    exports.reset_queue_client()
    export_store.forget_stores()
    yield stand_in
    set_export_settings(None)
    exports.reset_queue_client()
    export_store.forget_stores()


# the dashboard's browser tests (tests/test_dashboard_*.py) share these fixtures
from tests.browser import browser, demo_learner, site  # noqa: E402, F401


@pytest.fixture
def cloudformation() -> Iterator[Any]:
    """A loopback stand-in of CloudFormation's pre-signed response URL; records the answers PUT to it."""
    from tests.migrations import CloudFormationStandIn

    stand_in = CloudFormationStandIn()
    yield stand_in
    stand_in.close()
