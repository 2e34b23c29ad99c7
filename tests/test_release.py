"""Every release reaches every route, and a stack is safe to keep: what CloudFormation receives from SAM's
own translator when only the layer changes, and the template's week-one guard rails (alarms, kept data)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from progress_admin.local.template import functions, http_routes, load_template
from tests.helpers import sam_translate

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = load_template(ROOT / "template.yaml")
ALIASED = sorted(name for name, f in functions(TEMPLATE).items() if "AutoPublishAlias" in f["Properties"])


@functools.cache
def _release(layer_location: str) -> dict[str, dict[str, Any]]:
    return sam_translate(TEMPLATE, layer_location=layer_location)["Resources"]


def _of_type(resources: dict[str, dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in resources.items() if r["Type"] == kind}


def _version_of(resources: dict[str, dict[str, Any]], function: str) -> str:
    (name,) = (
        n
        for n, r in _of_type(resources, "AWS::Lambda::Version").items()
        if r["Properties"]["FunctionName"] == {"Ref": function}
    )
    return name


def test_every_http_function_is_behind_an_alias() -> None:
    assert sorted({route.function for route in http_routes(TEMPLATE)}) == ALIASED


def test_a_release_that_changes_only_the_layer_publishes_a_new_version_of_every_aliased_function() -> None:
    first, second = _release("s3://artifacts/layer-a.zip"), _release("s3://artifacts/layer-b.zip")
    assert len(ALIASED) >= 4
    for function in ALIASED:
        before, after = _version_of(first, function), _version_of(second, function)
        # a new logical id is a new AWS::Lambda::Version: CloudFormation publishes it (SnapStart takes a
        # snapshot with the new layer) and moves the alias `live`, which the routes invoke, onto it
        assert before != after, function
        (alias,) = (
            r
            for r in _of_type(second, "AWS::Lambda::Alias").values()
            if r["Properties"]["FunctionName"] == {"Ref": function}
        )
        assert alias["Properties"]["FunctionVersion"] == {"Fn::GetAtt": [after, "Version"]}
    # the layer itself is a new version, and every function is pointed at it
    (layer_a,), (layer_b,) = (
        _of_type(first, "AWS::Lambda::LayerVersion"),
        _of_type(second, "AWS::Lambda::LayerVersion"),
    )
    assert layer_a != layer_b
    for function in functions(TEMPLATE):
        assert second[function]["Properties"]["Layers"] == [{"Ref": layer_b}], function


def test_a_layer_only_release_replaces_nothing_that_holds_data_or_connections() -> None:
    first, second = _release("s3://artifacts/layer-a.zip"), _release("s3://artifacts/layer-b.zip")
    changed = {n for n in first.keys() & second.keys() if first[n] != second[n]}
    # the same logical id with other properties is an update in place; a resource only in one of them is
    # replaced. What may differ: the layer, the versions and what points at them (aliases, functions'
    # Layers, and the permissions and integrations of the routes that name the alias).
    replaced = first.keys() ^ second.keys()
    for kind in ("AWS::Lambda::LayerVersion", "AWS::Lambda::Version"):
        replaced -= set(_of_type(first, kind)) | set(_of_type(second, kind))
    assert replaced == set()
    for name in (
        "AttemptsQueue",
        "AttemptsDeadLetterQueue",
        "ArchiveFailureQueue",
        "DbSecretKeyDecryptPolicy",
        "SecretsManagerEndpoint",
        "LiveApi",
        "LiveStage",
        "LiveConnectRoute",
        "ProgressApi",
        "SchemaMigration",
        "ExportsBucket",
    ):
        assert name in first and name not in changed, name
    assert changed <= set(functions(TEMPLATE)) | set(_of_type(first, "AWS::Lambda::Alias")), changed


def test_replaced_versions_and_layer_versions_are_deleted_not_piled_up() -> None:
    resources = _release("s3://artifacts/layer-a.zip")
    versions = _of_type(resources, "AWS::Lambda::Version")
    assert len(versions) == len(ALIASED)
    assert {r.get("DeletionPolicy") for r in versions.values()} == {"Delete"}
    (layer,) = _of_type(resources, "AWS::Lambda::LayerVersion").values()
    assert layer.get("DeletionPolicy") == "Delete"


def test_whatever_holds_data_outlives_the_stack_and_a_replacement() -> None:
    for name in ("AttemptsQueue", "AttemptsDeadLetterQueue", "ArchiveFailureQueue", "ExportDeadLetterQueue"):
        resource = TEMPLATE["Resources"][name]
        assert (resource.get("DeletionPolicy"), resource.get("UpdateReplacePolicy")) == (
            "Retain",
            "Retain",
        ), name


def _throttled_functions(alarm: dict[str, Any]) -> set[str]:
    functions_in: set[str] = set()
    for query in alarm["Properties"]["Metrics"]:
        metric = query.get("MetricStat", {}).get("Metric")
        if metric:
            assert (metric["Namespace"], metric["MetricName"]) == ("AWS/Lambda", "Throttles")
            ((dimension,),) = [metric["Dimensions"]]
            functions_in.add(dimension["Value"]["Ref"])
    return functions_in


def test_every_function_is_watched_for_throttles() -> None:
    alarms = {
        name: r
        for name, r in TEMPLATE["Resources"].items()
        if r["Type"] == "AWS::CloudWatch::Alarm" and "Throttles" in str(r["Properties"].get("Metrics", ""))
    }
    watched: list[str] = []
    for alarm in alarms.values():
        assert len(alarm["Properties"]["Metrics"]) <= 10  # what an alarm's metric math takes
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}]
        watched += _throttled_functions(alarm)
    assert sorted(watched) == sorted(functions(TEMPLATE))  # each once


def test_writes_falling_behind_and_live_pushes_not_delivered_raise_alarms() -> None:
    resources = TEMPLATE["Resources"]
    backlog = resources["AttemptsQueueBacklogAlarm"]["Properties"]
    assert (backlog["Namespace"], backlog["MetricName"]) == ("AWS/SQS", "ApproximateAgeOfOldestMessage")
    assert backlog["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": ["AttemptsQueue", "QueueName"]}}
    ]
    assert backlog["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    pushes = resources["LivePushesFailingAlarm"]["Properties"]
    names = {
        q["MetricStat"]["Metric"]["MetricName"]: q["MetricStat"]["Metric"]
        for q in pushes["Metrics"]
        if "MetricStat" in q
    }
    assert set(names) == {"LivePushesFailed", "LivePushesSkipped"}
    for metric in names.values():
        # the namespace and dimension the layer's Powertools Metrics publish under
        assert metric["Namespace"] == "ProgressService"
        assert metric["Dimensions"] == [{"Name": "service", "Value": "progress"}]
    assert TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]["POWERTOOLS_METRICS_NAMESPACE"] == (
        "ProgressService"
    )
    assert pushes["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    layer = (ROOT / "layers/common/progress_common").rglob("*.py")
    code = "".join(p.read_text() for p in layer)
    assert '"LivePushesFailed"' in code and '"LivePushesSkipped"' in code


def test_the_migration_runs_once_per_request_and_again_when_its_database_changes() -> None:
    resources = TEMPLATE["Resources"]
    assert resources["MigrateSchemaFunction"]["Properties"]["EventInvokeConfig"] == {
        "MaximumRetryAttempts": 0
    }
    properties = resources["SchemaMigration"]["Properties"]
    assert {properties[p]["Ref"] for p in ("DbSecretArn", "DbHost", "DbName")} == {
        "DbSecretArn",
        "DbHost",
        "DbName",
    }


def test_the_account_wide_logging_role_is_left_alone_unless_asked() -> None:
    parameter = TEMPLATE["Parameters"]["ApiGatewayLogRole"]
    assert parameter["Default"] == "existing"
    assert set(parameter["AllowedValues"]) == {"existing", "create"}
    assert TEMPLATE["Resources"]["ApiGatewayAccount"]["Condition"] == "CreateApiGatewayLogRole"
