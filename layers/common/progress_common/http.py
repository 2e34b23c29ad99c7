"""HTTP plumbing shared by the API functions: the resolver, the caller's identity, the error body.

Every error leaves as `{"error": {"code", "message"[, "details"]}}` with the right status; no stack
trace or SQL ever reaches a response.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.api_gateway import BaseRouter
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.utilities.typing import LambdaContext
from sqlalchemy import exc as sa_exc

from progress_common.db import is_transient, sqlstate
from progress_common.errors import (
    DatabaseUnavailableError,
    ExportInProgressError,
    ExportNotFoundError,
    ExportUnavailableError,
    ForbiddenError,
    FreezesFullError,
    InvalidCursorError,
    InvalidUserIdError,
    RepairUnavailableError,
    SchemaOutdatedError,
    UnauthorizedError,
)
from progress_common.identity import parse_user_id
from progress_common.observability import logger, metrics
from progress_common.settings import get_settings

# A reset needs no body; anything this large is a mistake or an attack.
MAX_BODY_BYTES = 16 * 1024


def _error_response_doc(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
    }


ERROR_RESPONSES: dict[int, dict[str, Any]] = {
    status: _error_response_doc(description)
    for status, description in (
        (400, "Malformed request or cursor"),
        (401, "No verified identity in the request"),
        (413, "Request body too large"),
        (422, "Invalid query parameters"),
        (500, "Internal error (logged with the request id)"),
        (503, "Database unavailable; retry after the Retry-After seconds"),
    )
}


def responses_for(
    model: type[Any], description: str, *, status: int = 200, errors: Mapping[int, str] | None = None
) -> dict[int, dict[str, Any]]:
    """The OpenAPI responses of a route: its success model, the project's error bodies and the route's own
    error statuses (`errors`: status -> when)."""
    return {
        status: {"description": description, "content": {"application/json": {"model": model}}},
        **ERROR_RESPONSES,
        **{code: _error_response_doc(when) for code, when in (errors or {}).items()},
    }


def error_body(code: str, message: str, details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The project's error body (models.ErrorBody)."""
    body: dict[str, Any] = {"error": {"code": code, "message": message}}
    if details is not None:
        body["error"]["details"] = details
    return body


