"""template.yaml tells the truth about the code: handlers exist, routes reach the right handler, and
every function's permissions are no wider than what it calls."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from progress_admin.template import functions, http_routes, load_template, websocket_routes
from progress_common.schema import ROLE_SESSION_DEFAULTS
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
        "MigrateSchemaFunction",
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
        # its on-failure queue's sqs:SendMessage comes with EventInvokeConfig (SAM), exactly once
        "ArchiveAttemptsFunction": secret_only,
        "LiveTicketFunction": secret_only,
        "LiveConnectFunction": [*secret_only, "Statement"],  # closes the connections it evicts
        "LiveDisconnectFunction": secret_only,
        "MigrateSchemaFunction": secret_only,  # its answer goes to a pre-signed URL: no S3 permission
    }
    for name, resource in FUNCTIONS.items():
        props = resource["Properties"]
        assert _policy_kinds(props) == expected[name], name
        for policy in props["Policies"]:
            if "AWSSecretsManagerGetSecretValuePolicy" in policy:
                assert policy["AWSSecretsManagerGetSecretValuePolicy"]["SecretArn"] == {"Ref": "DbSecretArn"}
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
    close = FUNCTIONS["LiveConnectFunction"]["Properties"]["Policies"][1]["Statement"]
    assert [(s["Action"], s["Resource"]["Fn::Sub"].rsplit(":", 1)[1]) for s in close] == [
        ("execute-api:ManageConnections", "${LiveApi}/live/DELETE/@connections/*")
    ]
    stage = TEMPLATE["Resources"]["LiveStage"]["Properties"]["StageName"]
    connect_env = FUNCTIONS["LiveConnectFunction"]["Properties"]["Environment"]["Variables"]
    assert connect_env["LIVE_MANAGEMENT_ENDPOINT"]["Fn::Sub"].endswith(f"/{stage}")
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
    for name, resource in FUNCTIONS.items():  # one definition: Globals only
        own = (resource["Properties"].get("Environment") or {}).get("Variables") or {}
        assert not [v for v in own if v.startswith("POWERTOOLS_")], name
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


# ---- issue 13: a first deploy that works ---------------------------------------------------------

RESOURCES = TEMPLATE["Resources"]
LAYER = ROOT / "layers/common/progress_common"


def test_the_schema_is_migrated_by_a_custom_resource_before_every_function_that_needs_it() -> None:
    from progress_common.schema import REQUIRED_SCHEMA_REVISION

    migration = RESOURCES["SchemaMigration"]
    assert migration["Type"].startswith("Custom::")
    props = migration["Properties"]
    assert props["ServiceToken"] == {"Fn::GetAtt": ["MigrateSchemaFunction", "Arn"]}
    # The property that changes when a deploy brings a migration: CloudFormation then sends Update.
    assert props["SchemaRevision"] == REQUIRED_SCHEMA_REVISION
    assert migration["DependsOn"] == "MigrateSchemaLogs"
    for name in FUNCTIONS:
        if name != "MigrateSchemaFunction":
            assert FUNCTIONS[name].get("DependsOn") == "SchemaMigration", name
    # The migration waits for the endpoints it needs, when the stack creates them.
    assert props["SecretsManagerEndpoint"] == {
        "Fn::If": ["CreateSecretsEndpoint", {"Ref": "SecretsManagerEndpoint"}, "existing"]
    }
    assert props["S3Endpoint"] == {"Fn::If": ["CreateS3Endpoint", {"Ref": "S3GatewayEndpoint"}, "existing"]}


def test_the_migration_function_runs_in_the_vpc_with_its_own_code_and_time_to_answer() -> None:
    props = FUNCTIONS["MigrateSchemaFunction"]["Properties"]
    assert "VpcConfig" not in props and TEMPLATE["Globals"]["Function"]["VpcConfig"]["SubnetIds"]
    assert props["Timeout"] == 900 and "SnapStart" not in props
    makefile = (ROOT / props["CodeUri"] / "Makefile").read_text()
    assert "progress_admin" in makefile and "requirements.txt" in makefile
    layer_requirements = (ROOT / "layers/common/requirements.txt").read_text().lower()
    assert "alembic" not in layer_requirements  # Alembic is the migration function's, not the layer's
    assert "alembic==" in (ROOT / props["CodeUri"] / "requirements.txt").read_text()


def test_http_functions_use_snapstart_behind_an_alias() -> None:
    # every function behind the HTTP API, read from its HttpApi events: a new route is covered too
    http_functions = sorted({route.function for route in http_routes(TEMPLATE)})
    assert len(http_functions) == 4, http_functions
    for name in http_functions:
        props = FUNCTIONS[name]["Properties"]
        assert props.get("SnapStart") == {"ApplyOn": "PublishedVersions"}, name
        # With AutoPublishAlias, SAM points the HttpApi route and its permission at the alias.
        assert props.get("AutoPublishAlias") == "live", name
        assert "register_hooks()" in (ROOT / props["CodeUri"] / "app.py").read_text()


def test_vpc_endpoints_are_created_unless_the_vpc_has_them() -> None:
    secrets = RESOURCES["SecretsManagerEndpoint"]
    assert secrets["Condition"] == "CreateSecretsEndpoint"
    assert secrets["Properties"]["VpcEndpointType"] == "Interface"
    assert secrets["Properties"]["PrivateDnsEnabled"] is True
    assert secrets["Properties"]["ServiceName"] == {"Fn::Sub": "com.amazonaws.${AWS::Region}.secretsmanager"}
    s3 = RESOURCES["S3GatewayEndpoint"]
    assert s3["Condition"] == "CreateS3Endpoint" and s3["Properties"]["VpcEndpointType"] == "Gateway"
    assert s3["Properties"]["RouteTableIds"] == {"Ref": "PrivateRouteTableIds"}
    conditions = TEMPLATE["Conditions"]
    assert conditions["CreateSecretsEndpoint"] == {
        "Fn::Equals": [{"Ref": "CreateSecretsManagerEndpoint"}, "true"]
    }


def test_secret_client_timeouts_fit_in_five_seconds_and_the_function_timeouts() -> None:
    from progress_common.settings import load_settings

    settings = load_settings({"DB_SECRET_ARN": "arn:aws:secretsmanager:eu-west-1:1:secret:x"})
    worst = settings.aws_max_attempts * (
        settings.aws_connect_timeout_seconds + settings.aws_read_timeout_seconds
    )
    assert worst <= 5
    # a silent database is a 503 within 5 s, and the server's statement timeout fires first
    assert settings.db_connect_timeout_seconds < 5
    assert (
        int(ROLE_SESSION_DEFAULTS["statement_timeout"].removesuffix("s"))
        < settings.db_connect_timeout_seconds
    )
    assert (
        min(
            f["Properties"].get("Timeout", TEMPLATE["Globals"]["Function"]["Timeout"])
            for f in FUNCTIONS.values()
        )
        > 5
    )


def test_nothing_fails_on_a_new_account() -> None:
    for name, resource in FUNCTIONS.items():
        reserved = resource["Properties"].get("ReservedConcurrentExecutions")
        assert reserved is None or (isinstance(reserved, dict) and "Fn::If" in reserved), name
    archive = FUNCTIONS["ArchiveAttemptsFunction"]["Properties"]["ReservedConcurrentExecutions"]
    assert archive == {
        "Fn::If": [
            "ReserveArchiveConcurrency",
            {"Ref": "ArchiveReservedConcurrency"},
            {"Ref": "AWS::NoValue"},
        ]
    }
    assert TEMPLATE["Parameters"]["ArchiveReservedConcurrency"]["Default"] == 0
    consumer = FUNCTIONS["RecordAttemptsFunction"]["Properties"]["Events"]["Attempts"]["Properties"]
    assert 2 <= consumer["ScalingConfig"]["MaximumConcurrency"] <= 20  # bounds the connections


def test_the_alarm_topic_is_one_cloudwatch_can_publish_to() -> None:
    assert "alias/aws/sns" not in str(TEMPLATE)
    topic = RESOURCES["AlarmTopic"]["Properties"]
    assert topic["KmsMasterKeyId"] == {
        "Fn::If": ["EncryptAlarmTopic", {"Ref": "AlarmTopicKey"}, {"Ref": "AWS::NoValue"}]
    }
    statements = RESOURCES["AlarmTopicKey"]["Properties"]["KeyPolicy"]["Statement"]
    cloudwatch = [s for s in statements if s["Principal"].get("Service") == "cloudwatch.amazonaws.com"]
    assert cloudwatch and {"kms:Decrypt", "kms:GenerateDataKey*"} <= set(cloudwatch[0]["Action"])
    assert RESOURCES["AlarmTopicKey"]["Properties"]["EnableKeyRotation"] is True


def _alarm_on(metric: str) -> dict:
    found = [
        r["Properties"]
        for r in RESOURCES.values()
        if r["Type"] == "AWS::CloudWatch::Alarm" and r["Properties"].get("MetricName") == metric
    ]
    assert len(found) == 1, metric
    return found[0]


def test_503s_and_failed_batches_raise_alarms_on_metrics_the_layer_emits() -> None:
    api = _alarm_on("5xx")
    assert api["Namespace"] == "AWS/ApiGateway" and api["Dimensions"] == [
        {"Name": "ApiId", "Value": {"Ref": "ProgressApi"}}
    ]
    namespace = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]["POWERTOOLS_METRICS_NAMESPACE"]
    service = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"]
    layer_source = "".join(p.read_text() for p in LAYER.glob("*.py"))
    for metric in ("DatabaseUnavailable", "BatchesFailed"):
        alarm = _alarm_on(metric)
        assert alarm["Namespace"] == namespace
        assert alarm["Dimensions"] == [{"Name": "service", "Value": service}]
        assert f'name="{metric}"' in layer_source, metric


def test_smaller_items_fail_on_warnings_scheduler_and_tls() -> None:
    assert RESOURCES["ProgressApi"]["Properties"]["FailOnWarnings"] is True
    nightly = FUNCTIONS["ArchiveAttemptsFunction"]["Properties"]["Events"]["Nightly"]
    assert nightly["Type"] == "ScheduleV2"
    assert nightly["Properties"]["ScheduleExpression"] == {"Ref": "ArchiveSchedule"}
    assert TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]["DB_TLS"] == {"Ref": "DbTls"}
    assert TEMPLATE["Parameters"]["DbTls"]["Default"] == "verify-full"


def _queue_alarm(queue: str) -> dict:
    found = [
        r["Properties"]
        for r in RESOURCES.values()
        if r["Type"] == "AWS::CloudWatch::Alarm"
        and r["Properties"].get("MetricName") == "ApproximateNumberOfMessagesVisible"
        and r["Properties"]["Dimensions"]
        == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue, "QueueName"]}}]
    ]
    assert len(found) == 1, queue
    return found[0]


def test_failed_archival_runs_and_poison_messages_land_in_queues_an_alarm_watches() -> None:
    archive = FUNCTIONS["ArchiveAttemptsFunction"]["Properties"]
    invoke = archive["EventInvokeConfig"]
    assert invoke["MaximumRetryAttempts"] >= 1
    assert invoke["DestinationConfig"]["OnFailure"] == {
        "Type": "SQS",
        "Destination": {"Fn::GetAtt": ["ArchiveFailureQueue", "Arn"]},
    }
    # SAM grants sqs:SendMessage on the destination queue from DestinationConfig: no second grant
    assert "SQSSendMessagePolicy" not in str(archive["Policies"])
    assert archive["Events"]["Nightly"]["Properties"]["RetryPolicy"]["MaximumRetryAttempts"] >= 1
    for queue in ("ArchiveFailureQueue", "AttemptsDeadLetterQueue"):
        alarm = _queue_alarm(queue)
        assert alarm["Threshold"] == 1 and alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
