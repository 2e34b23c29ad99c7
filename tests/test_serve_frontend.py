"""`progress-admin serve` for a frontend: CORS as the template's HTTP API, each function's environment from
the template, path parameters, routes it cannot serve refused at start, and the dashboard's static files."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from progress_admin.local.gateway import UnservableRouteError, make_token
from progress_admin.local.intrinsics import local_values, parameter_values
from progress_admin.local.serve import create_server
from progress_admin.local.static import DASHBOARD_DIR
from progress_admin.local.template import cors_configuration, load_template
from tests.events import http_request

ROOT = Path(__file__).resolve().parent.parent
FRONTEND = "http://localhost:5173"


def _start(root: Path, overrides: dict[str, str] | None = None) -> tuple[str, object]:
    server = create_server(root, "127.0.0.1", 0, log=lambda line: None, parameter_overrides=overrides)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}", server


@pytest.fixture
def cors_server(engine) -> Iterator[str]:
    url, server = _start(ROOT, {"CorsAllowedOrigins": f"{FRONTEND},http://127.0.0.1:8080"})
    yield url
    server.shutdown()  # type: ignore[attr-defined]
    server.server_close()  # type: ignore[attr-defined]


def _preflight(
    url: str, origin: str, method: str = "GET", headers: str = "authorization"
) -> tuple[int, dict]:
    status, answer, _ = http_request(
        url,
        "OPTIONS",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": headers,
        },
    )
    return status, answer


def test_preflight_from_an_allowed_origin_gets_the_template_configuration(cors_server) -> None:
    template = load_template(ROOT / "template.yaml")
    configured = template["Resources"]["ProgressApi"]["Properties"]["CorsConfiguration"]
    status, headers = _preflight(f"{cors_server}/progress", FRONTEND, "GET", "authorization")
    assert status == 204
    assert headers["access-control-allow-origin"] == FRONTEND
    assert headers["access-control-allow-methods"] == ",".join(configured["AllowMethods"])
    assert headers["access-control-allow-headers"] == ",".join(configured["AllowHeaders"])
    assert headers["access-control-max-age"] == str(configured["MaxAge"])
    # POST with a JSON body, as the reset button sends it
    status, headers = _preflight(
        f"{cors_server}/progress/reset", FRONTEND, "POST", "Authorization, Content-Type"
    )
    assert status == 204 and headers["access-control-allow-origin"] == FRONTEND


def test_preflight_from_another_origin_or_for_other_methods_or_headers_gets_no_cors_headers(
    cors_server,
) -> None:
    for origin, method, asked in (
        ("http://localhost:9999", "GET", "authorization"),  # a port that is not configured
        ("https://evil.example", "POST", "authorization"),
        (FRONTEND, "DELETE", "authorization"),  # not in AllowMethods
        (FRONTEND, "GET", "authorization, x-debug"),  # not in AllowHeaders
    ):
        status, headers = _preflight(f"{cors_server}/progress", origin, method, asked)
        assert status == 204, (origin, method, asked)
        assert not [name for name in headers if name.startswith("access-control-")], (origin, method, asked)


def test_actual_responses_carry_cors_headers_for_allowed_origins_only(cors_server, db, new_user_id) -> None:
    token = make_token({"sub": str(new_user_id())})
    status, headers, _ = http_request(f"{cors_server}/progress", token=token, headers={"Origin": FRONTEND})
    assert status == 200 and headers["access-control-allow-origin"] == FRONTEND
    assert "origin" in headers["vary"].lower()
    # the gateway's own 401 and 404 carry them too, so the page can read the error
    status, headers, _ = http_request(f"{cors_server}/progress", headers={"Origin": FRONTEND})
    assert status == 401 and headers["access-control-allow-origin"] == FRONTEND
    status, headers, _ = http_request(f"{cors_server}/nowhere", token=token, headers={"Origin": FRONTEND})
    assert status == 404 and headers["access-control-allow-origin"] == FRONTEND
    status, headers, _ = http_request(
        f"{cors_server}/progress", token=token, headers={"Origin": "http://localhost:9999"}
    )
    assert status == 200 and "access-control-allow-origin" not in headers
    status, headers, _ = http_request(f"{cors_server}/progress", token=token)
    assert status == 200 and "access-control-allow-origin" not in headers


def test_cors_origins_without_a_local_value_allow_no_other_origin() -> None:
    """CorsAllowedOrigins has no Default: without --cors-origin, only the same origin works."""
    template = load_template(ROOT / "template.yaml")
    cors = cors_configuration(template, local_values(template))
    assert cors is not None and cors.allow_origins == () and not cors.allows(FRONTEND)
    with pytest.raises(ValueError, match="no parameter"):
        parameter_values(template, {"CorsAllowedOrigin": FRONTEND})


ENV_TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Parameters:
  Claim:
    Type: String
    Default: custom_claim
  SecretArn:
    Type: String
  Host:
    Type: String
    Default: ""
Conditions:
  HasHost: !Not [!Equals [!Ref Host, ""]]
Globals:
  Function:
    Timeout: 5
    Environment:
      Variables:
        ECHO_PLAIN: plain
        ECHO_NUMBER: 42
        ECHO_CLAIM: !Ref Claim
        ECHO_SECRET: !Ref SecretArn
        ECHO_HOST: !If [HasHost, !Ref Host, !Ref AWS::NoValue]
        ECHO_OVERRIDDEN: from-globals
Resources:
  Api:
    Type: AWS::Serverless::HttpApi
  Queue:
    Type: AWS::SQS::Queue
  EchoFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/echo/
      Handler: app.handler
      Environment:
        Variables:
          ECHO_OVERRIDDEN: from-function
          ECHO_SUB: !Sub "${Claim}-suffix"
          ECHO_QUEUE: !GetAtt Queue.Arn
          ECHO_REGION: !Sub "${AWS::Region}"
          ECHO_FROM_SHELL: from-template
      Events:
        Api:
          Type: HttpApi
          Properties:
            Path: /echo
            Method: GET
"""

