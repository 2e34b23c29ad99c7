"""The HTTP API gateway, locally: the template's routes (with `{name}` path parameters) bound to their
functions, the JWT authorizer's claims passed through as they are (NOT verified), CORS as the API's
CorsConfiguration, and a request made into the function's event and its response into the answer.
Nothing here speaks HTTP on a socket (progress_admin/local/server.py does)."""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from progress_admin.local.intrinsics import local_values
from progress_admin.local.runtime import LocalFunction, load_function
from progress_admin.local.template import (
    CorsConfiguration,
    FunctionEnvironment,
    Route,
    cors_configuration,
    http_routes,
    load_template,
)

# API Gateway's own payload limit (HTTP API: 10 MB), not the functions': each function refuses bodies
# over progress_common.http.MAX_BODY_BYTES itself, with the project's 413 body, here as in AWS.
GATEWAY_MAX_PAYLOAD_BYTES = 10 * 1024 * 1024
# Parameters whose deployed value cannot work on loopback (as one would pass `sam local
# --parameter-overrides`): the local PostgreSQL speaks no TLS. --parameter-overrides still wins.
LOCAL_PARAMETER_VALUES = {"DbTls": "disable"}
PATH_PARAMETER = re.compile(r"\{([A-Za-z0-9_]+)\}")

Reply = tuple[int, dict[str, str], bytes]


def json_reply(status: int, data: Any, headers: Mapping[str, str] | None = None) -> Reply:
    return status, {"Content-Type": "application/json", **(headers or {})}, json.dumps(data).encode()


def unverified_claims(authorization: str | None) -> dict[str, Any] | None:
    """The claims of `Bearer <JWT>`, NOT verified. None when there is no readable token."""
    if not authorization or not authorization.lower().startswith("bearer "):
        return None
    parts = authorization.split(" ", 1)[1].strip().split(".")
    if len(parts) != 3:
        return None
    try:
        payload = base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4))
        claims = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return None
    return claims if isinstance(claims, dict) else None


def make_token(claims: dict[str, Any]) -> str:
    """An unsigned JWT (alg "none") for local use with `serve`, which does not verify tokens."""

    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


class UnservableRouteError(ValueError):
    """A template route serve cannot match, refused at start rather than silently never matched."""


def unservable_reason(route: Route) -> str | None:
    """Why serve cannot serve a route, or None: it matches one method and a path whose parameters are
    whole `{name}` segments."""
    if route.method in ("ANY", "X-AMAZON-APIGATEWAY-ANY-METHOD") or route.path == "$default":
        return "serve matches one method and one path per route ($default and ANY are not matched)"
    for segment in route.path.split("/"):
        if ("{" in segment or "}" in segment) and not PATH_PARAMETER.fullmatch(segment):
            return "serve matches path parameters that are whole {name} segments, not greedy ones ({name+})"
    return None


@dataclass(frozen=True)
class BoundRoute:
    """A route of the template with its function and the pattern its paths match."""

    route: Route
    function: LocalFunction
    pattern: re.Pattern[str]

    @classmethod
    def of(cls, route: Route, function: LocalFunction) -> BoundRoute:
        parts = [
            f"(?P<{m.group(1)}>[^/]+)" if (m := PATH_PARAMETER.fullmatch(s)) else re.escape(s)
            for s in route.path.split("/")
        ]
        return cls(route, function, re.compile("/".join(parts)))

    @property
    def key(self) -> str:
        return f"{self.route.method} {self.route.path}"

    @property
    def precedence(self) -> tuple[int, int]:
        """API Gateway's: a route without path parameters first, then the one with more literal segments."""
        segments = self.route.path.split("/")
        literal = sum(1 for s in segments if not PATH_PARAMETER.fullmatch(s))
        return (0 if literal == len(segments) else 1, -literal)

    def path_parameters(self, method: str, raw_path: str) -> dict[str, str] | None:
        """The route's path parameters (percent-decoded) when it matches this request, else None."""
        if method != self.route.method or not (match := self.pattern.fullmatch(raw_path)):
            return None
        return {name: unquote(value) for name, value in match.groupdict().items()}


