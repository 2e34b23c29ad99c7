"""The one resolver of CloudFormation intrinsic functions (progress_admin/local/intrinsics.py): what serve
resolves locally, what the artifact smoke resolves as a deploy would, and what only AWS can know."""

from __future__ import annotations

import pytest

from progress_admin.local.intrinsics import (
    NO_VALUE,
    StackValues,
    Unresolvable,
    choose_conditions,
    condition_holds,
    local_values,
    resolve,
)

TEMPLATE = {
    "Parameters": {
        "Stage": {"Type": "String", "Default": "live"},
        "Host": {"Type": "String", "Default": ""},
        "Origins": {"Type": "CommaDelimitedList", "Default": ["a", "b"]},
        "Secret": {"Type": "String"},
    },
    "Conditions": {
        "HasHost": {"Fn::Not": [{"Fn::Equals": [{"Ref": "Host"}, ""]}]},
        "IsLive": {"Fn::Equals": [{"Ref": "Stage"}, "live"]},
        "Both": {"Fn::And": [{"Condition": "HasHost"}, {"Condition": "IsLive"}]},
        "Either": {"Fn::Or": [{"Condition": "HasHost"}, {"Condition": "IsLive"}]},
    },
    "Resources": {"Api": {"Type": "AWS::ApiGatewayV2::Api"}},
}


def test_serve_resolves_parameters_and_conditions_and_nothing_of_aws() -> None:
    values = local_values(TEMPLATE)
    assert resolve({"Ref": "Stage"}, values) == "live"
    assert resolve(7, values) == "7" and resolve(True, values) == "true"
    assert resolve({"Fn::Sub": "wss://x/${Stage}/${!Literal}"}, values) == "wss://x/live/${Literal}"
    assert resolve({"Fn::Sub": ["${A}-${Stage}", {"A": {"Ref": "Stage"}}]}, values) == "live-live"
    assert resolve({"Fn::Join": ["|", {"Ref": "Origins"}]}, values) == "a|b"  # a list parameter's items
    assert resolve({"Fn::Join": ["|", ["x", {"Ref": "Stage"}]]}, values) == "x|live"
    assert resolve({"Fn::If": ["HasHost", {"Ref": "Host"}, {"Ref": "AWS::NoValue"}]}, values) is NO_VALUE
    assert [condition_holds(c, values) for c in ("HasHost", "IsLive", "Both", "Either")] == [
        False,
        True,
        False,
        True,
    ]
    for only_aws in (
        {"Ref": "Secret"},  # no Default, no override
        {"Ref": "Api"},  # a resource's name
        {"Fn::Sub": "${AWS::Region}"},
        {"Fn::GetAtt": ["Api", "ApiEndpoint"]},
        {"Fn::Sub": "${Api.ApiEndpoint}"},
    ):
        with pytest.raises(Unresolvable):
            resolve(only_aws, values)


def test_overrides_win_and_must_name_a_parameter() -> None:
    values = local_values(TEMPLATE, {"Host": "db", "Secret": "arn:s"})
    assert resolve({"Ref": "Secret"}, values) == "arn:s" and condition_holds("Both", values)
    with pytest.raises(ValueError, match="no parameter 'Nope'"):
        local_values(TEMPLATE, {"Nope": "x"})


def test_stand_ins_for_what_aws_names_resolve_as_a_deploy_would() -> None:
    values = StackValues(
        TEMPLATE,
        local_values(TEMPLATE).parameters,
        {"AWS::Region": "eu-west-1"},
        resource_names_stand_in=True,
    )
    assert (
        resolve({"Fn::Sub": "https://${Api}.${AWS::Region}/${Stage}"}, values) == "https://api.eu-west-1/live"
    )
    with pytest.raises(Unresolvable):  # an attribute stays AWS's
        resolve({"Fn::Sub": "${Api.ApiEndpoint}"}, values)


def test_choose_conditions_keeps_what_aws_resolves_and_drops_no_value() -> None:
    node = {
        "A": {"Fn::If": ["IsLive", {"Ref": "Api"}, "other"]},
        "B": {"Fn::If": ["HasHost", "x", {"Ref": "AWS::NoValue"}]},
        "C": [{"Fn::If": ["HasHost", "y", {"Ref": "AWS::NoValue"}]}, {"Fn::GetAtt": ["Api", "Arn"]}],
    }
    assert choose_conditions(node, local_values(TEMPLATE)) == {
        "A": {"Ref": "Api"},
        "C": [{"Fn::GetAtt": ["Api", "Arn"]}],
    }
