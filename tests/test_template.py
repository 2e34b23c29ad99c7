"""template.yaml tells the truth about the code: handlers exist, routes reach the right handler, and
every function's permissions are no wider than what it calls."""

from __future__ import annotations

import functools
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from progress_admin.local.intrinsics import StackValues, choose_conditions, condition_holds, parameter_values
from progress_admin.local.template import (
    functions,
    http_routes,
    load_template,
    sqs_consumer,
    websocket_routes,
)
from progress_common.schema import ROLE_SESSION_DEFAULTS
from tests.events import ERASE_SCOPE_CLAIM, call, http_event, sample_body, sample_path
from tests.helpers import sam_translate

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = load_template(ROOT / "template.yaml")
FUNCTIONS = functions(TEMPLATE)
TEMPLATE_TEXT = (ROOT / "template.yaml").read_text()


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
        "RequestExportFunction",
        "ExportWorkerFunction",
        "GetExportFunction",
        "EraseUserFunction",
        "MigrateSchemaFunction",
        "SweepFunction",
        "SettingsFunction",
        "RepairStreakFunction",
        "GrantFreezesFunction",
    }
    for name, resource in FUNCTIONS.items():
        props = resource["Properties"]
        module, attribute = props["Handler"].split(".")
        code = ROOT / props["CodeUri"] / f"{module}.py"
        assert code.is_file(), name
        assert f"def {attribute}(" in code.read_text()
        assert resource["Metadata"]["BuildMethod"] == "makefile"
        assert f"build-{name}:" in (ROOT / props["CodeUri"] / "Makefile").read_text()


def test_routes_are_those_of_the_design() -> None:
    assert {(r.method, r.path, r.function) for r in http_routes(TEMPLATE)} == {
        ("GET", "/progress", "GetProgressFunction"),
        ("GET", "/progress/statistics", "GetStatisticsFunction"),
        ("GET", "/progress/streak/explain", "GetStatisticsFunction"),
        ("POST", "/progress/reset", "ResetProgressFunction"),
        ("POST", "/progress/live-ticket", "LiveTicketFunction"),
        ("POST", "/progress/export", "RequestExportFunction"),
        ("GET", "/progress/export/{export_id}", "GetExportFunction"),
        ("DELETE", "/progress/users/{user_id}", "EraseUserFunction"),
        ("GET", "/progress/settings", "SettingsFunction"),
        ("PUT", "/progress/settings", "SettingsFunction"),
        ("POST", "/progress/streak/repair", "RepairStreakFunction"),
        ("POST", "/progress/freezes", "GrantFreezesFunction"),
    }


@pytest.mark.parametrize("route", http_routes(TEMPLATE), ids=lambda r: f"{r.method} {r.path}")
def test_each_route_is_served_by_its_handler_and_by_no_other(route, load_function, db, aws) -> None:
    path = sample_path(route.path)
    for other in http_routes(TEMPLATE):
        module = load_function(other.code_dir.name)
        event = http_event(
            route.method,
            path,
            claims={"sub": "7", **ERASE_SCOPE_CLAIM},
            body=sample_body(route.method, route.path),
        )
        status, _, body = call(module.lambda_handler, event)
        if other.function == route.function:
            # its route: answered by the route (the sample export does not exist: the route's own 404; learner
            # 7 has no broken streak: the repair's own 409)
            assert status in (200, 202) or body["error"]["code"] in (
                "export_not_found",
                "repair_unavailable",
            ), (
                route,
                body,
            )
        else:
            assert status == 404 and body["error"]["code"] == "not_found", (route, other.function)


def _policy_kinds(props: dict) -> list[str]:
    kinds = []
    for policy in props.get("Policies", []):
        assert isinstance(policy, dict), "no managed-policy names or inline wildcards"
        kinds.extend(policy)
    return kinds