ECHO_APP = """\
import json
import os

AT_IMPORT = os.environ.get("ECHO_CLAIM")


def handler(event, context):
    names = sorted(name for name in os.environ if name.startswith("ECHO_"))
    values = {name: os.environ[name] for name in names}
    answer = {"env": values, "at_import": AT_IMPORT, "route": event["routeKey"], "path": event.get("pathParameters")}
    return {"statusCode": 200, "body": json.dumps(answer)}
"""


def _project(tmp_path: Path, template: str) -> Path:
    (tmp_path / "template.yaml").write_text(template)
    (tmp_path / "functions" / "echo").mkdir(parents=True)
    (tmp_path / "functions" / "echo" / "app.py").write_text(ECHO_APP)
    return tmp_path


def test_each_function_runs_with_its_template_environment(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("ECHO_FROM_SHELL", "from-shell")  # serve's own environment wins, as env.json would
    root = _project(tmp_path, ENV_TEMPLATE)
    url, server = _start(root)
    try:
        status, _, body = http_request(f"{url}/echo", token=make_token({"sub": "7"}))
        assert status == 200, body
        answer = json.loads(body)
        assert answer["env"] == {
            "ECHO_PLAIN": "plain",
            "ECHO_NUMBER": "42",
            "ECHO_CLAIM": "custom_claim",
            "ECHO_OVERRIDDEN": "from-function",
            "ECHO_SUB": "custom_claim-suffix",
            "ECHO_FROM_SHELL": "from-shell",
        }  # ECHO_SECRET, ECHO_QUEUE, ECHO_REGION: AWS-only; ECHO_HOST: !Ref AWS::NoValue
        assert answer["at_import"] == "custom_claim"  # settings read at cold start see them too
        assert "ECHO_CLAIM" not in os.environ  # applied around the function only
        # a parameter override resolves what the template alone cannot
    finally:
        server.shutdown()  # type: ignore[attr-defined]
        server.server_close()  # type: ignore[attr-defined]
    url, server = _start(root, {"SecretArn": "arn:aws:secretsmanager:local", "Host": "db.local"})
    try:
        _, _, body = http_request(f"{url}/echo", token=make_token({"sub": "7"}))
        env = json.loads(body)["env"]
        assert env["ECHO_SECRET"] == "arn:aws:secretsmanager:local" and env["ECHO_HOST"] == "db.local"
    finally:
        server.shutdown()  # type: ignore[attr-defined]
        server.server_close()  # type: ignore[attr-defined]


def test_the_project_functions_get_the_globals_and_no_aws_only_variable(engine) -> None:
    from progress_admin.local.gateway import HttpApi

    api = HttpApi(ROOT)
    env = api.environments["GetProgressFunction"]
    assert env.variables["POWERTOOLS_SERVICE_NAME"] == "progress"
    assert env.variables["USER_ID_CLAIM"] == "sub"
    assert "DB_SECRET_ARN" in env.left_out and "DB_SECRET_ARN" not in env.variables
    assert "DB_HOST" not in env.variables  # DbHost defaults to "": !If picks AWS::NoValue
    assert env.variables["DB_TLS"] == "disable"  # the local PostgreSQL speaks no TLS (DbTls's local value)
    assert (
        HttpApi(ROOT, {"DbTls": "verify-full"}).environments["GetProgressFunction"].variables["DB_TLS"]
        == "verify-full"
    )


def test_a_route_with_path_parameters_gets_them_as_api_gateway_passes_them(tmp_path) -> None:
    root = _project(tmp_path, ENV_TEMPLATE.replace("Path: /echo", "Path: /echo/{name}/items/{item_id}"))
    (root / "functions" / "echo" / "app.py").write_text(
        "import json\n\n\ndef handler(event, context):\n"
        "    keys = ('routeKey', 'rawPath', 'pathParameters')\n"
        "    return {'statusCode': 200, 'body': json.dumps({k: event.get(k) for k in keys})}\n"
    )
    url, server = _start(root)
    try:
        status, _, body = http_request(f"{url}/echo/abc/items/42", token=make_token({"sub": "7"}))
        assert status == 200, body
        assert json.loads(body) == {
            "routeKey": "GET /echo/{name}/items/{item_id}",
            "rawPath": "/echo/abc/items/42",
            "pathParameters": {"name": "abc", "item_id": "42"},
        }
        for unmatched in ("/echo/x/items", "/echo/x/items/42/more", "/echo//items/42"):
            assert http_request(f"{url}{unmatched}", token=make_token({"sub": "7"}))[0] == 404, unmatched
    finally:
        server.shutdown()  # type: ignore[attr-defined]
        server.server_close()  # type: ignore[attr-defined]


def test_path_parameters_reach_the_function_as_api_gateway_matches_them(tmp_path) -> None:
    """`{name}` segments match one segment each, percent-decoded into pathParameters, with the route's
    key; a route without parameters wins over one with them, as in API Gateway."""
    fixed = "        Fixed:\n          Type: HttpApi\n          Properties:\n"
    fixed += "            Path: /echo/fixed/items/latest\n            Method: GET\n"
    root = _project(tmp_path, ENV_TEMPLATE.replace("Path: /echo", "Path: /echo/{id}/items/{item_id}") + fixed)
    url, server = _start(root)
    token = make_token({"sub": "7"})
    try:
        status, _, body = http_request(f"{url}/echo/42/items/a%20b%2Fc", token=token)
        assert status == 200, body
        answer = json.loads(body)
        assert answer["route"] == "GET /echo/{id}/items/{item_id}"
        assert answer["path"] == {"id": "42", "item_id": "a b/c"}
        answer = json.loads(http_request(f"{url}/echo/fixed/items/latest", token=token)[2])
        assert answer["route"] == "GET /echo/fixed/items/latest" and answer["path"] is None
        answer = json.loads(http_request(f"{url}/echo/fixed/items/other", token=token)[2])
        assert answer["path"] == {"id": "fixed", "item_id": "other"}
        for unmatched in ("/echo/42/items", "/echo/42/items/x/y", "/echo//items/x"):
            assert http_request(f"{url}{unmatched}", token=token)[0] == 404, unmatched
        assert http_request(f"{url}/echo/42/items/x", "POST", token=token)[0] == 404
        assert http_request(f"{url}/echo/42/items/x")[0] == 401  # the authorizer still comes first
    finally:
        server.shutdown()  # type: ignore[attr-defined]
        server.server_close()  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("path", "method"), [("/echo/{proxy+}", "GET"), ("/echo/v{version}", "GET"), ("/echo", "ANY")]
)
def test_a_route_serve_cannot_match_is_refused_at_start(tmp_path, path, method) -> None:
    root = _project(
        tmp_path,
        ENV_TEMPLATE.replace("Path: /echo", f"Path: {path}").replace("Method: GET", f"Method: {method}"),
    )
    with pytest.raises(UnservableRouteError, match=r"cannot serve .*EchoFunction") as refused:
        create_server(root, "127.0.0.1", 0, log=lambda line: None)
    assert path in str(refused.value)


