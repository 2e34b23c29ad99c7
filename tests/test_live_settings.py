"""The live-update settings (settings.LiveSettings): from the environment, or replaced in process
(`progress-admin serve` points LiveTicketFunction at its own WebSocket server), as the real
POST /progress/live-ticket handler answers them. Fast; the WebSocket round trips are in test_live.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from progress_common.errors import ConfigurationError
from progress_common.settings import (
    LiveSettings,
    _live_from_environment,
    get_live_settings,
    set_live_settings,
)
from tests.events import call, http_event

ENVIRONMENT_URL = "wss://env1234567.execute-api.eu-west-1.amazonaws.com/live"


@pytest.fixture
def live_environment(monkeypatch) -> Iterator[pytest.MonkeyPatch]:
    """LIVE_* variables as the template sets them, read afresh; whatever was in place comes back after."""
    previous = get_live_settings()
    set_live_settings(None)
    monkeypatch.setenv("LIVE_WEBSOCKET_URL", ENVIRONMENT_URL)
    _live_from_environment.cache_clear()
    yield monkeypatch
    monkeypatch.undo()
    _live_from_environment.cache_clear()
    set_live_settings(previous)


def ticket_url(load_function, user: int) -> str:
    status, _, body = call(
        load_function("live_ticket").lambda_handler,
        http_event("POST", "/progress/live-ticket", claims={"sub": str(user)}),
    )
    assert status == 200, body
    return body["url"]


def test_the_ticket_url_follows_the_settings_in_place(
    load_function, db, new_user_id, live_environment
) -> None:
    user = new_user_id()
    assert ticket_url(load_function, user).startswith(f"{ENVIRONMENT_URL}?ticket=")
    set_live_settings(LiveSettings(live_websocket_url="ws://127.0.0.1:3001/live"))
    assert get_live_settings().live_websocket_url == "ws://127.0.0.1:3001/live"
    assert ticket_url(load_function, user).startswith("ws://127.0.0.1:3001/live?ticket=")
    set_live_settings(None)  # back to the environment
    assert ticket_url(load_function, user).startswith(f"{ENVIRONMENT_URL}?ticket=")


def test_live_variables_from_the_environment(live_environment) -> None:
    live_environment.setenv(
        "LIVE_MANAGEMENT_ENDPOINT", "https://env1234567.execute-api.eu-west-1.amazonaws.com/live"
    )
    live_environment.setenv("LIVE_PUSH_BUDGET_SECONDS", "")  # empty is unset: the default
    settings = get_live_settings()
    assert settings.live_websocket_url == ENVIRONMENT_URL
    assert settings.live_management_endpoint == "https://env1234567.execute-api.eu-west-1.amazonaws.com/live"
    assert settings.live_push_budget_seconds == 1.0
    _live_from_environment.cache_clear()
    live_environment.setenv("LIVE_PUSH_BUDGET_SECONDS", "0")
    live_environment.setenv("LIVE_WEBSOCKET_URL", "https://not-a-websocket")
    with pytest.raises(ConfigurationError) as refused:
        get_live_settings()
    message = str(refused.value)
    assert message.startswith("invalid environment: ")
    assert "LIVE_WEBSOCKET_URL: " in message and "LIVE_PUSH_BUDGET_SECONDS: " in message
