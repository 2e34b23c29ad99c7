"""Keeping a streak on the dashboard, in real headless Chromium against `serve` (tests/browser.py): freezes held
and the next earned one, today's goal as a ring, the week's goal, rest/frozen/covered/repaired days told apart
in the heatmap by a pattern and a legend (not by colour alone), the repair offer and its button, the
settings form with the API's 422 messages next to the field they name (reminders included), and the notice of
paused reminders.

The learner's history is seeded as tests/test_keeping_a_streak.py does: attempts by plain SQL, a settings
version, a covered day, then the walk refreshed (progress_refresh_day_summary). Dates are relative to the
real today in Europe/Berlin, the learner's and the browser's timezone.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, text

from progress_admin.covered import cover_days
from progress_admin.local.gateway import make_token
from tests.browser import PHONE, _api, _number, _open, _shown
from tests.conftest import insert_attempts_sql
from tests.helpers import http_request
from tests.test_dashboard_browser import CONTRAST_SCRIPT
from tests.test_streaks import set_timezone

ZONE = "Europe/Berlin"
D = dt.timedelta(days=1)
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def _today() -> dt.date:
    return dt.datetime.now(ZoneInfo(ZONE)).date()


def _attempts(engine: Engine, user: int, day: dt.date, count: int, hour: int = 12) -> None:
    zone = ZoneInfo(ZONE)
    now = dt.datetime.now(zone)
    start = dt.datetime.combine(day, dt.time(hour), tzinfo=zone)
    if day == now.date():  # today's attempts are in the past, whatever the hour the test runs at
        start = min(start, now - dt.timedelta(minutes=count + 1))
    insert_attempts_sql(
        engine,
        [
            {
                "user_id": user,
                "exercise_id": 1 + n % 3,
                "is_correct": n % 4 != 3,
                "created_at": start + dt.timedelta(seconds=20 * n),
            }
            for n in range(count)
        ],
    )


def _refresh(engine: Engine, user: int) -> None:
    with engine.begin() as conn:
        conn.execute(text("SELECT progress_refresh_day_summary(:u)"), {"u": user})


def _settings_version(engine: Engine, user: int, effective_from: dt.date, **fields: object) -> None:
    columns = ["user_id", "effective_from", *fields]
    with engine.begin() as conn:
        conn.execute(
            text(
                f"INSERT INTO user_settings ({', '.join(columns)})"
                f" VALUES ({', '.join(':' + c for c in columns)})"
            ),
            {"user_id": user, "effective_from": effective_from, **fields},
        )


def _send(site: dict[str, str], token: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    status, _, raw = http_request(
        f"{site['api']}{path}",
        method,
        token=token,
        body=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json"} if body is not None else None,
    )
    return status, json.loads(raw)


@pytest.fixture
def keeper(db, new_user_id, streak_limits) -> dict[str, Any]:
    """A learner whose last weeks hold every kind of day, and a break they can repair once today's work is
    done: practice d-14..d-6 (two starter freezes), d-5 missed (frozen), d-4 covered, d-3 a rest weekday,
    d-2 and d-1 missed (one freeze cannot bridge two days: the run breaks, the gap is repairable), today 9
    attempts of the 10 a repair needs. Goals: 12 attempts a day, 3 days a week."""
    streak_limits()  # the deployment's defaults, rules from the start
    user = new_user_id()
    today = _today()
    set_timezone(db, user, ZONE)
    rest_day = (today - 3 * D).isoweekday()
    _settings_version(
        db,
        user,
        today - 40 * D,
        rest_weekdays=[rest_day],
        daily_goal_unit="attempts",
        daily_goal_target=12,
        weekly_goal_days=3,
    )
    for back in range(14, 5, -1):
        _attempts(db, user, today - back * D, 4)
    cover_days(db, today - 4 * D, today - 4 * D, "outage on the exercises service", user_ids=[user])
    _attempts(db, user, today, 9)
    _refresh(db, user)
    return {
        "user": user,
        "today": today,
        "rest_day": WEEKDAYS[rest_day - 1],
        "token": make_token({"sub": f"user_{user}"}),
    }


def _kinds(page: Any) -> dict[str, str]:
    return dict(
        page.eval_on_selector_all(
            "#heatmap i[data-date]", "cells => cells.map(c => [c.dataset.date, c.dataset.kind])"
        )
    )


def _background(page: Any, selector: str) -> str:
    return str(page.eval_on_selector(selector, "e => getComputedStyle(e).backgroundImage"))


def test_freezes_goals_kinds_and_a_repair(browser, site, db, keeper) -> None:
    token, today = keeper["token"], keeper["today"]
    progress = _api(site, token, "/progress?limit=10")
    stats = _api(site, token, "/progress/statistics?days=366")
    # the history is what the fixture says it is
    by_date = {row["date"]: row for row in stats["daily"]}
    assert [by_date[str(today - n * D)]["kind"] for n in (6, 5, 4, 3, 2, 1, 0)] == [
        "practice",
        "frozen",
        "covered",
        "rest",
        None,
        None,
        "practice",
    ]
    assert progress["repair"] is not None and progress["repair"]["available"] is False
    assert progress["week"] is not None

    page = _open(browser, site, token)
    _shown(page)

    # freezes held, one icon each, and what earns the next one
    assert page.inner_text("#freezes-text") == (
        f"{progress['freezes_held']} of {progress['freezes_max']} streak freezes held"
    )
    assert page.locator("#freeze-icons i").count() == progress["freezes_max"]
    assert page.locator("#freeze-icons i.held").count() == progress["freezes_held"]
    next_in = progress["next_freeze_in"]
    assert page.get_attribute("#next-freeze", "data-next-in") == ("" if next_in is None else str(next_in))
    if next_in is not None:
        assert f"in {next_in} practice day" in page.inner_text("#next-freeze")
    assert page.inner_text("#rest-days") == keeper["rest_day"].capitalize()

    # today's goal: a ring with its value for assistive technology, and the words
    goal = progress["today"]["goal"]
    assert (goal["unit"], goal["target"], goal["done"], goal["met"]) == ("attempts", 12, 9, False)
    ring = page.locator("#goal-ring")
    assert ring.get_attribute("role") == "progressbar"
    assert (ring.get_attribute("aria-valuenow"), ring.get_attribute("aria-valuemax")) == ("9", "12")
    assert ring.get_attribute("aria-valuetext") == "9 of 12 attempts"
    assert page.inner_text("#goal-done") == "9" and page.inner_text("#goal-of") == "of 12"
    assert page.inner_text("#goal-status") == "3 attempts to go today"
    offset = float(page.get_attribute("#goal-ring-fill", "stroke-dashoffset") or "nan")
    circumference = float(page.get_attribute("#goal-ring-fill", "stroke-dasharray") or "nan")
    assert abs(offset - circumference * 3 / 12) < 0.05  # three quarters drawn

    # the week's goal
    week = progress["week"]
    assert page.is_visible("#week") and page.is_hidden("#week-none")
    assert page.locator("#week-days i").count() == week["target_days"]
    assert page.locator("#week-days i.done").count() == min(week["practised_days"], week["target_days"])
    assert page.inner_text("#week-text").startswith(
        f"{week['practised_days']} of {week['target_days']} practice day"
    )
    state = "met" if week["met"] else "at-risk" if week["at_risk"] else "on-track"
    assert page.get_attribute("#week-status", "data-state") == state
    if week["at_risk"]:
        assert page.inner_text("#week-status").startswith("\N{WARNING SIGN} At risk")

    # the heatmap: each day's kind as the API says, each kind with its own pattern, and a legend in words
    shown = _kinds(page)
    assert shown == {row["date"]: row["kind"] or "none" for row in stats["daily"]}
    for kind in ("rest", "frozen"):
        assert page.locator(f"#heatmap i.k-{kind}").count() == sum(r["kind"] == kind for r in stats["daily"])
    assert page.locator("#heatmap i.covered").count() == sum(r["covered"] for r in stats["daily"]) == 1
    patterns = {
        kind: _background(page, f"#heatmap-legend li[data-kind={kind}] i")
        for kind in ("rest", "frozen", "repaired")
    }
    plain = _background(page, f'#heatmap i[data-date="{today - 2 * D}"]')
    assert plain == "none" and "none" not in patterns.values() and len(set(patterns.values())) == 3
    assert _background(page, f'#heatmap i[data-date="{today - 3 * D}"]') == patterns["rest"]
    assert _background(page, f'#heatmap i[data-date="{today - 5 * D}"]') == patterns["frozen"]
    legend = page.inner_text("#heatmap-legend")
    for words in ("Rest day", "Frozen", "Repaired", "Covered day", "Today"):
        assert words in legend
    # a day's figures, in words: pointing at the frozen day names it
    page.hover(f'#heatmap i[data-date="{today - 5 * D}"]')
    assert "frozen" in page.inner_text("#heatmap-day")

    # the repair offer: 9 of 10 attempts, no button yet
    repair = progress["repair"]
    assert (repair["gap_from"], repair["gap_to"]) == (str(today - 2 * D), str(today - D))
    assert page.is_visible("#repair") and page.is_hidden("#repair-button")
    assert "1 more attempt " in page.inner_text("#repair-text")
    assert page.inner_text("#repair-count").startswith(f"9 of {repair['attempts_required']} attempts")
    assert page.evaluate(CONTRAST_SCRIPT) == []

    # the tenth attempt: the repair is available, the button repairs, and the page shows the joined run
    _attempts(db, keeper["user"], today, 1)
    page.reload()
    _shown(page)
    page.wait_for_selector("#repair-button:not([hidden])")
    assert _api(site, token, "/progress")["repair"]["available"] is True
    page.click("#repair-button")
    page.wait_for_selector("#repair", state="hidden")
    assert page.inner_text("#notice").startswith("Streak repaired: ")
    after = _api(site, token, "/progress")
    assert after["repair"] is None and after["current_streak"] > progress["current_streak"]
    assert _number(page.inner_text("#current-streak")) == after["current_streak"]
    assert page.get_attribute("#streak-perfect", "data-perfect") == "false"
    kinds = _kinds(page)
    assert [kinds[str(today - n * D)] for n in (2, 1)] == ["repaired", "repaired"]
    assert _background(page, f'#heatmap i[data-date="{today - D}"]') == patterns["repaired"]
    # a second repair is refused by the API; the page would say why (409 repair_unavailable)
    status, body = _send(site, token, "POST", "/progress/streak/repair")
    assert status == 409 and body["error"]["code"] == "repair_unavailable"
    assert page.errors == []


def _errors(page: Any) -> dict[str, str]:
    """The visible error messages of the settings form, by the id of their element."""
    return dict(
        page.eval_on_selector_all(
            "#settings-form .field-error:not([hidden])", "els => els.map(e => [e.id, e.innerText])"
        )
    )


def test_the_settings_form_saves_and_shows_the_apis_422_next_to_the_field(
    browser, site, db, new_user_id
) -> None:
    user = new_user_id()
    set_timezone(db, user, ZONE)
    _attempts(db, user, _today() - D, 3)
    token = make_token({"sub": f"user_{user}"})
    before = _api(site, token, "/progress/settings")
    page = _open(browser, site, token, PHONE)
    _shown(page)
    page.wait_for_selector("#settings-form:not([hidden])")
    # the form shows the settings the API holds (the defaults: never changed)
    assert page.input_value("#goal-target") == str(before["daily_goal"]["target"])
    assert page.input_value("#goal-unit") == before["daily_goal"]["unit"]
    assert page.input_value("#weekly-days") == ""
    assert page.input_value("#week-start") == before["week_start"] == "mon"
    assert page.input_value("#day-start") == "00:00"
    assert page.locator("#rest-day-boxes input:checked").count() == 0
    assert page.is_visible("#week-none")

    # three mistakes at once: a third rest day, a target over 500, a day start after 06:00. The page judges
    # nothing itself (novalidate): the API's 422 names each field, and each message stands next to its field
    for day in ("sat", "sun", "mon"):
        page.check(f'#rest-day-boxes input[value="{day}"]')
    page.fill("#goal-target", "501")
    page.fill("#day-start", "07:00")
    page.click("#settings-save")
    page.wait_for_selector("#rest-days-error:not([hidden])")
    status, answer = _send(
        site,
        token,
        "PUT",
        "/progress/settings",
        {
            "daily_goal": {"unit": "attempts", "target": 501},
            "rest_weekdays": ["mon", "sat", "sun"],
            "day_start_minutes": 420,
        },
    )
    assert status == 422 and answer["error"]["code"] == "validation_error"
    messages = {tuple(d["loc"][1:2]): d["message"] for d in answer["error"]["details"]}
    assert set(messages) == {("daily_goal",), ("rest_weekdays",), ("day_start_minutes",)}
    assert _errors(page) == {
        "goal-target-error": messages[("daily_goal",)],
        "rest-days-error": messages[("rest_weekdays",)],
        "day-start-error": messages[("day_start_minutes",)],
    }
    # next to the field: inside the field's own group, described by it, the field marked invalid
    for field, error in (
        ("#goal-target", "goal-target-error"),
        ("#day-start", "day-start-error"),
        ("#rest-days-field", "rest-days-error"),
    ):
        assert page.get_attribute(field, "aria-invalid") == "true"
        assert error in (page.get_attribute(field, "aria-describedby") or "").split()
        assert page.eval_on_selector(
            f"#{error}",
            "(e, f) => e.closest('.field, fieldset') === document.querySelector(f).closest('.field, fieldset')",
            field,
        )
    assert page.evaluate("document.activeElement.id") == "goal-target"  # the first field to fix
    assert _api(site, token, "/progress/settings") == before  # nothing was written

    # one mistake left: only its message remains
    page.uncheck('#rest-day-boxes input[value="mon"]')
    page.fill("#day-start", "04:00")
    page.click("#settings-save")
    # the page hides every message when it sends and shows the API's when it answers: wait for the answer
    page.wait_for_function(
        "() => !document.getElementById('settings-save').disabled"
        " && document.getElementById('rest-days-error').hidden"
        " && !document.getElementById('goal-target-error').hidden"
    )
    assert list(_errors(page)) == ["goal-target-error"]
    assert page.get_attribute("#rest-days-field", "aria-invalid") is None

    # fixed: saved, from the next local day
    page.fill("#goal-target", "20")
    page.select_option("#goal-unit", "correct")
    page.select_option("#weekly-days", "4")
    page.click("#settings-save")
    page.wait_for_function("() => document.getElementById('settings-status').textContent.startsWith('Saved')")
    after = _api(site, token, "/progress/settings")
    assert after == {
        **before,
        "rest_weekdays": ["sat", "sun"],
        "day_start_minutes": 240,
        "daily_goal": {"unit": "correct", "target": 20},
        "daily_goal_default": False,
        "weekly_goal_days": 4,
        "effective_from": after["effective_from"],
    }
    assert after["effective_from"] == str(_today() + D)
    assert _errors(page) == {} and page.locator("#settings-form [aria-invalid]").count() == 0
    assert page.inner_text("#settings-status").startswith("Saved. Your new settings apply from ")
    # saving again without a change sends nothing
    page.click("#settings-save")
    assert page.inner_text("#settings-status") == "Nothing changed."
    # a phone needs no sideways scrolling with the form open, and its text keeps its contrast
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert page.evaluate(CONTRAST_SCRIPT) == []
    assert page.errors == []


def test_a_refused_repair_says_why(browser, site, db, keeper) -> None:
    token, today = keeper["token"], keeper["today"]
    _attempts(db, keeper["user"], today, 3)  # 12 today: the repair is available, today's goal met
    page = _open(browser, site, token)
    _shown(page)
    page.wait_for_selector("#repair-button:not([hidden])")
    goal = _api(site, token, "/progress")["today"]["goal"]
    assert (goal["done"], goal["target"], goal["met"]) == (12, 12, True) and goal["met_at"]
    assert page.get_attribute("#goal-ring", "data-met") == "true"
    assert page.get_attribute("#goal-ring-fill", "stroke-dashoffset") == "0.00"
    met_at = page.evaluate(
        "iso => new Intl.DateTimeFormat(undefined, {hour: 'numeric', minute: '2-digit', timeZone: 'Europe/Berlin'})"
        ".format(new Date(iso))",
        goal["met_at"],
    )
    assert page.inner_text("#goal-status") == f"\N{CHECK MARK} Goal met at {met_at}"
    # meanwhile another window repaired the gap: this page's button is out of date
    repair = _api(site, token, "/progress")["repair"]
    with db.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO streak_repairs (user_id, gap_from, gap_to, attempts_done) VALUES (:u, :f, :t, 10)"
            ),
            {"u": keeper["user"], "f": repair["gap_from"], "t": repair["gap_to"]},
        )
    _refresh(db, keeper["user"])
    page.click("#repair-button")
    page.wait_for_selector("#repair", state="hidden")  # the figures now: nothing left to repair
    status, body = _send(site, token, "POST", "/progress/streak/repair")
    assert status == 409 and body["error"]["code"] == "repair_unavailable"
    assert page.inner_text("#notice") == f"The repair was not possible: {body['error']['message']}."
    assert _number(page.inner_text("#current-streak")) == _api(site, token, "/progress")["current_streak"]
    assert page.errors == []


def test_a_server_without_the_settings_route_says_so(browser, site, new_user_id) -> None:
    page = _open(browser, site, None)
    page.route(
        "**/progress/settings",
        lambda route: route.fulfill(
            status=404,
            headers={"Access-Control-Allow-Origin": site["page"]},
            content_type="application/json",
            body=json.dumps({"error": {"code": "not_found", "message": "Not found"}}),
        ),
    )
    page.fill("#token-input", make_token({"sub": f"user_{new_user_id()}"}))
    page.fill("#api-input", site["api"])
    page.click("#token-panel button[type=submit]")
    _shown(page)
    page.wait_for_selector("#settings-unavailable:not([hidden])")
    assert page.inner_text("#settings-unavailable") == "Settings are not available on this server."
    assert page.is_hidden("#settings-form") and page.is_hidden("#settings-loading")
    # a learner without history: no repair offer, today's goal at zero
    assert page.is_hidden("#repair")
    assert page.get_attribute("#goal-ring", "aria-valuenow") == "0"
    assert page.errors == []


def test_paused_reminders_are_said_and_the_reminders_form_saves_and_shows_the_apis_422(
    browser, site, db, new_user_id
) -> None:
    """Signals on the dashboard (docs/signals.md): the kinds GET /progress says are paused, in words with what
    ends the pause; the settings form edits `reminders` (kinds, reminder_time, quiet hours), which apply at
    once, with the API's 422 messages next to the field they name."""
    user = new_user_id()
    set_timezone(db, user, ZONE)
    _attempts(db, user, _today() - D, 3)
    _refresh(db, user)
    with db.begin() as conn:  # as the sweep leaves it after 3 unanswered signals of each kind
        conn.execute(
            text(
                "UPDATE user_profiles SET reminders_paused = '{streak_saver,weekly_goal_at_risk}' WHERE user_id = :u"
            ),
            {"u": user},
        )
    token = make_token({"sub": f"user_{user}"})
    assert _api(site, token, "/progress")["reminders_paused"] == ["streak_saver", "weekly_goal_at_risk"]
    before = _api(site, token, "/progress/settings")
    assert before["reminders"] == {
        "kinds": dict.fromkeys(
            ("streak_saver", "weekly_goal_at_risk", "milestone", "freeze_used", "streak_lost"), True
        ),
        "reminder_time": "20:00",
        "quiet_hours": None,
    }
    page = _open(browser, site, token, PHONE)
    _shown(page)

    # the pause, in words (not by colour alone), and what ends it
    assert page.is_visible("#reminders-paused")
    assert page.inner_text("#reminders-paused") == (
        "Reminders paused: streak saver, weekly goal at risk \N{EM DASH} practise to resume"
    )
    assert page.get_attribute("#reminders-paused", "data-kinds") == "streak_saver weekly_goal_at_risk"

    # the form shows the reminders the API holds: every kind on, 20:00, no quiet hours
    page.wait_for_selector("#settings-form:not([hidden])")
    assert page.is_visible("#reminders-field")
    boxes = dict(
        page.eval_on_selector_all("#reminder-kind-boxes input", "els => els.map(e => [e.value, e.checked])")
    )
    assert boxes == before["reminders"]["kinds"]
    assert page.input_value("#reminder-time") == "20:00"
    assert (
        not page.is_checked("#quiet-on") and page.is_disabled("#quiet-from") and page.is_disabled("#quiet-to")
    )

    # two mistakes: the reminder time cleared, quiet hours without their start. The API's 422 names each field
    page.fill("#reminder-time", "")
    page.check("#quiet-on")
    assert page.is_enabled("#quiet-from")
    page.fill("#quiet-to", "06:30")
    page.click("#settings-save")
    page.wait_for_selector("#reminder-time-error:not([hidden])")
    status, answer = _send(
        site,
        token,
        "PUT",
        "/progress/settings",
        {"reminders": {"reminder_time": "", "quiet_hours": {"from": "", "to": "06:30"}}},
    )
    assert status == 422 and answer["error"]["code"] == "validation_error"
    messages = {tuple(d["loc"][1:]): d["message"] for d in answer["error"]["details"]}
    assert set(messages) == {("reminders", "reminder_time"), ("reminders", "quiet_hours", "from")}
    assert _errors(page) == {
        "reminder-time-error": messages[("reminders", "reminder_time")],
        "quiet-from-error": messages[("reminders", "quiet_hours", "from")],
    }
    for field, error in (("#reminder-time", "reminder-time-error"), ("#quiet-from", "quiet-from-error")):
        assert page.get_attribute(field, "aria-invalid") == "true"
        assert error in (page.get_attribute(field, "aria-describedby") or "").split()
        assert page.eval_on_selector(
            f"#{error}",
            "(e, f) => e.closest('.field') === document.querySelector(f).closest('.field')",
            field,
        )
    assert page.evaluate("document.activeElement.id") == "reminder-time"  # the first field to fix
    assert _api(site, token, "/progress/settings") == before  # nothing was written

    # fixed: a new reminder time, milestones off, quiet hours 22:30-06:30; they apply at once, and no
    # settings version is written (effective_from stays as it was)
    page.fill("#reminder-time", "07:45")
    page.fill("#quiet-from", "22:30")
    page.uncheck('#reminder-kind-boxes input[value="milestone"]')
    page.click("#settings-save")
    page.wait_for_function("() => document.getElementById('settings-status').textContent.startsWith('Saved')")
    assert page.inner_text("#settings-status") == "Saved. Your reminders apply at once."
    assert _errors(page) == {} and page.locator("#settings-form [aria-invalid]").count() == 0
    after = _api(site, token, "/progress/settings")
    assert after == {
        **before,
        "reminders": {
            "kinds": {**before["reminders"]["kinds"], "milestone": False},
            "reminder_time": "07:45",
            "quiet_hours": {"from": "22:30", "to": "06:30"},
        },
    }
    # a page opened afterwards shows them
    page.reload()
    _shown(page)
    page.wait_for_selector("#settings-form:not([hidden])")
    assert page.input_value("#reminder-time") == "07:45"
    assert page.is_checked("#quiet-on") and page.input_value("#quiet-from") == "22:30"
    assert not page.is_checked('#reminder-kind-boxes input[value="milestone"]')
    # turning quiet hours off sends null
    page.uncheck("#quiet-on")
    page.click("#settings-save")
    page.wait_for_function("() => document.getElementById('settings-status').textContent.startsWith('Saved')")
    assert _api(site, token, "/progress/settings")["reminders"]["quiet_hours"] is None
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert page.evaluate(CONTRAST_SCRIPT) == []

    # practice ends the pause: the notice goes
    _attempts(db, user, _today(), 1)
    assert _api(site, token, "/progress")["reminders_paused"] == []
    page.reload()
    _shown(page)
    page.wait_for_selector("#reminders-paused", state="hidden")
    assert page.errors == []
