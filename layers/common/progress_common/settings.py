"""Settings from environment variables, validated once per container (at cold start)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from progress_common.errors import ConfigurationError


class Settings(BaseModel):
    """What the functions and local tools read from the environment.

    Field names are the variable names, lower-cased. Exactly one database source is needed:
    `DATABASE_URL` (local development, tests) or `DB_SECRET_ARN` (AWS: an RDS secret in Secrets Manager).
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    database_url: SecretStr | None = None
    db_secret_arn: str | None = None
    # RDS Proxy endpoint: overrides the host of the secret, which names the instance behind it.
    db_host: str | None = None
    # The database to use: overrides the secret's dbname (an RDS-managed master secret has none).
    db_name: str | None = Field(default=None, min_length=1, max_length=63)
    # seconds a connect, or a read of a result, may block before the call fails: a silent database is a
    # 503 within 5 s (DESIGN "In AWS"), and the server's 4 s statement timeout (schema.ROLE_SESSION_DEFAULTS)
    # cancels a slow statement before the client gives up on the connection
    db_connect_timeout_seconds: float = Field(default=4.5, gt=0, le=900)
    # Unset: the role default the migration applies (schema.ROLE_SESSION_DEFAULTS), sent by nobody.
    # Set (the archive function, local tools): one SET per new connection, which pins that session
    # on RDS Proxy; fine for a single long-running client, not for the request path.
    db_statement_timeout_ms: int | None = Field(default=None, ge=0, le=900_000)
    # TLS to the database: "verify-full" (AWS: RDS Proxy's certificate must chain to a trusted root and
    # name the host) or "disable" (local servers).
    db_tls: Literal["disable", "verify-full"] = "disable"
    # Secrets Manager (and any other AWS API the layer calls): an endpoint that accepts and never
    # answers costs at most attempts x (connect + read) seconds, well inside a 10 s function.
    aws_connect_timeout_seconds: float = Field(default=1.0, gt=0, le=60)
    aws_read_timeout_seconds: float = Field(default=1.0, gt=0, le=60)
    aws_max_attempts: int = Field(default=2, ge=1, le=10)
    db_pool_size: int = Field(default=1, ge=1, le=64)
    user_id_claim: str = Field(default="sub", min_length=1)
    archive_retention_days: int = Field(default=365, ge=1, le=36_500)
    archive_batch_size: int = Field(default=5_000, ge=1, le=100_000)
    retry_after_seconds: int = Field(default=5, ge=1, le=3600)

    @model_validator(mode="after")
    def _one_database_source(self) -> Settings:
        if self.database_url is None and not self.db_secret_arn:
            raise ValueError("set DATABASE_URL (local) or DB_SECRET_ARN (AWS)")
        return self


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from the environment; raise ConfigurationError naming the bad variables."""
    env = os.environ if environ is None else environ
    values = {name.lower(): value for name, value in env.items() if name.lower() in Settings.model_fields}
    values = {name: value for name, value in values.items() if value != ""}
    try:
        return Settings.model_validate(values)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']).upper() or 'settings'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigurationError(f"invalid environment: {problems}") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The container's settings, read once."""
    return load_settings()


class LiveSettings(BaseModel):
    """Live updates (the WebSocket API), from the environment; each variable is set only in the functions
    that use it (template.yaml), and by `progress-admin serve` locally."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    # where clients open the WebSocket: wss://{api-id}.execute-api.{region}.amazonaws.com/{stage}
    live_websocket_url: str | None = Field(default=None, pattern=r"^wss?://[^?#\s]+$")
    # the @connections API of that WebSocket API: https://{api-id}.execute-api.{region}.amazonaws.com/{stage}
    live_management_endpoint: str | None = Field(default=None, pattern=r"^https?://[^?#\s]+$")
    # the most time pushing may add to a batch of the attempts consumer, all connections together
    live_push_budget_seconds: float = Field(default=1.0, gt=0, le=10)


_live_override: LiveSettings | None = None


@lru_cache(maxsize=1)
def _live_from_environment() -> LiveSettings:
    env = os.environ
    values = {name.lower(): value for name, value in env.items() if name.lower() in LiveSettings.model_fields}
    try:
        return LiveSettings.model_validate({name: value for name, value in values.items() if value != ""})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']).upper()}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigurationError(f"invalid environment: {problems}") from None


def get_live_settings() -> LiveSettings:
    """The container's live-update settings, read once (or what set_live_settings() put in place)."""
    return _live_override if _live_override is not None else _live_from_environment()


