"""The CI harness that runs the built artifact under python3.13/aarch64 (scripts/artifact_smoke.py) covers
every function of the template, each with the answer it must give, and gives each the environment a
deploy would (parameters at their defaults, the secret, no DATABASE_URL)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

from progress_admin.local.template import functions, load_template

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = load_template(ROOT / "template.yaml")


@pytest.fixture(scope="module")
def smoke() -> ModuleType:
    spec = importlib.util.spec_from_file_location("artifact_smoke", ROOT / "scripts/artifact_smoke.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_sample_event_has_a_kind_with_a_required_answer(smoke: ModuleType) -> None:
    kinds = {}
    for name, resource in functions(TEMPLATE).items():
        event = json.loads(
            (ROOT / "events" / f"{Path(resource['Properties']['CodeUri']).name}.json").read_text()
        )
        kinds[name] = smoke.event_kind(event)
    assert kinds["GetProgressFunction"] == kinds["ResetProgressFunction"] == "http"
    assert kinds["RecordAttemptsFunction"] == "sqs"
    if "MigrateSchemaFunction" in kinds:
        assert kinds["MigrateSchemaFunction"] == "custom-resource"


def test_each_function_gets_the_secret_and_the_template_values_not_a_database_url(smoke: ModuleType) -> None:
    for name in functions(TEMPLATE):
        env = smoke.function_environment(TEMPLATE, name, {"DbSecretArn": "arn:secret"})
        assert env["DB_SECRET_ARN"] == "arn:secret", name
        assert "DATABASE_URL" not in env
        assert env["POWERTOOLS_SERVICE_NAME"] == "progress"
    archive = smoke.function_environment(TEMPLATE, "ArchiveAttemptsFunction", {})
    assert archive["ARCHIVE_RETENTION_DAYS"] == str(TEMPLATE["Parameters"]["ArchiveRetentionDays"]["Default"])


def test_sub_values_resolve_with_pseudo_parameters_and_resource_names(smoke: ModuleType) -> None:
    from progress_admin.local.intrinsics import Unresolvable, resolve

    values = smoke.deployed_values(TEMPLATE, {})
    value = {"Fn::Sub": "wss://${LiveApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/${LiveStage}"}
    assert resolve(value, values) == "wss://liveapi.execute-api.eu-west-1.amazonaws.com/livestage"
    for only_aws in ({"Ref": "Missing"}, {"Fn::GetAtt": ["AttemptsQueue", "Arn"]}):
        with pytest.raises(Unresolvable):
            resolve(only_aws, values)
