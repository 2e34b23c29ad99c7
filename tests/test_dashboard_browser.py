"""The dashboard in real headless Chromium (Debian's `chromium`, driven by Playwright), against `serve` on
loopback with the demo learner. The page is loaded from http://localhost:PORT and calls the API at
http://127.0.0.1:PORT: another origin, so every request goes through CORS as it would in production.

`./dev screenshot` runs the first test with DASHBOARD_SCREENSHOT set and so regenerates
docs/dashboard.png (and docs/dashboard-phone.png)."""

from __future__ import annotations

import json
import os
from typing import Any

from progress_admin.local.gateway import make_token
from tests.browser import PHONE, _api, _number, _open, _shown
from tests.events import http_request

# WCAG 2 contrast of every visible text against the background behind it
CONTRAST_SCRIPT = """() => {
  const parse = (c) => {
    const m = c.match(/rgba?\\(([^)]+)\\)/);
    if (!m) return null;
    const p = m[1].split(/[ ,\\/]+/).filter(Boolean).map(Number);
    return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1};
  };
  const lum = ({r, g, b}) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c && c.a > 0.5) return c;
    }
    return {r: 255, g: 255, b: 255, a: 1};
  };
  const worst = [];
  for (const el of document.querySelectorAll("body *")) {
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!own || !el.checkVisibility({opacityProperty: true, visibilityProperty: true})) continue;
    const rect = el.getBoundingClientRect();
    if (rect.width < 2 || rect.height < 2) continue;
    const style = getComputedStyle(el);
    const fg = parse(style.color), bg = background(el);
    const [a, b] = [lum(fg), lum(bg)].sort((x, y) => y - x);
    const ratio = (a + 0.05) / (b + 0.05);
    if (ratio < 4.5) worst.push({text: el.textContent.trim().slice(0, 40), ratio: ratio.toFixed(2)});
  }
  return worst;
}"""


