"""What the browser tests of the dashboard share: headless Chromium (Debian's `chromium`, driven by
Playwright with `executable_path`; it never downloads a browser), `serve` on loopback with CORS for the
page's origin, a demo learner, and the helpers that open the page and read the API. conftest.py registers
the fixtures."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from progress_admin.covered import cover_days
from progress_admin.demo import demo_attempts
from progress_admin.local.gateway import make_token
from progress_admin.local.serve import create_server
from progress_common.writes import save_attempts
from tests.events import http_request

ROOT = Path(__file__).resolve().parent.parent
# Debian's chromium (apt); CHROMIUM names another build
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 375, "height": 740}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).is_file():
        reason = (
            f"!!! BROWSER TEST NOT RUN: no chromium at {CHROMIUM}. "
            "Install it with `apt-get install -y chromium` (CI's .ci/run does). !!!"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield instance
        instance.close()


@pytest.fixture
def site(engine) -> Iterator[dict[str, str]]:
    """serve with CORS allowing the page's origin (localhost) to call the API (127.0.0.1)."""
    port = _free_port()
    page_origin = f"http://localhost:{port}"
    server = create_server(
        ROOT,
        "127.0.0.1",
        port,
        log=lambda line: None,
        parameter_overrides={"CorsAllowedOrigins": page_origin},
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield {"page": page_origin, "api": f"http://127.0.0.1:{port}"}
    server.shutdown()
    server.server_close()


@pytest.fixture
def demo_learner(db, new_user_id, streak_limits) -> dict[str, Any]:
    # user 7 is the README's demo learner; the screenshot shows it. The deployment's default streak limits
    # (2 starter freezes, one earned every 7th practice day), the rules in force since the first day
    streak_limits()
    user = 7 if os.environ.get("DASHBOARD_SCREENSHOT") else new_user_id()
    attempts = demo_attempts(user, days=365, timezone="Europe/Berlin")
    save_attempts(attempts, engine=db)
    # for the last two months: Sunday a rest day, a goal of 4 days a week (docs/streaks.md), as
    # PUT /progress/settings writes a version; then the walk, as the write path refreshes it
    with db.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO user_settings (user_id, effective_from, rest_weekdays, weekly_goal_days)"
                " VALUES (:u, :d, '{7}', 4)"
            ),
            {"u": user, "d": dt.datetime.now(ZoneInfo("Europe/Berlin")).date() - dt.timedelta(days=60)},
        )
        conn.execute(text("SELECT progress_refresh_day_summary(:u)"), {"u": user})
    # an operator covered the two most recent days without practice (progress-admin cover-days)
    zone = ZoneInfo("Europe/Berlin")
    practised = {a.created_at.astimezone(zone).date() for a in attempts}
    today = dt.datetime.now(zone).date()
    gaps = [
        today - dt.timedelta(days=n) for n in range(1, 60) if today - dt.timedelta(days=n) not in practised
    ]
    for day in gaps[:2]:
        cover_days(db, day, day, "outage on the exercises service", user_ids=[user])
    return {"user": user, "token": make_token({"sub": f"user_{user}"})}


def _api(site: dict[str, str], token: str, path: str, method: str = "GET") -> Any:
    status, _, body = http_request(f"{site['api']}{path}", method, token=token)
    assert status == 200, body
    return json.loads(body)


def _open(browser: Any, site: dict[str, str], token: str | None, viewport: dict[str, int] = DESKTOP) -> Any:
    page = browser.new_page(viewport=viewport, locale="en-US", timezone_id="Europe/Berlin")
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.errors = errors
    # a token and the API it is for arrive together, in the fragment
    page.goto(f"{site['page']}/#token={token}&api={site['api']}" if token else f"{site['page']}/")
    return page


def _number(text: str) -> int:
    return int(text.replace(",", "").strip())


def _shown(page: Any) -> None:
    page.wait_for_selector("#dashboard:not([hidden])", timeout=15_000)
