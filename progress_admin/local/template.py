"""Reading template.yaml: CloudFormation tags, the functions and their environment, the routes of the HTTP
and WebSocket APIs, the SQS consumer, the HTTP API's CORS configuration. Values go through the one
resolver of intrinsic functions (progress_admin/local/intrinsics.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from progress_admin.local.intrinsics import NO_VALUE, StackValues, Unresolvable, as_text, resolve

TEMPLATE_PATH = Path("template.yaml")


try:  # libyaml's parser, which PyYAML's wheels have: the same documents, several times faster
    from yaml import CSafeLoader as _SafeLoader
except ImportError:  # pragma: no cover - a PyYAML built without libyaml
    from yaml import SafeLoader as _SafeLoader  # type: ignore[assignment]


class _CfnLoader(_SafeLoader):
    """A safe loader that keeps CloudFormation short-form tags (!Ref, !Sub, !GetAtt, …) as {"Fn": value}."""


def _cfn_tag(loader: _SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    # !Ref and !Condition have no Fn:: in their long form
    name = tag_suffix if tag_suffix in ("Ref", "Condition") else f"Fn::{tag_suffix}"
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


def function_timeout(template: dict[str, Any], function: str) -> float:
    """The function's Timeout in seconds (its own, else the Globals', else Lambda's default 3 s)."""
    default = (template.get("Globals") or {}).get("Function", {}).get("Timeout", 3)
    return float(template["Resources"][function]["Properties"].get("Timeout", default))


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


@dataclass(frozen=True)
class SqsConsumer(FunctionRef):
    queue: str  # logical id of the queue
    batch_size: int  # the most messages one invocation gets


SQS_DEFAULT_BATCH_SIZE = 10  # Lambda's, for an SQS event source mapping without BatchSize


def sqs_consumer(template: dict[str, Any], root: Path = Path(), queue: str = "AttemptsQueue") -> SqsConsumer:
    """The function an AWS::Lambda::EventSourceMapping feeds from the SQS queue `queue` of the template
    (by default the attempts consumer), with the mapping's batch size."""
    found = [consumer for consumer in sqs_consumers(template, root) if consumer.queue == queue]
    if len(found) != 1:
        raise LookupError(
            f"template.yaml has {len(found)} SQS event source mappings of {queue}, expected one"
        )
    return found[0]


def sqs_consumers(template: dict[str, Any], root: Path = Path()) -> list[SqsConsumer]:
    """Every function an AWS::Lambda::EventSourceMapping feeds from an SQS queue of the template."""
    resources = template["Resources"]
    found = []
    for resource in resources.values():
        if resource.get("Type") != "AWS::Lambda::EventSourceMapping":
            continue
        props = resource["Properties"]
        source = props.get("EventSourceArn")
        if not (isinstance(source, dict) and list(source.get("Fn::GetAtt", ()))[1:] == ["Arn"]):
            continue
        queue = source["Fn::GetAtt"][0]
        if resources.get(queue, {}).get("Type") != "AWS::SQS::Queue":
            continue
        ref = _function_ref(template, props["FunctionName"]["Ref"], root)
        batch_size = int(props.get("BatchSize", SQS_DEFAULT_BATCH_SIZE))
        found.append(SqsConsumer(ref.function, ref.code_dir, ref.handler, queue, batch_size))
    return found


@dataclass(frozen=True)
class FunctionEnvironment:
    variables: dict[str, str]  # resolved locally
    left_out: tuple[str, ...]  # names only AWS can supply


def function_environment(template: dict[str, Any], function: str, values: StackValues) -> FunctionEnvironment:
    """The environment variables a function gets: Globals then its own, as `sam local` applies them,
    with what only AWS can resolve left out."""
    merged = {
        **((template.get("Globals") or {}).get("Function", {}).get("Environment", {}).get("Variables") or {}),
        **(template["Resources"][function]["Properties"].get("Environment", {}).get("Variables") or {}),
    }
    variables: dict[str, str] = {}
    left_out: list[str] = []
    for name, raw in merged.items():
        try:
            value = resolve(raw, values)
        except Unresolvable:
            left_out.append(name)
            continue
        if value is not NO_VALUE:
            variables[name] = as_text(value)
    return FunctionEnvironment(variables, tuple(left_out))


@dataclass(frozen=True)
class CorsConfiguration:
    """An HTTP API's CorsConfiguration with its origins resolved to local values."""

    allow_origins: tuple[str, ...]
    allow_methods: tuple[str, ...]
    allow_headers: tuple[str, ...]
    expose_headers: tuple[str, ...]
    max_age: int | None
    allow_credentials: bool

    def allows(self, origin: str) -> bool:
        return "*" in self.allow_origins or origin in self.allow_origins

    def origin_header(self, origin: str) -> str:
        return "*" if "*" in self.allow_origins and not self.allow_credentials else origin


def cors_configuration(template: dict[str, Any], values: StackValues) -> CorsConfiguration | None:
    """The CorsConfiguration of the template's HTTP API (None without one). Origins that only AWS could
    resolve count as none: then no cross-origin request is allowed locally."""
    for resource in template["Resources"].values():
        if resource.get("Type") != "AWS::Serverless::HttpApi":
            continue
        config = (resource.get("Properties") or {}).get("CorsConfiguration")
        if config is None or config is False:
            continue
        if config is True:
            return CorsConfiguration(("*",), ("*",), ("*",), (), None, False)

        def items(key: str, config: dict[str, Any] = config) -> tuple[str, ...]:
            try:
                value = resolve(config.get(key, []), values)
            except Unresolvable:
                return ()
            if isinstance(value, str):
                value = value.split(",")
            return tuple(str(item).strip() for item in value if str(item).strip())

        max_age = config.get("MaxAge")
        return CorsConfiguration(
            allow_origins=items("AllowOrigins"),
            allow_methods=tuple(m.upper() for m in items("AllowMethods")),
            allow_headers=tuple(h.lower() for h in items("AllowHeaders")),
            expose_headers=tuple(h.lower() for h in items("ExposeHeaders")),
            max_age=int(max_age) if max_age is not None else None,
            allow_credentials=bool(config.get("AllowCredentials", False)),
        )
    return None


def local_powertools_environment(root: Path = Path(), **overrides: str) -> dict[str, str]:
    """The POWERTOOLS_* variables of template.yaml's Globals (their one definition), for local runs of
    the functions (tests, benchmarks): tracing off (no X-Ray daemon here), then `overrides`."""
    variables = (load_template(root / TEMPLATE_PATH).get("Globals") or {}).get("Function", {})
    variables = (variables.get("Environment") or {}).get("Variables") or {}
    environment = {name: str(value) for name, value in variables.items() if name.startswith("POWERTOOLS_")}
    return {**environment, "POWERTOOLS_TRACE_DISABLED": "1", **overrides}