class HttpApi:
    """The routes of template.yaml bound to their handlers, each run with its template environment."""

    def __init__(
        self,
        root: Path,
        parameter_overrides: Mapping[str, str] | None = None,
        template: dict[str, Any] | None = None,
    ) -> None:
        template = template or load_template(root / "template.yaml")
        local = {k: v for k, v in LOCAL_PARAMETER_VALUES.items() if k in (template.get("Parameters") or {})}
        self.overrides = {**local, **(parameter_overrides or {})}
        values = local_values(template, self.overrides)
        self.cors: CorsConfiguration | None = cors_configuration(template, values)
        self.environments: dict[str, FunctionEnvironment] = {}
        functions: dict[str, LocalFunction] = {}
        # Powertools keeps the current event on the layer's routers, which the functions share: one
        # request at a time across the HTTP API's functions
        lock = threading.Lock()
        routes = []
        for route in http_routes(template, root):
            reason = unservable_reason(route)
            if reason:
                raise UnservableRouteError(
                    f"cannot serve {route.method} {route.path} of {route.function} from template.yaml: "
                    f"{reason}. Change the route, or extend progress_admin/local/gateway.py to match it."
                )
            if route.function not in functions:
                functions[route.function] = load_function(template, route.function, root, values, lock)
                self.environments[route.function] = functions[route.function].environment
            routes.append(BoundRoute.of(route, functions[route.function]))
        self.routes = sorted(routes, key=lambda bound: (bound.precedence, bound.key))

    @property
    def route_keys(self) -> list[str]:
        return sorted(bound.key for bound in self.routes)

    def match(self, method: str, raw_path: str) -> tuple[BoundRoute, dict[str, str]] | None:
        """The route this request reaches and its path parameters, as API Gateway picks it."""
        for bound in self.routes:
            parameters = bound.path_parameters(method, raw_path)
            if parameters is not None:
                return bound, parameters
        return None


@dataclass(frozen=True)
class FunctionAnswer:
    status: int
    headers: dict[str, str]
    cookies: list[str]
    body: bytes


def function_answer(response: dict[str, Any]) -> FunctionAnswer:
    """What the gateway answers for a function's (payload 2.0) response."""
    payload = response.get("body") or ""
    body = base64.b64decode(payload) if response.get("isBase64Encoded") else payload.encode()
    headers = {name: str(value) for name, value in (response.get("headers") or {}).items()}
    for name, values in (response.get("multiValueHeaders") or {}).items():
        headers[name] = ", ".join(values)
    return FunctionAnswer(
        int(response.get("statusCode", 200)), headers, list(response.get("cookies") or []), body
    )


def cors_preflight_headers(cors: CorsConfiguration | None, headers: Mapping[str, str]) -> dict[str, str]:
    """The headers API Gateway answers a CORS preflight with: all of them for an allowed origin,
    method and header list; none otherwise (the browser then blocks the request)."""
    origin = headers.get("Origin")
    method = (headers.get("Access-Control-Request-Method") or "").upper()
    requested = [
        h.strip().lower()
        for h in (headers.get("Access-Control-Request-Headers") or "").split(",")
        if h.strip()
    ]
    if cors is None or not origin or not cors.allows(origin):
        return {}
    if "*" not in cors.allow_methods and method not in cors.allow_methods:
        return {}
    if "*" not in cors.allow_headers and any(h not in cors.allow_headers for h in requested):
        return {}
    answer = {
        "Access-Control-Allow-Origin": cors.origin_header(origin),
        "Access-Control-Allow-Methods": ",".join(cors.allow_methods),
        "Access-Control-Allow-Headers": ",".join(cors.allow_headers),
        "Vary": "Origin",
    }
    if cors.max_age is not None:
        answer["Access-Control-Max-Age"] = str(cors.max_age)
    if cors.allow_credentials:
        answer["Access-Control-Allow-Credentials"] = "true"
    return answer


def cors_response_headers(cors: CorsConfiguration | None, origin: str | None) -> dict[str, str]:
    """The CORS headers API Gateway adds to an actual response for a request from `origin`."""
    if cors is None or not origin or not cors.allows(origin):
        return {}
    answer = {"Access-Control-Allow-Origin": cors.origin_header(origin), "Vary": "Origin"}
    if cors.expose_headers:
        answer["Access-Control-Expose-Headers"] = ",".join(cors.expose_headers)
    if cors.allow_credentials:
        answer["Access-Control-Allow-Credentials"] = "true"
    return answer