def test_no_function_has_a_wider_policy_than_it_needs() -> None:
    # the secret, and its KMS key when a customer-managed one encrypts it (Fn::If)
    secret_only = ["AWSSecretsManagerGetSecretValuePolicy", "Fn::If"]
    expected = {
        "GetProgressFunction": secret_only,
        "GetStatisticsFunction": secret_only,
        # the statement: posting to live connections; polling the attempts queue (no SAM SQS event,
        # which would bring AWS's managed policy on every queue)
        "RecordAttemptsFunction": [*secret_only, "Statement", "SQSPollerPolicy"],
        # its on-failure queue's sqs:SendMessage comes with EventInvokeConfig (SAM), exactly once
        "ArchiveAttemptsFunction": secret_only,
        "LiveTicketFunction": secret_only,
        "LiveConnectFunction": [*secret_only, "Statement"],  # closes the connections it evicts
        "LiveDisconnectFunction": secret_only,
        "MigrateSchemaFunction": secret_only,  # its answer goes to a pre-signed URL: no S3 permission
        "ResetProgressFunction": [*secret_only, "Statement"],  # deletes the learner's export files
        "RequestExportFunction": [*secret_only, "SQSSendMessagePolicy"],  # the export queue
        "ExportWorkerFunction": [*secret_only, "Statement", "SQSPollerPolicy"],  # writes files; the queue
        "GetExportFunction": [*secret_only, "Statement"],  # reads files (the links it signs)
        "EraseUserFunction": [*secret_only, "Statement"],  # deletes files, closes live connections
        "SweepFunction": [*secret_only, "Statement"],  # the attempts queue's depth and age metric
        "SettingsFunction": secret_only,
        "RepairStreakFunction": secret_only,
        "GrantFreezesFunction": secret_only,
    }
    for name, resource in FUNCTIONS.items():
        props = resource["Properties"]
        assert _policy_kinds(props) == expected[name], name
        for policy in props["Policies"]:
            if "AWSSecretsManagerGetSecretValuePolicy" in policy:
                assert policy["AWSSecretsManagerGetSecretValuePolicy"]["SecretArn"] == {"Ref": "DbSecretArn"}
            if "Fn::If" in policy:
                assert policy["Fn::If"] == [
                    "DbSecretUsesCustomerKey",
                    {"Ref": "DbSecretKeyDecryptPolicy"},
                    {"Ref": "AWS::NoValue"},
                ]
    consumer_policies = FUNCTIONS["RecordAttemptsFunction"]["Properties"]["Policies"]
    assert consumer_policies[3] == {
        "SQSPollerPolicy": {"QueueName": {"Fn::GetAtt": ["AttemptsQueue", "QueueName"]}}
    }
    push = FUNCTIONS["RecordAttemptsFunction"]["Properties"]["Policies"][2]["Statement"]
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
    close = FUNCTIONS["LiveConnectFunction"]["Properties"]["Policies"][2]["Statement"]
    assert [(s["Action"], s["Resource"]["Fn::Sub"].rsplit(":", 1)[1]) for s in close] == [
        ("execute-api:ManageConnections", "${LiveApi}/live/DELETE/@connections/*")
    ]
    stage = TEMPLATE["Resources"]["LiveStage"]["Properties"]["StageName"]
    connect_env = FUNCTIONS["LiveConnectFunction"]["Properties"]["Environment"]["Variables"]
    assert connect_env["LIVE_MANAGEMENT_ENDPOINT"]["Fn::Sub"].endswith(f"/{stage}")
    policies = [
        r["Properties"].get("Policies") for r in FUNCTIONS.values() if r is not FUNCTIONS["SweepFunction"]
    ]
    assert "*" not in str(policies).replace("/@connections/*", "").replace("users/*", "")
    sweep = FUNCTIONS["SweepFunction"]["Properties"]["Policies"][2]["Statement"]
    assert [(s["Action"], s["Resource"]) for s in sweep] == [
        ("sqs:GetQueueAttributes", {"Fn::GetAtt": ["AttemptsQueue", "Arn"]}),
        # CloudWatch's metric reads have no resource-level permissions: the one "*" of the stack
        ("cloudwatch:GetMetricData", "*"),
        # the signals: PutEvents on the stack's bus, and no other
        ("events:PutEvents", {"Fn::GetAtt": ["SignalsBus", "Arn"]}),
    ]


