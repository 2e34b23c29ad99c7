"""Where the database is: DATABASE_URL (local, tests), or the Secrets Manager secret (AWS), whose client
and cached value live here, once per container, created on first use (after a SnapStart restore, never in
the snapshot) and dropped before a snapshot or after a rotation refused the cached credentials."""

from __future__ import annotations

import json
import logging
from typing import Any

from sqlalchemy import URL, make_url

from progress_common.errors import ConfigurationError, DatabaseUnavailableError
from progress_common.settings import Settings

log = logging.getLogger("progress_common.db")  # one logger for database access

_secrets_provider: Any = None


def url_from_database_url(raw: str) -> URL:
    url = make_url(raw)
    if url.get_backend_name() != "postgresql":
        raise ConfigurationError("DATABASE_URL must be a postgresql:// URL")
    url = url.set(drivername="postgresql+pg8000")
    # libpq spelling of a Unix socket (`?host=/path`), as pgserver hands out, to pg8000's `unix_sock`.
    socket_dir = url.query.get("host")
    if isinstance(socket_dir, str) and socket_dir.startswith("/"):
        query = {k: v for k, v in url.query.items() if k != "host"}
        query["unix_sock"] = f"{socket_dir}/.s.PGSQL.{url.port or 5432}"
        url = url.set(host=None, port=None, query=query)
    return url


def secrets_provider(settings: Settings) -> Any:
    """The container's Secrets Manager client: short connect/read timeouts and bounded retries, so an
    unreachable or silent endpoint fails in seconds (a 503), never after botocore's 60 s defaults.
    Created on first use, i.e. after a SnapStart restore, never in the snapshot."""
    global _secrets_provider
    if _secrets_provider is None:
        # Imported here only (boto3): the path that fetches a secret is the only one that needs it.
        from aws_lambda_powertools.utilities.parameters import SecretsProvider
        from botocore.config import Config

        _secrets_provider = SecretsProvider(
            boto_config=Config(
                connect_timeout=settings.aws_connect_timeout_seconds,
                read_timeout=settings.aws_read_timeout_seconds,
                retries={"mode": "standard", "total_max_attempts": settings.aws_max_attempts},
            )
        )
    return _secrets_provider


def forget_cached_secret() -> None:
    """Drop the cached secret only (the client stays): the next connection reads the secret again."""
    if _secrets_provider is not None:
        _secrets_provider.clear_cache()


def forget_secrets() -> None:
    """Drop the Secrets Manager client and its cached secret (before a snapshot; after rotation)."""
    global _secrets_provider
    if _secrets_provider is not None:
        _secrets_provider.clear_cache()
    _secrets_provider = None


def _url_from_secret(settings: Settings, secret_arn: str, host_override: str | None) -> URL:
    from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

    try:
        raw = secrets_provider(settings).get(secret_arn, max_age=300)
    except GetParameterError:
        # Secrets Manager unreachable or access denied: the caller sees 503; the log names the ARN only.
        log.warning("could not read the database secret %s", secret_arn)
        raise DatabaseUnavailableError("the database secret could not be read") from None
    try:
        secret = json.loads(raw if isinstance(raw, str) else raw.decode())
        username, password = secret["username"], secret["password"]
        host = host_override or secret.get("host")
        # DB_NAME wins over the secret's dbname, as DB_HOST over its host (the deployment names them)
        database = settings.db_name or secret.get("dbname") or secret.get("database")
        port = int(secret.get("port", 5432))
    except (KeyError, TypeError, ValueError) as exc:
        # Never echo the secret: name the problem only.
        raise ConfigurationError(f"database secret is malformed ({type(exc).__name__})") from None
    # An RDS-managed master secret holds only username and password: say which parameter supplies the
    # rest, rather than fail on a missing key or connect to the server's default database.
    if not host:
        raise ConfigurationError(
            'the database secret has no "host": set the DbHost parameter (DB_HOST), the RDS Proxy endpoint'
        )
    if not database:
        raise ConfigurationError('the database secret has no "dbname": set the DbName parameter (DB_NAME)')
    return URL.create(
        "postgresql+pg8000", username=username, password=password, host=host, port=port, database=database
    )


def database_url(settings: Settings) -> URL:
    """The URL to connect to: DATABASE_URL when set, else the Secrets Manager secret."""
    if settings.database_url is not None:
        return url_from_database_url(settings.database_url.get_secret_value())
    assert settings.db_secret_arn is not None  # guaranteed by Settings validation
    return _url_from_secret(settings, settings.db_secret_arn, settings.db_host)


def describe_url(url: URL) -> str:
    """A printable form of the URL; the password is masked."""
    return url.render_as_string(hide_password=True)
