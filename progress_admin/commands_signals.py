"""progress-admin commands of settled days and signals: `sweep` (one minute sweep as of an instant),
`incidents` (list, show, veto) and `holds` (list, release)."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import uuid

from progress_admin.command_registry import command


def _instant(raw: str) -> dt.datetime:
    """An ISO 8601 instant with its offset (2026-12-04T20:00:00+01:00 or ...Z)."""
    try:
        value = dt.datetime.fromisoformat(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not an ISO 8601 instant") from None
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{raw!r} has no offset: write it as 2026-12-04T20:00:00+01:00")
    return value


def _configure_sweep(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--at",
        type=_instant,
        default=None,
        metavar="INSTANT",
        help="sweep as of this instant (ISO 8601 with offset; default: now)",
    )
    parser.add_argument(
        "--watermark",
        choices=["local", "sqs"],
        default="local",
        help="local (default): the local queue of `serve` writes before it answers, so the watermark is the "
        "sweep's instant; sqs: read ATTEMPTS_QUEUE_URL's depth and age metric with your AWS credentials",
    )


@command("sweep", "run one minute sweep (watermark, incidents, covers) as of an instant", _configure_sweep)
def _sweep(args: argparse.Namespace) -> int:
    import os

    from progress_common.settings import IngestSettings
    from progress_common.sweep import run_sweep
    from progress_schema.database import admin_engine, admin_settings, migrate

    try:
        ingest = IngestSettings(
            ingest_watermark_source=args.watermark,
            attempts_queue_url=os.environ.get("ATTEMPTS_QUEUE_URL") if args.watermark == "sqs" else None,
        )
    except ValueError:
        print("progress-admin sweep: --watermark sqs needs ATTEMPTS_QUEUE_URL", file=sys.stderr)
        return 2
    settings = admin_settings()
    migrate(settings)
    engine = admin_engine(settings)
    try:
        report = run_sweep(args.at or dt.datetime.now(dt.UTC), engine=engine, ingest=ingest)
    finally:
        engine.dispose()
    print(json.dumps(report.as_dict(), indent=2))
    return 0


def _configure_incidents(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True)
    actions.add_parser("list", help="the newest incidents first")
    show = actions.add_parser("show", help="one incident, its covers and the watermark now")
    show.add_argument("id", type=int)
    veto = actions.add_parser("veto", help="remove an incident's covers (within 24 h of its close)")
    veto.add_argument("id", type=int)


@command("incidents", "ingest incidents: list, show, veto (docs/operations.md)", _configure_incidents)
def _incidents(args: argparse.Namespace) -> int:
    from progress_admin.incidents import incident_lines, show_incident, veto_incident
    from progress_schema.database import admin_engine, admin_settings, migrate

    settings = admin_settings()
    migrate(settings)
    engine = admin_engine(settings)
    try:
        if args.action == "list":
            print("\n".join(incident_lines(engine)))
            return 0
        if args.action == "show":
            shown = show_incident(engine, args.id)
            if shown is None:
                print(f"progress-admin incidents: no incident {args.id}", file=sys.stderr)
                return 1
            print(json.dumps(shown, indent=2))
            return 0
        answer = veto_incident(engine, args.id, dt.datetime.now(dt.UTC))
    finally:
        engine.dispose()
    outcome = answer["outcome"]
    if outcome == "vetoed":
        print(
            f"incident {args.id} vetoed: removed {answer['days']} covered days of {answer['learners']} learners"
        )
        return 0
    reasons = {
        "not_found": f"no incident {args.id}",
        "already_vetoed": f"incident {args.id} was vetoed at {answer.get('vetoed_at')}",
        "too_late": f"incident {args.id} closed at {answer.get('closed_at')}: a veto is possible for 24 hours",
    }
    print(f"progress-admin incidents: {reasons[outcome]}", file=sys.stderr)
    return 1


def _configure_holds(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True)
    actions.add_parser("list", help="learners' days held for messages on their way to the DLQ")
    release = actions.add_parser("release", help="let go of holds (the message was discarded)")
    who = release.add_mutually_exclusive_group(required=True)
    who.add_argument("--attempt-uid", dest="uids", action="append", type=uuid.UUID, help="repeatable")
    who.add_argument("--user", help="every hold of this learner (user_7 or 7)")


@command("holds", "held days of messages on their way to the DLQ: list, release", _configure_holds)
def _holds(args: argparse.Namespace) -> int:
    from progress_admin.incidents import hold_lines, release_holds
    from progress_common.identity import parse_user_id
    from progress_schema.database import admin_engine, admin_settings, migrate

    user_id = None
    if args.action == "release" and args.user is not None:
        try:
            user_id = parse_user_id(args.user)
        except ValueError as exc:
            print(f"progress-admin holds: {exc}", file=sys.stderr)
            return 2
    settings = admin_settings()
    migrate(settings)
    engine = admin_engine(settings)
    try:
        if args.action == "list":
            print("\n".join(hold_lines(engine)))
            return 0
        released = release_holds(engine, attempt_uids=args.uids or (), user_id=user_id)
    finally:
        engine.dispose()
    for uid, user, held_from in released:
        print(f"released hold {uid} (user {user}, days from {held_from.isoformat()})")
    print(f"{len(released)} hold(s) released")
    return 0
