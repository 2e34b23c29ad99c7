"""What proves the ingest watermark (docs/signals.md, "Settled days"): the instant before which every message
the attempts queue accepted has been folded in, or is held by the consumer.

Two proofs, each read once a minute by the sweep with bounded timeouts; the database keeps the greatest
instant proven so far (progress_watermark_advance_v1), so a proof that cannot be read just leaves it where
it is:

- **The age of the oldest message** (CloudWatch, `AWS/SQS` `ApproximateAgeOfOldestMessage`, Maximum over one
  minute): at every moment of the minute starting at t, no message older than the datapoint's value a was
  left, so every message sent before t - a had been deleted, which the consumer does only after its batch
  committed. It works for a queue that is never empty. Its blind spots are covered elsewhere: a message
  received three times or more is ignored by the metric, so the consumer holds its learner's days when such
  a message fails (holds.py); whether a delayed message is counted is not documented, so the proof is
  moved back by the longest delay a producer may use (INGEST_MAX_DELAY_SECONDS, at most 900 s). A datapoint
  is used only once its minute ended a minute ago, after the consumer (timeout 30 s) wrote any hold of that
  minute.
- **An empty queue** (SQS `GetQueueAttributes`): visible, in flight and delayed all 0. The counts are
  approximate and up to about a minute behind, so the database takes it as proof only on the second empty
  reading in a row, for the instant a minute before the first. It works for an idle queue, for which SQS
  may publish no metric at all.

Locally (`serve`, `progress-admin sweep`) the queue writes each batch before it answers: the sweep's instant
is the proof.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from progress_common.aws_clients import bounded_client
from progress_common.observability import logger, metrics
from progress_common.settings import IngestSettings

AGE_METRIC = "ApproximateAgeOfOldestMessage"
METRIC_PERIOD = dt.timedelta(minutes=1)
# how far back the sweep asks CloudWatch (its datapoints arrive minutes late)
METRIC_LOOKBACK = dt.timedelta(minutes=15)
# a datapoint is used once its minute ended this long ago: longer than the consumer's timeout (30 s), so a
# message that failed in that minute on its third receive has its hold written by then
DATAPOINT_SETTLE = dt.timedelta(seconds=60)
DEPTH_ATTRIBUTES = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
)


@dataclass(frozen=True)
class QueueDepth:
    visible: int
    in_flight: int
    delayed: int

    @property
    def empty(self) -> bool:
        return self.visible == 0 and self.in_flight == 0 and self.delayed == 0


@dataclass(frozen=True)
class Evidence:
    """One reading: the instant the age metric proves (None: no usable datapoint), whether the queue read
    empty, and what was seen (kept with the watermark for operators)."""

    candidate: dt.datetime | None
    queue_empty: bool
    detail: dict[str, Any] = field(default_factory=dict)


def proven_by_age(
    datapoints: Iterable[tuple[dt.datetime, float]], now: dt.datetime, max_delay_seconds: int
) -> dt.datetime | None:
    """The instant the newest usable datapoint (minute start, Maximum age in seconds) proves, or None."""
    usable = [(t, age) for t, age in datapoints if t + METRIC_PERIOD + DATAPOINT_SETTLE <= now]
    if not usable:
        return None
    start, age = max(usable)
    return start - dt.timedelta(seconds=age) - dt.timedelta(seconds=max_delay_seconds)


_clients: dict[str, Any] = {}
_clients_lock = threading.Lock()


def _client(service: str) -> Any:
    with _clients_lock:
        if service not in _clients:
            _clients[service] = bounded_client(service)
        return _clients[service]


def forget_clients() -> None:
    """Drop the AWS clients (tests and serve: the endpoints changed)."""
    with _clients_lock:
        _clients.clear()


def queue_depth(queue_url: str) -> QueueDepth:
    attributes = _client("sqs").get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=list(DEPTH_ATTRIBUTES)
    )["Attributes"]
    visible, in_flight, delayed = (int(attributes.get(name, 0)) for name in DEPTH_ATTRIBUTES)
    return QueueDepth(visible=visible, in_flight=in_flight, delayed=delayed)


def age_datapoints(queue_name: str, now: dt.datetime) -> list[tuple[dt.datetime, float]]:
    """The queue's oldest-message age, Maximum per minute, over the last METRIC_LOOKBACK (minute starts)."""
    minute = now.astimezone(dt.UTC).replace(second=0, microsecond=0)  # whole minutes: the periods' bounds
    answer = _client("cloudwatch").get_metric_data(
        MetricDataQueries=[
            {
                "Id": "age",
                "MetricStat": {
                    "Metric": {
                        "Namespace": "AWS/SQS",
                        "MetricName": AGE_METRIC,
                        "Dimensions": [{"Name": "QueueName", "Value": queue_name}],
                    },
                    "Period": int(METRIC_PERIOD.total_seconds()),
                    "Stat": "Maximum",
                },
                "ReturnData": True,
            }
        ],
        StartTime=minute - METRIC_LOOKBACK,
        EndTime=minute,
        ScanBy="TimestampDescending",
    )
    points: list[tuple[dt.datetime, float]] = []
    for result in answer["MetricDataResults"]:
        for stamp, value in zip(result["Timestamps"], result["Values"], strict=True):
            start = stamp.astimezone(dt.UTC).replace(second=0, microsecond=0)  # the minute it describes
            points.append((start, float(value)))
    return points


def read_evidence(now: dt.datetime, settings: IngestSettings) -> Evidence:
    """What the queue and its metric prove at `now`; a source that cannot be read proves nothing (logged,
    WatermarkEvidenceUnavailable), and the watermark then stays where it is."""
    if settings.ingest_watermark_source == "local":
        return Evidence(candidate=now, queue_empty=True, detail={"source": "local"})
    assert settings.attempts_queue_url is not None and settings.attempts_queue_name is not None
    detail: dict[str, Any] = {"source": "sqs", "max_delay_seconds": settings.ingest_max_delay_seconds}
    empty = False
    candidate = None
    try:
        depth = queue_depth(settings.attempts_queue_url)
        empty = depth.empty
        detail["depth"] = {"visible": depth.visible, "in_flight": depth.in_flight, "delayed": depth.delayed}
    except Exception as exc:
        _unavailable("queue attributes", exc)
        detail["depth_error"] = type(exc).__name__
    try:
        points = age_datapoints(settings.attempts_queue_name, now)
        candidate = proven_by_age(points, now, settings.ingest_max_delay_seconds)
        if points:
            start, age = max(points)
            detail["newest_age"] = {"minute": start.isoformat(), "seconds": age}
    except Exception as exc:
        _unavailable("age metric", exc)
        detail["age_error"] = type(exc).__name__
    return Evidence(candidate=candidate, queue_empty=empty, detail=detail)


def _unavailable(what: str, exc: Exception) -> None:
    logger.warning(
        "could not read the attempts queue's evidence; the watermark stays",
        extra={"source": what, "error_type": type(exc).__name__},
    )
    metrics.add_metric(name="WatermarkEvidenceUnavailable", unit="Count", value=1)
