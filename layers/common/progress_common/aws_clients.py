"""The one way the layer builds an AWS client: bounded connect and read timeouts and retries from the settings
(`aws_*`), so an endpoint that accepts and never answers costs a known, small time. boto3 is imported here,
when a client is first built, never at cold start of a function that does not call AWS."""

from __future__ import annotations

from typing import Any

from progress_common.settings import get_settings


def bounded_client(service: str) -> Any:
    """A new boto3 client of `service` with the settings' timeouts and retries (callers cache it)."""
    import boto3
    from botocore.config import Config

    settings = get_settings()
    return boto3.session.Session().client(
        service,
        config=Config(
            connect_timeout=settings.aws_connect_timeout_seconds,
            read_timeout=settings.aws_read_timeout_seconds,
            retries={"mode": "standard", "total_max_attempts": settings.aws_max_attempts},
        ),
    )
