"""Reading template.yaml: CloudFormation tags, the functions, and the HTTP routes they serve."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

TEMPLATE_PATH = Path("template.yaml")


class _CfnLoader(yaml.SafeLoader):
    """A SafeLoader that keeps CloudFormation short-form tags (!Ref, !Sub, !GetAtt, …) as {"Fn": value}."""


def _cfn_tag(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if tag_suffix == "Ref" else f"Fn::{tag_suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if tag_suffix == "GetAtt" and isinstance(value, str):
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:
        raise yaml.constructor.ConstructorError(
            None, None, f"unexpected node for !{tag_suffix}", node.start_mark
        )
    return {name: value}


_CfnLoader.add_multi_constructor("!", _cfn_tag)


def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        document: dict[str, Any] = yaml.load(handle, Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass
    return document


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    function: str  # logical id
    code_dir: Path  # folder of app.py
    handler: str  # "app.lambda_handler"


def functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: resource
        for name, resource in template["Resources"].items()
        if resource.get("Type") == "AWS::Serverless::Function"
    }


def http_routes(template: dict[str, Any], root: Path = Path()) -> list[Route]:
    """Every HttpApi event of every function, as (method, path) -> function."""
    routes = []
    for name, resource in functions(template).items():
        props = resource["Properties"]
        for event in (props.get("Events") or {}).values():
            if event.get("Type") != "HttpApi":
                continue
            routes.append(
                Route(
                    method=event["Properties"]["Method"].upper(),
                    path=event["Properties"]["Path"],
                    function=name,
                    code_dir=root / props["CodeUri"],
                    handler=props["Handler"],
                )
            )
    return routes


@dataclass(frozen=True)
class FunctionRef:
    function: str  # logical id
    code_dir: Path
    handler: str


@dataclass(frozen=True)
class WebSocketRoute(FunctionRef):
    route_key: str  # "$connect", "$disconnect", ...


def _function_ref(template: dict[str, Any], name: str, root: Path) -> FunctionRef:
    props = template["Resources"][name]["Properties"]
    return FunctionRef(name, root / props["CodeUri"], props["Handler"])


def websocket_routes(template: dict[str, Any], root: Path = Path()) -> list[WebSocketRoute]:
    """Every route of a WebSocket API, with the function its Lambda proxy integration invokes."""
    import re

    resources = template["Resources"]
    websocket_apis = {
        name
        for name, resource in resources.items()
        if resource.get("Type") == "AWS::ApiGatewayV2::Api"
        and resource["Properties"].get("ProtocolType") == "WEBSOCKET"
    }
    routes = []
    for resource in resources.values():
        props = resource.get("Properties") or {}
        if resource.get("Type") != "AWS::ApiGatewayV2::Route" or props.get("ApiId") not in [
            {"Ref": api} for api in websocket_apis
        ]:
            continue
        target = props["Target"]["Fn::Sub"]  # integrations/${SomeIntegration}
        integration = resources[re.fullmatch(r"integrations/\$\{(\w+)\}", target).group(1)]  # type: ignore[union-attr]
        uri = integration["Properties"]["IntegrationUri"]["Fn::Sub"]
        function = re.search(r"\$\{(\w+)\.Arn\}", uri).group(1)  # type: ignore[union-attr]
        ref = _function_ref(template, function, root)
        routes.append(WebSocketRoute(ref.function, ref.code_dir, ref.handler, props["RouteKey"]))
    return routes


def sqs_consumer(template: dict[str, Any], root: Path = Path()) -> FunctionRef:
    """The function with an SQS event source (the attempts consumer)."""
    for name, resource in functions(template).items():
        events = (resource["Properties"].get("Events") or {}).values()
        if any(event.get("Type") == "SQS" for event in events):
            return _function_ref(template, name, root)
    raise LookupError("template.yaml has no function with an SQS event")