def test_the_command_refuses_such_a_route_with_a_clear_error(
    tmp_path, monkeypatch, capsys, test_database
) -> None:
    from progress_admin.cli import main

    root = _project(tmp_path, ENV_TEMPLATE.replace("Path: /echo", "Path: /echo/{proxy+}"))
    monkeypatch.chdir(root)
    monkeypatch.setattr(os, "environ", os.environ.copy())  # serve sets local defaults
    assert main(["serve", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert "cannot serve GET /echo/{proxy+} of EchoFunction" in err and "greedy" in err


def test_the_dashboard_is_served_from_local_files_only(live_server) -> None:
    status, headers, page = http_request(f"{live_server}/")
    assert status == 200 and headers["content-type"] == "text/html; charset=utf-8"
    assert b'src="/dashboard/app.js"' in page and b'href="/dashboard/style.css"' in page
    assert "default-src 'self'" in headers["content-security-policy"]
    assert headers["referrer-policy"] == "no-referrer"
    status, headers, script = http_request(f"{live_server}/dashboard/app.js")
    assert status == 200 and headers["content-type"].startswith(("text/javascript", "application/javascript"))
    assert script == (DASHBOARD_DIR / "app.js").read_bytes()
    for outside in ("/dashboard/../serve.py", "/dashboard/", "/dashboard/nothing.js", "/index.html"):
        status, _, _ = http_request(f"{live_server}{outside}")
        assert status == 404, outside
    # offline: nothing is loaded from elsewhere
    for file in DASHBOARD_DIR.iterdir():
        text = file.read_text()
        assert "http://" not in text and "https://" not in text and "//cdn" not in text, file.name


def test_demo_data_and_token_print_the_dashboard_url(db, capsys) -> None:
    from progress_admin.cli import main

    assert main(["token", "--user", "user_4"]) == 0
    captured = capsys.readouterr()
    token = captured.out.strip()
    assert f"http://127.0.0.1:3000/#token={token}" in captured.err
    assert main(["demo-data", "--user", "user_4", "--days", "3"]) == 0
    assert "open:  http://127.0.0.1:3000/#token=" in capsys.readouterr().out


def test_token_and_demo_data_print_the_port_serve_was_given(db, capsys) -> None:
    from progress_admin.cli import main

    assert main(["token", "--user", "user_4", "--port", "8123"]) == 0
    captured = capsys.readouterr()
    assert f"dashboard: http://127.0.0.1:8123/#token={captured.out.strip()}" in captured.err
    assert main(["demo-data", "--user", "user_4", "--days", "2", "--port", "8123"]) == 0
    out = capsys.readouterr().out
    assert "open:  http://127.0.0.1:8123/#token=" in out and "http://127.0.0.1:8123/progress" in out
