"""The progress-admin commands beyond `migrate`, each as (help, configure-parser, run)."""

from __future__ import annotations

import argparse
from collections.abc import Callable

Configure = Callable[[argparse.ArgumentParser], None]
Run = Callable[[argparse.Namespace], int]

REGISTRY: dict[str, tuple[str, Configure, Run]] = {}