def set_live_settings(settings: LiveSettings | None) -> None:
    """Replace the live-update settings in this process (`progress-admin serve`); None: the environment."""
    global _live_override
    _live_override = settings


MIB = 1024 * 1024


class ExportSettings(BaseModel):
    """The learner's own data (export and erasure), from the environment; set only in the functions that use
    them (template.yaml), and by `progress-admin serve` and `progress-admin erase` locally."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    # where export objects live in AWS: the stack's bucket (users/<id>/...)
    export_bucket: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
    # locally instead (serve): a folder, and the loopback URL serve answers downloads at, with the key that
    # signs its download links (as S3 signs a pre-signed URL)
    export_local_dir: str | None = Field(default=None, min_length=1)
    export_local_url: str | None = Field(default=None, pattern=r"^https?://[^?#\s]+$")
    export_local_signing_key: SecretStr | None = Field(default=None, min_length=16)
    # the queue POST /progress/export hands an export to the worker through
    export_queue_url: str | None = Field(default=None, pattern=r"^https?://[^?#\s]+$")
    # rows per page the worker reads (one statement each); bytes per part of the multipart upload (S3 needs
    # at least 5 MiB for every part but the last)
    export_page_rows: int = Field(default=2_000, ge=1, le=50_000)
    export_part_bytes: int = Field(default=8 * MIB, ge=5 * MIB, le=512 * MIB)
    # the scope the app's backend's token carries for DELETE /progress/users/{user_id}
    erase_scope: str = Field(default="progress/erase", min_length=1, pattern=r"^\S+$")

    @model_validator(mode="after")
    def _local_store_is_complete(self) -> ExportSettings:
        local = (self.export_local_dir, self.export_local_url, self.export_local_signing_key)
        if any(value is not None for value in local) and None in local:
            raise ValueError("EXPORT_LOCAL_DIR, EXPORT_LOCAL_URL and EXPORT_LOCAL_SIGNING_KEY go together")
        return self


_export_override: ExportSettings | None = None


@lru_cache(maxsize=1)
def _export_from_environment() -> ExportSettings:
    env = os.environ
    values = {
        name.lower(): value for name, value in env.items() if name.lower() in ExportSettings.model_fields
    }
    try:
        return ExportSettings.model_validate({name: value for name, value in values.items() if value != ""})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']).upper() or 'settings'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigurationError(f"invalid environment: {problems}") from None


def get_export_settings() -> ExportSettings:
    """The container's export settings, read once (or what set_export_settings() put in place)."""
    return _export_override if _export_override is not None else _export_from_environment()


def set_export_settings(settings: ExportSettings | None) -> None:
    """Replace the export settings in this process (serve, tests); None: the environment (read again)."""
    global _export_override
    _export_override = settings
    _export_from_environment.cache_clear()


