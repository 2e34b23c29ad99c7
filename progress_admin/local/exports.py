"""The learner's data export in `progress-admin serve`: the export queue and bucket of template.yaml on
loopback, around the real handlers (docs/export.md, "Locally").

- The bucket is a folder (`.local/exports`, the layer's LocalExportStore); download links are serve's own
  URL, `GET /local/exports/<key>?expires=...&signature=...`, signed with a key made at start and valid as
  long as a pre-signed S3 URL; a link that is altered or expired is a 403, as S3 answers.
- The queue is a stand-in of SQS's SendMessage at `POST /local/sqs` (what POST /progress/export calls through
  boto3, exactly as in AWS: AWS_ENDPOINT_URL_SQS points there for that function); each message is handed to
  the function the template's event source mapping of the export queue feeds (the worker), in the background,
  one at a time, as an SQS event of one record.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote

from progress_admin.local.events import sqs_batch_event
from progress_admin.local.gateway import Reply, json_reply
from progress_admin.local.intrinsics import local_values
from progress_admin.local.live import LOCAL_AWS_ENVIRONMENT
from progress_admin.local.runtime import LocalFunction, load_function
from progress_admin.local.template import (
    FunctionEnvironment,
    function_environment,
    load_template,
    sqs_consumers,
)

EXPORT_QUEUE = "ExportQueue"  # the template's queue the worker is fed from
SQS_PATH = "/local/sqs"
DOWNLOAD_PREFIX = "/local/exports/"


def _s3_error(status: int, code: str) -> Reply:
    body = f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code></Error>\n'.encode()
    return status, {"Content-Type": "application/xml"}, body


def has_export_queue(template: dict[str, Any], root: Path) -> bool:
    return any(consumer.queue == EXPORT_QUEUE for consumer in sqs_consumers(template, root))


class ExportLoop:
    """The export queue, worker and bucket, locally. Configure it before the functions are imported (their
    cold start needs a store), then bind it to the port the HTTP server got."""

    def __init__(
        self,
        root: Path,
        host: str,
        exports_dir: Path,
        log: Callable[[str], None],
        parameter_overrides: Mapping[str, str] | None = None,
        template: dict[str, Any] | None = None,
    ) -> None:
        template = template or load_template(root / "template.yaml")
        self.values = local_values(template, parameter_overrides)
        self.template, self.root, self.host, self.log = template, root, host, log
        self.exports_dir = exports_dir
        self.signing_key = secrets.token_hex(32)  # a new one each run: old links die with the server
        self.worker: LocalFunction | None = None
        self.worker_lock = threading.Lock()  # one export at a time, as MaximumConcurrency bounds them
        self.pending: list[threading.Thread] = []
        self.port = 0
        self._configure()

    def _template_values(self) -> dict[str, str]:
        """The export settings the template gives its functions that resolve locally (ERASE_SCOPE, ...)."""
        from progress_common.settings import ExportSettings

        values: dict[str, str] = {}
        for name in self.template["Resources"]:
            if self.template["Resources"][name].get("Type") != "AWS::Serverless::Function":
                continue
            for key, value in function_environment(self.template, name, self.values).variables.items():
                if key.lower() in ExportSettings.model_fields:
                    values[key.lower()] = value
        return values

    def _configure(self) -> None:
        from progress_common import export_store, exports
        from progress_common.settings import ExportSettings, set_export_settings

        base = f"http://{self.host}:{self.port}"
        set_export_settings(
            ExportSettings.model_validate(
                {
                    **self._template_values(),
                    "export_local_dir": str(self.exports_dir),
                    "export_local_url": f"{base}{DOWNLOAD_PREFIX.rstrip('/')}",
                    "export_local_signing_key": self.signing_key,
                    "export_queue_url": f"{base}{SQS_PATH}/000000000000/{EXPORT_QUEUE}",
                }
            )
        )
        export_store.forget_stores()
        exports.reset_queue_client()

    def bind(self, port: int, environments: Iterable[FunctionEnvironment]) -> None:
        """The HTTP server's port is known: links and the queue point there; the worker is loaded.
        `environments`: the HTTP API's functions'."""
        self.port = port
        self._configure()
        # the request function's boto3 SQS client: to this server, with local credentials
        for environment in environments:
            if "EXPORT_QUEUE_URL" in {**environment.variables, **dict.fromkeys(environment.left_out)}:
                environment.variables.update(
                    {"AWS_ENDPOINT_URL_SQS": f"http://{self.host}:{port}{SQS_PATH}", **LOCAL_AWS_ENVIRONMENT}
                )
        (consumer,) = [c for c in sqs_consumers(self.template, self.root) if c.queue == EXPORT_QUEUE]
        self.worker = load_function(self.template, consumer.function, self.root, self.values)

    def close(self, timeout: float = 30.0) -> None:
        for thread in list(self.pending):
            thread.join(timeout)
        from progress_common import export_store, exports
        from progress_common.settings import set_export_settings

        set_export_settings(None)
        export_store.forget_stores()
        exports.reset_queue_client()

    def wait(self, timeout: float = 30.0) -> None:
        """Until every message sent so far has been handled (tests)."""
        for thread in list(self.pending):
            thread.join(timeout)

    # --- HTTP ------------------------------------------------------------------------------------------

    def serves(self, method: str, path: str) -> bool:
        return (method == "POST" and path.rstrip("/") == SQS_PATH) or (
            method == "GET" and path.startswith(DOWNLOAD_PREFIX)
        )

    def handle(self, method: str, path: str, query: str, headers: dict[str, str], body: bytes) -> Reply:
        if method == "POST":
            return self._send_message(headers, body)
        return self._download(unquote(path.removeprefix(DOWNLOAD_PREFIX)), dict(parse_qsl(query)))

    def _send_message(self, headers: dict[str, str], body: bytes) -> Reply:
        """SQS's SendMessage (JSON protocol), as boto3 calls it; the message goes to the worker."""
        lowered = {name.lower(): value for name, value in headers.items()}
        if not lowered.get("authorization", "").startswith("AWS4-HMAC-SHA256 "):
            return json_reply(403, {"__type": "com.amazonaws.sqs#MissingAuthenticationToken"})
        if lowered.get("x-amz-target") != "AmazonSQS.SendMessage":
            return json_reply(
                400, {"__type": "com.amazonaws.sqs#UnsupportedOperation", "message": "SendMessage only"}
            )
        try:
            request = json.loads(body)
            message = request["MessageBody"]
        except (ValueError, KeyError, TypeError):
            return json_reply(400, {"__type": "com.amazonaws.sqs#InvalidParameterValue"})
        if not str(request.get("QueueUrl", "")).endswith(f"/{EXPORT_QUEUE}") or not isinstance(message, str):
            return json_reply(400, {"__type": "com.amazonaws.sqs#QueueDoesNotExist"})
        thread = threading.Thread(
            target=self._deliver, args=(message,), name="local-export-worker", daemon=True
        )
        self.pending = [t for t in self.pending if t.is_alive()] + [thread]
        thread.start()
        return json_reply(
            200,
            {
                "MessageId": str(uuid.uuid4()),
                "MD5OfMessageBody": hashlib.md5(message.encode(), usedforsecurity=False).hexdigest(),
            },
        )

    def _deliver(self, message: str) -> None:
        assert self.worker is not None
        with self.worker_lock:
            try:
                response = self.worker(sqs_batch_event([message]))
            except Exception as exc:  # the function crashed: in AWS the message would be delivered again
                self.log(f"export worker error: {type(exc).__name__}")
                return
        failures = response.get("batchItemFailures") or []
        self.log(f"export worker: {'failed' if failures else 'done'}")

    def _download(self, key: str, query: dict[str, str]) -> Reply:
        from progress_common.export_store import LocalExportStore, export_store

        store = export_store()
        if not isinstance(store, LocalExportStore) or not store.verify(
            key, query.get("expires", ""), query.get("signature", "")
        ):
            return _s3_error(403, "AccessDenied")  # what S3 says to an altered or expired pre-signed URL
        path = store.path_of(key)
        if not path.is_file():
            return _s3_error(404, "NoSuchKey")
        return (
            200,
            {
                "Content-Type": "application/gzip",
                "Content-Disposition": f'attachment; filename="{_filename(key)}"',
            },
            path.read_bytes(),
        )


def _filename(key: str) -> str:
    from progress_common.export_store import download_name

    return download_name(uuid.UUID(key.split("/")[2]))
