"""Every sample event in events/ runs through its handler against the real database."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import text

from progress_admin.local.template import functions, load_template
from tests.events import FakeLambdaContext

ROOT = Path(__file__).resolve().parent.parent
# The export that events/export_worker.json and events/get_export.json name: user 8's (user 7 is the other
# events' learner, whose POST /progress/export must not find it in progress), waiting for the worker.
# scripts/artifact_smoke.py inserts the same row before it runs the sample events.
SAMPLE_EXPORT_SQL = "INSERT INTO exports (id, user_id) VALUES ('5f0c6c1e-7b7e-4d0e-9a51-3c1f0d2b9a07', 8)"
# The broken streak events/repair_streak.json repairs (user 9's), as scripts/artifact_smoke.py inserts it.
SAMPLE_BREAK_SQL = (
    "INSERT INTO attempts (user_id, exercise_id, is_correct, user_answer, created_at)"
    " SELECT 9, 1, true, 'sample', now() - make_interval(days => d.days, secs => d.n)"
    " FROM unnest(ARRAY[5, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]) WITH ORDINALITY AS d(days, n)"
)


def test_there_is_a_sample_event_and_an_env_entry_per_function() -> None:
    template_functions = functions(load_template(ROOT / "template.yaml"))
    env = json.loads((ROOT / "env.json").read_text())
    assert set(env) == set(template_functions)
    for resource in template_functions.values():
        folder = Path(resource["Properties"]["CodeUri"]).name
        assert (ROOT / "events" / f"{folder}.json").is_file(), folder


def test_sample_events_run(load_function, db, aws) -> None:
    def run(name: str, function: str | None = None) -> dict:
        event = json.loads((ROOT / "events" / f"{name}.json").read_text())
        return load_function(function or name).lambda_handler(event, FakeLambdaContext())

    assert run("record_attempts") == {"batchItemFailures": []}
    ticket = run("live_ticket")  # LIVE_WEBSOCKET_URL: see conftest.py
    assert ticket["statusCode"] == 200 and json.loads(ticket["body"])["url"].startswith("wss://abc1234567.")
    assert run("live_connect")["statusCode"] == 401  # its ticket is not one the database issued
    assert run("live_disconnect") == {"statusCode": 200}
    progress = run("get_progress")
    assert progress["statusCode"] == 200 and json.loads(progress["body"])["total_attempts"] == 2
    stats = run("get_statistics")
    assert stats["statusCode"] == 200 and json.loads(stats["body"])["sessions"]["total"] == 1
    explained = run("streak_explain", "get_statistics")  # the second route of GetStatisticsFunction
    assert explained["statusCode"] == 200 and len(json.loads(explained["body"])["days"]) == 25
    assert run("archive_attempts")["moved"] == 0
    swept = run("sweep")  # the local watermark (conftest): the sweep's own instant
    assert swept["watermark"] == swept["now"] and swept["open_incident"] is None
    started = run("request_export")
    assert started["statusCode"] == 202 and len(aws.receive()) == 1
    # the export the worker's and the status's sample events name (as the artifact smoke inserts it)
    with db.connect() as conn:
        conn.execute(text(SAMPLE_EXPORT_SQL))
    assert run("export_worker") == {"batchItemFailures": []}
    export = run("get_export")
    assert export["statusCode"] == 200 and json.loads(export["body"])["status"] == "ready"
    reset = run("reset_progress")
    assert reset["statusCode"] == 200 and json.loads(reset["body"])["deleted"]["attempts"] == 2
    with db.connect() as conn:
        assert (
            conn.execute(text("SELECT timezone FROM user_profiles WHERE user_id = 7")).scalar()
            == "Europe/Berlin"
        )
    # keeping a streak: the settings (user 7), a grant (user 11, who holds none), a repair (user 9's break)
    assert json.loads(run("settings")["body"])["effective_from"] is None
    changed = run("settings_put", "settings")  # the second route of SettingsFunction
    assert changed["statusCode"] == 200 and json.loads(changed["body"])["rest_weekdays"] == ["sat", "sun"]
    granted = run("grant_freezes")
    assert granted["statusCode"] == 200 and json.loads(granted["body"])["added"] == 1
    with db.connect() as conn:
        conn.execute(text(SAMPLE_BREAK_SQL))
    repaired = run("repair_streak")
    assert repaired["statusCode"] == 200, repaired
    assert json.loads(repaired["body"])["current_streak"] == 3
    erased = run("erase_user")
    assert erased["statusCode"] == 200 and json.loads(erased["body"])["deleted"]["profile"] == 1
    with db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM user_profiles WHERE user_id = 7")).scalar() == 0
