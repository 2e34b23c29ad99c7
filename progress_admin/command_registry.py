"""What the progress-admin commands share: the registry of commands beyond `migrate` (each as help,
configure-parser, run; commands_local and commands_data register theirs), the argument types that check
ranges with a one-line error (argparse exits 2), and where the project and `serve` are."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

Configure = Callable[[argparse.ArgumentParser], None]
Run = Callable[[argparse.Namespace], int]

REGISTRY: dict[str, tuple[str, Configure, Run]] = {}
SERVE_DEFAULT_PORT = 3000  # where `./dev serve` listens unless told --port


def local_url(port: int) -> str:
    """The base URL of `serve` on loopback at that port."""
    return f"http://127.0.0.1:{port}"


def bounded_int(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: a whole number from low to high, else a one-line error (argparse exits 2)."""

    def parse(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{raw!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is out of range: use {low} to {high}")
        return value

    return parse


# a TCP port a URL can name; serve's own --port also takes 0 (a free one)
PORT = bounded_int(1, 65_535)
# a demo history reaches back at most this far (attempts before 2000-01-01 are refused anyway)
DEMO_MAX_DAYS = 3_650


def add_port_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--port",
        type=PORT,
        default=SERVE_DEFAULT_PORT,
        help=f"the port `serve` listens on, for the URLs printed (default {SERVE_DEFAULT_PORT})",
    )


def command(name: str, help_text: str, configure: Configure) -> Callable[[Run], Run]:
    def register(run: Run) -> Run:
        REGISTRY[name] = (help_text, configure, run)
        return run

    return register


def setting_bounds(name: str) -> tuple[int, int]:
    """The (minimum, maximum) Settings allows for an integer setting: one definition for the environment
    variable and the command-line option."""
    from annotated_types import Ge, Le

    from progress_common.settings import Settings

    metadata = Settings.model_fields[name].metadata
    low = next(m.ge for m in metadata if isinstance(m, Ge))
    high = next(m.le for m in metadata if isinstance(m, Le))
    return int(low), int(high)  # type: ignore[call-overload]


def setting_default(name: str) -> Any:
    """The default Settings gives a setting when its environment variable is unset."""
    from progress_common.settings import Settings

    return Settings.model_fields[name].default


def bounded_setting(name: str) -> Callable[[str], int]:
    """An argparse type: an integer within the bounds of the setting `name`, else a clear error."""
    return bounded_int(*setting_bounds(name))


def positive_seconds(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a number of seconds") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{raw} seconds makes no sense: give a positive number")
    return value


def project_root() -> Path:
    """The folder holding template.yaml: the current one or a parent."""
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "template.yaml").is_file():
            return folder
    raise SystemExit("progress-admin: run this inside the project (no template.yaml found)")


def dashboard_url(base: str, token: str) -> str:
    """The dashboard with the token in the fragment, which the browser never sends to a server."""
    return f"{base}/#token={token}"
