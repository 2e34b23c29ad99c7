"""The minute sweep in `progress-admin serve`: the template's SweepFunction, invoked at the start of every
minute with its schedule's Input, as EventBridge Scheduler invokes it in AWS, against serve's database. The
local queue (`POST /local/attempts`) writes each batch before it answers, so nothing ever waits in a queue:
the watermark is the sweep's own instant (INGEST_WATERMARK_SOURCE=local, docs/signals.md)."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from progress_admin.local.events import schedule_event
from progress_admin.local.intrinsics import local_values
from progress_admin.local.runtime import LocalFunction, load_function

SWEEP_FUNCTION = "SweepFunction"


def has_sweep(template: dict[str, Any]) -> bool:
    return SWEEP_FUNCTION in template.get("Resources", {})


def _schedule_input(template: dict[str, Any]) -> str | None:
    events = template["Resources"][SWEEP_FUNCTION]["Properties"].get("Events") or {}
    for event in events.values():
        if event.get("Type") in ("ScheduleV2", "Schedule"):
            value = event["Properties"].get("Input")
            return value if isinstance(value, str) else None
    return None


class SweepLoop:
    """SweepFunction every `interval` seconds (at the start of each minute by default), in a thread."""

    def __init__(
        self,
        root: Path,
        template: dict[str, Any],
        log: Callable[[str], None],
        parameter_overrides: Mapping[str, str] | None = None,
        interval: float = 60.0,
    ) -> None:
        from progress_common.settings import IngestSettings, set_ingest_settings

        set_ingest_settings(IngestSettings(ingest_watermark_source="local"))  # before its cold start
        self.function: LocalFunction = load_function(
            template, SWEEP_FUNCTION, root, local_values(template, parameter_overrides)
        )
        self.event = schedule_event(_schedule_input(template))
        self.log, self.interval = log, interval
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="local-sweep", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def sweep_once(self) -> dict[str, Any] | None:
        """Invoke the function once; its answer (None when it failed: logged, the next minute tries again)."""
        try:
            answer: dict[str, Any] = self.function(self.event)
        except Exception as exc:
            self.log(f"sweep failed: {type(exc).__name__}: {exc}")
            return None
        incident = f", incident {answer['open_incident']} open" if answer.get("open_incident") else ""
        self.log(f"sweep: watermark {answer['watermark']}, {answer['holds']} holds{incident}")
        for line in (answer.get("published") or {}).get("local", []):
            self.log(line)  # what the bus would carry (EVENT_BUS_NAME is unset locally)
        return answer

    def _run(self) -> None:
        while not self.stopping.wait(self._until_next()):
            self.sweep_once()

    def _until_next(self) -> float:
        if self.interval != 60.0:
            return self.interval
        now = dt.datetime.now(dt.UTC)
        return 60.0 - now.second - now.microsecond / 1e6

    def close(self, timeout: float = 10.0) -> None:
        from progress_common.settings import set_ingest_settings

        self.stopping.set()
        if self.thread.is_alive():
            self.thread.join(timeout)
        set_ingest_settings(None)
