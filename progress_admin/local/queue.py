"""The attempts queue, locally: `POST /local/attempts` takes a JSON list of message bodies and runs
them through the SQS consumer of template.yaml as one batch (at most the event source mapping's batch
size), answering its batch response."""

from __future__ import annotations

import json
from typing import Any

from progress_admin.local.events import sqs_batch_event
from progress_admin.local.gateway import Reply, json_reply
from progress_admin.local.runtime import LocalFunction

LOCAL_ATTEMPTS_PATH = "/local/attempts"


class LocalQueue:
    def __init__(self, consumer: LocalFunction, max_batch: int) -> None:
        self.consumer, self.max_batch = consumer, max_batch

    def batch(self, body: bytes) -> list[Any] | None:
        """The message bodies of a request, or None when it is not a list the consumer can be given."""
        try:
            bodies = json.loads(body or b"null")
        except (ValueError, RecursionError):  # RecursionError: nesting deeper than the parser goes
            return None
        return bodies if isinstance(bodies, list) and 1 <= len(bodies) <= self.max_batch else None

    def deliver(self, body: bytes) -> Reply:
        """Run the consumer on the batch (blocking: call it from a worker thread)."""
        bodies = self.batch(body)
        if bodies is None:
            message = f"send a JSON list of 1 to {self.max_batch} attempt message bodies"
            return json_reply(400, {"error": {"code": "bad_request", "message": message}})
        return json_reply(200, self.consumer(sqs_batch_event(bodies)))