def error_response(
    status: int,
    code: str,
    message: str,
    details: list[dict[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    return Response(
        status_code=status,
        content_type="application/json",
        body=error_body(code, message, details),
        headers=dict(headers or {}),
    )


def _raw_error_response(status: int, code: str, message: str) -> dict[str, Any]:
    """An error in the Lambda proxy shape, for events too broken for the resolver to read."""
    import json

    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(error_body(code, message)),
        "isBase64Encoded": False,
    }


def body_size(body: str, base64_encoded: bool) -> int:
    """The size of the request body in bytes (decoded, for a base64 body: 4 characters carry 3 bytes)."""
    if not base64_encoded:
        return len(body.encode())
    return len(body) * 3 // 4 - body[-2:].count("=")


def _is_string_map(value: Any) -> bool:
    return isinstance(value, Mapping) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    )


def malformed_event_reason(event: Any) -> str | None:
    """Why `event` is not an API Gateway HTTP API v2.0 request the resolver can read, or None.

    API Gateway never sends these, but a misconfigured integration or a test client can: each is a 400,
    never an exception inside Powertools.
    """
    if not isinstance(event, Mapping):
        return "the event is not an object"
    request_context = event.get("requestContext")
    if not isinstance(request_context, Mapping):
        return "requestContext is missing or not an object"
    http = request_context.get("http")
    if not isinstance(http, Mapping) or not isinstance(http.get("method"), str) or not http["method"]:
        return "requestContext.http.method is missing or not a string"
    raw_path = event.get("rawPath")
    if not isinstance(raw_path, str) or not raw_path.startswith("/"):
        return "rawPath is missing or not a path"
    for name in ("headers", "queryStringParameters", "pathParameters", "stageVariables"):
        if event.get(name) is not None and not _is_string_map(event[name]):
            return f"{name} is not an object of strings"
    cookies = event.get("cookies")
    if cookies is not None and not (isinstance(cookies, list) and all(isinstance(c, str) for c in cookies)):
        return "cookies is not a list of strings"
    for name, kind in (("rawQueryString", str), ("body", str), ("isBase64Encoded", bool)):
        if event.get(name) is not None and not isinstance(event[name], kind):
            return f"{name} is not a {kind.__name__}"
    authorizer = request_context.get("authorizer")
    if authorizer is not None:
        if not isinstance(authorizer, Mapping):
            return "requestContext.authorizer is not an object"
        jwt = authorizer.get("jwt")
        if jwt is not None and not (
            isinstance(jwt, Mapping) and (jwt.get("claims") is None or isinstance(jwt["claims"], Mapping))
        ):
            return "requestContext.authorizer.jwt is not an object with claims"
    return None


class ProgressResolver(APIGatewayHttpResolver):
    """The HTTP API v2 resolver, refusing events it cannot route before Powertools reads them."""

    def resolve(self, event: Mapping[str, Any], context: LambdaContext) -> dict[str, Any]:
        reason = malformed_event_reason(event)
        if reason is not None:
            logger.warning(
                "rejected an event that is not an API Gateway HTTP API v2.0 request", extra={"reason": reason}
            )
            return _raw_error_response(400, "bad_request", f"not an API Gateway HTTP API request: {reason}")
        body = event.get("body")
        if isinstance(body, str) and body_size(body, bool(event.get("isBase64Encoded"))) > MAX_BODY_BYTES:
            return _raw_error_response(
                413, "payload_too_large", f"request body exceeds {MAX_BODY_BYTES} bytes"
            )
        return super().resolve(event, context)


def unavailable_response(code: str, message: str) -> Response:
    """Every 503 the service answers: with Retry-After, and counted in the DatabaseUnavailable metric
    (Lambda counts a 503 as a successful invocation; the template's alarm watches this metric)."""
    metrics.add_metric(name="DatabaseUnavailable", unit="Count", value=1)
    return error_response(
        503, code, message, headers={"Retry-After": str(get_settings().retry_after_seconds)}
    )


def error_summary(exc: BaseException) -> dict[str, Any]:
    """What the log of an unexpected error may hold: the exception types of the chain, the SQLSTATE and
    where it was raised. Never a message: PostgreSQL's quotes the input, pydantic's holds input_value,
    SQLAlchemy's holds the statement (with literal values in it, for the simple-query statements)."""
    import traceback

    chain: list[str] = []
    current: BaseException | None = exc
    while current is not None and len(chain) < 10:
        chain.append(f"{type(current).__module__}.{type(current).__qualname__}")
        current = current.__cause__ or current.__context__
    frames = traceback.extract_tb(exc.__traceback__)[-10:]
    return {
        "error_types": chain,
        "sqlstate": sqlstate(exc),
        "stack": [f"{frame.filename.rsplit('/', 1)[-1]}:{frame.lineno} in {frame.name}" for frame in frames],
    }


def current_user_id(app: BaseRouter) -> int:
    """The caller, from the verified JWT claims of the API Gateway authorizer. Never from the request."""
    claim_name = get_settings().user_id_claim
    request_context = app.current_event.raw_event.get("requestContext") or {}
    claims = ((request_context.get("authorizer") or {}).get("jwt") or {}).get("claims") or {}
    raw = claims.get(claim_name) if isinstance(claims, Mapping) else None
    if raw is None:
        raise UnauthorizedError("the request carries no verified identity")
    try:
        user_id = parse_user_id(raw)
    except InvalidUserIdError:
        raise UnauthorizedError("the identity in the token is not a valid user id") from None
    logger.append_keys(user_id=user_id)
    return user_id


def _jwt_of(app: BaseRouter) -> Mapping[str, Any]:
    request_context = app.current_event.raw_event.get("requestContext") or {}
    jwt = (request_context.get("authorizer") or {}).get("jwt")
    return jwt if isinstance(jwt, Mapping) else {}


def token_scopes(jwt: Mapping[str, Any]) -> set[str]:
    """The scopes of the verified token: those API Gateway lists, and the token's own `scope` (OAuth 2.0, space
    separated, as Cognito's access tokens say) or `scp` claim."""
    scopes = {scope for scope in jwt.get("scopes") or () if isinstance(scope, str)}
    claims = jwt.get("claims")
    if isinstance(claims, Mapping):
        for name in ("scope", "scp"):
            value = claims.get(name)
            if isinstance(value, str):
                scopes.update(value.split())
            elif isinstance(value, list):
                scopes.update(item for item in value if isinstance(item, str))
    return scopes


def require_scope(app: BaseRouter, scope: str) -> None:
    """The route is for callers whose verified token carries `scope` (the app's backend), not for learners.
    In AWS the route's AuthorizationScopes refuse other tokens before the function runs; this check holds
    even when a route is deployed without them (and for serve). 401 without a token, else 403."""
    jwt = _jwt_of(app)
    if not jwt:
        raise UnauthorizedError("the request carries no verified token")
    if scope not in token_scopes(jwt):
        logger.warning("refused a token without the route's scope", extra={"required_scope": scope})
        raise ForbiddenError(f"this route needs a token with the scope {scope}")


def build_resolver() -> ProgressResolver:
    """The resolver every API function uses: validation on, errors in the project's shape."""
    app = ProgressResolver(enable_validation=True)

    @app.exception_handler(UnauthorizedError)
    def _unauthorized(exc: UnauthorizedError) -> Response:
        return error_response(401, exc.code, str(exc), headers={"WWW-Authenticate": "Bearer"})

    @app.exception_handler(InvalidCursorError)
    def _bad_cursor(exc: InvalidCursorError) -> Response:
        return error_response(400, exc.code, "cursor is not valid; start again without it")

    @app.exception_handler(ForbiddenError)
    def _forbidden(exc: ForbiddenError) -> Response:
        return error_response(403, exc.code, str(exc))

    @app.exception_handler(ExportNotFoundError)
    def _export_not_found(exc: ExportNotFoundError) -> Response:
        return error_response(404, exc.code, str(exc))

    @app.exception_handler(ExportInProgressError)
    def _export_in_progress(exc: ExportInProgressError) -> Response:
        return error_response(409, exc.code, str(exc), [{"export_id": str(exc.export_id)}])

    @app.exception_handler(FreezesFullError)
    def _freezes_full(exc: FreezesFullError) -> Response:
        return error_response(
            409, exc.code, str(exc), [{"freezes_held": exc.freezes_held, "freezes_max": exc.freezes_max}]
        )

    @app.exception_handler(RepairUnavailableError)
    def _repair_unavailable(exc: RepairUnavailableError) -> Response:
        return error_response(409, exc.code, str(exc), [{"reason": exc.reason, "repair": exc.repair}])

    @app.exception_handler(ExportUnavailableError)
    def _export_unavailable(exc: ExportUnavailableError) -> Response:
        metrics.add_metric(name="ExportUnavailable", unit="Count", value=1)
        return error_response(
            503, exc.code, str(exc), headers={"Retry-After": str(get_settings().retry_after_seconds)}
        )

    @app.exception_handler(InvalidUserIdError)
    def _invalid_user_id(exc: InvalidUserIdError) -> Response:
        # a user id named by the request (the erasure's path); the caller's own identity is a 401 instead
        return error_response(
            422,
            "validation_error",
            "request parameters are not valid",
            [{"loc": ["path", "user_id"], "message": str(exc), "type": exc.code}],
        )

    @app.exception_handler(RequestValidationError)
    def _invalid(exc: RequestValidationError) -> Response:
        details = [
            {"loc": list(err.get("loc", ())), "message": err.get("msg", ""), "type": err.get("type", "")}
            for err in exc.errors()
        ]
        return error_response(422, "validation_error", "request parameters are not valid", details)

    @app.exception_handler(SchemaOutdatedError)
    def _schema_outdated(exc: SchemaOutdatedError) -> Response:
        # A deploy whose migration has not (yet) run: the operator must see it, the caller retries.
        logger.error("database schema is outdated", extra={"detail": str(exc)})
        metrics.add_metric(name="SchemaOutdated", unit="Count", value=1)
        return unavailable_response(exc.code, "the service is being updated, retry later")

    # OSError: pg8000 raises the built-in TimeoutError (and socket errors) unwrapped on a silent server
    @app.exception_handler([sa_exc.SQLAlchemyError, DatabaseUnavailableError, OSError])
    def _database(exc: Exception) -> Response:
        if not is_transient(exc):
            return _internal(exc)
        logger.warning("database unavailable", extra={"error_type": type(exc).__name__})
        return unavailable_response(
            "database_unavailable", "the service is temporarily unavailable, retry later"
        )

    @app.exception_handler(Exception)
    def _internal(exc: Exception) -> Response:
        logger.error("unhandled error", extra=error_summary(exc))
        return error_response(500, "internal_error", "internal error")

    @app.not_found
    def _not_found(exc: Exception) -> Response:
        return error_response(404, "not_found", "no such route")

    return app


__all__ = ["build_resolver", "current_user_id", "error_body", "error_response", "require_scope"]