def test_the_page_shows_what_the_api_says(browser, site, demo_learner) -> None:
    token = demo_learner["token"]
    progress = _api(site, token, "/progress?limit=10")
    stats = _api(site, token, "/progress/statistics?days=366")
    page = _open(browser, site, token)
    _shown(page)
    assert "token" not in page.url  # read from the fragment, then removed from the address bar

    assert _number(page.inner_text("#current-streak")) == progress["current_streak"] > 0
    assert _number(page.inner_text("#longest-streak")) == progress["longest_streak"]
    assert (
        _number(page.inner_text("#total-attempts")) == progress["total_attempts"] == stats["total_attempts"]
    )
    assert _number(page.inner_text("#correct-attempts")) == progress["correct_attempts"]
    assert abs(float(page.inner_text("#accuracy").rstrip("%")) - progress["accuracy"] * 100) <= 0.05 + 1e-9
    assert _number(page.inner_text("#practice-days")) == stats["practice_days"]
    assert _number(page.inner_text("#sessions-total")) == stats["sessions"]["total"]
    if "practiced_today" in progress:  # the streak fields of GET /progress
        done = page.get_attribute("#today-status", "data-done")
        assert done == str(progress["practiced_today"]).lower()
    if progress.get("streak_expires_at"):
        assert page.inner_text("#countdown").startswith("Streak ends in")

    # the heatmap: 53 weeks x 7 days, one cell per day of the series, today marked
    cells = page.locator("#heatmap i")
    assert cells.count() == 53 * 7
    days = page.eval_on_selector_all(
        "#heatmap i[data-date]",
        "cells => cells.map(c => [c.dataset.date, Number(c.dataset.attempts), c.dataset.covered === 'true'])",
    )
    assert [d[0] for d in days] == [d["date"] for d in stats["daily"]] and len(days) == 366
    assert [d[1] for d in days] == [d["attempts"] for d in stats["daily"]]
    assert [d[2] for d in days] == [d["covered"] for d in stats["daily"]]
    assert page.locator("#heatmap i.covered").count() == sum(d["covered"] for d in stats["daily"]) == 2
    today = page.locator('#heatmap i[aria-current="date"]')
    assert today.count() == 1 and today.get_attribute("data-date") == stats["daily"][-1]["date"]
    assert page.locator("#heatmap i.l4").count() > 0 and page.locator("#heatmap i.l0").count() > 0
    if os.environ.get("DASHBOARD_SCREENSHOT"):  # ./dev screenshot: the README's picture
        page.screenshot(path=os.environ["DASHBOARD_SCREENSHOT"], full_page=True)

    # accuracy per exercise: the top ten, then all of them
    rows = page.eval_on_selector_all(
        "#exercises tbody tr",
        "rows => rows.map(r => [Number(r.dataset.exerciseId), r.cells[1].innerText, r.cells[2].innerText])",
    )
    assert len(rows) == 10
    for (exercise, attempts, accuracy), expected in zip(rows, stats["by_exercise"], strict=False):
        assert exercise == expected["exercise_id"] and _number(attempts) == expected["attempts"]
        assert abs(float(accuracy.rstrip("%")) - expected["accuracy"] * 100) <= 0.05 + 1e-9
    page.click("#exercises-all")
    assert page.locator("#exercises tbody tr").count() == len(stats["by_exercise"]) > 10

    # recent attempts, then "load more" appends the next page without repeats
    shown = page.eval_on_selector_all(
        "#recent tbody tr", "rows => rows.map(r => Number(r.dataset.attemptId))"
    )
    assert shown == [a["id"] for a in progress["recent_attempts"]] and len(shown) == 10
    second = _api(site, token, f"/progress?limit=10&cursor={progress['next_cursor']}")
    page.click("#load-more")
    page.wait_for_function("() => document.querySelectorAll('#recent tbody tr').length === 20")
    shown = page.eval_on_selector_all(
        "#recent tbody tr", "rows => rows.map(r => Number(r.dataset.attemptId))"
    )
    assert shown == [a["id"] for a in progress["recent_attempts"] + second["recent_attempts"]]
    assert len(set(shown)) == 20

    assert page.evaluate(CONTRAST_SCRIPT) == []

    # reset: a confirmation that names what goes, then zeros
    page.click("#reset-open")
    dialog = page.locator("#reset-dialog")
    assert dialog.is_visible()
    text = dialog.inner_text()
    assert f"all {progress['total_attempts']:,} attempts" in text
    assert f"{stats['sessions']['total']:,} practice sessions" in text
    assert f"user {demo_learner['user']}" in text
    page.click("#reset-cancel")
    assert not dialog.is_visible()
    assert _api(site, token, "/progress")["total_attempts"] == progress["total_attempts"]  # nothing deleted
    page.click("#reset-open")
    page.click("#reset-confirm")
    page.wait_for_function("() => document.getElementById('total-attempts').textContent === '0'")
    assert page.inner_text("#notice").startswith(f"Deleted {progress['total_attempts']:,} attempts")
    assert page.inner_text("#current-streak") == "0" and page.inner_text("#accuracy") == "\N{EN DASH}"
    assert page.locator("#recent tbody tr").count() == 0 and page.is_visible("#recent-empty")
    assert page.locator("#heatmap i[data-date]").count() == 366
    assert page.locator("#heatmap i.l1, #heatmap i.l2, #heatmap i.l3, #heatmap i.l4").count() == 0
    assert _api(site, token, "/progress")["total_attempts"] == 0
    assert page.errors == []


