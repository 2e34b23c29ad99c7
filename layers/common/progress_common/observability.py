"""Logger, Tracer and Metrics: one instance each per container, configured by POWERTOOLS_* variables."""

from __future__ import annotations

import os
from collections.abc import AsyncGenerator, Generator
from contextlib import asynccontextmanager, contextmanager
from numbers import Number
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.shared import constants
from aws_lambda_powertools.shared.functions import resolve_truthy_env_var_choice
from aws_lambda_powertools.tracing.base import BaseProvider, BaseSegment


class _NoOpSegment(BaseSegment):  # pragma: no cover - trivial
    def close(self, end_time: int | None = None) -> None: ...
    def add_subsegment(self, subsegment: Any) -> None: ...
    def remove_subsegment(self, subsegment: Any) -> None: ...
    def put_annotation(self, key: str, value: str | Number | bool) -> None: ...
    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None: ...
    def add_exception(self, exception: BaseException, stack: list, remote: bool = False) -> None: ...


class _NoOpTracingProvider(BaseProvider):
    """Stands in for the X-Ray recorder when tracing is off, so the X-Ray SDK (and the botocore it pulls
    in, ~200 ms) is not imported on paths that will never send a trace."""

    @contextmanager
    def in_subsegment(self, name: str = "", **kwargs: Any) -> Generator[BaseSegment, None, None]:
        yield _NoOpSegment()

    @asynccontextmanager
    async def in_subsegment_async(self, name: str = "", **kwargs: Any) -> AsyncGenerator[BaseSegment, None]:
        yield _NoOpSegment()

    def put_annotation(self, key: str, value: str | Number | bool) -> None: ...
    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None: ...
    def patch(self, modules: Any) -> None: ...
    def patch_all(self) -> None: ...


def _tracing_disabled() -> bool:
    """POWERTOOLS_TRACE_DISABLED read as Powertools' Tracer reads it (y, t, on, 1, ... are true); empty is unset."""
    return resolve_truthy_env_var_choice(env=os.getenv(constants.TRACER_DISABLED_ENV) or "false")


logger = Logger()
tracer = Tracer(provider=_NoOpTracingProvider(), disabled=True) if _tracing_disabled() else Tracer()
metrics = Metrics()