def test_queue_visibility_is_six_times_the_consumer_timeout_and_failures_are_reported() -> None:
    consumer = FUNCTIONS["RecordAttemptsFunction"]["Properties"]
    queue = TEMPLATE["Resources"]["AttemptsQueue"]["Properties"]
    assert queue["VisibilityTimeout"] == 6 * consumer["Timeout"]
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["AttemptsDeadLetterQueue", "Arn"]}
    mapping = _event_source_mapping()
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def _event_source_mapping(queue: str = "AttemptsQueue") -> dict:
    """The properties of the template's one event source mapping of that queue (the attempts consumer's)."""
    (mapping,) = [
        r["Properties"]
        for r in TEMPLATE["Resources"].values()
        if r["Type"] == "AWS::Lambda::EventSourceMapping"
        and r["Properties"]["EventSourceArn"] == {"Fn::GetAtt": [queue, "Arn"]}
    ]
    return mapping


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
    assert len(http_functions) == 10, http_functions
    with_snapstart, without_region, switched_off = (
        _deployed("eu-west-1"), _deployed("ap-east-2"), _deployed("eu-west-1", SnapStart="off")
    )  # fmt: skip
    for name in http_functions:
        props = FUNCTIONS[name]["Properties"]
        assert with_snapstart[name]["Properties"]["SnapStart"] == {"ApplyOn": "PublishedVersions"}, name
        # Taipei and New Zealand have no SnapStart: the stack deploys without it rather than fail
        assert "SnapStart" not in without_region[name]["Properties"], name
        assert "SnapStart" not in switched_off[name]["Properties"], name
        # With AutoPublishAlias, SAM points the HttpApi route and its permission at the alias.
        assert props.get("AutoPublishAlias") == "live", name
        assert "register_hooks()" in (ROOT / props["CodeUri"] / "app.py").read_text()
    assert "SnapStart" not in _deployed("ap-southeast-6")[http_functions[0]]["Properties"]


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
    # bounds the connections; a parameter, for accounts whose concurrency quota is still 10
    assert _event_source_mapping()["ScalingConfig"]["MaximumConcurrency"] == {
        "Ref": "ConsumerMaximumConcurrency"
    }
    concurrency = TEMPLATE["Parameters"]["ConsumerMaximumConcurrency"]
    assert (concurrency["MinValue"], concurrency["MaxValue"]) == (2, 1000)  # what Lambda accepts
    assert 2 <= concurrency["Default"] <= 20


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
    for metric in ("DatabaseUnavailable", "BatchesFailed", "AttemptTimezonesNotApplied"):
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


# ---- the roles as deployed: the CloudFormation SAM makes of template.yaml ---------------------------

KEY_ARN = "arn:aws:kms:eu-west-1:123456789012:key/0b6f3a0e-1111-2222-3333-444455556666"
AWS_MANAGED = "arn:aws:iam::aws:policy/"
# What SAM attaches to every function role it makes, and why each keeps a `*` resource:
FUNCTION_ROLE_AWS_MANAGED_POLICIES = {
    # logs:CreateLogGroup/CreateLogStream/PutLogEvents: SAM adds it to every role it creates
    AWS_MANAGED + "service-role/AWSLambdaBasicExecutionRole",
    # Tracing: Active; X-Ray's actions have no resource-level permissions
    AWS_MANAGED + "AWSXrayWriteOnlyAccess",
    # VpcConfig: Lambda manages the functions' network interfaces (EC2 Describe* take no resource)
    AWS_MANAGED + "service-role/AWSLambdaVPCAccessExecutionRole",
}


@functools.cache
def _translated() -> dict[str, Any]:
    return sam_translate(load_template(ROOT / "template.yaml"))


def _deployed(region: str = "eu-west-1", **parameters: str) -> dict[str, dict[str, Any]]:
    """The resources CloudFormation creates in `region` with these parameters (the rest at their
    defaults): conditions evaluated, Fn::If resolved, AWS::NoValue left out."""
    cloudformation = _translated()
    values = StackValues(
        cloudformation, parameter_values(cloudformation, parameters), {"AWS::Region": region}
    )
    return {
        name: choose_conditions(resource, values)
        for name, resource in cloudformation["Resources"].items()
        if "Condition" not in resource or condition_holds(resource["Condition"], values)
    }


def _statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    statements = document["Statement"]
    return statements if isinstance(statements, list) else [statements]


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _arn_text(resource: Any) -> str:
    """A statement's resource as text: a Fn::Sub's pattern (and the values it substitutes), else the value."""
    if isinstance(resource, dict) and "Fn::Sub" in resource:
        pattern = resource["Fn::Sub"]
        if isinstance(pattern, str):
            return pattern
        return " ".join([*map(str, pattern[1].values()), pattern[0]])
    return str(resource)


def _function_roles(resources: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    roles = {}
    for name, resource in resources.items():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        trust = _statements(resource["Properties"]["AssumeRolePolicyDocument"])
        if any("lambda.amazonaws.com" in _listed(s["Principal"].get("Service")) for s in trust):
            roles[name] = resource["Properties"]
    return roles


def _inline_statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for policy in role.get("Policies", []) for s in _statements(policy["PolicyDocument"])]