class IngestSettings(BaseModel):
    """The sweep's view of the attempts queue (docs/signals.md, "Settled days") and the bus it publishes
    signals to, from the environment; set
    only in the sweep function (template.yaml), and by `progress-admin serve` and `sweep` locally."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    # "sqs": the watermark comes from what SQS and CloudWatch say of ATTEMPTS_QUEUE_URL (AWS). "local": the
    # local queue of `serve` writes each batch before it answers, so nothing is ever waiting: the watermark is
    # the sweep's instant.
    ingest_watermark_source: Literal["sqs", "local"] = "sqs"
    attempts_queue_url: str | None = Field(default=None, pattern=r"^https?://[^?#\s]+/[^/?#\s]+$")
    # the longest DelaySeconds a producer may give a message (SQS allows 900): whether
    # ApproximateAgeOfOldestMessage counts a delayed message is not documented, so the watermark stays this
    # far behind what the metric proves. 0 only when no producer ever delays a message.
    ingest_max_delay_seconds: int = Field(default=900, ge=0, le=900)
    # the EventBridge bus the sweep publishes the signal outbox to (docs/signals.md, "Publishing"); unset
    # (serve, `progress-admin sweep`): each signal is logged as one line and marked published locally
    event_bus_name: str | None = Field(default=None, pattern=r"^[A-Za-z0-9._/:-]{1,1600}$")

    @model_validator(mode="after")
    def _a_queue_to_watch(self) -> IngestSettings:
        if self.ingest_watermark_source == "sqs" and self.attempts_queue_url is None:
            raise ValueError("ATTEMPTS_QUEUE_URL is required when INGEST_WATERMARK_SOURCE is sqs")
        return self

    @property
    def attempts_queue_name(self) -> str | None:
        """The queue's name (the last segment of its URL): the QueueName dimension of its SQS metrics."""
        return self.attempts_queue_url.rsplit("/", 1)[1] if self.attempts_queue_url else None


_ingest_override: IngestSettings | None = None


@lru_cache(maxsize=1)
def _ingest_from_environment() -> IngestSettings:
    env = os.environ
    values = {
        name.lower(): value for name, value in env.items() if name.lower() in IngestSettings.model_fields
    }
    try:
        return IngestSettings.model_validate({name: value for name, value in values.items() if value != ""})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']).upper() or 'settings'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigurationError(f"invalid environment: {problems}") from None


def get_ingest_settings() -> IngestSettings:
    """The container's ingest settings, read once (or what set_ingest_settings() put in place)."""
    return _ingest_override if _ingest_override is not None else _ingest_from_environment()


def set_ingest_settings(settings: IngestSettings | None) -> None:
    """Replace the ingest settings in this process (serve, sweep, tests); None: the environment (read again)."""
    global _ingest_override
    _ingest_override = settings
    _ingest_from_environment.cache_clear()


class StreakSettings(BaseModel):
    """The deployment's streak limits (docs/design.md "Keeping a streak"; docs/streaks.md says where they live).

    Every migration run stores them in `streak_config`, where the write path's trigger and the reads find
    them; the grant route checks GRANT_SCOPE. FREEZE_STARTER=0 FREEZE_EARN_EVERY=0: no freezes at all."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    freeze_max_held: int = Field(default=2, ge=0, le=10)
    freeze_starter: int = Field(default=2, ge=0, le=10)
    freeze_earn_every: int = Field(default=7, ge=0, le=365)
    repair_window_days: int = Field(default=2, ge=0, le=30)
    repair_max_gap_days: int = Field(default=3, ge=0, le=30)
    repair_every_days: int = Field(default=30, ge=0, le=3650)
    repair_attempts: int = Field(default=10, ge=1, le=500)
    daily_goal: int = Field(default=10, ge=1, le=500)
    grant_scope: str = Field(default="progress/grant", min_length=1, max_length=200, pattern=r"^\S+$")

    def config_row(self) -> dict[str, int]:
        """What streak_config holds (everything but the scope, which only the grant route needs)."""
        return self.model_dump(exclude={"grant_scope"})


_streak_override: StreakSettings | None = None


@lru_cache(maxsize=1)
def _streak_from_environment() -> StreakSettings:
    values = {
        name.lower(): value
        for name, value in os.environ.items()
        if name.lower() in StreakSettings.model_fields and value != ""
    }
    try:
        return StreakSettings.model_validate(values)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']).upper() or 'settings'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigurationError(f"invalid environment: {problems}") from None


def get_streak_settings() -> StreakSettings:
    """The container's streak settings, read once (or what set_streak_settings() put in place)."""
    return _streak_override if _streak_override is not None else _streak_from_environment()


def set_streak_settings(settings: StreakSettings | None) -> None:
    """Replace the streak settings in this process (tests, local tools); None: the environment (read again)."""
    global _streak_override
    _streak_override = settings
    _streak_from_environment.cache_clear()
