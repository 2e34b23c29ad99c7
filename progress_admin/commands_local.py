"""progress-admin commands for working locally: `serve` (the HTTP API, the WebSocket API and the dashboard
on loopback), `token` (an unsigned JWT for it) and `demo-data` (a demo learner's history)."""

from __future__ import annotations

import argparse
import sys
from typing import Any, get_args

from progress_admin.command_registry import (
    DEMO_MAX_DAYS,
    SERVE_DEFAULT_PORT,
    add_port_argument,
    bounded_int,
    command,
    dashboard_url,
    local_url,
    project_root,
)


def _configure_serve(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--host", default="127.0.0.1", help="loopback address to listen on (default 127.0.0.1)"
    )
    parser.add_argument(
        "--port",
        type=bounded_int(0, 65_535),
        default=SERVE_DEFAULT_PORT,
        help=f"port (default {SERVE_DEFAULT_PORT}; 0 picks a free one)",
    )
    parser.add_argument(
        "--cors-origin",
        action="append",
        default=None,
        metavar="ORIGIN",
        help="the local value of the CorsAllowedOrigins parameter (repeatable), e.g. http://localhost:5173; "
        "default: the parameter's Default in template.yaml (none: same origin only)",
    )
    parser.add_argument(
        "--dashboard-api-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="an API origin the dashboard may call besides this server (repeatable; name the WebSocket "
        "API's too), e.g. https://abc.execute-api.eu-west-1.amazonaws.com; a token is only ever sent to "
        "the API it was given for, and the page's Content-Security-Policy allows no other",
    )
    parser.add_argument(
        "--parameter-overrides",
        nargs="+",
        default=[],
        metavar="NAME=VALUE",
        help="local values of template parameters, as `sam local --parameter-overrides`",
    )


def parse_parameter_overrides(args: argparse.Namespace) -> dict[str, str]:
    overrides: dict[str, str] = {}
    for item in args.parameter_overrides:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ValueError(f"--parameter-overrides takes NAME=VALUE, not {item!r}")
        overrides[name] = value
    if args.cors_origin:
        overrides["CorsAllowedOrigins"] = ",".join(args.cors_origin)
    return overrides


@command("serve", "run the HTTP API locally on loopback (no JWT verification)", _configure_serve)
def _serve(args: argparse.Namespace) -> int:
    import os
    import signal
    import warnings

    from progress_admin.local.serve import BANNER, create_server
    from progress_schema.database import admin_settings, migrate

    warnings.filterwarnings("ignore", message="No application metrics to publish")

    root = project_root()
    # the rest of each function's environment comes from template.yaml (progress_admin/local/gateway.py)
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    os.environ.setdefault("DB_POOL_SIZE", "2")
    try:
        overrides = parse_parameter_overrides(args)
    except ValueError as exc:
        print(f"progress-admin serve: {exc}", file=sys.stderr)
        return 2
    revision = migrate(admin_settings())
    print(f"database schema is at revision {revision}", file=sys.stderr)
    try:
        server = create_server(
            root,
            args.host,
            args.port,
            log=lambda line: print(line, file=sys.stderr),
            parameter_overrides=overrides,
            dashboard_api_origins=args.dashboard_api_origin,
            sweep_every=60.0,
        )
    except ValueError as exc:
        print(f"progress-admin serve: {exc}", file=sys.stderr)
        return 2
    host, port = str(server.server_address[0]), int(server.server_address[1])
    url = f"http://{host}:{port}"
    routes = ", ".join(server.local_api.route_keys)
    print(BANNER.format(url=url, routes=routes), file=sys.stderr, flush=True)
    print(describe_local_setup(server.local_api), file=sys.stderr, flush=True)
    # SIGTERM ends like Ctrl-C, so the embedded PostgreSQL is stopped on the way out (atexit)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def describe_local_setup(api: Any) -> str:
    """What serve took from template.yaml: CORS origins and what only AWS can supply."""
    cors = api.cors
    origins = ", ".join(cors.allow_origins) if cors and cors.allow_origins else "none (same origin only)"
    lines = [f"CORS (CorsConfiguration of the HTTP API): allowed origins {origins}"]
    if cors and not cors.allow_origins:
        lines.append("  a frontend on another port: --cors-origin http://localhost:5173")
    if api.overrides:
        lines.append(
            "Local parameter values: " + ", ".join(f"{k}={v}" for k, v in sorted(api.overrides.items()))
        )
    left_out = sorted({name for env in api.environments.values() for name in env.left_out})
    if left_out:
        lines.append(f"Environment from template.yaml; AWS-only, left out: {', '.join(left_out)}")
    return "\n".join(lines)


def _configure_token(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--user", default="user_7", help="the user id claim (default user_7)")
    parser.add_argument("--claim", default=None, help="claim name (default USER_ID_CLAIM or sub)")
    parser.add_argument(
        "--scope",
        default=None,
        help="the token's scope claim, e.g. progress/erase (the app's backend erasing)",
    )
    add_port_argument(parser)


@command("token", "print an unsigned JWT for `serve` (which does not verify tokens)", _configure_token)
def _token(args: argparse.Namespace) -> int:
    import os

    from progress_admin.local.gateway import make_token

    claim = args.claim or os.environ.get("USER_ID_CLAIM") or "sub"
    claims = {claim: args.user, "iss": "progress-admin (local, unsigned)"}
    if args.scope:
        claims["scope"] = args.scope
    token = make_token(claims)
    print(token)
    # stdout stays the bare token (TOKEN=$(progress-admin token)); the URL goes to stderr
    print(f"dashboard: {dashboard_url(local_url(args.port), token)}", file=sys.stderr)
    return 0


def _configure_demo(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--user", default="user_7", help="user to fill (default user_7)")
    parser.add_argument(
        "--days",
        type=bounded_int(0, DEMO_MAX_DAYS),
        default=365,
        help=f"days of history before today (0..{DEMO_MAX_DAYS}; default 365: the dashboard shows a year)",
    )
    parser.add_argument("--timezone", default="Europe/Berlin", help="the user's IANA timezone")
    add_port_argument(parser)


@command("demo-data", "put a demo learner's history in the local database (idempotent)", _configure_demo)
def _demo_data(args: argparse.Namespace) -> int:
    from progress_admin.demo import write_demo
    from progress_admin.local.gateway import make_token
    from progress_common.errors import ProgressError
    from progress_common.identity import parse_user_id
    from progress_common.models import WEEKDAY_NAMES, DayKind, validate_timezone
    from progress_schema.database import admin_engine, admin_settings, migrate

    try:  # before any database is started
        user_id = parse_user_id(args.user)
        validate_timezone(args.timezone)
    except (ProgressError, ValueError) as exc:
        print(f"progress-admin demo-data: {exc}", file=sys.stderr)
        return 2
    settings = admin_settings()
    migrate(settings)
    engine = admin_engine(settings)
    try:
        report = write_demo(engine, user_id, days=args.days, timezone=args.timezone)
    finally:
        engine.dispose()
    print(
        f"user {user_id}: {report.written} attempts written, {report.attempts - report.written} already there"
    )
    if report.plan.settings:
        latest = report.plan.settings[-1]
        rest = ", ".join(WEEKDAY_NAMES[d - 1] for d in latest.rest_weekdays)
        print(
            f"settings from {latest.effective_from}: rest on {rest}, daily goal {latest.goal_target}"
            f" {latest.goal_unit}, weekly goal {latest.weekly_goal_days} days"
        )
    print("the last 30 days: " + ", ".join(f"{kind} {count}" for kind, count in report.kinds.items()))
    missing = [kind for kind in get_args(DayKind) if kind not in report.kinds]
    if missing:
        print(f"  none {' or '.join(missing)} (a short --days, or the streak limits of this deployment)")
    token = make_token({"sub": args.user})
    print(f"token: {token}")
    print(f"open:  {dashboard_url(local_url(args.port), token)}")
    print(f'try:   curl -s -H "Authorization: Bearer {token}" {local_url(args.port)}/progress')
    return 0
