"""docs/openapi.json is what the code generates (CI also runs `progress-admin openapi --check`)."""

from __future__ import annotations

import json
from pathlib import Path

from progress_admin import openapi

ROOT = Path(__file__).resolve().parent.parent


def test_committed_document_matches_the_code() -> None:
    assert openapi.check(ROOT / "docs/openapi.json"), "run `./dev admin openapi` and commit docs/openapi.json"


def test_document_describes_every_route_of_the_template_its_errors_and_the_jwt() -> None:
    from progress_admin.local.template import http_routes, load_template

    document = json.loads((ROOT / "docs/openapi.json").read_text())
    routes = {(r.path, r.method.lower()) for r in http_routes(load_template(ROOT / "template.yaml"))}
    assert len(routes) == 12
    assert {(path, method) for path, item in document["paths"].items() for method in item} == routes
    assert document["security"] == [{"jwt": []}]
    for path, method in routes:
        responses = document["paths"][path][method]["responses"]
        assert {"401", "422", "503"} <= set(responses)
        assert len({"200", "202"} & set(responses)) == 1, (path, method)
        assert responses["401"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/ErrorBody"
        }
    limit = next(p for p in document["paths"]["/progress"]["get"]["parameters"] if p["name"] == "limit")
    assert (limit["schema"]["minimum"], limit["schema"]["maximum"], limit["schema"]["default"]) == (
        1,
        100,
        20,
    )


def test_a_drifted_document_is_detected(tmp_path) -> None:
    drifted = tmp_path / "openapi.json"
    drifted.write_text((ROOT / "docs/openapi.json").read_text().replace('"Progress service"', '"Old"'))
    assert not openapi.check(drifted)
    assert not openapi.check(tmp_path / "missing.json")


def test_the_ticket_route_returns_ticket_expiry_and_url() -> None:
    document = json.loads((ROOT / "docs/openapi.json").read_text())
    schema = document["paths"]["/progress/live-ticket"]["post"]["responses"]["200"]["content"][
        "application/json"
    ]
    ref = schema["schema"]["$ref"].rsplit("/", 1)[1]
    assert set(document["components"]["schemas"][ref]["required"]) == {"ticket", "expires_at", "url"}


def test_the_export_routes_say_their_statuses() -> None:
    document = json.loads((ROOT / "docs/openapi.json").read_text())
    paths = document["paths"]
    assert {"202", "409"} <= set(paths["/progress/export"]["post"]["responses"])
    assert "404" in paths["/progress/export/{export_id}"]["get"]["responses"]
    assert "403" in paths["/progress/users/{user_id}"]["delete"]["responses"]
    (parameter,) = paths["/progress/export/{export_id}"]["get"]["parameters"]
    assert (parameter["in"], parameter["schema"]["format"]) == ("path", "uuid")


def test_the_streak_routes_say_their_bodies_and_statuses() -> None:
    document = json.loads((ROOT / "docs/openapi.json").read_text())
    paths, schemas = document["paths"], document["components"]["schemas"]

    def body_schema(path: str, method: str) -> dict:
        ref = paths[path][method]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        return schemas[ref.rsplit("/", 1)[1]]

    change = body_schema("/progress/settings", "put")
    assert change["additionalProperties"] is False and "required" not in change  # any subset
    assert (
        change["properties"]["rest_weekdays"]["maxItems"],
        change["properties"]["day_start_minutes"]["maximum"],
    ) == (
        2,
        360,
    )
    grant = body_schema("/progress/freezes", "post")
    assert grant["additionalProperties"] is False and set(grant["required"]) == {"user_id", "key", "count"}
    assert grant["properties"]["count"]["maximum"] == 2
    assert {"403", "409"} <= set(paths["/progress/freezes"]["post"]["responses"])
    assert "409" in paths["/progress/streak/repair"]["post"]["responses"]