def test_a_phone_reads_it_without_sideways_scrolling_and_a_keyboard_drives_it(
    browser, site, demo_learner
) -> None:
    page = _open(browser, site, demo_learner["token"], PHONE)
    _shown(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    # the heatmap scrolls inside its card, newest weeks in view
    assert page.evaluate(
        "(() => { const s = document.getElementById('heatmap-scroll'); "
        "return s.scrollLeft + s.clientWidth >= s.scrollWidth - 1; })()"
    )
    if os.environ.get("DASHBOARD_SCREENSHOT"):
        page.screenshot(
            path=os.environ["DASHBOARD_SCREENSHOT"].replace(".png", "-phone.png"), full_page=False
        )
    # every control has a name a screen reader announces
    unnamed = page.evaluate(
        """() => [...document.querySelectorAll('button, input, textarea, [tabindex="0"]')]
             .filter(e => !(e.getAttribute('aria-label') || e.labels?.length || e.textContent.trim()
                            || e.getAttribute('aria-labelledby')))
             .map(e => e.outerHTML.slice(0, 60))"""
    )
    assert unnamed == []
    # Tab reaches "Load more" and Enter loads the next page
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "load-more":
            break
    assert page.evaluate("document.activeElement.id") == "load-more"
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.querySelectorAll('#recent tbody tr').length === 20")
    # the heatmap answers arrow keys with the figures of a day
    page.focus("#heatmap-scroll")
    page.keyboard.press("ArrowLeft")
    assert "attempt" in page.inner_text("#heatmap-day")
    # the reset dialog opens and closes with the keyboard, and nothing is deleted
    page.focus("#reset-open")
    page.keyboard.press("Enter")
    assert page.is_visible("#reset-dialog")
    assert page.evaluate("document.activeElement.id") == "reset-cancel"
    page.keyboard.press("Escape")
    assert not page.is_visible("#reset-dialog")
    assert page.errors == []


def test_a_refused_token_says_so_and_a_pasted_one_works(browser, site, demo_learner) -> None:
    page = _open(browser, site, None)
    assert page.is_visible("#token-panel") and page.is_visible("label[for=token-input]")
    page.fill("#token-input", make_token({"sub": "not a user"}))
    page.fill("#api-input", site["api"])
    page.click("#token-panel button[type=submit]")
    page.wait_for_selector("#alert:not([hidden])")
    assert "401" in page.inner_text("#alert") and "token" in page.inner_text("#alert").lower()
    assert page.is_visible("#token-panel")
    page.fill("#token-input", demo_learner["token"])
    page.click("#token-panel button[type=submit]")
    _shown(page)
    assert page.is_hidden("#alert")
    assert page.errors == []


def test_an_unavailable_service_shows_a_retry_and_recovers(browser, site, demo_learner) -> None:
    page = _open(browser, site, None)
    failures = {"left": 1}

    def outage(route: Any) -> None:
        if failures["left"]:
            failures["left"] -= 1
            route.fulfill(
                status=503,
                headers={"Retry-After": "2", "Access-Control-Allow-Origin": site["page"]},
                content_type="application/json",
                body=json.dumps({"error": {"code": "database_unavailable", "message": "try again"}}),
            )
        else:
            route.continue_()

    page.route("**/progress/statistics*", outage)
    page.fill("#token-input", demo_learner["token"])
    page.fill("#api-input", site["api"])
    page.click("#token-panel button[type=submit]")
    page.wait_for_selector("#alert:not([hidden])")
    assert "503" in page.inner_text("#alert") and page.is_visible("#alert-retry")
    _shown(page)  # retried by itself after Retry-After
    assert page.is_hidden("#alert") and _number(page.inner_text("#total-attempts")) > 0
    assert page.errors == []


def test_live_updates_change_the_figures_or_say_they_are_unavailable(browser, site, demo_learner) -> None:
    page = _open(browser, site, demo_learner["token"])
    _shown(page)
    before = _api(site, demo_learner["token"], "/progress")["total_attempts"]
    status, _, _ = http_request(f"{site['api']}/progress/live-ticket", "POST", token=demo_learner["token"])
    if status == 404:  # the WebSocket API is not part of this build: the page says so and carries on
        page.wait_for_function(
            "() => document.getElementById('live-status').textContent.includes('not available')"
        )
        return
    page.wait_for_selector('#live-status[data-state="on"]', timeout=10_000)
    message = {
        "attempt_uid": "9a3c1a52-4c1e-4c53-9d0c-3f8b8f2b1a01",
        "user_id": demo_learner["user"],
        "exercise_id": 3,
        "is_correct": True,
        "user_answer": "live",
    }
    status, _, body = http_request(
        f"{site['api']}/local/attempts",
        "POST",
        body=json.dumps([message]).encode(),
        headers={"Content-Type": "application/json"},
    )
    assert status == 200, body
    page.wait_for_function(
        f"() => document.getElementById('total-attempts').textContent.replace(/,/g, '') === '{before + 1}'",
        timeout=10_000,
    )
    assert page.errors == []
