"""The progress-admin commands beyond `migrate`, each as (help, configure-parser, run)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

Configure = Callable[[argparse.ArgumentParser], None]
Run = Callable[[argparse.Namespace], int]

REGISTRY: dict[str, tuple[str, Configure, Run]] = {}


def command(name: str, help_text: str, configure: Configure) -> Callable[[Run], Run]:
    def register(run: Run) -> Run:
        REGISTRY[name] = (help_text, configure, run)
        return run

    return register


def _configure_openapi(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--check", action="store_true", help="fail when the committed document has drifted")
    parser.add_argument(
        "--output", type=Path, default=None, help="where to write (default docs/openapi.json)"
    )


@command("openapi", "generate docs/openapi.json from the code (or --check it)", _configure_openapi)
def _openapi(args: argparse.Namespace) -> int:
    from progress_admin import openapi

    path = args.output or openapi.DOC_PATH
    if args.check:
        if openapi.check(path):
            print(f"{path} is up to date")
            return 0
        print(f"{path} differs from the code: run `progress-admin openapi` and commit it", file=sys.stderr)
        return 1
    print(f"wrote {openapi.write(path)}")
    return 0


def _configure_archive(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--retention-days", type=int, default=None, help="default: ARCHIVE_RETENTION_DAYS or 365")
    parser.add_argument("--batch-size", type=int, default=None, help="default: ARCHIVE_BATCH_SIZE or 5000")
    parser.add_argument("--max-seconds", type=float, default=None, help="stop cleanly after about this long")


@command("archive", "move attempts older than the retention period to attempts_archive", _configure_archive)
def _archive(args: argparse.Namespace) -> int:
    import json
    import time

    from progress_admin.database import admin_engine, admin_settings
    from progress_common.archive import archive_old_attempts

    settings = admin_settings()
    engine = admin_engine(settings)
    deadline = time.monotonic() + args.max_seconds if args.max_seconds else None

    def remaining_ms() -> int:
        assert deadline is not None
        return int((deadline - time.monotonic()) * 1000)

    try:
        result = archive_old_attempts(
            retention_days=args.retention_days or settings.archive_retention_days,
            batch_size=args.batch_size or settings.archive_batch_size,
            remaining_ms=remaining_ms if deadline else None,
            engine=engine,
        )
    finally:
        engine.dispose()
    print(json.dumps(result.as_dict()))
    return 0
