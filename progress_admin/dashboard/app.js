// Progress dashboard: a plain script, no build step, no CDN. It calls the HTTP API exactly as a
// deployed frontend does: `Authorization: Bearer <JWT>`, cross-origin when the API base says so.
"use strict";

(function () {
  const HEATMAP_DAYS = 366; // the most GET /progress/statistics serves; the grid shows 53 weeks
  const WEEKS = 53;
  const PAGE = 10;
  const EXERCISES_SHOWN = 10; // more behind "Show all"
  const TOKEN_KEY = "progress.token";
  const API_KEY = "progress.api";

  const $ = (id) => document.getElementById(id);
  const state = {
    token: null,
    api: "",
    progress: null,
    stats: null,
    cursor: null,
    shownIds: new Set(),
    countdownTimer: null,
    retryTimer: null,
    live: null,
    liveRetry: 0,
    liveTimer: null,
    refreshTimer: null,
    heatmapDays: [],
    selectedDay: -1,
    allExercises: false,
    resetting: false,
    settings: null, // GET /progress/settings as last read or written; null: not (yet) available
    repairing: false,
  };
  const WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]; // the API's names, Monday first
  // the signal kinds of the reminders (docs/signals.md), in the API's order, with their names in words
  const SIGNAL_KINDS = [
    ["streak_saver", "streak saver"],
    ["weekly_goal_at_risk", "weekly goal at risk"],
    ["milestone", "milestones"],
    ["freeze_used", "freeze used"],
    ["streak_lost", "streak lost"],
  ];
  const signalKindName = (kind) => (SIGNAL_KINDS.find(([name]) => name === kind) || [kind, kind.replace(/_/g, " ")])[1];

  class ApiError extends Error {
    constructor(kind, status, message, retryAfter, error) {
      super(message);
      this.kind = kind; // "auth" | "unavailable" | "network" | "missing" | "http"
      this.status = status;
      this.retryAfter = retryAfter;
      this.code = (error && error.code) || null; // the API's error body: {"error": {"code", "message", "details"}}
      this.details = (error && Array.isArray(error.details) && error.details) || [];
    }
  }

  // ---- token and API base: the fragment (never sent to a server), else this tab's storage ----
  // A token and the API it is for arrive together (`#token=...&api=...`, or the form) and are kept
  // together: an `api` anywhere else (the query string, a fragment without a token) is ignored, so no
  // link can send a token this tab already holds to another host.
  function readStartup() {
    const fragment = new URLSearchParams(location.hash.replace(/^#/, ""));
    const token = fragment.get("token");
    if (token !== null || fragment.get("api") !== null) {
      // out of the address bar, the history and any bookmark
      history.replaceState(null, "", location.pathname + location.search);
    }
    if (token && token.trim()) {
      sessionStorage.setItem(TOKEN_KEY, token.trim());
      sessionStorage.setItem(API_KEY, normaliseBase(fragment.get("api") || ""));
    }
    state.token = sessionStorage.getItem(TOKEN_KEY);
    state.api = normaliseBase(sessionStorage.getItem(API_KEY) || "");
  }

  function normaliseBase(base) {
    return (base || "").trim().replace(/\/+$/, "");
  }

  async function api(path, options = {}) {
    let response;
    const headers = { Authorization: "Bearer " + state.token, Accept: "application/json" };
    if (options.json !== undefined) headers["Content-Type"] = "application/json";
    try {
      response = await fetch(state.api + path, {
        method: options.method || "GET",
        headers,
        body: options.json === undefined ? undefined : JSON.stringify(options.json),
        mode: "cors",
        credentials: "omit",
        cache: "no-store",
      });
    } catch (err) {
      throw new ApiError("network", 0, "Cannot reach the progress API at " + (state.api || location.origin) + ".");
    }
    let body = null;
    try {
      body = await response.json();
    } catch (err) {
      body = null;
    }
    if (response.ok) return body;
    const error = body && typeof body.error === "object" ? body.error : null;
    const message = (error && error.message) || (body && body.message) || response.statusText;
    if (response.status === 401) throw new ApiError("auth", 401, message);
    if (response.status === 503) {
      const retryAfter = parseInt(response.headers.get("Retry-After") || "5", 10);
      throw new ApiError("unavailable", 503, message, Number.isFinite(retryAfter) ? retryAfter : 5);
    }
    if (response.status === 404 || response.status === 405) throw new ApiError("missing", response.status, message);
    throw new ApiError("http", response.status, message, undefined, error);
  }

  // ---- formatting ----
  const numberFormat = new Intl.NumberFormat(undefined);
  const fmt = (n) => numberFormat.format(n);
  const pct = (x) => (x === null || x === undefined ? "–" : (x * 100).toFixed(1) + "%");
  function plural(n, one, many) {
    return fmt(n) + " " + (n === 1 ? one : many);
  }
  function dateTime(iso, zone) {
    try {
      return new Intl.DateTimeFormat(undefined, {
        dateStyle: "medium", timeStyle: "short", timeZone: zone || undefined,
      }).format(new Date(iso));
    } catch (err) {
      return iso;
    }
  }
  // "Nov 25, 14:05" this year, "Nov 25, 2025" before: short enough for a phone
  function shortDateTime(iso, zone) {
    try {
      const when = new Date(iso);
      const year = (d) => new Intl.DateTimeFormat("en", { year: "numeric", timeZone: zone || undefined }).format(d);
      const thisYear = year(when) === year(new Date());
      const options = thisYear
        ? { month: "short", day: "numeric", hour: "numeric", minute: "2-digit", timeZone: zone || undefined }
        : { year: "numeric", month: "short", day: "numeric", timeZone: zone || undefined };
      return new Intl.DateTimeFormat(undefined, options).format(when);
    } catch (err) {
      return iso;
    }
  }
  function longDate(isoDate) {
    const [y, m, d] = isoDate.split("-").map(Number);
    return new Intl.DateTimeFormat(undefined, { weekday: "short", year: "numeric", month: "short", day: "numeric", timeZone: "UTC" })
      .format(new Date(Date.UTC(y, m - 1, d)));
  }
  // "mon" -> "Mon" / "Monday" in the reader's language (2024-01-01 was a Monday)
  function weekdayName(name, style) {
    const index = WEEKDAYS.indexOf(name);
    if (index < 0) return name;
    return new Intl.DateTimeFormat(undefined, { weekday: style || "short", timeZone: "UTC" })
      .format(new Date(Date.UTC(2024, 0, 1 + index)));
  }
  // "Mon, Nov 30": a day near today, its year understood
  function shortDate(isoDate) {
    const [y, m, d] = isoDate.split("-").map(Number);
    return new Intl.DateTimeFormat(undefined, { weekday: "short", month: "short", day: "numeric", timeZone: "UTC" })
      .format(new Date(Date.UTC(y, m - 1, d)));
  }
  function dateRange(from, to) {
    return from === to ? shortDate(from) : shortDate(from) + " – " + shortDate(to);
  }
  function setText(id, text) {
    const el = $(id);
    if (el.textContent !== String(text)) {
      const had = el.textContent !== "";
      el.textContent = text;
      if (had && state.highlight) {
        el.classList.remove("changed");
        void el.offsetWidth; // restart the animation
        el.classList.add("changed");
      }
    }
  }

  // ---- messages: 401, 503, network, never a blank page ----
  function showAlert(kind, text, retry) {
    const box = $("alert");
    box.dataset.kind = kind;
    $("alert-text").textContent = text;
    $("alert-retry").hidden = !retry;
    box.hidden = false;
  }
  function clearAlert() {
    $("alert").hidden = true;
    clearInterval(state.retryTimer);
    state.retryTimer = null;
  }
  function notice(text) {
    const el = $("notice");
    el.textContent = text;
    el.hidden = !text;
  }

  function handleError(err, context) {
    if (!(err instanceof ApiError)) {
      showAlert("http", "Something went wrong while " + context + ": " + err.message, true);
      return;
    }
    if (err.kind === "auth") {
      stopLive();
      showAlert(
        "auth",
        "Your token was not accepted (401 Unauthorized): it may have expired or belong to another environment. " +
          "Paste a new token below.",
        false,
      );
      showTokenPanel();
      return;
    }
    if (err.kind === "unavailable") {
      let left = err.retryAfter;
      const tick = () => {
        showAlert(
          "unavailable",
          "The progress service is temporarily unavailable (503). Retrying in " + left + " s…",
          true,
        );
        if (left <= 0) {
          clearInterval(state.retryTimer);
          load();
        }
        left -= 1;
      };
      clearInterval(state.retryTimer);
      tick();
      state.retryTimer = setInterval(tick, 1000);
      return;
    }
    if (err.kind === "network") {
      showAlert("network", err.message + " Is the server running? Check the API base URL.", true);
      return;
    }
    showAlert("http", "The API answered " + err.status + " while " + context + ": " + err.message, true);
  }

  function showTokenPanel() {
    $("token-panel").hidden = false;
    $("token-input").value = "";
    $("api-input").value = state.api;
    $("loading").hidden = true;
    $("change-token").hidden = true;
    $("token-input").focus();
  }

  // ---- loading ----
  async function load() {
    clearAlert();
    if (!state.token) {
      showTokenPanel();
      return;
    }
    $("token-panel").hidden = true;
    $("change-token").hidden = false;
    if ($("dashboard").hidden) $("loading").hidden = false;
    try {
      const [progress, stats] = await Promise.all([
        api("/progress?limit=" + PAGE),
        api("/progress/statistics?days=" + HEATMAP_DAYS),
      ]);
      state.highlight = false;
      renderProgress(progress);
      renderStats(stats);
      resetRecent(progress);
      $("loading").hidden = true;
      $("dashboard").hidden = false;
      scrollHeatmapToToday();
      state.highlight = true;
      startLive();
      loadSettings();
    } catch (err) {
      $("loading").hidden = true;
      handleError(err, "loading your progress");
    }
  }

  function renderProgress(p) {
    state.progress = p;
    $("who").hidden = false;
    $("who").textContent = "User " + p.user_id + (p.timezone ? " · " + p.timezone : "");
    setText("current-streak", fmt(p.current_streak));
    $("streak-unit").textContent = p.current_streak === 1 ? "day" : "days";
    setText("longest-streak", fmt(p.longest_streak));
    setText("last-practice", p.last_practice_date ? longDate(p.last_practice_date) : "never");
    setText("total-attempts", fmt(p.total_attempts));
    setText("correct-attempts", fmt(p.correct_attempts));
    setText("accuracy", pct(p.accuracy));
    renderToday(p);
    renderKeeping(p);
  }

  // ---- keeping a streak: freezes, rest days, today's and the week's goal, the repair offer ----
  // Each part is shown when the API sends its fields (an older API leaves them out).
  function renderKeeping(p) {
    const perfect = $("streak-perfect");
    perfect.hidden = typeof p.current_streak_perfect !== "boolean" || !p.current_streak;
    perfect.dataset.perfect = String(Boolean(p.current_streak_perfect));
    perfect.textContent = p.current_streak_perfect
      ? "Perfect run: no freeze or repair needed"
      : "This run was kept with a freeze or a repair";

    // kinds of reminders paused after 3 went unanswered: said in words, with what ends the pause
    const paused = $("reminders-paused");
    const kinds = Array.isArray(p.reminders_paused) ? p.reminders_paused : [];
    paused.hidden = !kinds.length;
    paused.dataset.kinds = kinds.join(" ");
    paused.textContent = kinds.length
      ? "Reminders paused: " + kinds.map(signalKindName).join(", ") + " — practise to resume"
      : "";

    const freezes = $("freezes");
    freezes.hidden = typeof p.freezes_held !== "number" || !p.freezes_max;
    if (!freezes.hidden) {
      const icons = $("freeze-icons");
      icons.textContent = "";
      for (let i = 0; i < p.freezes_max; i += 1) {
        const icon = document.createElement("i");
        if (i < p.freezes_held) icon.className = "held";
        icons.appendChild(icon);
      }
      freezes.dataset.held = String(p.freezes_held);
      setText("freezes-text", fmt(p.freezes_held) + " of " + fmt(p.freezes_max) + " streak freezes held");
      let next;
      if (p.next_freeze_in !== null && p.next_freeze_in !== undefined) {
        next = "Next freeze earned in " + plural(p.next_freeze_in, "practice day", "practice days") + ".";
      } else if (p.freezes_held >= p.freezes_max) {
        next = "You hold the most freezes: each one covers a missed day.";
      } else {
        next = "A freeze covers a missed day.";
      }
      $("next-freeze").textContent = next;
      $("next-freeze").dataset.nextIn = p.next_freeze_in === null || p.next_freeze_in === undefined ? "" : String(p.next_freeze_in);
    }
    if (Array.isArray(p.rest_weekdays)) {
      setText("rest-days", p.rest_weekdays.length ? p.rest_weekdays.map((d) => weekdayName(d)).join(", ") : "none");
    }
    if (typeof p.weekly_streak === "number") {
      setText("weekly-streak", p.week || p.weekly_streak ? plural(p.weekly_streak, "week", "weeks") : "–");
    }
    renderGoal(p.today);
    renderWeek(p);
    renderRepair(p.repair);
  }

  const RING = 2 * Math.PI * 42; // the ring's circumference (r = 42 in its 100 x 100 box)

  function renderGoal(today) {
    const ring = $("goal-ring");
    const goal = today && today.goal;
    $("goals").hidden = !goal; // an API without the goals' fields
    if (!goal) return;
    const unit = goal.unit === "correct" ? ["correct answer", "correct answers"] : ["attempt", "attempts"];
    const shown = Math.min(goal.done, goal.target);
    ring.setAttribute("aria-valuemax", String(goal.target));
    ring.setAttribute("aria-valuenow", String(shown));
    ring.setAttribute("aria-valuetext", fmt(goal.done) + " of " + plural(goal.target, unit[0], unit[1]));
    ring.dataset.met = String(goal.met);
    ring.dataset.done = String(goal.done);
    ring.dataset.target = String(goal.target);
    const fill = $("goal-ring-fill");
    fill.setAttribute("stroke-dasharray", RING.toFixed(2));
    fill.setAttribute("stroke-dashoffset", (RING * (1 - shown / goal.target)).toFixed(2));
    setText("goal-done", fmt(goal.done));
    $("goal-of").textContent = "of " + fmt(goal.target);
    $("goal-text").textContent = plural(goal.target, unit[0], unit[1]) + " a day";
    const status = $("goal-status");
    status.dataset.met = String(goal.met);
    if (goal.met) {
      status.textContent = "✓ Goal met" + (goal.met_at ? " at " + timeOfDay(goal.met_at) : "");
    } else {
      status.textContent = plural(goal.target - goal.done, unit[0], unit[1]) + " to go today";
    }
  }

  function timeOfDay(iso) {
    const zone = state.progress && state.progress.timezone;
    try {
      return new Intl.DateTimeFormat(undefined, { hour: "numeric", minute: "2-digit", timeZone: zone || undefined })
        .format(new Date(iso));
    } catch (err) {
      return iso;
    }
  }

  function renderWeek(p) {
    const week = p.week;
    $("week").hidden = !week;
    $("week-none").hidden = Boolean(week) || !("week" in p);
    if (!week) return;
    const bar = $("week-days");
    bar.textContent = "";
    for (let i = 0; i < week.target_days; i += 1) {
      const day = document.createElement("i");
      if (i < week.practised_days) day.className = "done";
      bar.appendChild(day);
    }
    bar.setAttribute("aria-valuemax", String(week.target_days));
    bar.setAttribute("aria-valuenow", String(Math.min(week.practised_days, week.target_days)));
    bar.setAttribute("aria-valuetext", week.practised_days + " of " + plural(week.target_days, "day", "days"));
    $("week").dataset.state = week.met ? "met" : week.at_risk ? "at-risk" : "on-track";
    $("week-text").textContent =
      fmt(week.practised_days) + " of " + plural(week.target_days, "practice day", "practice days") + " (" +
      dateRange(week.start, week.end) + ")";
    const status = $("week-status");
    status.dataset.state = $("week").dataset.state;
    if (week.met) {
      status.textContent = "✓ This week's goal is met";
    } else if (week.at_risk) {
      status.textContent =
        "⚠ At risk: " + plural(week.required_left, "more day", "more days") + " needed, " +
        plural(week.days_left, "day", "days") + " left";
    } else {
      status.textContent =
        plural(week.required_left, "more day", "more days") + " needed, " + plural(week.days_left, "day", "days") + " left";
    }
  }

  function renderRepair(repair) {
    const card = $("repair");
    card.hidden = !repair;
    $("repair-error").hidden = true;
    if (!repair) return;
    card.dataset.available = String(repair.available);
    const missed = dateRange(repair.gap_from, repair.gap_to);
    const left = Math.max(0, repair.attempts_required - repair.attempts_done);
    $("repair-text").textContent = repair.available
      ? "Your streak broke on " + missed + ". You did the work: repair it to join your runs again."
      : "Your streak broke on " + missed + ". Do " + plural(left, "more attempt", "more attempts") +
        " to earn a repair that joins your runs again.";
    const shown = Math.min(repair.attempts_done, repair.attempts_required);
    $("repair-fill").style.width = ((100 * shown) / Math.max(1, repair.attempts_required)).toFixed(1) + "%";
    $("repair-count").textContent =
      fmt(repair.attempts_done) + " of " + plural(repair.attempts_required, "attempt", "attempts") + " since " + shortDate(repair.gap_from);
    const zone = state.progress && state.progress.timezone;
    $("repair-deadline").textContent = "Possible until " + dateTime(repair.deadline, zone) + ".";
    $("repair-button").hidden = !repair.available;
    $("repair-button").disabled = state.repairing;
  }

  async function repairStreak() {
    const button = $("repair-button");
    const error = $("repair-error");
    error.hidden = true;
    state.repairing = true;
    button.disabled = true;
    button.textContent = "Repairing…";
    try {
      const result = await api("/progress/streak/repair", { method: "POST" });
      notice(
        "Streak repaired: " + dateRange(result.gap_from, result.gap_to) + " now keep" +
          (result.gap_from === result.gap_to ? "s" : "") + " your streak, " + plural(result.current_streak, "day", "days") + " long.",
      );
      await refreshNow();
    } catch (err) {
      if (err instanceof ApiError && err.status === 409) {
        // repair_unavailable: the offer changed (another window repaired, the window passed); show the
        // figures now and say why, in the offer while it is still shown, else above the dashboard
        const why = "The repair was not possible: " + err.message.replace(/\.$/, "") + ".";
        try {
          await refreshNow();
        } catch (refreshErr) {
          // the message below still says what happened
        }
        if ($("repair").hidden) {
          notice(why);
        } else {
          error.textContent = why;
          error.hidden = false;
        }
      } else {
        handleError(err, "repairing your streak");
      }
    } finally {
      state.repairing = false;
      button.disabled = false;
      button.textContent = "Repair my streak";
    }
  }

  // practiced_today and streak_expires_at: shown when the API sends them
  function renderToday(p) {
    const status = $("today-status");
    if (typeof p.practiced_today === "boolean") {
      status.hidden = false;
      status.dataset.done = String(p.practiced_today);
      status.textContent = p.practiced_today ? "✓ Today is done" : "Not practised yet today";
    } else {
      status.hidden = true;
    }
    clearInterval(state.countdownTimer);
    const countdown = $("countdown");
    if (!p.streak_expires_at || !p.current_streak) {
      countdown.hidden = !(p.current_streak === 0 && "streak_expires_at" in p);
      countdown.textContent = "Practise today to start a streak.";
      return;
    }
    const ends = new Date(p.streak_expires_at);
    const tick = () => {
      const left = Math.max(0, Math.floor((ends.getTime() - Date.now()) / 1000));
      const d = Math.floor(left / 86400);
      const h = String(Math.floor((left % 86400) / 3600)).padStart(2, "0");
      const m = String(Math.floor((left % 3600) / 60)).padStart(2, "0");
      const s = String(left % 60).padStart(2, "0");
      countdown.textContent =
        "Streak ends in " + (d ? d + (d === 1 ? " day " : " days ") : "") + h + ":" + m + ":" + s +
        (p.practiced_today ? "" : " unless you practise");
      countdown.setAttribute("aria-label", "Streak ends " + dateTime(p.streak_expires_at, p.timezone));
      if (left === 0) {
        clearInterval(state.countdownTimer);
        scheduleRefresh(1000);
      }
    };
    countdown.hidden = false;
    tick();
    state.countdownTimer = setInterval(tick, 1000);
  }

  function renderStats(s) {
    state.stats = s;
    setText("practice-days", fmt(s.practice_days));
    setText("sessions-total", fmt(s.sessions.total));
    setText(
      "sessions-average",
      s.sessions.average_exercises === null ? "–" : s.sessions.average_exercises.toFixed(1) + " attempts",
    );
    renderHeatmap(s.daily);
    renderExercises(s.by_exercise);
  }

  // ---- heatmap: 53 weeks x 7 days (Monday first), the last column holds today ----
  function addDays(isoDate, n) {
    const [y, m, d] = isoDate.split("-").map(Number);
    return new Date(Date.UTC(y, m - 1, d + n)).toISOString().slice(0, 10);
  }
  function weekday(isoDate) {
    const [y, m, d] = isoDate.split("-").map(Number);
    return (new Date(Date.UTC(y, m - 1, d)).getUTCDay() + 6) % 7; // Monday 0 .. Sunday 6
  }

  function renderHeatmap(daily) {
    const grid = $("heatmap");
    const months = $("heatmap-months");
    grid.textContent = "";
    months.textContent = "";
    state.heatmapDays = [];
    if (!daily.length) return;
    const byDate = new Map(daily.map((d) => [d.date, d]));
    const today = daily[daily.length - 1].date; // the API's today, in the learner's timezone
    const start = addDays(today, -weekday(today) - 7 * (WEEKS - 1));
    const max = Math.max(1, ...daily.map((d) => d.attempts));
    let practised = 0;
    let covered = 0;
    const kinds = { rest: 0, frozen: 0, repaired: 0 };
    const fragment = document.createDocumentFragment();
    for (let i = 0; i < WEEKS * 7; i += 1) {
      const date = addDays(start, i);
      const cell = document.createElement("i");
      const day = byDate.get(date);
      if (i % 7 === 0) {
        // a column is labelled with the month whose 1st day it holds
        const label = document.createElement("span");
        const sunday = addDays(date, 6);
        if (sunday.slice(8) <= "07" && i / 7 < WEEKS - 1) {
          label.textContent = new Intl.DateTimeFormat(undefined, { month: "short", timeZone: "UTC" })
            .format(new Date(sunday + "T00:00:00Z"));
        }
        months.appendChild(label);
      }
      if (!day) {
        cell.className = "none"; // before the series starts, or after today
        fragment.appendChild(cell);
        continue;
      }
      const level = day.attempts === 0 ? 0 : Math.min(4, Math.ceil((4 * day.attempts) / max));
      cell.className = "l" + level;
      cell.dataset.date = date;
      cell.dataset.attempts = String(day.attempts);
      if (day.attempts > 0) practised += 1;
      if (day.covered) {
        cell.classList.add("covered");
        cell.dataset.covered = "true";
        covered += 1;
      }
      // rest, frozen and repaired days each have a pattern (see the legend); covered ones their ring
      const kind = dayKind(day);
      cell.dataset.kind = kind || "none";
      if (kind in kinds) {
        cell.classList.add("k-" + kind);
        kinds[kind] += 1;
      }
      if (day.goal_met) cell.dataset.goalMet = "true";
      if (date === today) {
        cell.classList.add("today");
        cell.setAttribute("aria-current", "date");
      }
      cell.title = describeDay(day);
      cell.dataset.index = String(state.heatmapDays.length);
      state.heatmapDays.push(day);
      fragment.appendChild(cell);
    }
    grid.appendChild(fragment);
    const summary =
      "Practised on " + plural(practised, "day", "days") + " of the last " + fmt(daily.length) +
      (covered ? ", " + plural(covered, "covered day", "covered days") : "") +
      (kinds.rest ? ", " + plural(kinds.rest, "rest day", "rest days") : "") +
      (kinds.frozen ? ", " + plural(kinds.frozen, "frozen day", "frozen days") : "") +
      (kinds.repaired ? ", " + plural(kinds.repaired, "repaired day", "repaired days") : "") + ".";
    $("heatmap-summary").textContent = summary;
    grid.setAttribute("aria-label", "Calendar of attempts per day. " + summary);
    scrollHeatmapToToday();
    if (state.selectedDay >= state.heatmapDays.length) state.selectedDay = -1;
  }

  // on a narrow screen the newest weeks are the ones in view
  function scrollHeatmapToToday() {
    const scroller = $("heatmap-scroll");
    scroller.scrollLeft = scroller.scrollWidth;
  }

  // the day's kind as the API says (practice > covered > rest > frozen > repaired), or from the counts
  function dayKind(day) {
    if ("kind" in day) return day.kind;
    return day.attempts > 0 ? "practice" : day.covered ? "covered" : null;
  }

  const KIND_TEXT = {
    rest: "rest day",
    frozen: "frozen: a streak freeze kept the streak",
    repaired: "repaired",
  };

  function describeDay(day) {
    const parts = [longDate(day.date) + ": " + plural(day.attempts, "attempt", "attempts")];
    if (day.attempts) parts.push(fmt(day.correct) + " correct");
    if (day.covered) parts.push("covered day");
    const kind = dayKind(day);
    if (kind in KIND_TEXT) parts.push(KIND_TEXT[kind]);
    if (day.goal_met) parts.push("daily goal met");
    return parts.join(", ");
  }

  function selectDay(index, scroll) {
    const days = state.heatmapDays;
    if (!days.length) return;
    index = Math.max(0, Math.min(days.length - 1, index));
    const grid = $("heatmap");
    const old = grid.querySelector("i.selected");
    if (old) old.classList.remove("selected");
    const cell = grid.querySelector('i[data-index="' + index + '"]');
    if (cell) {
      cell.classList.add("selected");
      if (scroll) cell.scrollIntoView({ block: "nearest", inline: "nearest" });
    }
    state.selectedDay = index;
    $("heatmap-day").textContent = describeDay(days[index]);
  }

  function heatmapKeys(event) {
    const moves = { ArrowLeft: -7, ArrowRight: 7, ArrowUp: -1, ArrowDown: 1, Home: -Infinity, End: Infinity };
    if (!(event.key in moves)) return;
    event.preventDefault();
    const current = state.selectedDay < 0 ? state.heatmapDays.length - 1 : state.selectedDay;
    const move = moves[event.key];
    selectDay(move === -Infinity ? 0 : move === Infinity ? state.heatmapDays.length - 1 : current + move, true);
  }

  function renderExercises(rows) {
    const body = $("exercises").tBodies[0];
    body.textContent = "";
    $("exercises-empty").hidden = rows.length > 0;
    $("exercises").hidden = rows.length === 0;
    const more = $("exercises-all");
    more.hidden = rows.length <= EXERCISES_SHOWN;
    more.textContent = state.allExercises ? "Show the top " + EXERCISES_SHOWN : "Show all " + fmt(rows.length) + " exercises";
    more.setAttribute("aria-expanded", String(state.allExercises));
    for (const row of state.allExercises ? rows : rows.slice(0, EXERCISES_SHOWN)) {
      const tr = document.createElement("tr");
      tr.dataset.exerciseId = String(row.exercise_id);
      const name = document.createElement("td");
      name.className = "exercise";
      name.textContent = "Exercise " + row.exercise_id;
      const attempts = document.createElement("td");
      attempts.className = "num";
      attempts.textContent = fmt(row.attempts);
      const accuracy = document.createElement("td");
      const bar = document.createElement("div");
      bar.className = "bar";
      const track = document.createElement("span");
      track.className = "track";
      track.setAttribute("aria-hidden", "true");
      const fill = document.createElement("span");
      fill.className = "fill";
      fill.style.width = ((row.accuracy || 0) * 100).toFixed(1) + "%";
      track.appendChild(fill);
      const value = document.createElement("span");
      value.className = "pct";
      value.textContent = pct(row.accuracy);
      bar.append(track, value);
      accuracy.appendChild(bar);
      tr.append(name, attempts, accuracy);
      body.appendChild(tr);
    }
  }

  // ---- recent attempts with "load more" (next_cursor) ----
  function resetRecent(progress) {
    $("recent").tBodies[0].textContent = "";
    state.shownIds = new Set();
    appendRecent(progress.recent_attempts, "end");
    setCursor(progress.next_cursor);
  }

  function setCursor(cursor) {
    state.cursor = cursor;
    $("load-more").hidden = !cursor;
  }

  function appendRecent(items, where) {
    const body = $("recent").tBodies[0];
    const zone = state.progress && state.progress.timezone;
    const rows = [];
    for (const a of items) {
      if (state.shownIds.has(a.id)) continue;
      state.shownIds.add(a.id);
      const tr = document.createElement("tr");
      tr.dataset.attemptId = String(a.id);
      const when = document.createElement("td");
      when.className = "when";
      const time = document.createElement("time");
      time.dateTime = a.created_at;
      time.textContent = shortDateTime(a.created_at, zone);
      time.title = dateTime(a.created_at, zone);
      when.appendChild(time);
      const exercise = document.createElement("td");
      exercise.textContent = String(a.exercise_id);
      const answer = document.createElement("td");
      const answerText = document.createElement("span");
      answerText.className = "answer";
      answerText.textContent = a.user_answer;
      answerText.title = a.user_answer;
      answer.appendChild(answerText);
      const result = document.createElement("td");
      result.className = a.is_correct ? "result-ok" : "result-bad";
      const mark = document.createElement("span");
      mark.setAttribute("aria-hidden", "true");
      mark.textContent = a.is_correct ? "✓ " : "✗ ";
      const word = document.createElement("span");
      word.className = "result-word";
      word.textContent = a.is_correct ? "correct" : "wrong";
      result.append(mark, word);
      tr.append(when, exercise, answer, result);
      rows.push(tr);
    }
    if (where === "start") body.prepend(...rows);
    else body.append(...rows);
    const empty = body.rows.length === 0;
    $("recent-empty").hidden = !empty;
    $("recent").hidden = empty;
  }

  async function loadMore() {
    const button = $("load-more");
    if (!state.cursor) return;
    button.disabled = true;
    button.textContent = "Loading…";
    try {
      const page = await api("/progress?limit=" + PAGE + "&cursor=" + encodeURIComponent(state.cursor));
      appendRecent(page.recent_attempts, "end");
      setCursor(page.next_cursor);
    } catch (err) {
      handleError(err, "loading more attempts");
    } finally {
      button.disabled = false;
      button.textContent = "Load more";
    }
  }

  // ---- reset, behind a confirmation that names what goes ----
  function openReset() {
    const p = state.progress;
    const s = state.stats;
    if (!p || !s) return;
    const what = $("reset-what");
    what.textContent = "";
    const intro = document.createElement("p");
    intro.textContent = "This permanently deletes everything the service keeps for user " + p.user_id + ":";
    const list = document.createElement("ul");
    for (const text of [
      "all " + plural(p.total_attempts, "attempt", "attempts") + ", archived ones included",
      plural(s.sessions.total, "practice session", "practice sessions"),
      "your streaks (current " + plural(p.current_streak, "day", "days") + ", longest " +
        plural(p.longest_streak, "day", "days") + ")",
      "your daily and per-exercise statistics, covered days included",
      "your streak freezes and repairs",
    ]) {
      const li = document.createElement("li");
      li.textContent = text;
      list.appendChild(li);
    }
    const kept = document.createElement("p");
    kept.textContent = "Your settings (goals, rest days, day start, reminders) are kept.";
    what.append(intro, list, kept);
    $("reset-dialog").returnValue = "";
    $("reset-dialog").showModal();
  }

  async function resetConfirmed() {
    const button = $("reset-open");
    button.disabled = true;
    state.resetting = true; // our own reset also closes this page's live connection: no second notice
    try {
      const result = await api("/progress/reset", { method: "POST" });
      const d = result.deleted;
      notice(
        "Deleted " + plural(d.attempts, "attempt", "attempts") + ", " + plural(d.archived_attempts, "archived attempt", "archived attempts") +
          " and " + plural(d.sessions, "session", "sessions") + ". Your progress starts over.",
      );
      await load();
    } catch (err) {
      handleError(err, "resetting your progress");
    } finally {
      button.disabled = false;
      state.resetting = false;
    }
  }

  // ---- live updates: POST /progress/live-ticket, then the WebSocket at `url` ----
  function liveStatus(stateName, text) {
    const el = $("live-status");
    el.dataset.state = stateName;
    el.textContent = text;
  }

  function stopLive() {
    clearTimeout(state.liveTimer);
    if (state.live) {
      state.live.onclose = null;
      state.live.close();
      state.live = null;
    }
  }

  async function startLive() {
    if (state.live || state.liveTimer || typeof WebSocket === "undefined") return;
    let ticket;
    try {
      ticket = await api("/progress/live-ticket", { method: "POST" });
    } catch (err) {
      if (err instanceof ApiError && err.kind === "missing") {
        liveStatus("off", "Live updates: not available on this server");
        return;
      }
      if (err instanceof ApiError && err.kind === "auth") return handleError(err, "starting live updates");
      return retryLive();
    }
    let socket;
    try {
      socket = new WebSocket(ticket.url);
    } catch (err) {
      return retryLive();
    }
    state.live = socket;
    liveStatus("connecting", "Live updates: connecting…");
    socket.onopen = () => {
      state.liveRetry = 0;
      liveStatus("on", "Live");
    };
    socket.onmessage = (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch (err) {
        return;
      }
      if (message && message.type === "progress" && message.progress) {
        renderProgress({ ...state.progress, ...message.progress });
        scheduleRefresh(300);
      } else if (message && message.type === "reset") {
        // a reset (in another tab or window) deleted everything: show it, and the zeros; the server
        // closes this connection next, and a new ticket opens the next one
        if (!state.resetting) notice("Your progress was reset in another window: it starts over.");
        scheduleRefresh(0);
      }
    };
    socket.onclose = () => {
      state.live = null;
      retryLive();
    };
  }

  function retryLive() {
    state.liveRetry = Math.min(state.liveRetry + 1, 5);
    const delay = 1000 * 2 ** state.liveRetry;
    liveStatus("off", "Live updates: reconnecting…");
    state.liveTimer = setTimeout(() => {
      state.liveTimer = null;
      startLive();
    }, delay);
  }

  // both GETs again, keeping the pages of attempts already shown
  async function refreshNow() {
    const [progress, stats] = await Promise.all([
      api("/progress?limit=" + PAGE),
      api("/progress/statistics?days=" + HEATMAP_DAYS),
    ]);
    renderProgress(progress);
    renderStats(stats);
    appendRecent(progress.recent_attempts, "start");
    if (state.shownIds.size <= PAGE) setCursor(progress.next_cursor);
  }

  // after a live message: the statistics and the newest attempts
  function scheduleRefresh(delay) {
    clearTimeout(state.refreshTimer);
    state.refreshTimer = setTimeout(async () => {
      try {
        await refreshNow();
      } catch (err) {
        handleError(err, "refreshing your progress");
      }
    }, delay);
  }

  // ---- settings: GET /progress/settings fills the form, PUT sends what changed ----
  // The API is the one judge of a value (the form has `novalidate`): its 422 details name the field
  // (`loc`: ["body", "daily_goal", "target"]) and the message is shown next to that field.
  function buildSettingsForm() {
    const weekly = $("weekly-days");
    for (let n = 1; n <= 7; n += 1) {
      const option = document.createElement("option");
      option.value = String(n);
      option.textContent = plural(n, "day", "days") + " a week";
      weekly.appendChild(option);
    }
    const clock = new Intl.DateTimeFormat(undefined, { hour: "numeric", minute: "2-digit", timeZone: "UTC" });
    $("day-start-help").textContent =
      "From " + clock.format(new Date(Date.UTC(2024, 0, 1, 0))) + " to " + clock.format(new Date(Date.UTC(2024, 0, 1, 6))) +
      ": practice before it counts for the day before.";
    const start = $("week-start");
    const boxes = $("rest-day-boxes");
    for (const name of WEEKDAYS) {
      const option = document.createElement("option");
      option.value = name;
      option.textContent = weekdayName(name, "long");
      start.appendChild(option);
      const label = document.createElement("label");
      const box = document.createElement("input");
      box.type = "checkbox";
      box.name = "rest_weekdays";
      box.value = name;
      const text = document.createElement("span");
      text.textContent = weekdayName(name, "short");
      label.append(box, text);
      label.title = weekdayName(name, "long");
      box.setAttribute("aria-label", weekdayName(name, "long"));
      boxes.appendChild(label);
    }
    const kinds = $("reminder-kind-boxes");
    for (const [kind, words] of SIGNAL_KINDS) {
      const label = document.createElement("label");
      const box = document.createElement("input");
      box.type = "checkbox";
      box.name = "reminders.kinds." + kind;
      box.value = kind;
      const text = document.createElement("span");
      text.textContent = words.charAt(0).toUpperCase() + words.slice(1);
      label.append(box, text);
      kinds.appendChild(label);
    }
    $("quiet-on").addEventListener("change", quietTimesEnabled);
  }

  // the quiet hours' times count only when quiet hours are on
  function quietTimesEnabled() {
    const on = $("quiet-on").checked;
    $("quiet-from").disabled = !on;
    $("quiet-to").disabled = !on;
  }

  async function loadSettings() {
    try {
      const settings = await api("/progress/settings");
      fillSettings(settings);
      $("settings-unavailable").hidden = true;
      $("settings-form").hidden = false;
    } catch (err) {
      $("settings-form").hidden = true;
      $("settings-unavailable").hidden = false;
      $("settings-unavailable").textContent =
        err instanceof ApiError && err.kind === "missing"
          ? "Settings are not available on this server."
          : "Your settings could not be loaded: " + err.message;
    } finally {
      $("settings-loading").hidden = true;
    }
  }

  function minutesToTime(minutes) {
    return String(Math.floor(minutes / 60)).padStart(2, "0") + ":" + String(minutes % 60).padStart(2, "0");
  }

  function fillSettings(settings) {
    state.settings = settings;
    $("goal-unit").value = settings.daily_goal.unit;
    $("goal-target").value = String(settings.daily_goal.target);
    $("weekly-days").value = settings.weekly_goal_days === null ? "" : String(settings.weekly_goal_days);
    $("week-start").value = settings.week_start;
    for (const box of $("rest-day-boxes").querySelectorAll("input")) {
      box.checked = settings.rest_weekdays.includes(box.value);
    }
    $("day-start").value = minutesToTime(settings.day_start_minutes);
    // reminders: shown when the API has them (an older one leaves them out)
    const reminders = settings.reminders;
    $("reminders-field").hidden = !reminders;
    if (!reminders) return;
    for (const box of $("reminder-kind-boxes").querySelectorAll("input")) {
      box.checked = reminders.kinds[box.value] !== false;
    }
    $("reminder-time").value = reminders.reminder_time;
    $("quiet-on").checked = Boolean(reminders.quiet_hours);
    $("quiet-from").value = reminders.quiet_hours ? reminders.quiet_hours.from : "";
    $("quiet-to").value = reminders.quiet_hours ? reminders.quiet_hours.to : "";
    quietTimesEnabled();
  }

  // a number field as the API should judge it: a number when it is one, else what was typed
  function numberField(input) {
    const raw = input.value.trim();
    if (raw === "") return null;
    return /^-?\d+(\.\d+)?$/.test(raw) ? Number(raw) : raw;
  }

  // the fields that differ from the settings read: PUT takes any subset, the others keep their value
  function settingsChanges() {
    const before = state.settings;
    const changes = {};
    const target = numberField($("goal-target"));
    const unit = $("goal-unit").value;
    if (target !== before.daily_goal.target || unit !== before.daily_goal.unit) {
      changes.daily_goal = { unit, target };
    }
    const weekly = $("weekly-days").value === "" ? null : Number($("weekly-days").value);
    if (weekly !== before.weekly_goal_days) changes.weekly_goal_days = weekly;
    if ($("week-start").value !== before.week_start) changes.week_start = $("week-start").value;
    const rest = [...$("rest-day-boxes").querySelectorAll("input:checked")].map((box) => box.value);
    if (rest.join() !== before.rest_weekdays.join()) changes.rest_weekdays = rest;
    const time = $("day-start").value; // "HH:MM", or "" when cleared
    const minutes = /^\d\d:\d\d/.test(time) ? Number(time.slice(0, 2)) * 60 + Number(time.slice(3, 5)) : null;
    if (minutes !== before.day_start_minutes) changes.day_start_minutes = minutes;
    const reminders = remindersChanges(before.reminders);
    if (reminders) changes.reminders = reminders;
    return changes;
  }

  // the reminders that differ from those read (kinds by name); null: none. Times go as typed ("" when
  // cleared): the API says what is wrong with them
  function remindersChanges(before) {
    if (!before) return null;
    const changes = {};
    const kinds = {};
    for (const box of $("reminder-kind-boxes").querySelectorAll("input")) {
      if (box.checked !== (before.kinds[box.value] !== false)) kinds[box.value] = box.checked;
    }
    if (Object.keys(kinds).length) changes.kinds = kinds;
    const time = $("reminder-time").value;
    if (time !== before.reminder_time) changes.reminder_time = time;
    if (!$("quiet-on").checked) {
      if (before.quiet_hours) changes.quiet_hours = null;
    } else {
      const quiet = { from: $("quiet-from").value, to: $("quiet-to").value };
      if (!before.quiet_hours || quiet.from !== before.quiet_hours.from || quiet.to !== before.quiet_hours.to) {
        changes.quiet_hours = quiet;
      }
    }
    return Object.keys(changes).length ? changes : null;
  }

  function clearSettingsErrors() {
    const form = $("settings-form");
    for (const el of form.querySelectorAll(".field-error")) {
      el.hidden = true;
      el.textContent = "";
    }
    for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  }

  // where a 422 detail's message goes: the error element of the most specific field its `loc` names
  function errorElementFor(loc) {
    const path = (loc || []).filter((part) => typeof part === "string" && part !== "body");
    for (let n = path.length; n > 0; n -= 1) {
      const key = path.slice(0, n).join(".");
      const el = [...$("settings-form").querySelectorAll("[data-error-for]")].find((e) =>
        e.dataset.errorFor.split(" ").includes(key),
      );
      if (el) return el;
    }
    return $("settings-error");
  }

  function showSettingsErrors(err) {
    const details = err.details.length ? err.details : [{ loc: [], message: err.message }];
    for (const detail of details) {
      const el = errorElementFor(detail.loc);
      el.textContent = el.textContent ? el.textContent + " " + detail.message : detail.message;
      el.hidden = false;
      // the control (or the group of boxes: data-control) the message belongs to
      const control = el.dataset.control ? $(el.dataset.control) : el.parentElement.querySelector("input, select");
      if (control && el.id !== "settings-error") control.setAttribute("aria-invalid", "true");
    }
    // the first field to fix, in the form's order
    const first = $("settings-form").querySelector('[aria-invalid="true"]');
    if (first) (first.matches("input, select") ? first : first.querySelector("input:not(:disabled)")).focus();
  }

  async function saveSettings(event) {
    event.preventDefault();
    if (!state.settings) return;
    clearSettingsErrors();
    const status = $("settings-status");
    const changes = settingsChanges();
    if (!Object.keys(changes).length) {
      status.textContent = "Nothing changed.";
      return;
    }
    const button = $("settings-save");
    button.disabled = true;
    status.textContent = "Saving…";
    try {
      const saved = await api("/progress/settings", { method: "PUT", json: changes });
      fillSettings(saved);
      // reminders apply at once; the other settings from the learner's next day
      const others = Object.keys(changes).some((name) => name !== "reminders");
      status.textContent =
        (others && saved.effective_from
          ? "Saved. Your new settings apply from " + longDate(saved.effective_from) + "."
          : "Saved.") + (changes.reminders ? " Your reminders apply at once." : "");
      scheduleRefresh(0);
    } catch (err) {
      status.textContent = "";
      if (err instanceof ApiError && err.status === 422) {
        showSettingsErrors(err);
      } else if (err instanceof ApiError && err.kind === "http") {
        $("settings-error").textContent = "Your settings were not saved: " + err.message;
        $("settings-error").hidden = false;
      } else {
        handleError(err, "saving your settings");
      }
    } finally {
      button.disabled = false;
    }
  }

  // ---- wiring ----
  function init() {
    readStartup();
    // a second `#token=` link opened in this tab: take it, as at start-up, and show its learner
    window.addEventListener("hashchange", () => {
      const fragment = new URLSearchParams(location.hash.replace(/^#/, ""));
      if (!fragment.get("token") && fragment.get("api") === null) return;
      const before = state.token + " " + state.api;
      readStartup();
      if (state.token + " " + state.api === before) return;
      stopLive();
      notice("");
      load();
    });
    $("token-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const token = $("token-input").value.trim().replace(/^Bearer\s+/i, "");
      if (!token) return;
      sessionStorage.setItem(TOKEN_KEY, token);
      sessionStorage.setItem(API_KEY, normaliseBase($("api-input").value));
      state.token = token;
      state.api = normaliseBase($("api-input").value);
      notice("");
      stopLive();
      load();
    });
    $("change-token").addEventListener("click", () => {
      stopLive();
      sessionStorage.removeItem(TOKEN_KEY);
      state.token = null;
      $("dashboard").hidden = true;
      liveStatus("off", "Live updates: off");
      showTokenPanel();
    });
    $("alert-retry").addEventListener("click", () => load());
    $("load-more").addEventListener("click", loadMore);
    $("exercises-all").addEventListener("click", () => {
      state.allExercises = !state.allExercises;
      if (state.stats) renderExercises(state.stats.by_exercise);
    });
    $("reset-open").addEventListener("click", openReset);
    $("repair-button").addEventListener("click", repairStreak);
    buildSettingsForm();
    $("settings-form").addEventListener("submit", saveSettings);
    $("reset-dialog").addEventListener("close", () => {
      if ($("reset-dialog").returnValue === "confirm") resetConfirmed();
      $("reset-open").focus();
    });
    const grid = $("heatmap");
    $("heatmap-scroll").addEventListener("keydown", heatmapKeys);
    grid.addEventListener("mouseover", (event) => {
      const index = event.target && event.target.dataset && event.target.dataset.index;
      if (index !== undefined) selectDay(Number(index), false);
    });
    load();
  }

  // a bug in this page still leaves a message, never a blank page
  window.addEventListener("error", (event) => {
    showAlert("http", "Something went wrong in this page (" + event.message + "). Reload to try again.", true);
  });
  window.addEventListener("unhandledrejection", (event) => {
    const reason = event.reason && event.reason.message ? event.reason.message : String(event.reason);
    showAlert("http", "Something went wrong in this page (" + reason + "). Reload to try again.", true);
  });

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
