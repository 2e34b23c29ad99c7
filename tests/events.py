"""Kept for the tests' imports: the events come from the one builder (progress_admin/local/events.py),
the context from the runtime stand-in (progress_admin/local/runtime.py), the client helpers from
tests/helpers.py."""

from __future__ import annotations

from progress_admin.local.events import attempt_body, http_event, sqs_event, sqs_record
from progress_admin.local.runtime import FakeContext as FakeLambdaContext
from tests.helpers import call, http_request

# A value for each path parameter of the template's routes (the export: one that does not exist).
PATH_SAMPLES = {"{export_id}": "5f0c6c1e-7b7e-4d0e-9a51-3c1f0d2b9a07", "{user_id}": "user_7"}
# What the app backend's routes (erasure, freeze grants) need in the token; the learners' routes ignore it.
ERASE_SCOPE_CLAIM = {"scope": "progress/erase progress/grant"}
# A valid body for each route of the template that takes one (the others take none).
SAMPLE_BODIES = {
    (
        "PUT",
        "/progress/settings",
    ): '{"rest_weekdays": ["sun"], "daily_goal": {"unit": "correct", "target": 5}}',
    (
        "POST",
        "/progress/freezes",
    ): '{"user_id": "user_7", "key": "sample-grant-1", "count": 1, "source": "granted"}',
}


def sample_path(path: str) -> str:
    """A request path for a route of the template (`/progress/export/{export_id}` -> a sample id)."""
    for name, value in PATH_SAMPLES.items():
        path = path.replace(name, value)
    assert "{" not in path, f"no sample value for a path parameter of {path} (tests/events.py)"
    return path


def sample_body(method: str, path: str) -> str | None:
    """A valid body for a route of the template (`path` as the template names it), or None when it takes none."""
    return SAMPLE_BODIES.get((method, path))


__all__ = [
    "ERASE_SCOPE_CLAIM",
    "PATH_SAMPLES",
    "SAMPLE_BODIES",
    "FakeLambdaContext",
    "attempt_body",
    "call",
    "http_event",
    "http_request",
    "sample_body",
    "sample_path",
    "sqs_event",
    "sqs_record",
]
