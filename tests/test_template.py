"""template.yaml tells the truth about the code: handlers exist, routes reach the right handler, and
every function's permissions are no wider than what it calls."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from progress_admin.template import functions, http_routes, load_template, websocket_routes
from tests.events import call, http_event

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = load_template(ROOT / "template.yaml")
FUNCTIONS = functions(TEMPLATE)


def test_every_function_has_its_handler_file_and_build_makefile() -> None:
    assert set(FUNCTIONS) == {
        "GetProgressFunction",
        "GetStatisticsFunction",
        "ResetProgressFunction",
        "RecordAttemptsFunction",
        "ArchiveAttemptsFunction",
        "LiveTicketFunction",
        "LiveConnectFunction",
        "LiveDisconnectFunction",
    }
    for name, resource in FUNCTIONS.items():
        props = resource["Properties"]
        module, attribute = props["Handler"].split(".")
        code = ROOT / props["CodeUri"] / f"{module}.py"
        assert code.is_file(), name
        assert f"def {attribute}(" in code.read_text()
        assert resource["Metadata"]["BuildMethod"] == "makefile"
        assert f"build-{name}:" in (ROOT / props["CodeUri"] / "Makefile").read_text()


def test_routes_are_the_four_of_the_design() -> None:
    assert {(r.method, r.path, r.function) for r in http_routes(TEMPLATE)} == {
        ("GET", "/progress", "GetProgressFunction"),
        ("GET", "/progress/statistics", "GetStatisticsFunction"),
        ("POST", "/progress/reset", "ResetProgressFunction"),
        ("POST", "/progress/live-ticket", "LiveTicketFunction"),
    }


@pytest.mark.parametrize("route", http_routes(TEMPLATE), ids=lambda r: f"{r.method} {r.path}")
def test_each_route_is_served_by_its_handler_and_by_no_other(route, load_function, db) -> None:
    for other in http_routes(TEMPLATE):
        module = load_function(other.code_dir.name)
        status, _, body = call(
            module.lambda_handler, http_event(route.method, route.path, claims={"sub": "7"})
        )
        if other.function == route.function:
            assert status == 200, (route, body)
        else:
            assert status == 404, (route, other.function)


def _policy_kinds(props: dict) -> list[str]:
    kinds = []
    for policy in props.get("Policies", []):
        assert isinstance(policy, dict), "no managed-policy names or inline wildcards"
        kinds.extend(policy)
    return kinds


def test_no_function_has_a_wider_policy_than_it_needs() -> None:
    secret_only = ["AWSSecretsManagerGetSecretValuePolicy"]
    expected = {
        "GetProgressFunction": secret_only,
        "GetStatisticsFunction": secret_only,
        "ResetProgressFunction": secret_only,
        # SQS polling permissions come with the SQS event; the statement: posting to live connections
        "RecordAttemptsFunction": [*secret_only, "Statement"],
        "ArchiveAttemptsFunction": [*secret_only, "SQSSendMessagePolicy"],
        "LiveTicketFunction": secret_only,
        "LiveConnectFunction": secret_only,
        "LiveDisconnectFunction": secret_only,
    }
    for name, resource in FUNCTIONS.items():
        props = resource["Properties"]
        assert _policy_kinds(props) == expected[name], name
        for policy in props["Policies"]:
            if "AWSSecretsManagerGetSecretValuePolicy" in policy:
                assert policy["AWSSecretsManagerGetSecretValuePolicy"]["SecretArn"] == {"Ref": "DbSecretArn"}
            if "SQSSendMessagePolicy" in policy:
                assert policy["SQSSendMessagePolicy"]["QueueName"] == {
                    "Fn::GetAtt": ["ArchiveFailureQueue", "QueueName"]
                }
    push = FUNCTIONS["RecordAttemptsFunction"]["Properties"]["Policies"][1]["Statement"]
    assert push == [
        {
            "Sid": "PushToLiveConnections",
            "Effect": "Allow",
            "Action": "execute-api:ManageConnections",
            "Resource": {
                "Fn::Sub": "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${LiveApi}"
                "/${LiveStage}/POST/@connections/*"
            },
        }
    ]
    policies = [r["Properties"].get("Policies") for r in FUNCTIONS.values()]
    assert "*" not in str(policies).replace("/@connections/*", "")


def test_queue_visibility_is_six_times_the_consumer_timeout_and_failures_are_reported() -> None:
    consumer = FUNCTIONS["RecordAttemptsFunction"]["Properties"]
    queue = TEMPLATE["Resources"]["AttemptsQueue"]["Properties"]
    assert queue["VisibilityTimeout"] == 6 * consumer["Timeout"]
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["AttemptsDeadLetterQueue", "Arn"]}
    event = consumer["Events"]["Attempts"]["Properties"]
    assert event["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_globals_pin_runtime_architecture_and_powertools() -> None:
    fn = TEMPLATE["Globals"]["Function"]
    assert fn["Runtime"] == "python3.13" and fn["Architectures"] == ["arm64"] and fn["Tracing"] == "Active"
    env = fn["Environment"]["Variables"]
    assert {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_LOG_LEVEL"} <= set(env)
    layer = TEMPLATE["Resources"]["CommonLayer"]
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.13"]
    assert layer["Metadata"]["BuildMethod"] == "makefile"
    makefile = (ROOT / "layers/common/Makefile").read_text()
    assert "--python-version $(LAMBDA_PYTHON)" in makefile and "LAMBDA_PYTHON ?= 3.13" in makefile
    assert "manylinux2014_aarch64" in makefile


def test_every_function_log_group_has_retention_and_every_alarm_a_target() -> None:
    resources = TEMPLATE["Resources"]
    groups = [r for r in resources.values() if r["Type"] == "AWS::Logs::LogGroup"]
    named = {str(g["Properties"].get("LogGroupName")) for g in groups}
    for name in FUNCTIONS:
        assert any(name in n for n in named), name
    assert all("RetentionInDays" in g["Properties"] for g in groups)
    alarms = [r for r in resources.values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    assert len(alarms) >= 8
    assert all(a["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}] for a in alarms)


def test_layer_requirements_match_the_project_pins() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    pins = {re.split(r"[\[=]", d)[0].lower(): d.split("==")[1] for d in pyproject["project"]["dependencies"]}
    layer = [
        line
        for line in (ROOT / "layers/common/requirements.txt").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert layer, "the layer must pin its dependencies"
    for requirement in layer:
        name, version = re.split(r"[\[=]", requirement)[0].lower(), requirement.split("==")[1]
        assert pins.get(name) == version, requirement


def test_websocket_api_routes_reach_their_functions_with_permissions_and_access_logs() -> None:
    resources = TEMPLATE["Resources"]
    api = resources["LiveApi"]["Properties"]
    assert api["ProtocolType"] == "WEBSOCKET"
    routes = {r.route_key: r.function for r in websocket_routes(TEMPLATE)}
    assert routes == {"$connect": "LiveConnectFunction", "$disconnect": "LiveDisconnectFunction"}
    permissions = {
        p["Properties"]["FunctionName"]["Ref"]: p["Properties"]["SourceArn"]["Fn::Sub"]
        for p in resources.values()
        if p["Type"] == "AWS::Lambda::Permission"
    }
    assert permissions["LiveConnectFunction"].endswith("${LiveApi}/*/$connect")
    assert permissions["LiveDisconnectFunction"].endswith("${LiveApi}/*/$disconnect")
    stage = resources["LiveStage"]["Properties"]
    assert stage["ApiId"] == {"Ref": "LiveApi"} and stage["AutoDeploy"] is True
    log_format = stage["AccessLogSettings"]["Format"]
    assert "$context.connectionId" in log_format and "ticket" not in log_format
    # the consumer's endpoint and the ticket's URL name this API and stage
    consumer_env = FUNCTIONS["RecordAttemptsFunction"]["Properties"]["Environment"]["Variables"]
    assert consumer_env["LIVE_MANAGEMENT_ENDPOINT"] == {
        "Fn::Sub": "https://${LiveApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/${LiveStage}"
    }
    ticket_env = FUNCTIONS["LiveTicketFunction"]["Properties"]["Environment"]["Variables"]
    assert ticket_env["LIVE_WEBSOCKET_URL"] == {
        "Fn::Sub": "wss://${LiveApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/${LiveStage}"
    }
    # no execute-api VPC endpoint with private DNS: it would send the management API calls to an endpoint
    # that serves private REST APIs only (they fail with 403)
    assert not [
        r
        for r in resources.values()
        if r["Type"] == "AWS::EC2::VPCEndpoint" and "execute-api" in str(r["Properties"].get("ServiceName"))
    ]
