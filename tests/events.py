"""Kept for the tests' imports: the events come from the one builder (progress_admin/local/events.py),
the context from the runtime stand-in (progress_admin/local/runtime.py), the client helpers from
tests/helpers.py."""

from __future__ import annotations

from progress_admin.local.events import attempt_body, http_event, sqs_event, sqs_record
from progress_admin.local.runtime import FakeContext as FakeLambdaContext
from tests.helpers import call, http_request

__all__ = [
    "FakeLambdaContext",
    "attempt_body",
    "call",
    "http_event",
    "http_request",
    "sqs_event",
    "sqs_record",
]