def test_the_consumer_polls_the_attempts_queue_only_through_one_mapping() -> None:
    resources = _deployed()
    mappings = {name for name, r in resources.items() if r["Type"] == "AWS::Lambda::EventSourceMapping"}
    # the logical id SAM gave the SQS event this mapping replaces: a deployed stack keeps its mapping
    # (Lambda refuses a second mapping of the same queue and function); the other is the export worker's
    assert mappings == {"RecordAttemptsFunctionAttempts", "ExportWorkerFunctionExports"}
    mapping = resources["RecordAttemptsFunctionAttempts"]["Properties"]
    assert mapping["FunctionName"] == {"Ref": "RecordAttemptsFunction"}
    consumer = sqs_consumer(TEMPLATE, ROOT)  # what `serve`'s /local/attempts runs, and its bound
    assert (consumer.function, consumer.queue) == ("RecordAttemptsFunction", "AttemptsQueue")
    assert consumer.batch_size == mapping["BatchSize"] == 10
    assert consumer.code_dir == ROOT / "functions/record_attempts"

    role = _function_roles(resources)["RecordAttemptsFunctionRole"]
    assert (
        set(role["ManagedPolicyArns"]) == FUNCTION_ROLE_AWS_MANAGED_POLICIES
    )  # no AWSLambdaSQSQueueExecutionRole
    polling = [s for s in _inline_statements(role) if any(a.startswith("sqs:") for a in _listed(s["Action"]))]
    assert len(polling) == 1
    assert {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"} <= set(polling[0]["Action"])
    assert polling[0]["Resource"] == {
        "Fn::Sub": [
            "arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:${queueName}",
            {"queueName": {"Fn::GetAtt": ["AttemptsQueue", "QueueName"]}},
        ]
    }


@pytest.mark.parametrize("kms_key", ["", KEY_ARN], ids=["aws-managed key", "customer-managed key"])
def test_no_role_grants_a_wildcard_resource_beyond_what_aws_requires(kms_key: str) -> None:
    resources = _deployed(DbSecretKmsKeyArn=kms_key, ApiGatewayLogRole="create")
    roles = _function_roles(resources)
    assert len(roles) == len(FUNCTIONS)
    for name, role in roles.items():
        aws_managed = {arn for arn in role["ManagedPolicyArns"] if isinstance(arn, str)}
        assert aws_managed == FUNCTION_ROLE_AWS_MANAGED_POLICIES, name
        assert [arn for arn in role["ManagedPolicyArns"] if not isinstance(arn, str)] == (
            [{"Ref": "DbSecretKeyDecryptPolicy"}] if kms_key else []
        ), name
    # every statement of every role and policy of the stack names its resources
    documents = [
        policy["PolicyDocument"]
        for r in resources.values()
        if r["Type"] == "AWS::IAM::Role"
        for policy in r["Properties"].get("Policies", [])
    ] + [
        r["Properties"]["PolicyDocument"]
        for r in resources.values()
        if r["Type"] == "AWS::IAM::ManagedPolicy"
    ]
    assert len(documents) >= len(FUNCTIONS) + 1  # the scheduler's role too
    for document in documents:
        for statement in _statements(document):
            if statement.get("Sid") == "ReadTheAttemptsQueueAgeMetric":
                # cloudwatch:GetMetricData takes no resource (IAM's service authorization reference)
                assert statement["Action"] == "cloudwatch:GetMetricData" and statement["Resource"] == "*"
                continue
            for resource in _listed(statement["Resource"]):
                # the wildcards: any connection of the live stage, any export file (connection ids and
                # export ids are not known ahead)
                arn = _arn_text(resource).removesuffix("/@connections/*")
                assert "*" not in arn.replace("${ExportsBucket.Arn}/users/*", ""), statement
    # the only other role: the account's API Gateway logging role (ApiGatewayLogRole=create)
    others = {
        n: r["Properties"] for n, r in resources.items() if r["Type"] == "AWS::IAM::Role" and n not in roles
    }
    assert others.pop("ApiGatewayLogsRole")["ManagedPolicyArns"] == [
        {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"}
    ]
    # the schedulers' (archival, sweep)
    assert [role.get("ManagedPolicyArns") for role in others.values()] == [None, None]


def test_a_customer_managed_key_of_the_secret_is_decryptable_by_every_reader_of_the_secret() -> None:
    def readers(resources: dict[str, dict[str, Any]]) -> set[str]:
        return {
            name
            for name, role in _function_roles(resources).items()
            if any(
                "secretsmanager:GetSecretValue" in _listed(s["Action"])
                and "DbSecretArn" in str(s["Resource"])
                for s in _inline_statements(role)
            )
        }

    def decrypters(resources: dict[str, dict[str, Any]]) -> set[str]:
        return {
            name
            for name, role in _function_roles(resources).items()
            if {"Ref": "DbSecretKeyDecryptPolicy"} in role["ManagedPolicyArns"]
        }

    with_aws_key = _deployed()
    assert "DbSecretKeyDecryptPolicy" not in with_aws_key
    assert decrypters(with_aws_key) == set() and "kms:" not in str(_function_roles(with_aws_key))
    with_own_key = _deployed(DbSecretKmsKeyArn=KEY_ARN)
    # every function reads the secret, the migration first (during the deploy): each role names the
    # policy, so CloudFormation creates the policy before the role and the role before the function
    assert decrypters(with_own_key) == readers(with_own_key) == {f"{name}Role" for name in FUNCTIONS}
    policy = with_own_key["DbSecretKeyDecryptPolicy"]["Properties"]["PolicyDocument"]
    assert _statements(policy) == [
        {
            "Sid": "DecryptTheDatabaseSecretThroughSecretsManager",
            "Effect": "Allow",
            "Action": "kms:Decrypt",
            "Resource": {"Ref": "DbSecretKmsKeyArn"},
            "Condition": {
                "StringEquals": {"kms:ViaService": {"Fn::Sub": "secretsmanager.${AWS::Region}.amazonaws.com"}}
            },
        }
    ]
    # the parameter takes a key's ARN or nothing: an alias or a key id would match no key in IAM
    pattern = TEMPLATE["Parameters"]["DbSecretKmsKeyArn"]["AllowedPattern"]
    assert TEMPLATE["Parameters"]["DbSecretKmsKeyArn"]["Default"] == ""
    for accepted in ("", KEY_ARN, KEY_ARN.replace("arn:aws:", "arn:aws-us-gov:")):
        assert re.fullmatch(pattern, accepted), accepted
    for refused in ("arn:aws:kms:eu-west-1:123456789012:alias/db", KEY_ARN.rsplit("/", 1)[1], " " + KEY_ARN):
        assert not re.fullmatch(pattern, refused), refused


# ---- issue 24: the learner's own data ---------------------------------------------------------------


def test_the_export_bucket_is_encrypted_private_and_forgets_after_the_retention() -> None:
    from progress_common.exports import EXPORT_RETENTION_DAYS

    bucket = RESOURCES["ExportsBucket"]["Properties"]
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"] == [
        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
    ]
    assert set(bucket["PublicAccessBlockConfiguration"].values()) == {True}
    assert len(bucket["PublicAccessBlockConfiguration"]) == 4
    assert bucket["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    assert "VersioningConfiguration" not in bucket  # erasure's deletes are final
    (rule,) = bucket["LifecycleConfiguration"]["Rules"]
    assert rule["Status"] == "Enabled" and rule["Prefix"] == "users/"
    assert rule["ExpirationInDays"] == EXPORT_RETENTION_DAYS
    assert rule["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}


def test_only_the_export_functions_touch_export_files() -> None:
    statements = {
        s["Sid"]: s for s in RESOURCES["ExportsBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    }
    assert all(s["Effect"] == "Deny" and s["Principal"] == "*" for s in statements.values())
    assert statements["TlsOnly"]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    write, read = statements["OnlyTheExportWorkerWritesFiles"], statements["OnlyTheDownloadLinksReadFiles"]
    assert write["Action"] == "s3:PutObject"
    assert write["Condition"] == {
        "ArnNotEquals": {"aws:PrincipalArn": {"Fn::GetAtt": ["ExportWorkerFunctionRole", "Arn"]}}
    }
    assert read["Action"] == ["s3:GetObject", "s3:GetObjectVersion"]
    assert read["Condition"] == {
        "ArnNotEquals": {"aws:PrincipalArn": {"Fn::GetAtt": ["GetExportFunctionRole", "Arn"]}}
    }
    # which role may do what with the files, after SAM's transform (the roles the bucket policy names exist)
    resources = _deployed()
    s3_actions: dict[str, set[str]] = {}
    for name, role in _function_roles(resources).items():
        for statement in _inline_statements(role):
            actions = {a for a in _listed(statement["Action"]) if a.startswith("s3:")}
            if actions:
                assert "ExportsBucket" in str(statement["Resource"]), (name, statement)
                s3_actions.setdefault(name, set()).update(actions)
    assert s3_actions == {
        "ExportWorkerFunctionRole": {"s3:PutObject", "s3:AbortMultipartUpload", "s3:DeleteObject"},
        "GetExportFunctionRole": {"s3:GetObject"},
        "EraseUserFunctionRole": {"s3:ListBucket", "s3:DeleteObject"},
        "ResetProgressFunctionRole": {"s3:ListBucket", "s3:DeleteObject"},
    }
    for name in ("EraseUserFunction", "ResetProgressFunction"):
        (listing,) = [
            s
            for s in FUNCTIONS[name]["Properties"]["Policies"][2]["Statement"]
            if s["Action"] == "s3:ListBucket"
        ]
        assert listing["Condition"] == {"StringLike": {"s3:prefix": "users/*"}}, name
        assert FUNCTIONS[name]["Properties"]["Environment"]["Variables"]["EXPORT_BUCKET"] == {
            "Ref": "ExportsBucket"
        }


def test_the_worker_is_fed_by_its_queue_in_bounded_numbers_and_never_outlives_an_export() -> None:
    from progress_common.exports import EXPORT_STALE_SECONDS

    worker = FUNCTIONS["ExportWorkerFunction"]["Properties"]
    queue = RESOURCES["ExportQueue"]["Properties"]
    mapping = _event_source_mapping("ExportQueue")
    assert mapping["FunctionName"] == {"Ref": "ExportWorkerFunction"} and mapping["BatchSize"] == 1
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["ScalingConfig"]["MaximumConcurrency"] == 2  # exports at once against the database
    assert queue["VisibilityTimeout"] == 6 * worker["Timeout"]
    # a redelivery after a worker died still ends before the export reads "timed_out"
    retries = queue["RedrivePolicy"]["maxReceiveCount"] - 1
    assert worker["Timeout"] + retries * queue["VisibilityTimeout"] <= EXPORT_STALE_SECONDS
    assert queue["MessageRetentionPeriod"] <= EXPORT_STALE_SECONDS  # older messages name stale exports
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["ExportDeadLetterQueue", "Arn"]}
    assert _queue_alarm("ExportDeadLetterQueue")["Threshold"] == 1
    consumer = sqs_consumer(TEMPLATE, ROOT, queue="ExportQueue")
    assert consumer.function == "ExportWorkerFunction" and consumer.batch_size == 1
    request = FUNCTIONS["RequestExportFunction"]["Properties"]
    assert request["Environment"]["Variables"]["EXPORT_QUEUE_URL"] == {"Ref": "ExportQueue"}
    assert request["Policies"][2] == {
        "SQSSendMessagePolicy": {"QueueName": {"Fn::GetAtt": ["ExportQueue", "QueueName"]}}
    }
    endpoint = RESOURCES["SqsEndpoint"]
    assert (
        endpoint["Condition"] == "CreateSqsInterfaceEndpoint" and endpoint["Properties"]["PrivateDnsEnabled"]
    )


def test_erasure_has_its_own_scope_on_the_route_and_in_the_function() -> None:
    from progress_common.settings import ExportSettings

    erase = FUNCTIONS["EraseUserFunction"]["Properties"]
    auth = erase["Events"]["Api"]["Properties"]["Auth"]
    assert auth == {"Authorizer": "JwtAuthorizer", "AuthorizationScopes": [{"Ref": "EraseScope"}]}
    assert erase["Environment"]["Variables"]["ERASE_SCOPE"] == {"Ref": "EraseScope"}
    assert (
        TEMPLATE["Parameters"]["EraseScope"]["Default"] == ExportSettings.model_fields["erase_scope"].default
    )
    # the learner's routes have no scope: their access tokens need none
    for name, function in FUNCTIONS.items():
        for event in (function["Properties"].get("Events") or {}).values():
            if event["Type"] == "HttpApi" and name not in ("EraseUserFunction", "GrantFreezesFunction"):
                assert "Auth" not in event["Properties"], name
    for metric in ("ExportsFailed", "ExportUnavailable", "ExportFilesLeft"):
        assert _alarm_on(metric)["Threshold"] == 1
        assert f'name="{metric}"' in "".join(p.read_text() for p in LAYER.glob("*.py")), metric


# ---- issue 23: settled days ---------------------------------------------------------------------------


def test_the_sweep_runs_every_minute_reads_the_attempts_queue_and_has_its_alarms() -> None:
    from progress_common.settings import IngestSettings

    sweep = FUNCTIONS["SweepFunction"]["Properties"]
    schedule = sweep["Events"]["EveryMinute"]
    assert schedule["Type"] == "ScheduleV2"
    assert schedule["Properties"]["ScheduleExpression"] == "rate(1 minute)"
    # a stale sweep is not retried: the next minute's is the retry
    assert schedule["Properties"]["RetryPolicy"]["MaximumRetryAttempts"] == 0
    assert sweep["EventInvokeConfig"]["MaximumRetryAttempts"] == 0
    assert sweep["Timeout"] < 60
    env = sweep["Environment"]["Variables"]
    assert env["ATTEMPTS_QUEUE_URL"] == {"Ref": "AttemptsQueue"}
    assert env["INGEST_MAX_DELAY_SECONDS"] == {"Ref": "IngestMaxDelaySeconds"}
    delay = TEMPLATE["Parameters"]["IngestMaxDelaySeconds"]
    field = IngestSettings.model_fields["ingest_max_delay_seconds"]
    assert (delay["MinValue"], delay["MaxValue"], delay["Default"]) == (0, 900, field.default)
    # the sweep reaches CloudWatch from the private subnets
    endpoint = RESOURCES["MonitoringEndpoint"]
    assert endpoint["Condition"] == "CreateMonitoringInterfaceEndpoint"
    assert endpoint["Properties"]["ServiceName"] == {"Fn::Sub": "com.amazonaws.${AWS::Region}.monitoring"}
    assert endpoint["Properties"]["PrivateDnsEnabled"] is True
    layer_source = "".join(p.read_text() for p in LAYER.glob("*.py"))
    for metric in ("IngestIncidentOpen", "AttemptHoldsNotRecorded"):
        assert _alarm_on(metric)["Threshold"] == 1
        assert f'name="{metric}"' in layer_source, metric
    assert _alarm_on("IngestIncidentOpen")["Statistic"] == "Maximum"
    errors = [
        r["Properties"]
        for r in RESOURCES.values()
        if r["Type"] == "AWS::CloudWatch::Alarm"
        and r["Properties"].get("Dimensions") == [{"Name": "FunctionName", "Value": {"Ref": "SweepFunction"}}]
    ]
    assert [a["MetricName"] for a in errors] == ["Errors"]


def test_the_sweep_publishes_signals_to_the_stacks_own_bus_only_and_an_alarm_watches_failures() -> None:
    from progress_common import signals_publish

    bus = RESOURCES["SignalsBus"]
    assert bus["Type"] == "AWS::Events::EventBus"
    assert bus["Properties"]["Name"] == {"Fn::Sub": "${AWS::StackName}-signals"}
    sweep = FUNCTIONS["SweepFunction"]["Properties"]
    assert sweep["Environment"]["Variables"]["EVENT_BUS_NAME"] == {"Ref": "SignalsBus"}
    # the only events:* permission of the stack: PutEvents, on that bus's ARN
    grants = [
        (name, statement)
        for name, resource in FUNCTIONS.items()
        for policy in resource["Properties"].get("Policies", [])
        if isinstance(policy, dict) and "Statement" in policy
        for statement in policy["Statement"]
        if "events:" in str(statement.get("Action"))
    ]
    assert grants == [
        (
            "SweepFunction",
            {
                "Sid": "PublishSignalsToTheBus",
                "Effect": "Allow",
                "Action": "events:PutEvents",
                "Resource": {"Fn::GetAtt": ["SignalsBus", "Arn"]},
            },
        )
    ]
    # after SAM: the role's statement names the bus's ARN, nothing wider
    roles = _function_roles(_deployed())
    statements = [
        statement
        for policy in roles["SweepFunctionRole"].get("Policies", [])
        for statement in _statements(policy["PolicyDocument"])
        if statement.get("Sid") == "PublishSignalsToTheBus"
    ]
    assert [(s["Action"], s["Resource"]) for s in statements] == [
        ("events:PutEvents", {"Fn::GetAtt": ["SignalsBus", "Arn"]})
    ]
    # the failures the publisher counts raise an alarm that reaches the topic
    alarm = _alarm_on("SignalsPublishFailed")
    assert alarm["Namespace"] == "ProgressService" and alarm["Threshold"] == 1
    assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    layer_source = (LAYER / "signals_publish.py").read_text()
    for metric in ("SignalsPublished", "SignalsPublishFailed"):
        assert f'name="{metric}"' in layer_source, metric
    # the source the docs and the example rule name is the publisher's
    assert signals_publish.EVENT_SOURCE == "progress.service"
    assert signals_publish.EVENT_SOURCE in TEMPLATE_TEXT
    outputs = TEMPLATE["Outputs"]
    assert outputs["SignalsBusArn"]["Value"] == {"Fn::GetAtt": ["SignalsBus", "Arn"]}
    # the sweep reaches EventBridge from the private subnets (unless the VPC does already)
    endpoint = RESOURCES["EventsEndpoint"]
    assert endpoint["Condition"] == "CreateEventsInterfaceEndpoint"
    assert endpoint["Properties"]["ServiceName"] == {"Fn::Sub": "com.amazonaws.${AWS::Region}.events"}
    assert endpoint["Properties"]["PrivateDnsEnabled"] is True
    assert TEMPLATE["Parameters"]["CreateEventsEndpoint"]["Default"] == "true"
    assert "EventsEndpoint" not in _deployed(CreateEventsEndpoint="false")


# ---- issue 22: keeping a streak -----------------------------------------------------------------------

STREAK_PARAMETERS = {
    "FreezeMaxHeld": "freeze_max_held",
    "FreezeStarter": "freeze_starter",
    "FreezeEarnEvery": "freeze_earn_every",
    "RepairWindowDays": "repair_window_days",
    "RepairMaxGapDays": "repair_max_gap_days",
    "RepairEveryDays": "repair_every_days",
    "RepairAttempts": "repair_attempts",
    "DailyGoal": "daily_goal",
}


def test_the_streak_limits_reach_the_migration_and_a_change_runs_it_again() -> None:
    from progress_common.settings import StreakSettings

    parameters = TEMPLATE["Parameters"]
    migrate_env = FUNCTIONS["MigrateSchemaFunction"]["Properties"]["Environment"]["Variables"]
    migration = RESOURCES["SchemaMigration"]["Properties"]
    for parameter, field_name in STREAK_PARAMETERS.items():
        field = StreakSettings.model_fields[field_name]
        bounds = {type(m).__name__: getattr(m, type(m).__name__.lower()) for m in field.metadata}
        declared = parameters[parameter]
        assert (declared["Default"], declared["MinValue"], declared["MaxValue"]) == (
            field.default,
            bounds["Ge"],
            bounds["Le"],
        ), parameter
        assert migrate_env[field_name.upper()] == {"Ref": parameter}
        # a property of the custom resource: CloudFormation sends Update (the migration stores them) on a change
        assert migration[parameter] == {"Ref": parameter}
    # the limits live in streak_config: no HTTP function reads them from its environment
    for name, function in FUNCTIONS.items():
        if name != "MigrateSchemaFunction":
            variables = (function["Properties"].get("Environment") or {}).get("Variables") or {}
            assert not {p.upper() for p in STREAK_PARAMETERS.values()} & set(variables), name


def test_freeze_grants_have_their_own_scope_on_the_route_and_in_the_function() -> None:
    from progress_common.settings import StreakSettings

    grant = FUNCTIONS["GrantFreezesFunction"]["Properties"]
    auth = grant["Events"]["Api"]["Properties"]["Auth"]
    assert auth == {"Authorizer": "JwtAuthorizer", "AuthorizationScopes": [{"Ref": "GrantScope"}]}
    assert grant["Environment"]["Variables"]["GRANT_SCOPE"] == {"Ref": "GrantScope"}
    assert (
        TEMPLATE["Parameters"]["GrantScope"]["Default"] == StreakSettings.model_fields["grant_scope"].default
    )
    # a browser sends PUT /progress/settings: the API's CORS allows it
    assert "PUT" in RESOURCES["ProgressApi"]["Properties"]["CorsConfiguration"]["AllowMethods"]


def test_the_streak_routes_are_not_served_by_the_learners_get_functions() -> None:
    """Settings, repair and grants have functions of their own: the GET functions import none of their code."""
    for folder in ("get_progress", "get_statistics"):
        source = (ROOT / "functions" / folder / "app.py").read_text()
        assert "streak_routes" not in source and "streak_keeping" not in source
    for module in ("routes.py", "queries.py", "models.py"):
        source = (LAYER / module).read_text()
        assert "streak_routes" not in source and "streak_keeping" not in source, module
    for name in ("SettingsFunction", "RepairStreakFunction", "GrantFreezesFunction"):
        errors = [
            r["Properties"]
            for r in RESOURCES.values()
            if r["Type"] == "AWS::CloudWatch::Alarm"
            and any(
                m.get("MetricStat", {}).get("Metric", {}).get("Dimensions")
                == [{"Name": "FunctionName", "Value": {"Ref": name}}]
                for m in r["Properties"].get("Metrics", [])
            )
        ]
        assert sorted(m["Metrics"][1]["MetricStat"]["Metric"]["MetricName"] for m in errors) == [
            "Errors",
            "Throttles",
        ], name
