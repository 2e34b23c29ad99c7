"""The attempts queue as the sweep sees it in AWS, stood in by moto (an in-process moto server): a clock that
moto's SQS and the service share, the Lambda poller of the consumer (receive, invoke, delete what succeeded),
and what SQS would publish to CloudWatch.

moto does not publish SQS's metrics itself. `publish_age_metric` publishes ApproximateAgeOfOldestMessage as
SQS documents it, derived from the moto queue's state: the age of the oldest message not deleted, ignoring a
message received three times or more; and, the worst case the sweep must survive, ignoring delayed messages
too (whether SQS counts them is not documented).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.events import FakeLambdaContext

ACCOUNT = "123456789012"
REGION = "eu-west-1"


@dataclass
class SharedClock:
    """One "now" for moto's SQS (sent, visible, delayed) and the service (progress_common.clock)."""

    now: dt.datetime

    def advance(self, **delta: float) -> dt.datetime:
        self.now += dt.timedelta(**delta)
        return self.now

    def millis(self, when: Any = None) -> float:
        return self.now.timestamp() * 1000

    def seconds(self, when: Any = None) -> float:
        return self.now.timestamp()


@contextmanager
def shared_clock(monkeypatch: pytest.MonkeyPatch, start: dt.datetime) -> Iterator[SharedClock]:
    import moto.sqs.models as sqs_models

    from progress_common import clock as service_clock

    clock = SharedClock(start)
    monkeypatch.setattr(sqs_models, "unix_time_millis", clock.millis)
    monkeypatch.setattr(sqs_models, "unix_time", clock.seconds)
    monkeypatch.setattr(service_clock, "utc_now", lambda: clock.now)
    yield clock


def moto_queue(name: str) -> Any:
    from moto.sqs.models import sqs_backends

    return sqs_backends[ACCOUNT][REGION].queues[name]


def messages_in(name: str) -> list[Any]:
    """Every message the moto queue still holds (not deleted): visible, in flight or delayed."""
    return list(moto_queue(name)._messages)


def oldest_age_seconds(name: str, now: dt.datetime) -> float:
    """ApproximateAgeOfOldestMessage as SQS defines it, at `now`, in the worst case (delayed ones unseen)."""
    ages = [
        now.timestamp() - m.sent_timestamp / 1000
        for m in messages_in(name)
        if m.approximate_receive_count < 3 and not m.delayed
    ]
    return max(ages, default=0.0)


def publish_age_metric(cloudwatch: Any, name: str, now: dt.datetime) -> None:
    """One datapoint for the minute that `now` is in, as SQS publishes it (moto does not)."""
    minute = now.replace(second=0, microsecond=0)
    cloudwatch.put_metric_data(
        Namespace="AWS/SQS",
        MetricData=[
            {
                "MetricName": "ApproximateAgeOfOldestMessage",
                "Dimensions": [{"Name": "QueueName", "Value": name}],
                "Timestamp": minute,
                "Value": oldest_age_seconds(name, now),
                "Unit": "Seconds",
            }
        ],
    )


def lambda_record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    """A received SQS message as the event source mapping hands it to the function."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": dict(message["Attributes"]),
        "messageAttributes": {},
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    }


@dataclass
class AttemptsQueue:
    """The attempts queue and its DLQ in moto, the consumer's poller, and the CloudWatch SQS publishes to."""

    sqs: Any
    cloudwatch: Any
    url: str
    name: str
    arn: str
    dlq_url: str
    dlq_name: str
    handler: Callable[[dict[str, Any], Any], dict[str, Any]]
    visibility_seconds: int = 180
    results: list[dict[str, Any]] = field(default_factory=list)

    def send(self, body: str, *, delay_seconds: int = 0) -> str:
        """Send a message body (JSON text), as the exercises service does."""
        answer = self.sqs.send_message(QueueUrl=self.url, MessageBody=body, DelaySeconds=delay_seconds)
        return str(answer["MessageId"])

    def receive(self, *, visibility_seconds: int | None = None) -> list[dict[str, Any]]:
        return list(
            self.sqs.receive_message(
                QueueUrl=self.url,
                MaxNumberOfMessages=10,
                VisibilityTimeout=self.visibility_seconds
                if visibility_seconds is None
                else visibility_seconds,
                AttributeNames=["All"],
            ).get("Messages", [])
        )

    def poll(self) -> dict[str, Any] | None:
        """What the event source mapping does once: receive a batch, invoke the consumer, delete the messages
        it did not report as failed (those come back after the visibility timeout)."""
        messages = self.receive()
        if not messages:
            return None
        response = self.handler(
            {"Records": [lambda_record(m, self.arn) for m in messages]}, FakeLambdaContext()
        )
        failed = {f["itemIdentifier"] for f in response["batchItemFailures"]}
        for message in messages:
            if message["MessageId"] not in failed:
                self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])
        self.results.append(response)
        return response

    def publish_metric(self, now: dt.datetime) -> None:
        publish_age_metric(self.cloudwatch, self.name, now)

    def in_queue(self) -> list[Any]:
        return messages_in(self.name)

    def in_dlq(self) -> list[Any]:
        return messages_in(self.dlq_name)

    def redrive(self) -> int:
        """Move every message of the DLQ back to the queue (what an operator's redrive does)."""
        moved = 0
        while True:
            batch = self.sqs.receive_message(QueueUrl=self.dlq_url, MaxNumberOfMessages=10).get(
                "Messages", []
            )
            if not batch:
                return moved
            for message in batch:
                self.sqs.send_message(QueueUrl=self.url, MessageBody=message["Body"])
                self.sqs.delete_message(QueueUrl=self.dlq_url, ReceiptHandle=message["ReceiptHandle"])
                moved += 1


def make_attempts_queue(endpoint: str, handler: Callable[..., dict[str, Any]], suffix: str) -> AttemptsQueue:
    import boto3

    sqs = boto3.client("sqs", endpoint_url=endpoint, region_name=REGION)
    cloudwatch = boto3.client("cloudwatch", endpoint_url=endpoint, region_name=REGION)
    dlq_name, name = f"attempts-dlq-{suffix}", f"attempts-{suffix}"
    dlq_url = sqs.create_queue(QueueName=dlq_name)["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    url = sqs.create_queue(
        QueueName=name,
        Attributes={
            "VisibilityTimeout": "180",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "5"}),
        },
    )["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return AttemptsQueue(sqs, cloudwatch, url, name, arn, dlq_url, dlq_name, handler)
