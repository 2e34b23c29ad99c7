"""`progress-admin`: local operations on the progress database.

Every command uses DATABASE_URL when it is set, and otherwise starts the embedded PostgreSQL (pgserver)
under ./.local (or PROGRESS_LOCAL_DIR).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from sqlalchemy import exc as sa_exc

from progress_common.errors import ConfigurationError, ProgressError
from progress_schema.database import DatabaseNotReachableError, admin_settings, migrate

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


def _cmd_migrate(args: argparse.Namespace) -> int:
    revision = migrate(admin_settings(), args.revision)
    print(f"database schema is at revision {revision}")
    return EXIT_OK


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {"migrate": _cmd_migrate}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="progress-admin", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log SQL-level detail")
    sub = parser.add_subparsers(dest="command", required=True)

    p_migrate = sub.add_parser("migrate", help="bring the schema to the newest revision (safe to repeat)")
    p_migrate.add_argument("revision", nargs="?", default="head", help="target revision (default: head)")

    _register_optional_commands(sub)
    return parser


def _register_optional_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Commands that live in their own modules register here (serve, archive, import-json, demo-data, ...)."""
    from progress_admin import commands_data, commands_local, commands_signals  # noqa: F401 - registers them
    from progress_admin.command_registry import REGISTRY

    for name, (help_text, configure, run) in REGISTRY.items():
        configure(sub.add_parser(name, help=help_text))
        COMMANDS[name] = run


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return COMMANDS[args.command](args)
    except (DatabaseNotReachableError, ConfigurationError) as exc:
        print(f"progress-admin {args.command}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ProgressError as exc:  # e.g. the database became unavailable mid-run: said, not a traceback
        print(f"progress-admin {args.command}: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except sa_exc.DBAPIError as exc:
        detail = getattr(getattr(exc, "orig", None), "args", (None,))[0]
        if isinstance(detail, dict):  # a PostgreSQL error: its message and SQLSTATE, not the whole context
            reason = f"{detail.get('M')} (SQLSTATE {detail.get('C')})"
        else:
            reason = str(getattr(exc, "orig", exc)).splitlines()[0]
        print(f"progress-admin {args.command}: database error: {reason}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
